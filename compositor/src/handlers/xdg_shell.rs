//! xdg-shell (toplevels and popups), xdg-decoration, xdg-activation, xdg-foreign and
//! xdg-toplevel-icon.

use smithay::desktop::{find_popup_root_surface, PopupKeyboardGrab, PopupKind, PopupPointerGrab, PopupUngrabStrategy};
use smithay::input::pointer::Focus;
use smithay::input::Seat;
use smithay::output::Output;
use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode as DecorationMode;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_surface;
use smithay::reexports::wayland_server::protocol::{wl_output::WlOutput, wl_seat::WlSeat, wl_surface::WlSurface};
use smithay::reexports::wayland_server::Resource;
use smithay::utils::Serial;
use smithay::wayland::shell::xdg::decoration::XdgDecorationHandler;
use smithay::wayland::shell::xdg::{PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState};
use smithay::wayland::xdg_activation::{
    XdgActivationHandler, XdgActivationState, XdgActivationToken, XdgActivationTokenData,
};
use smithay::wayland::xdg_foreign::{XdgForeignHandler, XdgForeignState};
use smithay::wayland::xdg_toplevel_icon::XdgToplevelIconHandler;
use smithay::{
    delegate_xdg_activation, delegate_xdg_decoration, delegate_xdg_foreign, delegate_xdg_shell,
    delegate_xdg_toplevel_icon,
};

use crate::config::DecorationMode as ConfigDecorations;
use crate::state::State;

impl XdgShellHandler for State {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.xdg_shell_state
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        // smithay 0.7 lets get_toplevel be called twice on one xdg_surface; two toplevels
        // for one wl_surface would confuse every lookup by surface. The xdg_surface itself
        // is out of reach, so the error names the new xdg_toplevel.
        if self.toplevel_index(surface.wl_surface()).is_some() {
            surface.xdg_toplevel().post_error(
                xdg_surface::Error::AlreadyConstructed as u32,
                "xdg_surface.get_toplevel: the xdg_surface already has an xdg_toplevel",
            );
            return;
        }
        State::new_toplevel(self, surface);
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        State::toplevel_destroyed(self, surface.wl_surface());
    }

    fn new_popup(&mut self, surface: PopupSurface, positioner: PositionerState) {
        surface.with_pending_state(|s| s.geometry = positioner.get_geometry());
        self.unconstrain_popup(&surface);
        if let Err(err) = self.popups.track_popup(PopupKind::Xdg(surface)) {
            tracing::warn!("popup without a live parent: {err}");
        }
    }

    fn popup_destroyed(&mut self, surface: PopupSurface) {
        if let Some(id) = self.window_id_for_surface(surface.wl_surface()) {
            self.popup_gone(id);
        }
    }

    fn reposition_request(&mut self, surface: PopupSurface, positioner: PositionerState, token: u32) {
        surface.with_pending_state(|s| {
            s.geometry = positioner.get_geometry();
            s.positioner = positioner;
        });
        self.unconstrain_popup(&surface);
        surface.send_repositioned(token);
    }

    fn grab(&mut self, surface: PopupSurface, seat: WlSeat, serial: Serial) {
        let Some(seat) = Seat::<State>::from_resource(&seat) else { return };
        let kind = PopupKind::Xdg(surface);
        let Ok(root) = find_popup_root_surface(&kind) else { return };
        let Ok(mut grab) = self.popups.grab_popup::<State>(root, kind, &seat, serial) else { return };
        if let Some(keyboard) = seat.get_keyboard() {
            if keyboard.is_grabbed()
                && !(keyboard.has_grab(serial) || keyboard.has_grab(grab.previous_serial().unwrap_or(serial)))
            {
                grab.ungrab(PopupUngrabStrategy::All);
                return;
            }
            keyboard.set_focus(self, grab.current_grab(), serial);
            keyboard.set_grab(self, PopupKeyboardGrab::new(&grab), serial);
        }
        if let Some(pointer) = seat.get_pointer() {
            if pointer.is_grabbed()
                && !(pointer.has_grab(serial)
                    || pointer.has_grab(grab.previous_serial().unwrap_or_else(|| grab.serial())))
            {
                grab.ungrab(PopupUngrabStrategy::All);
                return;
            }
            pointer.set_grab(self, PopupPointerGrab::new(&grab), serial, Focus::Keep);
        }
    }

    fn move_request(&mut self, surface: ToplevelSurface, seat: WlSeat, serial: Serial) {
        self.interactive_move_resize(surface.wl_surface(), &seat, serial, None);
    }

    fn resize_request(
        &mut self,
        surface: ToplevelSurface,
        seat: WlSeat,
        serial: Serial,
        edges: smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::ResizeEdge,
    ) {
        self.interactive_move_resize(surface.wl_surface(), &seat, serial, Some(edges));
    }

    fn maximize_request(&mut self, surface: ToplevelSurface) {
        if let Some(index) = self.toplevel_index(surface.wl_surface()) {
            self.set_toplevel_maximized(index, true);
        }
    }

    fn unmaximize_request(&mut self, surface: ToplevelSurface) {
        if let Some(index) = self.toplevel_index(surface.wl_surface()) {
            self.set_toplevel_maximized(index, false);
        }
    }

    fn fullscreen_request(&mut self, surface: ToplevelSurface, output: Option<WlOutput>) {
        let output = output.as_ref().and_then(Output::from_resource);
        if let Some(index) = self.toplevel_index(surface.wl_surface()) {
            self.set_toplevel_fullscreen(index, true, output.as_ref());
        }
    }

    fn unfullscreen_request(&mut self, surface: ToplevelSurface) {
        if let Some(index) = self.toplevel_index(surface.wl_surface()) {
            self.set_toplevel_fullscreen(index, false, None);
        }
    }

    fn minimize_request(&mut self, surface: ToplevelSurface) {
        if let Some(id) = self.window_id_for_surface(surface.wl_surface()) {
            self.set_minimized(id, true);
        }
    }

    fn title_changed(&mut self, surface: ToplevelSurface) {
        if let Some(id) = self.window_id_for_surface(surface.wl_surface()) {
            self.sync_window_info(id);
            // A title bar of wayrail's shows the new title.
            self.output_damaged = true;
        }
    }

    fn app_id_changed(&mut self, surface: ToplevelSurface) {
        self.title_changed(surface);
    }

    fn parent_changed(&mut self, surface: ToplevelSurface) {
        self.title_changed(surface);
    }
}

impl XdgDecorationHandler for State {
    fn new_decoration(&mut self, toplevel: ToplevelSurface) {
        let mode = match self.config.decorations {
            ConfigDecorations::ServerSide => DecorationMode::ServerSide,
            ConfigDecorations::ClientSide => DecorationMode::ClientSide,
        };
        toplevel.with_pending_state(|s| s.decoration_mode = Some(mode));
        if toplevel.is_initial_configure_sent() {
            toplevel.send_pending_configure();
        }
    }

    fn request_mode(&mut self, toplevel: ToplevelSurface, mode: DecorationMode) {
        // The app knows best whether it can draw its own frame; honour its wish.
        toplevel.with_pending_state(|s| s.decoration_mode = Some(mode));
        if toplevel.is_initial_configure_sent() {
            toplevel.send_pending_configure();
        }
    }

    fn unset_mode(&mut self, toplevel: ToplevelSurface) {
        self.new_decoration(toplevel);
    }
}

impl XdgActivationHandler for State {
    fn activation_state(&mut self) -> &mut XdgActivationState {
        &mut self.xdg_activation_state
    }

    fn request_activation(&mut self, token: XdgActivationToken, data: XdgActivationTokenData, surface: WlSurface) {
        // Tokens are only honoured fresh, so a stale token cannot steal focus later.
        if data.timestamp.elapsed().as_secs() < 10 {
            if let Some(id) = self.window_id_for_surface(&surface) {
                self.set_minimized(id, false);
                self.focus_window(Some(id));
            }
        }
        self.xdg_activation_state.remove_token(&token);
    }
}

impl XdgForeignHandler for State {
    fn xdg_foreign_state(&mut self) -> &mut XdgForeignState {
        &mut self.xdg_foreign_state
    }
}

impl XdgToplevelIconHandler for State {
    fn set_icon(
        &mut self,
        _toplevel: smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::XdgToplevel,
        wl_surface: WlSurface,
    ) {
        // The icon is current after the surface's next commit; backends pick it up after this dispatch.
        if let Some(id) = self.window_id_for_surface(&wl_surface) {
            self.icons_changed.insert(id);
        }
    }
}

delegate_xdg_shell!(State);
delegate_xdg_decoration!(State);
delegate_xdg_activation!(State);
delegate_xdg_foreign!(State);
delegate_xdg_toplevel_icon!(State);
