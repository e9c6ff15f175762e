//! X11 for the RemoteApp tests, on x11rb: a stand-in window manager that FreeRDP's `/app` mode
//! needs, the RAIL windows FreeRDP makes (class, title, geometry, owner), and what a user's
//! window manager would do to them (close, maximize, minimize).
//!
//! xfreerdp in `/app` mode interns the EWMH atoms "only if exists". On a bare Xvfb they do not
//! exist, are 0, and xfreerdp 3 dies with `BadAtom` on `X_ChangeProperty` as soon as it makes a
//! popup's window; without `_NET_SUPPORTED` / `_NET_SUPPORTING_WM_CHECK` it also ignores
//! `_NET_WM_STATE` changes. [`FakeWm`] interns every atom it uses, advertises them on the root
//! window and stays connected for the test's life (Xvfb drops root properties when its last
//! client leaves).

use std::time::Duration;

use anyhow::{bail, Context};
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, MapState, PropMode, Window,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// The EWMH names FreeRDP's RAIL code looks for.
const WINDOW_TYPES: &[&str] = &[
    "DESKTOP",
    "DOCK",
    "TOOLBAR",
    "MENU",
    "UTILITY",
    "SPLASH",
    "DIALOG",
    "DROPDOWN_MENU",
    "POPUP_MENU",
    "TOOLTIP",
    "NOTIFICATION",
    "COMBO",
    "DND",
    "NORMAL",
];
const STATES: &[&str] = &[
    "MODAL",
    "STICKY",
    "MAXIMIZED_VERT",
    "MAXIMIZED_HORZ",
    "SHADED",
    "SKIP_TASKBAR",
    "SKIP_PAGER",
    "HIDDEN",
    "FULLSCREEN",
    "ABOVE",
    "BELOW",
    "DEMANDS_ATTENTION",
];
const NAMES: &[&str] = &[
    "_NET_WM_STATE",
    "_NET_WM_WINDOW_TYPE",
    "_NET_WM_MOVERESIZE",
    "_NET_MOVERESIZE_WINDOW",
    "_NET_ACTIVE_WINDOW",
    "_NET_WORKAREA",
    "_NET_WM_NAME",
    "_NET_WM_ICON",
    "_NET_WM_PID",
    "_NET_CLOSE_WINDOW",
];

/// A connection to an X server.
pub struct X11 {
    conn: RustConnection,
    root: Window,
}

/// One top-level X window that FreeRDP made for a RAIL window (WM_CLASS `RAIL`, `RAIL:%08X`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RailWindow {
    /// The X window.
    pub xid: u32,
    /// The RAIL window id (the compositor's window id), from the class.
    pub rail_id: u32,
    /// `_NET_WM_NAME` (UTF-8), else `WM_NAME`.
    pub title: String,
    /// Position on the screen and size.
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub viewable: bool,
    /// Menus and other popups are override-redirect windows.
    pub override_redirect: bool,
    /// WM_TRANSIENT_FOR, when set.
    pub transient_for: Option<u32>,
}

impl RailWindow {
    pub fn rect(&self) -> crate::Rect {
        crate::Rect { x: self.x, y: self.y, width: self.width, height: self.height }
    }
}

impl X11 {
    /// Connects to display `name` (`:N`), retrying for a moment while the server starts.
    pub fn connect(name: &str) -> anyhow::Result<X11> {
        let mut last = None;
        for _ in 0..50 {
            match x11rb::connect(Some(name)) {
                Ok((conn, screen)) => {
                    let root = conn.setup().roots[screen].root;
                    return Ok(X11 { conn, root });
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("cannot connect to X display {name}: {last:?}")
    }

    pub fn root(&self) -> Window {
        self.root
    }

    /// The atom named `name` (created if need be).
    pub fn atom(&self, name: &str) -> anyhow::Result<Atom> {
        Ok(self.conn.intern_atom(false, name.as_bytes())?.reply().with_context(|| format!("interning {name}"))?.atom)
    }

    fn property(&self, window: Window, name: &str, kind: impl Into<Atom>) -> anyhow::Result<Vec<u8>> {
        let atom = self.atom(name)?;
        let reply = self.conn.get_property(false, window, atom, kind, 0, 1 << 16)?.reply()?;
        Ok(reply.value)
    }

    fn property32(&self, window: Window, name: &str, kind: impl Into<Atom>) -> anyhow::Result<Vec<u32>> {
        let atom = self.atom(name)?;
        let reply = self.conn.get_property(false, window, atom, kind, 0, 1 << 16)?.reply()?;
        Ok(reply.value32().map(|v| v.collect()).unwrap_or_default())
    }

    /// A window's `_NET_WM_ICON` as (width, height, ARGB values) per image.
    pub fn net_wm_icon(&self, window: Window) -> anyhow::Result<Vec<(u32, u32, Vec<u32>)>> {
        let mut data = &self.property32(window, "_NET_WM_ICON", AtomEnum::CARDINAL)?[..];
        let mut out = Vec::new();
        while let [w, h, rest @ ..] = data {
            let n = (*w as usize) * (*h as usize);
            if n == 0 || rest.len() < n {
                break;
            }
            out.push((*w, *h, rest[..n].to_vec()));
            data = &rest[n..];
        }
        Ok(out)
    }

    /// Makes this connection the stand-in window manager (see the module's documentation):
    /// keep it open for as long as the RDP client runs.
    pub fn become_fake_wm(&self) -> anyhow::Result<()> {
        let mut supported = Vec::new();
        for name in NAMES {
            supported.push(self.atom(name)?);
        }
        for t in WINDOW_TYPES {
            supported.push(self.atom(&format!("_NET_WM_WINDOW_TYPE_{t}"))?);
        }
        for s in STATES {
            supported.push(self.atom(&format!("_NET_WM_STATE_{s}"))?);
        }
        self.atom("_NET_WM_STATE_MAXIMIZED")?; // older spellings some clients ask for
        self.atom("WM_STATE")?;
        let check = self.atom("_NET_SUPPORTING_WM_CHECK")?;
        let net_supported = self.atom("_NET_SUPPORTED")?;
        self.conn.change_property32(PropMode::REPLACE, self.root, check, AtomEnum::WINDOW, &[self.root])?;
        self.conn.change_property32(PropMode::REPLACE, self.root, net_supported, AtomEnum::ATOM, &supported)?;
        self.conn.sync().context("setting up the fake window manager")?;
        Ok(())
    }

    /// Every top-level window whose WM_CLASS instance is `RAIL` (viewable or not).
    pub fn rail_windows(&self) -> anyhow::Result<Vec<RailWindow>> {
        let tree = self.conn.query_tree(self.root)?.reply()?;
        let mut out = Vec::new();
        for &xid in &tree.children {
            // Windows may vanish while we look: skip what errors.
            let Ok(class) = self.property(xid, "WM_CLASS", AtomEnum::STRING) else { continue };
            let mut parts = class.split(|&b| b == 0);
            let (instance, class) = (parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]));
            if instance != b"RAIL" {
                continue;
            }
            let class = String::from_utf8_lossy(class).into_owned();
            let Some(rail_id) = class.strip_prefix("RAIL:").and_then(|hex| u32::from_str_radix(hex, 16).ok()) else {
                continue;
            };
            let Ok(attrs) = self.conn.get_window_attributes(xid)?.reply() else { continue };
            let Ok(geometry) = self.conn.get_geometry(xid)?.reply() else { continue };
            let Ok(at) = self.conn.translate_coordinates(xid, self.root, 0, 0)?.reply() else { continue };
            let utf8 = self.atom("UTF8_STRING")?;
            let mut title = self.property(xid, "_NET_WM_NAME", utf8).unwrap_or_default();
            if title.is_empty() {
                title = self.property(xid, "WM_NAME", AtomEnum::STRING).unwrap_or_default();
            }
            let transient_for =
                self.property32(xid, "WM_TRANSIENT_FOR", AtomEnum::WINDOW).ok().and_then(|v| v.first().copied());
            out.push(RailWindow {
                xid,
                rail_id,
                title: String::from_utf8_lossy(&title).into_owned(),
                x: at.dst_x.into(),
                y: at.dst_y.into(),
                width: geometry.width.into(),
                height: geometry.height.into(),
                viewable: attrs.map_state == MapState::VIEWABLE,
                override_redirect: attrs.override_redirect,
                transient_for,
            });
        }
        Ok(out)
    }

    /// Asks a window to close the way a window manager does when the user clicks its close
    /// button: WM_PROTOCOLS / WM_DELETE_WINDOW.
    pub fn send_delete_window(&self, window: Window) -> anyhow::Result<()> {
        let protocols = self.atom("WM_PROTOCOLS")?;
        let delete = self.atom("WM_DELETE_WINDOW")?;
        let event = ClientMessageEvent::new(32, window, protocols, [delete, x11rb::CURRENT_TIME, 0, 0, 0]);
        self.conn.send_event(false, window, EventMask::NO_EVENT, event)?;
        self.conn.sync()?;
        Ok(())
    }

    /// Sets a window's `_NET_WM_STATE` to these states (`MAXIMIZED_VERT`, `HIDDEN`, ...), as a
    /// window manager does after maximizing or minimizing it.
    pub fn set_net_wm_state(&self, window: Window, states: &[&str]) -> anyhow::Result<()> {
        let mut atoms = Vec::new();
        for s in states {
            atoms.push(self.atom(&format!("_NET_WM_STATE_{s}"))?);
        }
        let prop = self.atom("_NET_WM_STATE")?;
        self.conn.change_property32(PropMode::REPLACE, window, prop, AtomEnum::ATOM, &atoms)?;
        self.conn.sync()?;
        Ok(())
    }

    /// Sets ICCCM's WM_STATE (1 normal, 3 iconic), as a window manager does.
    pub fn set_wm_state(&self, window: Window, state: u32) -> anyhow::Result<()> {
        let prop = self.atom("WM_STATE")?;
        self.conn.change_property32(PropMode::REPLACE, window, prop, prop, &[state, 0])?;
        self.conn.sync()?;
        Ok(())
    }

    /// Whether the X server still answers.
    pub fn alive(&self) -> bool {
        self.conn.get_input_focus().ok().and_then(|c| c.reply().ok()).is_some()
    }
}
