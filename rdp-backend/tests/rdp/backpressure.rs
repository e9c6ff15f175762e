//! A client that stops reading: what the server writes to it piles up in its socket, then in
//! its session's queue; the server loop goes on serving everyone else (a second client
//! connects and takes over), the stalled session is dropped after the write timeout with its
//! reason logged, and memory stays bounded.

use std::time::Duration;

use anyhow::{Context as _, Result};
use wayrail_rdp::{Credentials, HostEvent, HostRect, Limits, RailCommand, RailEvent, RemoteKind, RemoteWindow, Show};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, RailClient, TestClient};

use crate::common::{assert_no_server_panics, expect_log, rgb, solid, TestServer, STEP};

const PASSWORD: &str = "correct horse";
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// Windows with two 96 px icons each: about 75 kB of RAIL orders a window, far more than a
/// loopback socket holds for a client that reads nothing.
const WINDOWS: u32 = 240;
const ICON: u16 = 96;
const SIZE: (u16, u16) = (1024, 768);

fn login(remote_app: bool) -> ClientOptions {
    ClientOptions { size: SIZE, username: "alice".into(), password: PASSWORD.into(), remote_app, ..Default::default() }
}

fn window(id: u32) -> RemoteWindow {
    let (x, y) = ((id % 50) as i32 * 10, (id / 50) as i32 * 10);
    RemoteWindow {
        id,
        owner: 0,
        kind: RemoteKind::Toplevel,
        title: format!("window {id}"),
        app_id: "org.example.test".into(),
        window: HostRect::new(x, y, 200, 100),
        client: HostRect::new(x, y, 200, 100),
        show: Show::Normal,
        surface: None,
    }
}

/// The resident set of this process (the server runs on a thread of it), in kB.
fn rss_kb() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS in /proc/self/status")?;
    line.split_whitespace().nth(1).context("VmRSS without a value")?.parse().context("VmRSS")
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_stops_reading_is_dropped_and_never_stalls_the_server() -> Result<()> {
    let credentials = Some(Credentials { username: None, password: PASSWORD.into() });
    let limits = Limits { write_timeout: WRITE_TIMEOUT, ..Limits::default() };
    let mut server = TestServer::start_limits(&["tcp:127.0.0.1:0"], credentials, limits)?;
    let addr = server.addr();

    // A RemoteApp client that finishes connecting and the RAIL handshake, then reads no more.
    let mut stalled = ClientBuilder::new(login(true)).with_static_channel(RailClient::new(None)).connect(&addr).await?;
    let event = server.host.expect(&mut [&mut stalled], |e| matches!(e, HostEvent::Connected { .. })).await?;
    let HostEvent::Connected { session: stalled_id, .. } = event else { unreachable!() };
    server
        .host
        .expect(&mut [&mut stalled], |e| matches!(e, HostEvent::Rail(RailEvent::Ready { .. })))
        .await
        .context("waiting for the RAIL handshake")?;
    let rss_before = rss_kb()?;

    // From here on `stalled` is never pumped: its socket fills, then its session's queue.
    let started = tokio::time::Instant::now();
    for id in 1..=WINDOWS {
        server.handle.send_rail(RailCommand::Upsert(window(id)));
        for big in [true, false] {
            let bgra = vec![(id % 251) as u8; usize::from(ICON) * usize::from(ICON) * 4];
            server.handle.send_rail(RailCommand::Icon { window: id, big, size: ICON, bgra });
        }
    }
    server.handle.send_rail(RailCommand::Stacking { top_first: (1..=WINDOWS).rev().collect(), active: Some(WINDOWS) });

    // Within the write timeout a second client of the same user connects, is served (its
    // frame reaches it) and takes over: the server loop never waited for the stalled one.
    let mut second = TestClient::connect(&addr, login(false)).await.context("the second client")?;
    let (event, mut seen) =
        server.host.expect_with(&mut [&mut second], STEP, |e| matches!(e, HostEvent::Connected { .. })).await?;
    let HostEvent::Connected { session: second_id, .. } = event else { unreachable!() };
    server.wait_graphics_ready(&mut second).await?;
    let color = [0x20, 0x40, 0xC0];
    server.frame_round_trip(&mut second, SIZE, vec![solid(10, 20, 30, 30, color)]).await?;
    assert_eq!(rgb(&second, 10, 20), color, "the second client is served");
    assert!(
        started.elapsed() < WRITE_TIMEOUT,
        "the second client took {:?}, longer than the write timeout",
        started.elapsed()
    );
    seen.extend(server.host.collect(&mut [&mut second], Duration::from_millis(100)).await?);
    let ended: Vec<_> = seen.iter().filter(|e| matches!(e, HostEvent::Disconnected { .. })).collect();
    assert_eq!(
        ended,
        [&HostEvent::Disconnected { session: stalled_id, reason: "replaced by a new connection".into() }],
        "the stalled session was replaced, not timed out first"
    );

    // The stalled session is dropped for not reading, with that reason in the log.
    let line = expect_log(&["dropping the client", "read nothing", &format!("session={stalled_id}")], STEP)
        .await
        .context("the stalled session's end")?;
    assert!(line.starts_with("WARN"), "{line}");
    assert!(started.elapsed() < WRITE_TIMEOUT * 3, "dropped after {:?}", started.elapsed());

    // The second session is still served, and the stalled one's end was not heard as its own.
    let events = server.host.collect(&mut [&mut second], Duration::from_millis(300)).await?;
    assert!(
        !events.iter().any(|e| matches!(e, HostEvent::Disconnected { session, .. } if *session == second_id)),
        "the second session ended: {events:?}"
    );
    let color = [0x50, 0x60, 0x70];
    server.frame_round_trip(&mut second, SIZE, vec![solid(0, 0, 8, 8, color)]).await?;
    assert_eq!(rgb(&second, 0, 0), color);

    let grown_mb = rss_kb()?.saturating_sub(rss_before) / 1024;
    eprintln!("RSS grew by {grown_mb} MB during the stall");
    assert!(grown_mb < 50, "the process grew by {grown_mb} MB while a client read nothing");
    drop(stalled);
    assert!(server.handle.is_running(), "the RDP server thread ended");
    assert_no_server_panics();
    Ok(())
}
