//! `wr-audio-bench [--secs N]`: sound to the host against a real `wayrail --backend rdp` (the
//! `wayrail` next to this binary, or `$WAYRAIL_BIN`) with the IronRDP test client as the host.
//! An app (`pacat`, 20 ms of latency asked for) plays N seconds (default 60) of a quiet 440 Hz
//! tone with a loud 10 ms click every 500 ms, written in real time; the host notes when each
//! wave arrives. Prints:
//!
//! - latency, app write → host received, p50/p99/max: from writing a click into pacat to the
//!   wave that carries it arriving (the sound server's buffering, wayrail's reader and session,
//!   the socket), in 5 ms steps;
//! - whether latency grows: the median latency of the first and of the last quarter;
//! - underruns: how often a host that starts playing once it holds 100 ms would run dry, and
//!   how often the app's stream ran dry in the sound server (pacat says so);
//! - wayrail's own figures: packets and bytes sent, read → sent latency max, what was dropped
//!   and why, the most that waited in the sink's FIFO.
//!
//! Not a test: it asserts only that sound arrived. Run it after `cargo build`.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use wayrail_e2e::{ironrdp, Compositor};
use wayrail_rdp_testclient::sound::{pcm, sound_client};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions};
use wayrail_testclient::report;

const RATE: u32 = 44_100;
const CHUNK: Duration = Duration::from_millis(20);
const CLICK_EVERY: usize = 25; // chunks: 500 ms
const CLICK: i16 = 20_000;
const QUIET: f64 = 1_000.0;
/// What the simulated host buffers before it starts playing.
const HOST_BUFFER: Duration = Duration::from_millis(100);

fn main() -> anyhow::Result<()> {
    let usage = "usage: wr-audio-bench [--secs N]   (N seconds of playback, default 60)";
    let Some(secs) = report::count_arg("--secs", 60, usage)? else { return Ok(()) };
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(bench(secs.max(2)))
}

/// Chunk `n` of the app's sound: stereo s16, quiet tone, a click in chunks that are due one.
fn chunk(n: usize) -> Vec<u8> {
    let frames = (RATE as usize) * CHUNK.as_millis() as usize / 1000;
    (0..frames)
        .flat_map(|i| {
            let t = (n * frames + i) as f64 / f64::from(RATE);
            let click = n.is_multiple_of(CLICK_EVERY) && i < frames / 2;
            let s = if click { CLICK } else { (QUIET * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16 };
            let [a, b] = s.to_le_bytes();
            [a, b, a, b]
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn bench(secs: usize) -> anyhow::Result<()> {
    report::print_date_and_revision();
    let wr = Compositor::start_rdp(&[]);
    let status = wr.msg_json(&["audio"]);
    if status["enabled"] != true {
        bail!("wayrail plays no sound: {status}");
    }
    let (channel, log) = sound_client(vec![pcm(RATE, 2)]);
    let builder = ClientBuilder::new(ClientOptions::default()).with_static_channel(channel);
    let mut client = ironrdp::connect_gfx(&wr, builder, Duration::from_secs(20)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while wr.msg_json(&["audio"])["client_format"].is_null() {
        if Instant::now() > deadline {
            bail!("the client took no sound format");
        }
        ironrdp::pump(&mut client, 100).await;
    }

    let mut cmd = wr.command("pacat");
    // Verbose: it logs its stream's underruns, which shift the stream later by their length.
    cmd.args([
        "--playback",
        "--raw",
        "--format=s16le",
        "--rate=44100",
        "--channels=2",
        "--latency-msec=20",
        "--verbose",
    ]);
    cmd.env("PULSE_SERVER", status["pulse_server"].as_str().context("no pulse_server")?);
    let mut pacat = wr.spawn_piped("pacat", cmd);
    let mut stdin = pacat.child.stdin.take().context("pacat's stdin")?;
    let chunks = secs * 1000 / CHUNK.as_millis() as usize;
    // The app: writes in real time, noting when each click was written.
    let writer = std::thread::spawn(move || -> std::io::Result<Vec<Instant>> {
        let start = Instant::now();
        let mut clicks = Vec::new();
        for n in 0..chunks {
            let due = start + CHUNK * n as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if n.is_multiple_of(CLICK_EVERY) {
                clicks.push(Instant::now());
            }
            stdin.write_all(&chunk(n))?;
        }
        Ok(clicks)
    });

    // The host: when each wave arrived, and where the clicks are in what arrived.
    let mut arrivals: Vec<(Instant, usize)> = Vec::new(); // (when, bytes so far)
    let mut click_arrivals = Vec::new();
    let mut seen = 0;
    let mut in_click = false;
    let end = Instant::now() + Duration::from_secs(secs as u64 + 10);
    let mut drained: Option<Instant> = None;
    while Instant::now() < end && drained.is_none_or(|at| at.elapsed() < Duration::from_secs(1)) {
        if drained.is_none() && writer.is_finished() {
            drained = Some(Instant::now());
        }
        client.pump(Duration::from_millis(5)).await?;
        let log = log.lock();
        if log.pcm.len() == seen {
            continue;
        }
        let now = Instant::now();
        for frame in log.pcm[seen..].chunks_exact(4) {
            let loud = i16::from_le_bytes([frame[0], frame[1]]) >= CLICK - 10;
            if loud && !in_click {
                click_arrivals.push(now);
            }
            in_click = loud;
        }
        seen = log.pcm.len();
        arrivals.push((now, seen));
    }
    let clicks = writer.join().map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    // Each click against the first loud start that arrived after it was written and before
    // the next click was: an underrun can split a click in two, so counting them in order
    // would pair later clicks with earlier arrivals.
    let period = CHUNK * CLICK_EVERY as u32;
    let mut latencies = Vec::new();
    for w in &clicks {
        if let Some(a) = click_arrivals.iter().find(|a| **a >= *w && **a < *w + period) {
            latencies.push(*a - *w);
        }
    }
    if latencies.len() < clicks.len() * 9 / 10 {
        bail!("{} of {} clicks arrived within {period:?}", latencies.len(), clicks.len());
    }
    // Whether latency grows: the median of the first and of the last quarter of the run.
    let quarter = (latencies.len() / 4).max(1);
    let median = |part: &[Duration]| {
        let mut part = part.to_vec();
        part.sort();
        percentile(&part, 0.5)
    };
    let (first, last) = (median(&latencies[..quarter]), median(&latencies[latencies.len() - quarter..]));
    latencies.sort();

    // A host that starts once it holds HOST_BUFFER and plays in real time.
    let bytes_per_sec = f64::from(RATE * 4);
    let mut underruns = 0;
    // When playing (re)started, and how many seconds had been played then.
    let mut started: Option<(Instant, f64)> = None;
    let mut played_before = 0.0;
    let mut held_before = 0.0;
    for &(when, bytes) in &arrivals {
        if let Some((at, from)) = started {
            // Had it played everything it held before this wave arrived?
            if from + (when - at).as_secs_f64() > held_before {
                underruns += 1;
                played_before = held_before;
                started = None;
            }
        }
        let held = bytes as f64 / bytes_per_sec;
        if started.is_none() && held - played_before >= HOST_BUFFER.as_secs_f64() {
            started = Some((when, played_before));
        }
        held_before = held;
    }

    let status = wr.msg_json(&["audio"]);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("audio: {secs} s of playback (pacat, 20 ms latency asked), IronRDP test client as the host");
    println!("  load average: {}", report::load_average());
    println!(
        "  latency app write -> host received ({} of {} clicks): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        clicks.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );
    println!("  latency trend: first quarter p50 {:.1} ms, last quarter p50 {:.1} ms", ms(first), ms(last));
    println!("  underruns of a host holding {} ms: {underruns}", HOST_BUFFER.as_millis());
    println!(
        "  wayrail: {} packets / {} bytes sent, read -> sent max {} ms; dropped: {} (queue full), {} (late), \
         {} ms skipped in the FIFO ({} times); FIFO backlog max {} ms",
        status["packets_sent"],
        status["bytes_sent"],
        status["max_latency_ms"],
        status["dropped_packets"],
        status["late_packets"],
        status["backlog_skipped_ms"],
        status["backlog_skips"],
        status["max_fifo_backlog_ms"]
    );
    // The app's own stream ran dry in the sound server (pacat was late on a busy machine):
    // PulseAudio plays silence and then the stream's data later by that much, for good.
    let app_underruns = pacat.log_text().matches("Stream underrun").count();
    println!("  underruns of the app's stream in the sound server (pacat): {app_underruns}");
    drop(pacat);
    Ok(())
}
