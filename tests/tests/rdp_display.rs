//! The desktop over RDP, seen by real FreeRDP clients (3.x and 2.x) in Xvfb: the client's window
//! shows exactly what the compositor composed (the codec is lossless), follows the client's
//! window size with `/dynamic-resolution`, and a client killed mid-stream changes nothing for
//! the apps: the next one sees them again.

use std::time::{Duration, Instant};

use wayrail_e2e::rdp::{wait_client_shows_output, FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{require_programs, wait_for, wait_until, Client, Compositor, Rect, Value, MAP_TIMEOUT};

/// How long a stopped scene may take to reach the client exactly.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

/// The first output's size as `msg outputs` reports it.
fn output_size(wr: &Compositor) -> (i64, i64) {
    let outputs = wr.outputs();
    let o = outputs.first().unwrap_or_else(|| panic!("no outputs: {}", Value::Array(outputs.clone())));
    (o["width"].as_i64().unwrap(), o["height"].as_i64().unwrap())
}

fn wait_output_size(wr: &Compositor, size: (i64, i64), timeout: Duration, what: &str) {
    let ok = wait_until(timeout, || output_size(wr) == size);
    assert!(
        ok,
        "{what}: the output is {:?}, expected {size:?} within {timeout:?}: {}\ncompositor log:\n{}",
        output_size(wr),
        Value::Array(wr.outputs()),
        wr.log_tail(20)
    );
}

/// Waits until the client's window shows the app's picture (many colours, as simple-shm draws)
/// inside `rect`; gives how long after the client's start that was.
fn wait_first_picture(wr: &Compositor, x: &Xvfb, rdp: &FreeRdp, rect: Rect) -> Duration {
    let path = wr.path("first-picture.png");
    let shown =
        wait_until(SETTLE_TIMEOUT, || rdp.capture(x, &path).is_ok_and(|img| img.distinct_colors(rect, 50) >= 50));
    assert!(
        shown,
        "{} never showed simple-shm's picture in {rect:?} (see {}):\n{}",
        rdp.client.name,
        path.display(),
        rdp.client.log_tail(20)
    );
    rdp.age()
}

/// Freezes simple-shm, waits until the client shows the compositor's pixels exactly (inside the
/// window and on the whole desktop), and lets it go on.
fn assert_frozen_scene_matches(wr: &Compositor, x: &Xvfb, rdp: &FreeRdp, shm: &Client, tag: &str) -> Duration {
    let id = shm.pid() as i64;
    shm.signal(libc::SIGSTOP);
    let window = wr.wait_for_window(Duration::from_secs(5), "of simple-shm", |w| w["pid"].as_i64() == Some(id));
    let rect = Rect::of(&window);
    let settle = wait_client_shows_output(wr, x, rdp, rect, SETTLE_TIMEOUT, &format!("{tag}-window"));
    let settle = settle.unwrap_or_else(|e| panic!("{tag}: {e}"));
    let (w, h) = output_size(wr);
    let desktop = Rect { x: 0, y: 0, width: w as i32, height: h as i32 };
    let whole = wait_client_shows_output(wr, x, rdp, desktop, Duration::from_secs(5), &format!("{tag}-desktop"));
    whole.unwrap_or_else(|e| panic!("{tag}, whole desktop: {e}"));
    // What matched is the app's picture, not two empty areas.
    let shot = wr.screenshot_output(&wr.path(&format!("{tag}-check.png")));
    assert!(shot.distinct_colors(rect, 50) >= 50, "{tag}: simple-shm's window {rect:?} shows no picture");
    shm.signal(libc::SIGCONT);
    settle
}

/// The client's window keeps changing inside `rect` (the app animates through RDP).
fn assert_client_animates(wr: &Compositor, x: &Xvfb, rdp: &FreeRdp, rect: Rect, tag: &str) {
    let first = rdp.capture(x, &wr.path(&format!("{tag}-0.png"))).unwrap_or_else(|e| panic!("{e:#}"));
    let mut n = 0;
    let changed = wait_until(Duration::from_secs(5), || {
        n += 1;
        rdp.capture(x, &wr.path(&format!("{tag}-{n}.png"))).is_ok_and(|img| img.count_differences(&first, rect) > 100)
    });
    assert!(changed, "{tag}: the client's picture of simple-shm does not change any more");
}

fn shm_pixels_reach(version: FreeRdpVersion) {
    require_programs!("Xvfb", "xdotool", "import", version.program(), "weston-simple-shm");
    // The output starts smaller than the client asks for: on connect it takes the client's size.
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let x = Xvfb::start(wr.runtime_dir());
    let shm = wr.spawn_client("weston-simple-shm", &[], &[]);
    wr.wait_for_toplevel_of(&shm, MAP_TIMEOUT);
    assert_eq!(output_size(&wr), (1024, 768));

    let rdp = FreeRdp::connect(&wr, &x, version, (1280, 800), &[]);
    let window_shown = rdp.age();
    wait_output_size(&wr, (1280, 800), Duration::from_secs(10), "after connecting");
    let log = wr.log_text();
    assert!(log.contains("client connected"), "no connection in the compositor's log:\n{}", wr.log_tail(20));

    let id = shm.pid() as i64;
    let window = wr.wait_for_window(Duration::from_secs(5), "of simple-shm", |w| w["pid"].as_i64() == Some(id));
    let rect = Rect::of(&window);
    let first_picture = wait_first_picture(&wr, &x, &rdp, rect);
    let settle = assert_frozen_scene_matches(&wr, &x, &rdp, &shm, "frozen");
    assert_client_animates(&wr, &x, &rdp, rect, "resumed");
    eprintln!(
        "{}: window after {window_shown:?}, first picture after {first_picture:?}, frozen scene exact after {settle:?}",
        version.program()
    );
}

#[test]
fn xfreerdp3_shows_simple_shm_exactly() {
    shm_pixels_reach(FreeRdpVersion::V3);
}

#[test]
fn xfreerdp2_shows_simple_shm_exactly() {
    shm_pixels_reach(FreeRdpVersion::V2);
}

#[test]
fn dynamic_resolution_follows_the_client_window() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    // Something static on the desktop to compare.
    let events = wr.path("probe-events.txt");
    let probe = wr.spawn_client(env!("CARGO_BIN_EXE_wr-input-probe"), &[events.to_str().unwrap(), "300x200"], &[]);
    wr.wait_for_toplevel_of(&probe, MAP_TIMEOUT);

    let mut rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &["/dynamic-resolution"]);
    wait_output_size(&wr, (1280, 800), Duration::from_secs(10), "after connecting");
    // FreeRDP drops resizes until the display control channel is up; then it sends its layout
    // once. Resize only after that.
    let ready = wait_until(Duration::from_secs(10), || wr.log_text().contains("client monitor layout"));
    assert!(ready, "xfreerdp3 sent no monitor layout (display control):\n{}", wr.log_tail(20));
    let id = rdp.window().to_string();
    for (w, h) in [(1000, 700), (1400, 900)] {
        let started = Instant::now();
        x.xdotool(&["windowsize", &id, &w.to_string(), &h.to_string()]);
        wait_output_size(
            &wr,
            (w, h),
            Duration::from_secs(10),
            &format!("after resizing the client's window to {w}x{h}"),
        );
        let resized = started.elapsed();
        // And the client shows the whole new desktop, exactly.
        let desktop = Rect { x: 0, y: 0, width: w as i32, height: h as i32 };
        let shown = wait_client_shows_output(&wr, &x, &rdp, desktop, SETTLE_TIMEOUT, &format!("resized-{w}x{h}"))
            .unwrap_or_else(|e| panic!("after resizing to {w}x{h}: {e}"));
        eprintln!("{w}x{h}: output resized after {resized:?}, client exact {shown:?} later");
    }
    assert!(!rdp.client.has_exited(), "xfreerdp3 exited:\n{}", rdp.client.log_tail(20));
}

#[test]
fn a_killed_client_leaves_the_apps_running_and_the_next_one_sees_them() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "weston-simple-shm");
    let mut wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let (mut shm, window) = wr.spawn_mapped("weston-simple-shm", &[]);
    let rect = Rect::of(&window);

    let mut first = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &[]);
    wait_first_picture(&wr, &x, &first, rect);
    // Mid-stream: simple-shm is drawing at full rate.
    assert_client_animates(&wr, &x, &first, rect, "before-kill");
    first.client.signal(libc::SIGKILL);
    let status = first.client.wait_exit(Duration::from_secs(5)).expect("xfreerdp3 did not die");
    assert!(!wayrail_e2e::exited_normally(status), "{status}");
    let gone = wait_until(Duration::from_secs(10), || wr.log_text().contains("RDP client gone"));
    assert!(gone, "the compositor did not notice the client is gone:\n{}", wr.log_tail(20));

    // The compositor and the app live on, and the app keeps animating without a client.
    assert!(wr.is_running(), "wayrail died with its client:\n{}", wr.log_tail(30));
    assert!(!shm.has_exited(), "simple-shm died with the client: {}", shm.log_tail(20));
    let pid = shm.pid() as i64;
    assert!(wr.windows().iter().any(|w| w["pid"].as_i64() == Some(pid)), "simple-shm's window is gone");
    assert!(wr.output_changes(rect, "alone"), "simple-shm stopped animating once the client was gone");

    // A new client sees the app again, exactly.
    let second = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &[]);
    wait_first_picture(&wr, &x, &second, rect);
    let settle = assert_frozen_scene_matches(&wr, &x, &second, &shm, "reconnected");
    eprintln!("reconnected client exact after {settle:?} (frozen)");
    assert!(wr.is_running());
    let found = wait_for(Duration::from_secs(5), || wr.windows().into_iter().find(|w| w["pid"].as_i64() == Some(pid)));
    assert!(found.is_some(), "simple-shm's window is gone after reconnecting");
}

/// Changes the compositor makes on its own, with no client committing anything (a window
/// moved, raised, or gone with its client), reach the client too.
#[test]
fn compositor_side_changes_reach_the_client() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let probe = |color: &str| {
        let events = wr.path(&format!("probe-{color}.txt"));
        let client =
            wr.spawn_client(env!("CARGO_BIN_EXE_wr-input-probe"), &[events.to_str().unwrap(), "300x200", color], &[]);
        let id = wr.wait_for_toplevel_of(&client, MAP_TIMEOUT)["id"].as_u64().unwrap();
        (client, id)
    };
    let (_a, a) = probe("2060c0");
    let (b, b_id) = probe("c06020");
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &[]);
    let desktop = Rect { x: 0, y: 0, width: 1280, height: 800 };
    let mut step = 0;
    let mut previous = wr.screenshot_output(&wr.path("step-0.png"));
    let mut check = |what: &str| {
        step += 1;
        let shown = wait_client_shows_output(&wr, &x, &rdp, desktop, SETTLE_TIMEOUT, &format!("step-{step}"))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let now = wr.screenshot_output(&wr.path(&format!("step-{step}.png")));
        assert!(step == 1 || now.count_differences(&previous, desktop) > 0, "{what} changed nothing on the desktop");
        previous = now;
        eprintln!("{what}: on the client after {shown:?}");
    };
    check("two windows");
    // A moved half over B (moving raises it), then B raised over A.
    let b_rect = Rect::of(&wr.window(b_id).unwrap());
    let (ax, ay) = ((b_rect.x + 150).to_string(), (b_rect.y + 100).to_string());
    wr.window_op(a, &["move", &ax, &ay]);
    check("a window moved half over another");
    wr.window_op(b_id, &["focus"]);
    check("the window below raised");
    b.signal(libc::SIGKILL);
    wr.wait_for_no_window(Duration::from_secs(5), "of the killed probe", |w| w["id"].as_u64() == Some(b_id));
    check("a window gone with its client");
}

/// A window that alone fills the output (a fullscreen terminal) goes to the client straight from
/// its buffer, uncomposed, and the client shows exactly what composing it would; a window
/// opened over it makes the desktop composed again, exactly, and once it is gone the desktop
/// goes direct again.
#[test]
fn a_fullscreen_window_goes_straight_from_its_buffer_and_shows_exactly() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "foot", "weston-simple-shm");
    let wr = Compositor::start_rdp(&["--output", "640x400"]);
    let x = Xvfb::start(wr.runtime_dir());
    // Colour and text over the whole screen, then still.
    let script =
        "for i in $(seq 1 40); do printf '\\033[4%dm line %d \\033[0m text\\n' $((i % 8)) $i; done; sleep 3600";
    let foot = wr.spawn_client("foot", &["--fullscreen", "sh", "-c", script], &[]);
    let window = wr.wait_for_toplevel_of(&foot, MAP_TIMEOUT);
    let id = window["id"].as_u64().unwrap();
    let filled = wait_until(Duration::from_secs(5), || {
        wr.window(id).is_some_and(|w| Rect::of(&w) == Rect { x: 0, y: 0, width: 640, height: 400 })
    });
    assert!(filled, "foot --fullscreen does not fill the output: {:?}", wr.window(id));
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (640, 400), &[]);
    let desktop = Rect { x: 0, y: 0, width: 640, height: 400 };
    let shown = wait_client_shows_output(&wr, &x, &rdp, desktop, SETTLE_TIMEOUT, "direct");
    shown.unwrap_or_else(|e| panic!("the fullscreen terminal: {e}"));
    let shot = wr.screenshot_output(&wr.path("direct-check.png"));
    assert!(shot.distinct_colors(desktop, 8) >= 8, "the terminal's colours are not on the desktop");
    let direct = wr.desktop_direct_frames();
    assert!(direct > 0, "the fullscreen terminal was composed, not copied from its buffer\n{}", wr.log_tail(20));

    // A second window over it: composed, and exact.
    let shm = wr.spawn_client("weston-simple-shm", &[], &[]);
    wr.wait_for_toplevel_of(&shm, MAP_TIMEOUT);
    let composed = wr.desktop_direct_frames();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(wr.desktop_direct_frames(), composed, "frames went direct with a window over the terminal");
    shm.signal(libc::SIGSTOP);
    wait_client_shows_output(&wr, &x, &rdp, desktop, SETTLE_TIMEOUT, "composed")
        .unwrap_or_else(|e| panic!("simple-shm over the terminal: {e}"));

    // Gone: the terminal alone again, direct again.
    shm.signal(libc::SIGKILL);
    let again = wait_until(Duration::from_secs(10), || wr.desktop_direct_frames() > composed);
    assert!(again, "the terminal alone again was not copied from its buffer\n{}", wr.log_tail(20));
    wait_client_shows_output(&wr, &x, &rdp, desktop, SETTLE_TIMEOUT, "direct-again")
        .unwrap_or_else(|e| panic!("the terminal alone again: {e}"));
}
