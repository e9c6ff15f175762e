//! The RDP listeners at the process level: garbage and half-finished handshakes on the TCP port
//! neither stop the server nor disturb a real client (before or during its session), and a Unix
//! socket listener next to the TCP one answers the X.224 negotiation and disappears with wayrail.
//! (PDU-level robustness is covered by the tests in rdp-backend/tests.)

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use wayrail_e2e::rdp::{
    read_connection_confirm, wait_client_shows_output, x224_connection_request, ConnectionConfirm, FreeRdp,
    FreeRdpVersion, Xvfb, PROTOCOL_SSL,
};
use wayrail_e2e::{exited_normally, require_programs, Compositor, Rect};

/// How long the server may take to drop a connection that sent nonsense.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

fn tcp(wr: &Compositor) -> TcpStream {
    let port = wr.rdp_port().expect("an RDP compositor");
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connecting to port {port}: {e}"));
    stream.set_read_timeout(Some(CLOSE_TIMEOUT)).unwrap();
    stream
}

/// Reads until the server closes the connection (EOF or reset); fails the test if it is still
/// open after [`CLOSE_TIMEOUT`]. Gives what the server sent before closing.
fn assert_closed_by_server(stream: &mut impl Read, what: &str) -> Vec<u8> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => return got,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: the server kept the connection open for {:?} (it sent {got:02x?})", started.elapsed())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("{what}: reading: {e}"),
        }
    }
}

/// A Connection Request for TLS and its confirm, on a fresh connection.
fn negotiate_tls(stream: &mut (impl Read + Write), what: &str) {
    stream.write_all(&x224_connection_request(PROTOCOL_SSL)).unwrap_or_else(|e| panic!("{what}: sending: {e}"));
    let confirm = read_connection_confirm(stream).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    assert!(matches!(confirm, ConnectionConfirm::Selected { protocol: PROTOCOL_SSL, .. }), "{what}: {confirm:?}");
}

/// Connections that must not hurt: each is dropped by the server. Returns connections left
/// hanging half-way (open, never finishing), which the caller keeps open for a while.
fn bad_connections(wr: &Compositor) -> Vec<TcpStream> {
    // Not RDP at all: an HTTP request and binary noise.
    let mut s = tcp(wr);
    let mut noise = b"GET / HTTP/1.1\r\nHost: wayrail\r\n\r\n".to_vec();
    noise.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let _ = s.write_all(&noise); // the server may reset before it read everything
    assert_closed_by_server(&mut s, "HTTP and noise");

    // A TPKT header whose X.224 part is nonsense.
    let mut s = tcp(wr);
    let mut tpkt = vec![3, 0, 0, 40];
    tpkt.extend([0xff; 36]);
    let _ = s.write_all(&tpkt);
    assert_closed_by_server(&mut s, "TPKT with a bad X.224 header");

    // A Connection Request cut in half, then the client goes away.
    let mut s = tcp(wr);
    let request = x224_connection_request(PROTOCOL_SSL);
    s.write_all(&request[..request.len() / 2]).unwrap();
    drop(s);

    // The TLS-less half handshake: TLS negotiated, then plain bytes where the ClientHello goes.
    let mut s = tcp(wr);
    negotiate_tls(&mut s, "half handshake");
    let _ = s.write_all(&x224_connection_request(PROTOCOL_SSL));
    let answer = assert_closed_by_server(&mut s, "plain bytes after TLS was negotiated");
    // Whatever the server answered is a TLS record (an alert), not RDP.
    assert!(answer.is_empty() || answer[0] == 0x15, "answered plain bytes with {answer:02x?}");

    // Left hanging: one that sent nothing, one stopped after the negotiation, one stopped in
    // the middle of a ClientHello.
    let idle = tcp(wr);
    let mut negotiated = tcp(wr);
    negotiate_tls(&mut negotiated, "stalled after the negotiation");
    let mut mid_hello = tcp(wr);
    negotiate_tls(&mut mid_hello, "stalled in the ClientHello");
    mid_hello.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]).unwrap();
    vec![idle, negotiated, mid_hello]
}

#[test]
fn garbage_and_half_handshakes_do_not_stop_a_real_client() {
    require_programs!("Xvfb", "xdotool", "import", "xfreerdp3");
    let mut wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    // Something still on the desktop to compare.
    let events = wr.path("probe-events.txt");
    let (_probe, window) =
        wr.spawn_mapped(env!("CARGO_BIN_EXE_wr-input-probe"), &[events.to_str().unwrap(), "320x240"]);
    let id = window["id"].as_u64().unwrap();

    // Before any real client, with three handshakes left hanging while it connects.
    let hanging = bad_connections(&wr);
    assert!(wr.is_running(), "wayrail died of bad connections:\n{}", wr.log_tail(30));
    let mut rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1280, 800), &[]);
    let rect = Rect::of(&wr.window(id).expect("the probe's window"));
    wait_client_shows_output(&wr, &x, &rdp, rect, Duration::from_secs(15), "after-garbage")
        .unwrap_or_else(|e| panic!("after bad connections: {e}"));
    drop(hanging);

    // During its session: more of the same must neither replace nor disturb it.
    let hanging = bad_connections(&wr);
    wr.window_op(id, &["move", "500", "300"]);
    let moved = wr.wait_for_window(Duration::from_secs(5), "moved", |w| w["id"].as_u64() == Some(id) && w["x"] == 500);
    let moved = Rect::of(&moved);
    let desktop = Rect { x: 0, y: 0, width: 1280, height: 800 };
    wait_client_shows_output(&wr, &x, &rdp, desktop, Duration::from_secs(15), "during-garbage")
        .unwrap_or_else(|e| panic!("bad connections during a session: {e}"));
    let shot = wr.screenshot_output(&wr.path("moved.png"));
    assert!(shot.distinct_colors(moved, 4) == 1, "the probe is not where it moved to");
    drop(hanging);
    assert!(!rdp.client.has_exited(), "xfreerdp3 was disconnected:\n{}", rdp.client.log_tail(20));
    let log = wr.log_text();
    assert_eq!(log.matches("RDP client connected").count(), 1, "a bad connection became a session:\n{log}");
    assert!(!log.contains("RDP client gone"), "the real session ended:\n{}", wr.log_tail(30));
    assert!(wr.is_running());
}

/// A fresh directory for an RDP Unix socket, the socket's path, and the `--listen` address.
fn unix_listen_address() -> (wayrail_e2e::TempDir, std::path::PathBuf, String) {
    let dir = wayrail_e2e::TempDir::new("wayrail-e2e-unix");
    let path = dir.path().join("rdp.sock");
    let listen = format!("unix:{}", path.display());
    (dir, path, listen)
}

fn read_confirm_unix(path: &Path) -> ConnectionConfirm {
    let mut s = UnixStream::connect(path).unwrap_or_else(|e| panic!("connecting to {}: {e}", path.display()));
    s.set_read_timeout(Some(CLOSE_TIMEOUT)).unwrap();
    s.write_all(&x224_connection_request(PROTOCOL_SSL)).unwrap();
    read_connection_confirm(&mut s).unwrap_or_else(|e| panic!("the Unix listener: {e:#}"))
}

#[test]
fn a_unix_socket_listener_negotiates_and_goes_away_with_wayrail() {
    let (_dir, path, listen) = unix_listen_address();
    let mut wr = Compositor::start_rdp(&["--listen", &listen]);
    assert!(wr.rdp_listening.contains(&listen), "wayrail listens on {:?}, not {listen}", wr.rdp_listening);
    let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(meta.file_type().is_socket(), "{} is not a socket", path.display());

    // A valid Connection Request for TLS gets a Connection Confirm selecting TLS, on the Unix
    // socket and, at the same time, on TCP.
    for round in 0..2 {
        let confirm = read_confirm_unix(&path);
        assert!(
            matches!(confirm, ConnectionConfirm::Selected { protocol: PROTOCOL_SSL, .. }),
            "round {round}: {confirm:?}"
        );
    }
    let mut t = tcp(&wr);
    negotiate_tls(&mut t, "TCP next to the Unix socket");
    drop(t);

    // SIGTERM: wayrail exits cleanly and takes its sockets with it.
    let wayland_socket = wr.runtime_dir().join(&wr.socket);
    assert!(wayland_socket.exists());
    wr.signal(libc::SIGTERM);
    let status = wr.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| panic!("wayrail ignored SIGTERM"));
    assert!(exited_normally(status) && status.success(), "wayrail ended with {status}:\n{}", wr.log_tail(20));
    assert!(!path.exists(), "{} is still there after wayrail exited", path.display());
    assert!(!wayland_socket.exists(), "the Wayland socket is still there after wayrail exited");
    assert!(UnixStream::connect(&path).is_err());
}

/// A second wayrail on the same Unix path replaces a stale socket file left by one that was
/// killed (no clean exit), and answers on it.
#[test]
fn a_stale_unix_socket_file_is_taken_over() {
    let (_dir, path, listen) = unix_listen_address();
    let mut first = Compositor::start_rdp(&["--listen", &listen]);
    first.signal(libc::SIGKILL);
    first.wait_exit(Duration::from_secs(5)).expect("wayrail survived SIGKILL");
    assert!(path.exists(), "SIGKILL leaves the file behind (nothing can remove it)");
    let _second = Compositor::start_rdp(&["--listen", &listen]);
    let confirm = read_confirm_unix(&path);
    assert!(matches!(confirm, ConnectionConfirm::Selected { protocol: PROTOCOL_SSL, .. }), "{confirm:?}");
}
