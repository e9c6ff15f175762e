//! `wr-rail-bench [--frames N] [--app-secs S]`: RemoteApp (RAIL) figures against a real
//! `wayrail --backend rdp` (the `wayrail` next to this binary, or `$WAYRAIL_BIN`) with the
//! IronRDP test client as the host. Not a test: it asserts nothing. `scripts/bench.sh` runs it.
//! It prints a header (date, revision, CPUs, build, load average), then two tables.
//!
//! 1. EGFX, per kind of change a probe window (800x600) makes: commits, frames, frames that
//!    carried several commits / none (`coal/unm`), the latency from the probe's
//!    `wl_surface.commit` to the arrival of the EGFX EndFrame that carries it at the client
//!    (both processes read the same `CLOCK_MONOTONIC`; p50, p99, max; frames carrying exactly
//!    one commit), bytes on the wire per frame (p50, mean, max) and the pixels a frame covered.
//!    The changes: a 16x16 square moving one step (like a typed character) every 50 ms (N of
//!    them), the whole window repainted with a new colour, and with noise (the worst case for
//!    any codec).
//! 2. The transports side by side (`transports`): EGFX, VAIL and VAIL copying the whole window
//!    as WSLg does, each through the probe's square and whole-window changes and then real
//!    apps for S seconds each (`apps`: typing in foot, weston-simple-shm): frames, commit →
//!    frame written to the socket timed inside wayrail (`wayrail msg frames`), commit → frame
//!    taken in by the client (probe only), bytes per frame and wayrail's CPU per frame.
//!
//! The probe is this binary again (`wr-rail-bench --probe --commands FILE`): it reads phases
//! (`small N MS`, `full N MS`, `noise N MS`, `quit`) from lines appended to FILE and prints
//! `commit KIND SEQ NANOSECONDS` for each commit and `done KIND` after a phase.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use wayrail_e2e::{Client, Compositor, Value, MAP_TIMEOUT};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, GfxRedirHost, RailClient, SharedVailHost, TestClient};
use wayrail_testclient::report::{self, load_average};

mod apps;
mod transports;

const WIDTH: i32 = 800;
const HEIGHT: i32 = 600;
const TITLE: &str = "wr-rail-bench";
const STEP: Duration = Duration::from_secs(15);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--probe") {
        return probe::run(&args[1..]);
    }
    let usage = "usage: wr-rail-bench [--frames N] [--app-secs S]   (N small changes, 50 ms apart, \
                 default 200; S seconds of each real app per transport, default 10)";
    // `--app-secs S` apart, the rest for `--frames` (and `--help`).
    let at = args.iter().position(|a| a == "--app-secs");
    let (rest, secs): (Vec<String>, Vec<String>) = match at {
        Some(i) => {
            let secs = args[i..args.len().min(i + 2)].to_vec();
            (args.iter().enumerate().filter(|(j, _)| *j < i || *j >= i + 2).map(|(_, a)| a.clone()).collect(), secs)
        }
        None => (args, Vec::new()),
    };
    let Some(frames) = report::count_option(&rest, "--frames", 200, usage)? else { return Ok(()) };
    let Some(app_secs) = report::count_option(&secs, "--app-secs", 10, usage)? else { return Ok(()) };
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
        bench(frames).await?;
        transports::compare(frames, app_secs as u64).await
    })
}

/// `CLOCK_MONOTONIC` in nanoseconds.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Maps `Instant`s to `CLOCK_MONOTONIC` nanoseconds (on Linux `Instant` is that clock; the
/// pair read together fixes the offset to within a microsecond).
struct Clock {
    instant: Instant,
    ns: u64,
}

impl Clock {
    fn now() -> Clock {
        let instant = Instant::now();
        Clock { instant, ns: monotonic_ns() }
    }

    fn ns(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.instant) {
            Some(d) => self.ns + d.as_nanos() as u64,
            None => self.ns.saturating_sub(self.instant.duration_since(t).as_nanos() as u64),
        }
    }
}

/// What one phase measured.
#[derive(Default)]
struct Phase {
    commits: usize,
    frames: usize,
    /// Frames that carried more than one commit, and how many commits they carried.
    coalesced: usize,
    coalesced_commits: usize,
    /// Frames for the window that came before any commit was left to match.
    unmatched: usize,
    /// Commit → EndFrame, in ms, of frames that carried exactly one commit.
    latency_ms: Vec<f64>,
    /// Bytes on the wire and pixels of the frames that carried exactly one commit.
    bytes: Vec<usize>,
    pixels: Vec<u64>,
}

fn quantile<T: Copy + PartialOrd>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    Some(sorted[((sorted.len() - 1) as f64 * q).round() as usize])
}

fn sorted<T: Copy + PartialOrd>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
}

impl Phase {
    /// Matches commits (ns, in order) to the window's frames (arrival ns, bytes, pixels).
    fn of(commits: &[u64], frames: &[(u64, usize, u64)]) -> Phase {
        let mut p = Phase { commits: commits.len(), frames: frames.len(), ..Default::default() };
        let mut next = 0;
        for &(arrived, bytes, pixels) in frames {
            let first = next;
            while next < commits.len() && commits[next] <= arrived {
                next += 1;
            }
            match next - first {
                0 => p.unmatched += 1,
                1 => {
                    p.latency_ms.push((arrived - commits[first]) as f64 / 1e6);
                    p.bytes.push(bytes);
                    p.pixels.push(pixels);
                }
                n => {
                    p.coalesced += 1;
                    p.coalesced_commits += n;
                }
            }
        }
        p
    }

    fn row(&self, name: &str) {
        let lat = sorted(&self.latency_ms);
        let ms = |q: f64| quantile(&lat, q).map_or_else(|| "-".into(), |v| format!("{v:.2}"));
        let bytes = sorted(&self.bytes);
        let mean = if bytes.is_empty() { 0 } else { bytes.iter().sum::<usize>() / bytes.len() };
        let b = |q: f64| quantile(&bytes, q).map_or_else(|| "-".into(), |v| v.to_string());
        let px = quantile(&sorted(&self.pixels), 0.5).map_or_else(|| "-".into(), |v| v.to_string());
        println!(
            "{name:<28} {:>7} {:>6} {:>9} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
            self.commits,
            self.frames,
            format!("{}/{}", self.coalesced, self.unmatched),
            ms(0.5),
            ms(0.99),
            ms(1.0),
            b(0.5),
            mean,
            b(1.0),
            px,
        );
    }
}

/// Everything the benchmark runs; dropped (killed, reaped, removed) on any exit.
struct Session {
    // Fields drop in order: the probe before the compositor, whose directory goes last.
    probe: Option<Client>,
    wr: Compositor,
    commands: std::path::PathBuf,
    transport: Transport,
}

impl Session {
    fn send(&self, line: &str) -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.commands)?;
        writeln!(f, "{line}")?;
        Ok(())
    }

    fn probe_log(&self) -> String {
        self.probe.as_ref().map(Client::log_text).unwrap_or_default()
    }
}

/// Where the probe window's frames arrive at the host: an EGFX surface, or a VAIL pool.
enum Sink {
    Egfx { surface: u16 },
    Vail { host: SharedVailHost, window: u64 },
}

impl Sink {
    /// How many frames of any window arrived so far (for "the windows hold still").
    fn count(&self, client: &TestClient) -> usize {
        match self {
            Sink::Egfx { .. } => client.frames_received(),
            Sink::Vail { host, .. } => host.lock().presents.len(),
        }
    }

    /// The probe window's frames after the first `from` of [`Sink::count`]: arrival
    /// (`CLOCK_MONOTONIC` ns), bytes (on the wire for EGFX, presented for VAIL), pixels.
    fn frames(&self, client: &TestClient, clock: &Clock, from: usize) -> Vec<(u64, usize, u64)> {
        match self {
            Sink::Egfx { surface } => client.frame_records()[from..]
                .iter()
                .filter(|r| r.surfaces.contains(surface))
                .filter_map(|r| Some((clock.ns(r.arrived?), r.wire_bytes, r.pixels)))
                .collect(),
            Sink::Vail { host, window } => {
                let h = host.lock();
                h.presents[from..]
                    .iter()
                    .zip(&h.present_arrivals[from..])
                    .filter(|(p, _)| p.window_id == *window)
                    .map(|(p, at)| {
                        let pixels = u64::from(p.dirty.width) * u64::from(p.dirty.height);
                        (clock.ns(*at), 4 * pixels as usize, pixels)
                    })
                    .collect()
            }
        }
    }

    /// The gfxredir host's state, for VAIL.
    fn vail_host(&self) -> Option<SharedVailHost> {
        match self {
            Sink::Egfx { .. } => None,
            Sink::Vail { host, .. } => Some(host.clone()),
        }
    }

    /// Where the frame records start now: [`Sink::frames`]'s `from`.
    fn mark(&self, client: &TestClient) -> usize {
        match self {
            Sink::Egfx { .. } => client.frame_records().len(),
            Sink::Vail { host, .. } => host.lock().presents.len(),
        }
    }
}

/// How the host takes the probe window's pixels.
#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Egfx,
    Vail,
    /// VAIL with wayrail redrawing and copying the whole window each frame, as WSLg does.
    VailWholeWindow,
}

/// A wayrail, the IronRDP test client connected in RemoteApp (with a gfxredir host for
/// VAIL), and the probe's window mapped on the host.
async fn start(transport: Transport) -> anyhow::Result<(Session, TestClient, Sink)> {
    let (mut s, mut client, vail) = connect(transport).await?;
    let exe = std::env::current_exe()?;
    let exe = exe.to_str().context("a UTF-8 path")?;
    let commands = s.commands.to_str().context("a UTF-8 path")?.to_string();
    s.probe = Some(s.wr.spawn_client(exe, &["--probe", "--commands", &commands], &[]));

    // The window, as the compositor and then the host know it, with its surface or pool.
    let deadline = Instant::now() + MAP_TIMEOUT;
    let id = loop {
        if let Some(w) = s.wr.windows().into_iter().find(|w| w["title"] == TITLE) {
            break w["id"].as_u64().context("a window id")? as u32;
        }
        if Instant::now() > deadline {
            bail!("the probe's window never mapped:\n{}\n{}", s.probe_log(), s.wr.log_tail(20));
        }
        pump(&mut client, 30).await?;
    };
    let size = Some((WIDTH as u32, HEIGHT as u32));
    let sink = on_host(&mut client, vail, id, size).await?;
    wait_quiet(&mut client, &sink).await?;
    Ok((s, client, sink))
}

/// A wayrail and the IronRDP test client connected in RemoteApp, with the gfxredir host's
/// state for VAIL.
async fn connect(transport: Transport) -> anyhow::Result<(Session, TestClient, Option<SharedVailHost>)> {
    let config = std::env::temp_dir().join(format!("wr-rail-bench-{}.toml", std::process::id()));
    let whole = transport == Transport::VailWholeWindow;
    std::fs::write(&config, format!("[vail]\nwhole_window = {whole}\n"))?;
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--config", config.to_str().context("a UTF-8 path")?]);
    let _ = std::fs::remove_file(&config);
    let commands = wr.path("bench-commands");
    let s = Session { probe: None, wr, commands, transport };
    let addr = format!("127.0.0.1:{}", s.wr.rdp_port().context("no RDP port")?);
    let mut rail = RailClient::new(None);
    rail.work_area = Some((0, 0, 1280, 760));
    let opts = ClientOptions { size: (1280, 800), remote_app: true, ..Default::default() };
    let mut builder = ClientBuilder::new(opts).with_static_channel(rail);
    let mut vail = None;
    if transport != Transport::Egfx {
        let host = GfxRedirHost::new(s.wr.runtime_dir().join("wayrail-shm"));
        vail = Some(host.state());
        builder = builder.with_dynamic_channel(host);
    }
    let mut client = builder.connect(&addr).await.context("connecting")?;
    client.keep_window_updates(false);
    client.pump_until(STEP, |c| c.gfx().confirmed.is_some()).await.context("no graphics pipeline")?;
    if let Some(host) = &vail {
        client.pump_until(STEP, |_| host.lock().confirmed.is_some()).await.context("gfxredir not confirmed")?;
    }
    Ok((s, client, vail))
}

/// Waits until window `id` is on the host (at `size`, when given) with its EGFX surface or
/// VAIL pool and a first picture: where its frames arrive.
async fn on_host(
    client: &mut TestClient,
    vail: Option<SharedVailHost>,
    id: u32,
    size: Option<(u32, u32)>,
) -> anyhow::Result<Sink> {
    let sized = |c: &TestClient| {
        c.host_windows().windows.get(&id).is_some_and(|w| size.is_none_or(|size| w.window_size == size))
    };
    let what = size.map_or(String::new(), |(w, h)| format!(" at {w}x{h}"));
    let sink = match vail {
        None => {
            client
                .pump_until(STEP, |c| {
                    sized(c) && c.gfx().mapped_to_scaled_window.iter().any(|m| m.window_id == u64::from(id))
                })
                .await
                .with_context(|| format!("host window {id}{what} with a surface"))?;
            let surface =
                client.gfx().scaled_mapping_of(u64::from(id)).map(|m| m.surface_id).context("the window's surface")?;
            Sink::Egfx { surface }
        }
        Some(host) => {
            let window = u64::from(id);
            client
                .pump_until(STEP, |c| sized(c) && host.lock().images.get(&window).is_some_and(|i| i.presents > 0))
                .await
                .with_context(|| format!("host window {id}{what} with a pool"))?;
            Sink::Vail { host, window }
        }
    };
    Ok(sink)
}

async fn pump(client: &mut TestClient, ms: u64) -> anyhow::Result<()> {
    client.pump(Duration::from_millis(ms)).await?;
    if let Some(why) = client.closed() {
        bail!("wayrail closed the RDP connection: {why}");
    }
    Ok(())
}

/// Pumps until no frame came for 400 ms (the window holds still).
async fn wait_quiet(client: &mut TestClient, sink: &Sink) -> anyhow::Result<()> {
    let mut seen = sink.count(client);
    for _ in 0..40 {
        pump(client, 400).await?;
        let n = sink.count(client);
        if n == seen {
            return Ok(());
        }
        seen = n;
    }
    bail!("the frames never stopped coming")
}

async fn run_phase(
    s: &Session,
    client: &mut TestClient,
    clock: &Clock,
    sink: &Sink,
    kind: &str,
    n: usize,
    interval_ms: u64,
) -> anyhow::Result<Phase> {
    let before = sink.mark(client);
    s.send(&format!("{kind} {n} {interval_ms}"))?;
    let done = format!("done {kind}\n");
    let deadline = Instant::now() + Duration::from_millis(n as u64 * interval_ms) + STEP;
    while !s.probe_log().contains(&done) {
        if Instant::now() > deadline {
            bail!("the probe did not finish {kind}:\n{}", s.probe_log());
        }
        pump(client, 50).await?;
    }
    wait_quiet(client, sink).await?;
    let commits: Vec<u64> = s
        .probe_log()
        .lines()
        .filter_map(|l| l.strip_prefix("commit "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == kind).then_some(())?;
            w.nth(1)?.parse().ok()
        })
        .collect();
    Ok(Phase::of(&commits, &sink.frames(client, clock, before)))
}

async fn bench(small_frames: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    print_header();
    let clock = Clock::now();
    let (s, mut client, sink) = start(Transport::Egfx).await?;

    let small = run_phase(&s, &mut client, &clock, &sink, "small", small_frames, 50).await?;
    let full = run_phase(&s, &mut client, &clock, &sink, "full", 30, 100).await?;
    let noise = run_phase(&s, &mut client, &clock, &sink, "noise", 20, 100).await?;
    s.send("quit")?;
    let _ = client.disconnect().await;

    println!();
    println!("RemoteApp: commit -> EGFX EndFrame at the IronRDP client, and EGFX bytes per frame");
    println!("(one {WIDTH}x{HEIGHT} probe window; coal/unm = frames carrying several commits / none)");
    println!(
        "{:<28} {:>7} {:>6} {:>9} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "change",
        "commits",
        "frames",
        "coal/unm",
        "p50 ms",
        "p99 ms",
        "max ms",
        "B/fr p50",
        "B/fr mean",
        "B/fr max",
        "px/frame"
    );
    small.row("16x16 square moves, 50 ms");
    full.row("whole window, new colour");
    noise.row("whole window, noise");
    let mean = |p: &Phase| p.bytes.iter().sum::<usize>() as f64 / p.bytes.len().max(1) as f64;
    println!(
        "mean bytes per frame: small change {:.0}, whole window solid {:.0} (x{:.2}), whole window noise {:.0} (x{:.0})",
        mean(&small),
        mean(&full),
        mean(&full) / mean(&small).max(1.0),
        mean(&noise),
        mean(&noise) / mean(&small).max(1.0)
    );
    println!();
    println!("load average at the end: {}", load_average());
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn print_header() {
    let profile = if cfg!(debug_assertions) { "debug (NOT representative)" } else { "release" };
    println!("wr-rail-bench (RemoteApp over RDP, IronRDP test client)");
    report::print_date_and_revision();
    // No "(no model name ...)" detail here: the line is short.
    let model = report::cpu_model();
    let model = if model.starts_with("unknown") { "unknown".to_string() } else { model };
    println!("machine:      {} CPUs, {model}", report::cpus());
    println!("build:        {profile}; wayrail: {}", wayrail_e2e::wayrail_bin().display());
    println!("load average: {}", load_average());
}

/// The probe window: 800x600, changes on command, prints when it commits.
mod probe {
    use super::*;
    use wayrail_testclient::shm::fill_rect;
    use wayrail_testclient::{delegate_client, dispatch_timeout, Base, Client, CommandFile};

    #[derive(Default)]
    struct State {
        base: Base,
        configured: bool,
        needs_draw: bool,
    }

    impl Client for State {
        fn base(&mut self) -> &mut Base {
            &mut self.base
        }

        fn configured(&mut self, _: usize, _: u32) {
            self.configured = true;
            self.needs_draw = true;
        }
    }

    delegate_client!(State);

    const BACKGROUND: u32 = 0xff20_2830;
    const SQUARE: i32 = 16;

    /// The phase running: kind, commits left, interval, next commit, sequence number.
    struct Running {
        kind: String,
        left: usize,
        interval: Duration,
        next: Instant,
        seq: usize,
    }

    pub fn run(args: &[String]) -> anyhow::Result<()> {
        let path = match args {
            [flag, path] if flag == "--commands" => path.clone(),
            _ => bail!("usage: wr-rail-bench --probe --commands FILE"),
        };
        let mut state = State::default();
        let (conn, mut queue) = wayrail_testclient::connect(&mut state)?;
        let qh = queue.handle();
        let window = state.base.create_titled_toplevel(&qh, TITLE, "org.wayrail.e2e.rail-bench")?;
        let surface = &window.surface;
        while !state.configured {
            queue.blocking_dispatch(&mut state).context("waiting for the first configure")?;
        }

        let mut pixels = vec![BACKGROUND; (WIDTH * HEIGHT) as usize];
        let mut commands = CommandFile::new(Some(path.into()));
        let mut running: Option<Running> = None;
        let mut rng: u32 = 0x2545_f491;
        let mut out = std::io::stdout().lock();
        loop {
            let mut damage: Vec<(i32, i32, i32, i32)> = Vec::new();
            if state.needs_draw {
                state.needs_draw = false;
                damage.push((0, 0, WIDTH, HEIGHT));
            }
            for line in commands.poll() {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words[..] {
                    ["quit"] => return Ok(()),
                    [kind, n, ms] => {
                        running = Some(Running {
                            kind: kind.to_string(),
                            left: n.parse()?,
                            interval: Duration::from_millis(ms.parse()?),
                            next: Instant::now(),
                            seq: 0,
                        })
                    }
                    [] => {}
                    _ => bail!("unknown command {line:?}"),
                }
            }
            let mut tick = None;
            if let Some(r) = running.as_mut().filter(|r| r.left > 0 && Instant::now() >= r.next) {
                let seq = r.seq as i32;
                match r.kind.as_str() {
                    "small" => {
                        // Erase the square's last place, draw it one step on (a typed character).
                        let place = |s: i32| (16 + (s % 40) * SQUARE, 100 + (s / 40 % 20) * SQUARE);
                        for (s, colour) in [(seq - 1, BACKGROUND), (seq, 0xffe0_c040)] {
                            if s < 0 {
                                continue;
                            }
                            let (x0, y0) = place(s);
                            damage.push(fill_rect(&mut pixels, WIDTH, (x0, y0, SQUARE, SQUARE), colour));
                        }
                    }
                    "full" => {
                        let palette = [0xff30_a050, 0xff10_60e0, 0xffe0_3030, 0xffd0_d0d0];
                        pixels.fill(palette[r.seq % palette.len()]);
                        damage.push((0, 0, WIDTH, HEIGHT));
                    }
                    "noise" => {
                        for p in pixels.iter_mut() {
                            rng ^= rng << 13;
                            rng ^= rng >> 17;
                            rng ^= rng << 5;
                            *p = 0xff00_0000 | (rng & 0x00ff_ffff);
                        }
                        damage.push((0, 0, WIDTH, HEIGHT));
                    }
                    other => bail!("unknown change {other:?}"),
                }
                tick = Some((r.kind.clone(), r.seq));
                r.seq += 1;
                r.left -= 1;
                r.next += r.interval;
            }
            if !damage.is_empty() {
                let b = state.base.one_shot_buffer(&qh, WIDTH, HEIGHT, &pixels)?;
                surface.attach(Some(&b), 0, 0);
                for &(x, y, w, h) in &damage {
                    surface.damage_buffer(x, y, w, h);
                }
                let at = monotonic_ns();
                surface.commit();
                conn.flush().context("flushing")?;
                if let Some((kind, seq)) = &tick {
                    writeln!(out, "commit {kind} {seq} {at}")?;
                }
            }
            if let Some(r) = running.as_ref().filter(|r| r.left == 0) {
                writeln!(out, "done {}", r.kind)?;
                running = None;
            }
            out.flush()?;
            if state.base.close_requested() {
                return Ok(());
            }

            // Wait for Wayland events, the next commit or the next look at the command file.
            let wait = running.as_ref().map_or(Duration::from_millis(20), |r| {
                r.next.saturating_duration_since(Instant::now()).min(Duration::from_millis(20))
            });
            dispatch_timeout(&conn, &mut queue, &mut state, Some(wait))?;
        }
    }
}
