//! `--backend rdp` (the default): the desktop served to hosts by a remoting server — RDP
//! (`wayrail-rdp`), started by the `wayrail` command and held here only as a `HostLink`.
//! The server's thread sends host events here over a calloop channel; composed frames go back
//! through a bounded queue.
//!
//! Pacing: the host acknowledges every frame (an EGFX frame ack, a VAIL present ack). A
//! desktop has at most `DESKTOP_FRAMES_IN_FLIGHT` frames in flight; in RemoteApp each window
//! has at most one, and a window whose frame is in flight stays dirty until the frame clock
//! ticks after its acknowledgement, while the other windows go on. When the host acknowledged
//! a frame, the apps (RemoteApp: that window's app) get their frame callbacks when the next
//! frame may go (`frame_clock::release_frame_callbacks`), and the frame clock
//! (`frame_clock::arm_frame_clock`) composes what changed meanwhile, no sooner than the outputs'
//! refresh allows: `[rdp] max_fps`, the client monitor's refresh as far as we know it. A
//! slow host (or a host slow to show one window) so gets fewer frames (of that window), each
//! with all the damage since the last, and slows the apps (that app) instead of growing
//! queues. The windows composed at one tick go to the RDP thread together, which sends them
//! as one frame; a frame that is due waits a moment for apps still drawing
//! (`FrameClock::awaited_draws`), so that windows woken together stay together.

use smithay::reexports::calloop::channel::{self, Channel};
use smithay::reexports::calloop::LoopHandle;
use std::collections::{HashMap, HashSet, VecDeque};

use crate::layout::PhysMonitor;
use wayrail_link::{
    CommitTimes, DesktopFrame, HostEvent, HostLink, HostMonitor, Pointer, RailCommand, SessionId, WindowFrame, Written,
};
use wayrail_rail::place;

use crate::window::{ShowState, WindowEvent, WindowId, WindowInfo, WindowKind};

use crate::cursor::CursorState;

use crate::config::Config;
use crate::input::InputEvent;
use crate::render::Composer;
use crate::state::{Core, State};

mod rail;
mod tiles;
use rail::handle_rail_event;
pub use tiles::DESKTOP_DIRECT_FRAMES;
use tiles::{direct_tiles, frame_tiles, output_direct_tiles};

/// Desktop frames the host may have unacknowledged at once, and while it streams (below). While
/// there is room, the apps get their frame callbacks as a frame leaves, else with the
/// acknowledgement that makes room. Two let the apps draw, and the compositor compose, the next
/// frame while the server encodes and the host decodes one (a full-HD animation: about a
/// fifth more frames a second on a busy two-core machine), but a commit then waits for the
/// frame ahead of it, about 10 ms more from commit to wire. So two only while the desktop
/// streams: frame after frame changes a large part of it, and the host acknowledges each
/// later than the next was due, so that the acknowledgements hold the frames back. Typing, a
/// small animation, an animation the host keeps up with: one, and no wait.
const DESKTOP_FRAMES_IN_FLIGHT: usize = 1;
const STREAMING_FRAMES_IN_FLIGHT: usize = 2;

/// Large frames acknowledged late in a row after which the desktop streams.
const STREAMING_AFTER: u32 = 6;

/// A desktop frame the host has not acknowledged yet.
struct InFlight {
    number: u64,
    sent: std::time::Instant,
    /// It changed a quarter of the desktop or more.
    large: bool,
}

/// evdev codes of the lock keys, to bring xkb's locks in line with the host's.
const KEY_CAPSLOCK: u32 = 58;
const KEY_NUMLOCK: u32 = 69;

/// What a frame the host acknowledged was.
enum FrameDone {
    Desktop,
    Window(WindowId),
}

pub struct Remote {
    link: Box<dyn HostLink>,
    session: Option<SessionId>,
    /// The desktop frames the host has not acknowledged yet, oldest first.
    desktop_in_flight: VecDeque<InFlight>,
    /// Large desktop frames acknowledged late, about how many in a row (`STREAMING_AFTER`).
    desktop_pressure: u32,
    next_frame: u64,
    last_pointer: Option<Pointer>,
    /// The session is RemoteApp: windows go to the host one by one.
    remote_app: bool,
    /// Each RemoteApp window's frame the host has not acknowledged yet: one a window at most.
    window_frames_in_flight: HashMap<WindowId, u64>,
    /// Windows with content the host has not seen (those with a frame in flight included:
    /// they go after its acknowledgement).
    dirty: HashSet<WindowId>,
    /// The app id whose icon each window's host window shows.
    icons_sent: HashMap<WindowId, String>,
    icons: crate::icons::IconLoader,
    /// What the RemoteApp host said it can do.
    host: place::HostAbilities,
    /// The scale the host's cursor image was made for.
    cursor_scale: f64,
    /// The RemoteApp host scales window images to their windows (else they must fit exactly).
    scaled_windows: bool,
    /// Window pixels go through shared memory (VAIL) in this session, else EGFX.
    shared_memory: bool,
}

impl Remote {
    /// The RemoteApp windows whose last frame the host has not acknowledged yet: their apps'
    /// frame callbacks wait for it.
    pub fn windows_in_flight(&self) -> HashSet<WindowId> {
        self.window_frames_in_flight.keys().copied().collect()
    }

    /// The host is done with `frame`: it is no longer in flight. None when no frame in flight
    /// has that number (never sent, or forgotten: its window went, or its session).
    /// `interval`: the frame clock's; an acknowledgement later than that after the frame left
    /// held the next frame back.
    fn frame_done(&mut self, frame: u64, interval: std::time::Duration) -> Option<FrameDone> {
        if let Some(i) = self.desktop_in_flight.iter().position(|f| f.number == frame) {
            let done = self.desktop_in_flight.remove(i)?;
            let late = done.sent.elapsed() > interval;
            // Up while large frames come back late, down (slowly, so that an animation at the
            // edge does not flap) while they come back in time, and gone with a small one.
            self.desktop_pressure = match (done.large, late) {
                (true, true) => (self.desktop_pressure + 1).min(2 * STREAMING_AFTER),
                (true, false) => self.desktop_pressure.saturating_sub(1),
                (false, _) => 0,
            };
            return Some(FrameDone::Desktop);
        }
        let id = self.window_frames_in_flight.iter().find(|(_, f)| **f == frame).map(|(id, _)| *id)?;
        self.window_frames_in_flight.remove(&id);
        Some(FrameDone::Window(id))
    }

    /// How many desktop frames the host may have unacknowledged now.
    fn desktop_frames_allowed(&self) -> usize {
        if self.desktop_pressure >= STREAMING_AFTER {
            STREAMING_FRAMES_IN_FLIGHT
        } else {
            DESKTOP_FRAMES_IN_FLIGHT
        }
    }

    /// Nothing in flight is waited for any more (a new session, or none).
    fn forget_frames(&mut self) {
        self.desktop_in_flight.clear();
        self.desktop_pressure = 0;
        self.window_frames_in_flight.clear();
    }

    pub fn listening(&self) -> &[String] {
        self.link.listening()
    }

    /// How window pixels reach the connected host: "vail", "egfx", or "desktop" (a full
    /// desktop session); None without a session.
    pub fn transport(&self) -> Option<&'static str> {
        self.session?;
        Some(match (self.remote_app, self.shared_memory) {
            (false, _) => "desktop",
            (true, true) => "vail",
            (true, false) => "egfx",
        })
    }

    /// The link's counters since it started.
    pub fn stats(&self) -> wayrail_link::LinkStats {
        self.link.stats()
    }
}

/// Starts the remoting server for a config; what the host does goes to the sender.
pub type StartRemote = Box<dyn FnOnce(&Config, channel::Sender<HostEvent>) -> anyhow::Result<Box<dyn HostLink>>>;

pub fn init(
    handle: &LoopHandle<'static, State>,
    state: &mut State,
    start: StartRemote,
) -> anyhow::Result<super::Backend> {
    // RemoteApp sessions follow the window model's change events.
    state.windows.subscribe();
    let (tx, rx): (channel::Sender<HostEvent>, Channel<HostEvent>) = channel::channel();
    let link = start(&state.config, tx)?;
    let fps = state.config.rdp.max_fps();
    set_refresh(state, fps);
    state.clipboard.connect(link.clipboard());
    handle
        .insert_source(rx, |event, _, state| {
            if let channel::Event::Msg(event) = event {
                handle_host_event(state, event);
            }
        })
        .map_err(|e| anyhow::anyhow!("RDP events: {}", e.error))?;
    Ok(super::Backend::Remote(Box::new(Remote {
        link,
        session: None,
        desktop_in_flight: VecDeque::new(),
        desktop_pressure: 0,
        next_frame: 1,
        last_pointer: None,
        remote_app: false,
        window_frames_in_flight: HashMap::new(),
        dirty: HashSet::new(),
        icons_sent: HashMap::new(),
        icons: Default::default(),
        host: Default::default(),
        cursor_scale: 1.0,
        scaled_windows: true,
        shared_memory: false,
    })))
}

/// The host's monitors refresh `fps` times a second as the frame clock and the apps see it
/// (outputs made for more monitors later take the first one's refresh).
fn set_refresh(state: &mut Core, fps: u32) {
    let mhz = (fps * 1000) as i32;
    for o in &mut state.outputs {
        let old = o.output.current_mode();
        let mode = smithay::output::Mode { size: o.physical_size.into(), refresh: mhz };
        o.output.change_current_state(Some(mode), None, None, None);
        o.output.set_preferred(mode);
        if let Some(old) = old.filter(|m| *m != mode) {
            o.output.delete_mode(old);
        }
        o.refresh_mhz = mhz;
    }
}

/// The remote backend's own state beside the core; host events arrive only while it runs.
fn rdp_of(state: &mut State) -> Option<(&mut Remote, &mut Core)> {
    let State { core, backend, .. } = state;
    backend.remote_mut().map(|rdp| (rdp, core))
}

/// Pointer coordinates (relative to the top-left of the host's monitors' bounding box) →
/// the global logical space, through the monitor under the point.
fn to_logical(state: &Core, x: u16, y: u16) -> (f64, f64) {
    let desktop = state.host_desktop();
    state.host_to_logical(desktop.x as f64 + x as f64, desktop.y as f64 + y as f64)
}

/// The host's monitors as outputs.
fn apply_monitors(state: &mut State, monitors: &[HostMonitor]) {
    state.set_host_layout(&phys_monitors(monitors));
}

/// The host's monitors as the layout takes them: host pixels and a scale.
pub fn phys_monitors(monitors: &[HostMonitor]) -> Vec<PhysMonitor> {
    monitors
        .iter()
        .map(|m| PhysMonitor {
            rect: crate::window::Rect::new(m.x, m.y, m.width as i32, m.height as i32),
            scale: m.scale as f64 / 100.0,
            primary: m.primary,
        })
        .collect()
}

fn full_refresh(state: &mut Core, composer: &mut Composer) {
    for o in &state.outputs {
        composer.forget_output(&o.name);
    }
    state.output_damaged = true;
    state.frame_requested = true;
}

fn handle_host_event(state: &mut State, event: HostEvent) {
    match event {
        HostEvent::Connected { session, width, height, keyboard_layout, remote_app, monitors } => {
            tracing::info!(session, width, height, remote_app, monitors = monitors.len(), "RDP client connected");
            if let Some((rdp, _)) = rdp_of(state) {
                rdp.session = Some(session);
                rdp.forget_frames();
                rdp.last_pointer = None;
                rdp.remote_app = remote_app;
                rdp.scaled_windows = true;
                rdp.shared_memory = false;
                rdp.icons_sent.clear();
                rdp.dirty.clear();
            }
            state.window_bars = remote_app;
            state.cursor_dirty = true;
            apply_monitors(state, &monitors);
            if state.config.keyboard.layout.is_empty() {
                match wayrail_link::klid_to_xkb(keyboard_layout) {
                    Some((layout, variant)) => {
                        if let Err(err) = state.set_keymap(layout, variant) {
                            tracing::warn!("{err:#}");
                        }
                    }
                    None => tracing::warn!(
                        klid = format!("{keyboard_layout:#x}"),
                        "unknown keyboard layout; set keyboard.layout in the config"
                    ),
                }
            }
            state.frame_blocked = false;
            full_refresh(&mut state.core, &mut state.composer);
            if remote_app {
                if let Some((rdp, core)) = rdp_of(state) {
                    announce_all_windows(rdp, core);
                }
            }
            crate::clipboard::on_connected(state);
        }
        HostEvent::Disconnected { session, reason } => {
            tracing::info!(session, %reason, "RDP client gone; apps keep running");
            if let Some((rdp, _)) = rdp_of(state) {
                if rdp.session == Some(session) {
                    rdp.session = None;
                    rdp.forget_frames();
                    rdp.remote_app = false;
                }
            }
            crate::clipboard::on_disconnected(state, session);
            state.host_move_resize = false;
            state.window_bars = false;
            state.work_areas.clear();
            state.frame_blocked = false;
            state.send_frame_callbacks();
        }
        HostEvent::Key { code, pressed } => state.handle_input(InputEvent::Key { code, pressed }),
        HostEvent::Text { text } => state.type_text(&text),
        HostEvent::Synchronize { caps_lock, num_lock, .. } => sync_locks(state, caps_lock, num_lock),
        HostEvent::PointerMotion { x, y } => {
            let (x, y) = to_logical(state, x, y);
            state.handle_input(InputEvent::PointerMotion { x, y });
        }
        HostEvent::PointerButton { button, pressed } => {
            state.handle_input(InputEvent::PointerButton { button, pressed })
        }
        HostEvent::Wheel { vertical_v120, horizontal_v120 } => {
            state.handle_input(InputEvent::PointerAxis { vertical_v120, horizontal_v120 })
        }
        HostEvent::Layout { monitors } => {
            apply_monitors(state, &monitors);
            state.cursor_dirty = true;
            full_refresh(&mut state.core, &mut state.composer);
        }
        HostEvent::Refresh => full_refresh(&mut state.core, &mut state.composer),
        HostEvent::RefreshWindow { window } => {
            let id = WindowId(window);
            state.composer.forget_window(id);
            if let Some((rdp, _)) = rdp_of(state) {
                rdp.dirty.insert(id);
            }
            state.frame_requested = true;
        }
        HostEvent::Rail(event) => handle_rail_event(state, event),
        HostEvent::WindowPlaced { window, client, resized } => {
            let id = WindowId(window);
            let host = crate::window::Rect::new(client.x, client.y, client.width as i32, client.height as i32);
            // Into logical space through the monitor the window now mostly is on.
            let Some(output) = state.output_for_host_rect(host) else { return };
            let logical = crate::remote::content_of_frame(state, id, output.host_to_logical_rect(host));
            let old = state.windows.get(id).map(|w| (w.width, w.height));
            state.move_window(id, logical.x, logical.y);
            if resized && old != Some((logical.width, logical.height)) && logical.width > 0 && logical.height > 0 {
                state.request_size(id, logical.width, logical.height);
            }
        }
        HostEvent::WindowMapping { scaled } => {
            let Some((rdp, core)) = rdp_of(state) else { return };
            if std::mem::replace(&mut rdp.scaled_windows, scaled) != scaled {
                tracing::info!(scaled, "RemoteApp host: scaling of window images");
                announce_all_windows(rdp, core);
                core.frame_requested = true;
            }
        }
        HostEvent::WindowTransport { shared_memory } => {
            let Some((rdp, _)) = rdp_of(state) else { return };
            tracing::info!(shared_memory, "RemoteApp window pixels");
            rdp.shared_memory = shared_memory;
        }
        HostEvent::Clipboard(event) => crate::clipboard::handle_host_event(state, event),
        HostEvent::FrameDone { frame } => {
            let Some((rdp, core)) = rdp_of(state) else { return };
            match rdp.frame_done(frame, core.frame_interval()) {
                Some(FrameDone::Desktop) => {
                    // The apps got their callbacks with the frame unless it blocked the clock.
                    if std::mem::replace(&mut state.frame_blocked, false) {
                        crate::frame_clock::release_frame_callbacks(state, None);
                    }
                }
                Some(FrameDone::Window(id)) => {
                    // What it drew meanwhile goes with the next tick.
                    if rdp.dirty.contains(&id) {
                        core.frame_requested = true;
                    }
                    crate::frame_clock::release_frame_callbacks(state, Some(id));
                }
                None => tracing::debug!(frame, "an acknowledgement of no frame in flight"),
            }
        }
    }
}

/// Taps Caps Lock / Num Lock where xkb's lock state differs from the host's.
fn sync_locks(state: &mut State, caps_lock: bool, num_lock: bool) {
    let Some(keyboard) = state.seat.get_keyboard() else { return };
    let mods = keyboard.modifier_state();
    for (want, have, code) in [(caps_lock, mods.caps_lock, KEY_CAPSLOCK), (num_lock, mods.num_lock, KEY_NUMLOCK)] {
        if want != have {
            state.handle_input(InputEvent::Key { code, pressed: true });
            state.handle_input(InputEvent::Key { code, pressed: false });
        }
    }
}

/// Follows the window model (RemoteApp) and sends the cursor when it changed.
pub fn after_dispatch(rdp: &mut Remote, state: &mut Core, composer: &mut Composer) {
    let events: Vec<WindowEvent> = state.windows.drain_events().collect();
    let icon_changes: Vec<WindowId> = state.icons_changed.drain().collect();
    if rdp.remote_app && rdp.session.is_some() {
        for id in icon_changes {
            if let Some(info) = state.windows.get(id).cloned() {
                send_icons(rdp, state, &info);
            }
        }
        for event in events {
            match event {
                WindowEvent::Created(info)
                | WindowEvent::MetadataChanged(info)
                | WindowEvent::GeometryChanged(info)
                | WindowEvent::StateChanged(info) => {
                    if info.state == ShowState::Minimized {
                        // A host need not show (nor acknowledge) a minimized window's frame:
                        // it waits for none, so that it goes on when the window comes back.
                        rdp.window_frames_in_flight.remove(&info.id);
                    }
                    // A title bar in the image shows the title and the window's state.
                    if state.image_bar(info.id).is_some() {
                        rdp.dirty.insert(info.id);
                    }
                    upsert_window(rdp, state, &info)
                }
                WindowEvent::Damaged { id, .. } => {
                    rdp.dirty.insert(id);
                }
                WindowEvent::StackingChanged { order, active } => {
                    // Title bars show which window is active.
                    rdp.dirty.extend(order.iter().copied().filter(|id| state.image_bar(*id).is_some()));
                    rdp.link.send_rail(RailCommand::Stacking {
                        top_first: order.iter().rev().map(|id| id.0).collect(),
                        active: active.map(|id| id.0),
                    })
                }
                WindowEvent::MoveResizeRequested { id, edges, x, y } => {
                    // The host drags the window natively (with its snapping) and reports the
                    // final rectangle with a WindowMove.
                    let (x, y) = (x.round() as i32, y.round() as i32);
                    let at = state.output_at(x as f64, y as f64).or(state.outputs.first()).map_or((x, y), |o| {
                        let p = o.logical_to_host(crate::window::Rect::new(x, y, 0, 0));
                        (p.x, p.y)
                    });
                    rdp.link.send_rail(RailCommand::LocalMoveSize { window: id.0, edges, x: at.0, y: at.1 });
                }
                WindowEvent::MoveResizeEnded(id) => {
                    if let Some(desc) = state.windows.get(id).and_then(|w| crate::remote::describe(state, w)) {
                        let (x, y) = (desc.client.x, desc.client.y);
                        rdp.link.send_rail(RailCommand::EndLocalMoveSize { window: id.0, x, y });
                    }
                }
                WindowEvent::Destroyed(id) => {
                    rdp.dirty.remove(&id);
                    rdp.window_frames_in_flight.remove(&id);
                    rdp.icons_sent.remove(&id);
                    rdp.link.send_rail(RailCommand::Remove(id.0));
                    composer.forget_window(id);
                }
            }
        }
    }
    // The cursor image at the physical size of the monitor it is on: again when the pointer
    // crosses onto a monitor of another scale.
    let (px, py) = (state.pointer_location.x, state.pointer_location.y);
    let scale = state.output_at(px, py).or(state.outputs.first()).map_or(1.0, |o| o.scale);
    if (!state.cursor_dirty && scale == rdp.cursor_scale) || rdp.session.is_none() {
        return;
    }
    state.cursor_dirty = false;
    rdp.cursor_scale = scale;
    let cursor = crate::cursor::current(&state.cursor_status, &mut state.cursor_loader, composer, scale);
    let pointer = match cursor {
        CursorState::Hidden => Pointer::Hidden,
        CursorState::Image(image) => Pointer::Image {
            width: image.width.min(u16::MAX as u32) as u16,
            height: image.height.min(u16::MAX as u32) as u16,
            hot_x: image.hot_x as u16,
            hot_y: image.hot_y as u16,
            bgra: image.bgra.clone(),
        },
    };
    if rdp.last_pointer.as_ref() != Some(&pointer) {
        rdp.link.set_pointer(pointer.clone());
        rdp.last_pointer = Some(pointer);
    }
}

/// The frame clock ticked: compose the output and hand the damage to the host. Returns
/// whether frame callbacks go out now (false while the host has as many desktop frames to
/// acknowledge as it may have; RemoteApp windows with a frame in flight get none either way).
pub fn on_frame(rdp: &mut Remote, state: &mut Core, composer: &mut Composer) -> bool {
    if rdp.session.is_none() {
        return true;
    }
    if rdp.remote_app {
        window_frames(rdp, state, composer);
        return true;
    }
    if rdp.desktop_in_flight.len() >= rdp.desktop_frames_allowed() {
        return false;
    }
    // Every output, each at its scale, where its monitor is on the host's desktop.
    let desktop = state.host_desktop();
    let mut tiles = Vec::new();
    let places: Vec<(String, i32, i32)> =
        state.outputs.iter().map(|o| (o.name.clone(), o.host_rect.x - desktop.x, o.host_rect.y - desktop.y)).collect();
    for (name, dx, dy) in places {
        let output = match output_direct_tiles(composer, state, &name) {
            Some(direct) => direct,
            None => match composer.render_output(state, &name) {
                Ok(frame) => frame_tiles(&frame),
                Err(err) => {
                    tracing::error!(output = name, "composing the desktop: {err:#}");
                    continue;
                }
            },
        };
        tiles.extend(output.into_iter().map(|mut t| {
            t.x = (t.x as i32 + dx).clamp(0, u16::MAX as i32) as u16;
            t.y = (t.y as i32 + dy).clamp(0, u16::MAX as i32) as u16;
            t
        }));
    }
    if tiles.is_empty() {
        return true;
    }
    let frame =
        DesktopFrame { frame: rdp.next_frame, width: desktop.width as u16, height: desktop.height as u16, tiles };
    let number = frame.frame;
    let changed: u64 = frame.tiles.iter().map(|t| u64::from(t.width) * u64::from(t.height)).sum();
    let large = changed * 4 >= u64::from(frame.width) * u64::from(frame.height);
    if rdp.link.send_frame(frame) {
        rdp.next_frame += 1;
        rdp.desktop_in_flight.push_back(InFlight { number, sent: std::time::Instant::now(), large });
        rdp.desktop_in_flight.len() < rdp.desktop_frames_allowed()
    } else {
        tracing::warn!("the RDP thread is behind; frame dropped");
        full_refresh(state, composer);
        true
    }
}

// ------------------------------------------------------------------ RemoteApp

/// Tells the host what a window is now (the session sends only what changed).
fn upsert_window(rdp: &mut Remote, state: &Core, info: &WindowInfo) {
    let Some(desc) = crate::remote::describe(state, info) else { return };
    rdp.link.send_rail(RailCommand::Upsert(place::remote_window(&desc, rdp.scaled_windows)));
    if info.kind == WindowKind::Toplevel && rdp.icons_sent.get(&info.id) != Some(&info.app_id) {
        send_icons(rdp, state, info);
    }
}

/// The small (caption) and big (taskbar) icons of a toplevel, when it has any.
fn send_icons(rdp: &mut Remote, state: &Core, info: &WindowInfo) {
    let Some(surface) = state.toplevel_by_id(info.id).and_then(|t| crate::state::window_root(&t.window)) else {
        return;
    };
    rdp.icons_sent.insert(info.id, info.app_id.clone());
    let (small, big) = rdp.host.icon_sizes();
    for (size, is_big) in [(small, false), (big, true)] {
        if let Some(icon) = rdp.icons.for_toplevel(&surface, &info.app_id, size) {
            rdp.link.send_rail(RailCommand::Icon {
                window: info.id.0,
                big: is_big,
                size: icon.size as u16,
                bgra: icon.bgra,
            });
        }
    }
}

/// A new RemoteApp session gets every window, the z-order and the active window.
fn announce_all_windows(rdp: &mut Remote, state: &Core) {
    let infos: Vec<WindowInfo> = state.windows.iter().cloned().collect();
    for info in &infos {
        upsert_window(rdp, state, info);
        rdp.dirty.insert(info.id);
    }
    rdp.link.send_rail(RailCommand::Stacking {
        top_first: state.windows.stacking().iter().rev().map(|id| id.0).collect(),
        active: state.windows.active().map(|id| id.0),
    });
}

/// Sends what changed in each dirty window whose last frame the host acknowledged; the others
/// stay dirty.
fn window_frames(rdp: &mut Remote, state: &mut Core, composer: &mut Composer) {
    let ready: Vec<WindowId> =
        rdp.dirty.iter().filter(|id| !rdp.window_frames_in_flight.contains_key(id)).copied().collect();
    let tick = std::time::Instant::now();
    let mut round = Vec::with_capacity(ready.len());
    for id in ready {
        rdp.dirty.remove(&id);
        let committed = state.windows.take_commit_time(id).map(|committed| CommitTimes { committed, tick });
        let Some(desc) = state.windows.get(id).and_then(|w| crate::remote::describe(state, w)) else { continue };
        let scale = desc.image_scale(rdp.scaled_windows);
        // VAIL: a window that is one shared-memory buffer goes from it into its pool as it is.
        let pool = if rdp.shared_memory { rdp.link.window_pool(id.0) } else { None };
        let written = pool.and_then(|pool| {
            let rects = composer.write_window_direct(state, id, scale, &*pool)?;
            Some(Written { pool: pool.serial(), rects })
        });
        // EGFX: a window that is one buffer goes from it as tiles, uncomposed, the same way.
        let direct_tiles = if rdp.shared_memory { None } else { direct_tiles(composer, state, id, scale) };
        let (tiles, written) = match (written, direct_tiles) {
            (Some(written), _) if written.rects.is_empty() => continue,
            (Some(written), _) => (Vec::new(), Some(written)),
            (None, Some(tiles)) if tiles.is_empty() => continue,
            (None, Some(tiles)) => (tiles, None),
            (None, None) => match composer.render_window(state, id, scale) {
                Ok(Some((frame, _origin))) => (frame_tiles(&frame), None),
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(%id, "composing a window: {err:#}");
                    continue;
                }
            },
        };
        if tiles.is_empty() && written.is_none() {
            continue;
        }
        let number = rdp.next_frame;
        rdp.next_frame += 1;
        round.push((id, WindowFrame { window: id.0, frame: number, tiles, written, committed }));
    }
    // The round goes to the RDP thread at once, when every window of it is composed: there
    // it becomes one frame for the client, which the client acknowledges once. Sent as each
    // is composed, the first would leave on its own, be acknowledged on its own, and its app
    // would draw on a beat of its own from then on.
    for (id, frame) in round {
        let number = frame.frame;
        if rdp.link.send_window_frame(frame) {
            rdp.window_frames_in_flight.insert(id, number);
        } else {
            tracing::warn!(%id, "the RDP thread is behind; window frame dropped");
            composer.forget_window(id);
            rdp.dirty.insert(id);
        }
    }
}
