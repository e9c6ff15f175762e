//! Reading an X11 selection into a file descriptor, for any target.
//!
//! smithay's X11 window manager converts only the two text targets (`UTF8_STRING`, `TEXT`) for
//! Wayland readers: for other MIME types (`image/png`, `text/html`, ...) it looks the target up
//! in a property it never writes, so those transfers fail. [`read_selection`] does the
//! conversion on a connection of its own, on a thread of its own: it asks the owner for the
//! target named like the MIME type, takes the reply in one piece or in INCR chunks (large
//! transfers), and writes it to the reader's descriptor. A slow or dead owner, or a reader that
//! stops reading, only ends that thread (with a bounded wait); the compositor never waits.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{Atom, AtomEnum, ConnectionExt as _, CreateWindowAux, EventMask, Property, WindowClass};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

/// How long the owner may take to answer, and between two INCR chunks.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which selection to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Clipboard,
    Primary,
}

/// Reads `selection` of display `:display` as target `mime_type` into `fd`, on a thread.
pub fn read_selection(display: u32, selection: Selection, mime_type: String, fd: OwnedFd) {
    let spawned = std::thread::Builder::new().name("x11-selection".into()).spawn(move || {
        let mut out = std::fs::File::from(fd);
        match transfer(display, selection, &mime_type, &mut out) {
            Ok(bytes) => tracing::debug!(?selection, mime_type, bytes, "X11 selection read"),
            Err(err) => tracing::warn!(?selection, mime_type, "reading the X11 selection: {err:#}"),
        }
    });
    if let Err(err) = spawned {
        tracing::warn!("no thread to read the X11 selection: {err}");
    }
}

fn atom(conn: &RustConnection, name: &str) -> anyhow::Result<Atom> {
    Ok(conn.intern_atom(false, name.as_bytes())?.reply()?.atom)
}

/// Waits for the first event `pick` accepts, up to [`STEP_TIMEOUT`].
fn wait_event<T>(conn: &RustConnection, mut pick: impl FnMut(&Event) -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        while let Some(event) = conn.poll_for_event()? {
            if let Some(found) = pick(&event) {
                return Ok(found);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("the selection owner did not answer within {STEP_TIMEOUT:?}");
        }
        crate::wait_readable(conn, left);
    }
}

/// The X11 targets to ask for, in order, for a MIME type: the type itself (X11 apps name
/// non-text targets by MIME type, and some offer `text/plain` too), then for text the X11
/// text targets.
fn targets_for(mime_type: &str) -> Vec<&str> {
    match mime_type {
        "text/plain;charset=utf-8" => vec![mime_type, "UTF8_STRING", "text/plain"],
        "text/plain" => vec![mime_type, "UTF8_STRING", "STRING"],
        _ => vec![mime_type],
    }
}

fn transfer(display: u32, selection: Selection, mime_type: &str, out: &mut impl Write) -> anyhow::Result<usize> {
    let (conn, screen) =
        x11rb::connect(Some(&format!(":{display}"))).with_context(|| format!("connecting to :{display}"))?;
    let root = conn.setup().roots[screen].root;
    let window = conn.generate_id()?;
    let aux = CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE);
    conn.create_window(0, window, root, -1, -1, 1, 1, 0, WindowClass::INPUT_ONLY, 0, &aux)?;
    let selection_atom = match selection {
        Selection::Clipboard => atom(&conn, "CLIPBOARD")?,
        Selection::Primary => AtomEnum::PRIMARY.into(),
    };
    let property = atom(&conn, "_WAYRAIL_SELECTION")?;
    let incr = atom(&conn, "INCR")?;
    let mut converted = false;
    for name in targets_for(mime_type) {
        let target = atom(&conn, name)?;
        conn.convert_selection(window, selection_atom, target, property, x11rb::CURRENT_TIME)?;
        conn.flush()?;
        let answered = wait_event(&conn, |e| match e {
            Event::SelectionNotify(n) if n.requestor == window => Some(n.property),
            _ => None,
        })?;
        if answered != u32::from(AtomEnum::NONE) {
            converted = true;
            break;
        }
    }
    if !converted {
        bail!("the owner cannot give the selection as {mime_type}");
    }
    let reply = conn.get_property(true, window, property, AtomEnum::ANY, 0, u32::MAX / 4)?.reply()?;
    conn.flush()?;
    if reply.type_ != incr {
        out.write_all(&reply.value).context("writing to the reader")?;
        return Ok(reply.value.len());
    }
    // INCR: deleting the property (done above) asks for the first chunk; each chunk comes as a
    // new value of the property, and an empty one ends the transfer.
    let mut total = 0;
    loop {
        wait_event(&conn, |e| match e {
            Event::PropertyNotify(n) if n.window == window && n.atom == property && n.state == Property::NEW_VALUE => {
                Some(())
            }
            _ => None,
        })?;
        let chunk = conn.get_property(true, window, property, AtomEnum::ANY, 0, u32::MAX / 4)?.reply()?;
        conn.flush()?;
        if chunk.value.is_empty() {
            return Ok(total);
        }
        total += chunk.value.len();
        out.write_all(&chunk.value).context("writing to the reader")?;
    }
}
