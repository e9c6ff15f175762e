//! How long RemoteApp window frames take inside wayrail: from the commit that changed a window
//! (the compositor's `wl_surface.commit` handling, [`WindowFrame::committed`]) to the frame
//! written to the host's socket (VAIL: the PresentBuffer; EGFX: the frame up to its EndFrame),
//! and the part of that after the compositor's frame clock ticked for the frame (the copy or
//! encoding and the write, without the wait for the tick). A frame that carries several
//! commits counts from the oldest. Always on and cheap: per transport, a count and a ring of
//! the last [`KEPT`] durations, which `wayrail msg frames` shows (and the RemoteApp benchmark
//! reads).
//!
//! [`WindowFrame::committed`]: crate::WindowFrame::committed

use crate::CommitTimes;
use std::sync::Mutex;

/// How many of the newest durations each transport keeps.
pub const KEPT: usize = 1024;

/// How a window frame went to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Vail,
    Egfx,
}

/// One transport's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameTimes {
    /// Frames timed since wayrail started.
    pub frames: u64,
    /// The newest commit → written durations (at most [`KEPT`]), oldest first, in µs.
    pub last_us: Vec<u32>,
    /// Of those, the part after the frame clock's tick, in µs.
    pub last_after_tick_us: Vec<u32>,
}

struct Ring {
    frames: u64,
    /// Commit → written and tick → written, in µs.
    us: [(u32, u32); KEPT],
}

impl Ring {
    const EMPTY: Ring = Ring { frames: 0, us: [(0, 0); KEPT] };

    fn push(&mut self, us: (u32, u32)) {
        self.us[(self.frames % KEPT as u64) as usize] = us;
        self.frames += 1;
    }

    fn times(&self) -> FrameTimes {
        let kept = self.frames.min(KEPT as u64) as usize;
        let next = (self.frames % KEPT as u64) as usize;
        let newest = (0..kept).map(|i| self.us[(next + KEPT - kept + i) % KEPT]);
        let (last_us, last_after_tick_us) = newest.unzip();
        FrameTimes { frames: self.frames, last_us, last_after_tick_us }
    }
}

static RINGS: Mutex<[Ring; 2]> = Mutex::new([Ring::EMPTY, Ring::EMPTY]);

/// A window frame made of commits (`times`) was written just now.
pub(crate) fn written(transport: Transport, times: Option<CommitTimes>) {
    let Some(times) = times else { return };
    let us = |since: std::time::Instant| since.elapsed().as_micros().min(u32::MAX as u128) as u32;
    let us = (us(times.committed), us(times.tick));
    RINGS.lock().unwrap_or_else(|e| e.into_inner())[transport as usize].push(us);
}

/// The figures of `transport` so far.
pub fn times(transport: Transport) -> FrameTimes {
    RINGS.lock().unwrap_or_else(|e| e.into_inner())[transport as usize].times()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_oldest_first() {
        let mut ring = Ring::EMPTY;
        assert_eq!(ring.times(), FrameTimes::default());
        for us in 0..3 {
            ring.push((us, us / 2));
        }
        let three = FrameTimes { frames: 3, last_us: vec![0, 1, 2], last_after_tick_us: vec![0, 0, 1] };
        assert_eq!(ring.times(), three);
        for us in 3..KEPT as u32 + 5 {
            ring.push((us, us + 1));
        }
        let times = ring.times();
        assert_eq!(times.frames, KEPT as u64 + 5);
        assert_eq!(times.last_us, (5..KEPT as u32 + 5).collect::<Vec<_>>());
        assert_eq!(times.last_after_tick_us, (6..KEPT as u32 + 6).collect::<Vec<_>>());
    }
}
