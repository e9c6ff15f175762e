//! xdg-shell: toplevels and popups, and the configures they get as readable values.

use std::fmt;

use wayland_client::protocol::wl_surface;
use wayland_client::QueueHandle;
use wayland_protocols::xdg::shell::client::{xdg_popup, xdg_positioner, xdg_surface, xdg_toplevel};

use crate::{Base, Client};

/// What one xdg_surface.configure carried, with the role event before it.
#[derive(Debug, Clone, PartialEq)]
pub enum Configure {
    Toplevel { width: i32, height: i32, states: Vec<xdg_toplevel::State> },
    Popup { x: i32, y: i32, width: i32, height: i32 },
}

/// The states of an xdg_toplevel.configure (an array of u32 in host order).
///
/// Panics on a state this protocol version does not define: the compositor broke the protocol.
pub fn toplevel_states(raw: &[u8]) -> Vec<xdg_toplevel::State> {
    raw.chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .map(|v| xdg_toplevel::State::try_from(v).unwrap_or_else(|()| panic!("unknown toplevel state {v}")))
        .collect()
}

/// A state's name in the protocol (`maximized`, `tiled_left`, ...).
pub fn state_name(s: xdg_toplevel::State) -> String {
    use xdg_toplevel::State as S;
    match s {
        S::Maximized => "maximized".into(),
        S::Fullscreen => "fullscreen".into(),
        S::Resizing => "resizing".into(),
        S::Activated => "activated".into(),
        S::TiledLeft => "tiled_left".into(),
        S::TiledRight => "tiled_right".into(),
        S::TiledTop => "tiled_top".into(),
        S::TiledBottom => "tiled_bottom".into(),
        S::Suspended => "suspended".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

impl fmt::Display for Configure {
    /// `800x600 [activated, maximized]` (states sorted by name) or `popup 10,20 50x40`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Configure::Toplevel { width, height, states } => {
                let mut names: Vec<String> = states.iter().copied().map(state_name).collect();
                names.sort();
                write!(f, "{width}x{height} [{}]", names.join(", "))
            }
            Configure::Popup { x, y, width, height } => write!(f, "popup {x},{y} {width}x{height}"),
        }
    }
}

/// Everything one xdg_surface (and its role object) was told.
#[derive(Debug, Default)]
pub struct ShellRecord {
    pub(crate) pending: Option<Configure>,
    /// (serial, configure), in order.
    pub configures: Vec<(u32, Configure)>,
    pub close_requests: usize,
    pub popup_done: bool,
    pub repositioned: Vec<u32>,
}

impl ShellRecord {
    pub fn last_configure(&self) -> Option<&Configure> {
        self.configures.last().map(|(_, c)| c)
    }
}

/// An xdg_toplevel and the objects under it.
#[derive(Debug, Clone)]
pub struct Toplevel {
    pub surface: wl_surface::WlSurface,
    pub xdg_surface: xdg_surface::XdgSurface,
    pub xdg_toplevel: xdg_toplevel::XdgToplevel,
    /// Index into [`Base::shells`].
    pub shell: usize,
}

#[derive(Debug, Clone)]
pub struct Popup {
    pub surface: wl_surface::WlSurface,
    pub xdg_surface: xdg_surface::XdgSurface,
    pub xdg_popup: xdg_popup::XdgPopup,
    pub shell: usize,
}

/// An xdg_positioner's settings.
#[derive(Debug, Clone, Copy)]
pub struct PopupPlacement {
    pub size: (i32, i32),
    pub anchor_rect: (i32, i32, i32, i32),
    pub anchor: xdg_positioner::Anchor,
    pub gravity: xdg_positioner::Gravity,
    pub constraint_adjustment: xdg_positioner::ConstraintAdjustment,
    pub offset: (i32, i32),
}

impl Default for PopupPlacement {
    fn default() -> Self {
        Self {
            size: (50, 40),
            anchor_rect: (0, 0, 1, 1),
            anchor: xdg_positioner::Anchor::TopLeft,
            gravity: xdg_positioner::Gravity::BottomRight,
            constraint_adjustment: xdg_positioner::ConstraintAdjustment::None,
            offset: (0, 0),
        }
    }
}

impl Base {
    fn new_shell(&mut self) -> usize {
        self.shells.push(ShellRecord::default());
        self.shells.len() - 1
    }

    /// A toplevel with no content and no commit yet.
    pub fn create_toplevel<C: Client>(&mut self, qh: &QueueHandle<C>) -> anyhow::Result<Toplevel> {
        let surface = self.create_surface(qh)?;
        let shell = self.new_shell();
        let xdg_surface = self.wm_base()?.get_xdg_surface(&surface, qh, shell);
        let xdg_toplevel = xdg_surface.get_toplevel(qh, shell);
        Ok(Toplevel { surface, xdg_surface, xdg_toplevel, shell })
    }

    /// As [`Base::create_toplevel`], with a title and an app id, and committed (so the first
    /// configure comes).
    pub fn create_titled_toplevel<C: Client>(
        &mut self,
        qh: &QueueHandle<C>,
        title: &str,
        app_id: &str,
    ) -> anyhow::Result<Toplevel> {
        let toplevel = self.create_toplevel(qh)?;
        toplevel.xdg_toplevel.set_title(title.to_string());
        toplevel.xdg_toplevel.set_app_id(app_id.to_string());
        toplevel.surface.commit();
        Ok(toplevel)
    }

    pub fn create_positioner<C: Client>(
        &self,
        qh: &QueueHandle<C>,
        p: &PopupPlacement,
    ) -> anyhow::Result<xdg_positioner::XdgPositioner> {
        let positioner = self.wm_base()?.create_positioner(qh, ());
        positioner.set_size(p.size.0, p.size.1);
        let (x, y, w, h) = p.anchor_rect;
        positioner.set_anchor_rect(x, y, w, h);
        positioner.set_anchor(p.anchor);
        positioner.set_gravity(p.gravity);
        positioner.set_constraint_adjustment(p.constraint_adjustment);
        positioner.set_offset(p.offset.0, p.offset.1);
        Ok(positioner)
    }

    /// A popup of `parent`, not committed yet.
    pub fn create_popup<C: Client>(
        &mut self,
        qh: &QueueHandle<C>,
        parent: &xdg_surface::XdgSurface,
        placement: &PopupPlacement,
    ) -> anyhow::Result<Popup> {
        let surface = self.create_surface(qh)?;
        let shell = self.new_shell();
        let positioner = self.create_positioner(qh, placement)?;
        let xdg_surface = self.wm_base()?.get_xdg_surface(&surface, qh, shell);
        let xdg_popup = xdg_surface.get_popup(Some(parent), &positioner, qh, shell);
        positioner.destroy();
        Ok(Popup { surface, xdg_surface, xdg_popup, shell })
    }

    /// Whether a shell has had a configure yet.
    pub fn is_configured(&self, shell: usize) -> bool {
        !self.shells[shell].configures.is_empty()
    }

    /// Acks the last configure of a shell (for clients without `auto_ack`).
    pub fn ack_last_configure(&self, shell: usize, xdg_surface: &xdg_surface::XdgSurface) {
        let serial = self.shells[shell].configures.last().expect("no configure to ack").0;
        xdg_surface.ack_configure(serial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configures_read_as_text() {
        use xdg_toplevel::State as S;
        let c = Configure::Toplevel { width: 800, height: 600, states: vec![S::Maximized, S::Activated] };
        assert_eq!(c.to_string(), "800x600 [activated, maximized]");
        assert_eq!(Configure::Popup { x: 10, y: -2, width: 50, height: 40 }.to_string(), "popup 10,-2 50x40");
    }

    #[test]
    fn states_come_from_the_wire_array() {
        let raw: Vec<u8> = [4u32, 1, 5].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let states = toplevel_states(&raw);
        assert_eq!(
            states,
            vec![xdg_toplevel::State::Activated, xdg_toplevel::State::Maximized, xdg_toplevel::State::TiledLeft]
        );
        assert_eq!(states.into_iter().map(state_name).collect::<Vec<_>>(), ["activated", "maximized", "tiled_left"]);
    }
}
