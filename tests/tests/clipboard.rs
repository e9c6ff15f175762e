//! The clipboard between an RDP host and Linux apps, end to end.
//!
//! With xfreerdp 2.11 (`+clipboard`) in Xvfb as the host, `xclip` on the host's X display and
//! `wl-copy`/`wl-paste` plus `xclip` under Xwayland on the Linux side: UTF-8 text with
//! non-ASCII and emoji, HTML and a PNG image cross both ways (pixels compared), and payloads
//! as large as FreeRDP's own X clipboard code can move (see below), followed by ordinary
//! copies. With the IronRDP test client as the host, whose clipboard has no such limits:
//! 20 MB of text both ways, then ordinary copies; RTF and a CF_DIBV5 with alpha; PRIMARY kept
//! on Linux (and shared with `--clipboard-primary`); a reconnect that finds the Linux
//! selection; and the edge cases no packaged client sends (unknown formats, empty data, wrong
//! lengths, a sequence over the size cap, a data request never answered), after which the
//! session and the clipboard still work.
//!
//! FreeRDP's limits, measured here: xfreerdp 2.11 and 3.10 fail (CB_RESPONSE_FAIL) a data
//! request when their X clipboard holds more than about 1 MB (xclip hands it over in INCR
//! pieces); xfreerdp 2.11 dies with BadLength when it stores more than the X server's largest
//! request (16 MB) in one property, and at 12 MB it loses its X connection afterwards.
//! wayrail's side of such transfers is covered by the test client.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wayrail_e2e::ironrdp::{clip, connect_clipboard, until_clipboard};
use wayrail_e2e::rdp::{FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{require_programs, wait_for, wait_until, Client, Compositor, Image};
use wayrail_rdp_testclient::ironrdp_core;
use wayrail_rdp_testclient::ironrdp_pdu::rdp::vc::{ChannelControlFlags, ChannelPduHeader};
use wayrail_rdp_testclient::{raw, ClipboardClient, DataRequests, TestClient};

/// How long one clipboard step may take on a loaded machine.
const STEP: Duration = Duration::from_secs(30);
/// Large transfers through a debug build on a loaded machine.
const LARGE_STEP: Duration = Duration::from_secs(180);

const TEXT: &str = "Grüße aus Köln — ½ € ✓ 😀🎉 日本語\nzweite Zeile\ttab";
const HTML: &str = "<p><b>fett</b> und <i>kursiv</i>: ünïcödé 😀</p>";

fn write_file(wr: &Compositor, name: &str, data: &[u8]) -> PathBuf {
    let path = wr.path(name);
    std::fs::File::create(&path).and_then(|mut f| f.write_all(data)).expect("writing a test file");
    path
}

/// Runs a command to its end (it must carry its own deadline, e.g. `timeout`) and returns stdout.
fn output(mut cmd: Command) -> Vec<u8> {
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    cmd.output().map(|o| o.stdout).unwrap_or_default()
}

/// `wl-copy` of a file's bytes as `mime`, kept running (it owns the selection) under a guard.
fn wl_copy(wr: &Compositor, mime: &str, file: &Path) -> Client {
    let mut cmd = wr.command("sh");
    cmd.args(["-c", &format!("exec wl-copy --foreground -t '{mime}' < '{}'", file.display())]);
    wr.spawn("wl-copy", cmd)
}

fn wl_paste(wr: &Compositor, mime: &str, secs: u32) -> Vec<u8> {
    let mut cmd = wr.command("timeout");
    cmd.args([&secs.to_string(), "wl-paste", "-n", "-t", mime]);
    output(cmd)
}

/// A `wl-paste` running in the background into a file, for tests that must pump the test
/// client while it waits.
fn wl_paste_spawn(wr: &Compositor, mime: &str, out: &Path) -> std::process::Child {
    let mut cmd = wr.command("timeout");
    cmd.args(["300", "wl-paste", "-n", "-t", mime])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).expect("a paste file"))
        .stderr(Stdio::null());
    cmd.spawn().expect("starting wl-paste")
}

/// Pumps the test client until a background process ends; returns how long it took.
async fn pump_while_running(client: &mut TestClient, child: &mut std::process::Child, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a paste") {
            assert!(status.success() || status.code() == Some(1), "wl-paste ended with {status}");
            return started.elapsed();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the paste took longer than {limit:?}");
        }
        client.pump(Duration::from_millis(20)).await.expect("pumping the test client");
    }
}

/// `xclip` owning the host's (Xvfb's) clipboard with a file's bytes as `target`.
fn host_copy(wr: &Compositor, x: &Xvfb, target: &str, file: &Path) -> Client {
    let mut cmd = x.command("xclip");
    cmd.args(["-quiet", "-selection", "clipboard", "-t", target, "-i"]).arg(file);
    wr.spawn("xclip-host", cmd)
}

fn host_paste(x: &Xvfb, target: &str, secs: u32) -> Vec<u8> {
    let mut cmd = x.command("timeout");
    cmd.args([&secs.to_string(), "xclip", "-selection", "clipboard", "-o", "-t", target]);
    output(cmd)
}

/// `xclip` owning the Xwayland clipboard (an X11 app's copy).
fn x11_copy(wr: &Compositor, file: &Path) -> Client {
    let mut cmd = wr.x11_command("xclip");
    cmd.args(["-quiet", "-selection", "clipboard", "-i"]).arg(file);
    wr.spawn("xclip-x11", cmd)
}

fn x11_paste(wr: &Compositor, target: &str) -> Vec<u8> {
    let mut cmd = wr.x11_command("timeout");
    cmd.args(["10", "xclip", "-selection", "clipboard", "-o", "-t", target]);
    output(cmd)
}

/// A 61x47 RGB test picture with a gradient and a few hard edges (no two rows alike).
fn test_png(path: &Path) {
    let (w, h) = (61u32, 47u32);
    let mut pixels = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let edge = if (x / 8 + y / 8) % 2 == 0 { 0 } else { 90 };
            pixels.extend_from_slice(&[(x * 4) as u8, (y * 5) as u8 ^ edge, ((x * y) % 251) as u8]);
        }
    }
    let file = std::fs::File::create(path).expect("a PNG file");
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().and_then(|mut wr| wr.write_image_data(&pixels)).expect("writing a PNG");
}

/// Asserts two images have the same size and the same RGB in every pixel.
fn assert_same_pixels(expected: &Path, got: &Path) {
    let a = Image::load(expected).unwrap_or_else(|e| panic!("{e:#}"));
    let b = Image::load(got).unwrap_or_else(|e| panic!("{}: {e:#}", got.display()));
    assert_eq!((a.width, a.height), (b.width, b.height), "image sizes differ");
    let differing = (0..a.height)
        .flat_map(|y| (0..a.width).map(move |x| (x, y)))
        .filter(|&(x, y)| a.rgb(x, y) != b.rgb(x, y))
        .count();
    assert_eq!(differing, 0, "{differing} pixels differ after the round trip");
}

/// Text of `len` bytes with non-ASCII, emoji and line breaks, deterministic.
fn large_text(len: usize) -> String {
    wayrail_e2e::sample_text(len, 0x2545_f491)
}

fn lossy(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() > 200 {
        let head: String = s.chars().take(100).collect();
        format!("{head}… ({} bytes)", bytes.len())
    } else {
        s.into_owned()
    }
}

#[test]
fn text_html_and_png_both_ways_with_xfreerdp2() {
    require_programs!("Xvfb", "xfreerdp", "xclip", "wl-copy", "wl-paste", "Xwayland", "xeyes", "timeout", "convert");
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--xwayland", "lazy"]);
    let x = Xvfb::start(wr.runtime_dir());
    let _rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V2, (1280, 800), &["+clipboard"]);

    // Linux (X11) → host, text; Wayland apps see it too.
    // (Before any X11 window has the keyboard focus: with one focused, an X11 copy that
    // takes the selection from the window manager's proxy is lost — a limit of the Xwayland
    // selection bridge, not of the clipboard channel.)
    let x11_text = format!("{TEXT} — von X11");
    let _x11 = x11_copy(&wr, &write_file(&wr, "x11.txt", x11_text.as_bytes()));
    let ok = wait_until(STEP, || host_paste(&x, "UTF8_STRING", 10) == x11_text.as_bytes());
    assert!(ok, "host xclip after an X11 copy: {:?}\n{}", lossy(&host_paste(&x, "UTF8_STRING", 10)), wr.log_tail(30));
    assert_eq!(lossy(&wl_paste(&wr, "text/plain;charset=utf-8", 10)), x11_text);

    // Host → Linux, text.
    let file = write_file(&wr, "host.txt", TEXT.as_bytes());
    let _host = host_copy(&wr, &x, "UTF8_STRING", &file);
    let ok = wait_until(STEP, || wl_paste(&wr, "text/plain;charset=utf-8", 10) == TEXT.as_bytes());
    assert!(ok, "wl-paste: {:?}\n{}", lossy(&wl_paste(&wr, "text/plain;charset=utf-8", 10)), wr.log_tail(30));
    // X11 apps see it too. They may read selections while an X11 window has the focus.
    let _eyes = wr.spawn_x11_client("xeyes", &[]);
    let eyes = wr.wait_for_window(STEP, "xeyes", |w| w["title"] == "xeyes")["id"].as_u64().expect("a window id");
    wr.window_op(eyes, &["focus"]);
    wr.wait_for_window(STEP, "xeyes focused", |w| w["id"].as_u64() == Some(eyes) && w["activated"] == true);
    let ok = wait_until(STEP, || x11_paste(&wr, "UTF8_STRING") == TEXT.as_bytes());
    assert!(ok, "xclip under Xwayland: {:?}\n{}", lossy(&x11_paste(&wr, "UTF8_STRING")), wr.log_tail(30));

    // Linux (Wayland) → host, text.
    let linux_text = format!("{TEXT} — von Wayland");
    let _copy = wl_copy(&wr, "text/plain;charset=utf-8", &write_file(&wr, "linux.txt", linux_text.as_bytes()));
    let ok = wait_until(STEP, || host_paste(&x, "UTF8_STRING", 10) == linux_text.as_bytes());
    assert!(ok, "host xclip: {:?}\n{}", lossy(&host_paste(&x, "UTF8_STRING", 10)), wr.log_tail(30));

    // Host → Linux, HTML: the CF_HTML header FreeRDP adds is gone again.
    let _host = host_copy(&wr, &x, "text/html", &write_file(&wr, "host.html", HTML.as_bytes()));
    let ok = wait_until(STEP, || wl_paste(&wr, "text/html", 10) == HTML.as_bytes());
    assert!(ok, "wl-paste text/html: {:?}\n{}", lossy(&wl_paste(&wr, "text/html", 10)), wr.log_tail(30));

    // Linux → host, HTML: FreeRDP turns wayrail's CF_HTML back into a document holding it.
    let linux_html = "<ul><li>eins</li><li>zwei 🎉</li></ul>";
    let _copy = wl_copy(&wr, "text/html", &write_file(&wr, "linux.html", linux_html.as_bytes()));
    let ok = wait_until(STEP, || lossy(&host_paste(&x, "text/html", 10)).contains(linux_html));
    assert!(ok, "host text/html: {:?}\n{}", lossy(&host_paste(&x, "text/html", 10)), wr.log_tail(30));

    // Host → Linux, image: FreeRDP 2 carries X images as CF_DIB (image/bmp); Linux apps get
    // PNG (and BMP).
    let png = wr.path("picture.png");
    test_png(&png);
    let bmp = wr.path("picture.bmp");
    let converted = Command::new("convert").arg(&png).arg(format!("bmp3:{}", bmp.display())).status();
    assert!(converted.is_ok_and(|s| s.success()), "imagemagick could not write a BMP");
    let _host = host_copy(&wr, &x, "image/bmp", &bmp);
    let got = wr.path("got.png");
    let pasted = wait_for(STEP, || {
        let data = wl_paste(&wr, "image/png", 10);
        data.starts_with(b"\x89PNG").then_some(data)
    });
    let data = pasted.unwrap_or_else(|| panic!("no PNG from the host's bitmap\n{}", wr.log_tail(30)));
    std::fs::write(&got, data).unwrap();
    assert_same_pixels(&png, &got);

    // Linux → host, image: a PNG from wl-copy reaches the host as a bitmap.
    let _copy = wl_copy(&wr, "image/png", &png);
    let host_bmp = wr.path("host-got.bmp");
    let pasted = wait_for(STEP, || {
        let data = host_paste(&x, "image/bmp", 10);
        data.starts_with(b"BM").then_some(data)
    });
    std::fs::write(&host_bmp, pasted.unwrap_or_else(|| panic!("no bitmap at the host\n{}", wr.log_tail(30)))).unwrap();
    let host_png = wr.path("host-got.png");
    let converted = Command::new("convert").arg(&host_bmp).arg(format!("png24:{}", host_png.display())).status();
    assert!(converted.is_ok_and(|s| s.success()), "imagemagick could not read the host's bitmap");
    assert_same_pixels(&png, &host_png);
}

#[test]
fn large_text_within_freerdps_limits_then_an_ordinary_copy() {
    require_programs!("Xvfb", "xfreerdp", "xclip", "wl-copy", "wl-paste", "timeout");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let _rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V2, (1280, 800), &["+clipboard"]);

    // Host → Linux: 512 KB (FreeRDP reads no more than about 1 MB from its X clipboard).
    let big = large_text(512 * 1024);
    let _host = host_copy(&wr, &x, "UTF8_STRING", &write_file(&wr, "big-host.txt", big.as_bytes()));
    let ok = wait_until(LARGE_STEP, || wl_paste(&wr, "text/plain;charset=utf-8", 120) == big.as_bytes());
    assert!(ok, "wl-paste of the host's 512 KB text\n{}", wr.log_tail(30));

    // Linux → host: 4 MB (FreeRDP 2 stores it in one X property; at 12 MB it loses its X
    // connection afterwards).
    let big = large_text(4 * 1024 * 1024);
    let _copy = wl_copy(&wr, "text/plain;charset=utf-8", &write_file(&wr, "big.txt", big.as_bytes()));
    let got = wait_for(LARGE_STEP, || {
        let data = host_paste(&x, "UTF8_STRING", 120);
        (data.len() == big.len()).then_some(data)
    });
    let got = got.unwrap_or_else(|| panic!("the host never got the 4 MB text\n{}", wr.log_tail(30)));
    assert!(got == big.as_bytes(), "the 4 MB text changed on its way to the host");

    // Ordinary copies still work both ways. (The host copies first: xfreerdp 2.11 sometimes
    // crashes when a format list arrives right after it served a large paste.)
    let _host = host_copy(&wr, &x, "UTF8_STRING", &write_file(&wr, "small-host.txt", "wieder 😀".as_bytes()));
    assert!(wait_until(STEP, || wl_paste(&wr, "text/plain", 10) == "wieder 😀".as_bytes()), "{}", wr.log_tail(30));
    let _copy = wl_copy(&wr, "text/plain;charset=utf-8", &write_file(&wr, "small.txt", b"klein"));
    assert!(wait_until(STEP, || host_paste(&x, "UTF8_STRING", 10) == b"klein"), "{}", wr.log_tail(30));
}

// ------------------------------------------------------------------ the IronRDP test client

/// A host copy on the test client; waits until wayrail answered the format list.
async fn client_copy(wr: &Compositor, client: &mut TestClient, formats: Vec<(u32, Option<&'static str>, Vec<u8>)>) {
    let answered = clip(client).list_responses.len();
    let messages = clip(client).copy(formats);
    client.send_svc::<ClipboardClient>(messages).await.expect("sending a format list");
    until_clipboard(wr, client, STEP, "a format list response", |c| c.list_responses.len() > answered).await;
}

/// Pastes on the test client in `format`; returns the response.
async fn client_paste(wr: &Compositor, client: &mut TestClient, format: u32) -> Result<Vec<u8>, ()> {
    let before = clip(client).responses.len();
    client.send_svc::<ClipboardClient>(ClipboardClient::request(format)).await.expect("sending a data request");
    until_clipboard(wr, client, LARGE_STEP, "a data response", |c| c.responses.len() > before).await;
    clip(client).responses[before].clone()
}

/// Waits until wayrail offered the host a list holding `format`.
async fn wait_offer(wr: &Compositor, client: &mut TestClient, lists_before: usize, format: u32) {
    until_clipboard(wr, client, STEP, "a format list from wayrail", |c| {
        c.server_lists.len() > lists_before && c.server_formats().is_some_and(|f| f.iter().any(|(id, _)| *id == format))
    })
    .await;
}

fn utf16(text: &str) -> Vec<u8> {
    let mut out: Vec<u8> = text.replace('\n', "\r\n").encode_utf16().flat_map(u16::to_le_bytes).collect();
    out.extend_from_slice(&[0, 0]);
    out
}

fn from_utf16(data: &[u8]) -> String {
    let units: Vec<u16> =
        data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
    String::from_utf16(&units).expect("UTF-16 from wayrail").replace("\r\n", "\n")
}

async fn paste_in_linux(wr: &Compositor, client: &mut TestClient, mime: &str, limit: Duration) -> (Vec<u8>, Duration) {
    let out = wr.path(&format!("paste-{}.out", std::process::id()));
    let mut child = wl_paste_spawn(wr, mime, &out);
    let took = pump_while_running(client, &mut child, limit).await;
    (std::fs::read(&out).unwrap_or_default(), took)
}

#[tokio::test(flavor = "current_thread")]
async fn twenty_megabytes_both_ways_then_an_ordinary_copy() {
    require_programs!("wl-copy", "wl-paste", "timeout");
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let mut client = connect_clipboard(&wr).await;
    let big = large_text(20 * 1024 * 1024);

    // Host → Linux: 20 MB of text (40 MB of UTF-16 on the wire).
    client_copy(&wr, &mut client, vec![(13, None, utf16(&big))]).await;
    let (got, took) = paste_in_linux(&wr, &mut client, "text/plain;charset=utf-8", LARGE_STEP).await;
    assert_eq!(got.len(), big.len(), "wl-paste got {} of {} bytes\n{}", got.len(), big.len(), wr.log_tail(20));
    assert!(got == big.as_bytes(), "the 20 MB text changed on its way to Linux");
    eprintln!("host → Linux, 20 MB: {took:?}");

    // Linux → host: 20 MB.
    let lists = clip(&mut client).server_lists.len();
    let _copy = wl_copy(&wr, "text/plain;charset=utf-8", &write_file(&wr, "big.txt", big.as_bytes()));
    wait_offer(&wr, &mut client, lists, 13).await;
    let started = Instant::now();
    let data = client_paste(&wr, &mut client, 13).await.expect("the 20 MB text");
    assert!(from_utf16(&data) == big, "the 20 MB text changed on its way to the host");
    eprintln!("Linux → host, 20 MB: {:?}", started.elapsed());

    // Ordinary copies both ways.
    client_copy(&wr, &mut client, vec![(13, None, utf16("klein 😀"))]).await;
    let (got, _) = paste_in_linux(&wr, &mut client, "text/plain", STEP).await;
    assert_eq!(lossy(&got), "klein 😀");
    let lists = clip(&mut client).server_lists.len();
    let _copy = wl_copy(&wr, "text/plain;charset=utf-8", &write_file(&wr, "small.txt", "zurück".as_bytes()));
    wait_offer(&wr, &mut client, lists, 13).await;
    assert_eq!(from_utf16(&client_paste(&wr, &mut client, 13).await.expect("text")), "zurück");
}

#[tokio::test(flavor = "current_thread")]
async fn edge_cases_leave_the_session_and_the_clipboard_usable() {
    require_programs!("wl-copy", "wl-paste", "timeout");
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let mut client = connect_clipboard(&wr).await;
    let channel = client.static_channel_id("cliprdr").expect("the cliprdr channel joined");

    // A Linux copy; then a host copy of formats wayrail does not carry leaves it alone.
    let lists = clip(&mut client).server_lists.len();
    let _copy = wl_copy(&wr, "text/plain;charset=utf-8", &write_file(&wr, "linux.txt", b"linux-text"));
    wait_offer(&wr, &mut client, lists, 13).await;
    client_copy(&wr, &mut client, vec![(0xC123, Some("Weird Format"), vec![1, 2, 3]), (3, None, vec![0; 8])]).await;
    let (got, _) = paste_in_linux(&wr, &mut client, "text/plain", STEP).await;
    assert_eq!(lossy(&got), "linux-text", "unknown host formats replaced the Linux selection");
    // The host asks for a format Linux does not offer: a failure, at once.
    assert_eq!(client_paste(&wr, &mut client, 8).await, Err(()));
    assert_eq!(from_utf16(&client_paste(&wr, &mut client, 13).await.expect("text")), "linux-text");

    // Empty data, with and without the terminating NUL.
    for data in [Vec::new(), vec![0, 0]] {
        client_copy(&wr, &mut client, vec![(13, None, data)]).await;
        let (got, _) = paste_in_linux(&wr, &mut client, "text/plain", STEP).await;
        assert!(got.is_empty(), "empty host text pasted as {got:?}");
    }

    // Wrong lengths: a data response that claims more than it carries answers the paste
    // waiting for it (with nothing) instead of leaving it to the timeout.
    clip(&mut client).data_requests = DataRequests::Ignore;
    client_copy(&wr, &mut client, vec![(13, None, utf16("never sent"))]).await;
    let out = wr.path("paste-wrong-length.out");
    let mut paste = wl_paste_spawn(&wr, "text/plain", &out);
    let requests = clip(&mut client).requests_seen.len();
    until_clipboard(&wr, &mut client, STEP, "wayrail asking the host", |c| c.requests_seen.len() > requests).await;
    let lying = [5u8, 0, 1, 0, 0xe8, 3, 0, 0, b'a', 0, b'b', 0];
    client.send_on_channel(channel, &raw::svc_chunk(&lying)).await.unwrap();
    let took = pump_while_running(&mut client, &mut paste, STEP).await;
    assert!(std::fs::read(&out).unwrap_or_default().is_empty());
    assert!(took < Duration::from_secs(8), "the broken response did not end the paste ({took:?})");
    // More broken PDUs: a format list longer than its PDU, a data request without its
    // format id, an unknown message type, a truncated header.
    for bytes in [
        &[2u8, 0, 0, 0, 0xff, 0, 0, 0, 13, 0][..],
        &[4u8, 0, 0, 0, 0, 0, 0, 0][..],
        &[0x77u8, 0, 0, 0, 0, 0, 0, 0][..],
        &[5u8, 0][..],
    ] {
        client.send_on_channel(channel, &raw::svc_chunk(bytes)).await.unwrap();
    }

    // A chunk sequence that declares more than the 256 MB cap is dropped whole.
    for flags in [ChannelControlFlags::FLAG_FIRST, ChannelControlFlags::empty(), ChannelControlFlags::FLAG_LAST] {
        let header = ChannelPduHeader { length: 300 * 1024 * 1024, flags };
        let mut bytes = ironrdp_core::encode_vec(&header).unwrap();
        bytes.extend_from_slice(&[5, 0, 1, 0, 0, 0, 0, 0x12]);
        client.send_on_channel(channel, &bytes).await.unwrap();
    }

    // A data request the host never answers: the paste ends empty after wayrail's timeout.
    let (got, took) = paste_in_linux(&wr, &mut client, "text/plain", Duration::from_secs(60)).await;
    assert!(got.is_empty());
    assert!(took >= Duration::from_secs(9), "the paste ended before the timeout ({took:?})");

    // After all that: the session is up and an ordinary copy works both ways.
    clip(&mut client).data_requests = DataRequests::Answer;
    client_copy(&wr, &mut client, vec![(13, None, utf16("danach 😀"))]).await;
    let (got, _) = paste_in_linux(&wr, &mut client, "text/plain;charset=utf-8", STEP).await;
    assert_eq!(lossy(&got), "danach 😀", "{}", wr.log_tail(30));
    let lists = clip(&mut client).server_lists.len();
    let _copy = wl_copy(&wr, "text/plain;charset=utf-8", &write_file(&wr, "after.txt", b"linux again"));
    wait_offer(&wr, &mut client, lists, 13).await;
    assert_eq!(from_utf16(&client_paste(&wr, &mut client, 13).await.expect("text")), "linux again");
    assert!(client.closed().is_none(), "the session ended: {:?}", client.closed());
    assert!(wr.try_msg_json(&["version"]).is_ok(), "wayrail is gone:\n{}", wr.log_tail(30));
}

fn wl_paste_primary(wr: &Compositor) -> Vec<u8> {
    let mut cmd = wr.command("timeout");
    cmd.args(["10", "wl-paste", "-n", "-p"]);
    output(cmd)
}

fn wl_copy_primary(wr: &Compositor, text: &str) -> Client {
    let mut cmd = wr.command("wl-copy");
    cmd.args(["--foreground", "-p", text]);
    wr.spawn("wl-copy-primary", cmd)
}

#[tokio::test(flavor = "current_thread")]
async fn primary_stays_on_linux_by_default_and_a_reconnect_keeps_the_linux_selection() {
    require_programs!("wl-copy", "wl-paste", "timeout");
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let mut client = connect_clipboard(&wr).await;
    // A host copy reaches CLIPBOARD, not PRIMARY.
    client_copy(&wr, &mut client, vec![(13, None, utf16("host text"))]).await;
    let (got, _) = paste_in_linux(&wr, &mut client, "text/plain", STEP).await;
    assert_eq!(lossy(&got), "host text");
    assert!(wl_paste_primary(&wr).is_empty(), "PRIMARY got the host's clipboard");
    // A Linux PRIMARY selection does not reach the host; the next CLIPBOARD copy does (and
    // is the only list the host gets).
    let lists = clip(&mut client).server_lists.len();
    let _primary = wl_copy_primary(&wr, "selected text");
    let _copy = wl_copy(&wr, "text/plain;charset=utf-8", &write_file(&wr, "clip.txt", b"copied text"));
    wait_offer(&wr, &mut client, lists, 13).await;
    client.pump(Duration::from_millis(300)).await.unwrap();
    assert_eq!(clip(&mut client).server_lists.len(), lists + 1, "PRIMARY went to the host");
    assert_eq!(from_utf16(&client_paste(&wr, &mut client, 13).await.expect("text")), "copied text");

    // A new connection (a reconnect) hears of the Linux selection and can paste it.
    client.disconnect().await.expect("disconnecting");
    let mut client = connect_clipboard(&wr).await;
    wait_offer(&wr, &mut client, 0, 13).await;
    assert_eq!(from_utf16(&client_paste(&wr, &mut client, 13).await.expect("text")), "copied text");
}

#[tokio::test(flavor = "current_thread")]
async fn with_clipboard_primary_the_host_shares_primary_too() {
    require_programs!("wl-copy", "wl-paste", "timeout");
    let wr = Compositor::start_rdp(&["--output", "1024x768", "--clipboard-primary"]);
    let mut client = connect_clipboard(&wr).await;
    client_copy(&wr, &mut client, vec![(13, None, utf16("host text 😀"))]).await;
    // wl-paste waits for the host: the client is pumped meanwhile.
    let out = wr.path("paste-primary.out");
    let mut cmd = wr.command("timeout");
    cmd.args(["60", "wl-paste", "-n", "-p"]).stdin(Stdio::null()).stderr(Stdio::null());
    cmd.stdout(std::fs::File::create(&out).unwrap());
    let mut child = cmd.spawn().unwrap();
    pump_while_running(&mut client, &mut child, STEP).await;
    let got = std::fs::read(&out).unwrap_or_default();
    assert_eq!(lossy(&got), "host text 😀", "PRIMARY\n{}", wr.log_tail(20));
    // Selecting text in a Linux app (PRIMARY) is a copy for the host.
    let lists = clip(&mut client).server_lists.len();
    let _primary = wl_copy_primary(&wr, "selected text");
    wait_offer(&wr, &mut client, lists, 13).await;
    assert_eq!(from_utf16(&client_paste(&wr, &mut client, 13).await.expect("text")), "selected text");
}

/// A 3x2 top-down 32-bit CF_DIBV5 with an alpha mask, written by hand as Windows apps do.
fn dibv5_3x2() -> (Vec<u8>, Vec<[u8; 4]>) {
    // RGBA, top row first.
    let pixels = vec![
        [255, 0, 0, 255],
        [0, 255, 0, 128],
        [0, 0, 255, 255],
        [10, 20, 30, 255],
        [200, 100, 50, 64],
        [1, 2, 3, 255],
    ];
    let mut d = Vec::new();
    d.extend_from_slice(&124u32.to_le_bytes());
    d.extend_from_slice(&3i32.to_le_bytes());
    d.extend_from_slice(&(-2i32).to_le_bytes()); // top-down
    d.extend_from_slice(&1u16.to_le_bytes());
    d.extend_from_slice(&32u16.to_le_bytes());
    d.extend_from_slice(&3u32.to_le_bytes()); // BI_BITFIELDS
    d.extend_from_slice(&24u32.to_le_bytes());
    d.extend_from_slice(&[0; 16]);
    for mask in [0x00ff_0000u32, 0x0000_ff00, 0x0000_00ff, 0xff00_0000] {
        d.extend_from_slice(&mask.to_le_bytes());
    }
    d.extend_from_slice(&0x7352_4742u32.to_le_bytes());
    d.extend_from_slice(&[0; 64]);
    assert_eq!(d.len(), 124);
    for [r, g, b, a] in &pixels {
        d.extend_from_slice(&[*b, *g, *r, *a]);
    }
    (d, pixels)
}

#[tokio::test(flavor = "current_thread")]
async fn rtf_and_a_dibv5_through_the_test_client() {
    require_programs!("wl-copy", "wl-paste", "timeout");
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let mut client = connect_clipboard(&wr).await;

    // Host → Linux: RTF (the terminating NUL dropped) and a bitmap with alpha as PNG.
    let rtf = r"{\rtf1\ansi {\b fett} \u252?}";
    let mut rtf_nul = rtf.as_bytes().to_vec();
    rtf_nul.push(0);
    let (dib, pixels) = dibv5_3x2();
    client_copy(&wr, &mut client, vec![(0xC0F1, Some("Rich Text Format"), rtf_nul), (17, None, dib)]).await;
    let (got, _) = paste_in_linux(&wr, &mut client, "text/rtf", STEP).await;
    assert_eq!(lossy(&got), rtf);
    let (png, _) = paste_in_linux(&wr, &mut client, "image/png", STEP).await;
    let path = write_file(&wr, "dibv5.png", &png);
    let image = Image::load(&path).unwrap_or_else(|e| panic!("{e:#}\n{}", wr.log_tail(20)));
    assert_eq!((image.width, image.height), (3, 2));
    for (i, expected) in pixels.iter().enumerate() {
        assert_eq!(image.pixel(i as u32 % 3, i as u32 / 3), *expected, "pixel {i}");
    }

    // Linux → host: RTF under its registered name.
    let lists = clip(&mut client).server_lists.len();
    let _copy = wl_copy(&wr, "text/rtf", &write_file(&wr, "linux.rtf", rtf.as_bytes()));
    until_clipboard(&wr, &mut client, STEP, "a format list from wayrail", |c| c.server_lists.len() > lists).await;
    let formats = clip(&mut client).server_formats().unwrap_or_default().to_vec();
    let rtf_id = formats
        .iter()
        .find(|(_, name)| name.as_deref() == Some("Rich Text Format"))
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no Rich Text Format in {formats:?}"));
    let data = client_paste(&wr, &mut client, rtf_id).await.expect("RTF");
    assert_eq!(data, [rtf.as_bytes(), &[0]].concat());
}

fn wl_paste_types(wr: &Compositor) -> String {
    let mut cmd = wr.command("timeout");
    cmd.args(["5", "wl-paste", "--list-types"]);
    lossy(&output(cmd))
}

/// A host X app that offers only `image/png` (a screenshot tool): FreeRDP 2.11 lists it as one
/// registered format without a name, so nothing of it can reach Linux (see the README; FreeRDP
/// 3.10 may not even send a list for it, which no server can act on). What Linux must not do
/// is keep offering the host's previous copy, whose data the host no longer has: a paste of it
/// would fail.
#[test]
fn a_host_copy_linux_cannot_take_withdraws_the_previous_one() {
    require_programs!("Xvfb", "xfreerdp", "xclip", "wl-paste", "timeout", "convert");
    let version = FreeRdpVersion::V2;
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let _rdp = FreeRdp::connect(&wr, &x, version, (1280, 800), &["+clipboard"]);
    let _text = host_copy(&wr, &x, "UTF8_STRING", &write_file(&wr, "host.txt", b"from the host"));
    let ok = wait_until(STEP, || wl_paste(&wr, "text/plain;charset=utf-8", 10) == b"from the host");
    assert!(ok, "{version:?}: no host text in Linux: {:?}\n{}", wl_paste_types(&wr), wr.log_tail(20));
    let png = wr.path("red.png");
    assert!(Command::new("convert").args(["-size", "20x10", "xc:red"]).arg(&png).status().is_ok_and(|s| s.success()));
    let _image = host_copy(&wr, &x, "image/png", &png);
    let withdrawn = wait_until(STEP, || wl_paste_types(&wr).trim().is_empty());
    assert!(withdrawn, "{version:?}: Linux still offers {:?}\n{}", wl_paste_types(&wr), wr.log_tail(20));
}
