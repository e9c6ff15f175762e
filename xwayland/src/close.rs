//! Closing X11 windows of apps that may hang.
//!
//! Closing asks politely first (WM_DELETE_WINDOW, sent by the window manager). A client that
//! takes `_NET_WM_PING` is pinged at the same time: if the window is still there after a grace
//! period and the client has not answered the ping, the client is hung and its connection is
//! killed (`XKillClient`) with its process (when the kernel vouches for its pid), which ends
//! the app and takes its windows away. A client that answers is alive and may be asking the
//! user something ("save changes?"): it is left alone. A client without `_NET_WM_PING` cannot
//! be told from a busy one: a second close request after the grace period (the user insisting)
//! kills it; see [`watch_close`]'s `force`.
//!
//! This runs on a thread with a connection of its own, so a hung client never holds up the
//! compositor.

use std::time::{Duration, Instant};

use anyhow::Context;
use x11rb::connection::Connection;
use x11rb::protocol::res::{ClientIdMask, ClientIdSpec, ConnectionExt as _};
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ClientMessageEvent, ConnectionExt as _, EventMask, MapState, Window,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// What became of a close request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// The window went away (or was unmapped) within the grace period.
    Closed,
    /// The client answered the ping: alive, left alone.
    Responsive,
    /// The window is still there and its client does not take `_NET_WM_PING`: nothing more is
    /// done until the next request.
    NoPing,
    /// The client was killed.
    Killed,
}

/// Watches window `window` of display `:display` after a close request, on a thread: kills its
/// client if it stays and does not answer `_NET_WM_PING` within `grace`; with `force` (a repeated
/// request), a client that does not take `_NET_WM_PING` is killed at once.
pub fn watch_close(display: u32, window: u32, grace: Duration, force: bool) {
    let spawned = std::thread::Builder::new().name("x11-close".into()).spawn(move || {
        match close_or_kill(display, window, grace, force) {
            Ok(CloseOutcome::Killed) => tracing::warn!(window, "killed the X11 client of a window that did not close"),
            Ok(CloseOutcome::Responsive) => {
                tracing::info!(window, "the X11 client answered the ping after a close request: it stays")
            }
            Ok(CloseOutcome::NoPing) => tracing::info!(
                window,
                "an X11 window did not close and its client takes no _NET_WM_PING: closing it again kills it"
            ),
            Ok(CloseOutcome::Closed) => tracing::debug!(window, "X11 window closed"),
            Err(err) => tracing::debug!(window, "watching an X11 close request: {err:#}"),
        }
    });
    if let Err(err) = spawned {
        tracing::warn!("no thread to watch an X11 close request: {err}");
    }
}

fn atom(conn: &RustConnection, name: &str) -> anyhow::Result<Atom> {
    Ok(conn.intern_atom(false, name.as_bytes())?.reply()?.atom)
}

/// Whether `window` still exists and is mapped.
fn still_shown(conn: &RustConnection, window: Window) -> bool {
    conn.get_window_attributes(window)
        .ok()
        .and_then(|c| c.reply().ok())
        .is_some_and(|a| a.map_state != MapState::UNMAPPED)
}

/// Kills the client of `window`: its X connection, and its process, which may not notice a
/// closed connection while it hangs.
fn kill(conn: &RustConnection, window: Window) -> anyhow::Result<CloseOutcome> {
    let pid = client_pid(conn, window);
    conn.kill_client(window)?;
    conn.sync().context("killing the client")?;
    if let Some(pid) = pid.filter(|&p| p > 1 && p != std::process::id()) {
        tracing::warn!(window, pid, "killing the process of a hung X11 client");
        // SAFETY: kill(2) with a pid and a signal; no memory is involved.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    Ok(CloseOutcome::Killed)
}

/// The pid of the client that made `window`, as the kernel told it: what the X server knows of
/// its connection (XRes), or, for a client that connected before Xwayland ran and reaches it
/// through wayrail's proxy (the server names wayrail), what the proxy knows. The window's
/// `_NET_WM_PID` is the client's word and may name any process: it is not used. Without a pid,
/// killing the X connection is all that is done.
fn client_pid(conn: &RustConnection, window: Window) -> Option<u32> {
    let spec = ClientIdSpec { client: window, mask: ClientIdMask::LOCAL_CLIENT_PID };
    let server = conn
        .res_query_client_ids(&[spec])
        .ok()
        .and_then(|c| c.reply().ok())
        .and_then(|r| r.ids.first().and_then(|id| id.value.first().copied()));
    tracing::debug!(?server, window, "XRes pid");
    match server {
        Some(pid) if pid != std::process::id() => Some(pid),
        _ => crate::proxied_client_pid(window),
    }
}

/// [`watch_close`]'s work, synchronously.
pub fn close_or_kill(display: u32, window: Window, grace: Duration, force: bool) -> anyhow::Result<CloseOutcome> {
    let (conn, screen) =
        x11rb::connect(Some(&format!(":{display}"))).with_context(|| format!("connecting to :{display}"))?;
    let root = conn.setup().roots[screen].root;
    let protocols = atom(&conn, "WM_PROTOCOLS")?;
    let ping = atom(&conn, "_NET_WM_PING")?;
    // Watch the window's end, and the answers clients send to the root window.
    conn.change_window_attributes(window, &ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY))?;
    conn.change_window_attributes(root, &ChangeWindowAttributesAux::new().event_mask(EventMask::SUBSTRUCTURE_NOTIFY))?;
    let supported = conn.get_property(false, window, protocols, AtomEnum::ATOM, 0, 64)?.reply()?;
    let pingable = supported.value32().is_some_and(|mut v| v.any(|a| a == ping));
    if !pingable && force {
        return if still_shown(&conn, window) { kill(&conn, window) } else { Ok(CloseOutcome::Closed) };
    }
    if pingable {
        let event = ClientMessageEvent::new(32, window, protocols, [ping, x11rb::CURRENT_TIME, window, 0, 0]);
        conn.send_event(false, window, EventMask::NO_EVENT, event)?;
    }
    conn.flush()?;
    let deadline = Instant::now() + grace;
    loop {
        while let Some(event) = conn.poll_for_event()? {
            match event {
                Event::DestroyNotify(e) if e.window == window => return Ok(CloseOutcome::Closed),
                Event::UnmapNotify(e) if e.window == window => return Ok(CloseOutcome::Closed),
                Event::ClientMessage(m) if m.type_ == protocols => {
                    let data = m.data.as_data32();
                    if data[0] == ping && data[2] == window {
                        return Ok(CloseOutcome::Responsive);
                    }
                }
                _ => {}
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        crate::wait_readable(&conn, left);
    }
    match (still_shown(&conn, window), pingable) {
        (false, _) => Ok(CloseOutcome::Closed),
        (true, true) => kill(&conn, window),
        (true, false) => Ok(CloseOutcome::NoPing),
    }
}
