//! The backend input API (`State::handle_input`) as clients see it: evdev key codes with the
//! xkb keymap, surface-local pointer coordinates, evdev buttons, v120 wheel steps and
//! click-to-focus.

use wayrail_compositor::input::{InputEvent, BTN_LEFT};

use crate::fixture::*;

fn key(f: &mut Fixture, code: u32) {
    f.state.handle_input(InputEvent::Key { code, pressed: true });
    f.state.handle_input(InputEvent::Key { code, pressed: false });
    f.dispatch();
}

#[test]
fn keys_reach_the_focused_client_by_evdev_code() {
    let mut f = Fixture::new();
    let (ca, cb) = (f.add_client(), f.add_client());
    let keymap = f.client(ca).data.keymap.clone().expect("a keymap on bind");
    assert!(keymap.starts_with("xkb_keymap"), "{}", &keymap[..keymap.len().min(80)]);
    assert!(f.client(ca).data.input.contains(&"keymap Value(XkbV1)".to_string()));

    let a = f.map_window(ca, "a", 100, 80, RED);
    let b = f.map_window(cb, "b", 100, 80, BLUE);
    assert_eq!(
        f.client(cb).input_matching("keyboard.enter"),
        [format!("keyboard.enter @{} keys 0", sid(&b.toplevel.surface))]
    );
    assert_eq!(
        f.client(ca).input_matching("keyboard.leave"),
        [format!("keyboard.leave @{}", sid(&a.toplevel.surface))]
    );

    key(&mut f, 30); // KEY_A
    assert_eq!(f.client(cb).input_matching("key "), ["key 30 pressed", "key 30 released"]);
    assert_eq!(f.client(ca).input_matching("key "), Vec::<String>::new());

    f.state.focus_window(Some(a.id));
    f.client(cb).clear_input();
    key(&mut f, 48); // KEY_B
    assert_eq!(f.client(ca).input_matching("key "), ["key 48 pressed", "key 48 released"]);
    assert_eq!(f.client(cb).input_matching("key "), Vec::<String>::new());
}

#[test]
fn modifiers_follow_shift() {
    let (mut f, c) = Fixture::with_client();
    f.map_window(c, "a", 100, 80, RED);
    f.client(c).clear_input();
    f.state.handle_input(InputEvent::Key { code: 42, pressed: true }); // KEY_LEFTSHIFT
    f.dispatch();
    assert_eq!(f.client(c).data.input, ["key 42 pressed", "modifiers 1 0 0 0"]);
}

#[test]
fn pointer_enter_motion_buttons_and_wheel() {
    let (mut f, c, w) = Fixture::with_window("pointer", (100, 80), RED);
    assert!(f.state.move_window(w.id, 100, 100));
    let surface = sid(&w.toplevel.surface);
    f.client(c).clear_input();

    f.state.handle_input(InputEvent::PointerMotion { x: 150.5, y: 130.25 });
    f.state.handle_input(InputEvent::PointerMotion { x: 160.0, y: 140.0 });
    f.dispatch();
    assert_eq!(
        f.client(c).data.input,
        [format!("pointer.enter @{surface} 50.5,30.25"), "frame".into(), "motion 60,40".into(), "frame".into()]
    );

    f.client(c).clear_input();
    f.state.handle_input(InputEvent::PointerButton { button: BTN_LEFT, pressed: true });
    f.state.handle_input(InputEvent::PointerButton { button: BTN_LEFT, pressed: false });
    f.dispatch();
    assert_eq!(f.client(c).data.input, ["button 0x110 pressed", "frame", "button 0x110 released", "frame"]);

    // One notch down: positive v120 and a positive value on the vertical axis.
    f.client(c).clear_input();
    f.state.handle_input(InputEvent::PointerAxis { vertical_v120: 120, horizontal_v120: 0 });
    f.dispatch();
    let input = f.client(c).data.input.clone();
    assert!(input.contains(&"axis_value120 vertical 120".to_string()), "{input:?}");
    assert!(input.contains(&"axis vertical 15".to_string()), "{input:?}");
    assert!(!input.iter().any(|l| l.contains("horizontal")), "{input:?}");
    assert_eq!(input.last().map(String::as_str), Some("frame"));

    // Two notches up and one left.
    f.client(c).clear_input();
    f.state.handle_input(InputEvent::PointerAxis { vertical_v120: -240, horizontal_v120: -120 });
    f.dispatch();
    let input = f.client(c).data.input.clone();
    for line in
        ["axis_value120 vertical -240", "axis vertical -30", "axis_value120 horizontal -120", "axis horizontal -15"]
    {
        assert!(input.contains(&line.to_string()), "{line} in {input:?}");
    }

    f.client(c).clear_input();
    f.state.handle_input(InputEvent::PointerMotion { x: 10.0, y: 10.0 });
    f.dispatch();
    assert_eq!(f.client(c).data.input, [format!("pointer.leave @{surface}"), "frame".into()]);
}

#[test]
fn clicking_a_background_window_focuses_it() {
    let (mut f, c, a, b) = Fixture::with_two_windows(BLUE);
    f.state.move_window(a.id, 0, 0);
    f.state.move_window(b.id, 300, 0);
    f.dispatch();
    assert_eq!(f.state.windows.active(), Some(b.id));

    f.state.handle_input(InputEvent::PointerMotion { x: 50.0, y: 40.0 });
    f.dispatch();
    assert_eq!(f.state.windows.active(), Some(b.id), "hovering does not focus");
    f.state.handle_input(InputEvent::PointerButton { button: BTN_LEFT, pressed: true });
    f.state.handle_input(InputEvent::PointerButton { button: BTN_LEFT, pressed: false });
    f.dispatch();

    assert_eq!(f.state.windows.active(), Some(a.id));
    assert!(f.state.windows.get(a.id).unwrap().activated);
    assert!(!f.state.windows.get(b.id).unwrap().activated);
    assert_eq!(f.state.windows.stacking(), [b.id, a.id]);
    assert_eq!(f.client(c).last_configure(a.toplevel.shell).to_string(), "0x0 [activated]");
    assert_eq!(f.client(c).last_configure(b.toplevel.shell).to_string(), "0x0 []");
    let enter = format!("keyboard.enter @{} keys 0", sid(&a.toplevel.surface));
    assert_eq!(f.client(c).input_matching("keyboard.enter").last(), Some(&enter));
    // The click itself reaches the window it focused.
    assert!(f.client(c).data.input.ends_with(&[
        "button 0x110 pressed".into(),
        "frame".into(),
        "button 0x110 released".into(),
        "frame".into()
    ]));
}

#[test]
fn a_click_with_its_position_repeated_sends_no_motion() {
    let (mut f, c, w) = Fixture::with_window("click", (100, 80), RED);
    assert!(f.state.move_window(w.id, 100, 100));
    f.state.handle_input(InputEvent::PointerMotion { x: 150.0, y: 130.0 });
    f.dispatch();
    f.client(c).clear_input();

    // An RDP client repeats the position with each button: move, press, move, release.
    for pressed in [true, false] {
        f.state.handle_input(InputEvent::PointerMotion { x: 150.0, y: 130.0 });
        f.state.handle_input(InputEvent::PointerButton { button: BTN_LEFT, pressed });
    }
    f.dispatch();
    assert_eq!(f.client(c).data.input, ["button 0x110 pressed", "frame", "button 0x110 released", "frame"]);

    // The window moves under the still pointer: the same position is a new place on it.
    assert!(f.state.move_window(w.id, 120, 100));
    f.client(c).clear_input();
    f.state.handle_input(InputEvent::PointerMotion { x: 150.0, y: 130.0 });
    f.dispatch();
    assert_eq!(f.client(c).data.input, ["motion 30,30", "frame"]);
}
