//! RemoteApp (RAIL) at the PDU level: the IronRDP test client with a `rail` channel against the
//! real server, the host side played by the test. The handshake and Exec, windowing orders
//! for what the host says (new, changed, deleted windows, popups with owners, the z-order),
//! one EGFX surface per window whose pixels reach the client's window, the client's requests
//! as host events, and malformed RAIL PDUs and frame acknowledgements that never take the
//! server down.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use wayrail_rdp::{
    ExecPolicy, HostEvent, HostRect, RailCommand, RailEvent, RemoteKind, RemoteWindow, SessionId, Show, SysCommand,
};
use wayrail_rdp::{Tile, WindowFrame};
use wayrail_rdp_testclient::fuzz::{mutated_ack, mutated_rail, rail_seeds, Rng};
use wayrail_rdp_testclient::ironrdp_pdu::window::{ShowState, WindowOrderBody, WindowingOrder};
use wayrail_rdp_testclient::ironrdp_rail::{
    ActivatePdu, ExecutePdu, ExecuteResult, ExecuteResultPdu, GetApplicationIdRequestPdu, RailPdu, Rectangle,
    SystemCommand, SystemCommandPdu, WindowMovePdu,
};
use wayrail_rdp_testclient::{raw, ClientBuilder, ClientOptions, HostWindow, RailClient, TestClient};

use crate::common::{assert_no_server_panics, expect_log, solid, TestServer, STEP};

const WS_VISIBLE: u32 = 0x1000_0000;
const WS_POPUP: u32 = 0x8000_0000;
const WS_EX_TOOLWINDOW: u32 = 0x0000_0080;
const WS_EX_APPWINDOW: u32 = 0x0004_0000;

fn rail_options() -> ClientOptions {
    ClientOptions { size: (1024, 768), remote_app: true, ..Default::default() }
}

/// Connects a RemoteApp client with `rail` as its RAIL channel and waits until the host
/// hears of the session and of the finished RAIL handshake.
async fn connect_rail(server: &mut TestServer, rail: RailClient) -> Result<(TestClient, SessionId)> {
    let addr = server.addr();
    let mut client = ClientBuilder::new(rail_options()).with_static_channel(rail).connect(&addr).await?;
    let event = server.host.expect(&mut [&mut client], |e| matches!(e, HostEvent::Connected { .. })).await?;
    let HostEvent::Connected { session, remote_app, .. } = event else { unreachable!() };
    assert!(remote_app, "a client with the RAIL capability gets a RemoteApp session");
    server
        .host
        .expect(&mut [&mut client], |e| matches!(e, HostEvent::Rail(RailEvent::Ready { .. })))
        .await
        .context("waiting for the RAIL handshake")?;
    Ok((client, session))
}

/// Pumps until the graphics pipeline is up.
async fn wait_egfx(client: &mut TestClient) -> Result<()> {
    client.pump_until(STEP, |c| c.gfx().confirmed.is_some()).await.context("waiting for EGFX")
}

fn window(id: u32, title: &str, (x, y, w, h): (i32, i32, u32, u32)) -> RemoteWindow {
    RemoteWindow {
        id,
        owner: 0,
        kind: RemoteKind::Toplevel,
        title: title.into(),
        app_id: "org.example.test".into(),
        window: HostRect::new(x, y, w, h),
        client: HostRect::new(x, y, w, h),
        show: Show::Normal,
        surface: None,
    }
}

/// A window with client-side shadows: the image is `margin` larger on every side.
fn shadowed(id: u32, title: &str, (x, y, w, h): (i32, i32, u32, u32), margin: u32) -> RemoteWindow {
    let m = margin as i32;
    RemoteWindow {
        window: HostRect::new(x - m, y - m, w + 2 * margin, h + 2 * margin),
        ..window(id, title, (x, y, w, h))
    }
}

/// Pumps until the host's view of window `id` satisfies `pred`; returns it.
async fn wait_host_window(
    client: &mut TestClient,
    id: u32,
    what: &str,
    pred: impl Fn(&HostWindow) -> bool,
) -> Result<HostWindow> {
    let ok = client.pump_until(STEP, |c| c.host_windows().windows.get(&id).is_some_and(&pred)).await;
    if ok.is_err() {
        bail!("window {id} never became {what}: {:?}", client.host_windows().windows.get(&id));
    }
    Ok(client.host_windows().windows[&id].clone())
}

/// The window orders for `id` received so far.
fn orders_for(client: &TestClient, id: u32) -> Vec<WindowingOrder> {
    client
        .windowing_orders()
        .iter()
        .filter(|o| matches!(o, WindowingOrder::Window(w) if w.window_id == id))
        .cloned()
        .collect()
}

/// Sends a window frame and waits until the host hears it was shown.
async fn window_frame(server: &mut TestServer, client: &mut TestClient, window: u32, tiles: Vec<Tile>) -> Result<()> {
    let frame = server.frame_number();
    assert!(
        server.handle.send_window_frame(WindowFrame { window, frame, tiles, written: None, committed: None }),
        "the window frame queue was full"
    );
    server
        .host
        .expect(&mut [&mut *client], |e| *e == HostEvent::FrameDone { frame })
        .await
        .with_context(|| format!("waiting for FrameDone {frame} of window {window}"))?;
    Ok(())
}

/// Waits until every one of `events` arrived, in any order (others are skipped; a session's
/// end is an error).
async fn expect_all(server: &mut TestServer, client: &mut TestClient, events: Vec<HostEvent>) -> Result<()> {
    let mut pending = events;
    while !pending.is_empty() {
        let event = server
            .host
            .expect(&mut [&mut *client], |e| pending.contains(e))
            .await
            .with_context(|| format!("waiting for {pending:?}"))?;
        pending.retain(|e| *e != event);
    }
    Ok(())
}

/// Waits for the next event from the client's RAIL requests that matches.
async fn expect_rail(server: &mut TestServer, client: &mut TestClient, want: RailEvent) -> Result<()> {
    server
        .host
        .expect(&mut [client], |e| *e == HostEvent::Rail(want.clone()))
        .await
        .with_context(|| format!("waiting for {want:?}"))?;
    Ok(())
}

/// Waits until the client got a RAIL PDU matching `pred` (after the first `skip` ones).
async fn wait_rail_pdu(
    client: &mut TestClient,
    skip: usize,
    what: &str,
    pred: impl Fn(&RailPdu) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if client.rail().expect("a RAIL channel").received.iter().skip(skip).any(&pred) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("no RAIL {what} from the server: {:?}", client.rail().unwrap().received);
        }
        client.pump(Duration::from_millis(10)).await?;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn remote_app_windows_become_host_windows_with_their_pixels() -> Result<()> {
    let mut server = TestServer::tcp()?;
    let (mut client, session) = connect_rail(&mut server, RailClient::new(None)).await?;
    assert!(client.rail().unwrap().handshake_done());
    let sysparams =
        client.rail().unwrap().received.iter().filter(|p| matches!(p, RailPdu::ServerSystemParameters(_))).count();
    assert!(sysparams >= 2, "server system parameters after the client status");
    wait_egfx(&mut client).await?;

    // A new window: every field, then its own surface mapped to it.
    let main = shadowed(7, "first title", (120, 90, 200, 150), 10);
    server.handle.send_rail(RailCommand::Upsert(main.clone()));
    server.handle.send_rail(RailCommand::Stacking { top_first: vec![7], active: Some(7) });
    server.host.expect(&mut [&mut client], |e| *e == HostEvent::RefreshWindow { window: 7 }).await?;
    let w = wait_host_window(&mut client, 7, "announced", |_| true).await?;
    assert_eq!(w.title, "first title");
    assert_eq!(w.owner, 0);
    assert_eq!(w.show_state, Some(ShowState::Show));
    assert_ne!(w.style & WS_VISIBLE, 0, "{:#x}", w.style);
    assert_ne!(
        w.extended_style & WS_EX_APPWINDOW,
        0,
        "an application window is on the taskbar: {:#x}",
        w.extended_style
    );
    assert_eq!(w.window_offset, (110, 80), "the window offset is the image's corner, shadows included");
    assert_eq!(w.window_size, (220, 170));
    assert_eq!(w.client_offset, (120, 90));
    assert_eq!(w.client_size, (200, 150));
    assert_eq!(w.visibility_rects, vec![(10, 10, 210, 160)], "only the window proper is visible");
    client.pump_until(STEP, |c| c.host_windows().active == Some(7)).await.context("the active window")?;
    assert_eq!(client.host_windows().z_order, vec![7]);
    let gfx = client.gfx();
    let map = gfx.mapped_to_scaled_window.iter().find(|m| m.window_id == 7).context("no surface mapped to window 7")?;
    assert_eq!((map.mapped_width, map.mapped_height), (220, 170));
    assert_eq!((map.target_width, map.target_height), (220, 170));
    assert!(gfx.surfaces_created.contains(&(map.surface_id, 220, 170)), "{:?}", gfx.surfaces_created);
    let surface = map.surface_id;

    // Its pixels: a whole frame, then a small change, which is small on the wire too.
    let blue = [0x20, 0x40, 0xC0];
    window_frame(&mut server, &mut client, 7, vec![solid(0, 0, 220, 170, blue)]).await?;
    let image = client.window_image(7).context("no pixels for window 7")?;
    assert_eq!((image.width, image.height), (220, 170));
    assert_eq!(image.count_not((0, 0, 220, 170), blue), 0, "the whole window is the frame's colour");
    let full = client.frame_records().last().cloned().unwrap();
    assert!(full.surfaces.iter().all(|&s| s == surface), "{full:?}");
    let red = [0xE0, 0x10, 0x10];
    window_frame(&mut server, &mut client, 7, vec![solid(50, 60, 8, 12, red)]).await?;
    let image = client.window_image(7).unwrap();
    assert_eq!(image.count_not((50, 60, 8, 12), red), 0);
    assert_eq!(image.count_not((0, 0, 50, 170), blue), 0, "the rest stays");
    assert_eq!(image.count_not((58, 0, 162, 170), blue), 0, "the rest stays");
    let small = client.frame_records().last().cloned().unwrap();
    assert_eq!(small.pixels, 8 * 12);
    assert!(small.wire_bytes * 4 < full.wire_bytes.max(400), "small change {small:?}, whole window {full:?}");
    // No pixels of a RemoteApp window land on the (absent) desktop.
    assert!(gfx.mapped_to_output.iter().all(|&(s, _, _)| s != surface));

    // A new title: an update order with the title and nothing else.
    let before = orders_for(&client, 7).len();
    server.handle.send_rail(RailCommand::Upsert(RemoteWindow { title: "second title".into(), ..main.clone() }));
    wait_host_window(&mut client, 7, "retitled", |w| w.title == "second title").await?;
    let orders = orders_for(&client, 7);
    assert_eq!(orders.len(), before + 1, "{orders:?}");
    match &orders[before] {
        WindowingOrder::Window(o) => {
            assert!(!o.is_new);
            let WindowOrderBody::State(s) = &o.body else { bail!("{o:?}") };
            assert!(s.window_offset.is_none() && s.show_state.is_none() && s.owner_window_id.is_none(), "{s:?}");
        }
        other => bail!("{other:?}"),
    }

    // Maximized and back.
    server.handle.send_rail(RailCommand::Upsert(RemoteWindow {
        title: "second title".into(),
        show: Show::Maximized,
        ..main.clone()
    }));
    wait_host_window(&mut client, 7, "maximized", |w| w.show_state == Some(ShowState::Maximized)).await?;
    server.handle.send_rail(RailCommand::Upsert(RemoteWindow { title: "second title".into(), ..main.clone() }));
    wait_host_window(&mut client, 7, "normal again", |w| w.show_state == Some(ShowState::Show)).await?;

    // A popup: an owned tool window off the taskbar, with a surface of its own.
    let popup = RemoteWindow { owner: 7, kind: RemoteKind::Popup, ..window(8, "", (150, 120, 80, 60)) };
    server.handle.send_rail(RailCommand::Upsert(popup.clone()));
    server.host.expect(&mut [&mut client], |e| *e == HostEvent::RefreshWindow { window: 8 }).await?;
    let p = wait_host_window(&mut client, 8, "announced", |_| true).await?;
    assert_eq!(p.owner, 7);
    assert_ne!(p.style & WS_POPUP, 0, "{:#x}", p.style);
    assert_ne!(p.extended_style & WS_EX_TOOLWINDOW, 0, "{:#x}", p.extended_style);
    assert_eq!(p.extended_style & WS_EX_APPWINDOW, 0);
    let green = [0x10, 0xC0, 0x30];
    window_frame(&mut server, &mut client, 8, vec![solid(0, 0, 80, 60, green)]).await?;
    assert_eq!(client.window_image(8).unwrap().count_not((0, 0, 80, 60), green), 0);
    assert_eq!(client.window_image(7).unwrap().count_not((0, 0, 50, 170), blue), 0, "the owner is untouched");

    // Resized: a new surface of the new size, and the host asks for the whole window again.
    let bigger = RemoteWindow { window: HostRect::new(110, 80, 320, 240), ..main.clone() };
    server.handle.send_rail(RailCommand::Upsert(RemoteWindow { title: "second title".into(), ..bigger }));
    server.host.expect(&mut [&mut client], |e| *e == HostEvent::RefreshWindow { window: 7 }).await?;
    client
        .pump_until(STEP, |c| c.gfx().mapped_to_scaled_window.iter().any(|m| m.window_id == 7 && m.mapped_width == 320))
        .await
        .context("no 320-wide surface for window 7")?;
    window_frame(&mut server, &mut client, 7, vec![solid(0, 0, 320, 240, red)]).await?;
    let image = client.window_image(7).unwrap();
    assert_eq!((image.width, image.height), (320, 240));
    assert_eq!(image.count_not((0, 0, 320, 240), red), 0);

    // Gone: a delete order, and its surface is deleted.
    server.handle.send_rail(RailCommand::Remove(8));
    client.pump_until(STEP, |c| c.host_windows().deleted.contains(&8)).await.context("no delete order for 8")?;
    assert!(!client.host_windows().windows.contains_key(&8));
    let popup_surface = client.gfx().mapped_to_scaled_window.iter().find(|m| m.window_id == 8).unwrap().surface_id;
    client.pump_until(STEP, |c| c.gfx().surfaces_deleted.contains(&popup_surface)).await.context("surface kept")?;
    // Frames for a window that is gone complete at once.
    window_frame(&mut server, &mut client, 8, vec![solid(0, 0, 8, 8, green)]).await?;
    assert!(client.host_windows().inconsistencies.is_empty(), "{:?}", client.host_windows().inconsistencies);

    // The host's requests reach the compositor side.
    client.send_rail(RailPdu::Activate(ActivatePdu { window_id: 7, enabled: true })).await?;
    expect_rail(&mut server, &mut client, RailEvent::Activate { window: 7, enabled: true }).await?;
    for (command, expected) in [
        (SystemCommand::Minimize, SysCommand::Minimize),
        (SystemCommand::Restore, SysCommand::Restore),
        (SystemCommand::Maximize, SysCommand::Maximize),
        (SystemCommand::Close, SysCommand::Close),
    ] {
        client.send_rail(RailPdu::SystemCommand(SystemCommandPdu { window_id: 7, command })).await?;
        expect_rail(&mut server, &mut client, RailEvent::SysCommand { window: 7, command: expected }).await?;
    }
    let rect = Rectangle { left: 300, top: 200, right: 620, bottom: 440 };
    client.send_rail(RailPdu::WindowMove(WindowMovePdu { window_id: 7, rectangle: rect })).await?;
    // A host move arrives as where the window proper now is: its offset inside the image kept.
    let placed = HostEvent::WindowPlaced { window: 7, client: HostRect::new(310, 210, 200, 150), resized: false };
    server.host.expect(&mut [&mut client], |e| *e == placed).await.context("waiting for the placed window")?;
    let seen = client.rail().unwrap().received.len();
    client.send_rail(RailPdu::GetApplicationIdRequest(GetApplicationIdRequestPdu { window_id: 7 })).await?;
    expect_rail(&mut server, &mut client, RailEvent::GetAppId { window: 7 }).await?;
    server.handle.send_rail(RailCommand::AppId {
        window: 7,
        app_id: "org.example.test".into(),
        pid: 4242,
        executable: "/usr/bin/example".into(),
    });
    wait_rail_pdu(&mut client, seen, "app id response", |p| {
        matches!(p, RailPdu::GetApplicationIdResponseEx(r) if r.window_id == 7 && r.application_id == "org.example.test" && r.process_id == 4242)
    })
    .await?;

    // A move the compositor hands to the host: limits, a start, and an end once the host moved it.
    let seen = client.rail().unwrap().received.len();
    server.handle.send_rail(RailCommand::LocalMoveSize { window: 7, edges: None, x: 330, y: 210 });
    wait_rail_pdu(
        &mut client,
        seen,
        "local move start",
        |p| matches!(p, RailPdu::LocalMoveSize(m) if m.window_id == 7 && m.is_start && (m.x, m.y) == (330, 210)),
    )
    .await?;
    assert!(
        client.rail().unwrap().received[seen..].iter().any(|p| matches!(p, RailPdu::MinMaxInfo(m) if m.window_id == 7)),
        "MinMaxInfo before a local move"
    );
    let seen = client.rail().unwrap().received.len();
    let rect = Rectangle { left: 400, top: 300, right: 720, bottom: 540 };
    client.send_rail(RailPdu::WindowMove(WindowMovePdu { window_id: 7, rectangle: rect })).await?;
    wait_rail_pdu(
        &mut client,
        seen,
        "local move end",
        |p| matches!(p, RailPdu::LocalMoveSize(m) if m.window_id == 7 && !m.is_start),
    )
    .await?;

    server.end(client, session).await?;
    Ok(())
}

/// The compositor announces its windows as soon as the session connects, before the RAIL
/// handshake is done: they reach the host once it is.
#[tokio::test(flavor = "current_thread")]
async fn windows_announced_before_the_handshake_arrive_after_it() -> Result<()> {
    let (mut server, addr) = TestServer::tcp_at()?;
    let mut client =
        ClientBuilder::new(rail_options()).with_static_channel(RailClient::new(None)).connect(&addr).await?;
    server.host.expect(&mut [], |e| matches!(e, HostEvent::Connected { .. })).await?;
    server.handle.send_rail(RailCommand::Upsert(window(3, "early", (0, 0, 64, 48))));
    server
        .handle
        .send_rail(RailCommand::Upsert(RemoteWindow { owner: 3, ..window(4, "early child", (10, 10, 32, 24)) }));
    server.handle.send_rail(RailCommand::Stacking { top_first: vec![4, 3], active: Some(4) });
    // The windows' surfaces come with the handshake's end (or with EGFX, whichever is later).
    let (_, mut early) = server
        .host
        .expect_with(&mut [&mut client], STEP, |e| matches!(e, HostEvent::Rail(RailEvent::Ready { .. })))
        .await?;
    client
        .pump_until(STEP, |c| {
            let h = c.host_windows();
            h.windows.len() == 2 && h.active == Some(4)
        })
        .await
        .with_context(|| format!("{:?}", client.host_windows()))?;
    let h = client.host_windows();
    assert_eq!(h.windows[&3].title, "early");
    assert_eq!(h.windows[&4].owner, 3);
    assert_eq!(h.z_order, vec![4, 3]);
    assert!(h.inconsistencies.is_empty(), "{:?}", h.inconsistencies);
    // Both get surfaces once EGFX is up, and their pixels arrive.
    early.retain(|e| matches!(e, HostEvent::RefreshWindow { .. }));
    let wanted =
        [3, 4].map(|window| HostEvent::RefreshWindow { window }).into_iter().filter(|e| !early.contains(e)).collect();
    expect_all(&mut server, &mut client, wanted).await?;
    window_frame(&mut server, &mut client, 4, vec![solid(0, 0, 32, 24, [9, 99, 199])]).await?;
    assert_eq!(client.window_image(4).unwrap().count_not((0, 0, 32, 24), [9, 99, 199]), 0);
    assert_no_server_panics();
    Ok(())
}

/// Exec: the program runs and the result says so; a missing one is FileNotFound; FreeRDP
/// 2.x's NUL-counted strings are accepted.
#[tokio::test(flavor = "current_thread")]
async fn exec_runs_programs_and_reports_the_result() -> Result<()> {
    let also = vec!["true".into(), "wayrail-test-no-such-program".into()];
    let mut server = TestServer::start_exec(&["tcp:127.0.0.1:0"], None, ExecPolicy::DesktopEntries { also })?;
    let (mut client, _) = connect_rail(&mut server, RailClient::new(Some(("true", "")))).await?;
    wait_rail_pdu(&mut client, 0, "exec result", |p| matches!(p, RailPdu::ExecuteResult(_))).await?;
    let results: Vec<_> = client.rail().unwrap().exec_results().into_iter().cloned().collect();
    assert_eq!(results.len(), 1);
    assert_eq!((results[0].result, results[0].executable.as_str()), (ExecuteResult::Ok, "true"));

    let seen = client.rail().unwrap().received.len();
    client
        .send_rail(RailPdu::Execute(wayrail_rdp_testclient::ironrdp_rail::ExecutePdu {
            flags: 0,
            executable: "wayrail-test-no-such-program".into(),
            working_directory: String::new(),
            arguments: "--help".into(),
        }))
        .await?;
    wait_rail_pdu(&mut client, seen, "exec result", |p| matches!(p, RailPdu::ExecuteResult(_))).await?;
    let last = client.rail().unwrap().exec_results().last().cloned().cloned().unwrap();
    assert_eq!(last.result, ExecuteResult::FileNotFound, "{last:?}");

    // TS_RAIL_ORDER_EXEC as FreeRDP 2.11 sends it: string lengths count a NUL terminator.
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().chain([0]).flat_map(|u| u.to_le_bytes()).collect() };
    let (exe, dir, args) = (utf16("true"), utf16(""), utf16(""));
    let mut pdu = 1u16.to_le_bytes().to_vec();
    pdu.extend(((12 + exe.len() + dir.len() + args.len()) as u16).to_le_bytes());
    for part in [0, exe.len(), dir.len(), args.len()] {
        pdu.extend((part as u16).to_le_bytes());
    }
    for part in [&exe, &dir, &args] {
        pdu.extend_from_slice(part);
    }
    let rail_id = client.static_channel_id("rail").context("rail joined")?;
    let seen = client.rail().unwrap().received.len();
    client.send_on_channel(rail_id, &raw::svc_chunk(&pdu)).await?;
    wait_rail_pdu(
        &mut client,
        seen,
        "exec result",
        |p| matches!(p, RailPdu::ExecuteResult(r) if r.result == ExecuteResult::Ok && r.executable == "true"),
    )
    .await?;
    assert_no_server_panics();
    Ok(())
}

/// The Exec results received after the first `skip` RAIL PDUs, waiting until there are `n`.
async fn exec_results_after(client: &mut TestClient, skip: usize, n: usize) -> Result<Vec<ExecuteResultPdu>> {
    let results = |c: &mut TestClient| -> Vec<ExecuteResultPdu> {
        let received = &c.rail().expect("a RAIL channel").received;
        received
            .iter()
            .skip(skip)
            .filter_map(|p| match p {
                RailPdu::ExecuteResult(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + STEP;
    while results(client).len() < n {
        if tokio::time::Instant::now() >= deadline {
            bail!("{} of {n} Exec results from the server: {:?}", results(client).len(), results(client));
        }
        client.pump(Duration::from_millis(10)).await?;
    }
    Ok(results(client))
}

/// An Exec of `sh -c 'touch MARKER'`, and MARKER.
fn touching_exec(dir: &std::path::Path) -> (ExecutePdu, std::path::PathBuf) {
    let marker = dir.join("ran");
    let exec = ExecutePdu {
        flags: 0,
        executable: "sh".into(),
        working_directory: String::new(),
        arguments: format!("-c 'touch \"{}\"'", marker.display()),
    };
    (exec, marker)
}

/// Waits a while and checks that `marker` never appeared.
async fn assert_never_created(client: &mut TestClient, marker: &std::path::Path) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < deadline {
        client.pump(Duration::from_millis(20)).await?;
        assert!(!marker.exists(), "the refused program ran: {} exists", marker.display());
    }
    Ok(())
}

/// The default policy: a program with no desktop entry (`sh`, by name or path) is refused
/// with RAIL_EXEC_E_NOT_IN_ALLOWLIST, logged, and does not run; with `sh` in the config's
/// list the same Exec runs.
#[tokio::test(flavor = "current_thread")]
async fn exec_outside_the_policy_is_refused_and_nothing_runs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (exec, marker) = touching_exec(dir.path());
    let mut server = TestServer::tcp()?;
    let (mut client, session) = connect_rail(&mut server, RailClient::new(None)).await?;
    let seen = client.rail().unwrap().received.len();
    client.send_rail(RailPdu::Execute(exec.clone())).await?;
    client.send_rail(RailPdu::Execute(ExecutePdu { executable: "/bin/sh".into(), ..exec.clone() })).await?;
    let results = exec_results_after(&mut client, seen, 2).await?;
    for (r, exe) in results.iter().zip(["sh", "/bin/sh"]) {
        assert_eq!((r.result, r.executable.as_str()), (ExecuteResult::NotInAllowlist, exe), "{r:?}");
    }
    let line = expect_log(&["Exec refused", "program=sh", "not a program with a desktop entry"], STEP).await?;
    assert!(line.starts_with("WARN") && line.contains(&format!("session={session}")), "{line}");
    assert_never_created(&mut client, &marker).await?;
    drop(client);

    // Allowed by the config, the same request runs.
    let also = vec!["sh".into()];
    let mut server = TestServer::start_exec(&["tcp:127.0.0.1:0"], None, ExecPolicy::DesktopEntries { also })?;
    let (mut client, _) = connect_rail(&mut server, RailClient::new(None)).await?;
    let seen = client.rail().unwrap().received.len();
    client.send_rail(RailPdu::Execute(exec)).await?;
    let results = exec_results_after(&mut client, seen, 1).await?;
    assert_eq!(results[0].result, ExecuteResult::Ok, "{:?}", results[0]);
    let ran = client.pump_until(STEP, |_| marker.exists()).await;
    assert!(ran.is_ok(), "the allowed program did not run: no {}", marker.display());
    assert_no_server_panics();
    Ok(())
}

/// A full-desktop client that joins the rail channel anyway is refused every Exec, whatever
/// the policy, and nothing runs.
#[tokio::test(flavor = "current_thread")]
async fn exec_in_a_full_desktop_session_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (exec, marker) = touching_exec(dir.path());
    let mut server = TestServer::start_exec(&["tcp:127.0.0.1:0"], None, ExecPolicy::Any)?;
    let addr = server.addr();
    let options = ClientOptions { size: (800, 600), remote_app: false, ..Default::default() };
    let mut client = ClientBuilder::new(options)
        .with_static_channel(RailClient::new(Some((&exec.executable, &exec.arguments))))
        .connect(&addr)
        .await?;
    let event = server.host.expect(&mut [&mut client], |e| matches!(e, HostEvent::Connected { .. })).await?;
    assert!(matches!(event, HostEvent::Connected { remote_app: false, .. }), "{event:?}");
    let results = exec_results_after(&mut client, 0, 1).await?;
    assert_eq!((results[0].result, results[0].executable.as_str()), (ExecuteResult::Fail, "sh"), "{:?}", results[0]);
    expect_log(&["Exec refused", "program=sh", "RemoteApp sessions only"], STEP).await?;
    assert_never_created(&mut client, &marker).await?;
    assert_no_server_panics();
    Ok(())
}

/// At most 5 Execs in a burst per session; the rest are refused with RAIL_EXEC_E_FAIL.
#[tokio::test(flavor = "current_thread")]
async fn execs_are_rate_limited() -> Result<()> {
    let mut server = TestServer::start_exec(&["tcp:127.0.0.1:0"], None, ExecPolicy::Any)?;
    let (mut client, _) = connect_rail(&mut server, RailClient::new(None)).await?;
    let seen = client.rail().unwrap().received.len();
    let exec =
        ExecutePdu { flags: 0, executable: "true".into(), working_directory: String::new(), arguments: "".into() };
    for _ in 0..8 {
        client.send_rail(RailPdu::Execute(exec.clone())).await?;
    }
    let results: Vec<_> = exec_results_after(&mut client, seen, 8).await?.into_iter().map(|r| r.result).collect();
    assert_eq!(results[..5], [ExecuteResult::Ok; 5], "{results:?}");
    // One more every 2 s: a slow machine may have earned one during the burst, not three.
    assert!(results[5..].contains(&ExecuteResult::Fail), "{results:?}");
    expect_log(&["Exec refused", "program=true", "too many Execs"], STEP).await?;
    assert_no_server_panics();
    Ok(())
}

/// Titles longer than a windowing order can carry (520 bytes of UTF-16) are cut, not fatal.
#[tokio::test(flavor = "current_thread")]
async fn a_very_long_title_is_cut_not_fatal() -> Result<()> {
    let mut server = TestServer::tcp()?;
    let (mut client, _) = connect_rail(&mut server, RailClient::new(None)).await?;
    wait_egfx(&mut client).await?;
    let long = "ä".repeat(1500);
    server.handle.send_rail(RailCommand::Upsert(window(5, &long, (0, 0, 100, 80))));
    let w = wait_host_window(&mut client, 5, "announced", |_| true).await?;
    assert!(long.starts_with(&w.title) && w.title.chars().count() >= 200, "title of {} chars", w.title.chars().count());
    // And a long title in an update.
    server.handle.send_rail(RailCommand::Upsert(window(5, &"x".repeat(3000), (0, 0, 100, 80))));
    wait_host_window(&mut client, 5, "retitled", |w| w.title.starts_with("xxxx")).await?;
    let events = server.host.collect(&mut [&mut client], Duration::from_millis(100)).await?;
    assert!(!events.iter().any(|e| matches!(e, HostEvent::Disconnected { .. })), "{events:?}");
    window_frame(&mut server, &mut client, 5, vec![solid(0, 0, 100, 80, [1, 2, 3])]).await?;
    assert_no_server_panics();
    Ok(())
}

/// A few hundred malformed RAIL PDUs, properly framed on the `rail` channel: each is logged and
/// skipped, the session lives on and still works, nothing panics.
#[tokio::test(flavor = "current_thread")]
async fn malformed_rail_pdus_are_skipped() -> Result<()> {
    let mut server = TestServer::tcp()?;
    let (mut client, session) = connect_rail(&mut server, RailClient::new(None)).await?;
    wait_egfx(&mut client).await?;
    server.handle.send_rail(RailCommand::Upsert(window(7, "target", (10, 10, 64, 64))));
    server.host.expect(&mut [&mut client], |e| *e == HostEvent::RefreshWindow { window: 7 }).await?;
    let rail_id = client.static_channel_id("rail").context("rail joined")?;
    let seeds = rail_seeds(7);
    let mut rng = Rng(0x5EED_0001);
    for round in 0..300 {
        let payload = mutated_rail(&mut rng, &seeds, 7);
        client.send_on_channel(rail_id, &raw::svc_chunk(&payload)).await.with_context(|| format!("round {round}"))?;
        if round % 25 == 0 {
            let events = server.host.collect(&mut [&mut client], Duration::from_millis(5)).await?;
            if let Some(e) = events.iter().find(|e| matches!(e, HostEvent::Disconnected { .. })) {
                bail!("round {round}: payload {payload:02x?} ended the session: {e:?}");
            }
        }
    }
    // The session still works both ways.
    client.send_rail(RailPdu::SystemCommand(SystemCommandPdu { window_id: 7, command: SystemCommand::Close })).await?;
    let (_, skipped) = server
        .host
        .expect_with(&mut [&mut client], STEP, |e| {
            *e == HostEvent::Rail(RailEvent::SysCommand { window: 7, command: SysCommand::Close })
        })
        .await?;
    assert!(!skipped.iter().any(|e| matches!(e, HostEvent::Disconnected { .. })), "{skipped:?}");
    window_frame(&mut server, &mut client, 7, vec![solid(0, 0, 64, 64, [5, 6, 7])]).await?;
    assert_eq!(client.window_image(7).unwrap().count_not((0, 0, 64, 64), [5, 6, 7]), 0);
    assert!(client.rail().unwrap().undecodable.is_empty(), "the server sent undecodable RAIL PDUs");
    server.end(client, session).await?;
    assert!(server.handle.is_running());
    Ok(())
}

/// Frame acknowledgements with random frame ids, queue depths (suspend included) and counts
/// leave the session working: window frames still complete and reach the client. Broken
/// acknowledgement PDUs may end their session, never the server.
#[tokio::test(flavor = "current_thread")]
async fn mutated_frame_acknowledgements_never_take_the_server_down() -> Result<()> {
    let mut server = TestServer::tcp()?;
    let (mut client, _) = connect_rail(&mut server, RailClient::new(None)).await?;
    wait_egfx(&mut client).await?;
    server.handle.send_rail(RailCommand::Upsert(window(7, "acked", (0, 0, 48, 32))));
    server.host.expect(&mut [&mut client], |e| *e == HostEvent::RefreshWindow { window: 7 }).await?;
    let mut rng = Rng(0xACC0_0002);
    let drdynvc = client.static_channel_id("drdynvc").context("drdynvc joined")?;
    let gfx = client.gfx_channel_id().context("graphics channel open")?;
    for round in 0..200u32 {
        let last = client.gfx().frames.last().copied().unwrap_or(0);
        let ack = mutated_ack(&mut rng, last, false);
        client.send_on_channel(drdynvc, &raw::svc_chunk(&raw::dvc_data(gfx, &ack))).await?;
        if round % 20 == 0 {
            // Frames keep completing whatever the acknowledgements said.
            let color = [round as u8, 0x80, 0x40];
            window_frame(&mut server, &mut client, 7, vec![solid(0, 0, 48, 32, color)])
                .await
                .with_context(|| format!("round {round}"))?;
            assert_eq!(client.window_image(7).unwrap().count_not((0, 0, 48, 32), color), 0, "round {round}");
        }
    }
    let events = server.host.collect(&mut [&mut client], Duration::from_millis(50)).await?;
    assert!(!events.iter().any(|e| matches!(e, HostEvent::Disconnected { .. })), "{events:?}");
    client.disconnect().await?;
    server.host.expect(&mut [], |e| matches!(e, HostEvent::Disconnected { .. })).await?;

    // Broken acknowledgement PDUs, each on a connection of its own.
    for round in 0..12 {
        let (mut client, session) = connect_rail(&mut server, RailClient::new(None)).await?;
        wait_egfx(&mut client).await?;
        let drdynvc = client.static_channel_id("drdynvc").context("drdynvc joined")?;
        let gfx = client.gfx_channel_id().context("graphics channel open")?;
        let ack = mutated_ack(&mut rng, 1, true);
        client.send_on_channel(drdynvc, &raw::svc_chunk(&raw::dvc_data(gfx, &ack))).await?;
        let events = server.host.collect(&mut [&mut client], Duration::from_millis(30)).await?;
        let ended = events.iter().any(|e| matches!(e, HostEvent::Disconnected { session: s, .. } if *s == session));
        if !ended {
            server.end(client, session).await?;
        }
        assert!(server.handle.is_running(), "round {round}: the server thread ended");
        assert_no_server_panics();
    }
    // A plain client after all that.
    let addr = server.addr();
    let (normal, session) = server.check_normal_client(&addr).await?;
    normal.disconnect().await?;
    server.host.expect(&mut [], |e| matches!(e, HostEvent::Disconnected { session: s, .. } if *s == session)).await?;
    // And a RemoteApp one.
    let (mut client, _) = connect_rail(&mut server, RailClient::new(None)).await?;
    wait_egfx(&mut client).await?;
    server.handle.send_rail(RailCommand::Upsert(window(9, "after", (0, 0, 16, 16))));
    server.host.expect(&mut [&mut client], |e| *e == HostEvent::RefreshWindow { window: 9 }).await?;
    window_frame(&mut server, &mut client, 9, vec![solid(0, 0, 16, 16, [1, 1, 1])]).await?;
    assert_no_server_panics();
    Ok(())
}

/// The compositor sends one frame per changed window at once (a reconnect repaints them all):
/// every one must reach the host, however many windows there are.
#[tokio::test(flavor = "current_thread")]
async fn every_window_of_a_round_gets_its_pixels() -> Result<()> {
    let mut server = TestServer::tcp()?;
    let (mut client, _) = connect_rail(&mut server, RailClient::new(None)).await?;
    wait_egfx(&mut client).await?;
    let ids: Vec<u32> = (20..28).collect();
    for &id in &ids {
        server.handle.send_rail(RailCommand::Upsert(window(id, &format!("w{id}"), (id as i32 * 10, 0, 40, 30))));
    }
    expect_all(&mut server, &mut client, ids.iter().map(|&window| HostEvent::RefreshWindow { window }).collect())
        .await?;
    // Two rounds: big tiles first, then small ones (which ClearCodec may cache as glyphs).
    for (round, (w, h)) in [(40u16, 30u16), (8, 6)].into_iter().enumerate() {
        let mut frames = Vec::new();
        for &id in &ids {
            let frame = server.frame_number();
            let color = [id as u8 * 9, round as u8 * 100 + 7, 0x55];
            assert!(server.handle.send_window_frame(WindowFrame {
                window: id,
                frame,
                tiles: vec![solid(0, 0, w, h, color)],
                written: None,
                committed: None,
            }));
            frames.push(frame);
        }
        // They complete in any order.
        let mut pending: std::collections::HashSet<u64> = frames.into_iter().collect();
        while !pending.is_empty() {
            let event = server.host.expect(&mut [&mut client], |e| matches!(e, HostEvent::FrameDone { .. })).await?;
            if let HostEvent::FrameDone { frame } = event {
                pending.remove(&frame);
            }
        }
        client.pump(Duration::from_millis(50)).await?;
        for &id in &ids {
            let color = [id as u8 * 9, round as u8 * 100 + 7, 0x55];
            let image = client.window_image(id).with_context(|| format!("round {round}: no pixels for window {id}"))?;
            assert_eq!(image.count_not((0, 0, w, h), color), 0, "round {round}: window {id} lacks its frame");
        }
    }
    assert_no_server_panics();
    Ok(())
}
