//! The RemoteApp transports side by side, the same scenarios through each: EGFX (the window
//! encoded and sent on the socket), VAIL (only the damaged rectangles copied into the
//! shared-memory pool) and VAIL as WSLg's compositor does it (the whole window redrawn and
//! copied on every change, `[vail] whole_window = true`). One wayrail per transport runs every
//! scenario: the probe's 16x16 square moving every 50 ms and its whole window repainted every
//! 100 ms, then real apps for the same seconds each ([`apps`]): typing in foot (one key every
//! 100 ms) and weston-simple-shm animating.
//!
//! One row per transport and scenario:
//! - `frames`: window frames wayrail wrote to the host that carried a commit;
//! - `wr p50/p99`: commit → frame written to the socket (VAIL PresentBuffer, EGFX EndFrame),
//!   timed inside wayrail from its `wl_surface.commit` handling (`wayrail msg frames`), from
//!   the oldest commit a frame carries; for every scenario;
//! - `tick p99`: of that, the part after wayrail's frame clock ticked for the frame (the copy
//!   or encoding and the write; the rest is the wait for the tick or for the host's ack of the
//!   frame before);
//! - `cl p50/p99`: commit → the frame taken in by the IronRDP test client, from the commit
//!   time the probe prints (frames carrying one commit); the probe's scenarios only;
//! - `bytes/frame`: VAIL: bytes wayrail copied into the pool (its own count); EGFX: bytes on
//!   the wire per frame of the window;
//! - `CPU ms/fr`: wayrail's user+system time over the scenario per frame (10 ms clock ticks).

use super::*;

/// One transport's figures for one scenario.
pub(super) struct Row {
    transport: &'static str,
    scenario: &'static str,
    /// Window frames wayrail wrote that carried a commit.
    frames: u64,
    /// Commit → written to the socket, timed inside wayrail, in ms.
    wayrail_ms: Vec<f64>,
    /// Frame clock tick → written, in ms.
    after_tick_ms: Vec<f64>,
    /// Commit → taken in by the IronRDP client (the probe's scenarios only), in ms.
    client_ms: Option<Vec<f64>>,
    bytes_per_frame: f64,
    cpu_ms_per_frame: f64,
}

/// wayrail's totals before a scenario, to take the scenario's share out of them after it.
pub(super) struct Meter {
    transport: Transport,
    cpu_ms: f64,
    copied: Option<u64>,
    timed: u64,
    mark: usize,
}

impl Meter {
    pub(super) fn start(
        wr: &Compositor,
        client: &TestClient,
        sink: &Sink,
        transport: Transport,
    ) -> anyhow::Result<Meter> {
        let (timed, ..) = frame_times(wr, transport)?;
        let copied = vail_bytes_copied(wr);
        Ok(Meter { transport, cpu_ms: cpu_ms(wr.pid())?, copied, timed, mark: sink.mark(client) })
    }

    /// The scenario's row, now that it ended and the windows hold still.
    pub(super) fn row(
        self,
        wr: &Compositor,
        client: &TestClient,
        sink: &Sink,
        scenario: &'static str,
        client_ms: Option<Vec<f64>>,
    ) -> anyhow::Result<Row> {
        let cpu = cpu_ms(wr.pid())? - self.cpu_ms;
        let (timed, last_us, after_tick_us) = frame_times(wr, self.transport)?;
        let frames = timed - self.timed;
        let ms = |us: &[u64]| {
            let fresh = us.len().saturating_sub(frames as usize);
            us[fresh..].iter().map(|&us| us as f64 / 1000.0).collect()
        };
        let per_frame = |total: f64| total / frames.max(1) as f64;
        let bytes_per_frame = match (sink, vail_bytes_copied(wr), self.copied) {
            (Sink::Vail { .. }, Some(after), Some(before)) => per_frame((after - before) as f64),
            _ => {
                let sent = sink.frames(client, &Clock::now(), self.mark);
                sent.iter().map(|f| f.1).sum::<usize>() as f64 / sent.len().max(1) as f64
            }
        };
        Ok(Row {
            transport: self.transport.name(),
            scenario,
            frames,
            wayrail_ms: ms(&last_us),
            after_tick_ms: ms(&after_tick_us),
            client_ms,
            bytes_per_frame,
            cpu_ms_per_frame: per_frame(cpu),
        })
    }
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Egfx => "EGFX",
            Transport::Vail => "VAIL",
            Transport::VailWholeWindow => "VAIL whole window (WSLg)",
        }
    }
}

pub(super) async fn compare(small_frames: usize, app_secs: u64) -> anyhow::Result<()> {
    let clock = Clock::now();
    let mut rows = Vec::new();
    for transport in [Transport::Egfx, Transport::Vail, Transport::VailWholeWindow] {
        let name = transport.name();
        let (s, mut client, sink) = start(transport).await.with_context(|| format!("starting {name}"))?;
        for (kind, n, interval_ms, scenario) in
            [("small", small_frames, 50, "16x16 square, 50 ms"), ("full", 30, 100, "whole window, 100 ms")]
        {
            let meter = Meter::start(&s.wr, &client, &sink, transport)?;
            let phase = run_phase(&s, &mut client, &clock, &sink, kind, n, interval_ms).await?;
            rows.push(meter.row(&s.wr, &client, &sink, scenario, Some(phase.latency_ms))?);
        }
        s.send("quit")?;
        s.wr.wait_for_no_window(MAP_TIMEOUT, "of the probe", |w| w["title"] == TITLE);
        rows.extend(apps::run(&s, &mut client, &sink, app_secs).await.with_context(|| format!("apps, {name}"))?);
        let _ = client.disconnect().await;
    }

    println!();
    println!("RemoteApp transports: the same scenarios through each (one wayrail per transport)");
    println!("(wr: commit -> frame written to the socket, timed inside wayrail: VAIL PresentBuffer,");
    println!(" EGFX EndFrame; tick: of that, from wayrail's frame clock tick for the frame;");
    println!(" cl: commit -> taken in by the IronRDP client, probe only;");
    println!(" bytes: VAIL copied into the pool by wayrail's count, EGFX on the wire;");
    println!(" CPU: wayrail's user+system time over the scenario per frame, 10 ms clock ticks;");
    println!(" apps: {app_secs} s each, foot typed into every 100 ms, weston-simple-shm animating)");
    println!(
        "{:<24} {:<22} {:>6} {:>7} {:>7} {:>8} {:>7} {:>7} {:>11} {:>9}",
        "transport",
        "scenario",
        "frames",
        "wr p50",
        "wr p99",
        "tick p99",
        "cl p50",
        "cl p99",
        "bytes/frame",
        "CPU ms/fr"
    );
    for r in &rows {
        let quantiles = |v: &[f64]| {
            let v = sorted(v);
            let ms = |q: f64| quantile(&v, q).map_or_else(|| "-".into(), |v| format!("{v:.2}"));
            (ms(0.5), ms(0.99))
        };
        let (wr50, wr99) = quantiles(&r.wayrail_ms);
        let (_, tick99) = quantiles(&r.after_tick_ms);
        let (cl50, cl99) = r.client_ms.as_deref().map_or(("-".into(), "-".into()), quantiles);
        println!(
            "{:<24} {:<22} {:>6} {wr50:>7} {wr99:>7} {tick99:>8} {cl50:>7} {cl99:>7} {:>11.0} {:>9.3}",
            r.transport, r.scenario, r.frames, r.bytes_per_frame, r.cpu_ms_per_frame
        );
    }
    println!("load average at the end: {}", load_average());
    Ok(())
}

/// How many window frames of `transport` wayrail timed so far, and the newest durations in
/// µs, oldest first: from the commit, from the frame clock's tick (`wayrail msg frames`).
fn frame_times(wr: &Compositor, transport: Transport) -> anyhow::Result<(u64, Vec<u64>, Vec<u64>)> {
    let times = wr.try_msg_json(&["frames"])?;
    let times = &times[if transport == Transport::Egfx { "egfx" } else { "vail" }];
    let frames = times["frames"].as_u64().context("no frame count in `msg frames`")?;
    let list = |key: &str| {
        let list = times[key].as_array().with_context(|| format!("no {key} in `msg frames`"))?;
        anyhow::Ok(list.iter().filter_map(Value::as_u64).collect())
    };
    Ok((frames, list("last_us")?, list("last_after_tick_us")?))
}

/// What wayrail says it copied into VAIL pools so far (None without a session).
fn vail_bytes_copied(wr: &Compositor) -> Option<u64> {
    wr.msg_json(&["version"])["vail"]["bytes_copied"].as_u64()
}

/// User + system CPU time of process `pid` so far, in ms (`/proc/PID/stat`).
fn cpu_ms(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid}"))?;
    // The fields after the command name (which may hold spaces) start with the state, field 3.
    let rest = stat.rsplit_once(')').context("no command name in /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("short /proc/PID/stat");
    // utime and stime are fields 14 and 15: indexes 11 and 12 here.
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(total as f64 * 1000.0 / per_second)
}
