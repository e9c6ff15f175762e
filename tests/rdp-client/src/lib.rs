//! A scriptable RDP client for wayrail's tests, on IronRDP's client crates.
//!
//! [`TestClient::connect`] runs the whole connection sequence (X.224 negotiation, TLS without
//! certificate checks, MCS, licensing, capabilities) over TCP, a Unix socket or AF_VSOCK, with
//! the graphics pipeline (EGFX) on the dynamic channels. After that nothing happens unless the
//! test calls [`TestClient::pump`], which reads server PDUs, decodes graphics into an RGBA
//! desktop image ([`TestClient::pixel`]) and answers what needs answers (frame
//! acknowledgements; [`TestClient::delay_acks`] holds them back, as a slow client). Input goes
//! out with [`TestClient::send_input`], arbitrary bytes with
//! [`TestClient::send_raw`]. [`raw::RawConnection`] stops at an earlier stage of the sequence
//! for robustness tests.
//!
//! More channels (RAIL, custom dynamic channels) attach through [`ClientBuilder`]; windowing
//! orders and RemoteApp window pixels are collected already. [`rail::RailClient`] is the
//! `rail` channel of a RemoteApp client; [`TestClient::host_windows`] and
//! [`TestClient::window_image`] show what a host would show. [`vail::GfxRedirHost`] is the
//! host's end of gfxredir (VAIL): it maps the server's pool files and rebuilds each window's
//! pixels from them. [`sound::sound_client`] is the host's end of `rdpsnd`: it keeps the
//! sound the server sends, for tests to measure; [`mic::mic_client`] is its microphone, which
//! sends what the test injects.
//! pixels from them. [`applist::AppListHost`] is the host's end of the app list.

mod acks;
pub mod applist;
pub mod client;
pub mod clipboard;
mod config;
mod finalization;
pub mod fuzz;
pub mod gfx;
pub mod mic;
pub mod monitors;
pub mod rail;
pub mod raw;
pub mod sound;
pub mod tap;
pub mod tls;
pub mod transport;
pub mod vail;

pub use applist::{AppListHost, AppListHostState, SharedAppListHost};
pub use client::{ClientBuilder, ClientOptions, FinalizationOrder, PointerEvent, TestClient};
pub use clipboard::{ClipboardClient, DataRequests};
pub use gfx::{FrameRecord, GfxLog};
pub use mic::{mic_client, SharedMic};
pub use monitors::MonitorSpec;
pub use rail::{HostWindow, HostWindows, RailClient, WindowImage};
pub use raw::RawConnection;
pub use sound::{sound_client, SharedSoundLog, SoundLog};
pub use tap::TapLog;
pub use vail::{GfxRedirHost, HostImage, Misbehave, SharedVailHost, VailHostState};

/// State a channel's handler writes and the test reads (or sets), shared between them.
#[derive(Debug, Default)]
pub struct Shared<T>(std::sync::Arc<std::sync::Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Shared<T> {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        // A panic while holding the lock can only come from a test assertion; the state stays usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The IronRDP crates the client is built on, so tests name the same versions.
pub use {
    ironrdp_core, ironrdp_displaycontrol, ironrdp_dvc, ironrdp_egfx, ironrdp_pdu, ironrdp_rail, ironrdp_rdpeai,
    ironrdp_rdpsnd, ironrdp_session, ironrdp_svc,
};
