//! Unicode keyboard events from an RDP client reach terminals exactly, characters the keyboard
//! layout (US) cannot type included: foot (Wayland) and xterm (X11, through Xwayland) get them
//! on keys added to the keymap for a while. (Neither uses text-input-v3 here: clients enable it
//! only once an input method is bound.) Each terminal runs a shell that writes the lines it
//! reads to a file, and the file's bytes are compared. Afterwards the layout's own keys still
//! type what they did.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use wayrail_e2e::ironrdp::{connect_gfx, pump};
use wayrail_e2e::{require_programs, wait_until, Client, Compositor, Value, MAP_TIMEOUT};
use wayrail_rdp_testclient::ironrdp_pdu::input::fast_path::{FastPathInputEvent, KeyboardFlags};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, TestClient};

const STEP: Duration = Duration::from_secs(15);
/// Latin-1, a German letter, a symbol, CJK and an emoji (a UTF-16 surrogate pair), then more
/// CJK than the US layout has spare keys (17); none of them but the spaces is on the layout.
const TEXT: &str = "é ß € 中 😀 一二三四五六七八九十百千万天地人日月山川水火木金土";
/// Set-2 scancodes of the US layout: o, k, Enter.
const SCANCODE_O: u8 = 0x18;
const SCANCODE_K: u8 = 0x25;
const SCANCODE_ENTER: u8 = 0x1C;

/// The shell each terminal runs: two lines read, written to `out.txt` with a newline between.
const READ_TWO_LINES: &str = r#"IFS= read -r a; IFS= read -r b; printf '%s\n%s' "$a" "$b" > out.txt"#;

async fn connect(wr: &Compositor) -> TestClient {
    let opts = ClientOptions { size: (1024, 768), ..Default::default() };
    connect_gfx(wr, ClientBuilder::new(opts), STEP).await
}

/// Every UTF-16 unit of `text` pressed and released as a fast-path Unicode keyboard event.
async fn send_unicode(client: &mut TestClient, text: &str) {
    for unit in text.encode_utf16() {
        let events = [
            FastPathInputEvent::UnicodeKeyboardEvent(KeyboardFlags::empty(), unit),
            FastPathInputEvent::UnicodeKeyboardEvent(KeyboardFlags::RELEASE, unit),
        ];
        client.send_input(&events).await.unwrap_or_else(|e| panic!("{e:#}"));
        pump(client, 20).await;
    }
}

async fn send_keys(client: &mut TestClient, scancodes: &[u8]) {
    for &code in scancodes {
        let events = [
            FastPathInputEvent::KeyboardEvent(KeyboardFlags::empty(), code),
            FastPathInputEvent::KeyboardEvent(KeyboardFlags::RELEASE, code),
        ];
        client.send_input(&events).await.unwrap_or_else(|e| panic!("{e:#}"));
        pump(client, 20).await;
    }
}

/// Types the Unicode line and Enter, waits until the added keys are gone again, then types
/// `ok` and Enter on the layout's keys; the terminal's shell writes both lines to `out`.
async fn type_both_lines(wr: &Compositor, client: &mut TestClient, terminal: &Client, out: &Path) {
    send_unicode(client, TEXT).await;
    send_keys(client, &[SCANCODE_ENTER]).await;
    // Longer than a pause for free keys (1 s) and the added keys' life after it (2 s), so the
    // second line is typed on the layout alone.
    pump(client, 4500).await;
    send_keys(client, &[SCANCODE_O, SCANCODE_K, SCANCODE_ENTER]).await;
    let expected = format!("{TEXT}\nok");
    let ok = wait_until(Duration::from_secs(10), || std::fs::read(out).is_ok_and(|b| b == expected.as_bytes()));
    let got = std::fs::read(out).map(|b| String::from_utf8_lossy(&b).into_owned());
    assert!(
        ok,
        "{} holds {got:?}, expected {expected:?}\n{} log:\n{}\nwayrail log:\n{}",
        out.display(),
        terminal.name,
        terminal.log_tail(20),
        wr.log_tail(30)
    );
}

/// Waits until the window of `client` is mapped and has the keyboard focus (giving it).
async fn focused_window_of(wr: &Compositor, test_client: &mut TestClient, client: &Client) -> Value {
    let window = wr.wait_for_toplevel_of(client, MAP_TIMEOUT);
    let id = window["id"].as_u64().unwrap();
    wr.window_op(id, &["focus"]);
    wr.wait_for_window(Duration::from_secs(10), "focused", |w| w["id"].as_u64() == Some(id) && w["activated"] == true);
    pump(test_client, 200).await;
    window
}

#[tokio::test(flavor = "current_thread")]
async fn unicode_events_reach_foot() {
    require_programs!("foot", "sh");
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let mut client = connect(&wr).await;
    let workdir = wr.path("foot-keys");
    std::fs::create_dir(&workdir).unwrap();
    let dir = workdir.to_str().unwrap();
    let foot = wr.spawn_client("foot", &["--working-directory", dir, "sh", "-c", READ_TWO_LINES], &[]);
    focused_window_of(&wr, &mut client, &foot).await;
    // Typing before the shell reads waits in the terminal's tty.
    type_both_lines(&wr, &mut client, &foot, &workdir.join("out.txt")).await;
}

#[tokio::test(flavor = "current_thread")]
async fn unicode_events_reach_xterm() {
    require_programs!("Xwayland", "xterm", "sh");
    let wr = Compositor::start_rdp(&["--output", "1024x768", "--xwayland", "lazy"]);
    let mut client = connect(&wr).await;
    let workdir = wr.path("xterm-keys");
    std::fs::create_dir(&workdir).unwrap();
    let mut cmd: Command = wr.x11_command("xterm");
    cmd.args(["-u8", "-e", "sh", "-c", READ_TWO_LINES]).env("LANG", "C.UTF-8").env("LC_ALL", "C.UTF-8");
    cmd.current_dir(&workdir);
    let xterm = wr.spawn("xterm", cmd);
    focused_window_of(&wr, &mut client, &xterm).await;
    type_both_lines(&wr, &mut client, &xterm, &workdir.join("out.txt")).await;
}
