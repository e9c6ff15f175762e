//! RemoteApp with real FreeRDP clients in Xvfb: `xfreerdp3 /app:program:CMD` and
//! `xfreerdp /app:CMD` (2.11) make wayrail launch CMD, and each of its windows becomes an X
//! window of class RAIL with the window's title, showing exactly the compositor's picture of
//! it; typing into it reaches the app, closing it the way a window manager does closes the app;
//! two apps are two RAIL windows and focusing one activates it; a GTK menu opened with a click
//! becomes an owned popup window right under its menu item.

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

/// Whether process `pid` is gone (exited and reaped, or a zombie).
fn process_gone(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// The compositor's first toplevel (the app the host asked for) and its RAIL window.
fn wait_app_window(wr: &Compositor, desk: &mut RailDesk, what: &str) -> (Value, RailWindow) {
    let window = wr.wait_for_window(MAP_TIMEOUT, what, |w| {
        w["kind"] == "toplevel" && !w["title"].as_str().unwrap_or("").is_empty()
    });
    let id = id_of(&window);
    let title = window["title"].as_str().unwrap().to_string();
    let rail = desk.wait_window(RAIL_TIMEOUT, &format!("for {what} (window {id}, {title:?})"), |r| {
        u64::from(r.rail_id) == id && r.title == title
    });
    (compositor_window(wr, id), rail)
}

/// wayrail on a 1280×800 output, `app` started through a RemoteApp xfreerdp of `version`,
/// and the app's first window on both sides.
fn start_app(version: FreeRdpVersion, app: &str) -> (Compositor, RailDesk, Value, RailWindow) {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let mut desk = RailDesk::start(&wr, version, (1280, 800), app);
    let (window, rail) = wait_app_window(&wr, &mut desk, &format!("of {app}"));
    (wr, desk, window, rail)
}

/// Types `command` and Enter into a RAIL window through X (XTEST), the way a user would.
fn type_into(desk: &RailDesk, rail: &RailWindow, command: &str) {
    desk.focus(rail);
    desk.x.xdotool(&["type", "--delay", "15", command]);
    desk.x.xdotool(&["key", "Return"]);
}

/// Closes the app through its RAIL window and checks everything goes: the process, the RAIL
/// window and the compositor's window.
fn close_through_the_host(wr: &Compositor, desk: &RailDesk, rail: &RailWindow, window: &Value) {
    let pid = window["pid"].as_i64().expect("the app's pid");
    desk.wm.send_delete_window(rail.xid).unwrap_or_else(|e| panic!("{e:#}"));
    let exited = wait_until(Duration::from_secs(10), || process_gone(pid));
    assert!(exited, "the app (pid {pid}) still runs after its RAIL window was closed\n{}", wr.log_tail(20));
    desk.wait_no_window(Duration::from_secs(10), "of the closed app", |r| r.rail_id == rail.rail_id);
    let empty = wait_until(Duration::from_secs(5), || wr.windows().is_empty());
    assert!(empty, "windows left after closing the app: {}", Value::Array(wr.windows()));
}

fn foot_through_rail(version: FreeRdpVersion) {
    require_programs!("Xvfb", "xdotool", "import", version.program(), "foot");
    let (wr, mut desk, window, rail) = start_app(version, "foot");
    assert_eq!(window["app_id"], "foot", "{window}");
    assert!(!rail.override_redirect, "an application window is managed: {rail:?}");
    let settle = assert_rail_window_shows(&wr, &desk, &rail, &window, SETTLE, "foot");

    // Typing reaches the shell in foot.
    let out = wr.path("typed.txt");
    type_into(&desk, &rail, &format!("echo typed-through-rail > {}", out.display()));
    let typed = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.trim() == "typed-through-rail")
    });
    assert!(typed, "foot did not run what was typed into its RAIL window ({})", out.display());
    // The RAIL window shows what foot shows now (the typed line), once it holds still.
    assert_rail_window_shows(&wr, &desk, &rail, &window, SETTLE, "foot-typed");

    close_through_the_host(&wr, &desk, &rail, &window);
    assert!(
        !desk.rdp.client.has_exited(),
        "{} exited with its app:\n{}",
        desk.rdp.client.name,
        desk.rdp.client.log_tail(20)
    );
    eprintln!("{}: foot's RAIL window exact after {settle:?}", version.program());
}

#[test]
fn xfreerdp3_remote_app_foot() {
    foot_through_rail(FreeRdpVersion::V3);
}

#[test]
fn xfreerdp2_remote_app_foot() {
    foot_through_rail(FreeRdpVersion::V2);
}

/// weston-terminal draws its own frame with a shadow: the RAIL window is the whole picture,
/// shaped to the window proper.
#[test]
fn xfreerdp3_remote_app_weston_terminal() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "weston-terminal");
    let (wr, desk, window, rail) = start_app(FreeRdpVersion::V3, "weston-terminal");
    let proper = Rect::of(&window);
    assert!(rail.rect().contains_rect(&proper), "the RAIL window {rail:?} does not cover the window proper {proper:?}");
    assert_rail_window_shows(&wr, &desk, &rail, &window, SETTLE, "weston-terminal");
    close_through_the_host(&wr, &desk, &rail, &window);
}

/// Two apps: two RAIL windows; focusing one on the host activates it in the compositor.
#[test]
fn two_apps_are_two_rail_windows_and_focus_follows_the_host() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "foot");
    let (wr, mut desk, first, first_rail) = start_app(FreeRdpVersion::V3, "foot");
    // The second one starts on the Linux side; the host hears of it all the same.
    let (_second_app, second) = wr.spawn_mapped("foot", &["--title", "second foot"]);
    let second_id = id_of(&second);
    let second_rail = desk.wait_window(RAIL_TIMEOUT, "for the second foot", |r| {
        u64::from(r.rail_id) == second_id && r.title == "second foot"
    });
    assert_ne!(first_rail.rail_id, second_rail.rail_id);
    assert_ne!(first_rail.xid, second_rail.xid);
    assert_eq!(desk.windows().len(), 2, "{:?}", desk.windows());

    let activated = |id: u64| wr.window(id).is_some_and(|w| w["activated"] == true);
    for (rail, id, other) in [
        (&first_rail, id_of(&first), second_id),
        (&second_rail, second_id, id_of(&first)),
        (&first_rail, id_of(&first), second_id),
    ] {
        desk.focus(rail);
        let ok = wait_until(Duration::from_secs(10), || activated(id) && !activated(other));
        assert!(ok, "focusing RAIL window {rail:?} did not activate window {id}: {}", Value::Array(wr.windows()));
    }
    assert_rail_window_shows(&wr, &desk, &second_rail, &second, SETTLE, "second-foot");
}

/// Where gtk3-demo-application's "Preferences" menubar item is, from its window geometry's
/// top-left (under the client-side title bar; Adwaita at scale 1), as in `popup.rs`.
const PREFERENCES: (i32, i32) = (45, 49);

/// A GTK menu opened by a click on the host becomes a RAIL window of its own, owned by the
/// app's window, right under the menu item, and goes away with Escape.
#[test]
fn a_gtk_menu_becomes_an_owned_rail_window_under_its_item() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "gtk3-demo-application");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    // Started on the Linux side with a clean environment (no session bus, GTK on Wayland);
    // the host runs a program that shows no window.
    let app = wr.spawn_client("gtk3-demo-application", &[], &[]);
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "true");
    let window = wr.wait_for_toplevel_of(&app, MAP_TIMEOUT);
    let id = id_of(&window);
    let window = wr.wait_for_window(Duration::from_secs(10), "titled \"Application Class\"", |w| {
        id_of(w) == id && w["title"] == "Application Class"
    });
    let rail = desk
        .wait_window(RAIL_TIMEOUT, "for gtk3-demo", |r| u64::from(r.rail_id) == id && r.title == "Application Class");
    assert_rail_window_shows(&wr, &desk, &rail, &window, SETTLE, "gtk3-demo");
    let top = Rect::of(&compositor_window(&wr, id));

    // Click "Preferences" on the host: X coordinates are the compositor's.
    let click = (top.x + PREFERENCES.0, top.y + PREFERENCES.1);
    desk.focus(&rail);
    desk.x.xdotool(&["mousemove", "--sync", &click.0.to_string(), &click.1.to_string()]);
    desk.x.xdotool(&["click", "1"]);
    let popup = wr.wait_for_window(Duration::from_secs(10), "(the Preferences menu)", |w| {
        w["kind"] == "popup" && w["parent"].as_u64() == Some(id)
    });
    let popup_id = id_of(&popup);
    let p = Rect::of(&popup);
    assert!(p.y > click.1 && p.y <= click.1 + 30, "menu top {} is not right below the click at y {}", p.y, click.1);
    assert!(p.x <= click.0 && p.x >= top.x - 10, "menu left {} is not at the item (click x {})", p.x, click.0);
    let menu = desk.wait_window(RAIL_TIMEOUT, "for the Preferences menu", |r| u64::from(r.rail_id) == popup_id);
    // Where the host shows it: its window proper exactly where the compositor has it.
    let popup = compositor_window(&wr, popup_id);
    let p = Rect::of(&popup);
    assert!(menu.rect().contains_rect(&p), "the menu's RAIL window {menu:?} does not cover the menu {p:?}");
    assert!(menu.override_redirect, "a menu is an override-redirect window on the host: {menu:?}");
    assert!(menu.y <= p.y && p.y <= menu.y + 64 && menu.x <= p.x && p.x <= menu.x + 64, "{menu:?} vs {p:?}");
    assert!(p.y >= click.1, "the menu {p:?} is not below its item at y {}", click.1);
    // xfreerdp makes the owner (the RAIL owner window id) the menu's WM_TRANSIENT_FOR, at
    // times a moment after the window appears: read it again until it is there.
    desk.wait_window(RAIL_TIMEOUT, "for the menu to be owned by the app's window (WM_TRANSIENT_FOR)", |r| {
        u64::from(r.rail_id) == popup_id && r.transient_for == Some(rail.xid)
    });
    assert_rail_window_shows(&wr, &desk, &menu, &popup, SETTLE, "gtk3-menu");

    // Escape closes it: the popup and its RAIL window go.
    desk.x.xdotool(&["key", "Escape"]);
    wr.wait_for_no_window(Duration::from_secs(5), "(the menu, after Escape)", |w| id_of(w) == popup_id);
    desk.wait_no_window(Duration::from_secs(10), "of the closed menu", |r| u64::from(r.rail_id) == popup_id);
    assert!(desk.window(id).is_some(), "the app's RAIL window went away with its menu");
}
