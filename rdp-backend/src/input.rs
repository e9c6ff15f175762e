//! RDP input → the compositor's input model: set-1 scancodes to evdev codes, mouse flags to
//! buttons and v120 wheel steps, unicode key events to text, and the client's keyboard
//! layout id to an xkb layout.

use std::collections::HashSet;

use ironrdp_pdu::input::fast_path::{FastPathInputEvent, KeyboardFlags as FpKeyboardFlags, SynchronizeFlags};
use ironrdp_pdu::input::mouse::PointerFlags;
use ironrdp_pdu::input::mouse_x::PointerXFlags;
use ironrdp_pdu::input::scan_code::KeyboardFlags;
use ironrdp_pdu::input::sync::SyncToggleFlags;
use ironrdp_pdu::input::{InputEvent, MousePdu, MouseXPdu};

use crate::HostEvent;

pub const BTN_LEFT: u32 = 0x110;
pub const BTN_RIGHT: u32 = 0x111;
pub const BTN_MIDDLE: u32 = 0x112;
pub const BTN_SIDE: u32 = 0x113;
pub const BTN_EXTRA: u32 = 0x114;

/// The evdev code of a set-1 scancode, None for codes that are not keys of their own (the
/// fake shifts some keyboards wrap around extended keys, unknown codes).
pub fn scancode_to_evdev(scancode: u8, extended: bool) -> Option<u32> {
    if !extended {
        return match scancode {
            // Set-1 codes up to F12 are evdev codes as they are (KEY_ESC = 1 ... KEY_F12 = 88).
            0x01..=0x58 => Some(scancode as u32),
            0x70 => Some(93),  // KATAKANAHIRAGANA
            0x73 => Some(89),  // RO (Japanese / Brazilian extra key)
            0x79 => Some(92),  // HENKAN
            0x7B => Some(94),  // MUHENKAN
            0x7D => Some(124), // YEN
            0x7E => Some(121), // KPCOMMA (Brazilian keypad .)
            _ => None,
        };
    }
    Some(match scancode {
        0x1C => 96,  // KPENTER
        0x1D => 97,  // RIGHTCTRL
        0x35 => 98,  // KPSLASH
        0x37 => 99,  // SYSRQ (Print Screen)
        0x38 => 100, // RIGHTALT (AltGr)
        0x46 => 119, // PAUSE (Ctrl+Break)
        0x47 => 102, // HOME
        0x48 => 103, // UP
        0x49 => 104, // PAGEUP
        0x4B => 105, // LEFT
        0x4D => 106, // RIGHT
        0x4F => 107, // END
        0x50 => 108, // DOWN
        0x51 => 109, // PAGEDOWN
        0x52 => 110, // INSERT
        0x53 => 111, // DELETE
        0x5B => 125, // LEFTMETA
        0x5C => 126, // RIGHTMETA
        0x5D => 127, // COMPOSE (menu key)
        0x5E => 116, // POWER
        0x5F => 142, // SLEEP
        0x63 => 143, // WAKEUP
        0x20 => 113, // MUTE
        0x2E => 114, // VOLUMEDOWN
        0x30 => 115, // VOLUMEUP
        0x22 => 164, // PLAYPAUSE
        0x24 => 166, // STOPCD
        0x10 => 165, // PREVIOUSSONG
        0x19 => 163, // NEXTSONG
        0x32 => 172, // HOMEPAGE
        0x6C => 155, // MAIL
        0x21 => 140, // CALC
        _ => return None,
    })
}

/// Turns the client's input events into `HostEvent`s, dropping typematic repeats (Wayland
/// clients repeat keys themselves) and joining UTF-16 surrogate pairs.
#[derive(Debug, Default)]
pub struct InputTranslator {
    pressed: HashSet<u32>,
    pressed_buttons: HashSet<u32>,
    high_surrogate: Option<u16>,
}

impl InputTranslator {
    pub fn fast_path(&mut self, event: &FastPathInputEvent, out: &mut Vec<HostEvent>) {
        match event {
            FastPathInputEvent::KeyboardEvent(flags, code) => self.key(
                *code,
                flags.contains(FpKeyboardFlags::EXTENDED),
                flags.contains(FpKeyboardFlags::RELEASE),
                out,
            ),
            FastPathInputEvent::UnicodeKeyboardEvent(flags, unit) => {
                self.unicode(*unit, flags.contains(FpKeyboardFlags::RELEASE), out)
            }
            FastPathInputEvent::MouseEvent(m) => self.mouse(m, out),
            FastPathInputEvent::MouseEventEx(m) => self.mouse_x(m, out),
            FastPathInputEvent::SyncEvent(flags) => self.sync(
                flags.contains(SynchronizeFlags::CAPS_LOCK),
                flags.contains(SynchronizeFlags::NUM_LOCK),
                flags.contains(SynchronizeFlags::SCROLL_LOCK),
                out,
            ),
            FastPathInputEvent::MouseEventRel(_) | FastPathInputEvent::QoeEvent(_) => {}
        }
    }

    pub fn slow_path(&mut self, event: &InputEvent, out: &mut Vec<HostEvent>) {
        match event {
            InputEvent::ScanCode(k) => self.key(
                (k.key_code & 0xff) as u8,
                k.flags.contains(KeyboardFlags::EXTENDED),
                k.flags.contains(KeyboardFlags::RELEASE),
                out,
            ),
            InputEvent::Unicode(u) => {
                self.unicode(u.unicode_code, u.flags.contains(ironrdp_pdu::input::unicode::KeyboardFlags::RELEASE), out)
            }
            InputEvent::Mouse(m) => self.mouse(m, out),
            InputEvent::MouseX(m) => self.mouse_x(m, out),
            InputEvent::Sync(s) => self.sync(
                s.flags.contains(SyncToggleFlags::CAPS_LOCK),
                s.flags.contains(SyncToggleFlags::NUM_LOCK),
                s.flags.contains(SyncToggleFlags::SCROLL_LOCK),
                out,
            ),
            InputEvent::Unused(_) | InputEvent::MouseRel(_) => {}
        }
    }

    fn key(&mut self, scancode: u8, extended: bool, release: bool, out: &mut Vec<HostEvent>) {
        let Some(code) = scancode_to_evdev(scancode, extended) else {
            tracing::trace!(scancode, extended, "scancode without a key");
            return;
        };
        if release {
            if self.pressed.remove(&code) {
                out.push(HostEvent::Key { code, pressed: false });
            }
        } else if self.pressed.insert(code) {
            out.push(HostEvent::Key { code, pressed: true });
        }
    }

    fn unicode(&mut self, unit: u16, release: bool, out: &mut Vec<HostEvent>) {
        if release {
            return;
        }
        let text = match (unit, self.high_surrogate.take()) {
            (0xD800..=0xDBFF, _) => {
                self.high_surrogate = Some(unit);
                return;
            }
            (0xDC00..=0xDFFF, Some(high)) => String::from_utf16(&[high, unit]).ok(),
            (0xDC00..=0xDFFF, None) => None,
            (unit, _) => char::from_u32(unit as u32).map(String::from),
        };
        match text {
            Some(text) => out.push(HostEvent::Text { text }),
            None => tracing::debug!(unit, "unpaired UTF-16 surrogate from the client dropped"),
        }
    }

    fn mouse(&mut self, m: &MousePdu, out: &mut Vec<HostEvent>) {
        let f = m.flags;
        if f.contains(PointerFlags::VERTICAL_WHEEL) {
            // RDP counts away from the user as positive; Wayland's positive is down.
            out.push(HostEvent::Wheel {
                vertical_v120: -(m.number_of_wheel_rotation_units as i32),
                horizontal_v120: 0,
            });
            return;
        }
        if f.contains(PointerFlags::HORIZONTAL_WHEEL) {
            out.push(HostEvent::Wheel { vertical_v120: 0, horizontal_v120: m.number_of_wheel_rotation_units as i32 });
            return;
        }
        if f.contains(PointerFlags::MOVE)
            || f.intersects(
                PointerFlags::LEFT_BUTTON | PointerFlags::RIGHT_BUTTON | PointerFlags::MIDDLE_BUTTON_OR_WHEEL,
            )
        {
            out.push(HostEvent::PointerMotion { x: m.x_position, y: m.y_position });
        }
        let pressed = f.contains(PointerFlags::DOWN);
        for (flag, button) in [
            (PointerFlags::LEFT_BUTTON, BTN_LEFT),
            (PointerFlags::RIGHT_BUTTON, BTN_RIGHT),
            (PointerFlags::MIDDLE_BUTTON_OR_WHEEL, BTN_MIDDLE),
        ] {
            if f.contains(flag) {
                self.button(button, pressed, out);
            }
        }
    }

    fn mouse_x(&mut self, m: &MouseXPdu, out: &mut Vec<HostEvent>) {
        out.push(HostEvent::PointerMotion { x: m.x_position, y: m.y_position });
        let pressed = m.flags.contains(PointerXFlags::DOWN);
        if m.flags.contains(PointerXFlags::BUTTON1) {
            self.button(BTN_SIDE, pressed, out);
        }
        if m.flags.contains(PointerXFlags::BUTTON2) {
            self.button(BTN_EXTRA, pressed, out);
        }
    }

    fn button(&mut self, button: u32, pressed: bool, out: &mut Vec<HostEvent>) {
        let changed = if pressed { self.pressed_buttons.insert(button) } else { self.pressed_buttons.remove(&button) };
        if changed {
            out.push(HostEvent::PointerButton { button, pressed });
        }
    }

    /// A synchronize event follows a focus change on the host: keys held when focus left
    /// were released elsewhere, so release them here.
    fn sync(&mut self, caps_lock: bool, num_lock: bool, scroll_lock: bool, out: &mut Vec<HostEvent>) {
        self.release_all(out);
        out.push(HostEvent::Synchronize { caps_lock, num_lock, scroll_lock });
    }

    /// Releases every key and button still held (session end, focus change).
    pub fn release_all(&mut self, out: &mut Vec<HostEvent>) {
        let mut keys: Vec<u32> = self.pressed.drain().collect();
        keys.sort_unstable();
        out.extend(keys.into_iter().map(|code| HostEvent::Key { code, pressed: false }));
        let mut buttons: Vec<u32> = self.pressed_buttons.drain().collect();
        buttons.sort_unstable();
        out.extend(buttons.into_iter().map(|button| HostEvent::PointerButton { button, pressed: false }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(events: &[FastPathInputEvent]) -> Vec<HostEvent> {
        let mut t = InputTranslator::default();
        let mut out = Vec::new();
        for e in events {
            t.fast_path(e, &mut out);
        }
        out
    }

    #[test]
    fn scancodes() {
        assert_eq!(scancode_to_evdev(0x1E, false), Some(30)); // A
        assert_eq!(scancode_to_evdev(0x2A, false), Some(42)); // left shift
        assert_eq!(scancode_to_evdev(0x53, true), Some(111)); // Delete
        assert_eq!(scancode_to_evdev(0x48, true), Some(103)); // Up
        assert_eq!(scancode_to_evdev(0x38, true), Some(100)); // AltGr
        assert_eq!(scancode_to_evdev(0x2A, true), None); // fake shift
        assert_eq!(scancode_to_evdev(0x59, false), None);
    }

    #[test]
    fn typematic_repeats_are_dropped_and_release_all_on_sync() {
        let down = FastPathInputEvent::KeyboardEvent(FpKeyboardFlags::empty(), 0x1E);
        let up = FastPathInputEvent::KeyboardEvent(FpKeyboardFlags::RELEASE, 0x1E);
        let shift = FastPathInputEvent::KeyboardEvent(FpKeyboardFlags::empty(), 0x2A);
        let out = fp(&[down, down, down, up, up, shift, FastPathInputEvent::SyncEvent(SynchronizeFlags::CAPS_LOCK)]);
        assert_eq!(
            out,
            vec![
                HostEvent::Key { code: 30, pressed: true },
                HostEvent::Key { code: 30, pressed: false },
                HostEvent::Key { code: 42, pressed: true },
                HostEvent::Key { code: 42, pressed: false },
                HostEvent::Synchronize { caps_lock: true, num_lock: false, scroll_lock: false },
            ]
        );
    }

    #[test]
    fn mouse_buttons_and_wheel_signs() {
        let m = |flags, units, x, y| {
            FastPathInputEvent::MouseEvent(MousePdu {
                flags,
                number_of_wheel_rotation_units: units,
                x_position: x,
                y_position: y,
            })
        };
        let out = fp(&[
            m(PointerFlags::MOVE, 0, 10, 20),
            m(PointerFlags::LEFT_BUTTON | PointerFlags::DOWN, 0, 10, 20),
            m(PointerFlags::LEFT_BUTTON, 0, 11, 20),
            m(PointerFlags::VERTICAL_WHEEL, 120, 0, 0),
            m(PointerFlags::VERTICAL_WHEEL | PointerFlags::WHEEL_NEGATIVE, -120, 0, 0),
            m(PointerFlags::HORIZONTAL_WHEEL, 120, 0, 0),
            FastPathInputEvent::MouseEventEx(MouseXPdu {
                flags: PointerXFlags::DOWN | PointerXFlags::BUTTON2,
                x_position: 1,
                y_position: 2,
            }),
        ]);
        assert_eq!(
            out,
            vec![
                HostEvent::PointerMotion { x: 10, y: 20 },
                HostEvent::PointerMotion { x: 10, y: 20 },
                HostEvent::PointerButton { button: BTN_LEFT, pressed: true },
                HostEvent::PointerMotion { x: 11, y: 20 },
                HostEvent::PointerButton { button: BTN_LEFT, pressed: false },
                HostEvent::Wheel { vertical_v120: -120, horizontal_v120: 0 },
                HostEvent::Wheel { vertical_v120: 120, horizontal_v120: 0 },
                HostEvent::Wheel { vertical_v120: 0, horizontal_v120: 120 },
                HostEvent::PointerMotion { x: 1, y: 2 },
                HostEvent::PointerButton { button: BTN_EXTRA, pressed: true },
            ]
        );
    }

    #[test]
    fn unicode_text_joins_surrogates() {
        let u = |unit| FastPathInputEvent::UnicodeKeyboardEvent(FpKeyboardFlags::empty(), unit);
        let out = fp(&[u(0x00E9), u(0xD83D), u(0xDE00), u(0xDE00)]);
        assert_eq!(out, vec![HostEvent::Text { text: "é".into() }, HostEvent::Text { text: "😀".into() }]);
    }
}
