//! The RDP scenarios: what runs in a server while it is measured. Each starts its app(s) in a
//! fresh session, lets them warm up and measures for the same seconds in every server.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::measure::{measure, AppLog, CommitLog, Span};
use crate::procs::which;
use crate::rdp_log::{decoded, egfx_version};
use crate::servers::{RdpServer, Session};
use crate::{check_interrupt, sleep, RdpArgs};

/// Time for the client's first picture and foot's first frame before the idle count.
const SETTLE: Duration = Duration::from_secs(2);
/// Windows of the many-windows scenario.
pub(crate) const MANY: usize = 10;
/// Host key presses of the typing scenario are this far apart.
const KEY_INTERVAL: Duration = Duration::from_millis(60);

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// weston-simple-shm (250x250, animating), and before it the idle cost with one foot window.
    SimpleShm,
    /// foot running `cat` of a large generated file in a loop.
    Terminal,
    /// A full-HD (1920x1080 client) fullscreen window redrawn whole every frame.
    FullHd,
    /// One character typed at a time through the client (XTEST into its X server).
    Typing,
    /// Ten weston-simple-shm windows animating at once.
    TenWindows,
}

impl Scenario {
    pub(crate) fn title(self) -> &'static str {
        match self {
            Scenario::SimpleShm => "weston-simple-shm",
            Scenario::Terminal => "terminal flood: foot running cat of a large file in a loop",
            Scenario::FullHd => "full-HD full-window animation",
            Scenario::Typing => "typing one character",
            Scenario::TenWindows => "10 windows animating at once",
        }
    }

    /// The desktop (and client size) the scenario runs at.
    pub(crate) fn size(self, args: &RdpArgs) -> &str {
        match self {
            Scenario::FullHd => "1920x1080",
            _ => &args.rdp_size,
        }
    }

    /// What the scenario runs, for the header of its table.
    pub(crate) fn describe(self) -> String {
        match self {
            Scenario::SimpleShm => {
                "weston-simple-shm (WAYLAND_DEBUG=client: its commits); idle: one foot window (foot sleep 3600)".into()
            }
            Scenario::Terminal => {
                "foot (WAYLAND_DEBUG=client) running sh -c 'while :; do cat FILE; done', FILE 4 MB of text".into()
            }
            Scenario::FullHd => "wayrail-bench anim-client --fullscreen: a moving pattern over every pixel, \
                 a new frame at each frame callback"
                .into(),
            Scenario::Typing => format!(
                "wayrail-bench key-client (a 10x20 cell drawn per key press); an 'a' pressed and released \
                 every {} ms through XTEST into xfreerdp3's X server: a real host key event",
                KEY_INTERVAL.as_millis()
            ),
            Scenario::TenWindows => format!("{MANY} x weston-simple-shm (WAYLAND_DEBUG=client)"),
        }
    }

    /// Whether RemoteApp rows (wayrail-remoteapp, WSLg) are measured: the scenarios whose
    /// app the host can start by name (`/app:program:`). Typing goes to the app's RAIL window,
    /// which the key helper gives the X focus.
    pub(crate) fn remote_app(self) -> bool {
        matches!(self, Scenario::SimpleShm | Scenario::TenWindows | Scenario::Typing)
    }

    pub(crate) fn programs(self) -> &'static [&'static str] {
        match self {
            Scenario::SimpleShm => &["weston-simple-shm", "foot"],
            Scenario::Terminal => &["foot"],
            Scenario::FullHd | Scenario::Typing => &[],
            Scenario::TenWindows => &["weston-simple-shm"],
        }
    }
}

/// What one scenario measured in one server.
pub(crate) struct Run {
    /// The graphics path: EGFX with its version, or none (Surface Bits).
    pub(crate) graphics: String,
    pub(crate) window: String,
    pub(crate) span: Span,
    /// simple-shm only: foot starting, then idle.
    pub(crate) idle: Option<(Span, Span)>,
    pub(crate) took: f64,
}

/// The script a RemoteApp host asks the server to run: the first app, logging its commits
/// (weston-simple-shm its protocol, the key client its own stamps).
fn rail_script(scenario: Scenario, s_dir: &Path, bench: &Path) -> Option<String> {
    let log = s_dir.join("app-0.log");
    match scenario {
        Scenario::Typing => Some(format!(
            "exec '{}' key-client --width {KEY_CLIENT_SIZE_W} --height {KEY_CLIENT_SIZE_H} >{} 2>&1",
            bench.display(),
            log.display()
        )),
        _ if scenario.remote_app() => {
            Some(format!("WAYLAND_DEBUG=client exec weston-simple-shm >{} 2>&1", log.display()))
        }
        _ => None,
    }
}

/// The key client's window.
const KEY_CLIENT_SIZE_W: i32 = 640;
const KEY_CLIENT_SIZE_H: i32 = 400;

pub(crate) fn run(scenario: Scenario, server: RdpServer, wayrail: &Path, args: &RdpArgs) -> anyhow::Result<Run> {
    let started = Instant::now();
    let size = scenario.size(args);
    // The session's directory is made by the session; the RemoteApp script names a log in it,
    // so the script is written with a placeholder the session's directory replaces.
    let bench = std::env::current_exe()?;
    let mut s = Session::start(server, wayrail, size, rail_script(scenario, Path::new("@DIR@"), &bench).as_deref())?;
    let mut watch = vec!["server", "xfreerdp3"];
    let mut apps: Vec<AppLog> = Vec::new();
    let mut idle = None;
    let wl_debug = |name: &str| AppLog { name: name.into(), kind: CommitLog::WaylandDebug };

    if scenario == Scenario::SimpleShm && !server.remote_app() && which("foot").is_some() {
        // Idle: one foot window that does nothing (its start is counted too, to show it drew).
        let before = crate::measure::take_sample(&mut s, &[])?;
        let mut cmd = s.wayland_client("foot");
        cmd.args(["sleep", "3600"]);
        s.procs.spawn("foot", cmd)?;
        sleep(SETTLE)?;
        let (a, idle_span) = measure(&mut s, &[], &["server", "xfreerdp3", "foot"], args.rdp_idle_secs, None)?;
        idle = Some((Span::new(&s, &[], &before, &a, Vec::new()), idle_span));
        s.procs.kill("foot");
    }

    match scenario {
        Scenario::SimpleShm | Scenario::TenWindows => {
            let n = if scenario == Scenario::SimpleShm { 1 } else { MANY };
            let first = if server.remote_app() { 1 } else { 0 };
            if server.remote_app() {
                apps.push(wl_debug("app-0"));
            }
            for i in first..n {
                let name = format!("app-{i}");
                let mut cmd = s.wayland_client("weston-simple-shm");
                cmd.env("WAYLAND_DEBUG", "client");
                s.procs.spawn(&name, cmd)?;
                apps.push(wl_debug(&name));
            }
        }
        Scenario::Terminal => {
            let file = s.procs.dir.join("flood.txt");
            write_flood_file(&file)?;
            let mut cmd = s.wayland_client("foot");
            cmd.env("WAYLAND_DEBUG", "client").args(["sh", "-c", &format!("while :; do cat {}; done", file.display())]);
            s.procs.spawn("app-0", cmd)?;
            apps.push(wl_debug("app-0"));
        }
        Scenario::FullHd => {
            let (w, h) = size.split_once('x').context("the size is WxH")?;
            let mut cmd = s.wayland_client(&bench);
            cmd.args(["anim-client", "--fullscreen", "--width", w, "--height", h]);
            s.procs.spawn("app-0", cmd)?;
            apps.push(AppLog { name: "app-0".into(), kind: CommitLog::Bench });
        }
        Scenario::Typing => {
            // In RemoteApp the host started it (`rail_script`).
            if !server.remote_app() {
                let (w, h) = (KEY_CLIENT_SIZE_W.to_string(), KEY_CLIENT_SIZE_H.to_string());
                let mut cmd = s.wayland_client(&bench);
                cmd.args(["key-client", "--width", &w, "--height", &h]);
                s.procs.spawn("app-0", cmd)?;
            }
            apps.push(AppLog { name: "app-0".into(), kind: CommitLog::Bench });
        }
    }
    let owned: Vec<String> =
        s.procs.children.iter().map(|(n, _)| n.clone()).filter(|n| n.starts_with("app-")).collect();
    watch.extend(owned.iter().map(String::as_str));
    sleep(Duration::from_secs_f64(args.rdp_warmup_secs))?;
    let span = if scenario == Scenario::Typing {
        let secs = args.rdp_secs;
        let mut type_keys = |s: &mut Session| -> anyhow::Result<Vec<u64>> {
            let end = Instant::now() + Duration::from_secs_f64(secs);
            let mut keys = Vec::new();
            while Instant::now() < end {
                check_interrupt()?;
                keys.push(s.counter.key()?);
                std::thread::sleep(KEY_INTERVAL);
            }
            Ok(keys)
        };
        measure(&mut s, &apps, &watch, secs, Some(&mut type_keys))?.1
    } else {
        measure(&mut s, &apps, &watch, args.rdp_secs, None)?.1
    };

    let server_log = s.server_log();
    let whole = decoded(&s.procs.log_range("xfreerdp3", 0, u64::MAX));
    let graphics = match egfx_version(&server_log) {
        Some(v) => v,
        None if whole.codecs.iter().any(|(c, _)| c.starts_with("EGFX")) => "EGFX".into(),
        None => "no EGFX: Surface Bits".into(),
    };
    Ok(Run { graphics, window: s.window.clone(), span, idle, took: started.elapsed().as_secs_f64() })
}

/// About 4 MB of varied text lines (what a build log or `cat` of a source tree looks like).
fn write_flood_file(path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let words = ["compositor", "frame", "wl_surface", "commit", "damage", "egfx", "socket", "latency", "buffer"];
    let mut x: u32 = 0x1234_5678;
    for line in 0..50_000u32 {
        write!(f, "{line:6}: ")?;
        for _ in 0..(6 + line % 9) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            write!(f, "{} {:08x} ", words[(x % words.len() as u32) as usize], x)?;
        }
        writeln!(f)?;
    }
    f.flush()?;
    Ok(())
}
