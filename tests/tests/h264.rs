//! H.264 where it pays, seen by real FreeRDP clients in Xvfb: a surface that keeps changing
//! over a large area goes out in AVC420 to a client that decodes it (xfreerdp3 and xfreerdp
//! 2.11 show the picture within H.264's loss), and once it settles the lossless refresh makes it exact; a
//! client that disables AVC gets RemoteFX Progressive there instead, and `[rdp] h264 = "off"`
//! keeps everything lossless. On a desktop much larger than the animation, the animating
//! window alone goes lossy (a video region of the desktop surface), the rest stays ClearCodec.

use std::time::Duration;

use wayrail_e2e::image::Image;
use wayrail_e2e::rdp::{wait_client_shows_output, FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{require_programs, wait_until, Compositor, Rect, TempDir, Value, MAP_TIMEOUT};

/// A desktop small enough that simple-shm's window is a large part of it (the switching rule
/// wants a quarter of the surface changing).
const DESKTOP: (u32, u32) = (400, 300);

/// A desktop where simple-shm's 250×250 window is far less than a quarter: only a video
/// region of the desktop surface can take it lossy.
const LARGE_DESKTOP: (u32, u32) = (1280, 800);

/// wayrail's EGFX codec counters (`msg version`).
fn egfx(wr: &Compositor) -> Value {
    let version = wr.msg_json(&["version"]);
    let egfx = version["egfx"].clone();
    assert!(egfx.is_object(), "no EGFX counters in `msg version`: {version}");
    egfx
}

fn counter(wr: &Compositor, name: &str) -> u64 {
    egfx(wr)[name].as_u64().unwrap_or_else(|| panic!("no counter {name}"))
}

/// Mean absolute difference per colour channel inside `rect`, and the largest one.
fn difference(a: &Image, b: &Image, rect: Rect) -> (f64, u8) {
    let (mut sum, mut max, mut n) = (0u64, 0u8, 0u64);
    for y in rect.y..rect.y + rect.height {
        for x in rect.x..rect.x + rect.width {
            let (p, q) = (a.rgb(x as u32, y as u32), b.rgb(x as u32, y as u32));
            for c in 0..3 {
                let d = p[c].abs_diff(q[c]);
                sum += u64::from(d);
                max = max.max(d);
                n += 1;
            }
        }
    }
    (sum as f64 / n.max(1) as f64, max)
}

/// wayrail with a `desktop`-sized output and simple-shm on it (on the large desktop, with a
/// terminal full of text beside it), a client connected; the window's rectangle on the desktop.
fn start(
    version: FreeRdpVersion,
    extra: &[&str],
    desktop: (u32, u32),
) -> (Compositor, Xvfb, wayrail_e2e::Client, FreeRdp, Rect, Option<wayrail_e2e::Client>) {
    let wr = Compositor::start_rdp(&["--output", &format!("{}x{}", desktop.0, desktop.1)]);
    let x = Xvfb::start(wr.runtime_dir());
    let text = (desktop != DESKTOP).then(|| {
        let foot = wr.spawn_client("foot", &["sh", "-c", "seq -w 1 4000 | paste -sd' ' | fold -w 78; sleep 3600"], &[]);
        wr.wait_for_toplevel_of(&foot, MAP_TIMEOUT);
        foot
    });
    let shm = wr.spawn_client("weston-simple-shm", &[], &[]);
    wr.wait_for_toplevel_of(&shm, MAP_TIMEOUT);
    let rdp = FreeRdp::connect(&wr, &x, version, desktop, extra);
    let id = shm.pid() as i64;
    let window = wr.wait_for_window(Duration::from_secs(5), "of simple-shm", |w| w["pid"].as_i64() == Some(id));
    // Only what lies on the desktop.
    let r = Rect::of(&window);
    let (right, bottom) = ((r.x + r.width).min(desktop.0 as i32), (r.y + r.height).min(desktop.1 as i32));
    let rect = Rect { x: r.x.max(0), y: r.y.max(0), width: right - r.x.max(0), height: bottom - r.y.max(0) };
    (wr, x, shm, rdp, rect, text)
}

/// The lossy codecs: AVC420 for a client that decodes it, RemoteFX Progressive for one that
/// does not; each has its frame counter in `msg version`.
#[derive(Clone, Copy)]
enum Lossy {
    Avc420,
    Progressive,
}

impl Lossy {
    fn counter(self) -> &'static str {
        match self {
            Lossy::Avc420 => "avc420_frames",
            Lossy::Progressive => "progressive_frames",
        }
    }
}

/// An animation on a `desktop`-sized desktop goes out in `lossy` (the client shows a picture
/// within the codec's loss); frozen, the lossless refresh makes it, and the whole desktop, exact.
fn goes_lossy_and_ends_exact(version: FreeRdpVersion, extra: &[&str], lossy: Lossy, desktop: (u32, u32)) {
    require_programs!("Xvfb", "xdotool", "import", version.program(), "weston-simple-shm");
    if desktop != DESKTOP {
        require_programs!("foot");
    }
    let (wr, x, shm, rdp, rect, _text) = start(version, extra, desktop);
    let frames = lossy.counter();
    let went_lossy = wait_until(Duration::from_secs(20), || counter(&wr, frames) >= 30);
    assert!(went_lossy, "no {frames} for a full-window animation: {}\n{}", egfx(&wr), wr.log_tail(30));

    // Frozen, the client shows the last lossy picture until the lossless refresh comes
    // (codec::SETTLE later): caught in between, it is the codec's picture of the compositor's.
    let mut caught = None;
    for attempt in 0..8 {
        shm.signal(libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(120));
        let before = egfx(&wr);
        let shot = rdp.capture(&x, &wr.path(&format!("lossy-{attempt}.png")));
        let after = egfx(&wr);
        let own = wr.screenshot_output(&wr.path(&format!("lossy-{attempt}-compositor.png")));
        let still_lossy = before["lossless_refreshes"] == after["lossless_refreshes"]
            && before[frames] == after[frames]
            && before[frames].as_u64() > Some(0);
        if let (true, Ok(shot)) = (still_lossy, shot) {
            caught = Some((shot, own));
            break;
        }
        // Too slow: the refresh came first. Animate again and retry.
        shm.signal(libc::SIGCONT);
        std::thread::sleep(Duration::from_secs(1));
    }
    let (shot, own) = caught.expect("never caught the client between a lossy frame and the refresh");
    let (mean, max) = difference(&shot, &own, rect);
    let client = version.program();
    eprintln!("{client}: {frames} picture vs the compositor's: mean difference {mean:.2}, largest {max}");
    assert!(shot.count_differences(&own, rect) > 0, "the picture is exact: it did not come through {frames}");
    // simple-shm's saturated rings lose most to 4:2:0 chroma: a mean of 4 to 4.5 here in
    // AVC420. A decoder reading the colours another way (BT.601, limited range) is at 10.
    assert!(mean < 6.0, "the decoded {frames} picture is far from the compositor's: mean {mean:.2}, max {max}");

    // Then the lossless refresh: exact.
    let refreshed = wait_until(Duration::from_secs(5), || counter(&wr, "lossless_refreshes") >= 1);
    assert!(refreshed, "no lossless refresh after the animation stopped: {}", egfx(&wr));
    wait_client_shows_output(&wr, &x, &rdp, rect, Duration::from_secs(10), "refreshed")
        .unwrap_or_else(|e| panic!("{e}"));
    let desktop = Rect { x: 0, y: 0, width: desktop.0 as i32, height: desktop.1 as i32 };
    wait_client_shows_output(&wr, &x, &rdp, desktop, Duration::from_secs(5), "refreshed-desktop")
        .unwrap_or_else(|e| panic!("{e}"));
    let log = rdp.client.log_text();
    for word in ["h264", "avc420", "progressive"] {
        assert!(!log.to_lowercase().contains(word), "codec errors in {client}'s log:\n{log}");
    }
    let counters = egfx(&wr);
    match lossy {
        Lossy::Avc420 => assert_eq!(counters["progressive_frames"], 0, "progressive with AVC at hand: {counters}"),
        Lossy::Progressive => assert_eq!(counters["avc420_frames"], 0, "AVC420 for a client without it: {counters}"),
    }
    shm.signal(libc::SIGCONT);
}

/// Both FreeRDP clients, one after the other: 2.11 advertises AVC too (EGFX 10.7 without
/// AVC_DISABLED).
#[test]
fn xfreerdp3_and_xfreerdp2_decode_avc420_and_end_exact() {
    for version in [FreeRdpVersion::V3, FreeRdpVersion::V2] {
        goes_lossy_and_ends_exact(version, &[], Lossy::Avc420, DESKTOP);
    }
}

/// A client that turns AVC off gets RemoteFX Progressive for the animation, never AVC420,
/// and ClearCodec once it settles: both FreeRDP clients decode it.
#[test]
fn xfreerdp3_and_xfreerdp2_without_avc_get_progressive_and_end_exact() {
    goes_lossy_and_ends_exact(FreeRdpVersion::V3, &["/gfx:AVC420:off,AVC444:off"], Lossy::Progressive, DESKTOP);
    // 2.11 spells it as the codec it should use instead.
    goes_lossy_and_ends_exact(FreeRdpVersion::V2, &["/gfx:RFX"], Lossy::Progressive, DESKTOP);
}

/// A small animation on a large desktop (the desktop surface's own rule never sees a quarter
/// of it change): the window is a video region, encoded in AVC420 into an offscreen surface
/// and copied into the desktop surface, where the client shows it within H.264's loss; once it
/// stops, the whole desktop, the terminal's text and the refreshed window, is exact. Both
/// FreeRDP clients.
#[test]
fn a_small_animation_on_a_large_desktop_goes_avc420_and_ends_exact() {
    for version in [FreeRdpVersion::V3, FreeRdpVersion::V2] {
        goes_lossy_and_ends_exact(version, &[], Lossy::Avc420, LARGE_DESKTOP);
    }
}

/// The same for a client without AVC: the video region goes out in RemoteFX Progressive.
#[test]
fn a_small_animation_on_a_large_desktop_goes_progressive_without_avc() {
    goes_lossy_and_ends_exact(FreeRdpVersion::V3, &["/gfx:AVC420:off,AVC444:off"], Lossy::Progressive, LARGE_DESKTOP);
}

/// `[rdp] h264 = "off"`: lossless only, whatever the content.
#[test]
fn with_lossy_codecs_off_a_client_gets_clearcodec_only() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "weston-simple-shm");
    let dir = TempDir::new("wayrail-h264-off");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[rdp]\nh264 = \"off\"\n").unwrap();
    let output = format!("{}x{}", DESKTOP.0, DESKTOP.1);
    let wr = Compositor::start_rdp(&["--output", &output, "--config", config.to_str().unwrap()]);
    let x = Xvfb::start(wr.runtime_dir());
    let shm = wr.spawn_client("weston-simple-shm", &[], &[]);
    wr.wait_for_toplevel_of(&shm, MAP_TIMEOUT);
    let _rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, DESKTOP, &[]);
    let animated = wait_until(Duration::from_secs(20), || counter(&wr, "clear_frames") >= 60);
    assert!(animated, "the animation did not reach the client: {}\n{}", egfx(&wr), wr.log_tail(30));
    let counters = egfx(&wr);
    assert_eq!(counters["avc420_frames"], 0, "AVC420 with h264 off: {counters}");
    assert_eq!(counters["progressive_frames"], 0, "progressive with h264 off: {counters}");
}

/// In RemoteApp every window has a surface of its own: an animating window switches to
/// AVC420 by itself, and the lossless refresh leaves it exact.
#[test]
fn a_remote_app_window_goes_avc420_and_ends_exact() {
    use wayrail_e2e::rail::{assert_rail_window_shows, compositor_window, RailDesk, RAIL_TIMEOUT};
    require_programs!("Xvfb", "xfreerdp3", "import", "weston-simple-shm");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "weston-simple-shm");
    let window = wr.wait_for_window(MAP_TIMEOUT, "of simple-shm", |w| w["kind"] == "toplevel");
    let id = window["id"].as_u64().expect("a window id");
    let rail = desk.wait_window(RAIL_TIMEOUT, "for simple-shm", |r| u64::from(r.rail_id) == id);
    let went_avc = wait_until(Duration::from_secs(20), || counter(&wr, "avc420_frames") >= 30);
    assert!(went_avc, "no AVC420 frames for an animating RemoteApp window: {}\n{}", egfx(&wr), wr.log_tail(30));
    // wayrail started the app: stop it by its pid.
    let pid = window["pid"].as_i64().expect("the app's pid") as libc::pid_t;
    // SAFETY: kill(2) on the app's pid, which wayrail started and still reaps.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let refreshed = wait_until(Duration::from_secs(5), || counter(&wr, "lossless_refreshes") >= 1);
    assert!(refreshed, "no lossless refresh after the animation stopped: {}", egfx(&wr));
    let window = compositor_window(&wr, id);
    assert_rail_window_shows(&wr, &desk, &rail, &window, Duration::from_secs(10), "rail-refreshed");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
}

/// Appends a command to a probe's command file (see `wr-rail-probe`).
fn send_command(file: &std::path::Path, line: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file).expect("the command file");
    writeln!(f, "{line}").expect("writing a command");
}

/// A RemoteApp window animating thin coloured strokes (colour that 4:2:0 chroma turns grey
/// or smears) goes out in AVC444 to xfreerdp3, which shows the colours within H.264's loss
/// (AVC420 of the same strokes is off by a mean of about 25 of 255 in the unit test);
/// stopped, the lossless refresh makes it exact.
#[test]
fn a_remote_app_window_of_coloured_strokes_goes_avc444_and_ends_exact() {
    use wayrail_e2e::rail::{assert_rail_window_shows, compositor_window, RailDesk, RAIL_TIMEOUT};
    require_programs!("Xvfb", "xfreerdp3", "import");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let commands = wr.runtime_dir().join("stripes-commands");
    // Small, so that AVC444 in the tests' debug build stays within the cost rule's budget
    // (over it, the window goes back to ClearCodec for a while), and at least 128×128.
    let args = ["--title", "stripes", "--size", "192x144", "--commands", commands.to_str().expect("UTF-8 path")];
    let _probe = wr.spawn_client(env!("CARGO_BIN_EXE_wr-rail-probe"), &args, &[]);
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "true");
    let window = wr.wait_for_window(MAP_TIMEOUT, "titled stripes", |w| w["title"] == "stripes");
    let id = window["id"].as_u64().expect("a window id");
    let rail = desk.wait_window(RAIL_TIMEOUT, "for the probe", |r| u64::from(r.rail_id) == id);
    send_command(&commands, "stripes");
    let went = wait_until(Duration::from_secs(20), || counter(&wr, "avc444_frames") >= 20);
    assert!(went, "no AVC444 frames for animating coloured strokes: {}\n{}", egfx(&wr), wr.log_tail(30));

    // Stopped, the client shows the last AVC444 picture until the lossless refresh comes:
    // caught in between, it is within H.264's loss of the compositor's, colours included.
    // A picture caught exact came some other way (a busy machine's cost rule sent the window
    // back to ClearCodec for a while): animate again and retry.
    let mut caught = None;
    for attempt in 0..8 {
        send_command(&commands, "still");
        std::thread::sleep(Duration::from_millis(150));
        let before = egfx(&wr);
        let window = compositor_window(&wr, id);
        let (own, _) = wr.screenshot_window(id, &wr.path(&format!("avc444-{attempt}-compositor.png")));
        let shot = desk.capture(&rail, &wr.path(&format!("avc444-{attempt}-host.png")));
        let after = egfx(&wr);
        let still_lossy = before["lossless_refreshes"] == after["lossless_refreshes"]
            && before["avc444_frames"] == after["avc444_frames"]
            && before["clear_frames"] == after["clear_frames"];
        let rail = desk.window(id).unwrap_or_else(|| rail.clone());
        let proper = Rect::of(&window);
        let inside = Rect { x: proper.x - rail.x, y: proper.y - rail.y, width: proper.width, height: proper.height };
        if let (true, Ok(shot)) = (still_lossy, shot) {
            if shot.count_differences(&own, inside) > 0 {
                caught = Some((shot, own, inside));
                break;
            }
            eprintln!("attempt {attempt}: the picture was exact, not AVC444's: {}", egfx(&wr));
        }
        send_command(&commands, "stripes");
        std::thread::sleep(Duration::from_secs(1));
    }
    let (shot, own, inside) = caught.expect("never caught the client showing an AVC444 frame before the refresh");
    assert_eq!((shot.width, shot.height), (own.width, own.height), "the host window is not the window's size");
    let (mean, max) = difference(&shot, &own, inside);
    eprintln!("xfreerdp3: AVC444 picture vs the compositor's: mean difference {mean:.2}, largest {max}");
    assert!(mean < 10.0, "the decoded AVC444 picture is far from the compositor's: mean {mean:.2}, max {max}");

    // Then the lossless refresh: exact.
    let refreshed = wait_until(Duration::from_secs(5), || counter(&wr, "lossless_refreshes") >= 1);
    assert!(refreshed, "no lossless refresh after the animation stopped: {}", egfx(&wr));
    assert_rail_window_shows(&wr, &desk, &rail, &compositor_window(&wr, id), Duration::from_secs(10), "avc444-exact");
    let log = desk.rdp.client.log_text().to_lowercase();
    assert!(!log.contains("h264") && !log.contains("avc"), "codec errors in xfreerdp3's log:\n{log}");
    send_command(&commands, "quit");
}

/// Two RemoteApp windows animating at once: a round of both goes to xfreerdp3 as one EGFX
/// frame (`merged_frames` counts the window frames that went inside another's), which the
/// client decodes window by window; stopped, both windows end exact.
#[test]
fn two_animating_remote_app_windows_go_out_in_one_frame_and_end_exact() {
    use wayrail_e2e::rail::{assert_rail_window_shows, compositor_window, RailDesk, RAIL_TIMEOUT};
    require_programs!("Xvfb", "xfreerdp3", "import");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let mut probes = Vec::new();
    for name in ["first", "second"] {
        let commands = wr.runtime_dir().join(format!("{name}-commands"));
        let path = commands.to_str().expect("UTF-8 path").to_string();
        let args = ["--title", name, "--size", "192x144", "--commands", &path];
        probes.push((name, commands, wr.spawn_client(env!("CARGO_BIN_EXE_wr-rail-probe"), &args, &[])));
    }
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "true");
    let mut windows = Vec::new();
    for (name, _, _) in &probes {
        let window = wr.wait_for_window(MAP_TIMEOUT, &format!("titled {name}"), |w| w["title"] == *name);
        let id = window["id"].as_u64().expect("a window id");
        let rail = desk.wait_window(RAIL_TIMEOUT, "for the probe", |r| u64::from(r.rail_id) == id);
        windows.push((id, rail));
    }
    for (_, commands, _) in &probes {
        send_command(commands, "stripes");
    }
    let merged = wait_until(Duration::from_secs(20), || counter(&wr, "merged_frames") >= 20);
    assert!(merged, "no window frames went out together: {}\n{}", egfx(&wr), wr.log_tail(30));
    // Both windows' frames of a tick go together, most of the time (at best half of the
    // frames are merged into another): the apps, woken by the same acknowledgement, commit
    // for the same tick, and the compositor hands the round over whole. Were one window's
    // frame handed over alone, it would be acknowledged alone and its app would draw on a
    // beat of its own (about a sixth merged).
    let frames = |e: &Value| {
        ["clear_frames", "avc420_frames", "avc444_frames"].iter().map(|k| e[k].as_u64().unwrap_or(0)).sum::<u64>()
    };
    let before = egfx(&wr);
    std::thread::sleep(Duration::from_secs(3));
    let after = egfx(&wr);
    let sent = frames(&after) - frames(&before);
    let merged = after["merged_frames"].as_u64().unwrap_or(0) - before["merged_frames"].as_u64().unwrap_or(0);
    println!("in 3 s: {sent} window frames, {merged} of them merged into another's");
    assert!(sent >= 60 && merged * 4 >= sent, "{merged} of {sent} window frames merged: {after}");
    for (_, commands, _) in &probes {
        send_command(commands, "still");
    }
    for (i, (id, rail)) in windows.iter().enumerate() {
        let window = compositor_window(&wr, *id);
        assert_rail_window_shows(&wr, &desk, rail, &window, Duration::from_secs(10), &format!("together-{i}"));
    }
    let log = desk.rdp.client.log_text().to_lowercase();
    assert!(
        !log.contains("h264") && !log.contains("avc") && !log.contains("frame"),
        "errors in xfreerdp3's log:\n{log}"
    );
    for (_, commands, _) in &probes {
        send_command(commands, "quit");
    }
}
