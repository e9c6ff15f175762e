//! `--backend nested`: wayrail in a window of the session it runs in, for developers. Under an
//! X server (Xvfb) the desktop is drawn in the window, the output follows the window's size,
//! and the pointer and keyboard reach apps; under a Wayland compositor (Weston 14, headless)
//! the desktop is drawn in a toplevel of it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use wayrail_e2e::rdp::Xvfb;
use wayrail_e2e::{
    close_rgb, require_programs, wait_for, wait_until, Client, Compositor, Image, Rect, TempDir, MAP_TIMEOUT,
};

/// The probe's colour, and the nested window's background (0.1, 0.1, 0.12).
const PROBE: [u8; 3] = [0xe0, 0x40, 0x10];
const BACKGROUND: [u8; 3] = [26, 26, 31];

/// Starts the input probe (a solid 300×200 window logging its pointer events) in `wr`.
fn probe(wr: &Compositor, events: &Path) -> (Client, Rect) {
    let (probe, window) = wr.spawn_mapped(env!("CARGO_BIN_EXE_wr-input-probe"), &[events.to_str().unwrap(), "300x200"]);
    (probe, Rect::of(&window))
}

/// Pixels of `image` close to `color`.
fn count_close(image: &Image, color: [u8; 3]) -> usize {
    (0..image.height)
        .flat_map(|y| (0..image.width).map(move |x| (x, y)))
        .filter(|&(x, y)| close_rgb(image.rgb(x, y), color, 8))
        .count()
}

#[test]
fn nested_in_x11_draws_follows_the_window_size_and_takes_input() {
    require_programs!("Xvfb", "xdotool", "import", "foot");
    let dir = TempDir::new("nested-x11");
    let x = Xvfb::start(dir.path());
    let display = x.name();
    let wr = Compositor::start_nested(&[("DISPLAY", display.as_str())], &[]);
    let window = wait_for(Duration::from_secs(10), || {
        x.try_xdotool(&["search", "--class", "wayrail"]).ok()?.lines().next()?.trim().parse::<u64>().ok()
    })
    .unwrap_or_else(|| panic!("no wayrail window on {display}:\n{}", wr.log_tail(20)));
    let xid = window.to_string();

    // The desktop is drawn: the app's pixels where the compositor placed it, the background
    // around it.
    let events = wr.path("probe-events");
    let (_probe, rect) = probe(&wr, &events);
    let shot = wr.path("nested.png");
    let drawn = || {
        let image = x.capture(window, &shot).ok()?;
        let inside = [(rect.x + 5, rect.y + 5), (rect.x + rect.width - 6, rect.y + rect.height - 6)];
        let outside = [(rect.x - 10, rect.y - 10), (rect.x + rect.width + 10, rect.y + rect.height + 10)];
        let ok = inside.iter().all(|&(px, py)| close_rgb(image.rgb(px as u32, py as u32), PROBE, 8))
            && outside.iter().all(|&(px, py)| close_rgb(image.rgb(px as u32, py as u32), BACKGROUND, 8));
        ok.then_some(image)
    };
    let image = wait_for(Duration::from_secs(10), drawn)
        .unwrap_or_else(|| panic!("the nested window does not show the probe at {rect:?}:\n{}", wr.log_tail(20)));
    assert_eq!(count_close(&image, PROBE), (rect.width * rect.height) as usize, "the probe's pixels, all of them");

    // The output is the window: resizing the window resizes the output.
    let output = &wr.outputs()[0];
    assert_eq!(
        (output["width"].as_u64(), output["height"].as_u64()),
        (Some(image.width as u64), Some(image.height as u64))
    );
    x.xdotool(&["windowsize", &xid, "900", "640"]);
    let resized = wait_until(Duration::from_secs(10), || {
        let o = &wr.outputs()[0];
        o["width"].as_u64() == Some(900) && o["height"].as_u64() == Some(640)
    });
    assert!(resized, "the output did not follow the window: {:?}\n{}", wr.outputs(), wr.log_tail(20));
    let image = wait_for(Duration::from_secs(10), || x.capture(window, &shot).ok().filter(|i| i.width == 900))
        .expect("a capture of the resized window");
    assert_eq!(count_close(&image, PROBE), (rect.width * rect.height) as usize, "the probe after the resize");

    // The pointer: a click lands on the probe where it was made.
    let (px, py) = (rect.x + 40, rect.y + 30);
    x.xdotool(&["mousemove", "--window", &xid, &px.to_string(), &py.to_string(), "click", "1"]);
    let log = || std::fs::read_to_string(&events).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || log().contains("button 272 pressed 40 30")),
        "the probe recorded:\n{}\nwayrail log:\n{}",
        log(),
        wr.log_tail(20)
    );

    // The keyboard: typed into a terminal in the nested desktop.
    let (foot, workdir) = wr.spawn_foot_shell("foot-work");
    let term = wr.wait_for_toplevel_of(&foot, MAP_TIMEOUT);
    let id = term["id"].as_u64().unwrap();
    wr.wait_for_window(Duration::from_secs(10), "focused", |w| w["id"].as_u64() == Some(id) && w["activated"] == true);
    x.xdotool(&["windowfocus", "--sync", &xid]);
    x.xdotool(&["type", "--window", &xid, "--delay", "20", "echo nested-keys > out.txt\n"]);
    wr.assert_file_becomes(&workdir.join("out.txt"), "nested-keys\n", &foot, Duration::from_secs(15));
}

#[test]
fn nested_in_a_wayland_session_draws_the_desktop() {
    require_programs!("weston", "weston-screenshooter");
    let dir = TempDir::new("nested-wayland");
    let runtime = dir.path().join("parent-runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // The parent: Weston's headless backend, big enough for the nested window, with the
    // screenshooter allowed (--debug).
    let mut weston_cmd = std::process::Command::new("weston");
    weston_cmd
        .args([
            "--backend=headless",
            "--renderer=pixman",
            "--socket=parent",
            "--width=1600",
            "--height=1000",
            "--debug",
        ])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY");
    let weston = Client::spawn_logged("weston", weston_cmd, &dir.path().join("weston.log"));
    let socket = runtime.join("parent");
    assert!(wait_until(Duration::from_secs(15), || socket.exists()), "weston did not start:\n{}", weston.log_tail(20));

    let parent = socket.to_str().unwrap().to_string();
    let wr = Compositor::start_nested(&[("WAYLAND_DISPLAY", parent.as_str())], &[]);
    let events = wr.path("probe-events");
    let (_probe, rect) = probe(&wr, &events);

    // Weston's own screenshot: the whole probe is in it, drawn by the nested desktop.
    let expected = (rect.width * rect.height) as usize;
    let shot_dir = dir.path().join("shots");
    std::fs::create_dir(&shot_dir).unwrap();
    let mut last = 0;
    let shown = wait_until(Duration::from_secs(15), || {
        let status = std::process::Command::new("weston-screenshooter")
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("WAYLAND_DISPLAY", "parent")
            .current_dir(&shot_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            return false;
        }
        let newest = std::fs::read_dir(&shot_dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        let Some(image) = newest.and_then(|p| Image::load(&p).ok()) else { return false };
        last = count_close(&image, PROBE);
        last == expected
    });
    assert!(
        shown,
        "Weston's screenshot shows {last} of the probe's {expected} pixels\nwayrail log:\n{}\nweston log:\n{}",
        wr.log_tail(20),
        weston.log_tail(20)
    );
}
