//! Server-side decorations through xdg-decoration: which toplevels get wayrail's title bar
//! (server-side mode, not client-side nor with `decorations = "client-side"`), the bar in the
//! composed output, and what the pointer does on it (move, close, maximize with the bar over
//! the content, resize), with the state's invariants after each step.

use smithay::input::pointer::{CursorIcon, CursorImageStatus};
use wayland_protocols::xdg::decoration::zv1::client::zxdg_toplevel_decoration_v1::Mode;
use wayrail_compositor::config::{Config, DecorationMode};
use wayrail_compositor::decorations::{BAR_HEIGHT, BUTTON_WIDTH};
use wayrail_compositor::input::{InputEvent, BTN_LEFT};
use wayrail_compositor::state::State;
use wayrail_compositor::window::{ShowState, WindowId};

use crate::fixture::*;

/// The focused bar's background, as ARGB.
const BAR_FOCUSED: u32 = 0xff2e3440;
const BACKGROUND: u32 = 0xff000000;

/// Maps a 300x200 red toplevel that binds xdg-decoration (asking for `ask`, if anything):
/// the window and the mode the compositor configured.
fn map_decorated(f: &mut Fixture, c: ClientId, ask: Option<Mode>) -> (MappedWindow, Option<Mode>) {
    let toplevel = f.client(c).create_toplevel();
    let qh = f.client(c).qh.clone();
    let decoration = f.client(c).data.base.create_decoration(&toplevel, &qh).expect("xdg-decoration");
    if let Some(mode) = ask {
        decoration.set_mode(mode);
    }
    toplevel.xdg_toplevel.set_title("decorated".into());
    toplevel.surface.commit();
    f.roundtrip(c);
    f.client(c).ack_last_configure(&toplevel);
    let buffer = f.client(c).commit_buffer(&toplevel.surface, 300, 200, RED);
    f.roundtrip(c);
    let id = f.window_id(c, &toplevel.surface).expect("mapped");
    let mode = f.client(c).data.base.decoration_modes.get(&toplevel.shell).copied();
    (MappedWindow { toplevel, buffer, id }, mode)
}

/// The first output's pixel at `(x, y)`, freshly composed.
fn output_pixel(f: &mut Fixture, x: i32, y: i32) -> u32 {
    let name = f.state.outputs[0].name.clone();
    let State { core, composer, .. } = &mut f.state;
    let frame = composer.render_output(core, &name).expect("render_output");
    frame.pixel(x as usize, y as usize)
}

fn rect(f: &Fixture, id: WindowId) -> (i32, i32, i32, i32) {
    let w = f.state.windows.get(id).expect("window");
    (w.x, w.y, w.width, w.height)
}

fn motion(f: &mut Fixture, x: i32, y: i32) {
    f.state.handle_input(InputEvent::PointerMotion { x: x as f64, y: y as f64 });
}

fn button(f: &mut Fixture, pressed: bool) {
    f.state.handle_input(InputEvent::PointerButton { button: BTN_LEFT, pressed });
}

fn click(f: &mut Fixture, c: ClientId, x: i32, y: i32) {
    motion(f, x, y);
    button(f, true);
    button(f, false);
    f.roundtrip(c);
}

fn check(f: &Fixture) {
    f.state.verify_invariants().unwrap_or_else(|e| panic!("invariants: {e}"));
}

#[test]
fn a_server_side_toplevel_gets_a_bar_above_its_content() {
    let (mut f, c) = Fixture::with_client();
    let (w, mode) = map_decorated(&mut f, c, None);
    assert_eq!(mode, Some(Mode::ServerSide), "the default asks for server-side decorations");
    let (x, y, width, height) = rect(&f, w.id);
    assert_eq!((width, height), (300, 200), "the window geometry is the app's own");
    assert!(y >= BAR_HEIGHT, "the bar is on the output: {y}");
    check(&f);
    assert_eq!(output_pixel(&mut f, x + 2, y - 2), BAR_FOCUSED, "bar pixels above the content");
    assert_eq!(output_pixel(&mut f, x + 2, y + 2), RED, "the app's pixels below");
    assert_eq!(output_pixel(&mut f, x + 2, y - BAR_HEIGHT - 2), BACKGROUND, "nothing above the bar");
}

#[test]
fn client_side_by_request_or_by_config_gets_no_bar() {
    let (mut f, c) = Fixture::with_client();
    let (w, mode) = map_decorated(&mut f, c, Some(Mode::ClientSide));
    assert_eq!(mode, Some(Mode::ClientSide), "the app's wish is honoured");
    let (x, y, ..) = rect(&f, w.id);
    assert_eq!(output_pixel(&mut f, x + 2, y - 2), BACKGROUND);

    let mut f = Fixture::with_config(Config {
        decorations: DecorationMode::ClientSide,
        outputs: vec!["1920x1080".parse().unwrap()],
        ..Default::default()
    });
    let c = f.add_client();
    let (w, mode) = map_decorated(&mut f, c, None);
    assert_eq!(mode, Some(Mode::ClientSide));
    let (x, y, ..) = rect(&f, w.id);
    assert_eq!(output_pixel(&mut f, x + 2, y - 2), BACKGROUND);
}

#[test]
fn dragging_the_title_moves_the_window_and_the_app_sees_no_button() {
    let (mut f, c) = Fixture::with_client();
    let (w, _) = map_decorated(&mut f, c, None);
    let (x, y, ..) = rect(&f, w.id);
    f.client(c).clear_input();
    motion(&mut f, x + 20, y - BAR_HEIGHT / 2);
    button(&mut f, true);
    for step in 1..=5 {
        motion(&mut f, x + 20 + 10 * step, y - BAR_HEIGHT / 2 + 6 * step);
    }
    button(&mut f, false);
    f.roundtrip(c);
    assert_eq!(rect(&f, w.id), (x + 50, y + 30, 300, 200));
    assert_eq!(f.client(c).input_matching("pointer.button"), Vec::<String>::new());
    check(&f);
}

#[test]
fn the_close_button_asks_the_app_to_close() {
    let (mut f, c) = Fixture::with_client();
    let (w, _) = map_decorated(&mut f, c, None);
    let (x, y, width, _) = rect(&f, w.id);
    click(&mut f, c, x + width - BUTTON_WIDTH / 2, y - BAR_HEIGHT / 2);
    assert_eq!(f.client(c).shell(w.toplevel.shell).close_requests, 1);
}

#[test]
fn maximize_fills_the_output_and_the_bar_slides_over_the_top() {
    let (mut f, c) = Fixture::with_client();
    let (w, _) = map_decorated(&mut f, c, None);
    let (x, y, width, _) = rect(&f, w.id);
    click(&mut f, c, x + width - BUTTON_WIDTH * 3 / 2, y - BAR_HEIGHT / 2);
    let Configure::Toplevel { width: cw, height: ch, .. } = f.client(c).last_configure(w.toplevel.shell).clone() else {
        panic!("no toplevel configure")
    };
    assert_eq!((cw, ch), (1920, 1080), "maximized over the whole output");
    f.redraw(c, &w.toplevel, 1920, 1080, RED);
    assert_eq!(f.state.windows.get(w.id).unwrap().state, ShowState::Maximized);
    assert_eq!(rect(&f, w.id), (0, 0, 1920, 1080));
    check(&f);
    motion(&mut f, 600, 400);
    assert_eq!(output_pixel(&mut f, 600, 5), RED, "no bar until the pointer comes to the top");
    motion(&mut f, 600, 0);
    motion(&mut f, 600, BAR_HEIGHT / 2);
    assert_eq!(output_pixel(&mut f, 600, 5), BAR_FOCUSED, "the bar over the content's top");
    motion(&mut f, 600, BAR_HEIGHT + 40);
    assert_eq!(output_pixel(&mut f, 600, 5), RED, "hidden again");
    // Revealed, its maximize button restores the window.
    motion(&mut f, 600, 0);
    click(&mut f, c, 1920 - BUTTON_WIDTH * 3 / 2, BAR_HEIGHT / 2);
    f.redraw(c, &w.toplevel, 300, 200, RED);
    assert_eq!(f.state.windows.get(w.id).unwrap().state, ShowState::Normal);
    assert_eq!(rect(&f, w.id), (x, y, 300, 200));
    check(&f);
}

#[test]
fn the_band_around_the_window_resizes_it() {
    let (mut f, c) = Fixture::with_client();
    let (w, _) = map_decorated(&mut f, c, None);
    let (x, y, width, height) = rect(&f, w.id);
    motion(&mut f, x + width + 2, y + height + 2);
    assert_eq!(f.state.cursor_status, CursorImageStatus::Named(CursorIcon::SeResize), "resize arrows on the corner");
    button(&mut f, true);
    motion(&mut f, x + width + 42, y + height + 22);
    button(&mut f, false);
    f.roundtrip(c);
    let Configure::Toplevel { width: cw, height: ch, .. } = f.client(c).last_configure(w.toplevel.shell).clone() else {
        panic!("no toplevel configure")
    };
    assert_eq!((cw, ch), (340, 220), "bottom-right corner dragged by 40,20");
}

#[test]
fn at_a_fractional_scale_the_bar_meets_the_content_without_a_gap() {
    let mut f = Fixture::with_outputs(&["1920x1200,scale=1.5"]);
    let c = f.add_client();
    let (w, _) = map_decorated(&mut f, c, None);
    let (x, y, width, _) = rect(&f, w.id);
    let px = |v: i32| (v as f64 * 1.5).round() as i32;
    let (left, top) = (px(x), px(y));
    assert_eq!(output_pixel(&mut f, left + 3, top - 1), BAR_FOCUSED, "the bar's last row touches the content");
    // The content's first row: red (the app's 1x buffer is scaled, so its edge may be blended).
    let first = output_pixel(&mut f, left + 3, top);
    let (r, g, b) = ((first >> 16) & 0xff, (first >> 8) & 0xff, first & 0xff);
    assert!(r > 0xc0 && g < 0x20 && b < 0x20, "the content's first row is {first:#x}");
    assert_eq!(output_pixel(&mut f, left + 3, top - px(BAR_HEIGHT)), BAR_FOCUSED, "the bar's first row");
    assert_eq!(output_pixel(&mut f, left + 3, top - px(BAR_HEIGHT) - 1), BACKGROUND);
    // As wide as the content, the close button's red at its right end.
    let close_red = 0xffc42b1c;
    assert_eq!(output_pixel(&mut f, left + px(width) - 1, top - 1), close_red);
    assert_eq!(output_pixel(&mut f, left + px(width), top - 1), BACKGROUND);
}

#[test]
fn minimize_hides_the_window_and_only_the_focused_bar_is_dark() {
    let (mut f, c) = Fixture::with_client();
    let (a, _) = map_decorated(&mut f, c, None);
    let (b, _) = map_decorated(&mut f, c, None);
    f.state.move_window(a.id, 100, 100);
    f.state.move_window(b.id, 600, 400);
    f.state.focus_window(Some(b.id));
    let unfocused = 0xffd6d6d6;
    assert_eq!(output_pixel(&mut f, 102, 98), unfocused, "a's bar");
    assert_eq!(output_pixel(&mut f, 602, 398), BAR_FOCUSED, "b's bar");
    // b's minimize button: b goes, a gets the focus and the dark bar.
    click(&mut f, c, 600 + 300 - BUTTON_WIDTH * 5 / 2, 400 - BAR_HEIGHT / 2);
    assert_eq!(f.state.windows.get(b.id).unwrap().state, ShowState::Minimized);
    assert_eq!(f.state.windows.active(), Some(a.id));
    assert_eq!(output_pixel(&mut f, 602, 398), BACKGROUND, "no bar of a minimized window");
    assert_eq!(output_pixel(&mut f, 102, 98), BAR_FOCUSED);
    check(&f);
}

#[test]
fn a_popup_over_a_bar_keeps_its_clicks() {
    let (mut f, c) = Fixture::with_client();
    let (a, _) = map_decorated(&mut f, c, None);
    let b = f.map_window(c, "menu owner", 100, 80, BLUE);
    f.state.move_window(a.id, 50, 420);
    f.state.move_window(b.id, 100, 300);
    // b's menu hangs over a's title bar (392..420).
    let placement = PopupPlacement { anchor_rect: (10, 70, 1, 1), ..Default::default() };
    let popup = f.client(c).create_popup(&b.toplevel.xdg_surface, &placement);
    popup.surface.commit();
    f.roundtrip(c);
    f.client(c).ack_last_popup_configure(&popup);
    let _buffer = f.client(c).commit_buffer(&popup.surface, 50, 40, GREEN);
    f.roundtrip(c);
    let at = (120.0, 400.0).into();
    assert_eq!(f.state.decoration_at(at), None, "the menu is on top there");
    assert!(f.state.decoration_at((300.0, 400.0).into()).is_some(), "a's bar beside the menu");
}

/// What a RemoteApp session (`window_bars`, a host that moves windows itself) makes of a
/// decorated window: its image carries the bar above the content, its description to the host
/// takes the bar in, a press on the title asks the host for a local move, the buttons act here.
#[test]
fn in_remote_app_the_bar_travels_in_the_window_image() {
    let (mut f, c) = Fixture::with_client();
    let (w, _) = map_decorated(&mut f, c, None);
    let plain = f.render_window(w.id, 1.0);
    assert_eq!((plain.width, plain.height), (300, 200), "a composed output draws the bar itself");
    f.state.window_bars = true;
    f.state.host_move_resize = true;
    let image = f.render_window(w.id, 1.0);
    assert_eq!((image.width, image.height), (300, 200 + BAR_HEIGHT as usize));
    assert_eq!(image.origin, (0, BAR_HEIGHT), "the content below the bar");
    assert_eq!(image.pixel(2, 2), BAR_FOCUSED, "bar pixels at the image's top");
    assert_eq!(image.pixel(2, BAR_HEIGHT as usize + 2), RED, "the app's pixels below");
    let scaled = f.render_window(w.id, 2.0);
    assert_eq!((scaled.width, scaled.height), (600, 400 + 2 * BAR_HEIGHT as usize), "the bar at the image's scale");

    let (x, y, width, height) = rect(&f, w.id);
    let info = f.state.windows.get(w.id).cloned().expect("window");
    let desc = wayrail_compositor::remote::describe(&f.state.core, &info).expect("described");
    let frame = wayrail_remote::Rect::new(x, y - BAR_HEIGHT, width, height + BAR_HEIGHT);
    assert_eq!(desc.client, frame, "the host's window proper includes the bar");
    assert_eq!(desc.image, frame);
    assert_eq!(desc.image_logical, (300, 200 + BAR_HEIGHT));
    let moved = wayrail_remote::Rect::new(400, 300, width, height + BAR_HEIGHT);
    assert_eq!(
        wayrail_compositor::remote::content_of_frame(&f.state.core, w.id, moved),
        wayrail_remote::Rect::new(400, 300 + BAR_HEIGHT, width, height),
        "a frame the host placed puts the content below its bar"
    );

    // A press on the title: the host moves its window, and wayrail follows the pointer's way
    // to where the button goes up (FreeRDP reports the end of a move no other way).
    f.take_events();
    f.client(c).clear_input();
    motion(&mut f, x + 20, y - BAR_HEIGHT / 2);
    button(&mut f, true);
    motion(&mut f, x + 60, y + 40);
    button(&mut f, false);
    f.roundtrip(c);
    let events = f.event_log();
    let started = events.iter().position(|e| e.starts_with(&format!("move/resize {} edges None", w.id)));
    let ended = events.iter().position(|e| *e == format!("move/resize {} ended", w.id));
    assert!(started.is_some() && started < ended, "a local move for the host, then its end: {events:?}");
    let (x, y) = (x + 40, y + 40 + BAR_HEIGHT / 2);
    assert_eq!(rect(&f, w.id), (x, y, width, height), "moved by the pointer's way");
    assert_eq!(f.client(c).input_matching("pointer.button"), Vec::<String>::new());
    // No resize band outside the host's window.
    motion(&mut f, x - 2, y + 50);
    button(&mut f, true);
    button(&mut f, false);
    assert_eq!(rect(&f, w.id), (x, y, width, height));
    click(&mut f, c, x + width - BUTTON_WIDTH / 2, y - BAR_HEIGHT / 2);
    assert_eq!(f.client(c).shell(w.toplevel.shell).close_requests, 1);
    check(&f);
}
