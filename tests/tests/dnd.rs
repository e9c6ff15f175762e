//! Drag and drop between Linux apps whose windows are separate host windows (RemoteApp with
//! xfreerdp3 in Xvfb): the user presses on one RAIL window, moves across the host desktop onto
//! another app's RAIL window and lets go there. xfreerdp holds the X pointer grab on the first
//! window all along and reports desktop coordinates, so wayrail follows the pointer across
//! windows and the Wayland drag ends on the other app, which receives the data; the drag icon
//! travels in the host's pointer image. X11 apps drag to X11 apps (XDND, carried by Xwayland);
//! between X11 and Wayland apps nothing is delivered, and the pointer keeps working.

use std::path::Path;
use std::time::Duration;

use wayrail_e2e::rail::{compositor_window, RailDesk, RAIL_TIMEOUT};
use wayrail_e2e::rdp::FreeRdpVersion;
use wayrail_e2e::x11::RailWindow;
use wayrail_e2e::{wait_until, Client, Compositor, Rect, Value, MAP_TIMEOUT};

const PYTHON: &str = "/usr/bin/python3";
const PROBE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/probes/dnd_probe.py");

/// Whether Debian's python3 has GTK 3 (python3-gi, gir1.2-gtk-3.0).
fn have_python_gtk() -> bool {
    std::process::Command::new(PYTHON)
        .args(["-c", "import gi; gi.require_version('Gtk', '3.0'); from gi.repository import Gtk"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Which protocol a probe's GTK speaks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Wayland,
    X11,
}
use Kind::{Wayland, X11};

/// One `dnd_probe.py MODE TITLE ARG` on the Linux side, mapped, moved so its window proper's
/// corner is at `at`, and its RAIL window on the host.
struct App {
    client: Client,
    id: u64,
    rail: RailWindow,
}

impl App {
    fn start(
        wr: &Compositor,
        desk: &mut RailDesk,
        kind: Kind,
        mode: &str,
        title: &str,
        arg: &str,
        at: (i32, i32),
    ) -> App {
        let mut cmd = match kind {
            Wayland => wr.command(PYTHON),
            X11 => wr.x11_command(PYTHON),
        };
        cmd.args([PROBE, mode, title, arg]);
        let client = wr.spawn(mode, cmd);
        let window = wr.wait_for_window(MAP_TIMEOUT, &format!("titled {title:?}"), |w| {
            w["kind"] == "toplevel" && w["title"] == title
        });
        let id = window["id"].as_u64().expect("a window id");
        wr.window_op(id, &["move", &at.0.to_string(), &at.1.to_string()]);
        let moved = wait_until(Duration::from_secs(10), || {
            wr.window(id).is_some_and(|w| (Rect::of(&w).x, Rect::of(&w).y) == at)
        });
        assert!(moved, "window {id} did not move to {at:?}: {}", compositor_window(wr, id));
        // Where the host has it: the RAIL window must cover the window proper where it is now.
        let proper = Rect::of(&compositor_window(wr, id));
        let rail = desk.wait_window(RAIL_TIMEOUT, &format!("for {title:?} at {at:?}"), |r| {
            u64::from(r.rail_id) == id && r.rect().contains_rect(&proper)
        });
        App { client, id, rail }
    }

    /// A point on the app's widget (it fills the window under the title bar): halfway across,
    /// 60 % down the window proper.
    fn widget_point(&self, wr: &Compositor) -> (i32, i32) {
        let r = Rect::of(&compositor_window(wr, self.id));
        (r.x + r.width / 2, r.y + r.height * 6 / 10)
    }
}

/// The host's pointer image now (XFixes): its size and how many of its pixels are mostly opaque.
#[derive(Debug, Clone, Copy)]
struct HostCursor {
    width: u32,
    height: u32,
    opaque: usize,
}

fn host_cursor(desk: &RailDesk) -> HostCursor {
    const SCRIPT: &str = "from Xlib import display\n\
        d = display.Display()\n\
        d.xfixes_query_version()\n\
        c = d.xfixes_get_cursor_image(d.screen().root)\n\
        print(c.width, c.height, sum(1 for p in c.cursor_image if p >> 24 > 128))\n";
    let out = desk.x.command(PYTHON).args(["-c", SCRIPT]).output();
    let out =
        wayrail_e2e::checked_output(out, "python3 (XFixes cursor image)", &[]).unwrap_or_else(|e| panic!("{e:#}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let n: Vec<usize> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert_eq!(n.len(), 3, "unexpected XFixes answer {text:?}");
    HostCursor { width: n[0] as u32, height: n[1] as u32, opaque: n[2] }
}

/// Presses button 1 at `from` on the host, moves to `to` in small steps (the way a hand does,
/// and so that GTK sees a drag start), calls `over_target` there with the button still held
/// and releases.
fn drag(desk: &RailDesk, from: (i32, i32), to: (i32, i32), over_target: impl FnOnce()) {
    let xdo = |args: &[&str]| {
        desk.x.xdotool(args);
    };
    let at = |p: (i32, i32)| [p.0.to_string(), p.1.to_string()];
    let [x, y] = at(from);
    // Not `--sync`: that waits for a move, and the pointer may be there already.
    xdo(&["mousemove", &x, &y]);
    std::thread::sleep(Duration::from_millis(300));
    xdo(&["mousedown", "1"]);
    std::thread::sleep(Duration::from_millis(300));
    const STEPS: i32 = 30;
    for i in 1..=STEPS {
        let p = (from.0 + (to.0 - from.0) * i / STEPS, from.1 + (to.1 - from.1) * i / STEPS);
        let [x, y] = at(p);
        xdo(&["mousemove", &x, &y]);
        std::thread::sleep(Duration::from_millis(40));
    }
    // A moment over the target, so it sees the drag there and takes the offer.
    for dx in [3, -3, 0] {
        let [x, y] = at((to.0 + dx, to.1));
        xdo(&["mousemove", &x, &y]);
        std::thread::sleep(Duration::from_millis(150));
    }
    over_target();
    xdo(&["mouseup", "1"]);
}

/// Waits (5 s) for the host's pointer image to be as `pred` wants.
fn wait_for_cursor(desk: &RailDesk, what: &str, pred: impl Fn(&HostCursor) -> bool) -> HostCursor {
    let mut last = None;
    let found = wayrail_e2e::wait_for(Duration::from_secs(5), || {
        let c = host_cursor(desk);
        last = Some(c);
        pred(&c).then_some(c)
    });
    found.unwrap_or_else(|| panic!("the host's pointer is not {what}: {last:?}\n{}", desk.rdp.client.log_tail(10)))
}

/// Waits for `file` to hold `expected`; fails with what the apps and wayrail logged.
fn assert_received(wr: &Compositor, file: &Path, expected: &str, apps: &[&App], desk: &RailDesk) {
    let ok = wait_until(Duration::from_secs(10), || std::fs::read_to_string(file).is_ok_and(|s| s == expected));
    if ok {
        return;
    }
    let logs: Vec<String> = apps.iter().map(|a| format!("{} log:\n{}", a.client.name, a.client.log_tail(20))).collect();
    panic!(
        "{} holds {:?}, expected {expected:?}\n{}\nwayrail log:\n{}\nclient log:\n{}",
        file.display(),
        std::fs::read_to_string(file),
        logs.join("\n"),
        wr.log_tail(30),
        desk.rdp.client.log_tail(15)
    );
}

/// After the drop, the pointer is nobody's grab any more: a click on `app`'s window on the host
/// activates it and not `other` (click to focus only happens without a grab).
fn assert_pointer_free(wr: &Compositor, desk: &RailDesk, app: &App, other: &App) {
    let activated = |id: u64| wr.window(id).is_some_and(|w| w["activated"] == true);
    let p = app.widget_point(wr);
    desk.x.xdotool(&["mousemove", &p.0.to_string(), &p.1.to_string()]);
    std::thread::sleep(Duration::from_millis(200));
    desk.x.xdotool(&["click", "1"]);
    let ok = wait_until(Duration::from_secs(10), || activated(app.id) && !activated(other.id));
    assert!(
        ok,
        "a click on window {} ({}) after the drag did not activate it: {}\n{}",
        app.id,
        app.client.name,
        Value::Array(wr.windows()),
        wr.log_tail(20)
    );
}

/// wayrail (with Xwayland if `x11`) and RemoteApp xfreerdp3 on a 1280×800 desktop whose own
/// app shows no window.
fn start(x11: bool) -> Option<(Compositor, RailDesk)> {
    // What `require_programs!` checks, plus GTK for Python: a skip here, a failure in CI.
    let mut needed = vec!["Xvfb", "xdotool", "xfreerdp3", PYTHON];
    if x11 {
        needed.push("Xwayland");
    }
    let missing: Vec<&str> = needed.into_iter().filter(|p| !wayrail_e2e::have_program(p)).collect();
    if !missing.is_empty() {
        wayrail_e2e::skip_unless_ci(&format!(
            "{} not installed (scripts/setup-debian.sh test installs it)",
            missing.join(", ")
        ));
        return None;
    }
    if !have_python_gtk() {
        wayrail_e2e::skip_unless_ci(&format!(
            "{PYTHON} has no GTK 3 (python3-gi, gir1.2-gtk-3.0; scripts/setup-debian.sh test installs them)"
        ));
        return None;
    }
    let xwayland = if x11 { "on" } else { "off" };
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--xwayland", xwayland]);
    let desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "true");
    Some((wr, desk))
}

/// Text selected in a GTK entry in one RAIL window, dragged onto another app's GTK entry in
/// another RAIL window, lands there.
#[test]
fn text_dragged_between_rail_windows_drops_into_the_other_app() {
    let Some((wr, mut desk)) = start(false) else { return };
    let text = "dragged-through-rail";
    let received = wr.path("received.txt");
    let source = App::start(&wr, &mut desk, Wayland, "entry-source", "dnd source", text, (60, 120));
    let target =
        App::start(&wr, &mut desk, Wayland, "entry-target", "dnd target", received.to_str().unwrap(), (700, 300));
    assert_ne!(source.rail.xid, target.rail.xid);

    desk.focus(&source.rail);
    let from = source.widget_point(&wr);
    desk.x.xdotool(&["mousemove", &from.0.to_string(), &from.1.to_string()]);
    let plain = wait_for_cursor(&desk, "the plain pointer over the entry", |c| c.opaque > 0);
    let mut dragging = None;
    drag(&desk, from, target.widget_point(&wr), || {
        // The drag icon (the dragged text) comes with the pointer, over the other window.
        dragging = Some(wait_for_cursor(&desk, "the pointer with the drag icon", |c| {
            c.width >= plain.width + 40 && c.opaque >= plain.opaque + 100
        }));
    });
    assert_received(&wr, &received, text, &[&source, &target], &desk);
    // Back to a plain pointer once dropped.
    wait_for_cursor(&desk, "a plain pointer after the drop", |c| {
        c.width <= plain.width + 8 && c.height <= plain.height + 8
    });
    eprintln!("host pointer: {plain:?} before, {dragging:?} while dragging");
    assert_pointer_free(&wr, &desk, &source, &target);
}

/// A file (text/uri-list) dragged from one app's RAIL window onto another's arrives as its URI.
#[test]
fn file_dragged_between_rail_windows_arrives_as_its_uri() {
    let Some((wr, mut desk)) = start(false) else { return };
    let file = wr.path("dragged file.txt");
    std::fs::write(&file, "the dragged file's content\n").unwrap();
    let received = wr.path("received-uris.txt");
    let source =
        App::start(&wr, &mut desk, Wayland, "file-source", "dnd file source", file.to_str().unwrap(), (700, 80));
    let target =
        App::start(&wr, &mut desk, Wayland, "file-target", "dnd file target", received.to_str().unwrap(), (80, 420));

    desk.focus(&source.rail);
    drag(&desk, source.widget_point(&wr), target.widget_point(&wr), || {});
    let uri = format!("file://{}\n", file.to_str().unwrap().replace(' ', "%20"));
    assert_received(&wr, &received, &uri, &[&source, &target], &desk);
    assert_pointer_free(&wr, &desk, &source, &target);
}

/// Text dragged from a GTK entry of a `source` app to one of a `target` app, each in its RAIL
/// window, with Xwayland running. When `delivered`, the target must receive it; either way the
/// pointer must work as before afterwards (a click activates either window).
fn text_between(source: Kind, target: Kind, delivered: bool) {
    let Some((wr, mut desk)) = start(true) else { return };
    let text = "dragged-through-rail";
    let received = wr.path("received.txt");
    let from = App::start(&wr, &mut desk, source, "entry-source", "dnd source", text, (60, 120));
    let to = App::start(&wr, &mut desk, target, "entry-target", "dnd target", received.to_str().unwrap(), (700, 300));
    desk.focus(&from.rail);
    drag(&desk, from.widget_point(&wr), to.widget_point(&wr), || {});
    if delivered {
        assert_received(&wr, &received, text, &[&from, &to], &desk);
    } else {
        std::thread::sleep(Duration::from_secs(1));
        eprintln!("{source:?} → {target:?}: the target got {:?}", std::fs::read_to_string(&received).ok());
    }
    assert_pointer_free(&wr, &desk, &from, &to);
    assert_pointer_free(&wr, &desk, &to, &from);
}

/// Between two X11 apps (GTK on Xwayland) the drag is XDND, the X clients' own protocol, which
/// Xwayland carries from one of its windows to the other: wayrail has to keep the pointer on
/// them across the host windows.
#[test]
fn text_dragged_between_x11_apps_rail_windows() {
    text_between(X11, X11, true);
}

/// smithay's X11 window manager bridges the clipboard but not drag and drop (XDND to
/// `wl_data_device` and back), so a drag from an X11 app onto a Wayland app's window or the
/// other way delivers nothing; the pointer must keep working all the same.
#[test]
fn a_drag_from_x11_to_wayland_leaves_the_pointer_working() {
    text_between(X11, Wayland, false);
}

#[test]
fn a_drag_from_wayland_to_x11_leaves_the_pointer_working() {
    text_between(Wayland, X11, false);
}
