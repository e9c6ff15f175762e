//! Real applications map a toplevel and close cleanly when the compositor asks them to.

use std::time::Duration;

use wayrail_e2e::{exited_normally, require_programs, Compositor, Rect};

/// Starts `program`, waits for its toplevel, checks what the compositor reports about it, asks
/// it to close through `wayrail msg window ID close` and waits for the process to exit.
/// Returns whether it exited with status 0.
fn maps_and_closes(program: &str, args: &[&str], title: &str, app_id: &str) -> bool {
    let wr = Compositor::start(&["--output", "1280x800"]);
    let (mut app, window) = wr.spawn_mapped(program, args);
    let id = window["id"].as_u64().unwrap();
    // The title may arrive after the first buffer; wait for it.
    let window = wr.wait_for_window(Duration::from_secs(10), &format!("titled {title:?}"), |w| {
        w["id"].as_u64() == Some(id) && w["title"] == title
    });
    assert_eq!(window["app_id"], app_id, "{window}");
    assert_eq!(window["kind"], "toplevel", "{window}");
    assert_eq!(window["activated"], true, "a new window gets focus: {window}");
    let rect = Rect::of(&window);
    let output = Rect::of(&wr.outputs()[0]);
    assert!(rect.width >= 100 && rect.height >= 100, "tiny window: {window}");
    assert!(output.contains_rect(&rect), "window {rect:?} is not on the output {output:?}");

    // Its pixels are on the output: the window's area is not a flat fill.
    let shot = wr.screenshot_output(&wr.path("mapped.png"));
    assert!(shot.distinct_colors(rect, 8) >= 8, "{program}'s window area shows nothing");

    wr.window_op(id, &["close"]);
    let status = app.wait_exit(Duration::from_secs(15));
    let status = status.unwrap_or_else(|| panic!("{program} still running 15 s after close:\n{}", app.log_tail(20)));
    assert!(exited_normally(status), "{program} died instead of exiting ({status}):\n{}", app.log_tail(20));
    wr.wait_for_no_window(Duration::from_secs(5), "of the closed app", |w| w["id"].as_u64() == Some(id));
    assert!(wr.windows().is_empty(), "windows left: {:?}", wr.windows());
    status.success()
}

#[test]
fn foot_maps_and_closes() {
    require_programs!("foot");
    // foot mirrors its shell's exit, and closing the window hangs the shell up: any exit
    // without a crash is clean.
    maps_and_closes("foot", &["sh"], "foot", "foot");
}

#[test]
fn gtk3_demo_maps_and_closes() {
    require_programs!("gtk3-demo");
    assert!(maps_and_closes("gtk3-demo", &[], "Application Class", "gtk3-demo"), "gtk3-demo exited with an error");
}

#[test]
fn gtk4_demo_maps_and_closes() {
    require_programs!("gtk4-demo");
    assert!(maps_and_closes("gtk4-demo", &[], "GTK Demo", "gtk4-demo"), "gtk4-demo exited with an error");
}
