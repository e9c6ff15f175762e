//! The host's monitors, as a remoting server checked them: the rest of wayrail trusts them.

/// One monitor of the host, in physical pixels of its virtual desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMonitor {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
    /// The desktop scale factor in percent, 100..=500.
    pub scale: u32,
}

impl HostMonitor {
    /// The right edge (exclusive); saturates for monitors a server would refuse.
    pub fn right(&self) -> i32 {
        clamp_i32(i64::from(self.x) + i64::from(self.width))
    }

    /// The bottom edge (exclusive); saturates for monitors a server would refuse.
    pub fn bottom(&self) -> i32 {
        clamp_i32(i64::from(self.y) + i64::from(self.height))
    }

    /// (left, top, right, bottom) without overflow, whatever the client sent.
    pub fn edges(&self) -> (i64, i64, i64, i64) {
        let (x, y) = (i64::from(self.x), i64::from(self.y));
        (x, y, x + i64::from(self.width), y + i64::from(self.height))
    }
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i32::MIN.into(), i32::MAX.into()) as i32
}
