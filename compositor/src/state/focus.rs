//! Keyboard focus and stacking.

use smithay::desktop::find_popup_root_surface;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::SERIAL_COUNTER;

use super::{window_root, State};
use crate::window::WindowId;

impl State {
    /// Gives keyboard focus to a window (raising it) or to nothing.
    pub fn focus_window(&mut self, id: Option<WindowId>) {
        let serial = SERIAL_COUNTER.next_serial();
        let target = id.and_then(|id| self.toplevel_by_id(id)).map(|t| t.window.clone());
        if let Some(window) = &target {
            // Not `activate`: the space would flip the Activated states itself and the loop
            // below would see nothing changed and send no configure.
            self.space.raise_element(window, false);
        }
        // Every toplevel, not only those in the space: a minimized one must lose the state too.
        for w in self.toplevels.iter().map(|t| &t.window) {
            if let Some(x) = w.x11_surface() {
                if !x.is_override_redirect() && x.is_activated() != (target.as_ref() == Some(w)) {
                    let _ = x.set_activated(target.as_ref() == Some(w));
                }
            }
            if let Some(tl) = w.toplevel() {
                let active = target.as_ref() == Some(w);
                let changed = tl.with_pending_state(|s| {
                    let had = s.states.contains(xdg_toplevel::State::Activated);
                    if active {
                        s.states.set(xdg_toplevel::State::Activated)
                    } else {
                        s.states.unset(xdg_toplevel::State::Activated)
                    };
                    had != active
                });
                if changed && tl.is_initial_configure_sent() {
                    tl.send_pending_configure();
                }
            }
        }
        let surface = target.as_ref().and_then(window_root);
        if let Some(x) = target.as_ref().and_then(|w| w.x11_surface()).cloned() {
            // X11 focus: Xwayland routes the keys it gets to the X input focus.
            if let Some(xwm) = self.xwm.as_mut() {
                let _ = xwm.raise_window(&x);
            }
            let seat = self.seat.clone();
            smithay::input::keyboard::KeyboardTarget::<State>::enter(&x, &seat, self, Vec::new(), serial);
        }
        if let Some(keyboard) = self.seat.get_keyboard() {
            keyboard.set_focus(self, surface, serial);
        }
        self.update_stacking();
        self.output_damaged = true;
    }

    /// Recomputes the visible stacking (popups right above their parents) for the registry.
    pub fn update_stacking(&mut self) {
        let focus = self.seat.get_keyboard().and_then(|k| k.current_focus());
        self.update_stacking_with_focus(focus.as_ref());
    }

    /// As `update_stacking`, with the keyboard focus given (inside seat callbacks the keyboard
    /// is locked and cannot be asked).
    pub fn update_stacking_with_focus(&mut self, focus: Option<&WlSurface>) {
        let mut order = Vec::new();
        for w in self.space.elements() {
            let Some(root) = window_root(w) else { continue };
            let Some(id) = self.window_id_for_surface(&root) else { continue };
            order.push(id);
            let mut popups: Vec<WindowId> = self
                .popup_windows
                .iter()
                .filter(|(_, p)| find_popup_root_surface(&p.popup).ok().as_ref() == Some(&root))
                .map(|(id, _)| *id)
                .collect();
            popups.sort();
            order.extend(popups);
        }
        let active = focus.and_then(|s| self.window_id_for_any_surface(s));
        self.windows.set_stacking(order, active);
    }

    // ------------------------------------------------------------- window operations (backend API)
}
