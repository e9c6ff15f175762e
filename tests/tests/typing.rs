//! Typing into a real terminal: through the virtual-keyboard protocol (wtype) and through
//! wayrail's own input API (`wayrail msg input`), shifted characters included.

use std::path::PathBuf;
use std::time::Duration;

use wayrail_e2e::{require_programs, Client, Compositor, MAP_TIMEOUT};

/// What the tests type: capitals and shifted symbols (`'`, `!`, `#`, `~`, `>`) included.
const LINE: &str = "Hello, World! #42 ~ABC";

/// Starts `foot sh` in a fresh directory and waits until its window is mapped and focused.
fn foot_shell(wr: &Compositor, name: &str) -> (Client, u64, PathBuf) {
    // A plain prompt and no history file: only what is typed ends up in the directory.
    let (foot, workdir) = wr.spawn_foot_shell(name);
    let window = wr.wait_for_toplevel_of(&foot, MAP_TIMEOUT);
    let id = window["id"].as_u64().unwrap();
    wr.wait_for_window(Duration::from_secs(10), "focused", |w| w["id"].as_u64() == Some(id) && w["activated"] == true);
    (foot, id, workdir)
}

#[test]
fn wtype_types_into_foot() {
    require_programs!("foot", "wtype");
    let wr = Compositor::start(&["--output", "1280x800"]);
    let (foot, _, workdir) = foot_shell(&wr, "wtype-work");

    let command = format!("echo '{LINE}' > out.txt");
    let mut wtype = wr.spawn_client("wtype", &[&command, "-k", "Return"], &[]);
    let status = wtype.wait_exit(Duration::from_secs(15)).expect("wtype did not finish");
    assert!(status.success(), "wtype failed ({status}):\n{}", wtype.log_tail(20));
    wr.assert_file_becomes(&workdir.join("out.txt"), &format!("{LINE}\n"), &foot, Duration::from_secs(10));
}

#[test]
fn ipc_key_events_type_into_foot() {
    require_programs!("foot");
    let wr = Compositor::start(&["--output", "1280x800"]);
    // Another window first, so the terminal has to be focused by a click.
    let (first, first_id, other) = foot_shell(&wr, "other-work");
    let (foot, id, workdir) = foot_shell(&wr, "ipc-work");
    let window = wr.window(id).unwrap();
    assert_eq!(window["activated"], true);

    wr.type_text(&format!("echo '{LINE}' > out.txt\n"));
    wr.assert_file_becomes(&workdir.join("out.txt"), &format!("{LINE}\n"), &foot, Duration::from_secs(10));

    // Click into the first terminal (where it is not covered by the second) and type there.
    let a = wr.window(first_id).unwrap();
    let b = wr.window(id).unwrap();
    let (ax, ay) = (a["x"].as_i64().unwrap(), a["y"].as_i64().unwrap());
    let (bx, by) = (b["x"].as_i64().unwrap(), b["y"].as_i64().unwrap());
    assert!(bx > ax + 10 && by > ay + 10, "windows cascade: first at {ax},{ay}, second at {bx},{by}");
    let (x, y) = ((ax + 5).to_string(), (ay + 5).to_string());
    wr.input(&["click", &x, &y]);
    wr.wait_for_window(Duration::from_secs(5), "focused by the click", |w| {
        w["id"].as_u64() == Some(first_id) && w["activated"] == true
    });
    wr.type_text("echo second > out2.txt\n");
    wr.assert_file_becomes(&other.join("out2.txt"), "second\n", &first, Duration::from_secs(10));
    assert!(!workdir.join("out2.txt").exists(), "typed into the unfocused terminal");
}
