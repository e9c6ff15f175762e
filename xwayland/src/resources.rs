//! X resources for HiDPI: `Xft.dpi` and `Xcursor.size` in the root window's
//! `RESOURCE_MANAGER` property, which Xft, Xcursor and toolkits (and `xrdb -query`) read.

use anyhow::Context;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, PropMode};
use x11rb::wrapper::ConnectionExt as _;

/// The resources wayrail owns; other lines in the property are kept.
const OURS: [&str; 2] = ["Xft.dpi:", "Xcursor.size:"];

/// `existing` (a RESOURCE_MANAGER text) with our resources set to `dpi` and `cursor_size`.
pub fn merged(existing: &str, dpi: u32, cursor_size: u32) -> String {
    let mut out: String = existing
        .lines()
        .filter(|l| !OURS.iter().any(|o| l.starts_with(o)) && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("Xft.dpi:\t{dpi}\nXcursor.size:\t{cursor_size}\n"));
    out
}

/// Sets `Xft.dpi` and `Xcursor.size` on display `:display`.
pub fn set_resources(display: u32, dpi: u32, cursor_size: u32) -> anyhow::Result<()> {
    let (conn, screen) =
        x11rb::connect(Some(&format!(":{display}"))).with_context(|| format!("connecting to :{display}"))?;
    let root = conn.setup().roots[screen].root;
    let atom: u32 = AtomEnum::RESOURCE_MANAGER.into();
    let existing = conn.get_property(false, root, atom, AtomEnum::STRING, 0, 1 << 16)?.reply()?;
    let text = merged(&String::from_utf8_lossy(&existing.value), dpi, cursor_size);
    conn.change_property8(PropMode::REPLACE, root, atom, AtomEnum::STRING, text.as_bytes())?;
    conn.sync().context("setting RESOURCE_MANAGER")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_our_resources() {
        let text = merged("XTerm*faceName:\tMono\nXft.dpi:\t96\n", 192, 48);
        assert_eq!(text, "XTerm*faceName:\tMono\nXft.dpi:\t192\nXcursor.size:\t48\n");
        assert_eq!(merged("", 144, 36), "Xft.dpi:\t144\nXcursor.size:\t36\n");
    }
}
