//! The third section, RDP: one table per scenario, a row per server, every server with its
//! own Xvfb and the same xfreerdp3 command, the same app(s) and the same seconds.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use crate::measure::Span;
use crate::procs::which;
use crate::relay::{quantile, BURST_GAP_NS};
use crate::scenarios::{run, Run, Scenario, MANY};
use crate::servers::{rdp_client_args, wslg_built, RdpServer, WSLG_PREFIX};
use crate::{check_interrupt, Cli, INTERRUPTED};

fn first_line(program: &str, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown version".into())
}

fn kb(bytes: f64) -> String {
    format!("{:.1} kB", bytes / 1000.0)
}

fn ms_pair(sorted: &[f64]) -> String {
    match (quantile(sorted, 0.5), quantile(sorted, 0.99)) {
        (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
        _ => "-".into(),
    }
}

type Runs = Vec<(RdpServer, Result<Run, String>)>;

pub(crate) fn rdp_section(cli: &Cli) -> anyhow::Result<()> {
    let args = &cli.rdp;
    println!();
    println!("== RDP: wayrail next to Weston's RDP backend (and WSLg in RemoteApp), same client, same apps ==");
    let wayrail = match &cli.wayrail {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("wayrail"),
    };
    let mut needed = vec!["Xvfb", "xfreerdp3", "ss", "python3"];
    for scenario in &args.rdp_scenarios {
        needed.extend(scenario.programs());
    }
    if args.rdp_servers.contains(&RdpServer::Weston) {
        needed.extend(["weston", "openssl"]);
    }
    needed.sort_unstable();
    needed.dedup();
    let missing: Vec<&str> = needed.into_iter().filter(|p| which(p).is_none()).collect();
    if !missing.is_empty() {
        println!("not measured: {} not in PATH (scripts/setup-debian.sh test installs them)", missing.join(", "));
        return Ok(());
    }
    let wayrail_runs = args.rdp_servers.iter().any(|s| !matches!(s, RdpServer::Weston | RdpServer::Wslg));
    if wayrail_runs && !wayrail.is_file() {
        println!("not measured: {} does not exist (scripts/setup-debian.sh builds it)", wayrail.display());
        return Ok(());
    }
    print_setup(&wayrail, args);
    let mut all: Vec<(Scenario, Runs)> = Vec::new();
    for &scenario in &args.rdp_scenarios {
        let mut runs: Runs = Vec::new();
        for &server in &args.rdp_servers {
            if server.remote_app() && !scenario.remote_app() {
                continue;
            }
            if server == RdpServer::Wslg && !wslg_built() {
                continue;
            }
            check_interrupt()?;
            match run(scenario, server, &wayrail, args) {
                Ok(r) => runs.push((server, Ok(r))),
                Err(e) if INTERRUPTED.load(Ordering::SeqCst) => return Err(e),
                Err(e) => runs.push((server, Err(format!("{e:#}")))),
            }
        }
        print_table(scenario, &runs, &all, args);
        all.push((scenario, runs));
    }
    print_targets(&all);
    Ok(())
}

fn print_setup(wayrail: &Path, args: &crate::RdpArgs) {
    let size = &args.rdp_size;
    println!("wayrail: {} --backend rdp --socket S --listen tcp:127.0.0.1:PORT --output SIZE", wayrail.display());
    println!("         (wayrail-h264-off: [rdp] h264 = \"off\" in its config; wayrail-no-avc: the client adds");
    println!("         /gfx:AVC420:off,AVC444:off, so RemoteFX Progressive; wayrail-remoteapp: the client");
    println!("         asks for /app:program:SCRIPT, [rail] exec = \"any\")");
    println!(
        "weston:  {}: weston --backend=rdp-backend.so --rdp-tls-cert=.. --rdp-tls-key=..",
        first_line("weston", "--version")
    );
    println!("         --port=PORT --address=127.0.0.1 --socket=S --no-config --width=.. --height=.. (desktop-shell)");
    if wslg_built() {
        println!("wslg:    {WSLG_PREFIX}/bin/weston --backend=rdp-backend.so --xwayland --shell=rdprail-shell.so,");
        println!("         as WSLGd starts it (WSL2_DISTRO_NAME set, WESTON_RDP_SHARED_MEMORY=false: EGFX only)");
    } else {
        println!("wslg:    not measured: WSLg's compositor is not built ({WSLG_PREFIX}/bin/weston is missing;");
        println!("         the WSLg peer's build.sh builds it there)");
    }
    let freerdp = first_line("xfreerdp3", "--version");
    println!("client:  xfreerdp3 {}", rdp_client_args("PORT", size, None).join(" "));
    println!("         [/app:program:SCRIPT +relax-order-checks in RemoteApp] (full-HD: /size:1920x1080)");
    println!("         ({}) in its own Xvfb (1920x1080x24);", freerdp.trim_start_matches("This is "));
    println!("         each server has its own runtime dir, Xvfb and client; the client reaches the server");
    println!("         through a relay in this process that times the server's bytes.");
    println!("Each scenario: {:.0} s warm-up, then {:.0} s counted.", args.rdp_warmup_secs, args.rdp_secs);
    println!("Server CPU: the server process, all threads (Weston's desktop-shell and keyboard helper");
    println!("  processes are not counted): % from utime+stime in /proc/PID/stat, ms from schedstat.");
    println!("fps client: the client's drawing into its window, seen through XDamage (raw rectangles,");
    println!("  python3-xlib); a burst of damage events (< 3 ms apart) is one frame shown. In RemoteApp");
    println!("  the largest RAIL window is watched. app fps: the app's commits per second (per window).");
    println!("Bytes per frame: bytes_sent of the server's side of the client's TCP connection (ss -tin),");
    println!("  TLS and RDP framing included, over the client's frames.");
    println!("commit→socket: an app's wl_surface.commit (its own CLOCK_MONOTONIC stamp, or WAYLAND_DEBUG's)");
    println!(
        "  to the last byte of the next burst of server bytes (reads < {} ms apart) at the relay,",
        BURST_GAP_NS / 1_000_000
    );
    println!("  p50 / p99 in ms, over bursts that followed exactly one commit (n; coal: bursts after");
    println!("  several commits, not timed). Measured the same way for every server.");
}

struct Table {
    header: Vec<(String, usize)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(cols: &[(&str, usize)]) -> Table {
        Table { header: cols.iter().map(|(h, w)| (h.to_string(), *w)).collect(), rows: Vec::new() }
    }

    fn print(&self) {
        let line = |cells: Vec<&str>| {
            let mut out = String::new();
            for (i, (cell, (_, w))) in cells.iter().zip(&self.header).enumerate() {
                if i == 0 {
                    out.push_str(&format!("{cell:<w$}"));
                } else {
                    out.push_str(&format!(" {cell:>w$}"));
                }
            }
            println!("{}", out.trim_end());
        };
        line(self.header.iter().map(|(h, _)| h.as_str()).collect());
        for row in &self.rows {
            line(row.iter().map(String::as_str).collect());
        }
    }
}

fn print_table(scenario: Scenario, runs: &Runs, before: &[(Scenario, Runs)], args: &crate::RdpArgs) {
    println!();
    println!("-- scenario: {} ({}) --", scenario.title(), scenario.size(args));
    println!("   {}", scenario.describe());
    let mut t = Table::new(&[
        ("server", 18),
        ("CPU/frame", 10),
        ("CPU %", 7),
        ("fps client", 10),
        ("app fps", 11),
        ("bytes/frame", 11),
        ("commit→socket p50/p99", 21),
        ("n/coal", 8),
        ("late", 4),
        ("client CPU", 10),
    ]);
    for (server, run) in runs {
        let mut row = vec![server.label().to_string()];
        match run {
            Err(_) => row.push("NOT MEASURED".into()),
            Ok(r) => {
                let s = &r.span;
                let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".into(), f);
                row.push(opt(s.per_frame(s.cpu_ms), &|v| format!("{v:.3} ms")));
                row.push(format!("{:.1} %", s.cpu_percent));
                row.push(format!("{:.1}", s.fps()));
                row.push(match s.app_fps() {
                    Some((mean, min)) if s.app_commits.len() > 1 => format!("{mean:.1} (≥{min:.0})"),
                    Some((mean, _)) => format!("{mean:.1}"),
                    None => "-".into(),
                });
                row.push(opt(s.per_frame(s.sent as f64), &kb));
                row.push(ms_pair(&s.latency.ms));
                row.push(format!("{}/{}", s.latency.ms.len(), s.latency.coalesced));
                row.push(s.late.to_string());
                row.push(format!("{:.1} %", s.client_cpu_percent));
            }
        }
        t.rows.push(row);
    }
    t.print();
    for (server, run) in runs {
        match run {
            Err(e) => println!("{}: not measured: {e}", server.label()),
            Ok(r) => {
                let s = &r.span;
                let rects = s.per_frame(s.damage_events as f64).unwrap_or(0.0);
                let area = s.per_frame(s.damage_area as f64).unwrap_or(0.0);
                println!(
                    "{}: {}; decoded {}; {area:.0} px in {rects:.1} rects a frame; window {}; {:.1} s",
                    server.label(),
                    r.graphics,
                    s.decoded.summary(),
                    r.window,
                    r.took
                );
                if s.sent.abs_diff(s.acked) * 100 > s.sent.max(1) {
                    println!("{}: bytes acked ({}) differ from bytes sent ({})", server.label(), s.acked, s.sent);
                }
            }
        }
    }
    if scenario.remote_app() && !wslg_built() {
        println!("wslg: not measured: {WSLG_PREFIX}/bin/weston is missing (the WSLg peer's build.sh builds it)");
    }
    match scenario {
        Scenario::SimpleShm => print_idle(runs),
        Scenario::Typing => print_typing(runs),
        Scenario::TenWindows => print_many(runs, before),
        _ => {}
    }
}

fn print_idle(runs: &Runs) {
    if !runs.iter().any(|(_, r)| matches!(r, Ok(Run { idle: Some(_), .. }))) {
        return;
    }
    println!("idle: one foot window, nothing animating (after it started)");
    let mut t = Table::new(&[
        ("server", 18),
        ("foot's start at the client", 30),
        ("CPU %", 7),
        ("CPU time", 9),
        ("fps client", 10),
        ("bytes/s", 9),
    ]);
    for (server, run) in runs {
        let Ok(Run { idle: Some((start, idle)), .. }) = run else { continue };
        t.rows.push(vec![
            server.label().into(),
            format!("{} frames in {:.1} s, {:.1} MB", start.frames, start.secs, start.sent as f64 / 1e6),
            format!("{:.2} %", idle.cpu_percent),
            format!("{:.1} ms", idle.cpu_ms),
            format!("{:.1}", idle.fps()),
            format!("{:.0}", idle.sent as f64 / idle.secs),
        ]);
    }
    t.print();
}

fn print_typing(runs: &Runs) {
    println!("host key event (XTEST press into xfreerdp3's X server) → the app's commit → the server's");
    println!("last byte of that frame on the socket, ms p50 / p99 (through xfreerdp3 and its X server):");
    let mut t = Table::new(&[("server", 18), ("keys", 5), ("key→commit", 14), ("key→socket", 14)]);
    for (server, run) in runs {
        let Ok(r) = run else { continue };
        let s = &r.span;
        t.rows.push(vec![
            server.label().into(),
            s.key_to_commit.len().to_string(),
            ms_pair(&s.key_to_commit),
            ms_pair(&s.key_to_socket),
        ]);
    }
    t.print();
}

fn single_fps(before: &[(Scenario, Runs)], server: RdpServer) -> Option<f64> {
    let (_, runs) = before.iter().find(|(s, _)| *s == Scenario::SimpleShm)?;
    let (_, run) = runs.iter().find(|(k, _)| *k == server)?;
    run.as_ref().ok()?.span.app_fps().map(|(mean, _)| mean)
}

fn print_many(runs: &Runs, before: &[(Scenario, Runs)]) {
    println!("per window ({MANY} weston-simple-shm) against one weston-simple-shm alone (its scenario above):");
    for (server, run) in runs {
        let Ok(r) = run else { continue };
        let Some((mean, min)) = r.span.app_fps() else { continue };
        match single_fps(before, *server) {
            Some(one) => println!(
                "  {:<18} {mean:.1} app fps per window (lowest {min:.1}) vs {one:.1} alone: x{:.2}",
                server.label(),
                mean / one.max(0.001)
            ),
            None => println!("  {:<18} {mean:.1} app fps per window (lowest {min:.1})", server.label()),
        }
    }
}

fn find(all: &[(Scenario, Runs)], scenario: Scenario, server: RdpServer) -> Option<&Span> {
    let (_, runs) = all.iter().find(|(s, _)| *s == scenario)?;
    runs.iter().find(|(k, _)| *k == server)?.1.as_ref().ok().map(|r| &r.span)
}

fn print_targets(all: &[(Scenario, Runs)]) {
    println!();
    println!("targets (issue 18):");
    let yes = |b: bool| if b { "yes" } else { "NO" };
    for server in [RdpServer::Wayrail, RdpServer::WayrailH264Off, RdpServer::WayrailNoAvc, RdpServer::WayrailRemoteapp]
    {
        let label = server.label();
        if let Some(p99) = find(all, Scenario::Typing, server).and_then(|s| s.latency.quantile(0.99)) {
            println!("  {label}: typing, commit → socket p99 < 2 ms: {} ({p99:.2} ms)", yes(p99 < 2.0));
        }
        if let Some(p99) = find(all, Scenario::Typing, server).and_then(|s| quantile(&s.key_to_socket, 0.99)) {
            println!(
                "  {label}: typing, host key → commit → socket p99 < 5 ms: {} ({p99:.2} ms, xfreerdp3 and Xvfb included;",
                yes(p99 < 5.0)
            );
            println!("    wr-input-bench measures the same with the IronRDP test client)");
        }
        let many = find(all, Scenario::TenWindows, server).and_then(Span::app_fps);
        let one = find(all, Scenario::SimpleShm, server).and_then(Span::app_fps);
        if let (Some((many, _)), Some((one, _))) = (many, one) {
            println!(
                "  {label}: {MANY} animating windows, fps per window ≥ 0.8 x one window's: {} ({many:.1} vs {one:.1})",
                yes(many >= 0.8 * one)
            );
        }
    }
    // Against a peer in the same run: wayrail's desktop against Weston's, RemoteApp against
    // WSLg's compositor. Each row: the scenario, the two servers, the largest CPU and byte
    // ratios the issue allows (None: no target).
    let rows = [
        (Scenario::SimpleShm, RdpServer::Wayrail, RdpServer::Weston, Some(0.5), Some(0.5)),
        (Scenario::FullHd, RdpServer::Wayrail, RdpServer::Weston, Some(0.5), Some(0.5)),
        (Scenario::SimpleShm, RdpServer::WayrailRemoteapp, RdpServer::Wslg, Some(0.5), Some(0.1)),
        (Scenario::Typing, RdpServer::WayrailRemoteapp, RdpServer::Wslg, None, Some(0.5)),
    ];
    for (scenario, ours, peer, cpu_max, bytes_max) in rows {
        let (Some(w), Some(p)) = (find(all, scenario, ours), find(all, scenario, peer)) else { continue };
        let what = format!("  {} vs {}, {}:", ours.label(), peer.label(), scenario.title());
        // Frame counts over a run differ by a frame or two between identical runs.
        let (wf, pf) = (w.fps(), p.fps());
        let fps_ok = wf >= pf * 0.98;
        println!("{what} frames/s ≥ the peer's: {} ({wf:.1} vs {pf:.1})", yes(fps_ok));
        let ratio = |ours: Option<f64>, theirs: Option<f64>| Some(ours? / theirs.filter(|t| *t > 0.0)?);
        if let (Some(max), Some(r)) = (cpu_max, ratio(w.per_frame(w.cpu_ms), p.per_frame(p.cpu_ms))) {
            println!("{what} CPU/frame ≤ {max} x the peer's: {} (x{r:.2})", yes(r <= max));
        }
        if let (Some(max), Some(r)) = (bytes_max, ratio(w.per_frame(w.sent as f64), p.per_frame(p.sent as f64))) {
            println!("{what} bytes/frame ≤ {max} x the peer's: {} (x{r:.2})", yes(r <= max));
        }
    }
}
