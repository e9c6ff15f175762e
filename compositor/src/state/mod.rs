//! The compositor state: the core (every protocol's smithay state, the window model, the
//! outputs and the seat) beside the backend and the renderer. Protocol handlers live in
//! `handlers/`; the window management they share is split here by job: `outputs` (outputs and
//! the host's monitor layout), `windows` (the toplevel lifecycle and lookups), `popups`,
//! `focus` (keyboard focus and stacking), `window_ops` (move, resize, maximize, minimize,
//! close) and `x11` (X11 windows' glue).

mod focus;
mod outputs;
mod popups;
mod window_ops;
mod windows;
mod x11;

pub use outputs::{logical_size, OutputEntry};
pub use popups::PopupEntry;
pub use windows::{
    clamp_size, clamp_to_size_hints, surface_under, toplevel_title_app_id, window_root, window_under, ToplevelEntry,
    WindowMeta,
};
pub use x11::{x11_wl_surface, LegacyWlSurface};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use smithay::desktop::{PopupManager, Space, Window};
use smithay::input::keyboard::XkbConfig;
use smithay::input::pointer::CursorImageStatus;
use smithay::input::{Seat, SeatState};
use smithay::reexports::calloop::LoopHandle;
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, DisplayHandle, Resource};
use smithay::utils::{Logical, Point};
use smithay::wayland::compositor::{CompositorClientState, CompositorState};
use smithay::wayland::cursor_shape::CursorShapeManagerState;
use smithay::wayland::fractional_scale::FractionalScaleManagerState;
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
use smithay::wayland::shell::xdg::XdgShellState;
use smithay::wayland::shm::ShmState;
use smithay::wayland::single_pixel_buffer::SinglePixelBufferState;
use smithay::wayland::text_input::TextInputManagerState;
use smithay::wayland::viewporter::ViewporterState;
use smithay::wayland::virtual_keyboard::VirtualKeyboardManagerState;
use smithay::wayland::xdg_activation::XdgActivationState;
use smithay::wayland::xdg_foreign::XdgForeignState;
use smithay::wayland::xdg_toplevel_icon::XdgToplevelIconManager;
use smithay::wayland::xwayland_shell::XWaylandShellState;
use smithay::xwayland::X11Wm;

use crate::config::{Config, OutputSpec};
use crate::window::{Rect, WindowId, WindowRegistry};

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

/// Everything the compositor knows: every protocol's smithay state, the window model, the
/// outputs and the seat. The backend and the renderer sit beside it in [`State`].
pub struct Core {
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
    /// Where the last pointer motion went: the position and the surface under it with its
    /// origin. A motion that changes none of them is not sent again (see `handle_input`).
    pub last_pointer_motion: Option<(Point<f64, Logical>, Option<SurfaceAt>)>,
    pub cursor_status: CursorImageStatus,
    /// Set when a client committed with frame callbacks or new content: the backend's frame
    /// clock should run. Nothing sets it while every client is idle.
    pub frame_requested: bool,
    /// Set when output content changed (for backends that compose outputs).
    pub output_damaged: bool,
    pub frame_clock: crate::frame_clock::FrameClock,
    /// Set when the cursor image may have changed (new status, or its surface committed).
    pub cursor_dirty: bool,
    pub cursor_loader: crate::cursor::CursorLoader,
    /// Set while the backend waits for the host to show a frame; no new frame until then.
    pub frame_blocked: bool,
    /// A remote host moves and resizes windows itself (RemoteApp with local move/size):
    /// interactive move/resize requests go to it instead of a compositor grab.
    pub host_move_resize: bool,
    /// Each window's own image carries its title bar (a RemoteApp session: the host shows
    /// windows one by one, so wayrail's bars travel as part of their pixels).
    pub window_bars: bool,
    /// Where maximized windows go, when a host says: its work areas (monitors without their
    /// taskbars), in host pixels.
    pub work_areas: Vec<Rect>,
    /// Toplevels that set a new xdg-toplevel-icon.
    pub icons_changed: std::collections::HashSet<WindowId>,
}

/// The compositor's whole state, as the event loop and every smithay handler see it: the
/// core beside the backend that shows it and the renderer that composes for it. They are
/// siblings, so backend code borrows the backend and the core at once and nothing is ever
/// taken out to be used. `State` dereferences to the core, so handlers read `self.space`.
/// A surface and where its origin is in the global logical space.
pub type SurfaceAt = (WlSurface, Point<f64, Logical>);

pub struct State {
    pub core: Core,
    pub backend: crate::backend::Backend,
    pub composer: crate::render::Composer,
}

impl std::ops::Deref for State {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl std::ops::DerefMut for State {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.core
    }
}

impl State {
    /// A state with no backend yet (headless) and a software renderer.
    pub fn new(
        display_handle: DisplayHandle,
        loop_handle: LoopHandle<'static, State>,
        config: Config,
    ) -> anyhow::Result<Self> {
        let composer = crate::render::Composer::new()?;
        let mut state = State {
            core: Core::new(display_handle, loop_handle, config)?,
            backend: crate::backend::Backend::Headless,
            composer,
        };
        let specs =
            if state.config.outputs.is_empty() { vec![OutputSpec::default()] } else { state.config.outputs.clone() };
        for spec in specs {
            state.add_output(&spec);
        }
        Ok(state)
    }
}

impl Core {
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

        let state = Core {
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
            last_pointer_motion: None,
            cursor_status: CursorImageStatus::default_named(),
            frame_requested: false,
            output_damaged: false,
            frame_clock: Default::default(),
            cursor_dirty: true,
            cursor_loader: Default::default(),
            frame_blocked: false,
            host_move_resize: false,
            window_bars: false,
            work_areas: Vec::new(),
            icons_changed: Default::default(),
            config,
        };
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
}

impl State {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use smithay::utils::{Logical, Size};

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
