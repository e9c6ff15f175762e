//! The input API every backend uses: keys by evdev code, an absolute pointer in the global
//! logical space, buttons by evdev code, and wheel steps in v120 units.

use smithay::backend::input::{Axis, AxisSource, ButtonState, KeyState};
use smithay::input::keyboard::{FilterResult, Keycode};
use smithay::input::pointer::{AxisFrame, ButtonEvent, MotionEvent};
use smithay::utils::{Logical, Point, SERIAL_COUNTER};

use crate::state::{surface_under, State};

/// evdev button codes (linux/input-event-codes.h).
pub const BTN_LEFT: u32 = 0x110;
pub const BTN_RIGHT: u32 = 0x111;
pub const BTN_MIDDLE: u32 = 0x112;
pub const BTN_SIDE: u32 = 0x113;
pub const BTN_EXTRA: u32 = 0x114;

/// One wheel notch in v120 units.
pub const V120_NOTCH: i32 = 120;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputEvent {
    /// A key by its evdev code (KEY_A = 30, ...).
    Key { code: u32, pressed: bool },
    /// The pointer moved to a point of the global logical space.
    PointerMotion { x: f64, y: f64 },
    /// A button by its evdev code (BTN_LEFT, ...).
    PointerButton { button: u32, pressed: bool },
    /// Wheel steps in v120 units; positive is down / right.
    PointerAxis { vertical_v120: i32, horizontal_v120: i32 },
}

impl State {
    /// Feeds one input event to the focused client, with click-to-focus.
    pub fn handle_input(&mut self, event: InputEvent) {
        let time = self.started.elapsed().as_millis() as u32;
        match event {
            InputEvent::Key { code, pressed } => {
                // Keys come after the text that waits for keys to be free (see `type_text`).
                if !self.key_waits(code, pressed) {
                    self.send_key(code, pressed);
                }
            }
            InputEvent::PointerMotion { x, y } => {
                let pos = self.clamp_to_outputs((x, y).into());
                self.pointer_location = pos;
                let Some(pointer) = self.seat.get_pointer() else { return };
                self.reveal_bars(pos);
                // Over a title bar no app has the pointer.
                let under = if self.pointer_over_decoration(pos) { None } else { surface_under(self, pos) };
                // RDP clients repeat the position with every button, so a click arrives as
                // move, press, move, release at one spot. A motion that changes nothing is not
                // sent: apps read motion with a button held as the start of a drag (Firefox
                // then starts a selection drag on a double-click and drops the keys after it),
                // and libinput never reports one either.
                let target = Some((pos, under.clone()));
                if self.last_pointer_motion == target && pointer.current_location() == pos {
                    return;
                }
                self.last_pointer_motion = target;
                let event = MotionEvent { location: pos, serial: SERIAL_COUNTER.next_serial(), time };
                pointer.motion(self, under.clone(), &event);
                if pointer.current_location() != pos {
                    // A grab that had ended (a popup dismissed meanwhile) swallows the motion
                    // that removes it and restores focus at the old location: send it again.
                    pointer.motion(self, under, &event);
                }
                pointer.frame(self);
            }
            InputEvent::PointerButton { button, pressed } => {
                let Some(pointer) = self.seat.get_pointer() else { return };
                let serial = SERIAL_COUNTER.next_serial();
                tracing::debug!(button, pressed, grabbed = pointer.is_grabbed(), at = ?self.pointer_location, "pointer button");
                if pressed && !pointer.is_grabbed() && self.press_on_decoration(button, serial) {
                    // Taken by a title bar or resize band; its grab holds the button.
                } else if pressed && !pointer.is_grabbed() {
                    // Click to focus: the toplevel under the pointer is raised and focused.
                    // Not override-redirect X11 windows (menus): they never take the focus.
                    let target = crate::state::window_under(self, self.pointer_location)
                        .filter(|(w, _)| !w.x11_surface().is_some_and(|x| x.is_override_redirect()))
                        .and_then(|(w, _)| crate::state::window_root(&w))
                        .and_then(|s| self.window_id_for_surface(&s));
                    if target.is_some() && target != self.windows.active() {
                        self.focus_window(target);
                    }
                }
                let state = if pressed { ButtonState::Pressed } else { ButtonState::Released };
                pointer.button(self, &ButtonEvent { button, state, serial, time });
                pointer.frame(self);
            }
            InputEvent::PointerAxis { vertical_v120, horizontal_v120 } => {
                let Some(pointer) = self.seat.get_pointer() else { return };
                let mut frame = AxisFrame::new(time).source(AxisSource::Wheel);
                // 15 logical units per notch, as libinput reports for wheels.
                for (axis, v120) in [(Axis::Vertical, vertical_v120), (Axis::Horizontal, horizontal_v120)] {
                    if v120 != 0 {
                        frame = frame.v120(axis, v120).value(axis, v120 as f64 * 15.0 / 120.0);
                    }
                }
                pointer.axis(self, frame);
                pointer.frame(self);
            }
        }
    }

    /// A key by its evdev code to the focused client, now.
    fn send_key(&mut self, code: u32, pressed: bool) {
        let time = self.started.elapsed().as_millis() as u32;
        let Some(keyboard) = self.seat.get_keyboard() else { return };
        let state = if pressed { KeyState::Pressed } else { KeyState::Released };
        keyboard.input::<(), _>(self, Keycode::new(code + 8), state, SERIAL_COUNTER.next_serial(), time, |_, _, _| {
            FilterResult::Forward
        });
    }

    /// Keeps the pointer on some output, so it never gets lost in a gap between monitors.
    fn clamp_to_outputs(&self, pos: Point<f64, Logical>) -> Point<f64, Logical> {
        if self.outputs.is_empty() || self.output_at(pos.x, pos.y).is_some() {
            return pos;
        }
        let mut best: Option<(f64, Point<f64, Logical>)> = None;
        for o in &self.outputs {
            let r = o.logical_rect();
            let x = pos.x.clamp(r.x as f64, (r.x + r.width) as f64 - 1.0);
            let y = pos.y.clamp(r.y as f64, (r.y + r.height) as f64 - 1.0);
            let d = (x - pos.x).powi(2) + (y - pos.y).powi(2);
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, (x, y).into()));
            }
        }
        best.map_or(pos, |(_, p)| p)
    }
}

/// evdev codes of the modifiers used to type characters.
const KEY_LEFTSHIFT: u32 = 42;
const KEY_RIGHTALT: u32 = 100;

/// How to type one character with the current keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStroke {
    pub code: u32,
    pub shift: bool,
    pub altgr: bool,
}

impl State {
    /// Delivers text from the host (unicode key events, IMEs): committed through
    /// text-input-v3 when the focused client uses it, else typed as keys of the current
    /// keymap, where a character the layout lacks gets a key of its own for a while (see
    /// [`crate::keymap`]; when no key is left, the rest waits a moment). Characters without a
    /// keysym are logged and skipped.
    pub fn type_text(&mut self, text: &str) {
        use smithay::wayland::text_input::TextInputSeat;
        if self.typing_paused(text) {
            return;
        }
        let text_input = self.seat.text_input().clone();
        let mut committed = false;
        text_input.with_active_text_input(|ti, _| {
            ti.commit_string(Some(text.to_string()));
            committed = true;
        });
        if committed {
            text_input.done(false);
            return;
        }
        for (at, ch) in text.char_indices() {
            let stroke = match self.key_stroke_for(ch) {
                Some(stroke) => Some(stroke),
                None => match self.add_key_for(ch) {
                    Ok(stroke) => Some(stroke),
                    Err(crate::keymap::NoKey::AllTaken) => {
                        self.pause_typing(&text[at..]);
                        return;
                    }
                    Err(crate::keymap::NoKey::Impossible) => None,
                },
            };
            match stroke {
                Some(stroke) => {
                    let mods: Vec<u32> = [(stroke.shift, KEY_LEFTSHIFT), (stroke.altgr, KEY_RIGHTALT)]
                        .into_iter()
                        .filter_map(|(on, code)| on.then_some(code))
                        .collect();
                    for &m in &mods {
                        self.send_key(m, true);
                    }
                    self.send_key(stroke.code, true);
                    self.send_key(stroke.code, false);
                    for &m in mods.iter().rev() {
                        self.send_key(m, false);
                    }
                    self.keep_added_keys();
                }
                None => tracing::debug!(?ch, "no key can type this character; skipped"),
            }
        }
    }

    /// Finds a key (and Shift/AltGr) of the active keymap that produces `ch`.
    pub fn key_stroke_for(&mut self, ch: char) -> Option<KeyStroke> {
        use smithay::input::keyboard::xkb;
        let keyboard = self.seat.get_keyboard()?;
        let wanted = xkb::utf32_to_keysym(ch as u32);
        if wanted.raw() == 0 {
            return None;
        }
        keyboard.with_xkb_state(self, |ctx| {
            let xkb_guard = ctx.xkb().lock().unwrap();
            let layout = xkb_guard.active_layout().0;
            // SAFETY: the keymap reference does not outlive this callback.
            let keymap = unsafe { xkb_guard.keymap() };
            let mut probe = xkb::State::new(keymap);
            let shift = 1u32 << keymap.mod_get_index(xkb::MOD_NAME_SHIFT);
            let level3 = keymap.mod_get_index("Mod5");
            let altgr = if level3 == xkb::MOD_INVALID { 0 } else { 1u32 << level3 };
            for (mods, is_shift, is_altgr) in
                [(0, false, false), (shift, true, false), (altgr, false, true), (shift | altgr, true, true)]
            {
                if is_altgr && altgr == 0 {
                    continue;
                }
                probe.update_mask(mods, 0, 0, 0, 0, layout);
                // Only keys X11 apps can see too: the US layout has a € on keycode 443 (KEY_EURO),
                // which Xwayland cannot pass on.
                let last = keymap.max_keycode().raw().min(crate::keymap::MAX_X11_KEYCODE);
                for raw in keymap.min_keycode().raw()..=last {
                    let keycode = xkb::Keycode::new(raw);
                    if raw < 8 || probe.key_get_one_sym(keycode) != wanted {
                        continue;
                    }
                    return Some(KeyStroke { code: raw - 8, shift: is_shift, altgr: is_altgr });
                }
            }
            None
        })
    }
}
