//! Malformed input at every stage of a connection ends that connection and nothing else: the
//! server thread lives on, nothing panics, and the next client is served as usual.

use std::time::Duration;

use anyhow::{Context as _, Result};
use wayrail_rdp::HostEvent;
use wayrail_rdp_testclient::raw::{self, RawConnection};
use wayrail_rdp_testclient::{ClientOptions, TestClient};

use crate::common::{assert_no_server_panics, server_still_serves, TestServer, STEP};

/// Bytes that follow no protocol (xorshift, so every run sends the same).
fn noise(len: usize, seed: u32) -> Vec<u8> {
    wayrail_rdp_testclient::fuzz::Rng(seed).bytes(len)
}

struct Case {
    what: &'static str,
    bytes: Vec<u8>,
    /// Close our sending side after the bytes (the PDU is cut short, the server sees EOF).
    then_eof: bool,
}

/// Sends each case on a fresh connection made by `open`, checks the server closes it without
/// telling the host anything, and that a normal client works after it.
async fn reject_each<F, Fut>(server: &mut TestServer, cases: Vec<Case>, open: F) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<RawConnection>>,
{
    for case in cases {
        let mut conn = open(server.addr()).await?;
        conn.send(&case.bytes).await.with_context(|| case.what)?;
        if case.then_eof {
            conn.shutdown_write().await?;
        }
        conn.wait_closed(STEP)
            .await
            .with_context(|| format!("{}: the server did not close the connection", case.what))?;
        let events = server.host.collect(&mut [], Duration::from_millis(50)).await?;
        assert!(events.is_empty(), "{}: a connection that never connected reached the host: {events:?}", case.what);
        assert!(server.handle.is_running(), "{}: the server thread ended", case.what);
        assert_no_server_panics();
        server_still_serves(server).await.with_context(|| case.what)?;
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_before_tls() -> Result<()> {
    let mut server = TestServer::tcp()?;
    let request = raw::x224_connection_request("test");
    let mut truncated = request[..request.len() - 8].to_vec();
    let len = truncated.len() as u16;
    raw::set_tpkt_length(&mut truncated, len);
    let mut oversized_garbage = vec![3, 0, 0xFF, 0xFF];
    oversized_garbage.extend(noise(0xFFFF - 4, 7));
    let mut not_tls = request.clone();
    not_tls.extend(noise(300, 17));
    let mut oversized_cut = request.clone();
    raw::set_tpkt_length(&mut oversized_cut, 0xFFFF);
    let cases = vec![
        Case { what: "an HTTP request", bytes: b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(), then_eof: false },
        Case { what: "noise", bytes: noise(512, 1), then_eof: false },
        // The acceptor drops whole PDUs of the wrong kind while it waits for the request, so
        // this one ends with EOF (or the handshake timeout).
        Case {
            what: "a fast-path PDU instead of a connection request",
            bytes: vec![0x04, 0x06, 0, 0, 0, 0],
            then_eof: true,
        },
        Case { what: "a fast-path length shorter than its header", bytes: vec![0x04, 0x01, 0, 0], then_eof: false },
        Case { what: "a truncated X.224 connection request", bytes: truncated, then_eof: false },
        Case { what: "a connection request cut off mid-PDU", bytes: request[..12].to_vec(), then_eof: true },
        Case {
            what: "a TPKT length shorter than the TPKT header",
            bytes: vec![3, 0, 0, 2, 0, 0, 0, 0],
            then_eof: false,
        },
        Case { what: "an oversized TPKT length, then EOF", bytes: oversized_cut, then_eof: true },
        Case { what: "an oversized TPKT full of garbage", bytes: oversized_garbage, then_eof: false },
        Case {
            what: "a connection request, then garbage instead of a TLS ClientHello",
            bytes: not_tls,
            then_eof: false,
        },
    ];
    reject_each(&mut server, cases, |addr| async move { RawConnection::open(&addr).await }).await
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_instead_of_mcs_connect_initial() -> Result<()> {
    let mut server = TestServer::tcp()?;
    let cases = vec![
        Case { what: "noise after TLS", bytes: noise(300, 3), then_eof: false },
        Case { what: "a TPKT of noise after TLS", bytes: raw::tpkt(&noise(200, 5)), then_eof: false },
        Case {
            what: "an X.224 data TPDU with a broken BER body",
            bytes: raw::tpkt(&[2, 0xF0, 0x80, 0x7F, 0x65, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            then_eof: false,
        },
        Case {
            what: "a second connection request after TLS",
            bytes: raw::x224_connection_request("test"),
            then_eof: false,
        },
        Case { what: "an MCS PDU cut off, then EOF", bytes: raw::tpkt(&noise(200, 9))[..50].to_vec(), then_eof: true },
    ];
    reject_each(
        &mut server,
        cases,
        |addr| async move { RawConnection::open_tls(&addr, &ClientOptions::default()).await },
    )
    .await
}

/// A PDU the active session must refuse: bytes made from the connected client's channel ids,
/// and words the Disconnected reason must contain.
struct ActiveCase {
    what: &'static str,
    bytes: fn(&TestClient) -> Vec<u8>,
    reason: &'static [&'static str],
}

async fn reject_when_active(cases: Vec<ActiveCase>) -> Result<()> {
    let (mut server, addr) = TestServer::tcp_at()?;
    for case in cases {
        let (mut client, session) = server.connect(&addr, ClientOptions::default()).await?;
        // Let the dynamic channels and the graphics pipeline come up first.
        server.wait_graphics_ready(&mut client).await?;
        let bytes = (case.bytes)(&client);
        client.send_raw(&bytes).await.with_context(|| case.what)?;
        let event = server
            .host
            .expect(&mut [&mut client], |e| matches!(e, HostEvent::Disconnected { .. }))
            .await
            .with_context(|| format!("{}: the session did not end", case.what))?;
        let HostEvent::Disconnected { session: ended, reason } = event else { unreachable!() };
        assert_eq!(ended, session, "{}", case.what);
        println!("{}: Disconnected: {reason}", case.what);
        for word in case.reason {
            assert!(reason.contains(word), "{}: the reason {reason:?} does not say {word:?}", case.what);
        }
        client.wait_closed(STEP).await.with_context(|| case.what)?;
        assert!(server.handle.is_running(), "{}: the server thread ended", case.what);
        assert_no_server_panics();
        server_still_serves(&mut server).await.with_context(|| case.what)?;
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_fast_path_ends_the_session() -> Result<()> {
    reject_when_active(vec![
        ActiveCase {
            // One event whose code (7) does not exist.
            what: "a fast-path event with an unknown code",
            bytes: |_| vec![0x04, 0x05, 0xE0, 0xFF, 0xFF],
            reason: &["malformed fast-path input"],
        },
        ActiveCase {
            // 255 events announced in a 4-byte PDU.
            what: "a fast-path PDU with more events than bytes",
            bytes: |_| vec![0x00, 0x04, 0xFF, 0x00],
            reason: &["malformed fast-path input"],
        },
        ActiveCase {
            // The largest length a fast-path PDU can state (0x7FFF), all of it noise after one
            // announced event.
            what: "a maximum-size fast-path PDU of noise",
            bytes: |_| {
                let mut pdu = vec![0x04, 0xFF, 0xFF];
                pdu.extend(noise(0x7FFF - 3, 19));
                pdu[3] = 0xE0; // event code 7: no such event
                pdu
            },
            reason: &["malformed fast-path input"],
        },
        ActiveCase {
            what: "a fast-path length shorter than its header",
            bytes: |_| vec![0x04, 0x01, 0x00, 0x00, 0x00],
            reason: &["fastPathLength"],
        },
    ])
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_slow_path_ends_the_session() -> Result<()> {
    reject_when_active(vec![
        ActiveCase {
            // The MCS user data says 100 bytes, the packet (with a matching TPKT length) ends after 60.
            what: "a slow-path PDU truncated inside MCS",
            bytes: |c| {
                let mut pdu = raw::mcs_send_data(c.user_channel_id(), c.io_channel_id(), &[0u8; 100]);
                pdu.truncate(pdu.len() - 40);
                let len = pdu.len() as u16;
                raw::set_tpkt_length(&mut pdu, len);
                pdu
            },
            reason: &["malformed X.224/MCS PDU"],
        },
        ActiveCase {
            what: "a share control header cut short",
            bytes: |c| raw::mcs_send_data(c.user_channel_id(), c.io_channel_id(), &[0x10, 0x00, 0x17]),
            reason: &["malformed share control PDU"],
        },
        ActiveCase {
            what: "a TPKT length below the minimum",
            bytes: |_| vec![3, 0, 0, 5, 0, 0, 0, 0],
            reason: &["packetLength"],
        },
    ])
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_on_a_static_channel_ends_the_session() -> Result<()> {
    reject_when_active(vec![
        ActiveCase {
            what: "noise in a drdynvc chunk",
            bytes: |c| {
                let id = c.static_channel_id("drdynvc").expect("drdynvc joined");
                raw::mcs_send_data(c.user_channel_id(), id, &raw::svc_chunk(&noise(64, 13)))
            },
            reason: &["drdynvc"],
        },
        ActiveCase {
            what: "noise on the graphics pipeline channel",
            bytes: |c| {
                let id = c.static_channel_id("drdynvc").expect("drdynvc joined");
                let gfx = c.gfx_channel_id().expect("graphics channel open");
                raw::mcs_send_data(c.user_channel_id(), id, &raw::svc_chunk(&raw::dvc_data(gfx, &noise(40, 23))))
            },
            reason: &["drdynvc"],
        },
        ActiveCase {
            // A fragmented message whose fragments add up to more than its first one announced.
            what: "dynamic channel fragments longer than announced",
            bytes: |c| {
                let id = c.static_channel_id("drdynvc").expect("drdynvc joined");
                let gfx = c.gfx_channel_id().expect("graphics channel open");
                let mut out = raw::mcs_send_data(
                    c.user_channel_id(),
                    id,
                    &raw::svc_chunk(&raw::dvc_data_first(gfx, 10, &[0; 4])),
                );
                out.extend(raw::mcs_send_data(c.user_channel_id(), id, &raw::svc_chunk(&raw::dvc_data(gfx, &[0; 20]))));
                out
            },
            reason: &["drdynvc", "longer than the message length"],
        },
        ActiveCase {
            what: "dynamic channel data for a channel never opened",
            bytes: |c| {
                let id = c.static_channel_id("drdynvc").expect("drdynvc joined");
                raw::mcs_send_data(c.user_channel_id(), id, &raw::svc_chunk(&raw::dvc_data(0x4242, &[1, 2, 3])))
            },
            reason: &["drdynvc"],
        },
        ActiveCase {
            // The channel header announces 4 GiB; the chunk says it is also the last one.
            what: "a static channel header whose length lies",
            bytes: |c| {
                let id = c.static_channel_id("drdynvc").expect("drdynvc joined");
                let mut chunk = raw::svc_chunk(&raw::dvc_data(0x4242, &[1, 2, 3]));
                chunk[..4].copy_from_slice(&u32::MAX.to_le_bytes());
                raw::mcs_send_data(c.user_channel_id(), id, &chunk)
            },
            reason: &["drdynvc"],
        },
        ActiveCase {
            what: "a drdynvc PDU shorter than the channel header",
            bytes: |c| {
                let id = c.static_channel_id("drdynvc").expect("drdynvc joined");
                raw::mcs_send_data(c.user_channel_id(), id, &[1, 2, 3])
            },
            reason: &["drdynvc"],
        },
    ])
    .await
}
