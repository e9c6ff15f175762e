//! RemoteApp against the real wayrail with the IronRDP test client as the host: its `rail`
//! channel does the handshake and an Exec, and what a host would show is rebuilt from the
//! windowing orders and the EGFX window surfaces, so every assertion is exact: titles and
//! show states in orders, window ids across a reconnect, window pixels to the byte, the size of
//! an update on the wire. Malformed RAIL PDUs and frame acknowledgements never take wayrail
//! down.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wayrail_e2e::ironrdp::{self, compositor_window, connect_gfx, pump};
use wayrail_e2e::{require_programs, wait_until, Compositor, Value, MAP_TIMEOUT};
use wayrail_rdp_testclient::fuzz::{mutated_ack, mutated_rail, rail_seeds, Rng};
use wayrail_rdp_testclient::ironrdp_pdu::input::fast_path::{FastPathInputEvent, KeyboardFlags};
use wayrail_rdp_testclient::ironrdp_pdu::window::{ShowState, WindowOrderBody, WindowingOrder};
use wayrail_rdp_testclient::ironrdp_rail::{ActivatePdu, ExecuteResult, RailPdu, SystemCommand, SystemCommandPdu};
use wayrail_rdp_testclient::{raw, ClientBuilder, ClientOptions, HostWindow, RailClient, TestClient};

/// How long one step (an order, a frame, a state change) may take.
const STEP: Duration = Duration::from_secs(15);
const PROBE: &str = env!("CARGO_BIN_EXE_wr-rail-probe");
/// The probe's default size and colour.
const PROBE_SIZE: (u32, u32) = (320, 240);
const GREEN: [u8; 3] = [0x30, 0xa0, 0x50];

/// The work area the test client reports: the desktop without a 40-pixel taskbar.
const WORK_AREA: (u16, u16, u16, u16) = (0, 0, 1280, 760);

fn rail_client(exec: Option<(&str, &str)>) -> RailClient {
    let mut rail = RailClient::new(exec);
    rail.work_area = Some(WORK_AREA);
    rail
}

/// Connects a RemoteApp test client and waits for the RAIL handshake and the graphics pipeline.
async fn connect(wr: &Compositor, rail: RailClient) -> TestClient {
    let opts = ClientOptions { size: (1280, 800), remote_app: true, ..Default::default() };
    connect_gfx(wr, ClientBuilder::new(opts).with_static_channel(rail), STEP).await
}

async fn until(wr: &Compositor, client: &mut TestClient, what: &str, cond: impl FnMut(&TestClient) -> bool) {
    ironrdp::until(wr, client, STEP, what, cond).await
}

fn id_of(w: &Value) -> u32 {
    w["id"].as_u64().unwrap_or_else(|| panic!("no id in {w}")) as u32
}

/// The host window `id` once it satisfies `pred`.
async fn host_window(
    wr: &Compositor,
    client: &mut TestClient,
    id: u32,
    what: &str,
    pred: impl Fn(&HostWindow) -> bool,
) -> HostWindow {
    until(wr, client, &format!("host window {id} {what}"), |c| c.host_windows().windows.get(&id).is_some_and(&pred))
        .await;
    client.host_windows().windows[&id].clone()
}

/// Waits until host window `id` shows one colour all over, at its current size.
async fn wait_solid(wr: &Compositor, client: &mut TestClient, id: u32, rgb: [u8; 3]) {
    until(wr, client, &format!("window {id} all {rgb:02x?}"), |c| {
        let Some(w) = c.host_windows().windows.get(&id).cloned() else { return false };
        let (width, height) = (w.window_size.0 as u16, w.window_size.1 as u16);
        c.window_image(id).is_some_and(|img| {
            (img.width, img.height) == (width, height) && img.count_not((0, 0, width, height), rgb) == 0
        })
    })
    .await;
}

/// The compositor's `msg windows` state of window `id`, polled (pumping) until it is `state`.
async fn wait_state(wr: &Compositor, client: &mut TestClient, id: u32, state: &str) -> Value {
    compositor_window(wr, client, &format!("{id} {state}"), |w| id_of(w) == id && w["state"] == state).await
}

/// A probe's command file: lines appended are commands (see `wr-rail-probe`).
struct Commands(PathBuf);

impl Commands {
    fn new(dir: &Path, name: &str) -> Commands {
        Commands(dir.join(name))
    }

    fn send(&self, line: &str) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.0).expect("the command file");
        writeln!(f, "{line}").expect("writing a command");
    }
}

/// A key pressed and released on the host, by scancode.
async fn press_key(client: &mut TestClient, scancode: u8) {
    let events = [
        FastPathInputEvent::KeyboardEvent(KeyboardFlags::empty(), scancode),
        FastPathInputEvent::KeyboardEvent(KeyboardFlags::RELEASE, scancode),
    ];
    client.send_input(&events).await.unwrap();
}

async fn sys_command(client: &mut TestClient, id: u32, command: SystemCommand) {
    client
        .send_rail(RailPdu::SystemCommand(SystemCommandPdu { window_id: id, command }))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
}

fn last_order_of(client: &TestClient, id: u32) -> WindowingOrder {
    client
        .windowing_orders()
        .iter()
        .rev()
        .find(|o| matches!(o, WindowingOrder::Window(w) if w.window_id == id))
        .cloned()
        .expect("an order for the window")
}

/// The Exec results the client has, waiting (pumping) until there are `n`.
async fn exec_results(wr: &Compositor, client: &mut TestClient, n: usize) -> Vec<ExecuteResult> {
    let results = |c: &mut TestClient| -> Vec<ExecuteResult> {
        c.rail().unwrap().exec_results().into_iter().map(|r| r.result).collect()
    };
    for _ in 0..300 {
        if results(client).len() >= n {
            break;
        }
        pump(client, 50).await;
    }
    let got = results(client);
    assert_eq!(got.len(), n, "Exec results: {got:?}\n{}", wr.log_tail(20));
    got
}

/// The Exec policy end to end: by default a program without a desktop entry (`sh`) is
/// refused with RAIL_EXEC_E_NOT_IN_ALLOWLIST, logged, and does not run; `[rail] exec` in the
/// config file lets it in.
#[tokio::test(flavor = "current_thread")]
async fn exec_outside_the_policy_is_refused_until_the_config_allows_it() {
    require_programs!("sh", "touch");
    let dir = wayrail_e2e::TempDir::new("wayrail-exec");
    let marker = dir.path().join("ran");
    let args = format!("-c 'touch \"{}\"'", marker.display());

    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let mut client = connect(&wr, rail_client(Some(("sh", &args)))).await;
    assert_eq!(exec_results(&wr, &mut client, 1).await, [ExecuteResult::NotInAllowlist]);
    let logged = wait_until(STEP, || wr.log_text().lines().any(|l| l.contains("WARN") && l.contains("Exec refused")));
    assert!(logged, "no warning about the refused Exec:\n{}", wr.log_tail(20));
    pump(&mut client, 1000).await;
    assert!(!marker.exists(), "the refused program ran");
    drop(client);
    drop(wr);

    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[rail]\nexec = [\"sh\"]\n").unwrap();
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--config", config.to_str().unwrap()]);
    let mut client = connect(&wr, rail_client(Some(("sh", &args)))).await;
    assert_eq!(exec_results(&wr, &mut client, 1).await, [ExecuteResult::Ok]);
    assert!(wait_until(STEP, || marker.exists()), "the allowed program did not run:\n{}", wr.log_tail(20));
}

/// Exec of a scripted app; its title changes, maximize / minimize / restore both ways (host
/// system commands and app or compositor requests), its pixels exactly, and close.
#[tokio::test(flavor = "current_thread")]
async fn exec_title_show_states_pixels_and_close() {
    require_programs!("true");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let commands = Commands::new(wr.runtime_dir(), "probe-commands");
    let args = format!("--title first --commands {}", commands.0.display());
    let mut client = connect(&wr, rail_client(Some((PROBE, &args)))).await;
    let window = compositor_window(&wr, &mut client, "of the probe", |w| w["title"] == "first").await;
    let id = id_of(&window);
    // Started in a session of its own (setsid), apart from wayrail's: it leads that session.
    let pid = window["pid"].as_i64().expect("the probe's pid");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the probe's /proc stat");
    let session: i64 = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(3)?.parse().ok()).unwrap();
    assert_eq!(session, pid, "the launched app is not in a session of its own: {stat}");
    let mut results = Vec::new();
    for _ in 0..100 {
        results = client.rail().unwrap().exec_results().into_iter().cloned().collect();
        if !results.is_empty() {
            break;
        }
        pump(&mut client, 50).await;
    }
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].result, ExecuteResult::Ok);

    // Announced with everything, and its pixels exactly.
    let w = host_window(&wr, &mut client, id, "announced", |w| w.title == "first").await;
    assert_eq!(w.window_size, PROBE_SIZE, "{w:?}");
    assert_eq!(w.client_size, PROBE_SIZE);
    assert_eq!(w.owner, 0);
    assert_eq!(w.show_state, Some(ShowState::Show));
    assert_eq!(
        (w.client_offset.0, w.client_offset.1),
        (window["x"].as_i64().unwrap() as i32, window["y"].as_i64().unwrap() as i32)
    );
    wait_solid(&wr, &mut client, id, GREEN).await;

    // The title changes: one update order with the new title.
    let orders_before = client.windowing_orders().len();
    commands.send("title second");
    host_window(&wr, &mut client, id, "retitled", |w| w.title == "second").await;
    match last_order_of(&client, id) {
        WindowingOrder::Window(o) => {
            assert!(!o.is_new, "{o:?}");
            let WindowOrderBody::State(s) = &o.body else { panic!("{o:?}") };
            assert_eq!(s.title.as_deref(), Some("second"));
            assert!(s.window_offset.is_none() && s.show_state.is_none(), "only the title changed: {s:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(client.windowing_orders().len() > orders_before);
    compositor_window(&wr, &mut client, "retitled", |w| id_of(w) == id && w["title"] == "second").await;

    // Host → compositor: maximize fills the host's work area, restore brings the size back.
    sys_command(&mut client, id, SystemCommand::Maximize).await;
    let (wx, wy, wr_, wb) = WORK_AREA;
    let work_area = (Some(wx as i64), Some(wy as i64), Some((wr_ - wx) as i64), Some((wb - wy) as i64));
    compositor_window(&wr, &mut client, "maximized into the work area", |w| {
        w["state"] == "maximized"
            && (w["x"].as_i64(), w["y"].as_i64(), w["width"].as_i64(), w["height"].as_i64()) == work_area
    })
    .await;
    let h = host_window(&wr, &mut client, id, "maximized", |w| {
        w.show_state == Some(ShowState::Maximized) && w.window_size == (1280, 760)
    })
    .await;
    assert_eq!(h.window_offset, (0, 0));
    wait_solid(&wr, &mut client, id, GREEN).await;
    sys_command(&mut client, id, SystemCommand::Restore).await;
    wait_state(&wr, &mut client, id, "normal").await;
    host_window(&wr, &mut client, id, "restored", |w| {
        w.show_state == Some(ShowState::Show) && w.window_size == PROBE_SIZE
    })
    .await;
    wait_solid(&wr, &mut client, id, GREEN).await;

    sys_command(&mut client, id, SystemCommand::Minimize).await;
    wait_state(&wr, &mut client, id, "minimized").await;
    host_window(&wr, &mut client, id, "minimized", |w| w.show_state == Some(ShowState::Minimized)).await;
    sys_command(&mut client, id, SystemCommand::Restore).await;
    wait_state(&wr, &mut client, id, "normal").await;
    host_window(&wr, &mut client, id, "restored", |w| w.show_state == Some(ShowState::Show)).await;

    // Compositor → host: `msg window ID maximize` and back.
    wr.window_op(id.into(), &["maximize"]);
    host_window(&wr, &mut client, id, "maximized by the compositor", |w| w.show_state == Some(ShowState::Maximized))
        .await;
    wr.window_op(id.into(), &["unmaximize"]);
    host_window(&wr, &mut client, id, "unmaximized by the compositor", |w| {
        w.show_state == Some(ShowState::Show) && w.window_size == PROBE_SIZE
    })
    .await;
    // The app asks (xdg_toplevel.set_maximized / set_minimized) and the host hears it.
    commands.send("maximize");
    host_window(&wr, &mut client, id, "maximized by the app", |w| w.show_state == Some(ShowState::Maximized)).await;
    wait_state(&wr, &mut client, id, "maximized").await;
    commands.send("unmaximize");
    host_window(&wr, &mut client, id, "unmaximized by the app", |w| w.show_state == Some(ShowState::Show)).await;
    commands.send("minimize");
    host_window(&wr, &mut client, id, "minimized by the app", |w| w.show_state == Some(ShowState::Minimized)).await;
    // Activating a minimized window on the host brings it back.
    client.send_rail(RailPdu::Activate(ActivatePdu { window_id: id, enabled: true })).await.unwrap();
    let back = wait_state(&wr, &mut client, id, "normal").await;
    host_window(&wr, &mut client, id, "shown again", |w| w.show_state == Some(ShowState::Show)).await;
    let active = wait_until(Duration::from_secs(5), || wr.window(id.into()).is_some_and(|w| w["activated"] == true));
    assert!(active, "activated from the host: {back}");

    // New pixels arrive exactly.
    commands.send("color 1060e0");
    wait_solid(&wr, &mut client, id, [0x10, 0x60, 0xe0]).await;

    // Close from the host: the app exits, the window is deleted.
    sys_command(&mut client, id, SystemCommand::Close).await;
    until(&wr, &mut client, "the delete order", |c| c.host_windows().deleted.contains(&id)).await;
    let gone = wait_until(Duration::from_secs(5), || wr.windows().is_empty());
    assert!(gone, "{}", Value::Array(wr.windows()));
    let h = client.host_windows();
    assert!(h.inconsistencies.is_empty(), "{:?}", h.inconsistencies);
    client.disconnect().await.unwrap();
}

/// Waits until no EGFX frame arrived for a while (the app holds still).
async fn wait_quiet(client: &mut TestClient) {
    let mut seen = client.frames_received();
    for _ in 0..40 {
        pump(client, 300).await;
        let n = client.frames_received();
        if n == seen && n > 0 {
            return;
        }
        seen = n;
    }
    panic!("the frames never stopped coming");
}

/// The surface mapped to window `id` (the newest mapping).
fn surface_of(client: &TestClient, id: u32) -> (u16, u64) {
    let gfx = client.gfx();
    let map = gfx.scaled_mapping_of(u64::from(id)).expect("a surface for the window");
    (map.surface_id, u64::from(map.mapped_width) * u64::from(map.mapped_height))
}

/// One character typed into foot is a small update, far smaller on the wire than the whole
/// window, which a new client gets when it connects.
#[tokio::test(flavor = "current_thread")]
async fn a_typed_character_is_a_small_update() {
    require_programs!("foot", "sh", "ls", "head");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    // Text all over the window, then a shell to type into.
    let exec = ("foot", "sh -c 'ls -l /usr/bin | head -n 100; exec sh'");
    let mut first = connect(&wr, rail_client(Some(exec))).await;
    let window = compositor_window(&wr, &mut first, "of foot", |w| w["app_id"] == "foot").await;
    let id = id_of(&window);
    host_window(&wr, &mut first, id, "announced", |_| true).await;
    wait_quiet(&mut first).await;
    first.disconnect().await.unwrap();

    // A new client gets the whole window once: the reference.
    let mut client = connect(&wr, rail_client(None)).await;
    host_window(&wr, &mut client, id, "announced again", |_| true).await;
    wait_quiet(&mut client).await;
    let (surface, whole) = surface_of(&client, id);
    let full = client
        .frame_records()
        .into_iter()
        .filter(|r| r.surfaces.contains(&surface))
        .max_by_key(|r| r.pixels)
        .expect("a frame for foot's window");
    assert!(full.pixels * 10 >= whole * 9, "the new client's frame covers the window: {full:?} of {whole} pixels");

    // Focus foot and type one character (the scancode of "x").
    client.send_rail(RailPdu::Activate(ActivatePdu { window_id: id, enabled: true })).await.unwrap();
    let deadline = std::time::Instant::now() + STEP;
    while !wr.window(id.into()).is_some_and(|w| w["activated"] == true) {
        assert!(std::time::Instant::now() < deadline, "foot was not activated from the host");
        pump(&mut client, 30).await;
    }
    wait_quiet(&mut client).await;
    let before = client.frame_records().len();
    press_key(&mut client, 0x2D).await;
    until(&wr, &mut client, "a frame after the key", |c| {
        c.frame_records()[before..].iter().any(|r| r.surfaces.contains(&surface))
    })
    .await;
    wait_quiet(&mut client).await;
    let typed: Vec<_> =
        client.frame_records()[before..].iter().filter(|r| r.surfaces.contains(&surface)).cloned().collect();
    let bytes: usize = typed.iter().map(|r| r.wire_bytes).sum();
    let pixels: u64 = typed.iter().map(|r| r.pixels).sum();
    eprintln!(
        "whole window: {} bytes for {} pixels; one character: {bytes} bytes for {pixels} pixels in {} frames",
        full.wire_bytes,
        full.pixels,
        typed.len()
    );
    assert!(pixels * 20 < whole, "one character repainted {pixels} of {whole} pixels: {typed:?}");
    assert!(
        bytes * 10 < full.wire_bytes,
        "one character cost {bytes} bytes on the wire, the whole window {}: {typed:?}",
        full.wire_bytes
    );
    client.disconnect().await.unwrap();
}

/// A disconnected RemoteApp client that comes back finds every window again: same ids and
/// titles, and their pixels.
#[tokio::test(flavor = "current_thread")]
async fn reconnecting_restores_every_window() {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let colors = ["e01010", "10e010", "1010e0", "e0e010", "10e0e0"];
    let probes: Vec<_> = colors
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let size = format!("{}x{}", 100 + 20 * i, 80 + 10 * i);
            wr.spawn_client(PROBE, &["--title", &format!("probe {i}"), "--color", c, "--size", &size], &[])
        })
        .collect();
    let mut ids = Vec::new();
    for p in &probes {
        ids.push(id_of(&wr.wait_for_toplevel_of(p, MAP_TIMEOUT)));
    }
    let rgb = |c: &str| {
        let v = u32::from_str_radix(c, 16).unwrap();
        [(v >> 16) as u8, (v >> 8) as u8, v as u8]
    };
    for round in 0..2 {
        let mut client = connect(&wr, rail_client(None)).await;
        for (i, &id) in ids.iter().enumerate() {
            let w =
                host_window(&wr, &mut client, id, &format!("round {round}"), |w| w.title == format!("probe {i}")).await;
            assert_eq!(w.window_size, (100 + 20 * i as u32, 80 + 10 * i as u32));
            wait_solid(&wr, &mut client, id, rgb(colors[i])).await;
        }
        let h = client.host_windows();
        assert_eq!(h.windows.keys().copied().collect::<Vec<_>>(), {
            let mut v = ids.clone();
            v.sort();
            v
        });
        assert!(h.inconsistencies.is_empty(), "{:?}", h.inconsistencies);
        assert!(h.active.is_some_and(|a| ids.contains(&a)), "an active window: {:?}", h.active);
        if round == 0 {
            client.disconnect().await.unwrap();
            let gone = wait_until(Duration::from_secs(10), || wr.log_text().contains("RDP client gone"));
            assert!(gone, "{}", wr.log_tail(10));
        }
    }
    assert_eq!(wr.windows().len(), colors.len());
}

/// Hundreds of malformed RAIL PDUs (aimed at a live window) and mutated frame
/// acknowledgements: wayrail stays up, answers, and serves the next client.
#[tokio::test(flavor = "current_thread")]
async fn malformed_rail_pdus_and_acks_do_not_take_wayrail_down() {
    let mut wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let probe = wr.spawn_client(PROBE, &["--title", "target"], &[]);
    let id = id_of(&wr.wait_for_toplevel_of(&probe, MAP_TIMEOUT));
    let mut client = connect(&wr, rail_client(None)).await;
    host_window(&wr, &mut client, id, "announced", |_| true).await;
    let rail_id = client.static_channel_id("rail").expect("rail joined");
    let seeds = rail_seeds(id);
    let mut rng = Rng(0xE2E0_0006);
    for round in 0..300 {
        let payload = mutated_rail(&mut rng, &seeds, id);
        if client.send_on_channel(rail_id, &raw::svc_chunk(&payload)).await.is_err() {
            panic!("round {round}: the connection broke on {payload:02x?}\n{}", wr.log_tail(20));
        }
        if round % 10 == 0 {
            pump(&mut client, 10).await;
            assert!(client.closed().is_none(), "round {round}: wayrail closed the session\n{}", wr.log_tail(20));
        }
    }
    let drdynvc = client.static_channel_id("drdynvc").expect("drdynvc joined");
    let gfx = client.gfx_channel_id().expect("graphics channel open");
    for round in 0..200 {
        let last = client.gfx().frames.last().copied().unwrap_or(0);
        let ack = mutated_ack(&mut rng, last, round % 40 == 39);
        if client.send_on_channel(drdynvc, &raw::svc_chunk(&raw::dvc_data(gfx, &ack))).await.is_err() {
            break; // a broken acknowledgement may end the session
        }
        if round % 10 == 0 {
            pump(&mut client, 10).await;
            if client.closed().is_some() {
                break;
            }
        }
    }
    drop(client);

    assert!(wr.is_running(), "wayrail died:\n{}", wr.log_tail(40));
    let version = wr.msg_json(&["version"]);
    assert!(version["version"].is_string(), "{version}");
    // A new client gets the window and its pixels (the probe may have been moved, sized,
    // maximized or closed by the noise: it is whatever the compositor says now).
    let mut client = connect(&wr, rail_client(None)).await;
    match wr.window(id.into()) {
        Some(w) => {
            eprintln!("after the noise: {w}");
            let title = w["title"].as_str().unwrap().to_string();
            host_window(&wr, &mut client, id, "after the noise", |h| h.title == title).await;
            if w["state"] != "minimized" {
                wait_solid(&wr, &mut client, id, GREEN).await;
            }
        }
        None => eprintln!("the noise closed the probe"),
    }
    assert!(client.rail().unwrap().handshake_done());
    client.disconnect().await.unwrap();
    assert!(wr.is_running());
    // Whatever sizes the noise asked for, no app was asked to be larger than a desktop can be.
    let log = probe.log_text();
    let sizes: Vec<(i64, i64)> = log
        .lines()
        .filter_map(|l| l.strip_prefix("configure "))
        .filter_map(|s| s.split_once('x'))
        .filter_map(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
        .collect();
    assert!(sizes.len() > 1, "the noise changed nothing: {log}");
    let too_big: Vec<_> = sizes.iter().filter(|(w, h)| *w > 8192 || *h > 8192).collect();
    assert!(too_big.is_empty(), "the app was asked for sizes no desktop has: {too_big:?}");
}

/// A GTK menu opened with a click from the host is a window of its own for the host: owned
/// by the app's window, a popup off the taskbar, placed where the compositor has it, with its
/// pixels; Escape deletes it.
#[tokio::test(flavor = "current_thread")]
async fn a_menu_is_an_owned_popup_window() {
    use wayrail_rdp_testclient::ironrdp_pdu::input::mouse::{MousePdu, PointerFlags};
    require_programs!("gtk3-demo-application");
    const WS_POPUP: u32 = 0x8000_0000;
    const WS_EX_TOOLWINDOW: u32 = 0x0000_0080;
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let (_app, window) = wr.spawn_mapped("gtk3-demo-application", &[]);
    let id = id_of(&window);
    let mut client = connect(&wr, rail_client(None)).await;
    host_window(&wr, &mut client, id, "announced", |w| w.title == "Application Class").await;
    let top =
        compositor_window(&wr, &mut client, "of gtk3-demo", |w| id_of(w) == id && w["title"] == "Application Class")
            .await;

    // Click "Preferences" (see rail_freerdp.rs) with the host's mouse, in desktop pixels.
    let (x, y) = ((top["x"].as_i64().unwrap() + 45) as u16, (top["y"].as_i64().unwrap() + 49) as u16);
    let mouse = |flags| {
        FastPathInputEvent::MouseEvent(MousePdu {
            flags,
            number_of_wheel_rotation_units: 0,
            x_position: x,
            y_position: y,
        })
    };
    client.send_rail(RailPdu::Activate(ActivatePdu { window_id: id, enabled: true })).await.unwrap();
    client
        .send_input(&[
            mouse(PointerFlags::MOVE),
            mouse(PointerFlags::LEFT_BUTTON | PointerFlags::DOWN),
            mouse(PointerFlags::LEFT_BUTTON),
        ])
        .await
        .unwrap();
    let popup = compositor_window(&wr, &mut client, "(the menu)", |w| {
        w["kind"] == "popup" && w["parent"].as_u64() == Some(id.into())
    })
    .await;
    let popup_id = id_of(&popup);
    let h = host_window(&wr, &mut client, popup_id, "announced", |_| true).await;
    assert_eq!(h.owner, id, "the menu is owned by the app's window: {h:?}");
    assert_ne!(h.style & WS_POPUP, 0, "{h:?}");
    assert_ne!(h.extended_style & WS_EX_TOOLWINDOW, 0, "{h:?}");
    // Wait for the final geometry, then compare: the window proper is where the compositor has it.
    wait_quiet(&mut client).await;
    let popup = wr.window(popup_id.into()).expect("the menu");
    let h = client.host_windows().windows[&popup_id].clone();
    let p = (popup["x"].as_i64().unwrap() as i32, popup["y"].as_i64().unwrap() as i32);
    let size = (popup["width"].as_i64().unwrap() as u32, popup["height"].as_i64().unwrap() as u32);
    assert_eq!((h.client_offset, h.client_size), (p, size), "{h:?} vs {popup}");
    assert!(p.1 > i32::from(y) && p.1 <= i32::from(y) + 30, "the menu {popup} is not right under the click at y {y}");
    let image = client.window_image(popup_id).expect("the menu's pixels");
    assert_eq!((u32::from(image.width), u32::from(image.height)), h.window_size);
    // Escape (sent to the focused app) closes it.
    press_key(&mut client, 0x01).await;
    until(&wr, &mut client, "the menu's delete order", |c| c.host_windows().deleted.contains(&popup_id)).await;
    assert!(client.host_windows().windows.contains_key(&id));
    assert!(client.host_windows().inconsistencies.is_empty(), "{:?}", client.host_windows().inconsistencies);
    client.disconnect().await.unwrap();
}
