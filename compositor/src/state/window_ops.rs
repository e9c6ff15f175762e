//! What can be done to a window: move, resize, maximize, fullscreen, minimize, close.

use smithay::desktop::PopupKind;
use smithay::output::Output;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel;
use smithay::utils::Rectangle;

use super::{clamp_size, clamp_to_size_hints, State};
use crate::window::{Rect, ShowState, WindowId};

impl State {
    /// Asks a toplevel to take a size (a configure); the client's min/max size is respected.
    pub fn request_size(&mut self, id: WindowId, width: i32, height: i32) -> bool {
        let Some(t) = self.toplevel_by_id(id) else { return false };
        if let Some(x) = t.window.x11_surface() {
            let size =
                clamp_size((width, height).into(), x.min_size().unwrap_or_default(), x.max_size().unwrap_or_default());
            let loc = t.location.unwrap_or_else(|| x.geometry().loc);
            return x.configure(Rectangle::new(loc, size)).is_ok();
        }
        let Some(toplevel) = t.window.toplevel().cloned() else { return false };
        let size = clamp_to_size_hints(&toplevel, (width, height).into());
        toplevel.with_pending_state(|s| s.size = Some(size));
        toplevel.send_pending_configure();
        true
    }

    /// Moves a window (its geometry's top-left) in global logical coordinates.
    pub fn move_window(&mut self, id: WindowId, x: i32, y: i32) -> bool {
        let Some(index) = self.toplevel_index_by_id(id) else { return false };
        let window = self.toplevels[index].window.clone();
        self.toplevels[index].location = Some((x, y).into());
        let activate = self.windows.active() == Some(id);
        if let Some(xs) = window.x11_surface() {
            let _ = xs.configure(Rectangle::new((x, y).into(), xs.geometry().size));
        }
        self.space.map_element(window, (x, y), activate);
        self.sync_window_info(id);
        self.refresh_popup_rects(id);
        self.output_damaged = true;
        true
    }

    pub fn set_maximized(&mut self, id: WindowId, maximized: bool) -> bool {
        let Some(index) = self.toplevel_index_by_id(id) else { return false };
        self.set_toplevel_maximized(index, maximized);
        true
    }

    pub fn set_toplevel_maximized(&mut self, index: usize, maximized: bool) {
        self.set_toplevel_filling(index, ShowState::Maximized, maximized, None);
    }

    pub fn set_toplevel_fullscreen(&mut self, index: usize, fullscreen: bool, output: Option<&Output>) {
        self.set_toplevel_filling(index, ShowState::Fullscreen, fullscreen, output);
    }

    /// Maximizes (`show` Maximized: the output's maximize area) or fullscreens (the whole
    /// output, `output` or the one it is mostly on) a toplevel, or (`on` false) brings it back
    /// to where it was before.
    fn set_toplevel_filling(&mut self, index: usize, show: ShowState, on: bool, output: Option<&Output>) {
        if self.toplevels[index].window.is_x11() {
            return self.set_x11_show(index, if on { show } else { ShowState::Normal }, output);
        }
        let entry = &self.toplevels[index];
        let Some(toplevel) = entry.window.toplevel().cloned() else { return };
        if on {
            let loc = entry.location.unwrap_or_default();
            let geo = entry.window.geometry();
            let rect = Rect::new(loc.x, loc.y, geo.size.w.max(1), geo.size.h.max(1));
            let area = match show {
                ShowState::Fullscreen => output
                    .and_then(|o| self.outputs.iter().find(|e| &e.output == o))
                    .or_else(|| self.output_for_rect(rect))
                    .map(|o| o.logical_rect()),
                _ => self.output_for_rect(rect).map(|o| self.maximize_area(o)),
            };
            self.fill_area(index, &toplevel, show, area);
        } else {
            let entry = &mut self.toplevels[index];
            let restore = entry.restore.take();
            entry.show = ShowState::Normal;
            toplevel.with_pending_state(|s| {
                s.states.unset(xdg_toplevel::State::Maximized);
                s.states.unset(xdg_toplevel::State::Fullscreen);
                s.size = restore.map(|r| r.size);
            });
            if let Some(r) = restore {
                entry.location = Some(r.loc);
                if let Some(id) = entry.id {
                    let window = entry.window.clone();
                    self.space.map_element(window, r.loc, false);
                    self.windows.update(id, |w| w.state = ShowState::Normal);
                }
            }
        }
        if toplevel.is_initial_configure_sent() {
            toplevel.send_pending_configure();
        }
        self.output_damaged = true;
    }

    /// Makes an xdg toplevel fill `area` as maximized or fullscreen (`show`), keeping where a
    /// normal window was to restore it there; the configure is the caller's to send.
    fn fill_area(
        &mut self,
        index: usize,
        toplevel: &smithay::wayland::shell::xdg::ToplevelSurface,
        show: ShowState,
        area: Option<Rect>,
    ) {
        let entry = &mut self.toplevels[index];
        if entry.show == ShowState::Normal {
            entry.restore = Some(Rectangle::new(entry.location.unwrap_or_default(), entry.window.geometry().size));
        }
        entry.show = show;
        let Some(area) = area else { return };
        entry.location = Some((area.x, area.y).into());
        toplevel.with_pending_state(|s| {
            s.states.set(match show {
                ShowState::Fullscreen => xdg_toplevel::State::Fullscreen,
                _ => xdg_toplevel::State::Maximized,
            });
            if show == ShowState::Maximized {
                s.states.unset(xdg_toplevel::State::Fullscreen);
            }
            s.size = Some((area.width, area.height).into());
        });
        if let Some(id) = entry.id {
            let window = entry.window.clone();
            self.space.map_element(window, (area.x, area.y), false);
            self.windows.update(id, |w| w.state = show);
        }
    }

    /// Minimize hides the window from view; the app keeps running. Restore brings it back.
    pub fn set_minimized(&mut self, id: WindowId, minimized: bool) -> bool {
        let Some(index) = self.toplevel_index_by_id(id) else { return false };
        let entry = &mut self.toplevels[index];
        let window = entry.window.clone();
        if minimized {
            if entry.show == ShowState::Minimized {
                return true;
            }
            entry.restore_show = Some(entry.show);
            entry.show = ShowState::Minimized;
            if let Some(x) = window.x11_surface() {
                // _NET_WM_STATE_HIDDEN: X11 apps learn they are minimized.
                let _ = x.set_suspended(true);
            }
            self.space.unmap_elem(&window);
            self.windows.update(id, |w| w.state = ShowState::Minimized);
            self.after_window_removed();
        } else {
            if entry.show != ShowState::Minimized {
                return true;
            }
            entry.show = entry.restore_show.take().unwrap_or(ShowState::Normal);
            if let Some(x) = window.x11_surface() {
                let _ = x.set_suspended(false);
            }
            let loc = entry.location.unwrap_or_default();
            let show = entry.show;
            self.space.map_element(window, loc, false);
            self.windows.update(id, |w| w.state = show);
            // Outputs, scales or work areas may have changed while it was minimized.
            match show {
                ShowState::Maximized => self.set_toplevel_maximized(index, true),
                ShowState::Fullscreen => self.set_toplevel_fullscreen(index, true, None),
                _ => {}
            }
            self.focus_window(Some(id));
        }
        self.output_damaged = true;
        true
    }

    /// Asks a window to close (xdg_toplevel.close / xdg_popup.popup_done).
    pub fn close_window(&mut self, id: WindowId) -> bool {
        if let Some(t) = self.toplevel_by_id(id) {
            if let Some(tl) = t.window.toplevel() {
                tl.send_close();
            } else if let Some(x) = t.window.x11_surface().cloned() {
                self.close_x11_window(&x);
            }
            return true;
        }
        if let Some(p) = self.popup_windows.get(&id) {
            if let PopupKind::Xdg(xdg) = &p.popup {
                xdg.send_popup_done();
            }
            return true;
        }
        false
    }
}
