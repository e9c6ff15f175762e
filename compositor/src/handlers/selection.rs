//! Clipboard and primary selection: wl_data_device, primary selection and the two
//! data-control protocols clipboard managers use; drag and drop between Wayland apps.
//!
//! A drag is smithay's: the grab follows the pointer in the global space and offers the data
//! to whatever surface is under it, whichever host window (RemoteApp) that surface is shown
//! in, since every host sends the pointer in desktop coordinates even while its first window
//! holds the pointer. What wayrail adds is the icon: it becomes part of the cursor image the
//! host draws (see [`crate::cursor`]).

use std::os::fd::OwnedFd;

use smithay::input::Seat;
use smithay::reexports::wayland_server::protocol::wl_data_source::WlDataSource;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::selection::data_device::{
    ClientDndGrabHandler, DataDeviceHandler, DataDeviceState, ServerDndGrabHandler,
};
use smithay::wayland::selection::ext_data_control::{
    DataControlHandler as ExtDataControlHandler, DataControlState as ExtDataControlState,
};
use smithay::wayland::selection::primary_selection::{PrimarySelectionHandler, PrimarySelectionState};
use smithay::wayland::selection::wlr_data_control::{
    DataControlHandler as WlrDataControlHandler, DataControlState as WlrDataControlState,
};
use smithay::wayland::selection::{SelectionHandler, SelectionSource, SelectionTarget};
use smithay::{delegate_data_control, delegate_data_device, delegate_ext_data_control, delegate_primary_selection};

use crate::state::State;

impl SelectionHandler for State {
    type SelectionUserData = ();

    fn new_selection(&mut self, ty: SelectionTarget, source: Option<SelectionSource>, _seat: Seat<State>) {
        // A Wayland client took the selection: X11 clients see it too.
        self.x11_selection_owned(ty, false);
        let mimes = source.map(|s| s.mime_types());
        crate::clipboard::linux_selection(self, ty, mimes.clone());
        match ty {
            SelectionTarget::Clipboard => self.xwl.wayland_clipboard = mimes.clone(),
            SelectionTarget::Primary => self.xwl.wayland_primary = mimes.clone(),
        }
        if let Some(xwm) = self.xwm.as_mut() {
            if let Err(err) = crate::xwayland::offer_selection_to_x11(xwm, ty, mimes) {
                tracing::warn!(?ty, "offering a selection to X11: {err}");
            }
        }
    }

    fn send_selection(&mut self, ty: SelectionTarget, mime_type: String, fd: OwnedFd, _seat: Seat<State>, _: &()) {
        if self.clipboard.host_owns(ty) {
            crate::clipboard::paste_from_host(self, mime_type, fd);
            return;
        }
        // A Wayland client reads a selection an X11 client owns.
        if !self.x11_selection_owns(ty) {
            return;
        }
        crate::xwayland::read_x11_selection(self, ty, mime_type, fd);
    }
}

impl State {
    /// Whether an X11 client owns a selection (wayrail offers it to Wayland clients).
    pub fn x11_selection_owns(&self, ty: SelectionTarget) -> bool {
        match ty {
            SelectionTarget::Clipboard => self.xwl.owns_clipboard,
            SelectionTarget::Primary => self.xwl.owns_primary,
        }
    }

    pub fn x11_selection_owned(&mut self, ty: SelectionTarget, owned: bool) {
        match ty {
            SelectionTarget::Clipboard => self.xwl.owns_clipboard = owned,
            SelectionTarget::Primary => self.xwl.owns_primary = owned,
        }
    }
}

impl DataDeviceHandler for State {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.data_device_state
    }
}

impl ClientDndGrabHandler for State {
    fn started(&mut self, source: Option<WlDataSource>, icon: Option<WlSurface>, _seat: Seat<State>) {
        tracing::debug!(with_data = source.is_some(), with_icon = icon.is_some(), "drag started");
        // One hook per surface, however many drags it serves; it acts while it is the icon.
        let first_drag = icon.as_ref().map(crate::cursor::drag_icon_started);
        if let (Some(icon), Some(true)) = (&icon, first_drag) {
            smithay::wayland::compositor::add_post_commit_hook::<State, _>(icon, |state, _, surface| {
                if state.composer.drag_icon() == Some(surface) {
                    crate::cursor::drag_icon_committed(surface);
                    state.cursor_dirty = true;
                }
            });
        }
        self.composer.set_drag_icon(icon);
        self.cursor_dirty = true;
    }

    fn dropped(&mut self, target: Option<WlSurface>, validated: bool, _seat: Seat<State>) {
        tracing::debug!(validated, on_a_surface = target.is_some(), "drag ended");
        self.composer.set_drag_icon(None);
        self.cursor_dirty = true;
    }
}
impl ServerDndGrabHandler for State {}

impl PrimarySelectionHandler for State {
    fn primary_selection_state(&self) -> &PrimarySelectionState {
        &self.primary_selection_state
    }
}

impl WlrDataControlHandler for State {
    fn data_control_state(&self) -> &WlrDataControlState {
        &self.wlr_data_control_state
    }
}

impl ExtDataControlHandler for State {
    fn data_control_state(&self) -> &ExtDataControlState {
        &self.ext_data_control_state
    }
}

delegate_data_device!(State);
delegate_primary_selection!(State);
delegate_data_control!(State);
delegate_ext_data_control!(State);
