//! Popups: their window ids, rectangles and unconstraining.

use smithay::desktop::{find_popup_root_surface, get_popup_toplevel_coords, PopupKind};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, Rectangle};
use smithay::wayland::compositor::with_states;
use smithay::wayland::shell::xdg::XdgPopupSurfaceData;

use super::State;
use crate::window::{Rect, ShowState, WindowId, WindowInfo, WindowKind};

/// A popup that has content and so has a window id.
pub struct PopupEntry {
    pub popup: PopupKind,
    pub parent: Option<WindowId>,
}

impl State {
    pub fn popup_committed(&mut self, surface: &WlSurface) {
        let Some(popup) = self.popups.find_popup(surface) else { return };
        if let PopupKind::Xdg(xdg) = &popup {
            if !xdg.is_initial_configure_sent() {
                if let Err(err) = xdg.send_configure() {
                    tracing::debug!("popup configure: {err}");
                }
                return;
            }
        }
        let has_buffer = crate::render::surface_has_buffer(surface);
        let id = self.window_id_for_surface(surface);
        match (id, has_buffer) {
            (None, true) => {
                let parent_root = find_popup_root_surface(&popup).ok();
                let direct = match &popup {
                    PopupKind::Xdg(x) => x.get_parent_surface(),
                    _ => None,
                };
                let parent = direct
                    .and_then(|p| self.window_id_for_surface(&p))
                    .or_else(|| parent_root.as_ref().and_then(|r| self.window_id_for_surface(r)));
                let rect = self.popup_rect(&popup);
                let pid = self.client_pid(surface);
                let output = self.output_for_rect(rect).map(|o| (o.name.clone(), o.scale));
                let info = WindowInfo {
                    id: WindowId(0),
                    kind: WindowKind::Popup,
                    title: String::new(),
                    app_id: parent.and_then(|p| self.windows.get(p)).map(|w| w.app_id.clone()).unwrap_or_default(),
                    pid,
                    parent,
                    x: rect.x,
                    y: rect.y,
                    width: rect.width,
                    height: rect.height,
                    state: ShowState::Normal,
                    output: output.as_ref().map(|o| o.0.clone()),
                    scale: output.map_or(1.0, |o| o.1),
                    activated: false,
                };
                let id = self.windows.insert(info);
                tracing::debug!(%id, ?parent, ?rect, "popup mapped");
                self.popup_windows.insert(id, PopupEntry { popup, parent });
                self.update_stacking();
                self.output_damaged = true;
            }
            (Some(id), false) => self.popup_gone(id),
            (Some(id), true) => {
                let rect = self.popup_rect(&popup);
                self.windows.update(id, |w| {
                    w.x = rect.x;
                    w.y = rect.y;
                    w.width = rect.width;
                    w.height = rect.height;
                });
            }
            (None, false) => {}
        }
    }

    pub fn popup_gone(&mut self, id: WindowId) {
        if self.popup_windows.remove(&id).is_some() {
            self.windows.remove(id);
            self.output_damaged = true;
            self.update_stacking();
        }
    }

    /// A popup's geometry in global logical coordinates.
    pub fn popup_rect(&self, popup: &PopupKind) -> Rect {
        // Its window geometry as xdg-shell defines it: what the client set, else the bounds
        // of its surface tree (`PopupKind::geometry` is empty when never set).
        let geo = match popup.geometry() {
            g if !g.size.is_empty() => g,
            _ => smithay::desktop::utils::bbox_from_surface_tree(popup.wl_surface(), (0, 0)),
        };
        let Ok(root) = find_popup_root_surface(popup) else {
            return Rect::new(geo.loc.x, geo.loc.y, geo.size.w, geo.size.h);
        };
        // Positioner results are relative to the parent's window geometry, so the popup's
        // window geometry sits at the toplevel's geometry origin plus every positioned offset
        // up the chain (its parents' and its own).
        let own = match popup {
            PopupKind::Xdg(xdg) => with_states(xdg.wl_surface(), |states| {
                states
                    .data_map
                    .get::<XdgPopupSurfaceData>()
                    .map_or_else(Default::default, |d| d.lock().unwrap().current.geometry.loc)
            }),
            _ => Point::default(),
        };
        let loc = self.root_geometry_origin(&root) + get_popup_toplevel_coords(popup) + own;
        Rect::new(loc.x, loc.y, geo.size.w, geo.size.h)
    }

    /// Global position of a toplevel's window geometry origin (what positioners are relative to).
    pub(super) fn root_geometry_origin(&self, root: &WlSurface) -> Point<i32, Logical> {
        self.toplevel_index(root).and_then(|i| self.toplevels[i].location).unwrap_or_default()
    }

    /// Constrains a popup to the output its parent is on, as its positioner allows.
    pub fn unconstrain_popup(&self, popup: &smithay::wayland::shell::xdg::PopupSurface) {
        let kind = PopupKind::Xdg(popup.clone());
        let Ok(root) = find_popup_root_surface(&kind) else { return };
        let origin = self.root_geometry_origin(&root);
        let parent_offset = get_popup_toplevel_coords(&kind);
        let anchor_global = origin + parent_offset + popup.with_pending_state(|s| s.positioner.anchor_rect.loc);
        let Some(out) = self.output_at(anchor_global.x as f64, anchor_global.y as f64).or(self.outputs.first()) else {
            return;
        };
        let area = out.logical_rect();
        let mut target = Rectangle::<i32, Logical>::new((area.x, area.y).into(), (area.width, area.height).into());
        target.loc -= origin + parent_offset;
        popup.with_pending_state(|state| {
            state.geometry = state.positioner.get_unconstrained_geometry(target);
        });
    }

    pub(super) fn refresh_popup_rects(&mut self, parent: WindowId) {
        let Some(root) = self.toplevel_by_id(parent).and_then(|t| t.window.toplevel()).map(|t| t.wl_surface().clone())
        else {
            // X11 popups (override-redirect windows) place themselves.
            return;
        };
        let popups: Vec<(WindowId, PopupKind)> = self
            .popup_windows
            .iter()
            .filter(|(_, p)| find_popup_root_surface(&p.popup).ok().as_ref() == Some(&root))
            .map(|(id, p)| (*id, p.popup.clone()))
            .collect();
        for (id, popup) in popups {
            let rect = self.popup_rect(&popup);
            self.windows.update(id, |w| {
                w.x = rect.x;
                w.y = rect.y;
            });
        }
    }
}
