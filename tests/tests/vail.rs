//! VAIL end to end: wayrail with the IronRDP test client as a host that speaks gfxredir (as
//! WSL's does). Windows of real apps — foot and weston-simple-damage on Wayland, xterm on X11 —
//! reach the host through the pool files alone: what the host rebuilds from the pools is
//! wayrail's own render of each window to the byte, no window gets an EGFX surface or a
//! single surface command, a typed character moves a small rectangle, and the files go with
//! their windows and the session. A host that misbehaves on the channel hurts nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wayrail_e2e::ironrdp::{self, compositor_window, pump};
use wayrail_e2e::{require_programs, wait_until, Client, Compositor, Value};
use wayrail_rdp_testclient::{
    ClientBuilder, ClientOptions, GfxRedirHost, Misbehave, RailClient, SharedVailHost, TestClient,
};

const STEP: Duration = Duration::from_secs(20);
/// The title bar wayrail draws above server-side decorated windows, in logical pixels.
const TITLE_BAR: u32 = 28;

fn pool_dir(wr: &Compositor) -> PathBuf {
    wr.runtime_dir().join("wayrail-shm")
}

/// The pool files in the folder now.
fn pool_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with('{')).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// A RemoteApp host with gfxredir, connected, its caps confirmed.
async fn connect(wr: &Compositor, misbehave: Misbehave) -> (TestClient, SharedVailHost) {
    let host = GfxRedirHost::new(pool_dir(wr));
    let state = host.state();
    state.lock().misbehave = misbehave;
    let opts = ClientOptions { size: (1280, 800), remote_app: true, ..Default::default() };
    let builder = ClientBuilder::new(opts).with_static_channel(RailClient::new(None)).with_dynamic_channel(host);
    let mut client = ironrdp::connect_gfx(wr, builder, STEP).await;
    let confirmed = client.pump_until(STEP, |_| state.lock().confirmed.is_some()).await;
    confirmed.unwrap_or_else(|e| panic!("gfxredir caps not confirmed: {e:#}\n{}", wr.log_tail(30)));
    (client, state)
}

fn id_of(w: &Value) -> u64 {
    w["id"].as_u64().unwrap_or_else(|| panic!("no id in {w}"))
}

/// Straight-alpha RGBA of the host's premultiplied BGRA, as wayrail's screenshots convert.
fn host_rgba(bgra: &[u8]) -> Vec<u8> {
    bgra.chunks_exact(4)
        .flat_map(|p| {
            let a = p[3] as u32;
            let un = |c: u8| (c as u32 * 255 + a / 2).checked_div(a).map_or(0, |v| v.min(255) as u8);
            [un(p[2]), un(p[1]), un(p[0]), p[3]]
        })
        .collect()
}

/// Stops `app` (so it draws no more), then waits until the host shows exactly what wayrail
/// renders of its window.
async fn assert_host_shows_wayrails_render(
    wr: &Compositor,
    client: &mut TestClient,
    host: &SharedVailHost,
    app: &Client,
    id: u64,
    name: &str,
) {
    app.signal(libc::SIGSTOP);
    let shot = wr.runtime_dir().join(format!("vail-{id}.png"));
    let mut last = String::new();
    let same = {
        let mut tries = 0;
        loop {
            pump(client, 300).await;
            let (image, _) = wr.screenshot_window(id, &shot);
            let host = host.lock();
            match host.images.get(&id) {
                Some(h) if (h.width, h.height) == (image.width, image.height) => {
                    let rgba = host_rgba(&h.bgra);
                    let differ = rgba.chunks_exact(4).zip(image.rgba.chunks_exact(4)).filter(|(a, b)| a != b).count();
                    if differ == 0 {
                        break true;
                    }
                    last = format!("{differ} of {} pixels differ", image.width * image.height);
                }
                Some(h) => last = format!("host {}x{}, wayrail {}x{}", h.width, h.height, image.width, image.height),
                None => last = "no picture on the host".into(),
            }
            tries += 1;
            if tries > 40 {
                break false;
            }
        }
    };
    app.signal(libc::SIGCONT);
    assert!(same, "{name}: the host's picture is not wayrail's render ({last})\n{}", wr.log_tail(30));
}

/// What wayrail says it copied into VAIL pools so far.
fn vail_bytes_copied(wr: &Compositor) -> u64 {
    let version = wr.msg_json(&["version"]);
    version["vail"]["bytes_copied"].as_u64().unwrap_or_else(|| panic!("no VAIL counter: {version}"))
}

/// Window frames wayrail wrote into pools straight from a client's buffer, uncomposed.
fn vail_direct_copies(wr: &Compositor) -> u64 {
    let version = wr.msg_json(&["version"]);
    version["vail"]["direct_copies"].as_u64().unwrap_or_else(|| panic!("no direct copy counter: {version}"))
}

/// A window that is one wl_shm surface drawn pixel for pixel goes from the client's buffer
/// into its pool with no composition: the direct copies grow, the host still shows wayrail's
/// own render to the byte, and only the damage is copied. That holds below a title bar too
/// (foot: the bar is composed, the content copied). A window that needs composition (a
/// viewport: simple-damage with wp_viewport) takes none.
/// weston-simple-damage with `args`, once the host has shown more than 10 of its frames: the
/// client and its window's id.
async fn simple_damage_on_the_host(
    wr: &Compositor,
    client: &mut TestClient,
    host: &SharedVailHost,
    args: &[&str],
) -> (Client, u64) {
    let app = wr.spawn_client("weston-simple-damage", args, &[]);
    let w = compositor_window(wr, client, "of simple-damage", |w| w["title"] == "simple-damage").await;
    let id = id_of(&w);
    client
        .pump_until(STEP, |_| host.lock().images.get(&id).is_some_and(|i| i.presents > 10))
        .await
        .unwrap_or_else(|e| panic!("weston-simple-damage {args:?} does not animate on the host: {e:?}"));
    (app, id)
}

#[tokio::test(flavor = "current_thread")]
async fn a_plain_shm_window_goes_from_its_buffer_straight_to_the_pool() {
    require_programs!("foot", "weston-simple-damage");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let (mut client, host) = connect(&wr, Misbehave::default()).await;
    let (scaled, _) = simple_damage_on_the_host(&wr, &mut client, &host, &["--use-viewport"]).await;
    assert_eq!(vail_direct_copies(&wr), 0, "a window with a viewport was not composed");
    drop(scaled);
    wr.wait_for_no_window(STEP, "of simple-damage", |w| w["title"] == "simple-damage");

    let (plain, id) = simple_damage_on_the_host(&wr, &mut client, &host, &[]).await;
    let direct = vail_direct_copies(&wr);
    assert!(direct > 0, "the plain wl_shm window was composed, not copied from its buffer\n{}", wr.log_tail(20));
    assert_host_shows_wayrails_render(&wr, &mut client, &host, &plain, id, "weston-simple-damage (direct)").await;

    // The ball moves: only where it was and is gets copied, at most twice what is presented.
    let presents_before = host.lock().presents.len();
    let copied_before = vail_bytes_copied(&wr);
    pump(&mut client, 1500).await;
    plain.signal(libc::SIGSTOP);
    pump(&mut client, 300).await;
    let copied = vail_bytes_copied(&wr) - copied_before;
    {
        let h = host.lock();
        let image = &h.images[&id];
        let presented: u64 =
            h.presents[presents_before..].iter().map(|p| 4 * p.dirty.width as u64 * p.dirty.height as u64).sum();
        let frames = h.presents.len() - presents_before;
        assert!(frames > 5 && vail_direct_copies(&wr) > direct, "{frames} presents, direct copies stalled");
        assert!(copied > 0 && copied <= 2 * presented, "copied {copied} bytes into pools to present {presented}");
        let whole = 4 * image.width as u64 * image.height as u64;
        assert!(copied < whole * frames as u64 / 2, "{copied} bytes for {frames} frames of a {whole}-byte window");
        println!("direct: {frames} presents, {copied} bytes copied, {presented} presented, window {whole} bytes");
    }

    // foot, under the title bar wayrail draws into its image: a typed character goes direct,
    // and the host shows wayrail's render, bar and all.
    let foot = wr.spawn_client("foot", &["-o", "font=monospace:size=10", "sh"], &[]);
    let foot_w = compositor_window(&wr, &mut client, "of foot", |w| w["app_id"] == "foot").await;
    let foot_id = id_of(&foot_w);
    wr.window_op(foot_id, &["focus"]);
    client.pump_until(STEP, |_| host.lock().images.contains_key(&foot_id)).await.expect("a picture of foot");
    pump(&mut client, 500).await;
    let (direct, copied_before) = (vail_direct_copies(&wr), vail_bytes_copied(&wr));
    let presents_before = host.lock().presents.len();
    wr.type_text("x");
    client
        .pump_until(STEP, |_| vail_direct_copies(&wr) > direct)
        .await
        .unwrap_or_else(|e| panic!("typing in foot took no direct copy: {e:#}\n{}", wr.log_tail(20)));
    pump(&mut client, 500).await;
    let copied = vail_bytes_copied(&wr) - copied_before;
    let presented: u64 =
        host.lock().presents[presents_before..].iter().map(|p| 4 * p.dirty.width as u64 * p.dirty.height as u64).sum();
    assert!(copied > 0 && copied <= 2 * presented, "foot: copied {copied} bytes into pools to present {presented}");
    assert_host_shows_wayrails_render(&wr, &mut client, &host, &foot, foot_id, "foot (direct below the bar)").await;
    plain.signal(libc::SIGCONT);
}

/// `wayrail msg frames` times each frame presented through VAIL: from the app's commit to the
/// PresentBuffer written, and within that from the frame clock's tick. An app that draws on
/// its frame callbacks commits just before its next frame may go, so its frames go out a few
/// milliseconds after it committed, not a refresh interval later.
#[tokio::test(flavor = "current_thread")]
async fn presents_are_timed_from_the_commit() {
    require_programs!("weston-simple-damage");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let (mut client, host) = connect(&wr, Misbehave::default()).await;
    let (_app, id) = simple_damage_on_the_host(&wr, &mut client, &host, &[]).await;
    // A second of animation: about 60 frames.
    pump(&mut client, 1000).await;
    let shown = host.lock().images[&id].presents;
    let times = wr.msg_json(&["frames"]);
    let vail = &times["vail"];
    let list = |key: &str| -> Vec<u64> {
        vail[key].as_array().unwrap_or_else(|| panic!("no {key}: {times}")).iter().filter_map(|v| v.as_u64()).collect()
    };
    let (frames, from_commit, from_tick) =
        (vail["frames"].as_u64().unwrap_or(0), list("last_us"), list("last_after_tick_us"));
    assert!(frames >= shown, "{frames} frames timed, {shown} presented");
    assert_eq!(from_commit.len() as u64, frames.min(times["kept"].as_u64().unwrap_or(0)), "{times}");
    assert_eq!(from_tick.len(), from_commit.len());
    println!(
        "{frames} frames timed, {shown} presented; the newest: {:?} µs from the commit",
        &from_commit[from_commit.len().saturating_sub(5)..]
    );
    for (commit, tick) in from_commit.iter().zip(&from_tick) {
        assert!(tick <= commit && *commit < 10_000_000, "{commit} µs from the commit, {tick} µs from the tick");
    }
    // Frame callbacks released at the host's ack instead would have the commit wait out most
    // of the 16.7 ms interval on the frame clock (15 to 16 ms each); here the app has a quarter
    // of the interval to draw, and its frame goes when that is over (about 4 ms).
    let mut sorted = from_commit.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    assert!(sorted.len() >= 20 && median < 8_000, "commit → present: median {median} µs of {sorted:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn windows_reach_the_host_through_shared_memory_only() {
    require_programs!("foot", "weston-simple-damage", "xterm", "Xwayland");
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--xwayland", "lazy"]);
    let (mut client, host) = connect(&wr, Misbehave::default()).await;
    let version = wr.msg_json(&["version"]);
    assert_eq!(version["transport"], "vail", "{version}");

    let foot = wr.spawn_client("foot", &["-o", "font=monospace:size=10", "sh"], &[]);
    let damage = wr.spawn_client("weston-simple-damage", &[], &[]);
    let xterm = wr.spawn_x11_client("xterm", &["-title", "vail-xterm"]);
    let foot_w = compositor_window(&wr, &mut client, "of foot", |w| w["app_id"] == "foot").await;
    let damage_w = compositor_window(&wr, &mut client, "of simple-damage", |w| w["title"] == "simple-damage").await;
    let xterm_w = compositor_window(&wr, &mut client, "of xterm", |w| w["title"] == "vail-xterm").await;
    for (app, w, name) in
        [(&foot, &foot_w, "foot"), (&damage, &damage_w, "weston-simple-damage"), (&xterm, &xterm_w, "xterm")]
    {
        assert_host_shows_wayrails_render(&wr, &mut client, &host, app, id_of(w), name).await;
    }
    let gfx = client.gfx();
    assert!(gfx.updates.is_empty(), "EGFX surface commands were sent: {:?}", &gfx.updates[..gfx.updates.len().min(5)]);
    assert!(gfx.mapped_to_window.is_empty() && gfx.mapped_to_scaled_window.is_empty(), "a window got an EGFX surface");
    let problems = host.lock().problems.clone();
    assert!(problems.is_empty(), "the host saw protocol errors: {problems:?}");

    // One character in foot: a small rectangle presented, not the window, and wayrail copies
    // into the pool no more than twice what it presents (its own count). The animation
    // stands still meanwhile, so every copy is the character's.
    let foot_id = id_of(&foot_w);
    damage.signal(libc::SIGSTOP);
    // Focus first: a focus change redraws the title bars in the window images.
    wr.window_op(foot_id, &["focus"]);
    pump(&mut client, 300).await;
    let before = host.lock().images[&foot_id].presents;
    let presents_before = host.lock().presents.len();
    let copied_before = vail_bytes_copied(&wr);
    wr.type_text("x");
    client.pump_until(STEP, |_| host.lock().images[&foot_id].presents > before).await.expect("a present after typing");
    pump(&mut client, 500).await;
    let copied = vail_bytes_copied(&wr) - copied_before;
    damage.signal(libc::SIGCONT);
    {
        let h = host.lock();
        let image = &h.images[&foot_id];
        let typed: Vec<_> =
            h.presents.iter().filter(|p| p.window_id == foot_id).skip(before as usize).map(|p| p.dirty).collect();
        let window_area = image.width as u64 * image.height as u64;
        for dirty in &typed {
            let area = dirty.width as u64 * dirty.height as u64;
            assert!(
                area * 20 < window_area,
                "a typed character presented {dirty:?} of a {}x{} window",
                image.width,
                image.height
            );
        }
        let presented: u64 =
            h.presents[presents_before..].iter().map(|p| 4 * p.dirty.width as u64 * p.dirty.height as u64).sum();
        assert!(copied > 0 && copied <= 2 * presented, "copied {copied} bytes into pools to present {presented}");
        println!("a typed character: {copied} bytes copied, {presented} bytes presented ({typed:?})");
    }

    // Closing a window removes its pool; the session's end removes them all.
    let dir = pool_dir(&wr);
    let with_all = pool_files(&dir);
    assert_eq!(with_all.len(), 3, "one pool a window: {with_all:?}");
    drop(damage);
    wr.wait_for_no_window(STEP, "of simple-damage", |w| w["title"] == "simple-damage");
    client.pump_until(STEP, |_| pool_files(&dir).len() == 2).await.expect("the closed window's pool is gone");
    let opened = host.lock().opened.clone();
    assert!(opened.iter().all(|n| n.len() == 38), "{opened:?}");
    client.disconnect().await.expect("disconnecting");
    assert!(wait_until(STEP, || pool_files(&dir).is_empty()), "pools left after the session: {:?}", pool_files(&dir));
    drop((foot, xterm));
}

/// A new size means a new pool under a new name; the old one goes.
#[tokio::test(flavor = "current_thread")]
async fn a_resized_window_gets_a_new_pool() {
    require_programs!("foot");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let (mut client, host) = connect(&wr, Misbehave::default()).await;
    let _foot = wr.spawn_client("foot", &["sh"], &[]);
    let w = compositor_window(&wr, &mut client, "of foot", |w| w["app_id"] == "foot").await;
    let id = id_of(&w);
    client.pump_until(STEP, |_| host.lock().images.contains_key(&id)).await.expect("a picture");
    let dir = pool_dir(&wr);
    let first = pool_files(&dir);
    assert_eq!(first.len(), 1);
    wr.window_op(id, &["resize", "500", "300"]);
    // foot asks for server-side decorations: its picture has the title bar above the 500x300.
    let size = (500, 300 + TITLE_BAR);
    client
        .pump_until(STEP, |_| host.lock().images.get(&id).is_some_and(|i| (i.width, i.height) == size))
        .await
        .unwrap_or_else(|e| panic!("no {size:?} picture: {e:#}\n{}", wr.log_tail(20)));
    let now = pool_files(&dir);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first, "the resized window kept its pool's name");
    assert!(host.lock().problems.is_empty(), "{:?}", host.lock().problems);
}

/// Lying lengths, unknown ids, acks for nothing and garbage on the channel: wayrail stays up
/// and the window keeps being shown.
#[tokio::test(flavor = "current_thread")]
async fn a_misbehaving_host_hurts_nothing() {
    require_programs!("weston-simple-damage");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let misbehave = Misbehave { lying_lengths: true, acks_for_nothing: true, ..Default::default() };
    let (mut client, host) = connect(&wr, misbehave).await;
    let _app = wr.spawn_client("weston-simple-damage", &[], &[]);
    let w = compositor_window(&wr, &mut client, "of simple-damage", |w| w["title"] == "simple-damage").await;
    let id = id_of(&w);
    let garbage: Vec<Vec<u8>> =
        vec![vec![], vec![0xff; 3], vec![0x0f, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f], vec![0xA5; 200]];
    client.send_gfxredir(garbage).await.expect("sending garbage");
    // It keeps animating: presents keep coming, each acked once.
    client
        .pump_until(STEP, |_| host.lock().images.get(&id).is_some_and(|i| i.presents > 20))
        .await
        .expect("presents go on");
    assert!(wr.msg_json(&["version"])["transport"] == "vail");
    drop(client);
    // A plain host afterwards is served.
    host.lock().misbehave = Misbehave::default();
    let (mut again, host2) = connect(&wr, Misbehave::default()).await;
    again
        .pump_until(STEP, |_| host2.lock().images.get(&id).is_some_and(|i| i.presents > 3))
        .await
        .expect("a new session shows it");
}

/// The pools of a wayrail killed with -9 stay behind (nothing could remove them); the next
/// start in the same folder removes them, and leaves files that are no pools alone.
#[tokio::test(flavor = "current_thread")]
async fn pools_of_a_killed_wayrail_go_at_the_next_start() {
    require_programs!("foot");
    let dir = wayrail_e2e::TempDir::new("vail-pools");
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, b"not a pool").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[vail]\ndir = \"{}\"\n", dir.path().display())).unwrap();
    let args = ["--output", "1280x800", "--config", config.to_str().unwrap()];
    let mut wr = Compositor::start_rdp(&args);
    let host = GfxRedirHost::new(dir.path());
    let state = host.state();
    let opts = ClientOptions { size: (1280, 800), remote_app: true, ..Default::default() };
    let builder = ClientBuilder::new(opts).with_static_channel(RailClient::new(None)).with_dynamic_channel(host);
    let mut client = ironrdp::connect_gfx(&wr, builder, STEP).await;
    let _foot = wr.spawn_client("foot", &["sh"], &[]);
    client.pump_until(STEP, |_| !state.lock().images.is_empty()).await.expect("a window through VAIL");
    assert_eq!(pool_files(dir.path()).len(), 1);
    wr.signal(libc::SIGKILL);
    assert!(wr.wait_exit(STEP).is_some(), "wayrail did not die");
    drop(client);
    assert_eq!(pool_files(dir.path()).len(), 1, "a killed wayrail cannot remove its pool");
    let wr = Compositor::start_rdp(&args);
    assert!(pool_files(dir.path()).is_empty(), "a stale pool was left:\n{}", wr.log_tail(20));
    assert!(foreign.exists(), "a file that is no pool was removed");
}
