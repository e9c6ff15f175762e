//! Every frame the compositor handed to a session, until the apps may draw again: the one
//! place that tells the compositor a frame is done (`HostEvent::FrameDone`).
//!
//! A frame is done when the client acknowledged its EGFX frame or the VAIL present it went
//! out as (a window's pixels in shared memory), when it could not be shown
//! at all (no surface, output suppressed, bitmap updates, a stale size), when the client
//! suspended acknowledgements, when the desktop changed size under it, and when the session
//! ends. No frame is done twice, and none is left waiting.

use std::collections::{HashMap, VecDeque};

use crate::HostEvent;

/// Where "this frame is done" goes.
pub(crate) trait FrameSink {
    fn frame_done(&self, frame: u64);
}

impl FrameSink for calloop::channel::Sender<HostEvent> {
    /// The only place that sends `HostEvent::FrameDone`.
    fn frame_done(&self, frame: u64) {
        let _ = self.send(HostEvent::FrameDone { frame });
    }
}

/// The frames of one session waiting for the client's acknowledgement.
pub(crate) struct FrameTracker<S: FrameSink = calloop::channel::Sender<HostEvent>> {
    sink: S,
    /// EGFX frame id → compositor frame number, oldest first.
    in_flight: VecDeque<(u32, u64)>,
    /// VAIL present id → compositor frame number.
    presents: HashMap<u64, u64>,
    /// The client suspended frame acknowledgements: frames count as shown once sent.
    acks_suspended: bool,
}

impl<S: FrameSink> FrameTracker<S> {
    pub fn new(sink: S) -> Self {
        FrameTracker { sink, in_flight: VecDeque::new(), presents: HashMap::new(), acks_suspended: false }
    }

    /// A frame that nothing will acknowledge (not shown, or shown without EGFX): done now.
    pub fn done_now(&self, frame: u64) {
        self.sink.frame_done(frame);
    }

    /// A frame went out as EGFX frame `egfx_frame` (None: nothing was queued, so it is done).
    pub fn sent(&mut self, frame: u64, egfx_frame: Option<u32>) {
        match egfx_frame {
            Some(id) if !self.acks_suspended => self.in_flight.push_back((id, frame)),
            _ => self.sink.frame_done(frame),
        }
    }

    /// The client acknowledged EGFX frame `egfx_frame`. Acks come in order, so every older
    /// frame was shown too; an id nothing waits for changes nothing. `suspended`: the client
    /// wants to send no more acks, so nothing may wait for them. Returns whether `suspended`
    /// changed.
    pub fn acked(&mut self, egfx_frame: u32, suspended: bool) -> bool {
        // Ids wrap around: "not newer than the ack" is a signed distance.
        while let Some(&(id, frame)) = self.in_flight.front() {
            if id.wrapping_sub(egfx_frame) as i32 > 0 {
                break;
            }
            self.in_flight.pop_front();
            self.sink.frame_done(frame);
        }
        let changed = suspended != self.acks_suspended;
        self.acks_suspended = suspended;
        if suspended {
            self.release_all();
        }
        changed
    }

    /// A window's part of a frame went out as VAIL present `present_id`.
    pub fn presented(&mut self, frame: u64, present_id: u64) {
        self.presents.insert(present_id, frame);
    }

    /// The host is done with a VAIL present (acknowledged, or ended by a resize or a close).
    pub fn present_done(&mut self, present_id: u64) {
        if let Some(frame) = self.presents.remove(&present_id) {
            self.sink.frame_done(frame);
        }
    }

    /// Nothing in flight will be acknowledged (new graphics, session end): all done now.
    pub fn release_all(&mut self) {
        for (_, frame) in self.in_flight.drain(..) {
            self.sink.frame_done(frame);
        }
        let mut presents: Vec<(u64, u64)> = self.presents.drain().collect();
        presents.sort_unstable();
        for (_, frame) in presents {
            self.sink.frame_done(frame);
        }
    }

    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

impl<S: FrameSink> Drop for FrameTracker<S> {
    /// A session that ends by a panic still lets its apps go on.
    fn drop(&mut self) {
        self.release_all();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    #[derive(Clone, Default)]
    struct Record(Rc<RefCell<Vec<u64>>>);

    impl FrameSink for Record {
        fn frame_done(&self, frame: u64) {
            self.0.borrow_mut().push(frame);
        }
    }

    impl Record {
        fn take(&self) -> Vec<u64> {
            std::mem::take(&mut self.0.borrow_mut())
        }
    }

    /// A tracker with these (frame, EGFX frame id) sent and nothing done yet.
    fn tracker(sent: &[(u64, u32)]) -> (FrameTracker<Record>, Record) {
        let record = Record::default();
        let mut tracker = FrameTracker::new(record.clone());
        for &(frame, id) in sent {
            tracker.sent(frame, Some(id));
        }
        assert!(record.take().is_empty());
        (tracker, record)
    }

    #[test]
    fn a_vail_present_is_done_once_by_its_ack_or_at_the_end() {
        let (mut t, done) = tracker(&[]);
        t.presented(10, 1);
        t.presented(11, 2);
        t.present_done(2);
        t.present_done(2);
        t.present_done(99);
        assert_eq!(done.take(), vec![11], "once, and nothing for a present never sent");
        t.release_all();
        assert_eq!(done.take(), vec![10]);
    }

    #[test]
    fn acks_in_order_release_one_frame_each() {
        let (mut t, done) = tracker(&[(100, 1), (101, 2), (102, 3)]);
        t.acked(1, false);
        assert_eq!(done.take(), vec![100]);
        t.acked(2, false);
        assert_eq!(done.take(), vec![101]);
        t.acked(3, false);
        assert_eq!(done.take(), vec![102]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_later_ack_releases_every_older_frame() {
        let (mut t, done) = tracker(&[(50, 5), (60, 6), (70, 7)]);
        t.acked(6, false);
        assert_eq!(done.take(), vec![50, 60]);
        // The skipped ack arriving late finds nothing.
        t.acked(5, false);
        assert!(done.take().is_empty());
        t.acked(7, false);
        assert_eq!(done.take(), vec![70]);
    }

    #[test]
    fn unknown_and_repeated_ids_change_nothing() {
        let (mut t, done) = tracker(&[(1, 10)]);
        t.acked(9, false);
        t.acked(3, false);
        assert!(done.take().is_empty());
        assert_eq!(t.in_flight(), 1);
        t.acked(10, false);
        t.acked(10, false);
        assert_eq!(done.take(), vec![1], "never done twice");
    }

    #[test]
    fn ids_wrap_around() {
        let (mut t, done) = tracker(&[(1, u32::MAX - 1), (2, u32::MAX), (3, 0), (4, 1)]);
        t.acked(0, false);
        assert_eq!(done.take(), vec![1, 2, 3]);
        t.acked(1, false);
        assert_eq!(done.take(), vec![4]);
    }

    #[test]
    fn frames_without_an_egfx_frame_are_done_at_once() {
        let (mut t, done) = tracker(&[]);
        t.done_now(7);
        t.sent(8, None);
        assert_eq!(done.take(), vec![7, 8]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn suspended_acks_release_everything_and_track_nothing_until_resumed() {
        let (mut t, done) = tracker(&[(1, 1), (2, 2)]);
        assert!(t.acked(0, true), "the suspension is news");
        assert_eq!(done.take(), vec![1, 2]);
        t.sent(3, Some(3));
        assert_eq!(done.take(), vec![3], "sent counts as shown");
        assert!(!t.acked(3, true));
        assert!(done.take().is_empty());
        assert!(t.acked(3, false), "acks resumed");
        t.sent(4, Some(4));
        assert!(done.take().is_empty());
        t.acked(4, false);
        assert_eq!(done.take(), vec![4]);
    }

    #[test]
    fn release_all_finishes_every_frame_once() {
        let (mut t, done) = tracker(&[(1, 1), (2, 2)]);
        t.release_all();
        assert_eq!(done.take(), vec![1, 2]);
        t.acked(2, false);
        t.release_all();
        assert!(done.take().is_empty());
    }

    #[test]
    fn a_dropped_tracker_releases_what_is_in_flight() {
        let (mut t, done) = tracker(&[(1, 1), (2, 2)]);
        t.acked(1, false);
        assert_eq!(done.take(), vec![1]);
        drop(t);
        assert_eq!(done.take(), vec![2]);
    }
}
