//! weston-simple-shm: a client that redraws at full rate through wl_shm.

use std::time::{Duration, Instant};

use wayrail_e2e::{close_rgb, require_programs, sample_grid, wait_until, Compositor, Rect};

#[test]
fn simple_shm_animates_and_both_screenshots_show_its_pixels() {
    require_programs!("weston-simple-shm");
    let wr = Compositor::start(&["--output", "1024x768"]);
    let (shm, window) = wr.spawn_mapped("weston-simple-shm", &[]);
    assert_eq!(window["title"], "simple-shm", "{window}");
    assert_eq!(window["state"], "normal", "{window}");
    let id = window["id"].as_u64().unwrap();
    let rect = Rect::of(&window);
    assert!(rect.width > 0 && rect.height > 0, "{window}");
    let output = Rect::of(&wr.outputs()[0]);
    assert!(output.contains_rect(&rect), "window {rect:?} is not inside the output {output:?}");

    // It keeps animating for 5 s: every screenshot, about a second apart, differs from the one
    // before inside the window, and the window stays listed.
    let started = Instant::now();
    let mut previous = wr.screenshot_output(&wr.path("anim-0.png"));
    assert!(previous.distinct_colors(rect, 50) >= 50, "the window's area shows no picture");
    let mut shots = 0;
    while started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(900));
        shots += 1;
        let current = wr.screenshot_output(&wr.path(&format!("anim-{shots}.png")));
        let changed = current.count_differences(&previous, rect);
        assert!(changed > 100, "screenshot {shots} ({:?} in): only {changed} pixels changed", started.elapsed());
        // Nothing outside the window changes.
        let below = Rect { x: 0, y: rect.y + rect.height + 1, width: output.width, height: 20 };
        assert_eq!(current.count_differences(&previous, below), 0, "pixels below the window changed");
        previous = current;
    }
    assert!(wr.window(id).is_some(), "the window went away while animating");

    // Frozen (SIGSTOP), the output screenshot inside the window's rectangle and the window's
    // own screenshot show the same pixels.
    shm.signal(libc::SIGSTOP);
    // Wait until whatever it had sent is shown: two output screenshots in a row are equal.
    let mut last = wr.screenshot_output(&wr.path("frozen-0.png"));
    let mut n = 0;
    let settled = wait_until(Duration::from_secs(5), || {
        n += 1;
        let next = wr.screenshot_output(&wr.path(&format!("frozen-{n}.png")));
        let same = next.count_differences(&last, rect) == 0;
        last = next;
        same
    });
    assert!(settled, "the window kept changing while its client was stopped");
    let window = wr.window(id).expect("window listed");
    let rect = Rect::of(&window);
    let out = wr.screenshot_output(&wr.path("frozen-output.png"));
    let (own, origin) = wr.screenshot_window(id, &wr.path("frozen-window.png"));
    shm.signal(libc::SIGCONT);
    // simple-shm has no decorations or shadow: its surface is its window geometry.
    assert_eq!((own.width as i32, own.height as i32), (rect.width, rect.height), "window screenshot size");
    let mut mismatches = Vec::new();
    for (dx, dy) in sample_grid(rect.width, rect.height, 16) {
        let a = out.rgb((rect.x + dx) as u32, (rect.y + dy) as u32);
        let b = own.rgb((origin.0 + dx) as u32, (origin.1 + dy) as u32);
        if !close_rgb(a, b, 1) {
            mismatches.push(format!("+{dx},+{dy}: output {a:?} window {b:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{} of 256 samples differ:\n{}", mismatches.len(), mismatches.join("\n"));

    // And it goes on after SIGCONT.
    assert!(wr.output_changes(rect, "resumed"), "simple-shm did not animate again after SIGCONT");
}
