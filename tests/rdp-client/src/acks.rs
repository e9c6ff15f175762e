//! A slow client on demand: the answers to the server (frame acknowledgements first of all)
//! held back for a while, in order, and a count of the frames the client holds unanswered.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Answers waiting to be written, and how many frames are received but not acknowledged.
#[derive(Debug, Default)]
pub(crate) struct HeldAnswers {
    /// How long a frame's acknowledgement waits; None: answers go out at once.
    delay: Option<Duration>,
    /// (when it goes out, the bytes, how many frames it acknowledges), in order.
    queue: VecDeque<(Instant, Vec<u8>, usize)>,
    unacked: usize,
    max_unacked: usize,
}

impl HeldAnswers {
    pub fn set_delay(&mut self, delay: Option<Duration>) {
        self.delay = delay;
    }

    /// Frames received with the answer `bytes` (the acknowledgements of `frames` frames and
    /// whatever else the PDU asked for): the bytes to write now, or None when they wait.
    pub fn answer(&mut self, bytes: Vec<u8>, frames: usize, now: Instant) -> Option<Vec<u8>> {
        self.unacked += frames;
        self.max_unacked = self.max_unacked.max(self.unacked);
        let due = match (self.delay, self.queue.back()) {
            // Behind what waits already, never before it.
            (Some(delay), last) if frames > 0 => (now + delay).max(last.map_or(now, |l| l.0)),
            (_, Some(last)) => last.0.max(now),
            (None, None) | (Some(_), None) => {
                self.unacked -= frames;
                return Some(bytes);
            }
        };
        self.queue.push_back((due, bytes, frames));
        None
    }

    /// When the next held answer is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|a| a.0)
    }

    /// The answers due by `now`, in order; their frames count as acknowledged.
    pub fn take_due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut due = Vec::new();
        while self.queue.front().is_some_and(|a| a.0 <= now) {
            let (_, bytes, frames) = self.queue.pop_front().expect("a front");
            self.unacked -= frames;
            due.push(bytes);
        }
        due
    }

    /// The most frames received and not yet acknowledged at any time (since the last reset).
    pub fn max_unacked(&self) -> usize {
        self.max_unacked
    }

    /// Starts the maximum again from what is unacknowledged now.
    pub fn reset_max(&mut self) {
        self.max_unacked = self.unacked;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_wait_in_order_and_count_unacknowledged_frames() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut held = HeldAnswers::default();
        assert_eq!(held.answer(vec![1], 1, t0), Some(vec![1]), "no delay: at once");
        assert_eq!(held.max_unacked(), 1);
        held.set_delay(Some(ms(100)));
        assert_eq!(held.answer(vec![2], 0, t0), Some(vec![2]), "nothing to acknowledge, nothing waiting");
        assert_eq!(held.answer(vec![3], 1, t0), None);
        assert_eq!(held.answer(vec![4], 0, t0 + ms(10)), None, "behind the held ack");
        assert_eq!(held.answer(vec![5], 2, t0 + ms(20)), None);
        assert_eq!(held.max_unacked(), 3);
        assert_eq!(held.next_due(), Some(t0 + ms(100)));
        assert_eq!(held.take_due(t0 + ms(100)), vec![vec![3], vec![4]]);
        assert_eq!(held.take_due(t0 + ms(119)), Vec::<Vec<u8>>::new());
        assert_eq!(held.take_due(t0 + ms(120)), vec![vec![5]]);
        assert_eq!(held.next_due(), None);
        held.reset_max();
        assert_eq!(held.max_unacked(), 0);
    }
}
