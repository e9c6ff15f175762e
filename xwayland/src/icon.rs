//! `_NET_WM_ICON`: the icons an X11 window carries, read on a connection of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, EventMask, Window};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

/// One icon image: width, height and straight-alpha RGBA bytes, top row first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconImage {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// The largest icon side taken (bigger ones are skipped: a host shows at most 96 px).
const MAX_SIDE: u32 = 512;

/// Reads the `_NET_WM_ICON` images of `window` on display `:display`.
pub fn read_icons(display: u32, window: Window) -> anyhow::Result<Vec<IconImage>> {
    let (conn, _) =
        x11rb::connect(Some(&format!(":{display}"))).with_context(|| format!("connecting to :{display}"))?;
    let atom = conn.intern_atom(false, b"_NET_WM_ICON")?.reply()?.atom;
    // Up to 4 MiB of 32-bit values: several sizes up to 512 px.
    let reply = conn.get_property(false, window, atom, AtomEnum::CARDINAL, 0, 1 << 20)?.reply()?;
    Ok(reply.value32().map(|v| parse_icons(&v.collect::<Vec<_>>())).unwrap_or_default())
}

/// Parses `_NET_WM_ICON`: repeated width, height, then width × height ARGB values (alpha in
/// the top byte, not premultiplied). A truncated or oversized entry ends the list.
pub fn parse_icons(mut data: &[u32]) -> Vec<IconImage> {
    let mut out = Vec::new();
    while let [width, height, rest @ ..] = data {
        let (width, height) = (*width, *height);
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            break;
        }
        let n = (width * height) as usize;
        if rest.len() < n {
            break;
        }
        let rgba = rest[..n].iter().flat_map(|&argb| {
            let [a, r, g, b] = argb.to_be_bytes();
            [r, g, b, a]
        });
        out.push(IconImage { width, height, rgba: rgba.collect() });
        data = &rest[n..];
    }
    out
}

/// Tells when a window's `_NET_WM_ICON` changes after it was first read: apps that set
/// their icon late, or change it (a mail count, a build's state). One connection of its own
/// and a thread that waits for its events; windows are added with [`IconWatcher::watch`].
pub struct IconWatcher {
    conn: Arc<RustConnection>,
    alive: Arc<AtomicBool>,
}

impl IconWatcher {
    /// Connects to `:display`; `changed` runs on the watcher's thread for each change.
    pub fn start(display: u32, changed: impl Fn(Window) + Send + 'static) -> anyhow::Result<IconWatcher> {
        let (conn, _) =
            x11rb::connect(Some(&format!(":{display}"))).with_context(|| format!("connecting to :{display}"))?;
        let atom = conn.intern_atom(false, b"_NET_WM_ICON")?.reply()?.atom;
        let conn = Arc::new(conn);
        let alive = Arc::new(AtomicBool::new(true));
        let (reader, running) = (conn.clone(), alive.clone());
        std::thread::Builder::new().name("x11-icon-watch".into()).spawn(move || {
            loop {
                match reader.wait_for_event() {
                    Ok(Event::PropertyNotify(e)) if e.atom == atom => changed(e.window),
                    // Windows that went before their watch began answer with errors: nothing to do.
                    Ok(_) => {}
                    Err(_) => break, // the display is gone
                }
            }
            running.store(false, Ordering::Relaxed);
        })?;
        Ok(IconWatcher { conn, alive })
    }

    /// Whether the display is still there (an Xwayland that exited takes the watcher along).
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Reports `window`'s icon changes from now on. Our event mask on the window is this
    /// connection's own; the window manager's and the app's are untouched.
    pub fn watch(&self, window: Window) {
        let mask = ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE);
        if self.conn.change_window_attributes(window, &mask).is_ok() {
            let _ = self.conn.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_stops_at_bad_entries() {
        let mut data = vec![2, 1, 0xff10_2030, 0x8040_5060];
        data.extend([1, 1, 0x0000_00ff]);
        data.extend([3, 3, 1]); // truncated
        let icons = parse_icons(&data);
        assert_eq!(icons.len(), 2);
        assert_eq!(
            icons[0],
            IconImage { width: 2, height: 1, rgba: vec![0x10, 0x20, 0x30, 0xff, 0x40, 0x50, 0x60, 0x80] }
        );
        assert_eq!(icons[1].rgba, vec![0, 0, 0xff, 0]);
        assert!(parse_icons(&[100_000, 1, 0]).is_empty());
        assert!(parse_icons(&[]).is_empty());
    }
}
