//! Typing into a real terminal: through the virtual-keyboard protocol (wtype) and through
//! wayrail's own input API (`wayrail msg input`), shifted characters included.

use std::path::Path;
use std::time::Duration;

use wayrail_e2e::{require_programs, wait_until, Client, Compositor, MAP_TIMEOUT};

/// What the tests type: capitals and shifted symbols (`'`, `!`, `#`, `~`, `>`) included.
const LINE: &str = "Hello, World! #42 ~ABC";

/// Starts `foot sh` in a fresh directory and waits until its window is mapped and focused.
fn foot_shell(wr: &Compositor, workdir: &Path) -> (Client, u64) {
    std::fs::create_dir(workdir).unwrap();
    let dir = workdir.to_str().unwrap();
    // A plain prompt and no history file: only what is typed ends up in the directory.
    let foot = wr.spawn_client("foot", &["--working-directory", dir, "sh"], &[("ENV", ""), ("PS1", "$ ")]);
    let window = wr.wait_for_toplevel_of(&foot, MAP_TIMEOUT);
    let id = window["id"].as_u64().unwrap();
    wr.wait_for_window(Duration::from_secs(10), "focused", |w| w["id"].as_u64() == Some(id) && w["activated"] == true);
    (foot, id)
}

fn assert_file_becomes(path: &Path, expected: &str, foot: &Client) {
    let ok = wait_until(Duration::from_secs(10), || std::fs::read_to_string(path).is_ok_and(|s| s == expected));
    let got = std::fs::read_to_string(path);
    assert!(ok, "{} holds {got:?}, expected {expected:?}\nfoot log:\n{}", path.display(), foot.log_tail(20));
}

#[test]
fn wtype_types_into_foot() {
    require_programs!("foot", "wtype");
    let wr = Compositor::start(&["--output", "1280x800"]);
    let workdir = wr.path("wtype-work");
    let (foot, _) = foot_shell(&wr, &workdir);

    let command = format!("echo '{LINE}' > out.txt");
    let mut wtype = wr.spawn_client("wtype", &[&command, "-k", "Return"], &[]);
    let status = wtype.wait_exit(Duration::from_secs(15)).expect("wtype did not finish");
    assert!(status.success(), "wtype failed ({status}):\n{}", wtype.log_tail(20));
    assert_file_becomes(&workdir.join("out.txt"), &format!("{LINE}\n"), &foot);
}

#[test]
fn ipc_key_events_type_into_foot() {
    require_programs!("foot");
    let wr = Compositor::start(&["--output", "1280x800"]);
    // Another window first, so the terminal has to be focused by a click.
    let other = wr.path("other-work");
    let (first, first_id) = foot_shell(&wr, &other);
    let workdir = wr.path("ipc-work");
    let (foot, id) = foot_shell(&wr, &workdir);
    let window = wr.window(id).unwrap();
    assert_eq!(window["activated"], true);

    wr.type_text(&format!("echo '{LINE}' > out.txt\n"));
    assert_file_becomes(&workdir.join("out.txt"), &format!("{LINE}\n"), &foot);

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
    assert_file_becomes(&other.join("out2.txt"), "second\n", &first);
    assert!(!workdir.join("out2.txt").exists(), "typed into the unfocused terminal");
}
