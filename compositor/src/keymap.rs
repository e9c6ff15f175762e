//! Characters the keyboard layout cannot type, typed anyway, the way virtual keyboards do it:
//! spare keycodes of the keymap (ones the layout binds nothing to) are bound to those
//! characters' keysyms, the extended keymap goes to the clients (Xwayland passes it on to the
//! X11 apps), and the key is pressed and released. A moment after the last such character the
//! layout's own keymap comes back. The extension only binds keys the layout leaves empty, so
//! typing the layout's own characters is the same with it as without it.
//!
//! A key once bound keeps its character until the layout's keymap is back: an X11 app reads
//! a changed mapping only when it handles a key (Xlib fetches it lazily), maybe after more
//! changes, so a key bound anew meanwhile would type the new character in its place. When every
//! spare key is taken (the US layout has 17), the rest of the text waits until the apps have
//! handled what was typed, and then starts over on all the spare keys.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use smithay::input::keyboard::xkb;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::RegistrationToken;

use crate::input::{InputEvent, KeyStroke};
use crate::state::State;

/// How long after the last character typed on an added key the layout's keymap comes back.
/// Not at once: an X11 app fetches a changed mapping only when it handles the key (Xlib reads
/// it lazily), so the added keys must still be bound by then.
const RESTORE_AFTER: Duration = Duration::from_secs(2);

/// How long text waits when every spare key is taken, for the apps to handle the keys typed.
const RESUME_AFTER: Duration = Duration::from_secs(1);

/// Why [`State::add_key_for`] gave no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoKey {
    /// Every spare key has a character that apps may not have read yet: try again later.
    AllTaken,
    /// The character has no keysym, the keymap no spare key or no symbols section, or the
    /// extended keymap does not compile.
    Impossible,
}

/// The highest keycode (xkb numbering) that X11 apps can see.
pub const MAX_X11_KEYCODE: u32 = 255;

/// The keys added to the layout's keymap, kept in the seat's user data.
#[derive(Default)]
struct AddedKeys {
    /// The layout's keymap (as text) while keys are added to it.
    base: Option<String>,
    /// The extended keymap as the keyboard holds it. When the keyboard holds another one, the
    /// layout changed meanwhile: that one stays, and the additions are forgotten.
    installed: String,
    /// The added keysyms and their keycodes (xkb numbering).
    keys: Vec<(xkb::Keysym, u32)>,
    /// The timer that brings the layout's keymap back.
    restore: Option<RegistrationToken>,
    /// Text (and keys after it) that waits for keys to be free again, and the timer that
    /// types it.
    waiting: VecDeque<Waiting>,
    resume: Option<RegistrationToken>,
}

/// Input that waits while every spare key is taken, in its order.
#[derive(Debug)]
enum Waiting {
    Text(String),
    Key { code: u32, pressed: bool },
}

/// Keycodes (xkb numbering, up to 255) that have a name but no symbol in any layout or level,
/// highest first: the keys a keymap can bind new characters to.
pub fn spare_keycodes(keymap: &xkb::Keymap) -> Vec<u32> {
    let min = keymap.min_keycode().raw().max(9);
    let max = keymap.max_keycode().raw().min(MAX_X11_KEYCODE);
    (min..=max)
        .rev()
        .filter(|&raw| {
            let key = xkb::Keycode::new(raw);
            keymap.key_get_name(key).is_some()
                && (0..keymap.num_layouts_for_key(key)).all(|layout| {
                    (0..keymap.num_levels_for_key(key, layout))
                        .all(|level| keymap.key_get_syms_by_level(key, layout, level).is_empty())
                })
        })
        .collect()
}

/// `base` (a keymap in the xkb text format) with each (key name, keysym) of `keys` bound as a
/// one-level key in its symbols section; None when `base` has no symbols section.
pub fn extend_keymap(base: &str, keys: &[(String, xkb::Keysym)]) -> Option<String> {
    let section = base.find("xkb_symbols")?;
    let open = section + base[section..].find('{')?;
    // The brace that closes the section (names and strings hold no braces that matter, but
    // quoted text is skipped all the same).
    let mut depth = 0usize;
    let mut quoted = false;
    let mut close = None;
    for (i, c) in base[open..].char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close?;
    let mut out = String::with_capacity(base.len() + keys.len() * 48);
    out.push_str(&base[..close]);
    for (name, sym) in keys {
        out.push_str(&format!("    key <{name}> {{ [ {} ] }};\n", xkb::keysym_get_name(*sym)));
    }
    out.push_str(&base[close..]);
    Some(out)
}

/// The keyboard's keymap now: as text, and its spare keycodes.
struct KeymapNow {
    text: String,
    spare: Vec<u32>,
}

impl State {
    fn added_keys(&self) -> &RefCell<AddedKeys> {
        let data = self.seat.user_data();
        data.insert_if_missing(|| RefCell::new(AddedKeys::default()));
        data.get::<RefCell<AddedKeys>>().expect("just inserted")
    }

    /// The keyboard's keymap now, and the names of the keycodes `names_of`.
    fn keymap_now(&mut self, names_of: &[u32]) -> Option<(KeymapNow, Vec<Option<String>>)> {
        let keyboard = self.seat.get_keyboard()?;
        Some(keyboard.with_xkb_state(self, |ctx| {
            let xkb = ctx.xkb().lock().unwrap();
            // SAFETY: the keymap reference does not outlive this callback.
            let keymap = unsafe { xkb.keymap() };
            let names =
                names_of.iter().map(|&c| keymap.key_get_name(xkb::Keycode::new(c)).map(str::to_owned)).collect();
            let now =
                KeymapNow { text: keymap.get_as_string(xkb::KEYMAP_FORMAT_TEXT_V1), spare: spare_keycodes(keymap) };
            (now, names)
        }))
    }

    /// Binds `ch` to a spare key (extending the keymap the clients have, for a while) and
    /// returns how to type it.
    pub fn add_key_for(&mut self, ch: char) -> Result<KeyStroke, NoKey> {
        let wanted = xkb::utf32_to_keysym(ch as u32);
        if wanted.raw() == 0 {
            return Err(NoKey::Impossible);
        }
        let keyboard = self.seat.get_keyboard().ok_or(NoKey::Impossible)?;
        let (now, _) = self.keymap_now(&[]).ok_or(NoKey::Impossible)?;
        let mut added = std::mem::take(&mut *self.added_keys().borrow_mut());
        if added.base.is_none() || added.installed != now.text {
            // A first addition, or the layout changed since the last one.
            if let Some(timer) = added.restore.take() {
                self.loop_handle.remove(timer);
            }
            added = AddedKeys { base: Some(now.text.clone()), ..added };
            added.keys.clear();
        }
        let Some(&code) = now.spare.first() else {
            let why = if added.keys.is_empty() { NoKey::Impossible } else { NoKey::AllTaken };
            *self.added_keys().borrow_mut() = added;
            return Err(why);
        };
        added.keys.push((wanted, code));
        let codes: Vec<u32> = added.keys.iter().map(|(_, c)| *c).collect();
        let names = self.keymap_now(&codes).map(|(_, names)| names).unwrap_or_default();
        let keys: Option<Vec<(String, xkb::Keysym)>> =
            names.into_iter().zip(&added.keys).map(|(name, (sym, _))| Some((name?, *sym))).collect();
        let base = added.base.clone().unwrap_or_default();
        let text = keys.filter(|k| k.len() == added.keys.len()).and_then(|keys| extend_keymap(&base, &keys));
        let Some(text) = text else {
            tracing::warn!("the keymap has no symbols section to add keys to");
            added.keys.pop();
            *self.added_keys().borrow_mut() = added;
            return Err(NoKey::Impossible);
        };
        if let Err(err) = keyboard.set_keymap_from_string(self, text) {
            tracing::warn!(?ch, "the keymap with an added key does not compile: {err:?}");
            added.keys.pop();
            *self.added_keys().borrow_mut() = added;
            return Err(NoKey::Impossible);
        }
        added.installed = self.keymap_now(&[]).map(|(now, _)| now.text).unwrap_or_default();
        tracing::debug!(?ch, keycode = code, "character bound to a spare key");
        *self.added_keys().borrow_mut() = added;
        self.keep_added_keys();
        Ok(KeyStroke { code: code - 8, shift: false, altgr: false })
    }

    /// Whether typing waits for keys to be free again; then `text` waits after what waits
    /// already, so the order stays.
    pub fn typing_paused(&mut self, text: &str) -> bool {
        self.wait_if_paused(Waiting::Text(text.to_owned()))
    }

    /// Whether a key waits behind text (as [`State::typing_paused`]).
    pub fn key_waits(&mut self, code: u32, pressed: bool) -> bool {
        self.wait_if_paused(Waiting::Key { code, pressed })
    }

    fn wait_if_paused(&mut self, input: Waiting) -> bool {
        let mut added = self.added_keys().borrow_mut();
        if added.resume.is_none() {
            return false;
        }
        added.waiting.push_back(input);
        true
    }

    /// Every spare key is taken: `rest` (and what comes after it) is typed in
    /// [`RESUME_AFTER`], on the layout's keymap with every spare key free again.
    pub fn pause_typing(&mut self, rest: &str) {
        let mut added = self.added_keys().borrow_mut();
        added.waiting.push_front(Waiting::Text(rest.to_owned()));
        if added.resume.is_some() {
            return;
        }
        tracing::debug!(waiting = rest.chars().count(), "every spare key is taken; the rest waits");
        let timer = Timer::from_duration(RESUME_AFTER);
        added.resume = self
            .loop_handle
            .insert_source(timer, |_, _, state| {
                state.resume_typing();
                TimeoutAction::Drop
            })
            .ok();
    }

    fn resume_typing(&mut self) {
        let waiting = {
            let mut added = self.added_keys().borrow_mut();
            added.resume = None;
            std::mem::take(&mut added.waiting)
        };
        // Back to the layout's keymap: every spare key is free for what waited.
        self.restore_layout_keymap();
        for input in waiting {
            match input {
                // Typing may pause again: then the rest queues up behind, in order.
                Waiting::Text(text) => self.type_text(&text),
                Waiting::Key { code, pressed } => self.handle_input(InputEvent::Key { code, pressed }),
            }
        }
    }

    /// Keeps the added keys for [`RESTORE_AFTER`] from now (a character was typed on one).
    pub fn keep_added_keys(&mut self) {
        let mut added = self.added_keys().borrow_mut();
        if added.base.is_none() {
            return;
        }
        if let Some(timer) = added.restore.take() {
            self.loop_handle.remove(timer);
        }
        let timer = Timer::from_duration(RESTORE_AFTER);
        added.restore = self
            .loop_handle
            .insert_source(timer, |_, _, state| {
                // This timer ends here; it must not be removed again.
                state.added_keys().borrow_mut().restore = None;
                state.restore_layout_keymap();
                TimeoutAction::Drop
            })
            .ok();
    }

    /// Gives the keyboard (and the clients) the layout's own keymap again, unless the layout
    /// changed since the keys were added.
    fn restore_layout_keymap(&mut self) {
        let added = {
            let mut cell = self.added_keys().borrow_mut();
            // What waits for keys stays (it is typed after this).
            let rest = AddedKeys {
                waiting: std::mem::take(&mut cell.waiting),
                resume: cell.resume.take(),
                ..AddedKeys::default()
            };
            std::mem::replace(&mut *cell, rest)
        };
        if let Some(timer) = added.restore {
            self.loop_handle.remove(timer);
        }
        let Some(base) = added.base else { return };
        let Some(keyboard) = self.seat.get_keyboard() else { return };
        let now = self.keymap_now(&[]).map(|(now, _)| now.text);
        if now.as_deref() != Some(added.installed.as_str()) {
            tracing::debug!("the keymap changed since keys were added to it; it stays");
            return;
        }
        match keyboard.set_keymap_from_string(self, base) {
            Ok(()) => tracing::debug!(added = added.keys.len(), "the layout's keymap is back"),
            Err(err) => tracing::warn!("the layout's keymap does not compile again: {err:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us_keymap() -> xkb::Keymap {
        let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        xkb::Keymap::new_from_names(&context, "evdev", "pc105", "us", "", None, xkb::KEYMAP_COMPILE_NO_FLAGS)
            .expect("the us keymap")
    }

    #[test]
    fn the_us_layout_leaves_keys_spare() {
        let keymap = us_keymap();
        let spare = spare_keycodes(&keymap);
        assert!(spare.len() >= 8, "only {} spare keys: {spare:?}", spare.len());
        assert!(spare.iter().all(|&c| (9..=MAX_X11_KEYCODE).contains(&c)));
        // KEY_A (evdev 30) types a.
        assert!(!spare.contains(&(30 + 8)));
    }

    #[test]
    fn added_keys_type_their_characters_and_the_layout_stays() {
        let keymap = us_keymap();
        let spare = spare_keycodes(&keymap);
        let chars = ['中', '😀', '€'];
        let keys: Vec<(String, xkb::Keysym)> = chars
            .iter()
            .zip(&spare)
            .map(|(&ch, &code)| {
                let name = keymap.key_get_name(xkb::Keycode::new(code)).unwrap().to_owned();
                (name, xkb::utf32_to_keysym(ch as u32))
            })
            .collect();
        let base = keymap.get_as_string(xkb::KEYMAP_FORMAT_TEXT_V1);
        let text = extend_keymap(&base, &keys).expect("a symbols section");
        let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
        let extended =
            xkb::Keymap::new_from_string(&context, text, xkb::KEYMAP_FORMAT_TEXT_V1, xkb::KEYMAP_COMPILE_NO_FLAGS)
                .expect("the extended keymap compiles");
        let state = xkb::State::new(&extended);
        for (&ch, &code) in chars.iter().zip(&spare) {
            assert_eq!(state.key_get_utf8(xkb::Keycode::new(code)), ch.to_string(), "keycode {code}");
        }
        // The layout's keys are untouched: KEY_A still types a.
        assert_eq!(state.key_get_utf8(xkb::Keycode::new(30 + 8)), "a");
        assert_eq!(spare_keycodes(&extended).len(), spare.len() - chars.len());
    }

    #[test]
    fn a_keymap_without_symbols_is_not_extended() {
        assert_eq!(extend_keymap("xkb_keymap { xkb_keycodes { }; };", &[]), None);
    }
}
