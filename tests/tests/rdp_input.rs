//! Input through a real RDP client: keys typed with xdotool into the xfreerdp3 window reach a
//! terminal in wayrail (shifted characters, arrows, Home, BackSpace and Delete included), and a
//! click and wheel notches reach a Wayland client that records them, with Wayland's signs.

use std::time::Duration;

use wayrail_e2e::rdp::{FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{require_programs, wait_until, Compositor, Rect, MAP_TIMEOUT};

#[test]
fn xdotool_keys_reach_a_terminal_with_editing_keys() {
    require_programs!("Xvfb", "xdotool", "xfreerdp3", "foot", "bash");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let workdir = wr.path("rdp-typing");
    std::fs::create_dir(&workdir).unwrap();
    // bash's line editor, so Home, the arrows and Delete really edit the line.
    let foot = wr.spawn_client(
        "foot",
        &["--working-directory", workdir.to_str().unwrap(), "bash", "--norc", "--noprofile"],
        &[("PS1", "$ "), ("HISTFILE", "/dev/null")],
    );
    let window = wr.wait_for_toplevel_of(&foot, MAP_TIMEOUT);
    let id = window["id"].as_u64().unwrap();
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &[]);
    let rect = Rect::of(&window);
    rdp.focus_and_click(&x, rect.x + rect.width / 2, rect.y + rect.height / 2);
    wr.wait_for_window(Duration::from_secs(10), "focused", |w| w["id"].as_u64() == Some(id) && w["activated"] == true);

    // Typed: echo 'X#!Zy' > out.tx?Q — then the editing keys turn it into echo 'X#!y' > out.txt.
    x.xdotool(&["type", "--delay", "25", "echo 'X#!Zy' > out.txQ"]);
    // BackSpace removes Q; Left, then typing t, then End fixes "out.tx" into "out.txt".
    x.xdotool(&["key", "--delay", "40", "BackSpace", "Left", "Right"]);
    x.xdotool(&["type", "--delay", "25", "t"]);
    // Home, then Right past `echo 'X#!` (9 characters), and Delete removes the Z.
    let mut keys = vec!["Home"];
    keys.extend(std::iter::repeat_n("Right", 9));
    keys.extend(["Delete", "End", "Return"]);
    let mut args = vec!["key", "--delay", "40"];
    args.extend(keys);
    x.xdotool(&args);

    wr.assert_file_becomes(&workdir.join("out.txt"), "X#!y\n", &foot, Duration::from_secs(10));
}

#[test]
fn a_click_and_wheel_notches_reach_a_client_with_waylands_signs() {
    require_programs!("Xvfb", "xdotool", "xfreerdp3");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let events = wr.path("probe-events.txt");
    let (_probe, window) =
        wr.spawn_mapped(env!("CARGO_BIN_EXE_wr-input-probe"), &[events.to_str().unwrap(), "300x200"]);
    let rect = Rect::of(&window);
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &[]);
    // The client's window shows the desktop 1:1 at the origin: desktop = window coordinates.
    let (px, py) = (rect.x + 40, rect.y + 30);
    rdp.focus_and_click(&x, px, py);
    let xid = rdp.window().to_string();
    // Wheel: 5 = down, 4 = up, 7 = right, 6 = left (X11 buttons), one notch each.
    for button in ["5", "4", "7", "6"] {
        x.xdotool(&["mousemove", "--window", &xid, &px.to_string(), &py.to_string(), "click", button]);
    }
    let wanted = [
        "button 272 pressed".to_string(),
        "button 272 released".to_string(),
        "value120 vertical 120".to_string(),
        "value120 vertical -120".to_string(),
        "value120 horizontal 120".to_string(),
        "value120 horizontal -120".to_string(),
    ];
    let log = || std::fs::read_to_string(&events).unwrap_or_default();
    // In this order, each after the one before.
    let in_order = |text: &str| {
        let mut rest = text;
        wanted.iter().all(|w| match rest.find(w.as_str()) {
            Some(i) => {
                rest = &rest[i + w.len()..];
                true
            }
            None => false,
        })
    };
    let ok = wait_until(Duration::from_secs(10), || in_order(&log()));
    assert!(ok, "the probe recorded:\n{}\nexpected, in order: {wanted:?}\nwayrail log:\n{}", log(), wr.log_tail(20));
    // The click landed where it was made: surface-local (40, 30).
    let text = log();
    assert!(text.contains("button 272 pressed 40 30"), "the click landed elsewhere:\n{text}");
}
