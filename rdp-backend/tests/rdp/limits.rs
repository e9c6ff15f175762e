//! Limits on what a client controls: monitor coordinates before the login, the connections
//! still in the connection sequence, the size of a message reassembled on a channel, and what
//! may wait for a client that reads too slowly. Going over one ends that connection with a
//! logged reason; the server serves the next client.

use std::borrow::Cow;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::time::Instant;
use wayrail_rdp::{HostEvent, HostRect, Limits, RailCommand, RailEvent, RemoteKind, RemoteWindow, SessionId, Show};
use wayrail_rdp_testclient::ironrdp_core::encode_vec;
use wayrail_rdp_testclient::ironrdp_pdu::gcc::{
    ClientCoreData, ClientGccBlocks, ClientMonitorData, ClientSecurityData, ColorDepth, KeyboardType, Monitor,
    MonitorFlags, RdpVersion, SecureAccessSequence,
};
use wayrail_rdp_testclient::ironrdp_pdu::mcs::ConnectInitial;
use wayrail_rdp_testclient::ironrdp_pdu::rdp::vc::{ChannelControlFlags, ChannelPduHeader};
use wayrail_rdp_testclient::ironrdp_pdu::x224::{X224Data, X224};
use wayrail_rdp_testclient::{raw, ClientBuilder, ClientOptions, MonitorSpec, RailClient, RawConnection, TestClient};

use crate::common::{assert_no_server_panics, expect_log, server_still_serves, TestServer, STEP};

/// A TS_MONITOR_DEF's edges: left, top, right, bottom (inclusive).
type Edges = (i32, i32, i32, i32);

/// An MCS Connect Initial whose Client Monitor Data lists `monitors` (inclusive edges), as
/// the first PDU after TLS. Built by hand: the test client computes the desktop size from
/// its monitors in i32 and cannot describe these.
fn connect_initial(monitors: &[Edges]) -> Vec<u8> {
    let monitors = monitors
        .iter()
        .enumerate()
        .map(|(i, &(left, top, right, bottom))| Monitor {
            left,
            top,
            right,
            bottom,
            flags: if i == 0 { MonitorFlags::PRIMARY } else { MonitorFlags::empty() },
        })
        .collect();
    let blocks = ClientGccBlocks {
        core: ClientCoreData {
            version: RdpVersion::V5_PLUS,
            desktop_width: 1920,
            desktop_height: 1080,
            color_depth: ColorDepth::Bpp8,
            sec_access_sequence: SecureAccessSequence::Del,
            keyboard_layout: 0x409,
            client_build: 0,
            client_name: "hostile".into(),
            keyboard_type: KeyboardType::IBM_ENHANCED,
            keyboard_subtype: 0,
            keyboard_functional_keys_count: 12,
            ime_file_name: String::new(),
            optional_data: Default::default(),
        },
        security: ClientSecurityData::no_security(),
        network: None,
        cluster: None,
        monitor: Some(ClientMonitorData { monitors }),
        message_channel: None,
        multi_transport_channel: None,
        monitor_extended: None,
    };
    let initial = encode_vec(&ConnectInitial::with_gcc_blocks(blocks).expect("GCC blocks")).expect("Connect Initial");
    encode_vec(&X224(X224Data { data: Cow::Owned(initial) })).expect("X.224 data")
}

#[tokio::test(flavor = "current_thread")]
async fn monitors_far_out_close_that_connection_and_no_other() -> Result<()> {
    let (mut server, addr) = TestServer::tcp_at()?;
    // 1920x1080 at 0,0 and 200x200 at x = i32::MIN: summed in i32, the bounding width wraps to 0.
    let cases: [(&str, &[Edges], &str); 3] = [
        ("a monitor at i32::MIN", &[(0, 0, 1919, 1079), (i32::MIN, 0, i32::MIN + 199, 199)], "-2147483648,0"),
        ("a monitor at i32::MAX", &[(0, 0, 1919, 1079), (0, i32::MAX, 199, i32::MIN)], "0,2147483647"),
        ("a corner just past the range", &[(-32769, 0, -32769 + 199, 199)], "-32769,0"),
    ];
    for (what, monitors, at) in cases {
        let mut conn = RawConnection::open_tls(&addr, &ClientOptions::default()).await?;
        conn.send(&connect_initial(monitors)).await.context(what)?;
        conn.wait_closed(STEP).await.with_context(|| format!("{what}: the server kept the connection"))?;
        let line = expect_log(&["monitors are refused", at], STEP).await.context(what)?;
        println!("{what}: {line}");
        let events = server.host.collect(&mut [], Duration::from_millis(50)).await?;
        assert!(events.is_empty(), "{what}: a connection that never connected reached the host: {events:?}");
        assert!(server.handle.is_running(), "{what}: the server thread ended");
        assert_no_server_panics();
        server_still_serves(&mut server).await.context(what)?;
    }
    // Monitors at the edge of the range are a layout like any other.
    let monitors = vec![
        MonitorSpec::new(-32768, -32768, 800, 600, 100).primary(),
        MonitorSpec::new(-32768 + 800, -32768, 800, 600, 100),
    ];
    let opts = ClientOptions { size: (1600, 600), monitors, ..Default::default() };
    let mut client = TestClient::connect(&addr, opts).await?;
    let event = server.host.expect(&mut [&mut client], |e| matches!(e, HostEvent::Connected { .. })).await?;
    let HostEvent::Connected { monitors, .. } = event else { unreachable!() };
    let corners: Vec<_> = monitors.iter().map(|m| (m.x, m.y)).collect();
    assert_eq!(corners, [(-32768, -32768), (-31968, -32768)]);
    client.disconnect().await?;
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn silent_connections_beyond_the_cap_are_closed_and_a_real_client_gets_in() -> Result<()> {
    const SILENT: usize = 40;
    let limits = wayrail_rdp::Limits::default();
    assert_eq!(limits.max_pending, 16);
    let (mut server, addr) = TestServer::tcp_at()?;
    let start = Instant::now();
    let mut closed = tokio::task::JoinSet::new();
    for i in 0..SILENT {
        let mut conn = RawConnection::open(&addr).await.with_context(|| format!("silent connection {i}"))?;
        closed.spawn(async move {
            // Held open from this side, sending nothing; the time the server closes it.
            conn.wait_closed(Duration::from_secs(15)).await.map(|_| start.elapsed())
        });
    }
    // Meanwhile a real client is refused too: every place is taken.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let early = TestClient::connect(&addr, ClientOptions::default()).await;
    assert!(early.is_err(), "a client got in while {} silent connections were connecting", limits.max_pending);
    expect_log(&["connection refused", "in the connection sequence already"], STEP).await?;

    let mut times = Vec::new();
    while let Some(time) = closed.join_next().await {
        times.push(time??);
    }
    times.sort();
    // The ones let in are closed when their first byte is late, the others long before.
    let quick = times.iter().filter(|t| **t < limits.first_byte_timeout - Duration::from_secs(1)).count();
    assert_eq!(quick, SILENT - limits.max_pending, "closed at once: {times:?}");
    assert!(
        times[quick..].iter().all(|t| *t >= limits.first_byte_timeout),
        "the connections let in wait for their first byte: {times:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(12), "{times:?}");
    assert!(server.handle.is_running());
    assert_no_server_panics();
    // The places are free again: a real client gets the whole service.
    server_still_serves(&mut server).await
}

/// A static channel chunk that starts a message of `declared` bytes and carries `data`.
fn first_chunk(declared: u32, data: &[u8]) -> Vec<u8> {
    let header = ChannelPduHeader { length: declared, flags: ChannelControlFlags::FLAG_FIRST };
    let mut out = encode_vec(&header).expect("channel header");
    out.extend_from_slice(data);
    out
}

const CAP: u32 = 16 * 1024 * 1024;

/// Sends `bytes(client)` from a connected client and checks its session alone ends, with a
/// reason that says every word of `reason`; then a normal client is served.
async fn ends_the_session(
    server: &mut TestServer,
    what: &str,
    mut client: TestClient,
    session: SessionId,
    bytes: Vec<u8>,
    reason: &[&str],
) -> Result<()> {
    client.send_raw(&bytes).await.context(what.to_owned())?;
    let event = server
        .host
        .expect(&mut [&mut client], |e| matches!(e, HostEvent::Disconnected { .. }))
        .await
        .with_context(|| format!("{what}: the session did not end"))?;
    let HostEvent::Disconnected { session: ended, reason: said } = event else { unreachable!() };
    assert_eq!(ended, session, "{what}");
    println!("{what}: Disconnected: {said}");
    for word in reason {
        assert!(said.contains(word), "{what}: the reason {said:?} does not say {word:?}");
    }
    client.wait_closed(STEP).await.context(what.to_owned())?;
    assert!(server.handle.is_running(), "{what}: the server thread ended");
    assert_no_server_panics();
    server_still_serves(server).await.context(what.to_owned())
}

#[tokio::test(flavor = "current_thread")]
async fn a_message_declared_over_the_reassembly_cap_ends_only_its_session() -> Result<()> {
    let (mut server, addr) = TestServer::tcp_at()?;

    // The rail channel: a chunk sequence declared one byte over the cap.
    let opts = ClientOptions { remote_app: true, ..Default::default() };
    let mut client = ClientBuilder::new(opts).with_static_channel(RailClient::new(None)).connect(&addr).await?;
    let event = server.host.expect(&mut [&mut client], |e| matches!(e, HostEvent::Connected { .. })).await?;
    let HostEvent::Connected { session, .. } = event else { unreachable!() };
    let rail = client.static_channel_id("rail").expect("rail joined");
    let bytes = raw::mcs_send_data(client.user_channel_id(), rail, &first_chunk(CAP + 1, &[0; 64]));
    ends_the_session(&mut server, "rail over the cap", client, session, bytes, &["rail", "cap"]).await?;
    expect_log(&["channel rail", "16777217 bytes declared"], STEP).await?;

    // drdynvc, at the static channel level: 4 GiB declared.
    let (mut client, session) = server.connect(&addr, ClientOptions::default()).await?;
    server.wait_graphics_ready(&mut client).await?;
    let drdynvc = client.static_channel_id("drdynvc").expect("drdynvc joined");
    let bytes = raw::mcs_send_data(client.user_channel_id(), drdynvc, &first_chunk(u32::MAX, &[0; 64]));
    ends_the_session(&mut server, "drdynvc chunks over the cap", client, session, bytes, &["drdynvc", "cap"]).await?;

    // drdynvc, at the dynamic channel level: a DataFirst on the graphics channel declaring
    // 4 GiB, in a static channel PDU of its own.
    let (mut client, session) = server.connect(&addr, ClientOptions::default()).await?;
    server.wait_graphics_ready(&mut client).await?;
    let drdynvc = client.static_channel_id("drdynvc").expect("drdynvc joined");
    let gfx = client.gfx_channel_id().expect("graphics channel open");
    let pdu = raw::svc_chunk(&raw::dvc_data_first(gfx, u32::MAX, &[0; 64]));
    let bytes = raw::mcs_send_data(client.user_channel_id(), drdynvc, &pdu);
    ends_the_session(&mut server, "a DataFirst over the cap", client, session, bytes, &["drdynvc", "reassembly cap"])
        .await?;
    expect_log(&["channel drdynvc", "declared over the reassembly cap", "declared=4294967295"], STEP).await?;

    // Just under the cap is no reason to end anything: the declared message is simply not
    // complete yet, and the session goes on.
    let (mut client, session) = server.connect(&addr, ClientOptions::default()).await?;
    server.wait_graphics_ready(&mut client).await?;
    let drdynvc = client.static_channel_id("drdynvc").expect("drdynvc joined");
    let gfx = client.gfx_channel_id().expect("graphics channel open");
    let pdu = raw::svc_chunk(&raw::dvc_data_first(gfx, CAP, &[0; 64]));
    client.send_raw(&raw::mcs_send_data(client.user_channel_id(), drdynvc, &pdu)).await?;
    let events = server.host.collect(&mut [&mut client], Duration::from_millis(300)).await?;
    assert!(
        !events.iter().any(|e| matches!(e, HostEvent::Disconnected { .. })),
        "a message at the cap ended the session: {events:?}"
    );
    server.end(client, session).await?;
    Ok(())
}

/// Connects a RemoteApp client, then (never pumping it again) announces 200 windows with
/// two 96 px icons each, about 15 MB of RAIL orders: far more than a loopback socket holds.
/// Returns the client, its session and when the announcing began.
async fn stall_a_client(server: &mut TestServer) -> Result<(TestClient, SessionId, Instant)> {
    let opts = ClientOptions { size: (1024, 768), remote_app: true, ..Default::default() };
    let mut client =
        ClientBuilder::new(opts).with_static_channel(RailClient::new(None)).connect(&server.addr()).await?;
    let event = server.host.expect(&mut [&mut client], |e| matches!(e, HostEvent::Connected { .. })).await?;
    let HostEvent::Connected { session, .. } = event else { unreachable!() };
    server.host.expect(&mut [&mut client], |e| matches!(e, HostEvent::Rail(RailEvent::Ready { .. }))).await?;
    let started = Instant::now();
    for id in 1..=200u32 {
        let rect = HostRect::new(id as i32, id as i32, 300, 200);
        let window = RemoteWindow {
            id,
            owner: 0,
            kind: RemoteKind::Toplevel,
            title: format!("w{id}"),
            app_id: "org.example.test".into(),
            window: rect,
            client: rect,
            show: Show::Normal,
            surface: None,
        };
        server.handle.send_rail(RailCommand::Upsert(window));
        for big in [true, false] {
            let bgra = vec![id as u8; 96 * 96 * 4];
            server.handle.send_rail(RailCommand::Icon { window: id, big, size: 96, bgra });
        }
    }
    Ok((client, session, started))
}

/// The host hears that `session` ended; returns the reason.
async fn ended(server: &mut TestServer, session: SessionId) -> Result<String> {
    let (event, _) = server
        .host
        .expect_with(&mut [], STEP, |e| matches!(e, HostEvent::Disconnected { session: s, .. } if *s == session))
        .await?;
    let HostEvent::Disconnected { reason, .. } = event else { unreachable!() };
    Ok(reason)
}

/// A client that reads nothing is dropped after the write timeout (1 s here), with the
/// reason logged and told to the host; the next client is served.
#[tokio::test(flavor = "current_thread")]
async fn a_client_that_reads_nothing_is_dropped_after_the_write_timeout() -> Result<()> {
    let limits = Limits { write_timeout: Duration::from_secs(1), ..Limits::default() };
    let mut server = TestServer::start_limits(&["tcp:127.0.0.1:0"], None, limits)?;
    let (client, session, started) = stall_a_client(&mut server).await?;
    let reason = ended(&mut server, session).await?;
    assert!(reason.starts_with("the client read nothing for 1s"), "{reason}");
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(4), "dropped after {took:?}");
    expect_log(&["dropping the client", "read nothing for 1s", &format!("session={session}")], STEP).await?;
    server_still_serves(&mut server).await?;
    drop(client);
    assert_no_server_panics();
    Ok(())
}

/// A client that reads nothing while about 15 MB of window orders are announced: long
/// before its (default, 30 s) write timeout, the commands waiting for it reach their limit
/// (4 MB here) and its session ends with the reason logged; the next client is served.
#[tokio::test(flavor = "current_thread")]
async fn commands_piling_up_for_a_client_that_reads_nothing_end_its_session() -> Result<()> {
    let limits = Limits { max_queued_bytes: 4 << 20, ..Limits::default() };
    let mut server = TestServer::start_limits(&["tcp:127.0.0.1:0"], None, limits)?;
    let (client, session, started) = stall_a_client(&mut server).await?;
    let line = expect_log(&["ending the session", "reads too slowly", &format!("session={session}")], STEP).await?;
    assert!(line.starts_with("WARN"), "{line}");
    let reason = ended(&mut server, session).await?;
    assert!(reason.contains("reads too slowly"), "{reason}");
    assert!(started.elapsed() < Limits::default().write_timeout / 2, "ended only after {:?}", started.elapsed());
    server_still_serves(&mut server).await?;
    drop(client);
    assert_no_server_panics();
    Ok(())
}
