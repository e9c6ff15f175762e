//! wayrail's RDP server. It knows nothing of Wayland: the compositor gives it composed pixels
//! and takes input and layout changes back, over channels, so the compositor never waits on
//! the network.
//!
//! One tokio thread runs every listener and the sessions. One session is active at a time; a
//! new connection that logs in takes over from the old one when the `Takeover` policy allows
//! it (the reconnect case), and a vanished client changes nothing on the compositor's side but
//! `HostEvent::Disconnected`.

mod auth;
mod bitmap;
pub mod clipboard;
pub mod codec;
mod egfx;
mod exec;
pub mod frame_times;
#[doc(hidden)]
pub mod fuzz;
pub mod input;
pub mod monitors;
pub mod pointer;
pub mod progressive;
mod reassembly;
pub mod remoteapp;
mod server;
mod session;
pub mod tls;
pub mod transport;

pub use clipboard::{ClipboardCommand, ClipboardEvent};
pub use codec::H264Mode;
pub use monitors::HostMonitor;
pub use pointer::Pointer;
pub use remoteapp::RailCommand;
pub use server::{RdpHandle, RdpServer};
pub use transport::ListenAddr;
pub use wayrail_clipboard::ClipboardSender;
pub use wayrail_link::{CommitTimes, DesktopFrame, HostEvent, HostLink, Tile, WindowFrame};
pub use wayrail_rail::channel::SysCommand;
pub use wayrail_rail::exec::ExecPolicy;
pub use wayrail_rail::{HostRect, RailEvent, RemoteWindow, Show, WindowKind as RemoteKind};

/// Settings of the RDP server.
#[derive(Debug, Clone)]
pub struct RdpConfig {
    pub listen: Vec<ListenAddr>,
    pub tls: tls::TlsSource,
    /// When set, clients must log in with these (compared in constant time). `None` lets
    /// every client in: `RdpServer::spawn` refuses that on a TCP listener that is not loopback.
    pub credentials: Option<Credentials>,
    /// Whether a client that logged in may take the live session over.
    pub takeover: Takeover,
    /// The desktop size offered to clients that do not ask for one.
    pub default_size: (u16, u16),
    /// What one client may cost the server before its login.
    pub limits: Limits,
    /// Which programs a RemoteApp client may start (`[rail] exec`).
    pub exec: ExecPolicy,
    /// Where VAIL's shared-memory pools go; `None`: RemoteApp windows go over EGFX only.
    pub vail_dir: Option<std::path::PathBuf>,
    /// Where sound for the host comes from; `None`: no `rdpsnd` channel.
    pub audio: Option<std::sync::Arc<wayrail_audio::AudioHub>>,
    /// The app list of the host's start menu (`[applist]`); None: no app list channel.
    pub applist: Option<wayrail_applist::AppListConfig>,
    /// `[rdp] h264`: whether EGFX surfaces may switch to H.264 where it pays.
    pub h264: H264Mode,
}

/// Limits on what a peer can hold of the server. `Limits::default()` is what wayrail uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// At most this many connections may be in the connection sequence at once; more are
    /// closed as they come (each one in it may take the whole handshake timeout).
    pub max_pending: usize,
    /// A client must send the first byte of its connection request within this.
    pub first_byte_timeout: std::time::Duration,
    /// A connected client that takes longer than this to read what the server writes (one
    /// write waits this long for room in the socket) is dropped; the apps stay.
    pub write_timeout: std::time::Duration,
    /// A session whose commands waiting for its client (window changes, icons, clipboard
    /// data) weigh more than this many bytes is ended: its client reads too slowly.
    pub max_queued_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pending: 16,
            first_byte_timeout: std::time::Duration::from_secs(5),
            write_timeout: std::time::Duration::from_secs(30),
            max_queued_bytes: 32 << 20,
        }
    }
}

/// What a client must log in with.
#[derive(Clone)]
pub struct Credentials {
    /// The user name the client must give (compared ignoring ASCII case, as Windows does);
    /// `None` takes any name, which then tells sessions apart for [`Takeover::SameUser`].
    pub username: Option<String>,
    pub password: String,
}

/// When a new session that logged in replaces the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Takeover {
    /// Only when it logged in with the live session's user name (ASCII case ignored).
    #[default]
    SameUser,
    /// Never: the new client is refused while a session is live.
    Never,
    /// Always.
    Any,
}

impl std::fmt::Display for Takeover {
    /// As the config spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Takeover::SameUser => "same-user",
            Takeover::Never => "never",
            Takeover::Any => "any",
        })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// A connection's identity, for logs and to tell sessions apart (the clipboard seam's too).
pub use wayrail_clipboard::SessionId;
