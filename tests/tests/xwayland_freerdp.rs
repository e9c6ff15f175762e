//! X11 apps through RemoteApp with a real FreeRDP client: `xfreerdp3 /app:program:xterm` (and
//! xeyes, xclock) makes wayrail start the X11 app through Xwayland, started on demand by that
//! very app; each window becomes a RAIL window with the app's title showing the compositor's
//! picture of it; typing on the host reaches the shell in xterm, and xterm's ctrl+click menu (an
//! override-redirect window) becomes an override-redirect RAIL window owned by the xterm's.

use std::time::Duration;

use wayrail_e2e::rail::{assert_rail_window_shows, compositor_window, RailDesk, RAIL_TIMEOUT};
use wayrail_e2e::rdp::FreeRdpVersion;
use wayrail_e2e::x11::RailWindow;
use wayrail_e2e::{require_programs, wait_until, Compositor, Rect, Value, MAP_TIMEOUT};

/// How long a still window may take to reach the host exactly.
const SETTLE: Duration = Duration::from_secs(15);

fn id_of(w: &Value) -> u64 {
    w["id"].as_u64().unwrap_or_else(|| panic!("no id in {w}"))
}

/// The compositor's toplevel titled `title` and its RAIL window with that title.
fn wait_app_window(wr: &Compositor, desk: &mut RailDesk, title: &str) -> (Value, RailWindow) {
    let window = wr
        .wait_for_window(MAP_TIMEOUT, &format!("titled {title:?}"), |w| w["kind"] == "toplevel" && w["title"] == title);
    let id = id_of(&window);
    let rail = desk.wait_window(RAIL_TIMEOUT, &format!("for {title} (window {id})"), |r| {
        u64::from(r.rail_id) == id && r.title == title
    });
    (compositor_window(wr, id), rail)
}

#[test]
fn xfreerdp3_remote_app_xterm_types_and_its_menu_is_an_owned_popup() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "Xwayland", "xterm");
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--xwayland", "lazy"]);
    // The host's Exec starts xterm, whose connection starts Xwayland.
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "xterm");
    let (window, rail) = wait_app_window(&wr, &mut desk, "xterm");
    assert_eq!(window["app_id"], "XTerm", "{window}");
    assert!(!rail.override_redirect, "xterm's window is a managed one: {rail:?}");
    assert_rail_window_shows(&wr, &desk, &rail, &window, SETTLE, "xterm");

    // Typing on the host reaches xterm's shell.
    let out = wr.path("typed.txt");
    let command = format!("echo typed-into-xterm > {}", out.display());
    let typed = wait_until(Duration::from_secs(30), || {
        // Focus again each round: on a loaded machine the first activation may come late.
        desk.focus(&rail);
        desk.x.xdotool(&["type", "--delay", "15", &command]);
        desk.x.xdotool(&["key", "Return"]);
        // The shell creates the file before echo fills it: wait for the line itself.
        wait_until(Duration::from_secs(3), || {
            std::fs::read_to_string(&out).is_ok_and(|s| s.trim() == "typed-into-xterm")
        })
    });
    assert!(
        typed,
        "xterm did not run what was typed into its RAIL window: {:?}\n{}",
        std::fs::read_to_string(&out),
        wr.log_tail(20)
    );

    // Ctrl + left button held over the xterm: its main menu.
    let id = id_of(&window);
    let top = Rect::of(&compositor_window(&wr, id));
    let (x, y) = ((top.x + top.width / 2).to_string(), (top.y + top.height / 2).to_string());
    desk.focus(&rail);
    desk.x.xdotool(&["mousemove", "--sync", &x, &y]);
    desk.x.xdotool(&["keydown", "ctrl", "mousedown", "1"]);
    let popup = wr.wait_for_window(Duration::from_secs(15), "(xterm's menu)", |w| w["kind"] == "popup");
    assert_eq!(popup["parent"].as_u64(), Some(id), "the menu is not the xterm's: {popup}");
    let popup_id = id_of(&popup);
    // xfreerdp sets WM_TRANSIENT_FOR (from the RAIL owner) once the window is up: wait for it.
    let menu = desk.wait_window(RAIL_TIMEOUT, "for xterm's menu, owned by xterm's", |r| {
        u64::from(r.rail_id) == popup_id && r.transient_for == Some(rail.xid)
    });
    assert!(menu.override_redirect, "a menu is an override-redirect window on the host: {menu:?}");
    let p = Rect::of(&compositor_window(&wr, popup_id));
    assert!(menu.rect().contains_rect(&p), "the menu's RAIL window {menu:?} does not cover the menu {p:?}");
    assert_rail_window_shows(&wr, &desk, &menu, &popup, SETTLE, "xterm-menu");

    // Letting go closes it, on both sides.
    desk.x.xdotool(&["mouseup", "1", "keyup", "ctrl"]);
    wr.wait_for_no_window(Duration::from_secs(10), "(xterm's menu, released)", |w| id_of(w) == popup_id);
    desk.wait_no_window(Duration::from_secs(10), "of the released menu", |r| u64::from(r.rail_id) == popup_id);
    assert!(desk.window(id).is_some(), "xterm's RAIL window went away with its menu");
}

/// xeyes and xclock, each asked for by a RemoteApp session of its own on one compositor: RAIL
/// windows with the apps' titles and pictures.
#[test]
fn xfreerdp3_remote_app_xeyes_and_xclock() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "Xwayland", "xeyes", "xclock");
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--xwayland", "lazy"]);
    for (app, class) in [("xeyes", "XEyes"), ("xclock", "XClock")] {
        let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), app);
        let (window, rail) = wait_app_window(&wr, &mut desk, app);
        assert_eq!(window["app_id"], class, "{window}");
        let proper = Rect::of(&window);
        assert!(proper.width >= 50 && proper.height >= 50, "tiny {app} window: {window}");
        assert!(rail.rect().contains_rect(&proper), "{app}: RAIL window {rail:?} does not cover {proper:?}");
        // xeyes follows the pointer; the host's pointer stays put once it is away from the eyes.
        desk.x.xdotool(&["mousemove", "--sync", "1200", "780"]);
        assert_rail_window_shows(&wr, &desk, &rail, &window, SETTLE, app);
        // Ending the session leaves the app running (the host is gone, not the app).
        drop(desk);
        assert!(wr.window(id_of(&window)).is_some(), "{app}'s window went away with the RDP session");
        wr.window_op(id_of(&window), &["close"]);
        wr.wait_for_no_window(Duration::from_secs(10), &format!("of {app}, closed"), |w| w["title"] == app);
    }
}

/// An X11 window's own icon (`_NET_WM_ICON`) is its RAIL window's icon: xfreerdp3 puts what
/// it gets on its window as `_NET_WM_ICON`, where the probe's red and blue halves must show;
/// and when the app changes its icon after mapping, the new one (green and yellow) follows.
#[test]
fn xfreerdp3_shows_an_x11_windows_own_icon() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "Xwayland", "/usr/bin/python3");
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--xwayland", "lazy"]);
    // The host runs a program that shows no window; the probe starts on the Linux side.
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "true");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/probes/x11_probe.py");
    let mut cmd = wr.x11_command("/usr/bin/python3");
    cmd.args([script, "icon", "icon probe"]);
    let probe = wr.spawn("x11_probe", cmd);
    let (_, rail) = wait_app_window(&wr, &mut desk, "icon probe");
    let halves = |left: u32, right: u32| {
        move |(w, h, argb): &(u32, u32, Vec<u32>)| {
            let px = |x: u32| argb[(h / 2 * w + x) as usize] & 0x00ff_ffff;
            *w >= 16 && px(1) == left && px(w - 2) == right
        }
    };
    for (left, right, what) in [(0xff_0000, 0x00_00ff, "red and blue"), (0x00_ff00, 0xff_ff00, "green and yellow")] {
        if left == 0x00_ff00 {
            probe.signal(libc::SIGUSR1);
        }
        let mut icons = Vec::new();
        let shown = wait_until(RAIL_TIMEOUT, || {
            icons = desk.wm.net_wm_icon(rail.xid).unwrap_or_default();
            // xfreerdp3 adds the icons of a window's later icon orders after the ones it has
            // (the small and the big one): the newest two are what the host shows now.
            let newest = if left == 0x00_ff00 { icons.len().saturating_sub(2) } else { 0 };
            icons.len() > newest && icons[newest..].iter().all(halves(left, right))
        });
        let sizes: Vec<_> = icons.iter().map(|(w, h, _)| (*w, *h)).collect();
        assert!(shown, "the RAIL window's icons {sizes:?} are not the app's {what} halves\n{}", wr.log_tail(60));
    }
}
