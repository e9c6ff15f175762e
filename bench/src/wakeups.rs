//! The second section, wakeups of the real compositor: the release `wayrail` with idle
//! windows (and one animating client for contrast), its context switches and CPU time read
//! from /proc.

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use wayrail_compositor::ipc::{self, Request};

use crate::composition::{HEIGHT, WIDTH};
use crate::procs::{alive, kill_group, log_tail, rates, usage, usage_sum, which, Rates, SESSIONS};
use crate::{check_interrupt, sleep, Cli, INTERRUPTED};
/// A wayrail process with a private runtime dir, and the clients started in it. Dropping it
/// kills all of them (each in its own process group) and removes the directory.
struct Session {
    dir: PathBuf,
    socket: String,
    ipc_path: PathBuf,
    compositor: Option<Child>,
    clients: Vec<Child>,
}

impl Session {
    fn start(wayrail: &Path) -> anyhow::Result<Session> {
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wayrail-bench-{}-{n}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let socket = format!("wayrail-bench-{}-{n}", std::process::id());
        let ipc_path = ipc::socket_path(&dir, &socket);
        let mut session = Session { dir, socket, ipc_path, compositor: None, clients: Vec::new() };
        let mut cmd = session.command(wayrail, "wayrail")?;
        cmd.args(["--backend", "headless", "--socket", &session.socket, "--xwayland", "off"])
            .args(["--output", &format!("{WIDTH}x{HEIGHT}")])
            .env("RUST_LOG", "warn")
            .env_remove("WAYLAND_DISPLAY");
        session.compositor = Some(cmd.spawn().with_context(|| format!("starting {}", wayrail.display()))?);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            check_interrupt()?;
            if ipc::send(&session.ipc_path, &Request::Version).is_ok() {
                break;
            }
            if !alive(session.compositor_pid()) {
                bail!("wayrail exited at startup: {}", session.log_tail("wayrail"));
            }
            if Instant::now() > deadline {
                bail!("wayrail did not answer on {} within 10 s", session.ipc_path.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(session)
    }

    /// The environment of the compositor; clients get WAYLAND_DISPLAY on top.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("XDG_RUNTIME_DIR", self.dir.display().to_string()),
            // No user config for the compositor or the clients.
            ("XDG_CONFIG_HOME", self.dir.join("config").display().to_string()),
        ]
    }

    /// `program` in this session's environment, in its own process group, its output to
    /// `name.log`.
    fn command(&self, program: &Path, name: &str) -> anyhow::Result<Command> {
        let log = self.log(name)?;
        let mut cmd = Command::new(program);
        cmd.envs(self.env())
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        Ok(cmd)
    }

    fn log(&self, name: &str) -> anyhow::Result<std::fs::File> {
        Ok(std::fs::File::create(self.dir.join(format!("{name}.log")))?)
    }

    fn log_tail(&self, name: &str) -> String {
        log_tail(&self.dir.join(format!("{name}.log")))
    }

    fn compositor_pid(&self) -> u32 {
        self.compositor.as_ref().map_or(0, Child::id)
    }

    fn client_pids(&self) -> Vec<u32> {
        self.clients.iter().map(Child::id).collect()
    }

    fn spawn_client(&mut self, program: &Path, args: &[&str]) -> anyhow::Result<()> {
        let mut cmd = self.command(program, &format!("client-{}", self.clients.len()))?;
        cmd.args(args).env("WAYLAND_DISPLAY", &self.socket);
        self.clients.push(cmd.spawn().with_context(|| format!("starting {}", program.display()))?);
        Ok(())
    }

    /// Waits until the compositor reports `count` windows.
    fn wait_windows(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            check_interrupt()?;
            let windows = ipc::send(&self.ipc_path, &Request::Windows)?;
            let mapped = windows.as_array().map_or(0, Vec::len);
            if mapped >= count {
                return Ok(());
            }
            if let Some(i) = self.clients.iter().position(|c| !alive(c.id())) {
                bail!("client {i} exited: {}", self.log_tail(&format!("client-{i}")));
            }
            if Instant::now() > deadline {
                bail!("only {mapped} of {count} windows mapped within {} s", timeout.as_secs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        let children = self.clients.iter_mut().chain(self.compositor.as_mut());
        for child in children {
            kill_group(child);
        }
        self.clients.clear();
        self.compositor = None;
        if self.dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                eprintln!("wayrail-bench: could not remove {}: {e}", self.dir.display());
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Scenario {
    label: String,
    program: PathBuf,
    args: Vec<String>,
    count: usize,
    secs: f64,
}

struct Measured {
    windows: usize,
    secs: f64,
    compositor: Rates,
    clients: Rates,
    note: String,
}

fn run_scenario(wayrail: &Path, scenario: &Scenario, settle: f64) -> anyhow::Result<Measured> {
    let mut session = Session::start(wayrail)?;
    for _ in 0..scenario.count {
        let args: Vec<&str> = scenario.args.iter().map(String::as_str).collect();
        session.spawn_client(&scenario.program, &args)?;
    }
    session.wait_windows(scenario.count, Duration::from_secs(20))?;
    let windows = ipc::send(&session.ipc_path, &Request::Windows)?.as_array().map_or(0, Vec::len);
    // Let start-up work (configures, first frames, IPC threads) finish; no IPC from here on.
    sleep(Duration::from_secs_f64(settle))?;
    let compositor = session.compositor_pid();
    let clients = session.client_pids();
    let (c0, k0, t0) = (usage(compositor)?, usage_sum(&clients)?, Instant::now());
    sleep(Duration::from_secs_f64(scenario.secs))?;
    let (c1, k1, secs) = (usage(compositor)?, usage_sum(&clients)?, t0.elapsed().as_secs_f64());
    let dead = clients.iter().filter(|p| !alive(**p)).count();
    let note = if !alive(compositor) {
        "wayrail DIED during the measurement".to_string()
    } else if dead > 0 {
        format!("{dead} clients exited during the measurement")
    } else {
        String::new()
    };
    let measured = Measured { windows, secs, compositor: rates(c0, c1, secs), clients: rates(k0, k1, secs), note };
    session.stop();
    Ok(measured)
}

pub(crate) fn wakeup_section(cli: &Cli) -> anyhow::Result<()> {
    println!();
    println!("== Wakeups of the wayrail process (release binary, headless, {WIDTH}x{HEIGHT}@60) ==");
    let wayrail = match &cli.wayrail {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("wayrail"),
    };
    if !wayrail.is_file() {
        println!("not measured: {} does not exist (scripts/bench.sh builds it)", wayrail.display());
        return Ok(());
    }
    println!("binary: {}", wayrail.display());
    println!("wakeups = voluntary + involuntary context switches of all its threads (/proc/PID/task/*/status);");
    println!("CPU % = utime+stime (/proc/PID/stat) over the wall time, of one CPU; CPU ms from schedstat.");
    println!(
        "Counting starts {:.0} s after every window mapped; nothing talks to wayrail while counting.",
        cli.settle_secs
    );
    let me = std::env::current_exe()?;
    let mut scenarios = vec![(
        Some(Scenario {
            label: format!("{} idle windows (wayrail-bench idle-client)", cli.windows),
            program: me,
            args: vec!["idle-client".into()],
            count: cli.windows,
            secs: cli.idle_secs,
        }),
        String::new(),
    )];
    let foot = which("foot").map(|program| Scenario {
        label: format!("{} idle foot terminals (foot sleep 3600)", cli.windows),
        program,
        args: vec!["sleep".into(), "3600".into()],
        count: cli.windows,
        secs: cli.idle_secs,
    });
    scenarios.push((foot, format!("{} idle foot terminals: foot not in PATH", cli.windows)));
    let shm = which("weston-simple-shm").map(|program| Scenario {
        label: "1 animating weston-simple-shm".into(),
        program,
        args: vec![],
        count: 1,
        secs: cli.anim_secs,
    });
    scenarios.push((shm, "1 animating weston-simple-shm: not in PATH".into()));
    println!();
    println!(
        "{:<46} {:>7} {:>5} | {:>10} {:>7} {:>8} | {:>10} {:>7}  note",
        "scenario", "windows", "secs", "wakeups/s", "CPU %", "CPU ms", "clients/s", "CPU %"
    );
    for (scenario, missing) in scenarios {
        let Some(scenario) = scenario else {
            println!("{missing} — not measured (scripts/setup-debian.sh test installs it)");
            continue;
        };
        check_interrupt()?;
        match run_scenario(&wayrail, &scenario, cli.settle_secs) {
            Ok(m) => println!(
                "{:<46} {:>7} {:>5.1} | {:>10.1} {:>7.2} {:>8.1} | {:>10.1} {:>7.2}  {}",
                scenario.label,
                m.windows,
                m.secs,
                m.compositor.wakeups_per_s,
                m.compositor.cpu_percent,
                m.compositor.cpu_ms,
                m.clients.wakeups_per_s,
                m.clients.cpu_percent,
                m.note,
            ),
            Err(e) if INTERRUPTED.load(Ordering::SeqCst) => return Err(e),
            Err(e) => println!("{} — not measured: {e:#}", scenario.label),
        }
    }
    println!("(\"clients/s\": wakeups of the clients together. Frame rates are inferred, not counted: an");
    println!(" animating client costs wayrail ~2 wakeups per frame (frame timer, client commit) and the");
    println!(" client ~2 (frame callback, buffer release), so ~120/s on both sides means ~60 frames/s.)");
    Ok(())
}
