//! The third section, RDP side by side with Weston's RDP backend: each server with its own
//! Xvfb, the same xfreerdp3 command and the same app (weston-simple-shm).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::procs::{free_port, log_tail, rates, tcp_bytes, tcp_listening, usage, wait_for, which, Procs, Usage};
use crate::rdp_log::{commits, decoded, egfx_version, Decoded};
use crate::xdamage::{DamageCount, DamageCounter};
use crate::{check_interrupt, sleep, Cli, RdpArgs, INTERRUPTED};

/// Time for the client's first picture and foot's first frame before the idle count.
const RDP_SETTLE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RdpServer {
    Wayrail,
    /// wayrail with `[rdp] h264 = "off"`: ClearCodec only, to weigh what H.264 saves.
    WayrailH264Off,
    Weston,
}

impl RdpServer {
    pub(crate) fn label(self) -> &'static str {
        match self {
            RdpServer::Wayrail => "wayrail",
            RdpServer::WayrailH264Off => "wayrail-h264-off",
            RdpServer::Weston => "weston",
        }
    }
}

/// The client's command line, the same for both servers. The gdi log filter makes the client
/// log one line per surface command it decodes (codec, payload length): that is how the
/// codec is read, and it costs the client one short write per command.
fn rdp_client_args(port: &str, size: &str) -> Vec<String> {
    vec![
        format!("/v:127.0.0.1:{port}"),
        "/cert:ignore".into(),
        "/sec:tls".into(),
        "/u:test".into(),
        "/p:test".into(),
        format!("/size:{size}"),
        "/log-level:ERROR".into(),
        "/log-filters:com.freerdp.gdi:TRACE".into(),
    ]
}

/// Every counter at one moment.
struct Sample {
    at: Instant,
    usage: Usage,
    client_usage: Usage,
    sent: u64,
    acked: u64,
    damage: DamageCount,
    client_log: u64,
    app_log: u64,
}

fn take_sample(procs: &Procs, counter: &mut DamageCounter, server_pid: u32, port: u16) -> anyhow::Result<Sample> {
    let damage = counter.mark()?;
    let at = Instant::now();
    let server_usage = usage(server_pid)?;
    let client_usage = match procs.pid("xfreerdp3") {
        Some(pid) => usage(pid)?,
        None => Usage::default(),
    };
    let (sent, acked) = tcp_bytes(port)?;
    Ok(Sample {
        at,
        usage: server_usage,
        client_usage,
        sent,
        acked,
        damage,
        client_log: procs.log_len("xfreerdp3"),
        app_log: procs.log_len("simple-shm"),
    })
}

/// What happened between two samples.
/// The counters over `secs` seconds, with the watched processes alive at both ends: the
/// first sample and the span.
fn measure(
    procs: &Procs,
    counter: &mut DamageCounter,
    (server_pid, port): (u32, u16),
    watch: &[&str],
    secs: f64,
) -> anyhow::Result<(Sample, Span)> {
    procs.check_alive(watch)?;
    let a = take_sample(procs, counter, server_pid, port)?;
    sleep(Duration::from_secs_f64(secs))?;
    let b = take_sample(procs, counter, server_pid, port)?;
    procs.check_alive(watch)?;
    let span = Span::new(procs, &a, &b);
    Ok((a, span))
}

struct Span {
    secs: f64,
    /// From utime+stime (/proc/PID/stat), % of one CPU.
    cpu_percent: f64,
    /// From schedstat (ms precision); from utime+stime when schedstat is missing.
    cpu_ms: f64,
    /// Client CPU (xfreerdp3, all threads), % of one CPU.
    client_cpu_percent: f64,
    frames: u64,
    late: u64,
    damage_events: u64,
    damage_area: u64,
    sent: u64,
    acked: u64,
    decoded: Decoded,
    app_commits: u64,
}

impl Span {
    fn new(procs: &Procs, a: &Sample, b: &Sample) -> Span {
        let secs = (b.at - a.at).as_secs_f64();
        let r = rates(a.usage, b.usage, secs);
        Span {
            secs,
            cpu_percent: r.cpu_percent,
            cpu_ms: if r.cpu_ms > 0.0 { r.cpu_ms } else { r.cpu_percent * secs * 10.0 },
            client_cpu_percent: rates(a.client_usage, b.client_usage, secs).cpu_percent,
            frames: b.damage.bursts - a.damage.bursts,
            late: b.damage.late - a.damage.late,
            damage_events: b.damage.events - a.damage.events,
            damage_area: b.damage.area - a.damage.area,
            sent: b.sent.saturating_sub(a.sent),
            acked: b.acked.saturating_sub(a.acked),
            decoded: decoded(&procs.log_range("xfreerdp3", a.client_log, b.client_log)),
            app_commits: commits(&procs.log_range("simple-shm", a.app_log, b.app_log)),
        }
    }

    fn fps(&self) -> f64 {
        self.frames as f64 / self.secs
    }

    fn per_frame(&self, v: f64) -> Option<f64> {
        (self.frames > 0).then(|| v / self.frames as f64)
    }
}

struct RdpRun {
    /// The graphics path: EGFX with its version, or none (Surface Bits).
    graphics: String,
    window: String,
    /// From before foot started to the idle count.
    foot_start: Span,
    idle: Span,
    anim: Span,
    took: f64,
}

fn rdp_run(server: RdpServer, wayrail: &Path, args: &RdpArgs) -> anyhow::Result<RdpRun> {
    let started = Instant::now();
    let mut procs = Procs::new(server.label())?;
    let run_dir = procs.subdir("run")?;
    let config_dir = procs.subdir("config")?;
    let port = free_port()?;
    let socket = format!("wayrail-bench-{}", std::process::id());

    let mut cmd = match server {
        RdpServer::Wayrail | RdpServer::WayrailH264Off => {
            if server == RdpServer::WayrailH264Off {
                let dir = config_dir.join("wayrail");
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join("config.toml"), "[rdp]\nh264 = \"off\"\n")
                    .context("writing the bench's wayrail config")?;
            }
            // The client's login (/u:test /p:test), as a systemd credential.
            let credentials = procs.subdir("credentials")?;
            std::fs::write(credentials.join("rdp-password"), "test\n").context("writing the bench's RDP password")?;
            let mut cmd = Command::new(wayrail);
            cmd.args(["--backend", "rdp", "--socket", &socket, "--listen", &format!("tcp:127.0.0.1:{port}")])
                .args(["--output", &args.rdp_size])
                .env("XDG_STATE_HOME", procs.subdir("state")?)
                .env("CREDENTIALS_DIRECTORY", credentials)
                // For the "EGFX ready" line.
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1");
            cmd
        }
        RdpServer::Weston => {
            let (cert, key) = (procs.dir.join("tls.crt"), procs.dir.join("tls.key"));
            let status = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .args(["-days", "365", "-subj", "/CN=localhost"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(procs.log_path("openssl"))?)
                .status()
                .context("running openssl")?;
            if !status.success() {
                bail!("openssl could not make a certificate: {}", log_tail(&procs.log_path("openssl")));
            }
            let (w, h) = args.rdp_size.split_once('x').context("--rdp-size is WxH")?;
            let mut cmd = Command::new("weston");
            cmd.arg("--backend=rdp-backend.so")
                .arg(format!("--rdp-tls-cert={}", cert.display()))
                .arg(format!("--rdp-tls-key={}", key.display()))
                .arg(format!("--port={port}"))
                .arg("--address=127.0.0.1")
                .arg(format!("--socket={socket}"))
                .args(["--no-config", &format!("--width={w}"), &format!("--height={h}")]);
            cmd
        }
    };
    cmd.env("XDG_RUNTIME_DIR", &run_dir)
        .env("XDG_CONFIG_HOME", &config_dir)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .env_remove("DISPLAY");
    procs.spawn("server", cmd)?;
    let server_pid = procs.pid("server").expect("just started");
    let what = format!("the server was not listening on 127.0.0.1:{port} and {socket}");
    wait_for(&procs, &["server"], &what, Duration::from_secs(20), || {
        tcp_listening(port) && run_dir.join(&socket).exists()
    })?;

    // Xvfb picks a free display and writes its number to fd 1.
    let display_file = procs.dir.join("xvfb.display");
    let mut cmd = Command::new("Xvfb");
    cmd.args(["-displayfd", "1", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&display_file)?)
        .stderr(std::fs::File::create(procs.log_path("xvfb"))?);
    procs.spawn_as_is("xvfb", cmd)?;
    let mut number = String::new();
    wait_for(&procs, &["xvfb"], "Xvfb gave no display number", Duration::from_secs(15), || {
        number = std::fs::read_to_string(&display_file).unwrap_or_default();
        number.ends_with('\n')
    })?;
    let display = format!(":{}", number.trim());

    let mut cmd = Command::new("xfreerdp3");
    cmd.args(rdp_client_args(&port.to_string(), &args.rdp_size))
        .env("DISPLAY", &display)
        .env("XDG_CONFIG_HOME", &config_dir)
        .env_remove("WAYLAND_DISPLAY");
    procs.spawn("xfreerdp3", cmd)?;
    let mut counter = DamageCounter::start(&mut procs, &display, Duration::from_secs(20))?;
    let window = counter.ready(Duration::from_secs(25)).map_err(|e| {
        let why = procs.check_alive(&["server", "xfreerdp3"]).err().map_or(String::new(), |e| format!(" ({e:#})"));
        e.context(format!("the client's window did not show{why}"))
    })?;

    let wayland_client = |program: &str| {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", &run_dir)
            .env("XDG_CONFIG_HOME", &config_dir)
            .env("WAYLAND_DISPLAY", &socket)
            .env_remove("WAYLAND_SOCKET")
            .env_remove("DISPLAY");
        cmd
    };

    // Idle: one foot window that does nothing (its start is counted too, to show it drew).
    let mut watch = vec!["server", "xfreerdp3"];
    let before_foot = take_sample(&procs, &mut counter, server_pid, port)?;
    if which("foot").is_some() {
        let mut cmd = wayland_client("foot");
        cmd.args(["sleep", "3600"]);
        procs.spawn("foot", cmd)?;
        watch.push("foot");
    }
    sleep(RDP_SETTLE)?;
    let (a, idle) = measure(&procs, &mut counter, (server_pid, port), &watch, args.rdp_idle_secs)?;
    let foot_start = Span::new(&procs, &before_foot, &a);
    procs.kill("foot");

    // Animating: weston-simple-shm, its requests logged to count its frames.
    let mut cmd = wayland_client("weston-simple-shm");
    cmd.env("WAYLAND_DEBUG", "client");
    procs.spawn("simple-shm", cmd)?;
    let watch = ["server", "xfreerdp3", "simple-shm"];
    sleep(Duration::from_secs_f64(args.rdp_warmup_secs))?;
    let (_, anim) = measure(&procs, &mut counter, (server_pid, port), &watch, args.rdp_secs)?;

    let server_log = String::from_utf8_lossy(&procs.log_range("server", 0, u64::MAX)).into_owned();
    let whole = decoded(&procs.log_range("xfreerdp3", 0, u64::MAX));
    let graphics = match egfx_version(&server_log) {
        Some(v) => v,
        None if whole.codecs.iter().any(|(c, _)| c.starts_with("EGFX")) => "EGFX".into(),
        None => "no EGFX: Surface Bits".into(),
    };
    Ok(RdpRun { graphics, window, foot_start, idle, anim, took: started.elapsed().as_secs_f64() })
}

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

pub(crate) fn rdp_section(cli: &Cli) -> anyhow::Result<()> {
    let args = &cli.rdp;
    println!();
    let size = &args.rdp_size;
    println!("== RDP: wayrail next to Weston's RDP backend, same client, same app, {size} ==");
    let wayrail = match &cli.wayrail {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("wayrail"),
    };
    let mut needed = vec!["Xvfb", "xfreerdp3", "weston-simple-shm", "ss"];
    if args.rdp_servers.contains(&RdpServer::Weston) {
        needed.extend(["weston", "openssl"]);
    }
    let missing: Vec<&str> = needed.into_iter().filter(|p| which(p).is_none()).collect();
    if !missing.is_empty() {
        println!("not measured: {} not in PATH (scripts/setup-debian.sh test installs them)", missing.join(", "));
        return Ok(());
    }
    let wayrail_runs = args.rdp_servers.iter().any(|s| *s != RdpServer::Weston);
    if wayrail_runs && !wayrail.is_file() {
        println!("not measured: {} does not exist (scripts/setup-debian.sh builds it)", wayrail.display());
        return Ok(());
    }
    println!("wayrail: {} --backend rdp --socket S --listen tcp:127.0.0.1:PORT --output {size}", wayrail.display());
    println!("         (wayrail-h264-off: the same with [rdp] h264 = \"off\" in its config)");
    println!(
        "weston:  {}: weston --backend=rdp-backend.so --rdp-tls-cert=.. --rdp-tls-key=..",
        first_line("weston", "--version")
    );
    println!("         --port=PORT --address=127.0.0.1 --socket=S --no-config --width=.. --height=.. (desktop-shell)");
    let freerdp = first_line("xfreerdp3", "--version");
    println!("client:  xfreerdp3 {}", rdp_client_args("PORT", size).join(" "));
    println!("         ({}) in its own Xvfb (1920x1080x24);", freerdp.trim_start_matches("This is "));
    println!("         each server has its own runtime dir, Xvfb and client.");
    println!("app:     weston-simple-shm (WAYLAND_DEBUG=client, to count its commits), {:.0} s after a", args.rdp_secs);
    println!(
        "         {:.0} s warm-up; idle: one foot window (foot sleep 3600), {:.0} s.",
        args.rdp_warmup_secs, args.rdp_idle_secs
    );
    println!("Server CPU: the server process, all threads (Weston's desktop-shell and keyboard helper");
    println!("  processes are not counted): % from utime+stime in /proc/PID/stat, ms from schedstat.");
    println!("Frames at the client: the client's drawing into its window, seen through XDamage (raw");
    println!("  rectangles, python3-xlib); a burst of damage events (< 3 ms apart) is one frame shown.");
    println!("Bytes on the wire: bytes_sent of the server's side of the client's TCP connection (ss -tin),");
    println!("  TLS and RDP framing included; codec payload: the lengths in the client's gdi log.");
    let mut runs: Vec<(RdpServer, Result<RdpRun, String>)> = Vec::new();
    for &server in &args.rdp_servers {
        check_interrupt()?;
        match rdp_run(server, &wayrail, args) {
            Ok(run) => runs.push((server, Ok(run))),
            Err(e) if INTERRUPTED.load(Ordering::SeqCst) => return Err(e),
            Err(e) => runs.push((server, Err(format!("{e:#}")))),
        }
    }
    println!();
    let row = |label: &str, value: &dyn Fn(&RdpRun) -> String| {
        let mut line = format!("{label:<44}");
        for (_, run) in &runs {
            let v = match run {
                Ok(run) => value(run),
                Err(_) => "NOT MEASURED".into(),
            };
            line.push_str(&format!(" {v:>24}"));
        }
        println!("{}", line.trim_end());
    };
    let heading = |label: &str| {
        let mut line = format!("{label:<44}");
        for (server, _) in &runs {
            line.push_str(&format!(" {:>24}", server.label()));
        }
        println!("{line}");
    };
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".into(), f);
    heading("");
    row("graphics path", &|r| r.graphics.clone());
    row("codec the client decoded (animating)", &|r| r.anim.decoded.summary());
    row("client window (XDamage)", &|r| r.window.clone());
    row("measured in", &|r| format!("{:.1} s", r.took));
    println!("-- weston-simple-shm animating --");
    row("seconds counted", &|r| format!("{:.1}", r.anim.secs));
    row("server CPU, % of one core", &|r| format!("{:.1} %", r.anim.cpu_percent));
    row("server CPU per client frame", &|r| opt(r.anim.per_frame(r.anim.cpu_ms), &|v| format!("{v:.3} ms")));
    row("frames/s at the client (XDamage bursts)", &|r| format!("{:.1}", r.anim.fps()));
    row("mean frame interval at the client", &|r| {
        opt(r.anim.per_frame(r.anim.secs * 1000.0), &|v| format!("{v:.2} ms"))
    });
    row("frames > 25 ms after the previous one", &|r| format!("{}", r.anim.late));
    row("app frames/s (its wl_surface.commit)", &|r| format!("{:.1}", r.anim.app_commits as f64 / r.anim.secs));
    row("bytes per frame on the wire", &|r| opt(r.anim.per_frame(r.anim.sent as f64), &kb));
    row("wire, MB/s", &|r| format!("{:.2}", r.anim.sent as f64 / r.anim.secs / 1e6));
    row("codec payload per frame", &|r| opt(r.anim.per_frame(r.anim.decoded.payload as f64), &kb));
    row("surface commands per frame", &|r| {
        opt(r.anim.per_frame(r.anim.decoded.commands as f64), &|v| format!("{v:.2}"))
    });
    row("client (xfreerdp3) CPU, % of one core", &|r| format!("{:.1} %", r.anim.client_cpu_percent));
    row("damage per frame at the client", &|r| {
        let rects = r.anim.per_frame(r.anim.damage_events as f64).unwrap_or(0.0);
        opt(r.anim.per_frame(r.anim.damage_area as f64), &|v| format!("{v:.0} px in {rects:.1} rects"))
    });
    println!("-- idle: one foot window, nothing animating --");
    row("frames at the client as foot started", &|r| {
        format!("{} in {:.1} s, {:.1} MB", r.foot_start.frames, r.foot_start.secs, r.foot_start.sent as f64 / 1e6)
    });
    row("seconds counted", &|r| format!("{:.1}", r.idle.secs));
    row("server CPU, % of one core", &|r| format!("{:.2} %", r.idle.cpu_percent));
    row("server CPU time", &|r| format!("{:.1} ms", r.idle.cpu_ms));
    row("frames/s at the client", &|r| format!("{:.1}", r.idle.fps()));
    row("bytes/s on the wire", &|r| format!("{:.0}", r.idle.sent as f64 / r.idle.secs));
    for (server, run) in &runs {
        match run {
            Err(e) => println!("{}: not measured: {e}", server.label()),
            Ok(r) => {
                for (what, span) in [("animating", &r.anim), ("idle", &r.idle)] {
                    if span.sent.abs_diff(span.acked) * 100 > span.sent.max(1) {
                        println!(
                            "{}, {what}: bytes acked ({}) differ from bytes sent ({})",
                            server.label(),
                            span.acked,
                            span.sent
                        );
                    }
                }
            }
        }
    }
    let find = |s: RdpServer| runs.iter().find(|(k, _)| *k == s).and_then(|(_, r)| r.as_ref().ok());
    let verdict = match (find(RdpServer::Wayrail), find(RdpServer::Weston)) {
        (Some(w), Some(p)) => match (w.anim.per_frame(w.anim.cpu_ms), p.anim.per_frame(p.anim.cpu_ms)) {
            (Some(wc), Some(pc)) => {
                let (wf, pf) = (w.anim.fps(), p.anim.fps());
                // Frame counts over a run differ by a frame or two between identical runs.
                let fps_ok = wf >= pf * 0.98;
                let yes = wc <= pc && fps_ok;
                format!(
                    "{} ({wc:.3} vs {pc:.3} ms/frame; {wf:.1} vs {pf:.1} frames/s{})",
                    if yes { "yes" } else { "no" },
                    if fps_ok && wf < pf { ", within the 2 % counting noise" } else { "" }
                )
            }
            _ => "n/a (no frames counted)".into(),
        },
        _ => "n/a (both servers must be measured)".into(),
    };
    println!();
    println!("wayrail CPU/frame ≤ Weston's at ≥ Weston's frames/s: {verdict}");
    Ok(())
}
