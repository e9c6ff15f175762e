//! Xwayland's life: `--xwayland off|lazy|on`.
//!
//! - lazy (default): wayrail holds an X11 display (`wayrail_xwayland::X11Display`: lock file
//!   and sockets) from the start, so `DISPLAY` works at once. When the first X client connects,
//!   wayrail accepts it, lets the display go and starts Xwayland on the same number through
//!   smithay (which binds the same paths again); the connections accepted early are handed over
//!   through a proxy that carries bytes and file descriptors. Later clients reach Xwayland
//!   directly. When Xwayland dies, wayrail holds the display again and waits for the next client.
//! - on: Xwayland starts with the compositor and is started again when it dies.
//!
//! The X11 window manager (smithay's `X11Wm`, with wayrail's `XwmHandler` in
//! `handlers/xwayland.rs`) runs while Xwayland does.

use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use smithay::reexports::calloop::channel::{self, Sender};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{Interest, Mode, PostAction, RegistrationToken};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Client;
use smithay::xwayland::xwm::settings::Value as XSettingsValue;
use smithay::xwayland::{X11Surface, X11Wm, XWayland, XWaylandEvent};
use wayrail_xwayland::icon::IconImage;
use wayrail_xwayland::X11Display;

use smithay::wayland::selection::data_device::{clear_data_device_selection, set_data_device_selection};
use smithay::wayland::selection::primary_selection::{clear_primary_selection, set_primary_selection};
use smithay::wayland::selection::SelectionTarget;

use crate::config::XwaylandMode;
use crate::icons::X11IconSlot;
use crate::state::{x11_wl_surface, Core, LegacyWlSurface, State};

/// The state of Xwayland.
#[derive(Default)]
pub struct Xwl {
    pub mode: Option<XwaylandMode>,
    /// The display number (`DISPLAY=:n`) while X11 is enabled.
    pub display: Option<u32>,
    /// Lazy mode, before the first X client: the display we hold and its sources.
    held: Option<(X11Display, Vec<RegistrationToken>)>,
    start_queued: bool,
    /// The Xwayland instance (its event source; dropping it ends the instance).
    server: Option<RegistrationToken>,
    /// Xwayland's Wayland client.
    pub client: Option<Client>,
    /// Connections accepted before Xwayland ran, handed over once it is ready.
    early: Vec<UnixStream>,
    /// When the current Xwayland was started (or the first client connected).
    started: Option<Instant>,
    /// An X11 client owns the clipboard / the primary selection.
    pub owns_clipboard: bool,
    pub owns_primary: bool,
    /// The mime types of the selections Wayland clients hold, offered to a new Xwayland.
    pub wayland_clipboard: Option<Vec<String>>,
    pub wayland_primary: Option<Vec<String>>,
    /// Where `_NET_WM_ICON` reads (on threads) report: the X11 window and its images.
    icons: Option<Sender<(u32, Vec<IconImage>)>>,
    /// Reports icon changes after the first read.
    icon_watch: Option<(wayrail_xwayland::icon::IconWatcher, RegistrationToken)>,
    /// The scale X11 apps are given (see `State::update_xwayland_scale`).
    scale: Option<f64>,
}

/// How long an X11 app may take to close a window before it counts as hung (see
/// `wayrail_xwayland::close`).
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// When wayrail first asked an X11 window to close.
#[derive(Default)]
struct CloseRequested(std::sync::Mutex<Option<Instant>>);

impl Core {
    /// The HiDPI policy for X11 apps, recomputed from the outputs; cheap when nothing changed,
    /// so call it whenever outputs come, go or change scale.
    ///
    /// X11 has one coordinate space for all monitors, so X11 apps get one scale: the largest
    /// output's. Xwayland gets it as its client scale: it sees outputs in device pixels, its
    /// windows' X geometry is logical geometry times the scale, and its buffers are taken at
    /// that scale, so X11 apps draw at full resolution (crisp on the largest-scale output,
    /// scaled down elsewhere). Toolkits are told to scale themselves by as much: `Xft.dpi`
    /// and `Xcursor.size` in RESOURCE_MANAGER, and XSETTINGS `Xft/DPI`,
    /// `Gdk/WindowScalingFactor` (the integer part, at least 1), `Gdk/UnscaledDPI` and
    /// `Gtk/CursorThemeSize`. Apps that do neither (xterm with bitmap fonts) come out small.
    pub fn update_xwayland_scale(&mut self) {
        let scale = self.outputs.iter().map(|o| o.scale).fold(1.0_f64, f64::max);
        if self.xwl.scale == Some(scale) {
            return;
        }
        self.xwl.scale = Some(scale);
        self.apply_xwayland_scale();
    }

    /// The scale X11 apps have now.
    pub fn x11_scale(&self) -> f64 {
        self.xwl.scale.unwrap_or(1.0)
    }

    /// Gives the running Xwayland and its clients the scale of `update_xwayland_scale`.
    fn apply_xwayland_scale(&mut self) {
        let scale = self.xwl.scale.unwrap_or(1.0);
        let Some(client) = self.xwl.client.clone() else { return };
        if let Some(data) = client.get_data::<smithay::xwayland::XWaylandClientData>() {
            data.compositor_state.set_client_scale(scale);
        }
        // Xwayland learns the outputs' sizes in its pixels (xdg-output), sent again on a change.
        for o in &self.outputs {
            o.output.change_current_state(None, None, None, None);
        }
        // X11 windows keep their logical geometry; their X geometry follows the scale.
        for t in &self.toplevels {
            if let Some(x) = t.window.x11_surface().filter(|x| !x.is_override_redirect()) {
                let _ = x.configure(None);
            }
        }
        let Some(xwm) = self.xwm.as_mut() else { return };
        let dpi = (96.0 * scale).round() as i32;
        let window_scale = (scale.floor() as i32).max(1);
        let cursor = (24.0 * scale).round() as i32;
        let settings = [
            ("Xft/DPI", dpi * 1024),
            ("Gdk/WindowScalingFactor", window_scale),
            ("Gdk/UnscaledDPI", dpi * 1024 / window_scale),
            ("Gtk/CursorThemeSize", cursor),
        ];
        let settings = settings.into_iter().map(|(k, v)| (k.to_string(), XSettingsValue::Integer(v)));
        if let Err(err) = xwm.set_xsettings(settings) {
            tracing::warn!("setting XSETTINGS: {err}");
        }
        let Some(display) = self.xwl.display else { return };
        tracing::info!(scale, dpi, cursor, "X11 scale");
        let spawned = std::thread::Builder::new().name("x11-resources".into()).spawn(move || {
            if let Err(err) = wayrail_xwayland::resources::set_resources(display, dpi as u32, cursor as u32) {
                tracing::warn!("setting X resources: {err:#}");
            }
        });
        if let Err(err) = spawned {
            tracing::warn!("no thread to set X resources: {err}");
        }
    }
}

impl State {
    /// Asks an X11 window to close: WM_DELETE_WINDOW (smithay destroys windows that do not take
    /// it), and a watch that kills the client if it hangs; a request repeated after the grace
    /// period kills a client that cannot be pinged.
    pub fn close_x11_window(&mut self, x: &X11Surface) {
        x.user_data().insert_if_missing(CloseRequested::default);
        let force = {
            let mut first = x.user_data().get::<CloseRequested>().unwrap().0.lock().unwrap();
            first.get_or_insert_with(Instant::now).elapsed() >= CLOSE_GRACE
        };
        if let Err(err) = x.close() {
            tracing::warn!(window = x.window_id(), "closing an X11 window: {err}");
        }
        if let Some(display) = self.xwl.display.filter(|_| self.xwm.is_some()) {
            wayrail_xwayland::close::watch_close(display, x.window_id(), CLOSE_GRACE, force);
        }
    }

    /// Reads an X11 window's `_NET_WM_ICON` on a thread; the images land in the window's
    /// `X11IconSlot` and hosts are told its icon changed.
    pub fn request_x11_icons(&mut self, x: &X11Surface) {
        let Some(display) = self.xwl.display.filter(|_| self.xwm.is_some()) else { return };
        x.user_data().insert_if_missing_threadsafe(X11IconSlot::default);
        if self.xwl.icons.is_none() {
            let (tx, rx) = channel::channel::<(u32, Vec<IconImage>)>();
            let result = self.loop_handle.insert_source(rx, |event, _, state| {
                if let channel::Event::Msg((window, images)) = event {
                    state.x11_icons_read(window, images);
                }
            });
            if let Err(err) = result {
                tracing::warn!("X11 icon source: {}", err.error);
                return;
            }
            self.xwl.icons = Some(tx);
        }
        let tx = self.xwl.icons.clone().unwrap();
        let window = x.window_id();
        self.watch_x11_icon(display, window);
        let spawned =
            std::thread::Builder::new().name("x11-icon".into()).spawn(
                move || match wayrail_xwayland::icon::read_icons(display, window) {
                    Ok(images) if !images.is_empty() => {
                        let _ = tx.send((window, images));
                    }
                    Ok(_) => {}
                    Err(err) => tracing::debug!(window, "reading _NET_WM_ICON: {err:#}"),
                },
            );
        if let Err(err) = spawned {
            tracing::warn!("no thread to read an X11 icon: {err}");
        }
    }

    /// Reads the icon again whenever the app changes it.
    fn watch_x11_icon(&mut self, display: u32, window: u32) {
        if !self.xwl.icon_watch.as_ref().is_some_and(|(w, _)| w.is_alive()) {
            // The watcher of an Xwayland that exited goes, with its event source.
            if let Some((_, token)) = self.xwl.icon_watch.take() {
                self.loop_handle.remove(token);
            }
            let (tx, rx) = channel::channel::<u32>();
            let result = self.loop_handle.insert_source(rx, |event, _, state| {
                if let channel::Event::Msg(window) = event {
                    let x = state
                        .toplevels
                        .iter()
                        .find_map(|t| t.window.x11_surface().filter(|x| x.window_id() == window).cloned());
                    if let Some(x) = x {
                        tracing::debug!(window, "_NET_WM_ICON changed");
                        state.request_x11_icons(&x);
                    }
                }
            });
            let token = match result {
                Ok(token) => token,
                Err(err) => {
                    tracing::warn!("X11 icon watch source: {}", err.error);
                    return;
                }
            };
            let started = wayrail_xwayland::icon::IconWatcher::start(display, move |window| {
                let _ = tx.send(window);
            });
            match started {
                Ok(watcher) => self.xwl.icon_watch = Some((watcher, token)),
                Err(err) => {
                    self.loop_handle.remove(token);
                    tracing::debug!("no X11 icon watch: {err:#}");
                    return;
                }
            }
        }
        if let Some((watcher, _)) = &self.xwl.icon_watch {
            watcher.watch(window);
        }
    }

    fn x11_icons_read(&mut self, window: u32, images: Vec<IconImage>) {
        let Some(entry) =
            self.toplevels.iter().find(|t| t.window.x11_surface().is_some_and(|x| x.window_id() == window))
        else {
            return;
        };
        let x = entry.window.x11_surface().unwrap();
        if let Some(slot) = x.user_data().get::<X11IconSlot>() {
            tracing::debug!(window, sizes = ?images.iter().map(|i| (i.width, i.height)).collect::<Vec<_>>(), "X11 icon");
            *slot.0.lock().unwrap() = images;
        }
        if let Some(surface) = x11_wl_surface(x) {
            attach_x11_icon(x, &surface);
        }
        if let Some(id) = entry.id {
            self.icons_changed.insert(id);
        }
    }

    /// Sets up X11 as configured; returns the display number, if any.
    pub fn init_xwayland(&mut self, mode: XwaylandMode) -> Option<u32> {
        self.xwl.mode = Some(mode);
        if mode == XwaylandMode::Off {
            return None;
        }
        let display = match X11Display::bind_free(true) {
            Ok(d) => d,
            Err(err) => {
                tracing::error!("no X11 display for Xwayland: {err}; X11 apps will not work");
                return None;
            }
        };
        let n = display.number();
        self.xwl.display = Some(n);
        tracing::info!(display = format!(":{n}"), ?mode, "X11 display");
        match mode {
            XwaylandMode::Lazy => self.hold_display(display),
            _ => {
                drop(display);
                self.start_xwayland();
            }
        }
        Some(n)
    }

    /// Lazy mode: waits on the display's sockets for a first client.
    fn hold_display(&mut self, display: X11Display) {
        let mut tokens = Vec::new();
        for listener in display.listeners() {
            let Ok(fd) = listener.try_clone() else { continue };
            let result =
                self.loop_handle.insert_source(Generic::new(fd, Interest::READ, Mode::Level), |_, _, state| {
                    if !state.xwl.start_queued {
                        state.xwl.start_queued = true;
                        // Not from inside this source's own callback: starting removes it.
                        state.loop_handle.insert_idle(|state| state.start_xwayland());
                    }
                    Ok(PostAction::Continue)
                });
            match result {
                Ok(t) => tokens.push(t),
                Err(err) => tracing::error!("X11 socket source: {}", err.error),
            }
        }
        self.xwl.held = Some((display, tokens));
    }

    /// Starts Xwayland on our display number, handing over clients that connected early.
    pub fn start_xwayland(&mut self) {
        self.xwl.start_queued = false;
        let Some(n) = self.xwl.display else { return };
        if self.xwl.server.is_some() {
            return;
        }
        self.xwl.started = Some(Instant::now());
        let mut handed_over = None;
        if let Some((display, tokens)) = self.xwl.held.take() {
            self.xwl.early = display.accept_pending();
            for t in tokens {
                self.loop_handle.remove(t);
            }
            handed_over = Some(display.hand_over());
        }
        tracing::info!(display = format!(":{n}"), early_clients = self.xwl.early.len(), "starting Xwayland");
        let spawned = XWayland::spawn(
            &self.display_handle,
            Some(n),
            wayrail_xwayland::xwayland_env(),
            true,
            Stdio::null(),
            Stdio::null(),
            |_| {},
        );
        // Clients that reached the old socket while Xwayland's replaced it are handed over too.
        if let Some(old) = handed_over.take() {
            self.xwl.early.extend(old.accept_pending());
        }
        let (xwayland, client) = match spawned {
            Ok(x) => x,
            Err(err) => {
                tracing::error!("starting Xwayland: {err}");
                self.xwayland_gone();
                return;
            }
        };
        self.xwl.client = Some(client.clone());
        // The client scale before Xwayland looks at the outputs.
        self.xwl.scale = None;
        self.update_xwayland_scale();
        let result = self.loop_handle.insert_source(xwayland, move |event, _, state| match event {
            XWaylandEvent::Ready { x11_socket, display_number } => {
                match X11Wm::start_wm(state.loop_handle.clone(), x11_socket, client.clone()) {
                    Ok(mut wm) => {
                        // What Wayland clients hold is offered to X11 clients at once.
                        for ty in [SelectionTarget::Clipboard, SelectionTarget::Primary] {
                            if let Some(mimes) = wayland_selection_mimes(state, ty) {
                                let _ = offer_selection_to_x11(&mut wm, ty, Some(mimes));
                            }
                        }
                        state.xwm = Some(wm);
                        state.apply_xwayland_scale();
                        let ms = state.xwl.started.map_or(0, |s| s.elapsed().as_millis());
                        tracing::info!(display = format!(":{display_number}"), ms, "Xwayland is ready");
                        for stream in state.xwl.early.drain(..) {
                            if let Err(err) = wayrail_xwayland::proxy(stream, display_number) {
                                tracing::warn!("handing an early X client over: {err}");
                            }
                        }
                    }
                    Err(err) => {
                        tracing::error!("the X11 window manager could not start: {err}");
                        state.loop_handle.insert_idle(|state| state.xwayland_gone());
                    }
                }
            }
            XWaylandEvent::Error => {
                tracing::error!("Xwayland exited while starting");
                state.loop_handle.insert_idle(|state| state.xwayland_gone());
            }
        });
        match result {
            Ok(token) => self.xwl.server = Some(token),
            Err(err) => {
                tracing::error!("Xwayland source: {}", err.error);
                self.xwl.client = None;
                self.xwayland_gone();
            }
        }
    }

    /// Xwayland died (or never came up): its windows go, and X11 comes back as configured.
    pub fn xwayland_gone(&mut self) {
        let x11: Vec<_> = self.toplevels.iter().filter_map(|t| t.window.x11_surface().cloned()).collect();
        for window in x11 {
            self.remove_x11_window(&window);
        }
        self.xwm = None;
        self.xwl.early.clear();
        for ty in [SelectionTarget::Clipboard, SelectionTarget::Primary] {
            if self.x11_selection_owns(ty) {
                self.x11_selection_owned(ty, false);
                clear_selection(self, ty);
            }
        }
        if let Some(client) = self.xwl.client.take() {
            self.display_handle.backend_handle().kill_client(
                client.id(),
                smithay::reexports::wayland_server::backend::DisconnectReason::ConnectionClosed,
            );
        }
        // Dropping the instance removes its lock and socket files.
        if let Some(token) = self.xwl.server.take() {
            // The source disabled itself once Xwayland was ready; calloop warns when a disabled
            // source is removed.
            let _ = self.loop_handle.enable(&token);
            self.loop_handle.remove(token);
        }
        let Some(n) = self.xwl.display else { return };
        match self.xwl.mode {
            Some(XwaylandMode::Lazy) => match X11Display::bind(n, true) {
                Ok(display) => {
                    tracing::info!(display = format!(":{n}"), "waiting for the next X client to start Xwayland");
                    self.hold_display(display);
                }
                Err(err) => {
                    // Somebody took the number meanwhile: another one, and DISPLAY follows.
                    tracing::warn!(display = format!(":{n}"), "holding the X11 display again: {err}");
                    match X11Display::bind_free(true) {
                        Ok(display) => {
                            let n = display.number();
                            tracing::warn!(display = format!(":{n}"), "X11 moved to another display");
                            self.xwl.display = Some(n);
                            std::env::set_var("DISPLAY", format!(":{n}"));
                            self.hold_display(display);
                        }
                        Err(err) => {
                            tracing::error!("no X11 display: {err}; X11 apps will not work");
                            self.xwl.display = None;
                        }
                    }
                }
            },
            Some(XwaylandMode::On) => {
                tracing::info!("starting Xwayland again in a second");
                let result =
                    self.loop_handle.insert_source(Timer::from_duration(Duration::from_secs(1)), |_, _, state| {
                        state.start_xwayland();
                        TimeoutAction::Drop
                    });
                if let Err(err) = result {
                    tracing::error!("Xwayland restart timer: {err}");
                }
            }
            _ => {}
        }
    }

    /// At exit: Xwayland ends and the display's lock and socket files go.
    pub fn stop_xwayland(&mut self) {
        self.xwl.mode = Some(XwaylandMode::Off);
        self.xwl.display = None;
        if let Some((display, tokens)) = self.xwl.held.take() {
            for t in tokens {
                self.loop_handle.remove(t);
            }
            drop(display);
        }
        self.xwayland_gone();
    }

    /// Resolves WL_SURFACE_ID (Xwayland before 23.1) for X11 windows that have none yet, and
    /// lets those with content map. Runs after every dispatch: the X11 message and the
    /// surface's first commit come on different sockets, in either order.
    pub fn associate_x11_surfaces(&mut self) {
        let Some(client) = self.xwl.client.clone() else { return };
        let mut ready = Vec::new();
        for (index, t) in self.toplevels.iter().enumerate() {
            let Some(x) = t.window.x11_surface() else { continue };
            if t.id.is_some() || x11_wl_surface(x).is_some() {
                continue;
            }
            #[allow(deprecated)]
            let Some(id) = x.wl_surface_id() else {
                continue;
            };
            let Ok(surface) = client.object_from_protocol_id::<WlSurface>(&self.display_handle, id) else { continue };
            x.user_data().insert_if_missing(LegacyWlSurface::default);
            attach_x11_icon(x, &surface);
            *x.user_data().get::<LegacyWlSurface>().unwrap().0.lock().unwrap() = Some(surface);
            ready.push(index);
        }
        if !ready.is_empty() {
            // A frame callback the surface asked for before we knew whose it was is still
            // pending: Xwayland draws nothing more until it gets it.
            self.frame_requested = true;
        }
        for index in ready {
            self.toplevel_committed(index);
        }
    }
}

/// Shares an X11 window's icon slot with its wl_surface, where icon lookups look.
pub fn attach_x11_icon(x: &X11Surface, surface: &WlSurface) {
    let Some(slot) = x.user_data().get::<X11IconSlot>().cloned() else { return };
    smithay::wayland::compositor::with_states(surface, |states| {
        states.data_map.insert_if_missing_threadsafe(|| slot);
    });
}

/// Makes an X11 client's selection the seat's (a compositor-owned one; Wayland clients that
/// read it get `SelectionHandler::send_selection`).
pub fn set_selection(state: &mut State, ty: SelectionTarget, mime_types: Vec<String>) {
    let (dh, seat) = (state.display_handle.clone(), state.seat.clone());
    match ty {
        SelectionTarget::Clipboard => set_data_device_selection(&dh, &seat, mime_types, ()),
        SelectionTarget::Primary => set_primary_selection(&dh, &seat, mime_types, ()),
    }
}

pub fn clear_selection(state: &mut State, ty: SelectionTarget) {
    let (dh, seat) = (state.display_handle.clone(), state.seat.clone());
    match ty {
        SelectionTarget::Clipboard => clear_data_device_selection(&dh, &seat),
        SelectionTarget::Primary => clear_primary_selection(&dh, &seat),
    }
}

/// Offers a selection to X11 clients (or withdraws ours, with `None`), and sends that to the X
/// server at once. smithay's window manager only buffers the ownership change until its next
/// flush; an X11 app copying in between would take the selection first and then lose it to
/// our stale ownership (the first X11 copy after a Wayland one was lost).
pub fn offer_selection_to_x11(xwm: &mut X11Wm, ty: SelectionTarget, mimes: Option<Vec<String>>) -> anyhow::Result<()> {
    xwm.new_selection(ty, mimes)?;
    // X11Wm has no flush of its own; restacking nothing flushes and changes nothing.
    xwm.update_stacking_order_upwards(std::iter::empty::<&X11Surface>())?;
    Ok(())
}

/// A Wayland client reads the selection an X11 client owns, through
/// `wayrail_xwayland::selection` on a thread of its own: as the X11 target of that name, and
/// text also as the X11 text targets. (Not smithay's window manager: it gives only text, and
/// its INCR transfers of several megabytes stalled now and then.)
pub fn read_x11_selection(state: &mut State, ty: SelectionTarget, mime_type: String, fd: std::os::fd::OwnedFd) {
    let Some(display) = state.xwl.display.filter(|_| state.xwm.is_some()) else { return };
    let selection = match ty {
        SelectionTarget::Clipboard => wayrail_xwayland::selection::Selection::Clipboard,
        SelectionTarget::Primary => wayrail_xwayland::selection::Selection::Primary,
    };
    wayrail_xwayland::selection::read_selection(display, selection, mime_type, fd);
}

/// The mime types of the selection a Wayland client holds, if one does.
fn wayland_selection_mimes(state: &State, ty: SelectionTarget) -> Option<Vec<String>> {
    match ty {
        SelectionTarget::Clipboard => state.xwl.wayland_clipboard.clone(),
        SelectionTarget::Primary => state.xwl.wayland_primary.clone(),
    }
}
