//! The X11 window manager (smithay's `X11Wm`) and xwayland-shell: X11 windows become windows
//! of the window model (toplevel entries; override-redirect ones with kind popup).

use std::os::fd::OwnedFd;

use smithay::delegate_xwayland_shell;
use smithay::desktop::Window;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Rectangle};
use smithay::wayland::selection::data_device::request_data_device_client_selection;
use smithay::wayland::selection::primary_selection::request_primary_client_selection;
use smithay::wayland::selection::SelectionTarget;
use smithay::wayland::xwayland_shell::{XWaylandShellHandler, XWaylandShellState};
use smithay::xwayland::xwm::{Reorder, ResizeEdge, WmWindowProperty, XwmId};
use smithay::xwayland::{X11Surface, X11Wm, XwmHandler};

use crate::state::{clamp_size, State, ToplevelEntry};
use crate::window::ShowState;

impl XWaylandShellHandler for State {
    fn xwayland_shell_state(&mut self) -> &mut XWaylandShellState {
        &mut self.xwayland_shell_state
    }

    fn surface_associated(&mut self, _xwm: XwmId, surface: WlSurface, window: X11Surface) {
        crate::xwayland::attach_x11_icon(&window, &surface);
        if let Some(index) = self.x11_index(&window) {
            self.toplevel_committed(index);
        }
    }
}

delegate_xwayland_shell!(State);

/// Set once wayrail configured an X11 window (its geometry is then exact; see
/// `State::x11_geometry`).
struct GeometrySettled;

impl State {
    /// An X11 window's logical geometry. smithay 0.7 converts a new window's X geometry with the
    /// client scale cut to an integer (later conversions are exact): at fractional scales that is
    /// corrected here until wayrail has configured the window once.
    fn x11_geometry(&self, window: &X11Surface) -> Rectangle<i32, Logical> {
        let geo = window.geometry();
        let scale = self.x11_scale();
        if scale.fract() == 0.0 || window.user_data().get::<GeometrySettled>().is_some() {
            return geo;
        }
        let f = scale.floor().max(1.0) / scale;
        let m = |v: i32| (f64::from(v) * f).round() as i32;
        Rectangle::new((m(geo.loc.x), m(geo.loc.y)).into(), (m(geo.size.w), m(geo.size.h)).into())
    }

    /// Configures a managed X11 window (position and size in logical space).
    fn configure_x11(&self, window: &X11Surface, rect: Rectangle<i32, Logical>) {
        if let Err(err) = window.configure(rect) {
            tracing::debug!(window = window.window_id(), "configuring an X11 window: {err}");
        }
        window.user_data().insert_if_missing_threadsafe(|| GeometrySettled);
    }

    fn x11_index(&self, window: &X11Surface) -> Option<usize> {
        self.toplevels.iter().position(|t| t.window.x11_surface() == Some(window))
    }

    /// A mapped X11 window joins the model; it shows once its surface has content.
    fn add_x11_window(&mut self, window: X11Surface) {
        if self.x11_index(&window).is_some() {
            return;
        }
        let location = Some(window.geometry().loc);
        if !window.is_override_redirect() {
            self.request_x11_icons(&window);
        }
        self.toplevels.push(ToplevelEntry {
            window: Window::new_x11_window(window),
            id: None,
            show: ShowState::Normal,
            restore: None,
            location,
            preferred_output: None,
            restore_show: None,
            last_title_press: None,
            bar_revealed: false,
        });
        self.associate_x11_surfaces();
        let index = self.toplevels.len() - 1;
        if crate::state::window_root(&self.toplevels[index].window).is_some() {
            self.toplevel_committed(index);
        }
    }

    /// _NET_WM_MOVERESIZE: the host drags the window (RemoteApp), else a compositor grab while
    /// a button is held.
    fn x11_move_resize(
        &mut self,
        window: &X11Surface,
        edges: Option<smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::ResizeEdge>,
    ) {
        let Some(id) = self.x11_index(window).and_then(|i| self.toplevels[i].id) else { return };
        let Some(pointer) = self.seat.get_pointer() else { return };
        // X11 has no serial of the button press: a fresh one starts the grab.
        let serial = smithay::utils::SERIAL_COUNTER.next_serial();
        self.start_move_resize(id, &pointer, serial, edges);
    }

    /// An X11 window unmapped or was destroyed.
    pub fn remove_x11_window(&mut self, window: &X11Surface) {
        if let Some(index) = self.x11_index(window) {
            self.unmap_toplevel(index);
            self.toplevels.remove(index);
        }
    }
}

impl XwmHandler for State {
    fn xwm_state(&mut self, _xwm: XwmId) -> &mut X11Wm {
        self.xwm.as_mut().expect("X11 events without a window manager")
    }

    fn new_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    fn new_override_redirect_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    fn map_window_request(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Err(err) = window.set_mapped(true) {
            tracing::warn!("mapping an X11 window: {err}");
            return;
        }
        self.check_x11_client_frame(&window);
        // Placed as Wayland windows are: on its transient parent, else cascaded.
        let geo = self.x11_geometry(&window);
        let parent = window.is_transient_for().and_then(|w| self.x11_window_id(w));
        let loc = self.initial_location(geo.size, parent);
        let loc = if self.x11_wants_frame(&window) { self.leave_room_for_bar(loc) } else { loc };
        self.configure_x11(&window, Rectangle::new(loc, geo.size));
        tracing::debug!(window = window.window_id(), title = %window.title(), "X11 window mapped");
        self.add_x11_window(window);
    }

    fn mapped_override_redirect_window(&mut self, _xwm: XwmId, window: X11Surface) {
        self.add_x11_window(window);
    }

    fn unmapped_window(&mut self, _xwm: XwmId, window: X11Surface) {
        self.remove_x11_window(&window);
        if !window.is_override_redirect() {
            let _ = window.set_mapped(false);
        }
    }

    fn destroyed_window(&mut self, _xwm: XwmId, window: X11Surface) {
        self.remove_x11_window(&window);
    }

    fn configure_request(
        &mut self,
        _xwm: XwmId,
        window: X11Surface,
        x: Option<i32>,
        y: Option<i32>,
        w: Option<u32>,
        h: Option<u32>,
        _reorder: Option<Reorder>,
    ) {
        let entry = self.x11_index(&window).map(|i| (self.toplevels[i].id, self.toplevels[i].show));
        let mut geo = self.x11_geometry(&window);
        // Maximized and fullscreen windows keep the size we gave them.
        if matches!(entry, Some((_, ShowState::Maximized | ShowState::Fullscreen))) {
            self.configure_x11(&window, geo);
            return;
        }
        if let Some(w) = w {
            geo.size.w = w as i32;
        }
        if let Some(h) = h {
            geo.size.h = h as i32;
        }
        geo.size = clamp_size(geo.size, window.min_size().unwrap_or_default(), window.max_size().unwrap_or_default());
        // Where a window is shown is ours to decide once it is shown.
        if !matches!(entry, Some((Some(_), _))) {
            if let Some(x) = x {
                geo.loc.x = x;
            }
            if let Some(y) = y {
                geo.loc.y = y;
            }
        }
        self.configure_x11(&window, geo);
        if let Some((Some(id), _)) = entry {
            self.sync_window_info(id);
        }
    }

    fn configure_notify(
        &mut self,
        _xwm: XwmId,
        window: X11Surface,
        geometry: Rectangle<i32, Logical>,
        _above: Option<u32>,
    ) {
        // smithay converted this geometry exactly.
        window.user_data().insert_if_missing_threadsafe(|| GeometrySettled);
        let Some(index) = self.x11_index(&window) else { return };
        if window.is_override_redirect() {
            // Menus and tooltips place themselves.
            self.toplevels[index].location = Some(geometry.loc);
            if let Some(id) = self.toplevels[index].id {
                let w = self.toplevels[index].window.clone();
                self.space.map_element(w, geometry.loc, false);
                self.sync_window_info(id);
                self.output_damaged = true;
            }
        } else if let Some(id) = self.toplevels[index].id {
            self.sync_window_info(id);
        }
    }

    fn property_notify(&mut self, _xwm: XwmId, window: X11Surface, _property: WmWindowProperty) {
        if let Some(id) = self.x11_index(&window).and_then(|i| self.toplevels[i].id) {
            self.sync_window_info(id);
            // The title (or the Motif hints saying whether it has a frame) may have changed.
            self.output_damaged = true;
        }
    }

    fn maximize_request(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Some(index) = self.x11_index(&window) {
            self.set_toplevel_maximized(index, true);
        }
    }

    fn unmaximize_request(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Some(index) = self.x11_index(&window) {
            self.set_toplevel_maximized(index, false);
        }
    }

    fn fullscreen_request(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Some(index) = self.x11_index(&window) {
            self.set_toplevel_fullscreen(index, true, None);
        }
    }

    fn unfullscreen_request(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Some(index) = self.x11_index(&window) {
            self.set_toplevel_fullscreen(index, false, None);
        }
    }

    fn minimize_request(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Some(id) = self.x11_index(&window).and_then(|i| self.toplevels[i].id) {
            self.set_minimized(id, true);
        }
    }

    fn unminimize_request(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Some(id) = self.x11_index(&window).and_then(|i| self.toplevels[i].id) {
            self.set_minimized(id, false);
        }
    }

    fn resize_request(&mut self, _xwm: XwmId, window: X11Surface, _button: u32, edges: ResizeEdge) {
        use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::ResizeEdge as Edge;
        let edge = match edges {
            ResizeEdge::Top => Edge::Top,
            ResizeEdge::Bottom => Edge::Bottom,
            ResizeEdge::Left => Edge::Left,
            ResizeEdge::TopLeft => Edge::TopLeft,
            ResizeEdge::BottomLeft => Edge::BottomLeft,
            ResizeEdge::Right => Edge::Right,
            ResizeEdge::TopRight => Edge::TopRight,
            ResizeEdge::BottomRight => Edge::BottomRight,
        };
        self.x11_move_resize(&window, Some(edge));
    }

    fn move_request(&mut self, _xwm: XwmId, window: X11Surface, _button: u32) {
        self.x11_move_resize(&window, None);
    }

    fn allow_selection_access(&mut self, _xwm: XwmId, _selection: SelectionTarget) -> bool {
        // As for Wayland clients: only while an X11 window has the keyboard focus.
        let focus = self.seat.get_keyboard().and_then(|k| k.current_focus());
        focus.and_then(|s| self.window_id_for_any_surface(&s)).is_some_and(|id| {
            let mut id = id;
            while let Some(parent) = self.popup_windows.get(&id).and_then(|p| p.parent) {
                id = parent;
            }
            self.toplevel_by_id(id).is_some_and(|t| t.window.is_x11())
        })
    }

    fn send_selection(&mut self, _xwm: XwmId, selection: SelectionTarget, mime_type: String, fd: OwnedFd) {
        if self.clipboard.host_owns(selection) {
            crate::clipboard::paste_from_host(self, mime_type, fd);
            return;
        }
        // An X11 client reads what a Wayland client offers.
        let seat = self.seat.clone();
        let result = match selection {
            SelectionTarget::Clipboard => {
                request_data_device_client_selection(&seat, mime_type, fd).map_err(|e| e.to_string())
            }
            SelectionTarget::Primary => {
                request_primary_client_selection(&seat, mime_type, fd).map_err(|e| e.to_string())
            }
        };
        if let Err(err) = result {
            tracing::debug!(?selection, "an X11 client could not read the selection: {err}");
        }
    }

    fn new_selection(&mut self, _xwm: XwmId, selection: SelectionTarget, mime_types: Vec<String>) {
        // An X11 client took the selection: Wayland clients see it too.
        tracing::debug!(?selection, ?mime_types, "X11 selection");
        self.x11_selection_owned(selection, true);
        crate::clipboard::linux_selection(self, selection, Some(mime_types.clone()));
        crate::xwayland::set_selection(self, selection, mime_types);
    }

    fn cleared_selection(&mut self, _xwm: XwmId, selection: SelectionTarget) {
        if self.x11_selection_owns(selection) {
            self.x11_selection_owned(selection, false);
            crate::clipboard::linux_selection(self, selection, None);
            crate::xwayland::clear_selection(self, selection);
        }
    }

    fn disconnected(&mut self, _xwm: XwmId) {
        tracing::warn!("the X11 connection to Xwayland closed (Xwayland died?); the compositor carries on");
        self.loop_handle.insert_idle(|state| state.xwayland_gone());
    }
}
