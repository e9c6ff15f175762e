//! X11 apps through Xwayland: windows of the window model with titles and pixels, typing,
//! override-redirect menus as popups, Xwayland started on demand and surviving its death.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use wayrail_e2e::{require_programs, wait_until, Client, Compositor, Rect, Value, MAP_TIMEOUT};

/// Waits for the window titled `title` of kind toplevel.
fn wait_titled(wr: &Compositor, title: &str) -> Value {
    wr.wait_for_window(MAP_TIMEOUT, &format!("titled {title:?}"), |w| w["kind"] == "toplevel" && w["title"] == title)
}

/// A lazy-Xwayland compositor with `program ARGS` started, and its window titled `title`.
fn lazy_with(program: &str, args: &[&str], title: &str) -> (Compositor, Client, Value) {
    let wr = Compositor::start_xwayland("lazy", &[]);
    let app = wr.spawn_x11_client(program, args);
    let window = wait_titled(&wr, title);
    (wr, app, window)
}

/// A lazy-Xwayland compositor with an xeyes window mapped: an X11 window with the keyboard
/// focus, so X11 clients may read the selections.
fn lazy_with_xeyes() -> (Compositor, Client) {
    let (wr, eyes, _) = lazy_with("xeyes", &[], "xeyes");
    (wr, eyes)
}

#[test]
fn lazy_display_exists_before_xwayland_and_starts_it_on_connect() {
    require_programs!("Xwayland", "xprop", "xeyes");
    let wr = Compositor::start_xwayland("lazy", &[]);
    let display = wr.x11_display().expect("lazy mode has an X11 display");
    assert!(display.starts_with(':'), "{display}");
    // The display's socket is there, and nothing runs behind it yet.
    let n: u32 = display[1..].parse().unwrap();
    assert!(std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(wr.xwayland_pid(), None, "Xwayland runs before any X client");

    // The first client (a window of its own) starts Xwayland and is served.
    let started = Instant::now();
    let _eyes = wr.spawn_x11_client("xeyes", &[]);
    let window = wait_titled(&wr, "xeyes");
    eprintln!("first X client connect -> window mapped: {} ms", started.elapsed().as_millis());
    assert_eq!(window["app_id"], "XEyes", "{window}");
    assert!(wr.xwayland_pid().is_some(), "no Xwayland child after an X client connected");
    // Later clients reach Xwayland directly.
    let status = wr.x11_command("xprop").args(["-root", "_NET_SUPPORTING_WM_CHECK"]).status().unwrap();
    assert!(status.success(), "xprop -root failed");
}

#[test]
fn x11_apps_map_with_titles_and_pixels() {
    require_programs!("Xwayland", "xterm", "xeyes", "xclock");
    let wr = Compositor::start_xwayland("on", &["--output", "1600x900"]);
    assert!(wait_until(Duration::from_secs(10), || wr.xwayland_pid().is_some()), "--xwayland on started nothing");
    let _term = wr.spawn_x11_client("xterm", &[]);
    let _eyes = wr.spawn_x11_client("xeyes", &[]);
    let _clock = wr.spawn_x11_client("xclock", &[]);
    let mut rects = Vec::new();
    for (i, (title, class)) in [("xterm", "XTerm"), ("xeyes", "XEyes"), ("xclock", "XClock")].into_iter().enumerate() {
        let w = wait_titled(&wr, title);
        assert_eq!(w["app_id"], class, "{w}");
        let id = w["id"].as_u64().unwrap();
        // Side by side, so each one's pixels are visible.
        let x = (20 + i * 520).to_string();
        wr.window_op(id, &["move", &x, "40"]);
        rects.push((title, id));
    }
    assert!(wait_until(Duration::from_secs(5), || {
        rects.iter().all(|(_, id)| wr.window(*id).is_some_and(|w| w["y"] == 40))
    }));
    // Let them redraw after the move.
    std::thread::sleep(Duration::from_millis(500));
    let shot = wr.screenshot_output(&wr.path("x11.png"));
    for (title, id) in rects {
        let w = wr.window(id).unwrap();
        let rect = Rect::of(&w);
        assert!(rect.width >= 50 && rect.height >= 50, "tiny window: {w}");
        assert!(shot.distinct_colors(rect, 2) >= 2, "{title}'s window area shows nothing: {w}");
        let (image, _) = wr.screenshot_window(id, &wr.path(&format!("{title}.png")));
        assert!(image.width >= 50, "{title}: empty window screenshot");
    }
}

#[test]
fn typing_reaches_xterm() {
    require_programs!("Xwayland", "xterm");
    let (wr, _term, window) = lazy_with("xterm", &["-e", "sh"], "sh");
    let id = window["id"].as_u64().unwrap();
    wr.window_op(id, &["focus"]);
    // xterm reads keys once its shell is up; type until the file holds the line. The shell
    // creates the file before echo writes to it, so its mere existence proves nothing yet.
    let file = wr.path("typed");
    let holds_ok = || std::fs::read_to_string(&file).is_ok_and(|s| s.trim() == "ok");
    let ok = wait_until(Duration::from_secs(20), || {
        wr.type_text("echo ok > typed\n");
        wait_until(Duration::from_secs(2), holds_ok)
    });
    assert!(ok, "typing into xterm did not write the file: {:?}", std::fs::read_to_string(&file));
}

#[test]
fn xterm_menu_is_a_popup_of_the_xterm() {
    require_programs!("Xwayland", "xterm");
    let (wr, _term, window) = lazy_with("xterm", &[], "xterm");
    let id = window["id"].as_u64().unwrap();
    let rect = Rect::of(&window);
    let (x, y) = ((rect.x + rect.width / 2).to_string(), (rect.y + rect.height / 2).to_string());
    wr.input(&["motion", &x, &y]);
    // Ctrl + left button held: xterm's main menu, an override-redirect window.
    wr.input(&["key", "29", "down"]);
    wr.input(&["button", "272", "down"]);
    let popup = wr.wait_for_window(Duration::from_secs(10), "xterm's menu", |w| w["kind"] == "popup");
    assert_eq!(popup["parent"].as_u64(), Some(id), "{popup}");
    wr.input(&["button", "272", "up"]);
    wr.input(&["key", "29", "up"]);
    wr.wait_for_no_window(Duration::from_secs(10), "xterm's menu", |w| w["kind"] == "popup");
}

#[test]
fn compositor_survives_xwayland_death_and_serves_the_next_client() {
    require_programs!("Xwayland", "xeyes", "xclock");
    let (wr, mut eyes) = lazy_with_xeyes();
    let pid = wr.xwayland_pid().expect("no Xwayland child");
    // SAFETY: kill(2) on wayrail's child, which it has not reaped while it shows in /proc.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wr.wait_for_no_window(Duration::from_secs(10), "of the dead Xwayland", |w| w["title"] == "xeyes");
    assert!(eyes.wait_exit(Duration::from_secs(10)).is_some(), "xeyes outlived its X server");
    assert!(wr.msg_json(&["version"])["x11_display"].is_string());
    // A fresh Xwayland for the next client.
    let _clock = wr.spawn_x11_client("xclock", &[]);
    wait_titled(&wr, "xclock");
    let again = wr.xwayland_pid().expect("no new Xwayland");
    assert_ne!(again, pid);
}

/// Runs `program args` under `timeout 5` and returns its stdout.
fn read_output(mut cmd: std::process::Command) -> String {
    cmd.stdin(std::process::Stdio::null());
    let out = cmd.output().expect("running a clipboard tool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn selections_are_bridged_both_ways() {
    require_programs!("Xwayland", "xeyes", "xclip", "wl-copy", "wl-paste", "timeout");
    let (wr, _eyes) = lazy_with_xeyes();
    let wl_paste = |primary: bool| {
        let mut cmd = wr.command("timeout");
        cmd.args(["5", "wl-paste", "-n"]);
        if primary {
            cmd.arg("-p");
        }
        read_output(cmd)
    };
    let xclip_out = |selection: &str| {
        let mut cmd = wr.x11_command("timeout");
        cmd.args(["5", "xclip", "-selection", selection, "-o"]);
        read_output(cmd)
    };
    for (selection, primary) in [("clipboard", false), ("primary", true)] {
        // X11 → Wayland.
        let text = format!("from-x11-{selection}");
        let mut cmd = wr.x11_command("sh");
        cmd.args(["-c", &format!("printf {text} | xclip -selection {selection} -i")]);
        let _xclip = wr.spawn("xclip", cmd);
        assert!(
            wait_until(Duration::from_secs(10), || wl_paste(primary) == text),
            "wl-paste did not see the X11 {selection}: {:?}",
            wl_paste(primary)
        );
        // Wayland → X11.
        let text = format!("from-wayland-{selection}");
        let mut cmd = wr.command("wl-copy");
        if primary {
            cmd.arg("-p");
        }
        cmd.arg(&text);
        let _wl_copy = wr.spawn("wl-copy", cmd);
        assert!(
            wait_until(Duration::from_secs(10), || xclip_out(selection) == text),
            "xclip did not see the Wayland {selection}: {:?}",
            xclip_out(selection)
        );
    }
}

/// An X11 copy made right after a Wayland copy wins. (wayrail's ownership of the X11 selection
/// for the Wayland copy sat unsent until the next X event, then overrode the X11 app's.)
#[test]
fn an_x11_copy_right_after_a_wayland_copy_wins() {
    require_programs!("Xwayland", "xeyes", "xclip", "wl-copy", "wl-paste", "timeout");
    let (wr, _eyes) = lazy_with_xeyes();
    let wl_paste = || {
        let mut cmd = wr.command("timeout");
        cmd.args(["5", "wl-paste", "-n"]);
        read_output(cmd)
    };
    for round in 0..3 {
        let wayland = format!("wayland-{round}");
        let mut cmd = wr.command("wl-copy");
        cmd.arg(&wayland);
        let _wl_copy = wr.spawn("wl-copy", cmd);
        // Read on the Wayland side only: no X11 traffic between the two copies.
        assert!(wait_until(Duration::from_secs(10), || wl_paste() == wayland), "wl-copy did not take the selection");
        let x11 = format!("x11-{round}");
        let mut cmd = wr.x11_command("sh");
        cmd.args(["-c", &format!("printf {x11} | xclip -selection clipboard -i")]);
        let _xclip = wr.spawn("xclip", cmd);
        assert!(
            wait_until(Duration::from_secs(10), || wl_paste() == x11),
            "round {round}: the X11 copy was lost, wl-paste gives {:?}",
            wl_paste()
        );
    }
}

/// `cmd` with its stdout into `out` (bounded by `timeout`); whether it succeeded.
fn run_into(mut cmd: std::process::Command, out: &std::path::Path) -> bool {
    let file = std::fs::File::create(out).expect("creating an output file");
    cmd.stdin(std::process::Stdio::null()).stdout(file);
    cmd.status().is_ok_and(|s| s.success())
}

/// `size` bytes of text that no shorter period repeats, so a lost or doubled chunk shows.
fn payload(size: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let mut out = Vec::with_capacity(size);
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        out.push(b"abcdefghijklmnopqrstuvwxyz0123456789\n"[(state % 37) as usize]);
    }
    out
}

/// Where two byte strings first differ, for a failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    format!("lengths {} and {}, first difference at byte {at}", a.len(), b.len())
}

/// A PNG image and a 5 MB text (X11 moves it in INCR chunks) go through
/// the clipboard from X11 to Wayland and back, byte for byte.
#[test]
fn clipboard_carries_images_and_large_payloads_both_ways() {
    require_programs!("Xwayland", "xeyes", "xclip", "wl-copy", "wl-paste", "timeout", "convert");
    let (wr, _eyes) = lazy_with_xeyes();

    let png = wr.path("in.png");
    let status = wr.command("convert").args(["-size", "97x61", "gradient:red-blue"]).arg(&png).status().unwrap();
    assert!(status.success(), "convert made no PNG");
    let image = wayrail_e2e::Image::load(&png).expect("convert's PNG decodes");
    let all = Rect { x: 0, y: 0, width: 97, height: 61 };
    assert!(image.width == 97 && image.distinct_colors(all, 32) >= 32, "the test image is not a gradient");
    let big = wr.path("in.txt");
    std::fs::write(&big, payload(5 * 1024 * 1024)).unwrap();

    for (name, file, mime) in [("png", &png, "image/png"), ("5MB", &big, "text/plain")] {
        let want = std::fs::read(file).unwrap();
        // X11 → Wayland: xclip serves the file, wl-paste reads it.
        let mut cmd = wr.x11_command("xclip");
        cmd.args(["-selection", "clipboard", "-t", mime, "-i"]).arg(file);
        let _xclip = wr.spawn("xclip", cmd);
        let got_path = wr.path(&format!("x11-to-wayland-{name}"));
        let mut got = Vec::new();
        let same = wait_until(Duration::from_secs(30), || {
            let mut cmd = wr.command("timeout");
            cmd.args(["20", "wl-paste", "-n", "-t", mime]);
            got = if run_into(cmd, &got_path) { std::fs::read(&got_path).unwrap() } else { Vec::new() };
            got == want
        });
        assert!(same, "{name} X11 → Wayland: {}\n{}", first_difference(&got, &want), wr.log_tail(20));

        // Wayland → X11: wl-copy serves it, xclip reads it.
        let mut cmd = wr.command("wl-copy");
        cmd.args(["-t", mime]).stdin(std::fs::File::open(file).unwrap());
        let wl_copy = {
            let log = std::fs::File::create(wr.path(&format!("wl-copy-{name}.log"))).unwrap();
            cmd.stdout(log.try_clone().unwrap()).stderr(log).process_group(0);
            cmd.spawn().expect("starting wl-copy")
        };
        let _reap = ChildGuard(wl_copy);
        let got_path = wr.path(&format!("wayland-to-x11-{name}"));
        let same = wait_until(Duration::from_secs(30), || {
            let mut cmd = wr.x11_command("timeout");
            cmd.args(["20", "xclip", "-selection", "clipboard", "-t", mime, "-o"]);
            got = if run_into(cmd, &got_path) { std::fs::read(&got_path).unwrap() } else { Vec::new() };
            got == want
        });
        assert!(same, "{name} Wayland → X11: {}\n{}", first_difference(&got, &want), wr.log_tail(20));
    }
}

/// Kills and reaps a child started without the harness (one whose stdin must be a file).
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's process group, which we have not reaped yet.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

#[test]
fn gtk3_over_x11_draws_as_first_client() {
    require_programs!("Xwayland", "gtk3-demo");
    // The first X client: it reaches Xwayland through the hand-over proxy.
    let (wr, _demo, window) = lazy_with("gtk3-demo", &[], "Application Class");
    assert_eq!(window["app_id"], "Gtk3-demo", "{window}");
    let rect = Rect::of(&window);
    // Drawn after its first frame: Xwayland waits for frame callbacks between frames.
    let drawn = wait_until(Duration::from_secs(10), || {
        wr.screenshot_output(&wr.path("gtk3-x11.png")).distinct_colors(rect, 8) >= 8
    });
    assert!(drawn, "gtk3-demo's X11 window shows nothing: {window}");
}

/// gtk3-demo under X11: its "Dialogs" demo window is transient for the main window, and the
/// message dialog it opens (space on its focused first button) is transient for the demo window:
/// `msg windows` gives each its owner, and the dialog is placed over its owner.
#[test]
fn gtk3_over_x11_dialog_has_its_owner() {
    require_programs!("Xwayland", "gtk3-demo");
    let (wr, _demo, main) = lazy_with("gtk3-demo", &["--run=dialog"], "Application Class");
    let demo = wait_titled(&wr, "Dialogs and Message Boxes");
    assert_eq!(demo["parent"], main["id"], "the demo window's owner: {demo}");
    let demo_id = demo["id"].as_u64().unwrap();
    wr.window_op(demo_id, &["focus"]);
    let is_dialog = |w: &Value| w["kind"] == "toplevel" && w["parent"].as_u64() == Some(demo_id);
    // GTK takes keys once the window has focus for it: press until the dialog shows.
    let opened = wait_until(Duration::from_secs(30), || {
        wr.input(&["tap", "57"]);
        wait_until(Duration::from_secs(3), || wr.windows().iter().any(is_dialog))
    });
    assert!(opened, "no message dialog owned by the demo window: {}", Value::Array(wr.windows()));
    let dialog = wr.windows().into_iter().find(is_dialog).unwrap();
    assert_eq!(dialog["app_id"], "Gtk3-demo", "{dialog}");
    let (owner, d) = (Rect::of(&wr.window(demo_id).unwrap()), Rect::of(&dialog));
    assert!(owner.contains(d.x + d.width / 2, d.y + d.height / 2), "dialog {d:?} is not over its owner {owner:?}");
    // Its own pixels are there (a message and a button).
    let drawn = wait_until(Duration::from_secs(10), || {
        wr.screenshot_output(&wr.path("gtk3-dialog.png")).distinct_colors(d, 8) >= 8
    });
    assert!(drawn, "the dialog shows nothing: {dialog}");
    // Closing the dialog leaves its owner.
    wr.window_op(dialog["id"].as_u64().unwrap(), &["close"]);
    wr.wait_for_no_window(Duration::from_secs(10), "(the closed dialog)", is_dialog);
    assert!(wr.window(demo_id).is_some(), "the owner went away with its dialog");
}

/// Starts `tests/probes/x11_probe.py MODE TITLE` (in these modes, an X11 app that does not close when
/// asked) and waits for its window.
fn close_probe(wr: &Compositor, mode: &str, title: &str) -> (wayrail_e2e::Client, u64) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/probes/x11_probe.py");
    // Debian's python3 has python3-xlib; another python3 earlier on PATH may not.
    let mut cmd = wr.x11_command("/usr/bin/python3");
    cmd.args([script, mode, title]);
    let probe = wr.spawn("x11_probe", cmd);
    let window = wait_titled(wr, title);
    assert_eq!(window["pid"].as_u64(), Some(u64::from(probe.pid())), "{window}");
    (probe, window["id"].as_u64().unwrap())
}

/// An X11 app that stopped answering (it takes _NET_WM_PING but reads no events) is killed
/// when its window does not close after a close request.
#[test]
fn a_hung_x11_app_is_killed_when_closed() {
    require_programs!("Xwayland", "/usr/bin/python3");
    let wr = Compositor::start_xwayland("lazy", &[]);
    let (mut probe, id) = close_probe(&wr, "hung", "hung app");
    wr.window_op(id, &["close"]);
    wr.wait_for_no_window(Duration::from_secs(20), "of the hung app", |w| w["id"].as_u64() == Some(id));
    assert!(probe.wait_exit(Duration::from_secs(10)).is_some(), "the hung app still runs");
    assert!(wr.log_text().contains("killed the X11 client"), "{}", wr.log_tail(20));
}

/// An app that ignores WM_DELETE_WINDOW but answers pings (as one asking "save changes?" does)
/// stays; one that cannot be pinged stays too, until it is asked a second time.
#[test]
fn x11_apps_that_ignore_close_are_killed_only_when_unresponsive_or_asked_twice() {
    require_programs!("Xwayland", "/usr/bin/python3");
    let wr = Compositor::start_xwayland("lazy", &[]);
    let (mut stubborn, stubborn_id) = close_probe(&wr, "stubborn", "stubborn app");
    let (mut noping, noping_id) = close_probe(&wr, "noping", "no-ping app");
    wr.window_op(stubborn_id, &["close"]);
    wr.window_op(noping_id, &["close"]);
    let decided = wait_until(Duration::from_secs(20), || {
        let log = wr.log_text();
        log.contains("answered the ping after a close request") && log.contains("takes no _NET_WM_PING")
    });
    assert!(decided, "no decision on the two close requests:\n{}", wr.log_tail(20));
    assert!(wr.window(stubborn_id).is_some() && !stubborn.has_exited(), "the responsive app was closed");
    assert!(wr.window(noping_id).is_some() && !noping.has_exited(), "the unpingable app was killed at once");
    // Asked again (after the grace period): the app that cannot be pinged goes.
    wr.window_op(noping_id, &["close"]);
    wr.wait_for_no_window(Duration::from_secs(10), "of the no-ping app", |w| w["id"].as_u64() == Some(noping_id));
    assert!(noping.wait_exit(Duration::from_secs(10)).is_some(), "the no-ping app still runs");
    assert!(wr.window(stubborn_id).is_some() && !stubborn.has_exited(), "the responsive app went too");
}

/// HiDPI: on a scaled output, X11 apps get the output's scale: an X11 window is its X size
/// divided by the scale in logical space, a click lands on the X pixel under it, and
/// `xrdb -query` and XSETTINGS tell toolkits the DPI, scale and cursor size.
fn x11_window_at_scale(scale: &str, factor: f64) {
    require_programs!("Xwayland", "/usr/bin/python3", "xrdb");
    let output = format!("1280x800,scale={scale}");
    let wr = Compositor::start_xwayland("lazy", &["--output", &output]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/probes/x11_probe.py");
    let mut cmd = wr.x11_command("/usr/bin/python3");
    cmd.args([script, "click", "click probe"]);
    let probe = wr.spawn("x11_probe", cmd);
    let window = wait_titled(&wr, "click probe");
    // The probe's window is 200x120 X pixels.
    let r = Rect::of(&window);
    let logical = ((200.0 / factor).round() as i32, (120.0 / factor).round() as i32);
    assert_eq!((r.width, r.height), logical, "logical size at scale {scale}: {window}");
    assert_eq!(window["scale"].as_f64(), Some(factor), "{window}");

    let (dx, dy) = (40, 30);
    wr.input(&["motion", &(r.x + dx).to_string(), &(r.y + dy).to_string()]);
    wr.input(&["button", "272", "down"]);
    wr.input(&["button", "272", "up"]);
    let mut log = String::new();
    let pressed = wait_until(Duration::from_secs(10), || {
        log = probe.log_text();
        log.contains("press ")
    });
    assert!(pressed, "the probe saw no click: {log}");
    let line = log.lines().find(|l| l.starts_with("press ")).unwrap();
    let xy: Vec<f64> = line[6..].split(' ').map(|v| v.parse().unwrap()).collect();
    let want = (f64::from(dx) * factor, f64::from(dy) * factor);
    assert!(
        (xy[0] - want.0).abs() <= 1.0 && (xy[1] - want.1).abs() <= 1.0,
        "a click at logical +{dx},+{dy} reached X pixel {xy:?}, not {want:?}"
    );

    let out = wr.x11_command("xrdb").arg("-query").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let dpi = (96.0 * factor).round() as i32;
    assert!(text.contains(&format!("Xft.dpi:\t{dpi}\n")), "xrdb -query: {text}");
    let cursor = (24.0 * factor).round() as i32;
    assert!(text.contains(&format!("Xcursor.size:\t{cursor}\n")), "xrdb -query: {text}");

    // XSETTINGS, as GTK reads them.
    let settings = wayrail_e2e::xwayland::xsettings_integers(&wr.x11_display().unwrap()).unwrap();
    let window_scale = (factor.floor() as i32).max(1);
    assert_eq!(settings.get("Xft/DPI"), Some(&(dpi * 1024)), "{settings:?}");
    assert_eq!(settings.get("Gdk/WindowScalingFactor"), Some(&window_scale), "{settings:?}");
    assert_eq!(settings.get("Gdk/UnscaledDPI"), Some(&(dpi * 1024 / window_scale)), "{settings:?}");
    assert_eq!(settings.get("Gtk/CursorThemeSize"), Some(&cursor), "{settings:?}");
}

#[test]
fn x11_window_at_scale_2() {
    x11_window_at_scale("2", 2.0);
}

#[test]
fn x11_window_at_scale_1_5() {
    x11_window_at_scale("1.5", 1.5);
}

/// Interactive move and resize asked for by an X11 app (`_NET_WM_MOVERESIZE` on a button press,
/// as apps with their own title bar do): the window follows the pointer until the button goes up.
#[test]
fn x11_app_moves_and_resizes_its_window_with_the_pointer() {
    require_programs!("Xwayland", "/usr/bin/python3");
    let wr = Compositor::start_xwayland("lazy", &["--output", "1280x800"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/probes/x11_probe.py");
    for mode in ["move", "resize"] {
        let title = format!("{mode} probe");
        let mut cmd = wr.x11_command("/usr/bin/python3");
        cmd.args([script, mode, &title]);
        let probe = wr.spawn("x11_probe", cmd);
        let before = Rect::of(&wait_titled(&wr, &title));
        let id = wait_titled(&wr, &title)["id"].as_u64().unwrap();
        let (x, y) = (before.x + 20, before.y + 20);
        wr.input(&["motion", &x.to_string(), &y.to_string()]);
        wr.input(&["button", "272", "down"]);
        let sent = wait_until(Duration::from_secs(10), || probe.log_text().contains("moveresize sent"));
        assert!(sent, "{mode}: the probe sent no request: {}", probe.log_text());
        // The request and the motion travel different ways: move on until the window follows.
        let (dx, dy) = (120, 70);
        let followed = wait_until(Duration::from_secs(10), || {
            wr.input(&["motion", &(x + dx).to_string(), &(y + dy).to_string()]);
            wr.window(id).is_some_and(|w| {
                let r = Rect::of(&w);
                match mode {
                    "move" => {
                        (r.x, r.y, r.width, r.height) == (before.x + dx, before.y + dy, before.width, before.height)
                    }
                    _ => (r.x, r.y, r.width, r.height) == (before.x, before.y, before.width + dx, before.height + dy),
                }
            })
        });
        wr.input(&["button", "272", "up"]);
        assert!(followed, "{mode}: window {before:?} did not follow (+{dx},+{dy}): {:?}", wr.window(id));
        // The button is up: the grab is over, the pointer moves alone (a grab would have moved
        // the window by the time the IPC request returns).
        let released = Rect::of(&wr.window(id).unwrap());
        wr.input(&["motion", "5", "5"]);
        let after = Rect::of(&wr.window(id).unwrap());
        assert_eq!(after, released, "{mode}: the window kept following the pointer");
        wr.window_op(id, &["close"]);
        wr.wait_for_no_window(Duration::from_secs(10), &title, |w| w["id"].as_u64() == Some(id));
    }
}

/// `_NET_WM_STATE` both ways: an X11 app minimizing itself (WM_CHANGE_STATE, as `xdotool
/// windowminimize` sends) is minimized and marked hidden; restoring and maximizing from the
/// compositor's side reach the app's `_NET_WM_STATE` and X geometry.
#[test]
fn x11_window_states_both_ways() {
    require_programs!("Xwayland", "xeyes", "xdotool", "xprop", "xwininfo");
    let wr = Compositor::start_xwayland("lazy", &["--output", "1280x800"]);
    let _eyes = wr.spawn_x11_client("xeyes", &[]);
    let id = wait_titled(&wr, "xeyes")["id"].as_u64().unwrap();
    let x11 = |program: &str, args: &[&str]| {
        let out = wr.x11_command(program).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let xid = x11("xdotool", &["search", "--name", "^xeyes$"]).trim().to_string();
    assert!(!xid.is_empty(), "xdotool found no xeyes window");
    let net_state = || x11("xprop", &["-id", &xid, "_NET_WM_STATE"]);
    let state_is = |s: &str| wr.window(id).is_some_and(|w| w["state"] == s);

    x11("xdotool", &["windowminimize", &xid]);
    assert!(wait_until(Duration::from_secs(10), || state_is("minimized")), "{:?}", wr.window(id));
    assert!(wait_until(Duration::from_secs(5), || net_state().contains("_NET_WM_STATE_HIDDEN")), "{}", net_state());

    wr.window_op(id, &["restore"]);
    assert!(wait_until(Duration::from_secs(10), || state_is("normal")), "{:?}", wr.window(id));
    assert!(wait_until(Duration::from_secs(5), || !net_state().contains("HIDDEN")), "{}", net_state());

    wr.window_op(id, &["maximize"]);
    assert!(wait_until(Duration::from_secs(10), || state_is("maximized")), "{:?}", wr.window(id));
    let maximized = || {
        let s = net_state();
        let geometry = x11("xwininfo", &["-id", &xid]);
        s.contains("_NET_WM_STATE_MAXIMIZED_VERT")
            && s.contains("_NET_WM_STATE_MAXIMIZED_HORZ")
            && geometry.contains("Width: 1280")
            && geometry.contains("Height: 800")
    };
    assert!(wait_until(Duration::from_secs(5), maximized), "{}", net_state());
    wr.window_op(id, &["unmaximize"]);
    assert!(wait_until(Duration::from_secs(10), || state_is("normal")), "{:?}", wr.window(id));
    assert!(wait_until(Duration::from_secs(5), || !net_state().contains("MAXIMIZED")), "{}", net_state());
}

/// Clients that connect while Xwayland starts (lazy mode, a burst of them) are all served:
/// those before the hand-over through the proxy, the later ones by Xwayland itself.
#[test]
fn a_burst_of_x_clients_across_the_lazy_start_is_served() {
    require_programs!("Xwayland", "xprop", "timeout");
    let wr = Compositor::start_xwayland("lazy", &[]);
    let mut clients = Vec::new();
    for _ in 0..60 {
        let mut cmd = wr.x11_command("timeout");
        cmd.args(["20", "xprop", "-root", "_NET_SUPPORTING_WM_CHECK"]);
        clients.push(wr.spawn("xprop", cmd));
        std::thread::sleep(Duration::from_millis(3));
    }
    let mut failed = Vec::new();
    for mut c in clients {
        let status = c.wait_exit(Duration::from_secs(30));
        if !status.is_some_and(|s| s.success()) {
            failed.push(format!("{status:?}: {}", c.log_tail(3)));
        }
    }
    assert!(failed.is_empty(), "{} of 60 X clients failed: {failed:#?}\n{}", failed.len(), wr.log_tail(10));
    assert!(wr.xwayland_pid().is_some());
}

/// An override-redirect window without WM_TRANSIENT_FOR (a tooltip) belongs to the X11 window
/// it opens over, even while another window has the focus.
#[test]
fn x11_tooltip_belongs_to_the_window_it_opens_over() {
    require_programs!("Xwayland", "/usr/bin/python3", "xeyes");
    let wr = Compositor::start_xwayland("lazy", &["--output", "1600x900"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/probes/x11_probe.py");
    let mut cmd = wr.x11_command("/usr/bin/python3");
    cmd.args([script, "popup", "tooltip probe"]);
    let probe = wr.spawn("x11_probe", cmd);
    let owner = wait_titled(&wr, "tooltip probe")["id"].as_u64().unwrap();
    wr.window_op(owner, &["move", "50", "50"]);
    let _eyes = wr.spawn_x11_client("xeyes", &[]);
    let eyes = wait_titled(&wr, "xeyes")["id"].as_u64().unwrap();
    wr.window_op(eyes, &["move", "900", "400"]);
    wr.window_op(eyes, &["focus"]);
    let placed = wait_until(Duration::from_secs(10), || {
        let (o, e) = (wr.window(owner).unwrap(), wr.window(eyes).unwrap());
        o["x"] == 50 && e["x"] == 900 && e["activated"] == true
    });
    assert!(placed, "windows not placed and focused: {}", Value::Array(wr.windows()));
    probe.signal(libc::SIGUSR1);
    let tip = wr.wait_for_window(Duration::from_secs(10), "(the tooltip)", |w| w["kind"] == "popup");
    assert_eq!(tip["parent"].as_u64(), Some(owner), "the tooltip is not the probe's: {tip}");
    assert_eq!(wr.window(eyes).unwrap()["activated"], true, "the focus moved");
}

/// GTK 3 under X11 follows the XSETTINGS scale: gtk3-demo's window has (about) the same logical
/// size on a scale-2 output as on a scale-1 one, drawn with twice the pixels, instead of half
/// the size.
#[test]
fn gtk3_over_x11_scales_itself_on_a_scale_2_output() {
    require_programs!("Xwayland", "gtk3-demo");
    let mut sizes = Vec::new();
    for scale in ["1", "2"] {
        let wr = Compositor::start_xwayland("lazy", &["--output", &format!("2560x1600,scale={scale}")]);
        let _demo = wr.spawn_x11_client("gtk3-demo", &[]);
        let window = wait_titled(&wr, "Application Class");
        sizes.push((window["width"].as_i64().unwrap(), window["height"].as_i64().unwrap()));
    }
    let (one, two) = (sizes[0], sizes[1]);
    let close = |a: i64, b: i64| (a - b).abs() * 10 <= a;
    eprintln!("gtk3-demo logical size: {one:?} at scale 1, {two:?} at scale 2");
    assert!(close(one.0, two.0) && close(one.1, two.1), "logical size at scale 1 {one:?}, at scale 2 {two:?}");
}
