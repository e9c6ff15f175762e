//! The desktop for clients without the graphics pipeline: xfreerdp3 in Xvfb, told its network
//! is a modem, opens no EGFX and gets plain bitmap updates. A still desktop is painted at once,
//! a frozen scene reaches it exactly (the codec is lossless), an animating app keeps changing
//! on it, and keys typed into it reach a shell.

use std::time::Duration;

use wayrail_e2e::rdp::{wait_client_shows_output, FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{require_programs, wait_until, Compositor, Rect, MAP_TIMEOUT};

#[test]
fn xfreerdp3_without_gfx_shows_an_animating_app_and_types_into_a_shell() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3", "weston-simple-shm", "foot");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let (foot, workdir) = wr.spawn_foot_shell("bitmap-typing");
    let foot_id = wr.wait_for_toplevel_of(&foot, MAP_TIMEOUT)["id"].as_u64().unwrap();
    wr.window_op(foot_id, &["move", "20", "40"]);
    assert!(wait_until(Duration::from_secs(5), || wr.window(foot_id).is_some_and(|w| w["x"] == 20 && w["y"] == 40)));

    // `-gfx` does not keep xfreerdp3 3.10 from opening EGFX; the modem preset does (at 32 bpp).
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &["/network:modem"]);
    let bitmaps = wait_until(Duration::from_secs(15), || wr.log_text().contains("sending bitmap updates"));
    assert!(bitmaps, "the session did not go to bitmap updates:\n{}", wr.log_tail(20));
    // A desktop where nothing changes is painted all the same once bitmap updates begin.
    let desktop = Rect { x: 0, y: 0, width: 1280, height: 800 };
    let shown = wait_client_shows_output(&wr, &x, &rdp, desktop, Duration::from_secs(20), "bitmap-still");
    shown.unwrap_or_else(|e| panic!("the still desktop: {e}"));

    let shm = wr.spawn_client("weston-simple-shm", &[], &[]);
    let shm_id = wr.wait_for_toplevel_of(&shm, MAP_TIMEOUT)["id"].as_u64().unwrap();
    // Beside the terminal, so neither covers the other.
    wr.window_op(shm_id, &["move", "900", "40"]);
    assert!(wait_until(Duration::from_secs(5), || wr.window(shm_id).is_some_and(|w| w["x"] == 900 && w["y"] == 40)));

    // Frozen, the app's window reaches the client exactly.
    shm.signal(libc::SIGSTOP);
    let rect = Rect::of(&wr.window(shm_id).unwrap());
    let settled = wait_client_shows_output(&wr, &x, &rdp, rect, Duration::from_secs(20), "bitmap-frozen");
    settled.unwrap_or_else(|e| panic!("{e}"));
    let shot = wr.screenshot_output(&wr.path("bitmap-check.png"));
    assert!(shot.distinct_colors(rect, 50) >= 50, "simple-shm's window {rect:?} shows no picture");
    shm.signal(libc::SIGCONT);

    // Going on, it keeps changing on the client.
    let first = rdp.capture(&x, &wr.path("bitmap-anim-0.png")).unwrap_or_else(|e| panic!("{e:#}"));
    let mut n = 0;
    let changed = wait_until(Duration::from_secs(10), || {
        n += 1;
        rdp.capture(&x, &wr.path(&format!("bitmap-anim-{n}.png")))
            .is_ok_and(|img| img.count_differences(&first, rect) > 100)
    });
    assert!(changed, "the client's picture of simple-shm does not change:\n{}", rdp.client.log_tail(20));

    // Keys typed into the client's window reach the shell in foot.
    let foot_rect = Rect::of(&wr.window(foot_id).unwrap());
    rdp.focus_and_click(&x, foot_rect.x + foot_rect.width / 2, foot_rect.y + foot_rect.height / 2);
    wr.wait_for_window(Duration::from_secs(10), "foot focused", |w| {
        w["id"].as_u64() == Some(foot_id) && w["activated"] == true
    });
    x.xdotool(&["type", "--delay", "25", "echo Typed-Over-Bitmaps > out.txt"]);
    x.xdotool(&["key", "Return"]);
    wr.assert_file_becomes(&workdir.join("out.txt"), "Typed-Over-Bitmaps\n", &foot, Duration::from_secs(10));
}
