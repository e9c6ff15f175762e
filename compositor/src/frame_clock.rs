//! The frame clock: when frames are composed and handed to the backend, and when the apps
//! get their frame callbacks.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use smithay::desktop::utils::OutputPresentationFeedback;
use smithay::desktop::PopupManager;
use smithay::input::pointer::CursorImageStatus;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::RegistrationToken;
use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::compositor::{with_surface_tree_downward, SurfaceAttributes, TraversalAction};

use crate::state::{Core, State};
use crate::window::WindowId;

/// The frame clock: a frame when something changed, as soon as the backend may send one
/// (`State::frame_blocked`: the RDP host has not acknowledged the desktop frames it may have
/// in flight) and no sooner than the first output's refresh allows (RDP: `[rdp] max_fps`); no
/// timer at all while nothing changes.
#[derive(Default)]
pub struct FrameClock {
    armed: bool,
    last: Option<Instant>,
    /// The timer that releases held frame callbacks ([`release_frame_callbacks`]) is set.
    callbacks_armed: bool,
    /// Held until that timer: everyone's callbacks (the host took a desktop frame) ...
    held_all: bool,
    /// ... and those of these windows (it took their RemoteApp frames).
    held_windows: HashSet<WindowId>,
    /// The windows whose apps got frame callbacks and have not committed since, and when
    /// they got them.
    drawing: HashMap<WindowId, Instant>,
    /// The frame timer, while it is set.
    timer: Option<RegistrationToken>,
    /// The frame was due, and waits for apps still drawing (`FrameClock::awaited_draws`).
    postponed: bool,
    pub frames: u64,
}

impl FrameClock {
    /// These windows' apps got their frame callbacks (those of them that had asked for one).
    fn woken(&mut self, windows: Vec<WindowId>, at: Instant) {
        self.drawing.extend(windows.into_iter().map(|id| (id, at)));
    }

    /// A window committed: whatever it drew, it is not drawing any more.
    pub fn committed(&mut self, id: WindowId) {
        self.drawing.remove(&id);
    }

    /// Until when a frame that is due waits for the apps woken for it: apps woken by the same
    /// acknowledgement commit within a millisecond or two of one another, and a frame taken
    /// at the first commit would leave the others to a frame (and in RemoteApp an
    /// acknowledgement) a whole interval later, on a beat of their own from then on. An app
    /// gets `patience` from its callbacks; one that is not done by then (it draws slowly, or
    /// had nothing to draw) is waited for no longer. None when nobody is left to wait for.
    fn awaited_draws(&mut self, now: Instant, patience: Duration) -> Option<Instant> {
        self.drawing.retain(|_, woken| *woken + patience > now);
        self.drawing.values().max().map(|woken| *woken + patience)
    }
}

/// How long a due frame waits for apps still drawing at most: an eighth of the interval (2 ms
/// at 60 Hz), the time apps woken together take between them on a busy two-core machine, and
/// a fraction of what a missed frame costs them.
fn draw_patience(interval: Duration) -> Duration {
    interval / 8
}

impl State {
    /// The RemoteApp windows whose last frame the host has not acknowledged yet.
    fn windows_in_flight(&mut self) -> HashSet<WindowId> {
        self.backend.remote_mut().map_or_else(HashSet::new, |remote| remote.windows_in_flight())
    }

    /// Frame callbacks now for every visible surface but those of windows whose last frame
    /// the host has not acknowledged yet (RemoteApp): theirs come with the acknowledgement.
    pub fn send_frame_callbacks(&mut self) {
        let waiting = self.windows_in_flight();
        let time = self.started.elapsed();
        let woken = send_frame_callbacks(&self.core, time, CallbackScope::AllBut(&waiting));
        self.frame_clock.woken(woken, Instant::now());
    }

    /// Frame callbacks now for these windows' surfaces, but for none whose next frame went
    /// out meanwhile (that frame's own acknowledgement releases them).
    pub fn send_window_frame_callbacks(&mut self, windows: &HashSet<WindowId>) {
        let waiting = self.windows_in_flight();
        let ready: HashSet<WindowId> = windows.difference(&waiting).copied().collect();
        if ready.is_empty() {
            return;
        }
        let time = self.started.elapsed();
        let woken = send_frame_callbacks(&self.core, time, CallbackScope::Only(&ready));
        self.frame_clock.woken(woken, Instant::now());
    }
}

/// The host took a frame: of the desktop (`window` None), whose callbacks are everyone's, or
/// of one RemoteApp window, whose callbacks are its own. The apps get them a quarter of a
/// refresh interval before the next frame may go out, not at once. An app that draws on its
/// callback then commits just before its frame is allowed, and the frame goes out a few
/// milliseconds later; released at once, its commit would wait out most of the interval on
/// the clock (about 15 ms at 60 Hz). The quarter is the apps' time to draw: released right at
/// the moment, the first commit would take the frame and the windows drawing a little longer
/// would each need a frame (and in RemoteApp an acknowledgement) of their own. A host that
/// acknowledged late, after that moment, releases them at once. No more frames a second
/// either way.
pub fn release_frame_callbacks(state: &mut State, window: Option<WindowId>) {
    let interval = state.frame_interval();
    let now = Instant::now();
    // Within this of the moment, a timer is not worth its wakeup.
    const NEAR: Duration = Duration::from_micros(500);
    let due = state.frame_clock.last.map(|last| last + interval - interval / 4).filter(|due| *due > now + NEAR);
    let Some(due) = due else {
        match window {
            None => state.send_frame_callbacks(),
            Some(id) => state.send_window_frame_callbacks(&HashSet::from([id])),
        }
        return;
    };
    match window {
        None => state.frame_clock.held_all = true,
        Some(id) => {
            state.frame_clock.held_windows.insert(id);
        }
    }
    if state.frame_clock.callbacks_armed {
        return;
    }
    state.frame_clock.callbacks_armed = true;
    let result = state.loop_handle.insert_source(Timer::from_deadline(due), |_, _, state| {
        release_held_callbacks(state);
        TimeoutAction::Drop
    });
    if let Err(err) = result {
        tracing::error!("frame callback timer: {err}");
        release_held_callbacks(state);
    }
}

/// The callbacks [`release_frame_callbacks`] held go out. A desktop frame that went out
/// meanwhile (something else asked for one) blocks everyone's: its own acknowledgement
/// releases them, so the apps never run ahead of the host.
fn release_held_callbacks(state: &mut State) {
    state.frame_clock.callbacks_armed = false;
    let all = std::mem::take(&mut state.frame_clock.held_all);
    let windows = std::mem::take(&mut state.frame_clock.held_windows);
    if all && !state.frame_blocked {
        state.send_frame_callbacks();
    } else if !windows.is_empty() {
        state.send_window_frame_callbacks(&windows);
    }
}

/// The frame clock's part of every wakeup: armed when a frame is wanted, or a frame that
/// waits for apps still drawing goes now that the last of them has committed.
pub fn after_dispatch(state: &mut State) {
    if state.frame_requested && !state.frame_clock.armed && !state.frame_blocked {
        arm_frame_clock(state);
    } else if state.frame_clock.postponed {
        let patience = draw_patience(state.frame_interval());
        if state.frame_clock.awaited_draws(Instant::now(), patience).is_none() {
            if let Some(timer) = state.frame_clock.timer.take() {
                state.loop_handle.remove(timer);
            }
            frame_tick(state, Instant::now());
        }
    }
}

fn arm_frame_clock(state: &mut State) {
    let interval = state.frame_interval();
    let now = Instant::now();
    // The refresh is a ceiling, not a beat: a frame is due a whole interval after the last
    // *scheduled* one, or at once when that has passed (a host that acknowledged late).
    // Counting from the scheduled time keeps wakeup latency from adding up into fewer
    // frames than the ceiling; when that time is a whole interval or more in the past (an
    // idle stretch, a slow host), the schedule starts again now, so no burst makes up for
    // frames not sent.
    let deadline = match state.frame_clock.last {
        Some(last) if last + interval > now => last + interval,
        Some(last) if now - (last + interval) < interval => last + interval,
        _ => now,
    };
    state.frame_clock.armed = true;
    let result = state.loop_handle.insert_source(Timer::from_deadline(deadline), move |_, _, state| {
        // Once: apps woken meanwhile wait for the next frame.
        if !state.frame_clock.postponed {
            let patience = draw_patience(state.frame_interval());
            if let Some(until) = state.frame_clock.awaited_draws(Instant::now(), patience) {
                state.frame_clock.postponed = true;
                return TimeoutAction::ToInstant(until);
            }
        }
        state.frame_clock.timer = None;
        frame_tick(state, deadline);
        TimeoutAction::Drop
    });
    match result {
        Ok(timer) => state.frame_clock.timer = Some(timer),
        Err(err) => {
            state.frame_clock.armed = false;
            tracing::error!("frame timer: {err}");
        }
    }
}

/// The frame clock ticks: what changed goes to the backend. `scheduled`: when the frame was
/// due, which the next one counts from.
fn frame_tick(state: &mut State, scheduled: Instant) {
    state.frame_clock.armed = false;
    state.frame_clock.postponed = false;
    state.frame_requested = false;
    state.frame_clock.last = Some(scheduled);
    state.frame_clock.frames += 1;
    if crate::backend::on_frame(state) {
        state.send_frame_callbacks();
    }
}

/// Whose frame callbacks go out (see [`send_frame_callbacks`]).
#[derive(Clone, Copy, Debug)]
pub enum CallbackScope<'a> {
    /// Every surface but those of these windows: the host has not acknowledged their last
    /// frames, so their apps wait for that (RemoteApp).
    AllBut(&'a HashSet<WindowId>),
    /// Only these windows' surfaces: the host acknowledged their frames.
    Only(&'a HashSet<WindowId>),
}

impl CallbackScope<'_> {
    /// Whether a surface of this window (None: a surface of no window yet, or a cursor) gets
    /// its callbacks.
    fn includes(self, id: Option<WindowId>) -> bool {
        match (self, id) {
            (CallbackScope::AllBut(skip), Some(id)) => !skip.contains(&id),
            (CallbackScope::AllBut(_), None) => true,
            (CallbackScope::Only(only), Some(id)) => only.contains(&id),
            (CallbackScope::Only(_), None) => false,
        }
    }
}

/// Delivers frame callbacks and presentation feedback to the visible surfaces in `scope`: what
/// a backend calls when a frame was shown (a vblank of its clock, or the host's frame ack).
/// A toplevel and each of its popups are windows of their own (each has its own frames in
/// RemoteApp), so each is in or out of `scope` by its own id. Returns the windows that were
/// waiting for a callback (a surface of theirs had asked for one).
pub fn send_frame_callbacks(state: &Core, time: Duration, scope: CallbackScope<'_>) -> Vec<WindowId> {
    let mut woken = Vec::new();
    let primary = state.outputs.first().map(|o| (o.output.clone(), o.frame_interval()));
    let Some((fallback_output, fallback_refresh)) = primary else { return woken };
    for window in state.space.elements() {
        let output =
            state.space.outputs_for_element(window).into_iter().next().unwrap_or_else(|| fallback_output.clone());
        let Some(root) = crate::state::window_root(window) else { continue };
        if window.x11_surface().is_some() {
            let id = state.window_id_for_surface(&root);
            if scope.includes(id) {
                woken.extend(id.filter(|_| asked_for_frame(&root)));
                smithay::desktop::utils::send_frames_surface_tree(&root, &output, time, None, |_, _| {
                    Some(output.clone())
                });
            }
            continue;
        }
        let popups = PopupManager::popups_for_surface(&root).map(|(popup, _)| popup.wl_surface().clone());
        let surfaces: Vec<WlSurface> = std::iter::once(root).chain(popups).collect();
        let mut feedback = OutputPresentationFeedback::new(&output);
        for surface in &surfaces {
            let id = state.window_id_for_surface(surface);
            if !scope.includes(id) {
                continue;
            }
            woken.extend(id.filter(|_| asked_for_frame(surface)));
            smithay::desktop::utils::send_frames_surface_tree(surface, &output, time, None, |_, _| {
                Some(output.clone())
            });
            smithay::desktop::utils::take_presentation_feedback_surface_tree(
                surface,
                &mut feedback,
                |_, _| Some(output.clone()),
                |_, _| wp_presentation_feedback::Kind::Vsync,
            );
        }
        let refresh =
            state.outputs.iter().find(|o| o.output == output).map_or(fallback_refresh, |o| o.frame_interval());
        feedback.presented::<_, smithay::utils::Monotonic>(
            time,
            smithay::wayland::presentation::Refresh::Fixed(refresh),
            0,
            wp_presentation_feedback::Kind::Vsync,
        );
    }
    if !scope.includes(None) {
        return woken;
    }
    // Toplevels waiting for their first buffer may block on a frame callback too.
    for t in &state.toplevels {
        if t.id.is_none() && t.show != crate::window::ShowState::Minimized {
            if let Some(root) = crate::state::window_root(&t.window) {
                smithay::desktop::utils::send_frames_surface_tree(&root, &fallback_output, time, None, |_, _| {
                    Some(fallback_output.clone())
                });
            }
        }
    }
    if let CursorImageStatus::Surface(surface) = &state.cursor_status {
        smithay::desktop::utils::send_frames_surface_tree(surface, &fallback_output, time, None, |_, _| {
            Some(fallback_output.clone())
        });
    }
    woken
}

/// Whether a surface of this tree has asked for a frame callback not sent yet.
fn asked_for_frame(root: &WlSurface) -> bool {
    let asked = Cell::new(false);
    with_surface_tree_downward(
        root,
        (),
        |_, _, _| if asked.get() { TraversalAction::Break } else { TraversalAction::DoChildren(()) },
        |_, states, _| {
            if !states.cached_state.get::<SurfaceAttributes>().current().frame_callbacks.is_empty() {
                asked.set(true);
            }
        },
        |_, _, _| !asked.get(),
    );
    asked.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENCE: Duration = Duration::from_millis(2);

    #[test]
    fn callback_scopes_take_windows_by_id_and_the_rest_with_all_but() {
        let (a, b) = (WindowId(1), WindowId(2));
        let in_flight = HashSet::from([a]);
        let all_but = CallbackScope::AllBut(&in_flight);
        assert!(!all_but.includes(Some(a)), "a window in flight waits");
        assert!(all_but.includes(Some(b)));
        assert!(all_but.includes(None), "cursors and unmapped toplevels go with everyone");
        let only = CallbackScope::Only(&in_flight);
        assert!(only.includes(Some(a)));
        assert!(!only.includes(Some(b)));
        assert!(!only.includes(None), "an acknowledged window's callbacks are its own");
    }

    #[test]
    fn a_due_frame_waits_for_the_apps_woken_for_it_until_the_last_commits() {
        let mut clock = FrameClock::default();
        let t0 = Instant::now();
        assert_eq!(clock.awaited_draws(t0, PATIENCE), None, "nobody woken");
        let (a, b) = (WindowId(1), WindowId(2));
        clock.woken(vec![a], t0);
        let later = t0 + Duration::from_micros(300);
        clock.woken(vec![b], later);
        let soon = t0 + Duration::from_micros(500);
        assert_eq!(clock.awaited_draws(soon, PATIENCE), Some(later + PATIENCE), "until the last woken's patience");
        clock.committed(b);
        assert_eq!(clock.awaited_draws(soon, PATIENCE), Some(t0 + PATIENCE), "a still draws");
        clock.committed(a);
        assert_eq!(clock.awaited_draws(soon, PATIENCE), None, "both committed");
    }

    #[test]
    fn an_app_that_does_not_commit_in_time_is_waited_for_no_longer() {
        let mut clock = FrameClock::default();
        let t0 = Instant::now();
        clock.woken(vec![WindowId(1)], t0);
        assert_eq!(clock.awaited_draws(t0 + PATIENCE, PATIENCE), None, "its patience is over");
        assert!(clock.drawing.is_empty(), "forgotten");
        // A commit of a window that was never woken changes nothing.
        clock.committed(WindowId(7));
        assert_eq!(clock.awaited_draws(t0, PATIENCE), None);
    }
}
