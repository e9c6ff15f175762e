//! RemoteApp (RAIL, MS-RDPERP) for wayrail: every Linux window becomes a window of its own on
//! the host. This crate holds the `rail` static channel's state machine and the windowing
//! orders built from a window description; the RDP session drives both, and the compositor
//! decides what the windows are.

pub mod channel;
pub mod exec;
pub mod host;
pub mod orders;
pub mod place;

pub use channel::{RailChannel, RailEvent};
pub use wayrail_remote::{Show, WindowDesc, WindowKind};

/// A rectangle in host desktop pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostRect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl HostRect {
    pub const fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Self { x, y, width, height }
    }
}

/// What the host should show for one Linux window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteWindow {
    /// The compositor's window id; never 0, 0xFFFFFFFF or 0xFFFFFFFE.
    pub id: u32,
    /// 0 when the window has no owner.
    pub owner: u32,
    pub kind: WindowKind,
    pub title: String,
    pub app_id: String,
    /// The whole composed image (client-side shadows included), the surface's extent.
    pub window: HostRect,
    /// The window proper (what the app calls its geometry), inside `window`.
    pub client: HostRect,
    pub show: Show,
    /// The size in pixels of the image sent for the window, when it is not `window`'s size:
    /// the host scales it to `window` (an app drawing at an integer scale above the
    /// monitor's fractional one).
    pub surface: Option<(u32, u32)>,
}

impl RemoteWindow {
    /// The size in pixels of the image sent for the window.
    pub fn surface_size(&self) -> (u32, u32) {
        self.surface.unwrap_or((self.window.width, self.window.height))
    }
}
