//! A session's life: connecting, desktop pixels, input, a takeover, credentials.

use std::time::Duration;

use anyhow::Result;
use wayrail_rdp::input::{BTN_LEFT, BTN_RIGHT, BTN_SIDE};
use wayrail_rdp::{Credentials, HostEvent, Tile};
use wayrail_rdp_testclient::ironrdp_pdu::input::fast_path::{FastPathInputEvent, KeyboardFlags};
use wayrail_rdp_testclient::ironrdp_pdu::input::mouse::{MousePdu, PointerFlags};
use wayrail_rdp_testclient::ironrdp_pdu::input::mouse_x::{MouseXPdu, PointerXFlags};
use wayrail_rdp_testclient::{ClientOptions, TestClient};

use crate::common::{assert_no_server_panics, rgb, solid, TestServer, STEP};

#[tokio::test(flavor = "current_thread")]
async fn connect_and_desktop_pixels_reach_the_client() -> Result<()> {
    let (mut server, addr) = TestServer::tcp_at()?;
    let opts = ClientOptions { size: (800, 600), keyboard_layout: 0x407, ..Default::default() };
    let (mut client, _) = server.connect(&addr, opts).await?;
    assert_eq!(client.desktop_size(), (800, 600));
    server.wait_graphics_ready(&mut client).await?;
    let gfx = client.gfx();
    assert!(gfx.confirmed.is_some(), "EGFX capabilities confirmed");
    let &(surface, w, h) = gfx.surfaces_created.last().expect("a surface");
    assert_eq!((w, h), (800, 600));
    assert!(gfx.mapped_to_output.contains(&(surface, 0, 0)), "the surface is mapped to the output at 0,0");

    // A pattern tile checks that every pixel lands where it belongs, not just the colour.
    let pattern = {
        let (w, h) = (40u16, 30u16);
        let mut bgra = Vec::new();
        for y in 0..h {
            for x in 0..w {
                bgra.extend_from_slice(&[0x80, (y * 8) as u8, (x * 6) as u8, 0xFF]);
            }
        }
        Tile { x: 300, y: 200, width: w, height: h, bgra }
    };
    let tiles = vec![
        solid(0, 0, 64, 64, [0xFF, 0, 0]),
        solid(100, 50, 32, 16, [0, 0xFF, 0]),
        pattern,
        solid(760, 570, 40, 30, [0, 0, 0xFF]),
    ];
    server.frame_round_trip(&mut client, (800, 600), tiles).await?;
    assert_eq!(client.frames_received(), 1);
    assert_eq!(rgb(&client, 0, 0), [0xFF, 0, 0]);
    assert_eq!(rgb(&client, 63, 63), [0xFF, 0, 0]);
    assert_eq!(rgb(&client, 64, 64), [0, 0, 0]);
    assert_eq!(rgb(&client, 100, 50), [0, 0xFF, 0]);
    assert_eq!(rgb(&client, 131, 65), [0, 0xFF, 0]);
    assert_eq!(rgb(&client, 132, 65), [0, 0, 0]);
    for (x, y) in [(0u16, 0u16), (39, 0), (0, 29), (17, 11), (39, 29)] {
        assert_eq!(rgb(&client, 300 + x, 200 + y), [(x * 6) as u8, (y * 8) as u8, 0x80], "pattern at {x},{y}");
    }
    assert_eq!(rgb(&client, 799, 599), [0, 0, 0xFF]);
    assert_eq!(rgb(&client, 759, 599), [0, 0, 0]);

    // A second frame changes one place and leaves the rest.
    server.frame_round_trip(&mut client, (800, 600), vec![solid(16, 16, 16, 16, [0xFF, 0xFF, 0])]).await?;
    assert_eq!(client.frames_received(), 2);
    assert_eq!(rgb(&client, 20, 20), [0xFF, 0xFF, 0]);
    assert_eq!(rgb(&client, 0, 0), [0xFF, 0, 0]);
    assert_eq!(rgb(&client, 100, 50), [0, 0xFF, 0]);

    client.disconnect().await?;
    let event = server.host.expect(&mut [], |e| matches!(e, HostEvent::Disconnected { .. })).await?;
    assert!(
        matches!(event, HostEvent::Disconnected { ref reason, .. } if reason.contains("disconnected")),
        "{event:?}"
    );
    assert_no_server_panics();
    Ok(())
}

/// The next `n` host events that are input, pumping the client meanwhile.
async fn input_events(server: &mut TestServer, client: &mut TestClient, n: usize) -> Result<Vec<HostEvent>> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = server
            .host
            .expect(&mut [&mut *client], |e| !matches!(e, HostEvent::Refresh | HostEvent::FrameDone { .. }))
            .await?;
        out.push(e);
    }
    Ok(out)
}

#[tokio::test(flavor = "current_thread")]
async fn input_becomes_host_events() -> Result<()> {
    let (mut server, addr) = TestServer::tcp_at()?;
    let (mut client, _) = server.connect(&addr, ClientOptions::default()).await?;

    let key = |flags, code| FastPathInputEvent::KeyboardEvent(flags, code);
    client
        .send_input(&[
            key(KeyboardFlags::empty(), 0x1E),
            key(KeyboardFlags::RELEASE, 0x1E),
            key(KeyboardFlags::EXTENDED, 0x53),
            key(KeyboardFlags::EXTENDED | KeyboardFlags::RELEASE, 0x53),
        ])
        .await?;
    assert_eq!(
        input_events(&mut server, &mut client, 4).await?,
        vec![
            HostEvent::Key { code: 30, pressed: true },
            HostEvent::Key { code: 30, pressed: false },
            HostEvent::Key { code: 111, pressed: true },
            HostEvent::Key { code: 111, pressed: false },
        ]
    );

    let mouse = |flags, units, x, y| {
        FastPathInputEvent::MouseEvent(MousePdu {
            flags,
            number_of_wheel_rotation_units: units,
            x_position: x,
            y_position: y,
        })
    };
    client
        .send_input(&[
            mouse(PointerFlags::MOVE, 0, 100, 200),
            mouse(PointerFlags::LEFT_BUTTON | PointerFlags::DOWN, 0, 100, 200),
            mouse(PointerFlags::LEFT_BUTTON, 0, 101, 201),
            mouse(PointerFlags::RIGHT_BUTTON | PointerFlags::DOWN, 0, 5, 6),
            mouse(PointerFlags::RIGHT_BUTTON, 0, 5, 6),
            mouse(PointerFlags::VERTICAL_WHEEL, 120, 5, 6),
            mouse(PointerFlags::VERTICAL_WHEEL, -120, 5, 6),
            mouse(PointerFlags::HORIZONTAL_WHEEL, 120, 5, 6),
            mouse(PointerFlags::HORIZONTAL_WHEEL, -120, 5, 6),
            FastPathInputEvent::MouseEventEx(MouseXPdu {
                flags: PointerXFlags::BUTTON1 | PointerXFlags::DOWN,
                x_position: 7,
                y_position: 8,
            }),
            FastPathInputEvent::MouseEventEx(MouseXPdu { flags: PointerXFlags::BUTTON1, x_position: 7, y_position: 8 }),
        ])
        .await?;
    assert_eq!(
        input_events(&mut server, &mut client, 17).await?,
        vec![
            HostEvent::PointerMotion { x: 100, y: 200 },
            HostEvent::PointerMotion { x: 100, y: 200 },
            HostEvent::PointerButton { button: BTN_LEFT, pressed: true },
            HostEvent::PointerMotion { x: 101, y: 201 },
            HostEvent::PointerButton { button: BTN_LEFT, pressed: false },
            HostEvent::PointerMotion { x: 5, y: 6 },
            HostEvent::PointerButton { button: BTN_RIGHT, pressed: true },
            HostEvent::PointerMotion { x: 5, y: 6 },
            HostEvent::PointerButton { button: BTN_RIGHT, pressed: false },
            // RDP counts the wheel turned away from the user as positive, Wayland the opposite;
            // the horizontal wheel has the same sense in both.
            HostEvent::Wheel { vertical_v120: -120, horizontal_v120: 0 },
            HostEvent::Wheel { vertical_v120: 120, horizontal_v120: 0 },
            HostEvent::Wheel { vertical_v120: 0, horizontal_v120: 120 },
            HostEvent::Wheel { vertical_v120: 0, horizontal_v120: -120 },
            HostEvent::PointerMotion { x: 7, y: 8 },
            HostEvent::PointerButton { button: BTN_SIDE, pressed: true },
            HostEvent::PointerMotion { x: 7, y: 8 },
            HostEvent::PointerButton { button: BTN_SIDE, pressed: false },
        ]
    );

    // A key still held when the client goes away is released for the host.
    client.send_input(&[key(KeyboardFlags::empty(), 0x2A)]).await?;
    assert_eq!(input_events(&mut server, &mut client, 1).await?, vec![HostEvent::Key { code: 42, pressed: true }]);
    client.disconnect().await?;
    let (_, before) = server.host.expect_with(&mut [], STEP, |e| matches!(e, HostEvent::Disconnected { .. })).await?;
    assert_eq!(before, vec![HostEvent::Key { code: 42, pressed: false }], "the held shift is released at the end");
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn a_new_client_takes_over_from_the_active_one() -> Result<()> {
    let (mut server, addr) = TestServer::tcp_at()?;
    let (mut old, old_id) = server.check_normal_client(&addr).await?;

    let mut new = TestClient::connect(&addr, ClientOptions { size: (640, 480), ..Default::default() }).await?;
    let (connected, before) =
        server.host.expect_with(&mut [&mut old, &mut new], STEP, |e| matches!(e, HostEvent::Connected { .. })).await?;
    let HostEvent::Connected { session: new_id, .. } = connected else { unreachable!() };
    assert_ne!(new_id, old_id);
    let ends: Vec<_> = before.iter().filter(|e| matches!(e, HostEvent::Disconnected { .. })).collect();
    assert_eq!(
        ends,
        vec![&HostEvent::Disconnected { session: old_id, reason: "replaced by a new connection".into() }],
        "the old session ends before the new one starts"
    );

    // The old client is told and its connection closed.
    old.wait_closed(STEP).await?;
    assert!(old.terminated().is_some(), "the old client got a disconnect PDU");

    // The new one works, and the old one's end is no news for the host.
    server.wait_graphics_ready(&mut new).await?;
    server.frame_round_trip(&mut new, (640, 480), vec![solid(0, 0, 8, 8, [1, 2, 3])]).await?;
    assert_eq!(rgb(&new, 7, 7), [1, 2, 3]);
    let later = server.host.collect(&mut [&mut new], Duration::from_millis(300)).await?;
    assert!(!later.iter().any(|e| matches!(e, HostEvent::Disconnected { .. })), "{later:?}");
    assert_no_server_panics();
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_are_checked() -> Result<()> {
    let credentials = Credentials { username: Some("alice".into()), password: "s3cret".into() };
    let mut server = TestServer::start(&["tcp:127.0.0.1:0"], Some(credentials))?;
    let addr = server.addr();

    for (username, password) in [("alice", "wrong"), ("mallory", "s3cret"), ("", "")] {
        let opts = ClientOptions { username: username.into(), password: password.into(), ..Default::default() };
        // The refusal comes at the end of the connection sequence, which the client may or may
        // not see finish before the server closes the connection.
        if let Ok(mut client) = TestClient::connect(&addr, opts).await {
            client.wait_closed(STEP).await?;
        }
        let events = server.host.collect(&mut [], Duration::from_millis(200)).await?;
        assert!(events.is_empty(), "a refused login reaches the host: {username}/{password}: {events:?}");
    }

    let opts = ClientOptions { username: "alice".into(), password: "s3cret".into(), ..Default::default() };
    server.check_client(&addr, opts).await?;
    Ok(())
}

/// A client that closes the graphics channel gets no more EGFX frames, but the host's frames
/// must still complete (FrameDone), or the apps would wait for ever.
#[tokio::test(flavor = "current_thread")]
async fn frames_complete_after_the_client_closes_the_graphics_channel() -> Result<()> {
    use wayrail_rdp::DesktopFrame;
    use wayrail_rdp_testclient::ironrdp_dvc::pdu::{ClosePdu, DrdynvcClientPdu};
    use wayrail_rdp_testclient::raw;

    let (mut server, addr) = TestServer::tcp_at()?;
    let (mut client, session) = server.check_normal_client(&addr).await?;
    let drdynvc = client.static_channel_id("drdynvc").expect("drdynvc joined");
    let gfx = client.gfx_channel_id().expect("graphics channel open");
    let close = raw::svc_chunk(&raw::dvc(DrdynvcClientPdu::Close(ClosePdu::new(gfx))));
    client.send_on_channel(drdynvc, &close).await?;
    // The server handles a client's PDUs in order: once this key is in, the close is handled
    // too. (A frame sent before that would be acknowledged on the closed channel, which ends
    // the session; a real client does not close the channel under its own acknowledgements.)
    client.send_input(&[FastPathInputEvent::KeyboardEvent(KeyboardFlags::empty(), 0x1E)]).await?;
    server.host.expect(&mut [&mut client], |e| *e == HostEvent::Key { code: 30, pressed: true }).await?;
    let received = client.frames_received();
    for _ in 0..3 {
        let frame = server.frame_number();
        let tiles = vec![solid(0, 0, 16, 16, [9, 9, 9])];
        assert!(server.handle.send_frame(DesktopFrame { frame, width: 640, height: 480, tiles }));
        server.host.expect(&mut [&mut client], |e| *e == HostEvent::FrameDone { frame }).await?;
    }
    assert_eq!(client.frames_received(), received, "no EGFX frames on a closed channel");
    let events = server.host.collect(&mut [&mut client], Duration::from_millis(100)).await?;
    assert!(!events.iter().any(|e| matches!(e, HostEvent::Disconnected { .. })), "{events:?}");
    server.end(client, session).await?;
    Ok(())
}

/// Sends a desktop frame of `width`×`height` with one small tile changed; its number.
fn small_frame(server: &mut TestServer, width: u16, height: u16) -> u64 {
    let frame = server.frame_number();
    let tiles = vec![solid(0, 0, 8, 8, [1, 1, 1])];
    assert!(server.handle.send_frame(wayrail_rdp::DesktopFrame { frame, width, height, tiles }));
    frame
}

/// Frames nobody can show complete at once: no client, or a size that is not the client's.
#[tokio::test(flavor = "current_thread")]
async fn frames_nobody_can_show_complete_at_once() -> Result<()> {
    let mut server = TestServer::tcp()?;
    let frame = small_frame(&mut server, 64, 64);
    server.host.expect(&mut [], |e| *e == HostEvent::FrameDone { frame }).await?;

    let addr = server.addr();
    let (mut client, _) = server.check_normal_client(&addr).await?;
    let before = client.frames_received();
    let frame = small_frame(&mut server, 320, 200);
    server.host.expect(&mut [&mut client], |e| *e == HostEvent::FrameDone { frame }).await?;
    assert_eq!(client.frames_received(), before, "a frame of the wrong size is not sent");
    Ok(())
}

/// The IronRDP test client has no H.264 decoder, so it advertises no AVC: a desktop that
/// changes all over, frame after frame (which switches an AVC client to AVC420 by the third
/// frame), reaches it in ClearCodec only, exactly.
#[tokio::test(flavor = "current_thread")]
async fn a_client_without_avc_gets_only_clearcodec_for_an_animation() -> Result<()> {
    use wayrail_rdp_testclient::ironrdp_egfx::pdu::Codec1Type;
    let (mut server, addr) = TestServer::tcp_at()?;
    let size = (320, 240);
    let (mut client, _) = server.connect(&addr, ClientOptions { size, ..Default::default() }).await?;
    server.wait_graphics_ready(&mut client).await?;
    for i in 0..12u8 {
        let color = [i * 20, 255 - i * 20, 0x40];
        server.frame_round_trip(&mut client, size, vec![solid(0, 0, size.0, size.1, color)]).await?;
        assert_eq!(rgb(&client, 0, 0), color, "frame {i}");
        assert_eq!(rgb(&client, 319, 239), color, "frame {i}");
    }
    let updates = client.gfx().updates;
    assert!(updates.len() >= 12, "{updates:?}");
    let other: Vec<_> = updates.iter().filter(|u| u.1 != Codec1Type::ClearCodec).collect();
    assert!(other.is_empty(), "not ClearCodec: {other:?}");
    Ok(())
}
