//! Server-side decorations in the desktop (composed output) mode: the title bar wayrail draws
//! above foot (xdg-decoration, server-side) and above xterm (an X11 window with no frame of its
//! own), and what the mouse does on it; none above GTK's own header bar, none at all with
//! `decorations = "client-side"`. In RemoteApp the bar is part of the host's window: xterm's
//! RAIL window shows it above the app, a drag on it is the host's own move, its close button
//! closes xterm. A drag on GTK's own header bar is the host's move too.

use std::time::Duration;

use wayrail_e2e::rail::{assert_rail_window_shows, compositor_window, RailDesk, RAIL_TIMEOUT};
use wayrail_e2e::rdp::{FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{close_rgb, require_programs, wait_until, Compositor, Image, Rect, Value, MAP_TIMEOUT};

/// The bar's height in logical pixels (`compositor/src/decorations`).
const BAR: i32 = 28;
/// The focused bar's background and its close button's.
const FOCUSED: [u8; 3] = [0x2e, 0x34, 0x40];
const CLOSE_RED: [u8; 3] = [0xc4, 0x2b, 0x1c];
const BTN_LEFT: &str = "272";

fn count(shot: &Image, rect: Rect, color: [u8; 3]) -> i32 {
    let mut n = 0;
    for y in rect.y.max(0)..(rect.y + rect.height).min(shot.height as i32) {
        for x in rect.x.max(0)..(rect.x + rect.width).min(shot.width as i32) {
            n += close_rgb(shot.rgb(x as u32, y as u32), color, 2) as i32;
        }
    }
    n
}

/// Asserts a focused title bar with its title right above `window` in a fresh screenshot.
fn assert_bar_above(wr: &Compositor, window: &Value, name: &str) {
    let shot = wr.screenshot_output(&wr.path(&format!("{name}.png")));
    if let Err(why) = bar_above(&shot, Rect::of(window)) {
        panic!("{name}: {why} (screenshots in {})", wr.runtime_dir().display());
    }
}

/// Whether the RAIL window of `id` is the window's frame (its bar right above the content,
/// and as wide when `same_width`) and its picture (saved as `shot`) shows the bar above the
/// content; why not when it is not.
fn rail_frame_with_bar(wr: &Compositor, desk: &RailDesk, id: u64, same_width: bool, shot: &str) -> Result<(), String> {
    let (Some(rail), Some(window)) = (desk.window(id), wr.window(id)) else {
        return Err(format!("no window {id} on both sides yet"));
    };
    let proper = Rect::of(&window);
    let frame = (proper.x, proper.y - BAR, proper.height + BAR);
    if (rail.x, rail.y, rail.height) != frame || (same_width && rail.width != proper.width) {
        return Err(format!("the RAIL window {rail:?} is not the frame of {proper:?}"));
    }
    let picture = desk.capture(&rail, &wr.path(shot)).map_err(|e| format!("{e:#}"))?;
    bar_above(&picture, Rect { x: 0, y: BAR, width: proper.width, height: proper.height })
}

/// Whether `shot` (desktop coordinates) shows a focused title bar with its title right above
/// `rect`, and the app's pixels below it.
fn bar_above(shot: &Image, rect: Rect) -> Result<(), String> {
    let bar = Rect { x: rect.x, y: rect.y - BAR, width: rect.width, height: BAR };
    let area = bar.width * bar.height;
    let background = count(shot, bar, FOCUSED);
    if background <= area / 2 {
        return Err(format!("{background} of {area} bar pixels are the bar's colour above {rect:?}"));
    }
    // The title: light anti-aliased text on the left part of the bar.
    let title = Rect { x: bar.x + 10, y: bar.y, width: 60.min(bar.width - 110), height: BAR };
    let colors = shot.distinct_colors(title, 8);
    if colors < 4 {
        return Err(format!("the title area has {colors} colours, no text"));
    }
    // The close button at the right end, red while focused.
    let close = Rect { x: bar.x + bar.width - 32, y: bar.y, width: 32, height: BAR };
    if count(shot, close, CLOSE_RED) <= 32 * BAR / 2 {
        return Err("no close button".into());
    }
    // The app's own pixels right below.
    let below = Rect { x: rect.x, y: rect.y + 2, width: rect.width, height: 4 };
    if count(shot, below, FOCUSED) >= below.width {
        return Err("the bar covers the app's pixels".into());
    }
    Ok(())
}

fn click(wr: &Compositor, x: i32, y: i32) {
    wr.input(&["click", &x.to_string(), &y.to_string()]);
}

fn wait_for(wr: &Compositor, id: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wr.wait_for_window(Duration::from_secs(10), what, |w| w["id"].as_u64() == Some(id) && pred(w))
}

#[test]
fn foot_gets_a_title_bar_that_moves_maximizes_and_closes_it() {
    require_programs!("foot");
    let wr = Compositor::start(&["--output", "1280x800"]);
    let (mut foot, window) = wr.spawn_mapped("foot", &[]);
    let id = window["id"].as_u64().unwrap();
    let window = wait_for(&wr, id, "titled foot", |w| w["title"] == "foot");
    let rect = Rect::of(&window);
    assert!(rect.y >= BAR, "the bar is off the output: {window}");
    assert_bar_above(&wr, &window, "foot");

    // Dragging the title moves the window by as much.
    let (x, y) = (rect.x + 40, rect.y - BAR / 2);
    wr.input(&["motion", &x.to_string(), &y.to_string()]);
    wr.input(&["button", BTN_LEFT, "down"]);
    for step in 1..=4 {
        wr.input(&["motion", &(x + 25 * step).to_string(), &(y + 20 * step).to_string()]);
    }
    wr.input(&["button", BTN_LEFT, "up"]);
    let moved = wait_for(&wr, id, "moved by 100,80", |w| w["x"] == rect.x + 100 && w["y"] == rect.y + 80);
    let rect = Rect::of(&moved);
    assert_bar_above(&wr, &moved, "foot-moved");

    // Maximize gives the app the whole output; its bar shows over the top of it when the
    // pointer comes to the top edge, and its maximize button restores the window.
    let maximize = (rect.x + rect.width - 32 - 16, rect.y - BAR / 2);
    click(&wr, maximize.0, maximize.1);
    let output = Rect::of(&wr.outputs()[0]);
    let filling = |w: &Value| {
        w["state"] == "maximized"
            && (w["x"].as_i64(), w["y"].as_i64()) == (Some(output.x as i64), Some(output.y as i64))
            && (w["width"].as_i64(), w["height"].as_i64()) == (Some(output.width as i64), Some(output.height as i64))
    };
    wait_for(&wr, id, "maximized over the whole output", filling);
    let hidden = wr.screenshot_output(&wr.path("foot-maximized.png"));
    let top = Rect { x: output.x, y: output.y, width: output.width, height: BAR };
    assert!(count(&hidden, top, FOCUSED) < output.width, "a bar over the maximized window before the pointer came");
    let reveal = |wr: &Compositor| {
        wr.input(&["motion", "640", &output.y.to_string()]);
        wr.input(&["motion", "640", &(output.y + BAR / 2).to_string()]);
    };
    reveal(&wr);
    let shot = wr.screenshot_output(&wr.path("foot-maximized-revealed.png"));
    let under_bar = Rect { x: output.x, y: output.y + BAR, width: output.width, height: output.height - BAR };
    if let Err(why) = bar_above(&shot, under_bar) {
        panic!("the revealed bar of the maximized window: {why} (screenshots in {})", wr.runtime_dir().display());
    }
    click(&wr, output.x + output.width - 32 - 16, output.y + BAR / 2);
    wait_for(&wr, id, "restored", |w| w["state"] == "normal" && w["x"] == rect.x && w["y"] == rect.y);

    // A double-click on the title maximizes too.
    click(&wr, rect.x + 40, rect.y - BAR / 2);
    click(&wr, rect.x + 40, rect.y - BAR / 2);
    wait_for(&wr, id, "maximized by a double-click", filling);

    // The close button on the revealed bar closes foot.
    reveal(&wr);
    click(&wr, output.x + output.width - 16, output.y + BAR / 2);
    assert!(foot.wait_exit(MAP_TIMEOUT).is_some(), "foot still runs after a click on close\n{}", wr.log_tail(20));
}

#[test]
fn xterm_gets_a_title_bar() {
    require_programs!("Xwayland", "xterm");
    let wr = Compositor::start_xwayland("lazy", &["--output", "1280x800"]);
    let _term = wr.spawn_x11_client("xterm", &[]);
    let window = wr.wait_for_window(MAP_TIMEOUT, "xterm", |w| w["kind"] == "toplevel" && w["title"] == "xterm");
    assert!(window["y"].as_i64().unwrap() >= BAR as i64, "the bar is off the output: {window}");
    // Let it draw.
    std::thread::sleep(Duration::from_millis(500));
    assert_bar_above(&wr, &window, "xterm");
}

/// Moves `window` to 100,120 (so there is room above it) and asserts no bar of wayrail's
/// right above it.
fn assert_no_bar_above(wr: &Compositor, window: &Value, name: &str) {
    let id = window["id"].as_u64().unwrap();
    wr.window_op(id, &["move", "100", "120"]);
    let window = wait_for(wr, id, "moved to 100,120", |w| w["x"] == 100 && w["y"] == 120);
    std::thread::sleep(Duration::from_millis(300));
    let rect = Rect::of(&window);
    let shot = wr.screenshot_output(&wr.path(&format!("{name}.png")));
    let above = Rect { x: rect.x, y: rect.y - BAR, width: rect.width, height: BAR };
    let bar_pixels = count(&shot, above, FOCUSED);
    assert!(bar_pixels < above.width, "{name}: a bar above it ({bar_pixels} pixels of its colour): {window}");
}

#[test]
fn an_x11_window_with_gtk_frame_extents_gets_no_bar() {
    require_programs!("Xwayland", "xterm", "xprop", "xdotool");
    let wr = Compositor::start_xwayland("lazy", &["--output", "1280x800"]);
    let _term = wr.spawn_x11_client("xterm", &[]);
    let titled = |w: &Value| w["kind"] == "toplevel" && w["title"] == "xterm";
    let window = wr.wait_for_window(MAP_TIMEOUT, "xterm", titled);
    std::thread::sleep(Duration::from_millis(500));
    assert_bar_above(&wr, &window, "xterm-framed-before");
    // The window says it draws its own frame, and maps again.
    let x11 = |program: &str, args: &[&str]| {
        let out = wr.x11_command(program).args(args).output().unwrap();
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let xid = x11("xdotool", &["search", "--name", "^xterm$"]).lines().next().unwrap_or_default().trim().to_string();
    x11("xprop", &["-id", &xid, "-f", "_GTK_FRAME_EXTENTS", "32c", "-set", "_GTK_FRAME_EXTENTS", "0,0,0,0"]);
    x11("xdotool", &["windowunmap", "--sync", &xid]);
    wr.wait_for_no_window(Duration::from_secs(10), "xterm, unmapped", titled);
    x11("xdotool", &["windowmap", "--sync", &xid]);
    let window = wr.wait_for_window(MAP_TIMEOUT, "xterm, mapped again", titled);
    std::thread::sleep(Duration::from_millis(500));
    assert_no_bar_above(&wr, &window, "xterm-framed-after");
}

/// `program`, which draws its own header bar, shown on the headless desktop with no bar of ours
/// above it (its picture saved as `shot`).
fn app_gets_no_second_bar(program: &str, shot: &str) {
    let wr = Compositor::start(&["--output", "1280x800"]);
    let (_app, window) = wr.spawn_mapped(program, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let window = wr.window(window["id"].as_u64().unwrap()).unwrap();
    assert_no_bar_above(&wr, &window, shot);
}

#[test]
fn gtk_with_its_own_header_bar_gets_no_second_bar() {
    require_programs!("gtk3-demo");
    app_gets_no_second_bar("gtk3-demo", "gtk3-wayland");
}

#[test]
fn gtk4_asking_for_client_side_gets_no_second_bar() {
    require_programs!("gtk4-demo");
    app_gets_no_second_bar("gtk4-demo", "gtk4-wayland");
}

#[test]
fn gtk_over_x11_with_its_own_header_bar_gets_no_second_bar() {
    require_programs!("Xwayland", "gtk3-demo");
    let wr = Compositor::start_xwayland("lazy", &["--output", "1280x800"]);
    let _app = wr.spawn_x11_client("gtk3-demo", &[]);
    let window = wr.wait_for_window(MAP_TIMEOUT, "gtk3-demo over X11", |w| w["kind"] == "toplevel");
    std::thread::sleep(Duration::from_millis(800));
    let window = wr.window(window["id"].as_u64().unwrap()).unwrap();
    assert_no_bar_above(&wr, &window, "gtk3-x11");
}

#[test]
fn client_side_config_draws_no_bar() {
    require_programs!("foot");
    let config = std::env::temp_dir().join(format!("wayrail-decorations-{}.toml", std::process::id()));
    std::fs::write(&config, "decorations = \"client-side\"\n").unwrap();
    let wr = Compositor::start(&["--output", "1280x800", "--config", config.to_str().unwrap()]);
    let _ = std::fs::remove_file(&config);
    let (_foot, window) = wr.spawn_mapped("foot", &[]);
    assert_no_bar_above(&wr, &window, "foot-client-side");
}

#[test]
fn foot_in_an_rdp_desktop_session_is_moved_and_closed_from_its_bar() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "foot");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let (mut foot, window) = wr.spawn_mapped("foot", &[]);
    let id = window["id"].as_u64().unwrap();
    let window = wait_for(&wr, id, "titled foot", |w| w["title"] == "foot");
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &[]);
    // The client's window shows the desktop 1:1 at the origin: desktop = window coordinates.
    let path = wr.path("rdp-desktop.png");
    let mut why = String::new();
    let shown = wait_until(Duration::from_secs(20), || match rdp.capture(&x, &path).map_err(|e| e.to_string()) {
        Ok(shot) => bar_above(&shot, Rect::of(&wr.window(id).unwrap())).map_err(|e| why = e).is_ok(),
        Err(e) => {
            why = e;
            false
        }
    });
    assert!(shown, "the RDP client shows no bar above foot: {why} (see {})", path.display());

    // Dragging the title on the client moves the window.
    let rect = Rect::of(&window);
    let xid = rdp.window().to_string();
    let (sx, sy) = (rect.x + 40, rect.y - BAR / 2);
    x.xdotool(&["windowfocus", "--sync", &xid]);
    x.xdotool(&["mousemove", "--window", &xid, &sx.to_string(), &sy.to_string(), "mousedown", "1"]);
    for step in 1..=4 {
        let (px, py) = (sx + 25 * step, sy + 20 * step);
        x.xdotool(&["mousemove", "--window", &xid, &px.to_string(), &py.to_string()]);
    }
    x.xdotool(&["mouseup", "1"]);
    let moved = wait_for(&wr, id, "moved by 100,80", |w| w["x"] == rect.x + 100 && w["y"] == rect.y + 80);

    // Its close button closes it.
    let rect = Rect::of(&moved);
    let (cx, cy) = (rect.x + rect.width - 16, rect.y - BAR / 2);
    x.xdotool(&["mousemove", "--window", &xid, &cx.to_string(), &cy.to_string(), "click", "1"]);
    assert!(foot.wait_exit(MAP_TIMEOUT).is_some(), "foot still runs after a click on close\n{}", wr.log_tail(20));
}

#[test]
fn xterm_in_remote_app_has_a_bar_that_moves_its_host_window_and_closes_it() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "Xwayland", "xterm");
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--xwayland", "lazy"]);
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "xterm");
    let window = wr.wait_for_window(MAP_TIMEOUT, "xterm", |w| w["kind"] == "toplevel" && w["title"] == "xterm");
    let id = window["id"].as_u64().unwrap();
    let rail = desk.wait_window(RAIL_TIMEOUT, "for xterm", |r| u64::from(r.rail_id) == id && r.title == "xterm");
    desk.focus(&rail);
    // The app's pixels arrive as ever, below the bar.
    assert_rail_window_shows(&wr, &desk, &rail, &window, Duration::from_secs(15), "xterm-rail");

    // The RAIL window is the frame: the bar, then the content, which is where it says it is.
    let mut why = String::new();
    let shown = wait_until(Duration::from_secs(15), || {
        rail_frame_with_bar(&wr, &desk, id, true, "xterm-rail-bar.png").map_err(|e| why = e).is_ok()
    });
    assert!(shown, "xterm's RAIL window shows no title bar: {why} (see {})", wr.runtime_dir().display());

    // A press on the title hands the move to the host. There is no real window manager on this
    // host: the test does what one does for xfreerdp's _NET_WM_MOVERESIZE (the pointer moves
    // and the window with it); xfreerdp then ends the move with the button going up where the
    // pointer is, and the content follows, below the bar.
    let rail = desk.window(id).expect("the RAIL window");
    let xid = rail.xid.to_string();
    desk.focus(&rail);
    desk.x.xdotool(&["mousemove", "--sync", &(rail.x + 40).to_string(), &(rail.y + BAR / 2).to_string()]);
    desk.x.xdotool(&["mousedown", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    let (nx, ny) = (rail.x + 150, rail.y + 100);
    desk.x.xdotool(&["mousemove", "--sync", &(nx + 40).to_string(), &(ny + BAR / 2).to_string()]);
    desk.x.xdotool(&["windowmove", "--sync", &xid, &nx.to_string(), &ny.to_string()]);
    desk.x.xdotool(&["mouseup", "1"]);
    let moved = wr.wait_for_window(Duration::from_secs(15), "xterm, moved by the host", |w| {
        w["id"].as_u64() == Some(id) && w["x"] == nx && w["y"] == ny + BAR
    });
    let rail = desk.window(id).expect("the RAIL window");
    assert_eq!((rail.x, rail.y), (nx, ny), "the host window stays where it was moved: {moved}");

    // The close button closes xterm.
    let proper = Rect::of(&compositor_window(&wr, id));
    let (cx, cy) = (proper.x + proper.width - 16, proper.y - BAR / 2);
    desk.x.xdotool(&["mousemove", "--sync", &cx.to_string(), &cy.to_string(), "click", "1"]);
    wr.wait_for_no_window(MAP_TIMEOUT, "xterm, closed from its bar", |w| w["id"].as_u64() == Some(id));
    desk.wait_no_window(Duration::from_secs(10), "of the closed xterm", |r| u64::from(r.rail_id) == id);
}

/// In RemoteApp foot (server-side by xdg-decoration) gets the bar in its RAIL window; GTK 3's
/// demo, with its own header bar, gets none.
#[test]
fn in_remote_app_foot_gets_a_bar_and_gtk_with_its_header_bar_none() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "foot", "gtk3-demo-application");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let gtk = wr.spawn_client("gtk3-demo-application", &[], &[]);
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "foot");
    let foot = wr.wait_for_window(MAP_TIMEOUT, "foot", |w| w["kind"] == "toplevel" && w["app_id"] == "foot");
    let foot_id = foot["id"].as_u64().unwrap();
    let gtk_window = wr.wait_for_toplevel_of(&gtk, MAP_TIMEOUT);
    let gtk_id = gtk_window["id"].as_u64().unwrap();
    let rail = desk.wait_window(RAIL_TIMEOUT, "for foot", |r| u64::from(r.rail_id) == foot_id);
    let gtk_rail = desk.wait_window(RAIL_TIMEOUT, "for gtk3-demo", |r| u64::from(r.rail_id) == gtk_id);

    // foot: its picture and its RAIL window have the bar above the content.
    let (_, origin) = wr.screenshot_window(foot_id, &wr.path("foot-window.png"));
    assert_eq!(origin, (0, BAR), "foot's picture starts with the bar");
    let mut why = String::new();
    let shown = wait_until(Duration::from_secs(15), || {
        desk.focus(&rail);
        rail_frame_with_bar(&wr, &desk, foot_id, false, "foot-rail-bar.png").map_err(|e| why = e).is_ok()
    });
    assert!(shown, "foot's RAIL window shows no title bar: {why} (see {})", wr.runtime_dir().display());

    // gtk3-demo: no bar in its picture, and none of the focused bar's colour above its content.
    let (_, origin) = wr.screenshot_window(gtk_id, &wr.path("gtk-window.png"));
    assert_eq!(origin, (0, 0), "gtk3-demo's picture is its own surface");
    desk.focus(&gtk_rail);
    std::thread::sleep(Duration::from_millis(500));
    let gtk_rail = desk.window(gtk_id).expect("gtk3-demo's RAIL window");
    let proper = Rect::of(&compositor_window(&wr, gtk_id));
    let shot = desk.capture(&gtk_rail, &wr.path("gtk-rail.png")).unwrap_or_else(|e| panic!("{e:#}"));
    let above = Rect { x: proper.x - gtk_rail.x, y: proper.y - gtk_rail.y - BAR, width: proper.width, height: BAR };
    let bar_pixels = count(&shot, above, FOCUSED);
    assert!(bar_pixels < above.width, "a bar above gtk3-demo ({bar_pixels} pixels of its colour)");
}

/// An app's own header bar in RemoteApp: GTK asks to be moved (xdg_toplevel.move), the host
/// moves its window natively, and where the move ended reaches wayrail by the button going up.
#[test]
fn in_remote_app_a_drag_on_gtks_header_bar_moves_its_host_window() {
    require_programs!("Xvfb", "xdotool", "xfreerdp3", "gtk3-demo-application");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let gtk = wr.spawn_client("gtk3-demo-application", &[], &[]);
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "true");
    let window = wr.wait_for_toplevel_of(&gtk, MAP_TIMEOUT);
    let id = window["id"].as_u64().unwrap();
    let rail = desk.wait_window(RAIL_TIMEOUT, "for gtk3-demo", |r| u64::from(r.rail_id) == id);
    desk.focus(&rail);
    std::thread::sleep(Duration::from_millis(500));
    let rail = desk.window(id).expect("gtk3-demo's RAIL window");
    let before = Rect::of(&compositor_window(&wr, id));

    // A press on the header bar's middle, then a drag: GTK asks for the move once the pointer
    // has gone past its threshold. As in the title-bar test, the test plays the host's window
    // manager: the host window goes where the pointer went, then the button goes up.
    let (x0, y0) = (rail.x, rail.y);
    let xid = rail.xid.to_string();
    let (dx, dy) = (120, 80);
    drag_header_bar(&desk, &before, &xid, (x0, y0), (dx, dy));
    let moved = wr.wait_for_window(Duration::from_secs(15), "gtk3-demo, moved by the host", |w| {
        w["id"].as_u64() == Some(id) && w["x"] == before.x + dx && w["y"] == before.y + dy
    });
    std::thread::sleep(Duration::from_millis(500));
    let rail = desk.window(id).expect("gtk3-demo's RAIL window");
    assert_eq!((rail.x, rail.y), (x0 + dx, y0 + dy), "the host window stays where it was moved: {moved}");

    // Moved once, the window still takes a second move the same way.
    let before = Rect::of(&compositor_window(&wr, id));
    drag_header_bar(&desk, &before, &xid, (rail.x, rail.y), (-60, 40));
    wr.wait_for_window(Duration::from_secs(15), "gtk3-demo, moved a second time", |w| {
        w["id"].as_u64() == Some(id) && w["x"] == before.x - 60 && w["y"] == before.y + 40
    });
}

/// Presses on the middle of the header bar of the window at `window` (compositor
/// coordinates), drags by `by` in steps, moves the host window `xid` from `host_at` by as
/// much, and lets the button go.
fn drag_header_bar(desk: &RailDesk, window: &Rect, xid: &str, host_at: (i32, i32), by: (i32, i32)) {
    let (px, py) = (window.x + window.width / 2, window.y + 14);
    desk.x.xdotool(&["mousemove", &px.to_string(), &py.to_string()]);
    std::thread::sleep(Duration::from_millis(200));
    desk.x.xdotool(&["mousedown", "1"]);
    for step in 1..=10 {
        std::thread::sleep(Duration::from_millis(30));
        let (x, y) = (px + by.0 * step / 10, py + by.1 * step / 10);
        desk.x.xdotool(&["mousemove", &x.to_string(), &y.to_string()]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let (hx, hy) = (host_at.0 + by.0, host_at.1 + by.1);
    desk.x.xdotool(&["windowmove", "--sync", xid, &hx.to_string(), &hy.to_string()]);
    desk.x.xdotool(&["mouseup", "1"]);
}
