//! The configure sequences a toplevel sees, snapshotted as `WxH [states]` lines.

use wayrail_compositor::window::ShowState;

use crate::fixture::*;

#[test]
fn a_new_toplevel_chooses_its_size_and_is_activated_when_mapped() {
    let (mut f, c) = Fixture::with_client();
    let toplevel = f.client(c).create_toplevel();
    toplevel.surface.commit();
    f.roundtrip(c);
    // The initial configure: no size (the client chooses), no states.
    assert_eq!(f.client(c).configures(toplevel.shell), ["0x0 []"]);

    let buffer = f.redraw(c, &toplevel, 100, 80, RED);
    let id = f.window_id(c, &toplevel.surface).expect("mapped");
    assert_eq!(f.client(c).configures(toplevel.shell), ["0x0 []", "0x0 [activated]"]);
    let info = f.state.windows.get(id).unwrap();
    assert_eq!((info.width, info.height, info.activated), (100, 80, true));
    drop(buffer);
}

#[test]
fn maximize_takes_the_outputs_logical_size_and_unmaximize_restores() {
    // 1920x1080 pixels at scale 1.5: 1280x720 logical.
    let mut f = Fixture::with_outputs(&["1920x1080,scale=1.5"]);
    let c = f.add_client();
    let w = f.map_window(c, "max", 100, 80, RED);
    let before = f.state.windows.get(w.id).unwrap().rect();

    w.toplevel.xdg_toplevel.set_maximized();
    f.roundtrip(c);
    assert_eq!(
        f.client(c).configures(w.toplevel.shell),
        ["0x0 []", "0x0 [activated]", "1280x720 [activated, maximized]"]
    );
    f.redraw(c, &w.toplevel, 1280, 720, BLUE);
    let info = f.state.windows.get(w.id).unwrap();
    assert_eq!((info.x, info.y, info.width, info.height, info.state), (0, 0, 1280, 720, ShowState::Maximized));

    w.toplevel.xdg_toplevel.unset_maximized();
    f.roundtrip(c);
    assert_eq!(
        f.client(c).configures(w.toplevel.shell),
        ["0x0 []", "0x0 [activated]", "1280x720 [activated, maximized]", "100x80 [activated]"]
    );
    f.redraw(c, &w.toplevel, 100, 80, RED);
    let info = f.state.windows.get(w.id).unwrap();
    assert_eq!(info.state, ShowState::Normal);
    assert_eq!(info.rect(), before, "back where it was");
}

#[test]
fn fullscreen_takes_the_output_size() {
    let mut f = Fixture::with_outputs(&["1024x768"]);
    let c = f.add_client();
    let w = f.map_window(c, "fs", 100, 80, RED);

    w.toplevel.xdg_toplevel.set_fullscreen(None);
    f.roundtrip(c);
    assert_eq!(f.client(c).last_configure(w.toplevel.shell).to_string(), "1024x768 [activated, fullscreen]");
    f.redraw(c, &w.toplevel, 1024, 768, BLUE);
    assert_eq!(f.state.windows.get(w.id).unwrap().state, ShowState::Fullscreen);

    w.toplevel.xdg_toplevel.unset_fullscreen();
    f.roundtrip(c);
    assert_eq!(f.client(c).last_configure(w.toplevel.shell).to_string(), "100x80 [activated]");
}

#[test]
fn fullscreen_on_a_chosen_output() {
    let mut f = Fixture::with_outputs(&["1024x768", "800x600"]);
    let c = f.add_client();
    let w = f.map_window(c, "fs", 100, 80, RED);
    let second = f.client(c).output_named("WR-2");

    w.toplevel.xdg_toplevel.set_fullscreen(Some(&second));
    f.roundtrip(c);
    assert_eq!(f.client(c).last_configure(w.toplevel.shell).to_string(), "800x600 [activated, fullscreen]");
    f.redraw(c, &w.toplevel, 800, 600, BLUE);
    let info = f.state.windows.get(w.id).unwrap();
    assert_eq!((info.x, info.y, info.output.as_deref()), (1024, 0, Some("WR-2")));
}

#[test]
fn compositor_resizes_respect_min_and_max_size() {
    let (mut f, c, w) = Fixture::with_window("hints", (300, 200), RED);
    w.toplevel.xdg_toplevel.set_min_size(200, 150);
    w.toplevel.xdg_toplevel.set_max_size(640, 480);
    w.toplevel.surface.commit();
    f.roundtrip(c);

    for (width, height) in [(100, 100), (1000, 1000), (300, 1000), (320, 240)] {
        assert!(f.state.request_size(w.id, width, height));
    }
    f.roundtrip(c);
    assert_eq!(
        f.client(c).configures(w.toplevel.shell)[2..],
        ["200x150 [activated]", "640x480 [activated]", "300x480 [activated]", "320x240 [activated]"]
    );
}

#[test]
fn focus_moves_the_activated_state() {
    let (mut f, c, a, b) = Fixture::with_two_windows(BLUE);
    // Mapping b focused it, taking the activated state from a.
    assert_eq!(f.client(c).configures(a.toplevel.shell), ["0x0 []", "0x0 [activated]", "0x0 []"]);
    assert_eq!(f.client(c).configures(b.toplevel.shell), ["0x0 []", "0x0 [activated]"]);

    f.state.focus_window(Some(a.id));
    f.dispatch();
    assert_eq!(f.client(c).configures(a.toplevel.shell), ["0x0 []", "0x0 [activated]", "0x0 []", "0x0 [activated]"]);
    assert_eq!(f.client(c).configures(b.toplevel.shell), ["0x0 []", "0x0 [activated]", "0x0 []"]);
    assert_eq!(f.state.windows.active(), Some(a.id));
    assert_eq!(f.state.windows.stacking().last(), Some(&a.id), "focus raises");

    // Focusing the focused window again sends nothing.
    f.state.focus_window(Some(a.id));
    f.dispatch();
    assert_eq!(f.client(c).configures(a.toplevel.shell).len(), 4);

    f.state.focus_window(None);
    f.dispatch();
    assert_eq!(f.client(c).last_configure(a.toplevel.shell).to_string(), "0x0 []");
    assert_eq!(f.client(c).last_configure(b.toplevel.shell).to_string(), "0x0 []");
    assert_eq!(f.state.windows.active(), None);
}
