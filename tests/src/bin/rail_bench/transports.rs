//! The RemoteApp transports side by side, same probe window and same changes: EGFX (the
//! window encoded and sent on the socket), VAIL (only the damaged rectangles copied into the
//! shared-memory pool), and VAIL as WSLg's compositor does it (the whole window redrawn and
//! copied on every change, `[vail] whole_window = true`). For each: commit → the host taking
//! the frame (EGFX EndFrame / PresentBuffer arriving at the IronRDP test client), bytes per
//! frame (on the wire for EGFX; copied into the pool by wayrail's own count for VAIL), and
//! wayrail's CPU time per frame.

use super::*;

/// One transport's figures for one kind of change.
struct Row {
    transport: &'static str,
    change: &'static str,
    phase: Phase,
    /// wayrail's user + system CPU time over the phase, per frame of the window.
    cpu_ms_per_frame: f64,
    /// For VAIL: bytes wayrail copied into pools over the phase, per present.
    copied_per_frame: Option<f64>,
}

pub(super) async fn compare(small_frames: usize) -> anyhow::Result<()> {
    let clock = Clock::now();
    let transports = [
        (Transport::Egfx, "EGFX"),
        (Transport::Vail, "VAIL"),
        (Transport::VailWholeWindow, "VAIL whole window (WSLg)"),
    ];
    let mut rows = Vec::new();
    for (transport, name) in transports {
        let (s, mut client, sink) = start(transport).await.with_context(|| format!("starting {name}"))?;
        let pid = s.wr.pid();
        for (kind, n, interval_ms, change) in
            [("small", small_frames, 50, "16x16 square, 50 ms"), ("full", 30, 100, "whole window, 100 ms")]
        {
            let (cpu_before, copied_before) = (cpu_ms(pid)?, vail_bytes_copied(&s.wr));
            let phase = run_phase(&s, &mut client, &clock, &sink, kind, n, interval_ms).await?;
            let frames = phase.frames.max(1) as f64;
            let cpu_ms_per_frame = (cpu_ms(pid)? - cpu_before) / frames;
            let copied_per_frame = match (&sink, vail_bytes_copied(&s.wr), copied_before) {
                (Sink::Vail { .. }, Some(after), Some(before)) => Some((after - before) as f64 / frames),
                _ => None,
            };
            rows.push(Row { transport: name, change, phase, cpu_ms_per_frame, copied_per_frame });
        }
        s.send("quit")?;
        let _ = client.disconnect().await;
    }

    println!();
    println!("RemoteApp transports: one {WIDTH}x{HEIGHT} probe window, the same changes through each");
    println!("(latency: commit -> EGFX EndFrame / VAIL PresentBuffer taken in by the IronRDP client;");
    println!(" bytes: EGFX on the wire, VAIL copied into the pool by wayrail's own count;");
    println!(" CPU: wayrail's user+system time over the phase per frame, 10 ms clock ticks)");
    println!(
        "{:<26} {:<22} {:>6} {:>7} {:>7} {:>11} {:>11}",
        "transport", "change", "frames", "p50 ms", "p99 ms", "bytes/frame", "CPU ms/fr"
    );
    for r in &rows {
        let lat = sorted(&r.phase.latency_ms);
        let ms = |q: f64| quantile(&lat, q).map_or_else(|| "-".into(), |v| format!("{v:.2}"));
        let bytes = match r.copied_per_frame {
            Some(copied) => copied,
            None => r.phase.bytes.iter().sum::<usize>() as f64 / r.phase.bytes.len().max(1) as f64,
        };
        println!(
            "{:<26} {:<22} {:>6} {:>7} {:>7} {:>11.0} {:>11.3}",
            r.transport,
            r.change,
            r.phase.frames,
            ms(0.5),
            ms(0.99),
            bytes,
            r.cpu_ms_per_frame
        );
    }
    println!("load average at the end: {}", load_average());
    Ok(())
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
