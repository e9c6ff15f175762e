//! Frame pacing against the real wayrail, weston-simple-shm animating and the IronRDP test
//! client as the host: frames follow the client's acknowledgements up to `[rdp] max_fps`. A
//! client that acknowledges at once gets more than 60 frames a second under a ceiling of 120;
//! one that holds each acknowledgement back 100 ms gets about 10, the app draws about as
//! often (its frame callbacks wait for the acknowledgements), never more than one frame is in
//! flight, and once it acknowledges at once again it gets up to the default ceiling of 60;
//! when the app stops drawing, nothing at all happens. A large animation acknowledged late
//! streams, two frames in flight. In RemoteApp each window is paced on
//! its own: a window the host acknowledges late holds back that window alone.
//! The bounds are loose: the machine may be slow and busy.

use std::time::{Duration, Instant};

use wayrail_e2e::ironrdp::{connect_gfx, pump, until};
use wayrail_e2e::{require_programs, Client, Compositor, TempDir, MAP_TIMEOUT};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, GfxRedirHost, RailClient, SharedVailHost, TestClient};

const STEP: Duration = Duration::from_secs(15);
/// Small, so that a debug build composes and encodes simple-shm's window quickly.
const DESKTOP: (u16, u16) = (640, 480);
/// How long the rates are measured.
const MEASURE: Duration = Duration::from_secs(3);

/// wayrail with this config, a 640x480 output and weston-simple-shm animating (its Wayland
/// requests logged, to count its frames).
fn start(config: &str) -> (TempDir, Compositor, Client) {
    let dir = TempDir::new("wayrail-pacing");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let output = format!("{}x{}", DESKTOP.0, DESKTOP.1);
    let wr = Compositor::start_rdp(&["--output", &output, "--config", path.to_str().unwrap()]);
    let (shm, _) = spawn_shm(&wr);
    (dir, wr, shm)
}

/// One more weston-simple-shm, animating (its requests logged), and its window's id.
fn spawn_shm(wr: &Compositor) -> (Client, u64) {
    let shm = wr.spawn_client("weston-simple-shm", &[], &[("WAYLAND_DEBUG", "client")]);
    let window = wr.wait_for_toplevel_of(&shm, MAP_TIMEOUT);
    let id = window["id"].as_u64().unwrap_or_else(|| panic!("no id in {window}"));
    (shm, id)
}

/// How many times simple-shm committed its surface: its frames.
fn app_frames(shm: &Client) -> usize {
    shm.log_text().lines().filter(|l| l.contains("-> wl_surface") && l.ends_with(".commit()")).count()
}

/// The CPU time wayrail used so far (all its threads), in seconds.
fn cpu_seconds(wr: &Compositor) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", wr.pid())).unwrap();
    // utime and stime are fields 14 and 15; the command name before them may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// Frames per second at the client and at the app over [`MEASURE`] (after a second to
/// settle), and wayrail's CPU time per frame in ms (printed, not asserted).
async fn rates(wr: &Compositor, client: &mut TestClient, shm: &Client, what: &str) -> (f64, f64) {
    pump(client, 1000).await;
    client.reset_max_unacked();
    let (frames, commits, cpu, started) =
        (client.frames_and_presents(), app_frames(shm), cpu_seconds(wr), Instant::now());
    pump(client, MEASURE.as_millis() as u64).await;
    let secs = started.elapsed().as_secs_f64();
    let sent = client.frames_and_presents() - frames;
    let (client_fps, app_fps) = (sent as f64 / secs, (app_frames(shm) - commits) as f64 / secs);
    let cpu_ms = (cpu_seconds(wr) - cpu) * 1000.0 / sent.max(1) as f64;
    eprintln!(
        "{what}: {client_fps:.1} frames/s at the client, {app_fps:.1} at the app, wayrail {cpu_ms:.2} ms CPU a frame"
    );
    (client_fps, app_fps)
}

async fn connect(wr: &Compositor) -> TestClient {
    let opts = ClientOptions { size: DESKTOP, ..Default::default() };
    let client = connect_gfx(wr, ClientBuilder::new(opts), STEP).await;
    animating(wr, client).await
}

/// A RemoteApp client: simple-shm's window goes to it as a window of its own, in EGFX, or
/// with a `vail` host through shared memory (the client a VAIL host that acknowledges presents).
async fn connect_remote_app(wr: &Compositor, vail: Option<GfxRedirHost>) -> TestClient {
    let opts = ClientOptions { size: DESKTOP, remote_app: true, ..Default::default() };
    let mut rail = RailClient::new(None);
    rail.work_area = Some((0, 0, DESKTOP.0, DESKTOP.1 - 40));
    let mut builder = ClientBuilder::new(opts).with_static_channel(rail);
    if let Some(vail) = vail {
        builder = builder.with_dynamic_channel(vail);
    }
    let client = connect_gfx(wr, builder, STEP).await;
    animating(wr, client).await
}

/// A VAIL host for [`connect_remote_app`], and what it saw (and does).
fn vail_host(wr: &Compositor) -> (GfxRedirHost, SharedVailHost) {
    let host = GfxRedirHost::new(wr.runtime_dir().join("wayrail-shm"));
    let state = host.state();
    (host, state)
}

async fn animating(wr: &Compositor, mut client: TestClient) -> TestClient {
    until(wr, &mut client, STEP, "the first frame", |c| c.frames_and_presents() >= 1).await;
    pump(&mut client, 500).await;
    client
}

#[tokio::test(flavor = "current_thread")]
async fn a_fast_client_gets_more_than_60_frames_a_second_under_a_ceiling_of_120() {
    require_programs!("weston-simple-shm");
    let (_dir, wr, shm) = start("[rdp]\nmax_fps = 120\n");
    let mut client = connect(&wr).await;
    let refresh = wr.outputs()[0]["refresh"].as_f64();
    assert_eq!(refresh, Some(120.0), "the output's refresh is max_fps");
    let (client_fps, app_fps) = rates(&wr, &mut client, &shm, "max_fps 120, acks at once").await;
    assert!(client_fps > 75.0, "{client_fps:.1} frames/s at the client (app {app_fps:.1})\n{}", wr.log_tail(20));
    assert!(app_fps > 75.0, "{app_fps:.1} frames/s at the app (client {client_fps:.1})");
    assert!(client_fps < 135.0, "{client_fps:.1} frames/s: over the ceiling of 120");
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_acknowledges_late_gets_fewer_frames_and_the_app_draws_fewer() {
    require_programs!("weston-simple-shm");
    // The default ceiling.
    let (_dir, wr, shm) = start("");
    let mut client = connect(&wr).await;
    client.delay_acks(Some(Duration::from_millis(100)));
    let (client_fps, app_fps) = rates(&wr, &mut client, &shm, "acks 100 ms late").await;
    let in_flight = client.max_unacked();
    eprintln!("acks 100 ms late: at most {in_flight} frames in flight");
    // At most one frame a round trip of 100 ms (and a frame at either end of the window).
    assert!(client_fps <= 11.0, "{client_fps:.1} frames/s at the client for acks 100 ms late");
    assert!(client_fps >= 4.0, "{client_fps:.1} frames/s: the client is starved\n{}", wr.log_tail(20));
    // The app's frame callbacks wait for the acknowledgements: it draws about once a frame.
    assert!(app_fps <= 12.0, "the app drew {app_fps:.1} frames/s for {client_fps:.1} sent");
    assert!(app_fps >= 3.0, "the app drew {app_fps:.1} frames/s");
    assert!(in_flight <= 1, "{in_flight} frames in flight at once: frames queue for a slow client");

    // Acknowledging at once again, the rate comes back.
    client.delay_acks(None);
    let (client_fps, app_fps) = rates(&wr, &mut client, &shm, "acks at once again").await;
    assert!(client_fps > 30.0, "{client_fps:.1} frames/s after the client caught up (app {app_fps:.1})");
    assert!(client_fps < 68.0, "{client_fps:.1} frames/s: over the default ceiling of 60");
    assert_eq!(wr.outputs()[0]["refresh"].as_f64(), Some(60.0), "the default max_fps");

    // The app stops drawing: no frames, no timer, next to no CPU.
    shm.signal(libc::SIGSTOP);
    pump(&mut client, 500).await;
    let (frames, cpu) = (client.frames_and_presents(), cpu_seconds(&wr));
    pump(&mut client, 2000).await;
    let (frames, cpu) = (client.frames_and_presents() - frames, cpu_seconds(&wr) - cpu);
    eprintln!("idle for 2 s: {frames} frames, wayrail {:.0} ms CPU", cpu * 1000.0);
    assert_eq!(frames, 0, "frames without damage");
    assert!(cpu < 0.1, "wayrail used {:.0} ms CPU in 2 s with nothing to draw", cpu * 1000.0);
    shm.signal(libc::SIGCONT);
    client.disconnect().await.unwrap();
}

/// A large animation the client acknowledges late streams: two frames in flight, so that the
/// next frame is composed and encoded while the client decodes one, and about twice the
/// frames of one in flight (a small animation, above, keeps one). Acknowledged at once again,
/// the frames come back up to the ceiling.
#[tokio::test(flavor = "current_thread")]
async fn a_large_animation_acknowledged_late_streams_with_two_frames_in_flight() {
    let dir = TempDir::new("wayrail-pacing");
    let commands = dir.path().join("commands");
    let output = format!("{}x{}", DESKTOP.0, DESKTOP.1);
    let wr = Compositor::start_rdp(&["--output", &output]);
    // Most of the desktop, every pixel changing each frame (it draws every 16 ms).
    let args = ["--title", "large", "--size", "600x400", "--commands", commands.to_str().unwrap()];
    let probe = wr.spawn_client(env!("CARGO_BIN_EXE_wr-rail-probe"), &args, &[("WAYLAND_DEBUG", "client")]);
    wr.wait_for_toplevel_of(&probe, MAP_TIMEOUT);
    std::fs::write(&commands, "stripes\n").unwrap();
    let mut client = connect(&wr).await;
    client.delay_acks(Some(Duration::from_millis(100)));
    let (client_fps, _) = rates(&wr, &mut client, &probe, "a large animation, acks 100 ms late").await;
    let in_flight = client.max_unacked();
    eprintln!("at most {in_flight} frames in flight");
    assert_eq!(in_flight, 2, "{client_fps:.1} frames/s\n{}", wr.log_tail(20));
    // Two frames a round trip of 100 ms; one in flight would give at most 11.
    assert!((14.0..=22.0).contains(&client_fps), "{client_fps:.1} frames/s for acks 100 ms late");
    client.delay_acks(None);
    let (client_fps, _) = rates(&wr, &mut client, &probe, "acks at once again").await;
    assert!(client_fps > 30.0, "{client_fps:.1} frames/s after the client caught up");
    client.disconnect().await.unwrap();
}

/// The same in RemoteApp: the window's frames wait for the acknowledgement of the last one.
#[tokio::test(flavor = "current_thread")]
async fn a_remoteapp_client_that_acknowledges_late_gets_fewer_window_frames() {
    require_programs!("weston-simple-shm");
    let (_dir, wr, shm) = start("[rdp]\nmax_fps = 120\n");
    let mut client = connect_remote_app(&wr, None).await;
    let (client_fps, _) = rates(&wr, &mut client, &shm, "RemoteApp, acks at once").await;
    assert!(client_fps > 30.0, "{client_fps:.1} window frames/s\n{}", wr.log_tail(20));
    client.delay_acks(Some(Duration::from_millis(100)));
    let (client_fps, app_fps) = rates(&wr, &mut client, &shm, "RemoteApp, acks 100 ms late").await;
    let in_flight = client.max_unacked();
    assert!((4.0..=11.0).contains(&client_fps), "{client_fps:.1} window frames/s for acks 100 ms late");
    assert!((3.0..=12.0).contains(&app_fps), "the app drew {app_fps:.1} frames/s for {client_fps:.1} sent");
    assert!(in_flight <= 1, "{in_flight} window frames in flight at once");
    client.disconnect().await.unwrap();
}

/// And with VAIL, where the host's PresentBufferAck ends a frame.
#[tokio::test(flavor = "current_thread")]
async fn a_vail_host_that_acknowledges_presents_late_gets_fewer() {
    require_programs!("weston-simple-shm");
    let (_dir, wr, shm) = start("[rdp]\nmax_fps = 120\n");
    let (host, _) = vail_host(&wr);
    let mut client = connect_remote_app(&wr, Some(host)).await;
    let presents = || wr.msg_json(&["version"])["vail"]["presents"].as_u64().unwrap_or(0);
    let (before, _) = (presents(), rates(&wr, &mut client, &shm, "VAIL, acks at once").await);
    assert_eq!(wr.msg_json(&["version"])["transport"], "vail");
    assert!(presents() > before + 30, "VAIL presents: {before} -> {}\n{}", presents(), wr.log_tail(20));
    client.delay_acks(Some(Duration::from_millis(100)));
    let (_, app_fps) = rates(&wr, &mut client, &shm, "VAIL, acks 100 ms late").await;
    let in_flight = client.max_unacked();
    assert!(
        (3.0..=12.0).contains(&app_fps),
        "the app drew {app_fps:.1} frames/s for presents acknowledged 100 ms late"
    );
    assert!(in_flight <= 1, "{in_flight} presents in flight at once");
    client.disconnect().await.unwrap();
}

/// RemoteApp windows are paced one by one: a VAIL host that holds back the acknowledgements of
/// one window's presents holds back that window alone. It gets no present beyond the one in
/// flight and its app no frame callback, while the other window's presents and its app's
/// frames go on; once the host acknowledges, the first window goes on too.
#[tokio::test(flavor = "current_thread")]
async fn a_window_acknowledged_late_does_not_hold_back_another() {
    require_programs!("weston-simple-shm");
    let (_dir, wr, slow_app) = start("");
    let slow = wr.windows()[0]["id"].as_u64().expect("the first window's id");
    let (fast_app, fast) = spawn_shm(&wr);
    let (host, vail) = vail_host(&wr);
    let mut client = connect_remote_app(&wr, Some(host)).await;
    let presents = |id: u64| vail.lock().images.get(&id).map_or(0, |i| i.presents);
    let both = client.pump_until(STEP, |_| presents(slow) > 5 && presents(fast) > 5).await;
    both.unwrap_or_else(|e| panic!("presents of both windows: {e:#}\n{}", wr.log_tail(20)));

    vail.lock().hold_acks_of = Some(slow);
    pump(&mut client, 1000).await;
    let (slow_before, fast_before) = (presents(slow), presents(fast));
    let (slow_commits, fast_commits, started) = (app_frames(&slow_app), app_frames(&fast_app), Instant::now());
    pump(&mut client, MEASURE.as_millis() as u64).await;
    let secs = started.elapsed().as_secs_f64();
    let slow_presents = presents(slow) - slow_before;
    let fast_fps = (presents(fast) - fast_before) as f64 / secs;
    let slow_drew = app_frames(&slow_app) - slow_commits;
    let fast_app_fps = (app_frames(&fast_app) - fast_commits) as f64 / secs;
    eprintln!(
        "one window's acks held: it got {slow_presents} presents and drew {slow_drew} frames in {secs:.1} s; \
         the other {fast_fps:.1} presents/s, its app {fast_app_fps:.1} frames/s"
    );
    assert!(slow_presents == 0, "{slow_presents} presents of a window whose last present is not acknowledged");
    assert!(slow_drew <= 1, "the app of a window whose present is not acknowledged drew {slow_drew} frames");
    assert!(fast_fps > 15.0, "{fast_fps:.1} presents/s of the other window: held back\n{}", wr.log_tail(20));
    assert!(fast_app_fps > 15.0, "the other window's app drew {fast_app_fps:.1} frames/s: held back");

    let held = {
        let mut vail = vail.lock();
        vail.hold_acks_of = None;
        vail.take_held_acks()
    };
    assert_eq!(held.len(), 1, "one present of the held window in flight");
    client.send_gfxredir(held).await.unwrap();
    let resumed = client.pump_until(STEP, |_| presents(slow) > slow_before + 10).await;
    resumed.unwrap_or_else(|e| panic!("the held window after its ack: {e:#}\n{}", wr.log_tail(20)));
    client.disconnect().await.unwrap();
}
