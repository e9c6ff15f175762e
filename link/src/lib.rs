//! The link between the compositor and a remoting server. The compositor starts a server
//! through [`HostLink`] and talks to it in these types only: composed frames, RemoteApp
//! commands, the pointer and the clipboard go out; what the host did comes back as
//! [`HostEvent`]s. The compositor never learns which protocol a server speaks (RDP today),
//! and a server never sees a Wayland object.

mod keyboard;
mod listen;
mod monitor;

pub use keyboard::klid_to_xkb;
pub use listen::{ListenAddr, ListenAddrError};
pub use monitor::HostMonitor;
pub use wayrail_clipboard::{ClipboardCommand, ClipboardEvent, ClipboardSender, SessionId};
pub use wayrail_rail::host::RailCommand;
pub use wayrail_rail::{HostRect, RailEvent};

/// A running remoting server, as the compositor holds it. Every call returns at once: the
/// server works on threads of its own, so the compositor never waits on the network.
pub trait HostLink {
    /// What each listener is bound to, for the startup hint (TCP port 0 resolved).
    fn listening(&self) -> &[String];
    /// Hands a desktop frame to the active session; false when its queue is full (the
    /// compositor sends the next frame after a `FrameDone`, so this happens only when it
    /// ignored that).
    fn send_frame(&self, frame: DesktopFrame) -> bool;
    /// Hands a RemoteApp window's frame to the active session; false when the queue is full.
    fn send_window_frame(&self, frame: WindowFrame) -> bool;
    /// Tells the active RemoteApp session about a window change.
    fn send_rail(&self, command: RailCommand);
    /// Sets the cursor the host shows; only the newest one matters.
    fn set_pointer(&self, pointer: Pointer);
    /// A sender for clipboard commands that worker threads can own.
    fn clipboard(&self) -> ClipboardSender;
    /// Counters of the server since it started, for `wayrail msg version`.
    fn stats(&self) -> LinkStats {
        LinkStats::default()
    }
    /// The shared-memory pool the active session made for a RemoteApp window, for the
    /// compositor to write the window's pixels into itself ([`WindowPool`]); None when the
    /// window has none (EGFX, no session, a server without pools).
    fn window_pool(&self, _window: u32) -> Option<std::sync::Arc<dyn WindowPool>> {
        None
    }
}

/// A RemoteApp window's shared-memory pool as the compositor sees it: it copies the damaged
/// rectangles of a client's buffer straight into it, then sends a [`WindowFrame`] whose
/// `written` names the pool and the rectangles, and the session only presents them. This is
/// the fewest copies possible (one, of the damage), and the copy happens where the client's
/// buffer can be read safely: on the compositor's thread, while it holds the buffer.
pub trait WindowPool: Send + Sync {
    /// Which pool this is; a window gets a new one when its size changes.
    fn serial(&self) -> u64;
    /// Its buffer's size in pixels.
    fn size(&self) -> (u32, u32);
    /// Copies `rects` of `src` (`stride` bytes a row, ARGB8888; with `opaque`, XRGB8888,
    /// whose padding byte becomes 0xff) into the pool, `src`'s origin landing at `at`.
    /// Returns the bytes copied, or None when the pool takes nothing now (the host may be
    /// reading it, or it is gone): then nothing was written.
    fn write(&self, src: &[u8], stride: usize, opaque: bool, rects: &[PoolRect], at: (u32, u32)) -> Option<usize>;
}

/// A rectangle of a window's pool, in its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Pixels the compositor wrote into a window's pool itself (see [`WindowPool`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The pool written to ([`WindowPool::serial`]).
    pub pool: u64,
    /// What was written: the damage to present.
    pub rects: Vec<PoolRect>,
}

/// Counters of a host link since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    /// VAIL presents (PresentBuffer PDUs) sent.
    pub vail_presents: u64,
    /// Bytes copied into VAIL pools: only damaged rectangles, so a one-character change
    /// costs about its cell, not the window.
    pub vail_bytes_copied: u64,
    /// EGFX frames sent in ClearCodec (lossless refreshes included), and their encoded bytes.
    pub egfx_clear_frames: u64,
    pub egfx_clear_bytes: u64,
    /// EGFX frames sent in H.264 (AVC420), and their encoded bytes.
    pub egfx_avc420_frames: u64,
    pub egfx_avc420_bytes: u64,
    /// ClearCodec refreshes of what went out lossy, once it settled.
    pub egfx_lossless_refreshes: u64,
    /// EGFX frames sent in RemoteFX Progressive (to clients without AVC), and their bytes.
    pub egfx_progressive_frames: u64,
    pub egfx_progressive_bytes: u64,
    /// EGFX frames sent in AVC444 (both views: content whose colour 4:2:0 would lose), and
    /// their bytes.
    pub egfx_avc444_frames: u64,
    pub egfx_avc444_bytes: u64,
    /// RemoteApp window frames that went out inside another window's EGFX frame (a round of
    /// several windows is one frame).
    pub egfx_merged_frames: u64,
    /// Window frames the compositor wrote into VAIL pools straight from a client's buffer,
    /// uncomposed ([`WindowPool`]).
    pub vail_direct_copies: u64,
}

/// What the cursor looks like.
#[derive(Debug, Clone, PartialEq)]
pub enum Pointer {
    Hidden,
    /// The host's own default arrow.
    Default,
    /// Straight-alpha BGRA pixels, `width * 4` bytes a row, top row first.
    Image {
        width: u16,
        height: u16,
        hot_x: u16,
        hot_y: u16,
        bgra: Vec<u8>,
    },
}

/// What the host did, for the compositor.
#[derive(Debug, Clone, PartialEq)]
pub enum HostEvent {
    /// A client finished the connection sequence and is now the active session.
    Connected {
        session: SessionId,
        width: u16,
        height: u16,
        /// The client asked for RemoteApp: every window becomes a host window.
        remote_app: bool,
        /// The client's keyboard layout id (KLID), 0 when unknown.
        keyboard_layout: u32,
        /// The client's monitors (at least one, exactly one primary); `width`×`height` is
        /// their bounding box, whose top-left is the origin of pointer coordinates.
        monitors: Vec<HostMonitor>,
    },
    /// The active session ended (closed, broken or replaced).
    Disconnected { session: SessionId, reason: String },
    /// A key by evdev code.
    Key { code: u32, pressed: bool },
    /// Text typed through unicode keyboard events (IME, on-screen keyboards, some clients).
    Text { text: String },
    /// Lock keys after a focus change; all held keys must be released.
    Synchronize { caps_lock: bool, num_lock: bool, scroll_lock: bool },
    /// The pointer moved, in desktop pixels.
    PointerMotion { x: u16, y: u16 },
    /// A button by evdev code (BTN_LEFT, ...).
    PointerButton { button: u32, pressed: bool },
    /// Wheel rotation in v120 units, positive down / right (Wayland's sense).
    Wheel { vertical_v120: i32, horizontal_v120: i32 },
    /// The client's monitors changed (display control): a new layout, sizes or scales.
    Layout { monitors: Vec<HostMonitor> },
    /// The host showed the frame: time for the apps' frame callbacks.
    FrameDone { frame: u64 },
    /// The host lost its picture (new graphics surface, refresh request): send the whole
    /// desktop with the next frame.
    Refresh,
    /// The host lost a RemoteApp window's picture: send all of it with the next frame.
    RefreshWindow { window: u32 },
    /// How window pixels reach this RemoteApp host: `shared_memory` once it took VAIL
    /// (gfxredir pools), else EGFX surfaces.
    WindowTransport { shared_memory: bool },
    /// How this RemoteApp host shows window surfaces: `scaled` when it scales each surface to
    /// its window (EGFX scaled-window mapping); else it draws them pixel for pixel, so window
    /// images must have the window's size.
    WindowMapping { scaled: bool },
    /// A RemoteApp request of the host (activate, system command, ...). Host moves and
    /// sizes come as `WindowPlaced`.
    Rail(RailEvent),
    /// The host moved or sized a RemoteApp window itself (the end of a local move/size, or
    /// a snap): where the window proper now is, in host pixels, and whether its size changed.
    WindowPlaced { window: u32, client: HostRect, resized: bool },
    /// The host's clipboard: a copy, data for a paste, or a paste of Linux data.
    Clipboard(ClipboardEvent),
}

/// A changed part of one RemoteApp window: tiles in the window's surface pixels, or pixels
/// already written into the window's pool.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFrame {
    pub window: u32,
    /// The compositor's frame number, echoed in `HostEvent::FrameDone`.
    pub frame: u64,
    pub tiles: Vec<Tile>,
    /// What the compositor wrote into the window's pool itself (then `tiles` is empty): only
    /// a present is left to do. If the session cannot present it (the pool changed), it asks
    /// for the whole window again (`HostEvent::RefreshWindow`).
    pub written: Option<Written>,
    /// When the oldest commit this frame carries reached the compositor, and when its frame
    /// clock ticked for this frame (None for a frame no commit caused): the session times both
    /// to the frame written (`wayrail msg frames`).
    pub committed: Option<CommitTimes>,
}

/// See [`WindowFrame::committed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitTimes {
    pub committed: std::time::Instant,
    pub tick: std::time::Instant,
}

/// A changed rectangle of the desktop with its pixels: BGRA bytes (ARGB8888 little endian),
/// `width * 4` bytes a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    pub bgra: Vec<u8>,
}

/// A frame of the desktop: the damaged tiles since the previous frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DesktopFrame {
    /// The compositor's frame number, echoed in `HostEvent::FrameDone`.
    pub frame: u64,
    pub width: u16,
    pub height: u16,
    pub tiles: Vec<Tile>,
}
