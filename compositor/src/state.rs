//! The compositor state: every protocol's smithay state, the window model and the outputs.
//! Protocol handlers live in `handlers/`; this file holds the window management they share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smithay::desktop::utils::under_from_surface_tree;
use smithay::desktop::{
    find_popup_root_surface, get_popup_toplevel_coords, PopupKind, PopupManager, Space, Window, WindowSurfaceType,
};
use smithay::input::keyboard::XkbConfig;
use smithay::input::pointer::CursorImageStatus;
use smithay::input::{Seat, SeatState};
use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::calloop::LoopHandle;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel;
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, DisplayHandle, Resource};
use smithay::utils::{Logical, Point, Rectangle, Size, Transform, SERIAL_COUNTER};
use smithay::wayland::compositor::{
    send_surface_state, with_states, with_surface_tree_downward, CompositorClientState, CompositorState,
    TraversalAction,
};
use smithay::wayland::cursor_shape::CursorShapeManagerState;
use smithay::wayland::fractional_scale::{with_fractional_scale, FractionalScaleManagerState};
use smithay::wayland::idle_inhibit::IdleInhibitManagerState;
use smithay::wayland::output::OutputManagerState;
use smithay::wayland::pointer_constraints::PointerConstraintsState;
use smithay::wayland::presentation::PresentationState;
use smithay::wayland::relative_pointer::RelativePointerManagerState;
use smithay::wayland::security_context::{SecurityContext, SecurityContextState};
use smithay::wayland::selection::data_device::DataDeviceState;
use smithay::wayland::selection::ext_data_control::DataControlState as ExtDataControlState;
use smithay::wayland::selection::primary_selection::PrimarySelectionState;
use smithay::wayland::selection::wlr_data_control::DataControlState as WlrDataControlState;
use smithay::wayland::shell::xdg::decoration::XdgDecorationState;
use smithay::wayland::shell::xdg::{
    SurfaceCachedState, ToplevelSurface, XdgPopupSurfaceData, XdgShellState, XdgToplevelSurfaceData,
};
use smithay::wayland::shm::ShmState;
use smithay::wayland::single_pixel_buffer::SinglePixelBufferState;
use smithay::wayland::text_input::TextInputManagerState;
use smithay::wayland::viewporter::ViewporterState;
use smithay::wayland::virtual_keyboard::VirtualKeyboardManagerState;
use smithay::wayland::xdg_activation::XdgActivationState;
use smithay::wayland::xdg_foreign::XdgForeignState;
use smithay::wayland::xdg_toplevel_icon::XdgToplevelIconManager;
use smithay::wayland::xwayland_shell::XWaylandShellState;
use smithay::xwayland::{X11Surface, X11Wm};

use crate::config::{Config, OutputSpec};
use crate::window::{Rect, ShowState, WindowId, WindowInfo, WindowKind, WindowRegistry};

/// Per-client data. Clients that came in through a security context carry it and see no
/// privileged globals.
#[derive(Default)]
pub struct ClientState {
    pub compositor_state: CompositorClientState,
    pub security_context: Option<SecurityContext>,
    pub disconnected: AtomicBool,
}

impl ClientData for ClientState {
    fn initialized(&self, _client_id: ClientId) {}
    fn disconnected(&self, client_id: ClientId, reason: DisconnectReason) {
        self.disconnected.store(true, Ordering::Relaxed);
        match reason {
            DisconnectReason::ConnectionClosed => tracing::debug!(?client_id, "client disconnected"),
            DisconnectReason::ProtocolError(err) => {
                tracing::warn!(?client_id, "client killed for a protocol error: {err}")
            }
        }
    }
}

/// Whether a client may see privileged globals (data-control, virtual keyboard, ...).
pub fn client_is_privileged(client: &Client) -> bool {
    client.get_data::<ClientState>().is_none_or(|data| data.security_context.is_none())
}

/// A client we accepted, for `wayrail msg clients`.
pub struct ClientRecord {
    pub client: Client,
    pub data: Arc<ClientState>,
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    pub connected_at: Instant,
}

/// A virtual monitor.
#[derive(Debug, Clone)]
pub struct OutputEntry {
    pub output: Output,
    pub name: String,
    /// Physical size in pixels.
    pub physical_size: (i32, i32),
    pub refresh_mhz: i32,
    pub scale: f64,
    /// Top-left in global logical coordinates.
    pub position: (i32, i32),
    /// Where it is on the host, in physical pixels of the host's virtual desktop (the
    /// primary monitor's top-left is 0,0). Without a host's monitor layout: the logical
    /// position and the physical size.
    pub host_rect: Rect,
    pub primary: bool,
}

impl OutputEntry {
    pub fn logical_rect(&self) -> Rect {
        let size = logical_size(self.physical_size, self.scale);
        Rect::new(self.position.0, self.position.1, size.0, size.1)
    }

    /// A host point on this output to the global logical space.
    pub fn host_to_logical(&self, x: f64, y: f64) -> (f64, f64) {
        crate::layout::to_logical(self.host_rect, self.position, self.scale, x, y)
    }

    /// A logical rectangle (on this output, or reaching past it) in host pixels.
    pub fn logical_to_host(&self, rect: Rect) -> Rect {
        crate::layout::to_physical(self.host_rect, self.position, self.scale, rect)
    }

    /// A host rectangle on this output in logical coordinates.
    pub fn host_to_logical_rect(&self, rect: Rect) -> Rect {
        crate::layout::rect_to_logical(self.host_rect, self.position, self.scale, rect)
    }

    pub fn frame_interval(&self) -> Duration {
        Duration::from_micros(1_000_000_000 / self.refresh_mhz.max(1000) as u64)
    }
}

/// The logical size of a physical size at a scale, as smithay computes it for outputs.
pub fn logical_size(physical: (i32, i32), scale: f64) -> (i32, i32) {
    ((physical.0 as f64 / scale).round() as i32, (physical.1 as f64 / scale).round() as i32)
}

/// A toplevel we manage, mapped or not.
pub struct ToplevelEntry {
    pub window: Window,
    /// Assigned when the toplevel first maps; None while it has no content.
    pub id: Option<WindowId>,
    pub show: ShowState,
    /// Where it was before maximize/fullscreen, to restore to.
    pub restore: Option<Rectangle<i32, Logical>>,
    /// Its last position while mapped, kept across minimize.
    pub location: Option<Point<i32, Logical>>,
    /// The output whose scale its surfaces were last told to prefer.
    pub preferred_output: Option<String>,
    /// The state to return to when un-minimized.
    pub restore_show: Option<ShowState>,
}

/// A popup that has content and so has a window id.
pub struct PopupEntry {
    pub popup: PopupKind,
    pub parent: Option<WindowId>,
}

pub struct State {
    pub display_handle: DisplayHandle,
    pub loop_handle: LoopHandle<'static, State>,
    pub config: Config,
    pub started: Instant,
    pub socket_name: String,

    pub compositor_state: CompositorState,
    pub xdg_shell_state: XdgShellState,
    pub xdg_decoration_state: XdgDecorationState,
    pub shm_state: ShmState,
    pub output_manager_state: OutputManagerState,
    pub seat_state: SeatState<State>,
    pub data_device_state: DataDeviceState,
    pub primary_selection_state: PrimarySelectionState,
    pub wlr_data_control_state: WlrDataControlState,
    pub ext_data_control_state: ExtDataControlState,
    pub viewporter_state: ViewporterState,
    pub fractional_scale_state: FractionalScaleManagerState,
    pub presentation_state: PresentationState,
    pub xdg_activation_state: XdgActivationState,
    pub xdg_foreign_state: XdgForeignState,
    pub xdg_toplevel_icon: XdgToplevelIconManager,
    pub cursor_shape_state: CursorShapeManagerState,
    pub text_input_state: TextInputManagerState,
    pub pointer_constraints_state: PointerConstraintsState,
    pub relative_pointer_state: RelativePointerManagerState,
    pub idle_inhibit_state: IdleInhibitManagerState,
    pub single_pixel_buffer_state: SinglePixelBufferState,
    pub virtual_keyboard_state: VirtualKeyboardManagerState,
    pub security_context_state: SecurityContextState,
    pub xwayland_shell_state: XWaylandShellState,
    /// The X11 window manager while Xwayland runs.
    pub xwm: Option<X11Wm>,
    /// Xwayland's life: the display held, the server starting or running.
    pub xwl: crate::xwayland::Xwl,
    /// The host's clipboard and what the host reads of Linux's (see `clipboard`).
    pub clipboard: crate::clipboard::HostClipboard,

    pub seat: Seat<State>,
    pub popups: PopupManager,
    pub space: Space<Window>,
    pub outputs: Vec<OutputEntry>,

    pub toplevels: Vec<ToplevelEntry>,
    pub popup_windows: HashMap<WindowId, PopupEntry>,
    pub windows: WindowRegistry,
    pub clients: Vec<ClientRecord>,
    pub idle_inhibitors: Vec<WlSurface>,

    pub pointer_location: Point<f64, Logical>,
    pub cursor_status: CursorImageStatus,
    /// Set when a client committed with frame callbacks or new content: the backend's frame
    /// clock should run. Nothing sets it while every client is idle.
    pub frame_requested: bool,
    /// Set when output content changed (for backends that compose outputs).
    pub output_damaged: bool,
    pub frame_clock: crate::server::FrameClock,
    /// Set when the cursor image may have changed (new status, or its surface committed).
    pub cursor_dirty: bool,
    pub cursor_loader: crate::cursor::CursorLoader,
    /// Set while the backend waits for the host to show a frame; no new frame until then.
    pub frame_blocked: bool,
    /// A remote host moves and resizes windows itself (RemoteApp with local move/size):
    /// interactive move/resize requests go to it instead of a compositor grab.
    pub host_move_resize: bool,
    /// Where maximized windows go, when a host says: its work areas (monitors without their
    /// taskbars), in host pixels.
    pub work_areas: Vec<Rect>,
    /// Toplevels that set a new xdg-toplevel-icon.
    pub icons_changed: std::collections::HashSet<WindowId>,
    /// Taken out while in use, so rendering can borrow the rest of the state.
    pub composer: Option<crate::render::Composer>,
    pub backend: Option<crate::backend::Backend>,
}

impl State {
    pub fn new(
        display_handle: DisplayHandle,
        loop_handle: LoopHandle<'static, State>,
        config: Config,
    ) -> anyhow::Result<Self> {
        let dh = &display_handle;
        let mut seat_state = SeatState::new();
        let mut seat = seat_state.new_wl_seat(dh, "seat0");
        let kb = &config.keyboard;
        let xkb = XkbConfig {
            rules: &kb.rules,
            model: &kb.model,
            layout: &kb.layout,
            variant: &kb.variant,
            options: kb.options.clone(),
        };
        seat.add_keyboard(xkb, kb.repeat_delay, kb.repeat_rate)
            .map_err(|e| anyhow::anyhow!("keyboard layout {:?}: {e}", kb.layout))?;
        seat.add_pointer();

        let primary_selection_state = PrimarySelectionState::new::<State>(dh);
        let wlr_data_control_state =
            WlrDataControlState::new::<State, _>(dh, Some(&primary_selection_state), client_is_privileged);
        let ext_data_control_state =
            ExtDataControlState::new::<State, _>(dh, Some(&primary_selection_state), client_is_privileged);
        let shm_formats = vec![];
        let mut xdg_toplevel_icon = XdgToplevelIconManager::new::<State>(dh);
        xdg_toplevel_icon.add_icon_size(32);
        xdg_toplevel_icon.add_icon_size(96);

        let mut state = State {
            display_handle: display_handle.clone(),
            loop_handle,
            started: Instant::now(),
            socket_name: String::new(),
            compositor_state: CompositorState::new_v6::<State>(dh),
            xdg_shell_state: XdgShellState::new::<State>(dh),
            xdg_decoration_state: XdgDecorationState::new::<State>(dh),
            shm_state: ShmState::new::<State>(dh, shm_formats),
            output_manager_state: OutputManagerState::new_with_xdg_output::<State>(dh),
            seat_state,
            data_device_state: DataDeviceState::new::<State>(dh),
            primary_selection_state,
            wlr_data_control_state,
            ext_data_control_state,
            viewporter_state: ViewporterState::new::<State>(dh),
            fractional_scale_state: FractionalScaleManagerState::new::<State>(dh),
            presentation_state: PresentationState::new::<State>(dh, libc::CLOCK_MONOTONIC as u32),
            xdg_activation_state: XdgActivationState::new::<State>(dh),
            xdg_foreign_state: XdgForeignState::new::<State>(dh),
            xdg_toplevel_icon,
            cursor_shape_state: CursorShapeManagerState::new::<State>(dh),
            text_input_state: TextInputManagerState::new::<State>(dh),
            pointer_constraints_state: PointerConstraintsState::new::<State>(dh),
            relative_pointer_state: RelativePointerManagerState::new::<State>(dh),
            idle_inhibit_state: IdleInhibitManagerState::new::<State>(dh),
            single_pixel_buffer_state: SinglePixelBufferState::new::<State>(dh),
            virtual_keyboard_state: VirtualKeyboardManagerState::new::<State, _>(dh, client_is_privileged),
            security_context_state: SecurityContextState::new::<State, _>(dh, client_is_privileged),
            xwayland_shell_state: XWaylandShellState::new::<State>(dh),
            xwm: None,
            xwl: Default::default(),
            clipboard: crate::clipboard::HostClipboard::new(config.clipboard.primary),
            seat,
            popups: PopupManager::default(),
            space: Space::default(),
            outputs: Vec::new(),
            toplevels: Vec::new(),
            popup_windows: HashMap::new(),
            windows: WindowRegistry::default(),
            clients: Vec::new(),
            idle_inhibitors: Vec::new(),
            pointer_location: (0.0, 0.0).into(),
            cursor_status: CursorImageStatus::default_named(),
            frame_requested: false,
            output_damaged: false,
            frame_clock: Default::default(),
            cursor_dirty: true,
            cursor_loader: Default::default(),
            frame_blocked: false,
            host_move_resize: false,
            work_areas: Vec::new(),
            icons_changed: Default::default(),
            composer: None,
            backend: None,
            config,
        };
        let specs =
            if state.config.outputs.is_empty() { vec![OutputSpec::default()] } else { state.config.outputs.clone() };
        for spec in specs {
            state.add_output(&spec);
        }
        Ok(state)
    }

    // ---------------------------------------------------------------- clients

    /// Accepts a client connection with our client data.
    pub fn insert_client(&mut self, stream: std::os::unix::net::UnixStream, security_context: Option<SecurityContext>) {
        let creds = rustix::net::sockopt::socket_peercred(&stream).ok();
        let data = Arc::new(ClientState { security_context, ..Default::default() });
        match self.display_handle.insert_client(stream, data.clone()) {
            Ok(client) => {
                tracing::debug!(pid = creds.map(|c| c.pid.as_raw_nonzero().get()), "new client");
                self.clients.retain(|c| !c.data.disconnected.load(Ordering::Relaxed));
                self.clients.push(ClientRecord {
                    client,
                    data,
                    pid: creds.map(|c| c.pid.as_raw_nonzero().get()),
                    uid: creds.map(|c| c.uid.as_raw()),
                    connected_at: Instant::now(),
                });
            }
            Err(err) => tracing::warn!("could not accept a client: {err}"),
        }
    }

    pub fn live_clients(&mut self) -> &[ClientRecord] {
        self.clients.retain(|c| !c.data.disconnected.load(Ordering::Relaxed));
        &self.clients
    }

    // ---------------------------------------------------------------- outputs

    pub fn add_output(&mut self, spec: &OutputSpec) -> Output {
        let name = spec.name.clone().unwrap_or_else(|| {
            (1..).map(|n| format!("WR-{n}")).find(|n| !self.outputs.iter().any(|o| &o.name == n)).unwrap()
        });
        let position = spec.position.unwrap_or_else(|| {
            let right = self.outputs.iter().map(|o| o.logical_rect()).map(|r| r.x + r.width).max().unwrap_or(0);
            (right, 0)
        });
        let output = Output::new(
            name.clone(),
            PhysicalProperties {
                size: (0, 0).into(),
                subpixel: Subpixel::Unknown,
                make: "wayrail".into(),
                model: "virtual".into(),
            },
        );
        let mode = Mode { size: (spec.width, spec.height).into(), refresh: spec.refresh };
        let _global = output.create_global::<State>(&self.display_handle);
        output.change_current_state(
            Some(mode),
            Some(Transform::Normal),
            Some(Scale::Fractional(spec.scale)),
            Some(position.into()),
        );
        output.set_preferred(mode);
        self.space.map_output(&output, position);
        tracing::info!(%name, width = spec.width, height = spec.height, scale = spec.scale, x = position.0, y = position.1, "output added");
        let primary = self.outputs.is_empty();
        self.outputs.push(OutputEntry {
            output: output.clone(),
            name,
            physical_size: (spec.width, spec.height),
            refresh_mhz: spec.refresh,
            scale: spec.scale,
            position,
            host_rect: Rect::new(position.0, position.1, spec.width, spec.height),
            primary,
        });
        self.output_damaged = true;
        self.update_xwayland_scale();
        output
    }

    pub fn remove_output(&mut self, name: &str) {
        let Some(index) = self.outputs.iter().position(|o| o.name == name) else { return };
        let entry = self.outputs.remove(index);
        self.space.unmap_output(&entry.output);
        if let Some(c) = self.composer.as_mut() {
            c.forget_output(name);
        }
        tracing::info!(%name, "output removed");
        self.output_damaged = true;
        self.update_xwayland_scale();
    }

    /// Changes an output's physical size (the host window or monitor was resized).
    pub fn resize_output(&mut self, name: &str, width: i32, height: i32) {
        let Some(entry) = self.outputs.iter_mut().find(|o| o.name == name) else { return };
        let mode = Mode { size: (width, height).into(), refresh: entry.refresh_mhz };
        entry.output.change_current_state(Some(mode), None, None, None);
        entry.output.set_preferred(mode);
        entry.physical_size = (width, height);
        entry.host_rect.width = width;
        entry.host_rect.height = height;
        let (output, position) = (entry.output.clone(), entry.position);
        self.space.map_output(&output, position);
        self.output_damaged = true;
        let ids: Vec<WindowId> = self.toplevels.iter().filter_map(|t| t.id).collect();
        for id in ids {
            self.sync_window_info(id);
        }
    }

    /// Takes the host's monitors as the outputs: output i becomes monitor i (existing outputs
    /// are reused in order, keeping their names; extra ones are removed), laid out as
    /// [`crate::layout::logical_origins`] says. Windows keep their physical place on their
    /// monitor; those left off every output, or reaching off the desktop, are brought back
    /// onto it; maximized and fullscreen windows take their new output's size; every window
    /// is told its output's scale again.
    pub fn set_host_layout(&mut self, monitors: &[crate::layout::PhysMonitor]) {
        if monitors.is_empty() {
            return;
        }
        let origins = crate::layout::logical_origins(monitors);
        // Where each window is on its monitor, in physical pixels, to keep it there.
        let places: Vec<(WindowId, String, (f64, f64))> = self
            .toplevels
            .iter()
            .filter(|t| !t.window.x11_surface().is_some_and(|x| x.is_override_redirect()))
            .filter_map(|t| {
                let id = t.id?;
                let loc = self.space.element_location(&t.window).or(t.location)?;
                let size = t.window.geometry().size;
                let o = self.output_for_rect(Rect::new(loc.x, loc.y, size.w.max(1), size.h.max(1)))?;
                let rel = ((loc.x - o.position.0) as f64 * o.scale, (loc.y - o.position.1) as f64 * o.scale);
                Some((id, o.name.clone(), rel))
            })
            .collect();
        for (i, (m, &position)) in monitors.iter().zip(&origins).enumerate() {
            if i < self.outputs.len() {
                let entry = &mut self.outputs[i];
                let mode = Mode { size: (m.rect.width, m.rect.height).into(), refresh: entry.refresh_mhz };
                entry.output.change_current_state(
                    Some(mode),
                    None,
                    Some(Scale::Fractional(m.scale)),
                    Some(position.into()),
                );
                entry.output.set_preferred(mode);
                entry.physical_size = (m.rect.width, m.rect.height);
                entry.scale = m.scale;
                entry.position = position;
                entry.host_rect = m.rect;
                entry.primary = m.primary;
                let output = entry.output.clone();
                self.space.map_output(&output, position);
            } else {
                let spec = OutputSpec {
                    name: None,
                    width: m.rect.width,
                    height: m.rect.height,
                    refresh: self.outputs.first().map_or(60_000, |o| o.refresh_mhz),
                    scale: m.scale,
                    position: Some(position),
                };
                self.add_output(&spec);
                let entry = self.outputs.last_mut().unwrap();
                entry.host_rect = m.rect;
                entry.primary = m.primary;
            }
        }
        let extra: Vec<String> = self.outputs[monitors.len()..].iter().map(|o| o.name.clone()).collect();
        for name in extra {
            self.remove_output(&name);
        }
        if let Some(c) = self.composer.as_mut() {
            for o in &self.outputs {
                c.forget_output(&o.name);
            }
        }
        tracing::info!(
            outputs = ?self.outputs.iter().map(|o| (&o.name, o.host_rect, o.logical_rect(), o.scale)).collect::<Vec<_>>(),
            "host monitor layout"
        );
        for (id, name, rel) in places {
            let Some(o) = self.output_by_name(&name) else { continue };
            let at = (o.position.0 + (rel.0 / o.scale).round() as i32, o.position.1 + (rel.1 / o.scale).round() as i32);
            let Some(index) = self.toplevel_index_by_id(id) else { continue };
            match self.toplevels[index].show {
                ShowState::Normal => {
                    self.move_window(id, at.0, at.1);
                }
                ShowState::Minimized => self.toplevels[index].location = Some(at.into()),
                // Placed on their output again below.
                ShowState::Maximized | ShowState::Fullscreen => {}
            }
        }
        // X11 apps take the largest scale (see `update_xwayland_scale`).
        self.update_xwayland_scale();
        self.rescue_windows();
        // Toplevels not mapped yet were told the scale of an output that may have changed.
        let unmapped: Vec<WlSurface> =
            self.toplevels.iter().filter(|t| t.id.is_none()).filter_map(|t| window_root(&t.window)).collect();
        if let Some(name) = self.placement_output_name() {
            for root in unmapped {
                if let Some(index) = self.toplevel_index(&root) {
                    self.toplevels[index].preferred_output = Some(name.clone());
                }
                self.send_preferred_scale(&root, &name);
            }
        }
        self.output_damaged = true;
    }

    /// After the outputs changed: windows nobody can see come back onto the primary output,
    /// windows reaching off the desktop move onto the output they are mostly on (as far as
    /// they fit), and maximized or fullscreen windows fit their output again.
    fn rescue_windows(&mut self) {
        let ids: Vec<WindowId> = self.toplevels.iter().filter_map(|t| t.id).collect();
        for id in ids {
            let Some(index) = self.toplevel_index_by_id(id) else { continue };
            let entry = &self.toplevels[index];
            let show = entry.show;
            if entry.window.x11_surface().is_some_and(|x| x.is_override_redirect()) {
                continue;
            }
            let Some(loc) = self.space.element_location(&entry.window).or(entry.location) else { continue };
            let size = entry.window.geometry().size;
            let rect = Rect::new(loc.x, loc.y, size.w.max(1), size.h.max(1));
            let seen = self.outputs.iter().any(|o| o.logical_rect().intersection_area(&rect) > 0);
            // All of it on the desktop (possibly across monitors)?
            let on_desktop: i64 = self.outputs.iter().map(|o| o.logical_rect().intersection_area(&rect)).sum();
            let fully_on = on_desktop >= rect.width as i64 * rect.height as i64;
            let target = if seen { self.output_for_rect(rect) } else { self.outputs.iter().find(|o| o.primary) }
                .map(|o| o.logical_rect());
            match show {
                ShowState::Maximized => {
                    self.set_maximized(id, true);
                }
                ShowState::Fullscreen => {
                    if let Some(index) = self.toplevel_index_by_id(id) {
                        let output = target
                            .and_then(|t| self.outputs.iter().find(|o| o.logical_rect() == t))
                            .map(|o| o.output.clone());
                        self.set_toplevel_fullscreen(index, true, output.as_ref());
                    }
                }
                _ if !seen || !fully_on => {
                    if let Some(area) = target {
                        let x = loc.x.clamp(area.x, (area.x + area.width - rect.width.min(area.width)).max(area.x));
                        let y = loc.y.clamp(area.y, (area.y + area.height - rect.height.min(area.height)).max(area.y));
                        tracing::debug!(%id, from = ?(loc.x, loc.y), to = ?(x, y), "window brought back onto the desktop");
                        if show == ShowState::Minimized {
                            // Where it comes back when restored; it stays minimized.
                            self.toplevels[index].location = Some((x, y).into());
                        } else {
                            self.move_window(id, x, y);
                        }
                    }
                }
                _ => {}
            }
            if let Some(index) = self.toplevel_index_by_id(id) {
                // Scales may have changed on an output of the same name.
                self.toplevels[index].preferred_output = None;
            }
            self.sync_window_info(id);
        }
    }

    /// Where a window maximized on an output goes: the host's work area on that monitor
    /// (without its taskbar), else the whole output.
    pub fn maximize_area(&self, output: &OutputEntry) -> Rect {
        let host = output.host_rect;
        self.work_areas
            .iter()
            .filter_map(|wa| host.intersection(wa))
            .max_by_key(|r| r.width as i64 * r.height as i64)
            .map(|r| output.host_to_logical_rect(r))
            .unwrap_or_else(|| output.logical_rect())
    }

    /// The output whose monitor holds most of a host rectangle; the primary when it is on
    /// none.
    pub fn output_for_host_rect(&self, rect: Rect) -> Option<&OutputEntry> {
        self.outputs
            .iter()
            .map(|o| (o.host_rect.intersection_area(&rect), o))
            .filter(|(area, _)| *area > 0)
            .max_by_key(|(area, _)| *area)
            .map(|(_, o)| o)
            .or_else(|| self.outputs.iter().find(|o| o.primary))
            .or_else(|| self.outputs.first())
    }

    /// A host point (physical pixels of its virtual desktop) to the global logical space:
    /// through the output whose host rectangle holds it, else the nearest one.
    pub fn host_to_logical(&self, x: f64, y: f64) -> (f64, f64) {
        let distance = |o: &&OutputEntry| {
            let r = o.host_rect;
            let dx = (r.x as f64 - x).max(x - (r.x + r.width - 1) as f64).max(0.0);
            let dy = (r.y as f64 - y).max(y - (r.y + r.height - 1) as f64).max(0.0);
            dx + dy
        };
        match self.outputs.iter().min_by(|a, b| distance(a).total_cmp(&distance(b))) {
            Some(o) => {
                let r = o.host_rect;
                let x = x.clamp(r.x as f64, (r.x + r.width) as f64 - 0.001);
                let y = y.clamp(r.y as f64, (r.y + r.height) as f64 - 0.001);
                o.host_to_logical(x, y)
            }
            None => (x, y),
        }
    }

    /// The bounding box of every output's host rectangle.
    pub fn host_desktop(&self) -> Rect {
        let left = self.outputs.iter().map(|o| o.host_rect.x).min().unwrap_or(0);
        let top = self.outputs.iter().map(|o| o.host_rect.y).min().unwrap_or(0);
        let right = self.outputs.iter().map(|o| o.host_rect.x + o.host_rect.width).max().unwrap_or(0);
        let bottom = self.outputs.iter().map(|o| o.host_rect.y + o.host_rect.height).max().unwrap_or(0);
        Rect::new(left, top, right - left, bottom - top)
    }

    pub fn output_by_name(&self, name: &str) -> Option<&OutputEntry> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// The output a rectangle is mostly on; the first output when it is on none.
    pub fn output_for_rect(&self, rect: Rect) -> Option<&OutputEntry> {
        self.outputs
            .iter()
            .map(|o| (o.logical_rect().intersection_area(&rect), o))
            .filter(|(area, _)| *area > 0)
            .max_by_key(|(area, _)| *area)
            .map(|(_, o)| o)
            .or_else(|| self.outputs.first())
    }

    pub fn output_at(&self, x: f64, y: f64) -> Option<&OutputEntry> {
        self.outputs.iter().find(|o| o.logical_rect().contains(x, y))
    }

    // ---------------------------------------------------------------- windows

    pub fn toplevel_index(&self, surface: &WlSurface) -> Option<usize> {
        self.toplevels.iter().position(|t| window_root(&t.window).as_ref() == Some(surface))
    }

    pub fn toplevel_by_id(&self, id: WindowId) -> Option<&ToplevelEntry> {
        self.toplevels.iter().find(|t| t.id == Some(id))
    }

    fn toplevel_index_by_id(&self, id: WindowId) -> Option<usize> {
        self.toplevels.iter().position(|t| t.id == Some(id))
    }

    /// The window id of the toplevel or popup whose root surface is `surface`.
    pub fn window_id_for_surface(&self, surface: &WlSurface) -> Option<WindowId> {
        if let Some(i) = self.toplevel_index(surface) {
            return self.toplevels[i].id;
        }
        self.popup_windows.iter().find(|(_, p)| p.popup.wl_surface() == surface).map(|(id, _)| *id)
    }

    /// The window id owning any surface (a subsurface resolves to its root).
    pub fn window_id_for_any_surface(&self, surface: &WlSurface) -> Option<WindowId> {
        let mut root = surface.clone();
        while let Some(parent) = smithay::wayland::compositor::get_parent(&root) {
            root = parent;
        }
        self.window_id_for_surface(&root)
    }

    pub fn new_toplevel(&mut self, toplevel: ToplevelSurface) {
        let window = Window::new_wayland_window(toplevel.clone());
        // Tell the client the scale it will be shown at before it draws its first frame.
        let output = self.placement_output_name();
        if let Some(name) = &output {
            self.send_preferred_scale(toplevel.wl_surface(), name);
        }
        self.toplevels.push(ToplevelEntry {
            window,
            id: None,
            show: ShowState::Normal,
            restore: None,
            location: None,
            preferred_output: output,
            restore_show: None,
        });
    }

    fn placement_output_name(&self) -> Option<String> {
        let (x, y) = (self.pointer_location.x, self.pointer_location.y);
        self.output_at(x, y).or(self.outputs.first()).map(|o| o.name.clone())
    }

    /// Called on every non-sync commit of a toplevel's root surface.
    pub fn toplevel_committed(&mut self, index: usize) {
        let entry = &mut self.toplevels[index];
        entry.window.on_commit();
        let Some(root) = window_root(&entry.window) else { return };
        if let Some(toplevel) = entry.window.toplevel() {
            if !toplevel.is_initial_configure_sent() {
                toplevel.send_configure();
                return;
            }
        }
        let has_buffer = crate::render::surface_has_buffer(&root);
        match (entry.id, has_buffer) {
            (None, true) if entry.show != ShowState::Minimized => self.map_toplevel(index),
            (Some(id), false) => {
                tracing::debug!(%id, "toplevel unmapped its buffer");
                self.unmap_toplevel(index);
            }
            (Some(id), true) => {
                self.sync_window_info(id);
            }
            _ => {}
        }
    }

    fn map_toplevel(&mut self, index: usize) {
        let window = self.toplevels[index].window.clone();
        let Some(root) = window_root(&window) else { return };
        let meta = self.window_meta(&window);
        let parent = meta.parent;
        let geometry = window.geometry();
        let location = match (self.toplevels[index].location, self.toplevels[index].show) {
            // X11 windows are where the X server has them (override-redirect ones place themselves).
            _ if window.is_x11() => window.x11_surface().map(|x| x.geometry().loc).unwrap_or_default(),
            (Some(loc), ShowState::Normal) => loc,
            (_, ShowState::Maximized | ShowState::Fullscreen) => {
                self.toplevels[index].location.unwrap_or_else(|| self.initial_location(geometry.size, parent))
            }
            _ => self.initial_location(geometry.size, parent),
        };
        let override_redirect = window.x11_surface().is_some_and(|x| x.is_override_redirect());
        // X11 windows: _NET_WM_PID only (Xwayland's connection would give Xwayland or us).
        let pid = if window.is_x11() { meta.pid } else { self.client_pid(&root) };
        let info = WindowInfo {
            id: WindowId(0),
            kind: if override_redirect { WindowKind::Popup } else { WindowKind::Toplevel },
            title: meta.title,
            app_id: meta.app_id,
            pid,
            parent,
            x: location.x,
            y: location.y,
            width: geometry.size.w,
            height: geometry.size.h,
            state: self.toplevels[index].show,
            output: None,
            scale: 1.0,
            activated: false,
        };
        let id = self.windows.insert(info);
        tracing::info!(%id, title = %self.windows.get(id).unwrap().title, "window mapped");
        let entry = &mut self.toplevels[index];
        entry.id = Some(id);
        entry.location = Some(location);
        self.space.map_element(window, location, false);
        if override_redirect {
            self.update_stacking();
        } else {
            self.focus_window(Some(id));
        }
        self.sync_window_info(id);
        self.output_damaged = true;
    }

    /// Where a new window goes: centered on its parent, else cascaded on the output under the pointer.
    pub fn initial_location(&self, size: Size<i32, Logical>, parent: Option<WindowId>) -> Point<i32, Logical> {
        if let Some(parent) = parent.and_then(|p| self.windows.get(p)) {
            return (parent.x + (parent.width - size.w) / 2, parent.y + (parent.height - size.h) / 2).into();
        }
        let Some(out) = self.output_at(self.pointer_location.x, self.pointer_location.y).or(self.outputs.first())
        else {
            return (0, 0).into();
        };
        let area = out.logical_rect();
        let n = self.toplevels.iter().filter(|t| t.id.is_some()).count() as i32 % 8;
        let x = area.x + ((area.width - size.w) / 2).max(0) + n * 32 - 112;
        let y = area.y + ((area.height - size.h) / 2).max(0) + n * 32 - 112;
        (x.max(area.x), y.max(area.y)).into()
    }

    pub fn unmap_toplevel(&mut self, index: usize) {
        let entry = &mut self.toplevels[index];
        let window = entry.window.clone();
        if let Some(id) = entry.id.take() {
            self.windows.remove(id);
            tracing::info!(%id, "window gone");
        }
        self.space.unmap_elem(&window);
        self.after_window_removed();
    }

    pub fn toplevel_destroyed(&mut self, surface: &WlSurface) {
        if let Some(index) = self.toplevel_index(surface) {
            self.unmap_toplevel(index);
            self.toplevels.remove(index);
        }
    }

    fn after_window_removed(&mut self) {
        self.output_damaged = true;
        let focus = self.seat.get_keyboard().and_then(|k| k.current_focus());
        // A minimized window keeps its id but must not keep the keyboard.
        let focus_alive = focus.as_ref().is_some_and(|f| f.is_alive() && self.is_shown(f));
        if !focus_alive {
            // Focus goes to the topmost remaining window.
            let top = self
                .space
                .elements()
                .rev()
                .filter(|w| !w.x11_surface().is_some_and(|x| x.is_override_redirect()))
                .find_map(window_root);
            let id = top.and_then(|s| self.window_id_for_surface(&s));
            self.focus_window(id);
        } else {
            self.update_stacking();
        }
    }

    /// Whether a surface belongs to a window on screen: mapped and not minimized; popups and
    /// subsurfaces by their toplevel.
    fn is_shown(&self, surface: &WlSurface) -> bool {
        let mut id = self.window_id_for_any_surface(surface);
        while let Some(parent) = id.and_then(|i| self.popup_windows.get(&i)).map(|p| p.parent) {
            id = parent;
        }
        id.and_then(|id| self.toplevel_by_id(id)).is_some_and(|t| self.space.elements().any(|w| w == &t.window))
    }

    /// Re-reads a mapped toplevel's title, geometry, outputs and scale into the registry.
    pub fn sync_window_info(&mut self, id: WindowId) {
        let Some(index) = self.toplevel_index_by_id(id) else { return };
        let window = self.toplevels[index].window.clone();
        let Some(root) = window_root(&window) else { return };
        let WindowMeta { title, app_id, parent, .. } = self.window_meta(&window);
        let geometry = window.geometry();
        let location = self.space.element_location(&window).or(self.toplevels[index].location).unwrap_or_default();
        self.toplevels[index].location = Some(location);
        let rect = Rect::new(location.x, location.y, geometry.size.w, geometry.size.h);
        let output = self.output_for_rect(rect).map(|o| (o.name.clone(), o.scale));
        let show = self.toplevels[index].show;
        if let Some((name, _)) = &output {
            if self.toplevels[index].preferred_output.as_ref() != Some(name) {
                self.toplevels[index].preferred_output = Some(name.clone());
                self.send_preferred_scale(&root, name);
            }
        }
        self.windows.update(id, |w| {
            w.title = title;
            w.app_id = app_id;
            w.parent = parent;
            w.x = rect.x;
            w.y = rect.y;
            w.width = rect.width;
            w.height = rect.height;
            w.state = show;
            if let Some((name, scale)) = output {
                w.output = Some(name);
                w.scale = scale;
            }
        });
    }

    /// Tells every surface of a window (and its popups) the scale and transform of an output.
    pub fn send_preferred_scale(&self, root: &WlSurface, output_name: &str) {
        let Some(out) = self.output_by_name(output_name) else { return };
        let scale = out.output.current_scale();
        let apply = |surface: &WlSurface| {
            with_surface_tree_downward(
                surface,
                (),
                |_, _, _| TraversalAction::DoChildren(()),
                |s, data, _| {
                    send_surface_state(s, data, scale.integer_scale(), Transform::Normal);
                    with_fractional_scale(data, |fs| fs.set_preferred_scale(scale.fractional_scale()));
                },
                |_, _, _| true,
            );
        };
        apply(root);
        for (popup, _) in PopupManager::popups_for_surface(root) {
            apply(popup.wl_surface());
        }
    }

    fn client_pid(&self, surface: &WlSurface) -> Option<i32> {
        let client = surface.client()?;
        client.get_credentials(&self.display_handle).ok().map(|c| c.pid)
    }

    // ------------------------------------------------------------- popups

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
    fn root_geometry_origin(&self, root: &WlSurface) -> Point<i32, Logical> {
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

    // ------------------------------------------------------------- focus and stacking

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

    fn refresh_popup_rects(&mut self, parent: WindowId) {
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

    pub fn set_maximized(&mut self, id: WindowId, maximized: bool) -> bool {
        let Some(index) = self.toplevel_index_by_id(id) else { return false };
        self.set_toplevel_maximized(index, maximized);
        true
    }

    pub fn set_toplevel_maximized(&mut self, index: usize, maximized: bool) {
        if self.toplevels[index].window.is_x11() {
            let show = if maximized { ShowState::Maximized } else { ShowState::Normal };
            return self.set_x11_show(index, show, None);
        }
        let entry = &self.toplevels[index];
        let Some(toplevel) = entry.window.toplevel().cloned() else { return };
        if maximized {
            let loc = entry.location.unwrap_or_default();
            let geo = entry.window.geometry();
            let current = Rectangle::new(loc, geo.size);
            let out_rect = self
                .output_for_rect(Rect::new(loc.x, loc.y, geo.size.w.max(1), geo.size.h.max(1)))
                .map(|o| self.maximize_area(o));
            let entry = &mut self.toplevels[index];
            if entry.show == ShowState::Normal {
                entry.restore = Some(current);
            }
            entry.show = ShowState::Maximized;
            if let Some(area) = out_rect {
                entry.location = Some((area.x, area.y).into());
                toplevel.with_pending_state(|s| {
                    s.states.set(xdg_toplevel::State::Maximized);
                    s.states.unset(xdg_toplevel::State::Fullscreen);
                    s.size = Some((area.width, area.height).into());
                });
                if let Some(id) = entry.id {
                    let window = entry.window.clone();
                    self.space.map_element(window, (area.x, area.y), false);
                    self.windows.update(id, |w| w.state = ShowState::Maximized);
                }
            }
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

    pub fn set_toplevel_fullscreen(&mut self, index: usize, fullscreen: bool, output: Option<&Output>) {
        if self.toplevels[index].window.is_x11() {
            let show = if fullscreen { ShowState::Fullscreen } else { ShowState::Normal };
            return self.set_x11_show(index, show, output);
        }
        let entry = &self.toplevels[index];
        let Some(toplevel) = entry.window.toplevel().cloned() else { return };
        if fullscreen {
            let loc = entry.location.unwrap_or_default();
            let geo = entry.window.geometry();
            let area = output
                .and_then(|o| self.outputs.iter().find(|e| &e.output == o))
                .or_else(|| self.output_for_rect(Rect::new(loc.x, loc.y, geo.size.w.max(1), geo.size.h.max(1))))
                .map(|o| o.logical_rect());
            let entry = &mut self.toplevels[index];
            if entry.show == ShowState::Normal {
                entry.restore = Some(Rectangle::new(loc, geo.size));
            }
            entry.show = ShowState::Fullscreen;
            if let Some(area) = area {
                entry.location = Some((area.x, area.y).into());
                toplevel.with_pending_state(|s| {
                    s.states.set(xdg_toplevel::State::Fullscreen);
                    s.size = Some((area.width, area.height).into());
                });
                if let Some(id) = entry.id {
                    let window = entry.window.clone();
                    self.space.map_element(window, (area.x, area.y), false);
                    self.windows.update(id, |w| w.state = ShowState::Fullscreen);
                }
            }
            if toplevel.is_initial_configure_sent() {
                toplevel.send_pending_configure();
            }
        } else {
            self.set_toplevel_maximized(index, false);
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

    /// Everything the backend must do after a round of client requests.
    pub fn refresh(&mut self) {
        self.associate_x11_surfaces();
        self.space.refresh();
        self.popups.cleanup();
        // Popups whose surface died without a destroy request.
        let dead: Vec<WindowId> =
            self.popup_windows.iter().filter(|(_, p)| !p.popup.wl_surface().is_alive()).map(|(id, _)| *id).collect();
        for id in dead {
            self.popup_gone(id);
        }
    }

    /// Switches the xkb layout (rules, model and options stay as configured); for backends
    /// that learn the host's keyboard layout.
    pub fn set_keymap(&mut self, layout: &str, variant: &str) -> anyhow::Result<()> {
        let keyboard = self.seat.get_keyboard().ok_or_else(|| anyhow::anyhow!("no keyboard"))?;
        let kb = self.config.keyboard.clone();
        let config = XkbConfig { rules: &kb.rules, model: &kb.model, layout, variant, options: kb.options.clone() };
        keyboard.set_xkb_config(self, config).map_err(|e| anyhow::anyhow!("keymap {layout}/{variant}: {e}"))?;
        tracing::info!(layout, variant, "keymap changed");
        Ok(())
    }
}

pub fn toplevel_title_app_id(toplevel: &ToplevelSurface) -> (String, String) {
    with_states(toplevel.wl_surface(), |states| {
        let data = states.data_map.get::<XdgToplevelSurfaceData>().unwrap().lock().unwrap();
        (data.title.clone().unwrap_or_default(), data.app_id.clone().unwrap_or_default())
    })
}

/// Clamps a size to a toplevel's min/max size hints (0 means unbounded).
pub fn clamp_to_size_hints(toplevel: &ToplevelSurface, size: Size<i32, Logical>) -> Size<i32, Logical> {
    let (min, max) = with_states(toplevel.wl_surface(), |states| {
        let mut cached = states.cached_state.get::<SurfaceCachedState>();
        let current = cached.current();
        (current.min_size, current.max_size)
    });
    clamp_size(size, min, max)
}

pub fn clamp_size(size: Size<i32, Logical>, min: Size<i32, Logical>, max: Size<i32, Logical>) -> Size<i32, Logical> {
    let clamp = |v: i32, lo: i32, hi: i32| {
        let v = if hi > 0 { v.min(hi) } else { v };
        v.max(lo).max(1)
    };
    (clamp(size.w, min.w, max.w), clamp(size.h, min.h, max.h)).into()
}

/// The wl_surface an X11 window draws into: through xwayland-shell (smithay sets it), or
/// through the older WL_SURFACE_ID message, which Xwayland before 23.1 uses; that one we
/// resolve ourselves (see `State::associate_x11_surfaces`) and keep in the window's user data.
pub fn x11_wl_surface(x: &X11Surface) -> Option<WlSurface> {
    x.wl_surface().or_else(|| {
        x.user_data().get::<LegacyWlSurface>().and_then(|l| l.0.lock().unwrap().clone()).filter(|s| s.is_alive())
    })
}

/// The WL_SURFACE_ID association of an X11 window.
#[derive(Default)]
pub struct LegacyWlSurface(pub std::sync::Mutex<Option<WlSurface>>);

/// The root wl_surface of a window: its xdg toplevel's, or its X11 window's once known.
pub fn window_root(window: &Window) -> Option<WlSurface> {
    match window.x11_surface() {
        Some(x) => x11_wl_surface(x),
        None => window.toplevel().map(|t| t.wl_surface().clone()),
    }
}

/// The topmost window under a point and its render location (its root surface's origin).
/// smithay's `Space::element_under` cannot see X11 windows associated through WL_SURFACE_ID.
pub fn window_under(state: &State, pos: Point<f64, Logical>) -> Option<(Window, Point<i32, Logical>)> {
    state.space.elements().rev().find_map(|w| {
        let render_loc = state.space.element_location(w)? - w.geometry().loc;
        let local = pos - render_loc.to_f64();
        let hit = match w.x11_surface() {
            Some(x) => x11_wl_surface(x)
                .is_some_and(|s| under_from_surface_tree(&s, local, (0, 0), WindowSurfaceType::ALL).is_some()),
            None => smithay::desktop::space::SpaceElement::is_in_input_region(w, &local),
        };
        hit.then(|| (w.clone(), render_loc))
    })
}

/// What the registry shows of a window besides geometry.
pub struct WindowMeta {
    pub title: String,
    pub app_id: String,
    pub parent: Option<WindowId>,
    pub pid: Option<i32>,
}

impl State {
    /// Title, app id, parent and pid of a toplevel entry's window, xdg or X11.
    pub fn window_meta(&self, window: &Window) -> WindowMeta {
        if let Some(x) = window.x11_surface() {
            let own = self.toplevels.iter().find(|t| &t.window == window).and_then(|t| t.id);
            let transient = x.is_transient_for().and_then(|w| self.x11_window_id(w));
            let parent = transient
                .or_else(|| own.and_then(|id| self.windows.get(id)).and_then(|w| w.parent))
                .or_else(|| x.is_override_redirect().then(|| self.x11_popup_owner(x, own)).flatten());
            let class = x.class();
            return WindowMeta {
                title: x.title(),
                app_id: if class.is_empty() { x.instance() } else { class },
                parent,
                pid: x.pid().map(|p| p as i32),
            };
        }
        let Some(toplevel) = window.toplevel() else {
            return WindowMeta { title: String::new(), app_id: String::new(), parent: None, pid: None };
        };
        let (title, app_id) = toplevel_title_app_id(toplevel);
        let parent = toplevel.parent().and_then(|p| self.window_id_for_surface(&p));
        WindowMeta { title, app_id, parent, pid: None }
    }

    /// Whose an override-redirect window (menu, tooltip) without WM_TRANSIENT_FOR is: the
    /// topmost X11 window it opens over, else the focused window.
    fn x11_popup_owner(&self, x: &X11Surface, own: Option<WindowId>) -> Option<WindowId> {
        let at = x.geometry().loc;
        let under = self.space.elements().rev().find_map(|w| {
            let id = self.toplevels.iter().find(|t| &t.window == w).and_then(|t| t.id)?;
            let managed_x11 = w.x11_surface().is_some_and(|o| !o.is_override_redirect());
            let info = self.windows.get(id)?;
            (managed_x11 && Some(id) != own && info.rect().contains(at.x as f64, at.y as f64)).then_some(id)
        });
        under.or_else(|| self.windows.active()).filter(|a| Some(*a) != own)
    }

    /// The window id of an X11 window by its X11 id.
    pub fn x11_window_id(&self, window: u32) -> Option<WindowId> {
        self.toplevels
            .iter()
            .find(|t| t.window.x11_surface().is_some_and(|x| x.window_id() == window))
            .and_then(|t| t.id)
    }

    /// Maximize, fullscreen or restore an X11 window: it gets the area and the _NET_WM_STATE.
    fn set_x11_show(&mut self, index: usize, show: ShowState, output: Option<&Output>) {
        let entry = &self.toplevels[index];
        let Some(x) = entry.window.x11_surface().cloned() else { return };
        let geo = x.geometry();
        let loc = entry.location.unwrap_or(geo.loc);
        let current = Rectangle::new(loc, geo.size);
        let rect = match show {
            ShowState::Normal | ShowState::Minimized => entry.restore.unwrap_or(current),
            ShowState::Maximized | ShowState::Fullscreen => {
                let out = output
                    .and_then(|o| self.outputs.iter().find(|e| &e.output == o))
                    .or_else(|| self.output_for_rect(Rect::new(loc.x, loc.y, geo.size.w.max(1), geo.size.h.max(1))));
                let Some(area) = out.map(|o| match show {
                    ShowState::Maximized => self.maximize_area(o),
                    _ => o.logical_rect(),
                }) else {
                    return;
                };
                Rectangle::new((area.x, area.y).into(), (area.width, area.height).into())
            }
        };
        let entry = &mut self.toplevels[index];
        if entry.show == ShowState::Normal && show != ShowState::Normal {
            entry.restore = Some(current);
        }
        if show == ShowState::Normal {
            entry.restore = None;
        }
        entry.show = show;
        entry.location = Some(rect.loc);
        let _ = x.set_maximized(show == ShowState::Maximized);
        let _ = x.set_fullscreen(show == ShowState::Fullscreen);
        let _ = x.configure(rect);
        if let Some(id) = entry.id {
            let window = entry.window.clone();
            self.space.map_element(window, rect.loc, false);
            self.windows.update(id, |w| w.state = show);
            self.sync_window_info(id);
        }
        self.output_damaged = true;
    }
}

/// The window under a point, and the surface and its global origin under it.
pub fn surface_under(state: &State, pos: Point<f64, Logical>) -> Option<(WlSurface, Point<f64, Logical>)> {
    // `element_under` gives the render location (the window's location minus its geometry
    // offset): the origin of its root surface.
    let (window, render_loc) = window_under(state, pos)?;
    let local = pos - render_loc.to_f64();
    let found = match window.x11_surface() {
        Some(x) => under_from_surface_tree(&x11_wl_surface(x)?, local, (0, 0), WindowSurfaceType::ALL),
        None => window.surface_under(local, WindowSurfaceType::ALL),
    };
    found.map(|(s, p)| (s, (p + render_loc).to_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_hints_clamp() {
        let s = |w, h| Size::<i32, Logical>::from((w, h));
        assert_eq!(clamp_size(s(100, 100), s(200, 50), s(0, 0)), s(200, 100));
        assert_eq!(clamp_size(s(1000, 1000), s(0, 0), s(640, 480)), s(640, 480));
        assert_eq!(clamp_size(s(0, 0), s(0, 0), s(0, 0)), s(1, 1));
    }

    #[test]
    fn logical_size_rounds() {
        assert_eq!(logical_size((1920, 1080), 1.5), (1280, 720));
        assert_eq!(logical_size((1366, 768), 1.25), (1093, 614));
    }
}
