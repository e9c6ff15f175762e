//! `wayraild run`: one thread waits in poll(2) on the signals, wayrail's readiness datagrams
//! and the status socket, with a timeout for the next thing due (a restart, a readiness
//! deadline, a check of the projected sockets). Nothing here blocks for long.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};

use crate::children::{AfterExit, RestartPolicy, Role, Supervised};
use crate::config::{Supervisor, X11_DIR};
use crate::gpu::Gpu;
use crate::project::{self, Check, Projection};
use crate::sockets::{self, RdpListener};

/// How long a child may take to end after SIGTERM at shutdown before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What wayrail said when it became ready.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadyInfo {
    pub wayland_display: Option<String>,
    pub x11_display: Option<u32>,
    pub ipc_socket: Option<PathBuf>,
    pub listening: Vec<String>,
}

impl ReadyInfo {
    /// A notify datagram, if it says `READY=1`.
    pub fn parse(message: &str) -> Option<ReadyInfo> {
        let mut ready = false;
        let mut info = ReadyInfo::default();
        for line in message.lines() {
            match line.split_once('=') {
                Some(("READY", "1")) => ready = true,
                Some(("X_WAYRAIL_WAYLAND_DISPLAY", v)) => info.wayland_display = Some(v.to_owned()),
                Some(("X_WAYRAIL_DISPLAY", v)) => info.x11_display = v.trim_start_matches(':').parse().ok(),
                Some(("X_WAYRAIL_SOCKET", v)) => info.ipc_socket = Some(PathBuf::from(v)),
                Some(("X_WAYRAIL_LISTEN", v)) => info.listening.push(v.to_owned()),
                _ => {}
            }
        }
        ready.then_some(info)
    }
}

pub struct Daemon {
    sup: Supervisor,
    private: PathBuf,
    listeners: Vec<RdpListener>,
    children: Vec<Supervised>,
    policy: RestartPolicy,
    notify_path: PathBuf,
    notify: UnixDatagram,
    status: UnixListener,
    signals: SignalPipe,
    projections: Vec<Projection>,
    ready_info: Option<ReadyInfo>,
    gpu: Gpu,
    env: Vec<(String, String)>,
    started: Instant,
    next_check: Instant,
    password_file: Option<PathBuf>,
    password: Option<String>,
}

impl Daemon {
    pub fn new(sup: Supervisor) -> anyhow::Result<Daemon> {
        let signals = SignalPipe::install()?;
        sockets::private_dir(&sup.runtime_dir).context("the runtime directory")?;
        let private = sup.private_dir();
        sockets::private_dir(&private)?;
        std::fs::create_dir_all(&sup.log_dir).with_context(|| format!("creating {}", sup.log_dir.display()))?;

        let status_path = sup.status_socket();
        if std::os::unix::net::UnixStream::connect(&status_path).is_ok() {
            anyhow::bail!("another wayraild serves {} already", status_path.display());
        }
        let _ = std::fs::remove_file(&status_path);
        let status = UnixListener::bind(&status_path).with_context(|| format!("binding {}", status_path.display()))?;
        std::fs::set_permissions(&status_path, std::fs::Permissions::from_mode(0o600))?;
        status.set_nonblocking(true)?;

        let notify_path = private.join("notify.sock");
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path).with_context(|| format!("binding {}", notify_path.display()))?;
        notify.set_nonblocking(true)?;

        let mut listeners = Vec::new();
        for addr in &sup.listen {
            let l = sockets::bind(addr)?;
            tracing::info!("RDP listener {}", l.bound);
            listeners.push(l);
        }

        let gpu = Gpu::detect(&sup.settings.root);
        tracing::info!("GPU: {}", gpu.describe());

        let (password_file, password) = if sup.settings.host_client.is_some() {
            let state = wayrail_compositor::config::state_dir()?;
            let login = wayrail_compositor::login::resolve(&sup.wayrail.rdp, &state)?;
            let password = login.map(|l| l.password);
            let path = private.join("rdp-password");
            let _ = std::fs::remove_file(&path);
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
            writeln!(file, "{}", password.as_deref().unwrap_or_default())?;
            (Some(path), password)
        } else {
            (None, None)
        };

        let mut children = Vec::new();
        if let Some(audio) = &sup.settings.audio {
            children.push(Supervised::new(Role::Audio, audio.clone()));
        }
        children.push(Supervised::new(Role::Wayrail, vec![sup.wayrail_program().display().to_string()]));
        if let Some(client) = &sup.settings.host_client {
            children.push(Supervised::new(Role::HostClient, client.clone()));
        }
        for child in &children {
            if child.argv.is_empty() {
                anyhow::bail!("[supervisor] {}: an empty command", child.name());
            }
        }
        let policy = RestartPolicy::new(sup.settings.crash_limit, Duration::from_secs_f64(sup.settings.crash_window));
        let now = Instant::now();
        Ok(Daemon {
            private,
            listeners,
            children,
            policy,
            notify_path,
            notify,
            status,
            signals,
            projections: Vec::new(),
            ready_info: None,
            gpu,
            env: Vec::new(),
            started: now,
            next_check: now,
            password_file,
            password,
            sup,
        })
    }

    /// Runs until SIGTERM or SIGINT, then stops the children in order.
    pub fn run(mut self) -> anyhow::Result<()> {
        loop {
            if self.signals.drain() {
                break;
            }
            let now = Instant::now();
            self.reap(now);
            self.read_notify(now);
            self.enforce_ready_deadline(now);
            self.start_due(now);
            if now >= self.next_check {
                self.check_projections();
                self.next_check = now + self.sup.check_interval();
            }
            self.serve_status();
            let timeout = self.next_wakeup(Instant::now());
            let mut fds = [
                libc::pollfd { fd: self.signals.read_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: self.notify.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: self.status.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: poll(2) on an array of initialized pollfd of the length given.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        }
        self.shutdown();
        Ok(())
    }

    fn next_wakeup(&self, now: Instant) -> Duration {
        let mut due = self.next_check;
        for child in &self.children {
            if let Some(t) = child.next_start.filter(|_| child.process.is_none()) {
                due = due.min(t);
            }
            if let Some(t) = child.ready_deadline {
                due = due.min(t);
            }
        }
        due.saturating_duration_since(now).max(Duration::from_millis(1))
    }

    fn wayrail(&self) -> Option<&Supervised> {
        self.children.iter().find(|c| c.role == Role::Wayrail)
    }

    fn wayrail_ready(&self) -> bool {
        self.wayrail().is_some_and(|w| w.ready)
    }

    fn reap(&mut self, now: Instant) {
        for child in &mut self.children {
            let Some(process) = child.process.as_mut() else { continue };
            let status = match process.try_wait() {
                Ok(Some(status)) => status,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!("waiting for {}: {err}", child.role.name());
                    continue;
                }
            };
            let pid = process.id();
            if child.role == Role::Wayrail {
                if let Some(n) = self.ready_info.as_ref().and_then(|i| i.x11_display) {
                    release_x11_display(n, pid);
                }
            }
            match child.exited(status, now, &self.policy) {
                AfterExit::RestartIn(delay) => tracing::warn!(
                    "{} exited ({}); starting it again in {} ms",
                    child.name(),
                    child.last_exit.as_deref().unwrap_or_default(),
                    delay.as_millis()
                ),
                AfterExit::Stop(_) => tracing::error!(
                    "{} is stopped and will not be started again: {}",
                    child.name(),
                    child.stopped.as_deref().unwrap_or_default()
                ),
            }
        }
    }

    fn read_notify(&mut self, now: Instant) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let Some(info) = ReadyInfo::parse(&message) else { continue };
            let Some(wayrail) = self.children.iter_mut().find(|c| c.role == Role::Wayrail) else { continue };
            if wayrail.process.is_none() || wayrail.ready {
                continue;
            }
            wayrail.ready = true;
            wayrail.ready_deadline = None;
            let took = wayrail.uptime(now).unwrap_or_default();
            tracing::info!(
                "wayrail is ready after {} ms: {} {}",
                took.as_millis(),
                info.wayland_display.as_deref().unwrap_or("?"),
                info.x11_display.map(|n| format!("DISPLAY=:{n}")).unwrap_or_default()
            );
            self.ready_info = Some(info);
            self.project();
        }
    }

    fn enforce_ready_deadline(&mut self, now: Instant) {
        let timeout = self.sup.ready_timeout();
        for child in &mut self.children {
            if child.ready || child.ready_deadline.is_none_or(|t| t > now) {
                continue;
            }
            child.ready_deadline = None;
            let why = format!("not ready within {} s", timeout.as_secs_f64());
            tracing::error!(
                "{} did not report ready within {} s (it was given NOTIFY_SOCKET={}; a wayrail without \
                 readiness support never answers): killing it",
                child.name(),
                timeout.as_secs_f64(),
                self.notify_path.display()
            );
            child.killed_because = Some(why);
            if let Some(pid) = child.pid() {
                // SAFETY: kill(2) on our own child, not reaped yet.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }

    fn start_due(&mut self, now: Instant) {
        let ready = self.wayrail_ready();
        for i in 0..self.children.len() {
            let child = &self.children[i];
            if child.running() || child.stopped.is_some() || child.next_start.is_none_or(|t| t > now) {
                continue;
            }
            if child.role == Role::HostClient && !ready {
                continue;
            }
            let result = self.spawn(i);
            let child = &mut self.children[i];
            match result {
                Ok(process) => {
                    tracing::info!("started {} (pid {})", child.name(), process.id());
                    child.started(process, now);
                    if child.role == Role::Wayrail {
                        child.ready_deadline = Some(now + self.sup.ready_timeout());
                    }
                }
                Err(err) => {
                    let decision = child.failed_to_start(format!("{err:#}"), now, &self.policy);
                    tracing::error!("starting {}: {err:#} ({decision:?})", child.name());
                }
            }
        }
    }

    /// Starts child `i`: its command, environment, descriptors and log.
    fn spawn(&mut self, i: usize) -> anyhow::Result<std::process::Child> {
        let child = &self.children[i];
        let log_path = self.sup.log_dir.join(format!("{}.log", child.name()));
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut cmd = Command::new(&child.argv[0]);
        let mut inherit: Vec<RawFd> = Vec::new();
        let mut stdin_line = None;
        match child.role {
            Role::Audio => {
                cmd.args(&child.argv[1..]).env("XDG_RUNTIME_DIR", &self.private);
            }
            Role::Wayrail => {
                cmd.arg("--socket").arg(&self.sup.settings.wayland_display);
                for l in &self.listeners {
                    cmd.arg("--listen").arg(format!("fd:{}", l.fd.as_raw_fd()));
                    inherit.push(l.fd.as_raw_fd());
                }
                if let Some(config) = &self.sup.config_file {
                    cmd.arg("--config").arg(config);
                }
                cmd.args(&self.sup.settings.wayrail_args);
                for var in ["WAYLAND_DISPLAY", "WAYLAND_SOCKET", "DISPLAY", "WAYRAIL_SOCKET"] {
                    cmd.env_remove(var);
                }
                for var in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
                    cmd.env_remove(var);
                }
                cmd.env("XDG_RUNTIME_DIR", &self.private).env("NOTIFY_SOCKET", &self.notify_path);
                // wayrail looks for the GPU where wayraild did (`wayrail msg version`).
                cmd.env("WAYRAIL_SYSTEM_ROOT", &self.sup.settings.root);
                // What apps that wayrail starts (RemoteApp) need beyond wayrail's own variables.
                cmd.envs(self.app_extra_env());
            }
            Role::HostClient => {
                cmd.args(child.argv[1..].iter().map(|a| self.fill_in(a)));
                if let Some(path) = &self.password_file {
                    cmd.env("WAYRAIL_RDP_PASSWORD_FILE", path);
                }
                stdin_line = self.password.clone();
            }
        }
        let shown: Vec<String> = std::iter::once(child.argv[0].clone())
            .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
            .collect();
        writeln!(log, "---- wayraild: starting {} ({} starts before) ----", shown.join(" "), child.starts.len())?;
        let err = log.try_clone()?;
        cmd.stdout(log).stderr(err);
        cmd.stdin(if stdin_line.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.process_group(0);
        // SAFETY: getpid(2) cannot fail.
        let parent = unsafe { libc::getpid() };
        // SAFETY: between fork and exec only async-signal-safe calls: fcntl(2), prctl(2),
        // getppid(2), _exit(2); `inherit` was allocated before the fork.
        unsafe {
            cmd.pre_exec(move || {
                for fd in &inherit {
                    sockets::inherit(*fd)?;
                }
                // Ends with wayraild even when wayraild is killed outright.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut process = cmd.spawn().with_context(|| format!("running {}", child.argv[0]))?;
        if let (Some(line), Some(mut stdin)) = (stdin_line, process.stdin.take()) {
            // The password on a pipe: never on a command line that `ps` shows. A client that
            // exits before reading it gets nothing (EPIPE is not an error here).
            let _ = writeln!(stdin, "{line}");
        }
        Ok(process)
    }

    /// `{address}`, `{port}` and `{user}` in a host client argument.
    fn fill_in(&self, arg: &str) -> String {
        let tcp = self.listeners.iter().find_map(|l| l.bound.strip_prefix("tcp:"));
        let port = tcp.and_then(|a| a.rsplit_once(':')).map(|(_, p)| p).unwrap_or_default();
        let user = self
            .sup
            .wayrail
            .rdp
            .username
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "wayrail".into());
        arg.replace("{address}", tcp.unwrap_or_default()).replace("{port}", port).replace("{user}", &user)
    }

    /// GPU and audio variables (wayrail sets the Wayland and X11 ones itself).
    fn app_extra_env(&self) -> Vec<(String, String)> {
        let s = &self.sup.settings;
        let old = std::env::var("LD_LIBRARY_PATH").ok();
        let mut env = self.gpu.app_env(s.d3d12_adapter.as_deref(), s.gallium_d3d12, old.as_deref());
        if self.sup.pulse_socket().is_some() {
            env.push(("PULSE_SERVER".into(), format!("unix:{}", self.pulse_link().display())));
        }
        env
    }

    fn pulse_link(&self) -> PathBuf {
        self.sup.runtime_dir.join("pulse/native")
    }

    /// After wayrail said it is ready: the links and the environment file.
    fn project(&mut self) {
        let Some(info) = self.ready_info.clone() else { return };
        let name = self.sup.settings.wayland_display.clone();
        let runtime = self.sup.runtime_dir.clone();
        let mut wanted = Vec::new();
        let real_name = info.wayland_display.clone().unwrap_or_else(|| name.clone());
        wanted.push(Projection::new("wayland", runtime.join(&name), self.private.join(&real_name)));
        let ipc = info.ipc_socket.clone().unwrap_or_else(|| self.private.join(format!("wayrail.{real_name}.sock")));
        let ipc_link = runtime.join(format!("wayrail.{name}.sock"));
        wanted.push(Projection::new("wayrail-ipc", ipc_link.clone(), ipc));
        if let Some(n) = info.x11_display {
            let real = Path::new(X11_DIR).join(format!("X{n}"));
            wanted.push(Projection::new("x11", self.sup.settings.x11_dir.join(format!("X{n}")), real));
        }
        if let Some(pulse) = self.sup.pulse_socket() {
            wanted.push(Projection::new("pulse", self.pulse_link(), pulse));
        }
        // Keep the repair counts of links that stay; remove links that changed.
        let mut old = std::mem::take(&mut self.projections);
        for w in &mut wanted {
            if let Some(pos) = old.iter().position(|o| o.link == w.link && o.target == w.target) {
                *w = old.remove(pos);
            }
        }
        for gone in old {
            gone.remove();
        }
        self.projections = wanted;
        self.check_projections();

        let mut env =
            vec![("XDG_RUNTIME_DIR".to_owned(), runtime.display().to_string()), ("WAYLAND_DISPLAY".to_owned(), name)];
        if let Some(n) = info.x11_display {
            env.push(("DISPLAY".to_owned(), format!(":{n}")));
        }
        env.push(("WAYRAIL_SOCKET".to_owned(), ipc_link.display().to_string()));
        env.extend(self.app_extra_env());
        // Without a sound server of ours, apps get wayrail's, whose sink goes to the host: its
        // socket is named after the Wayland socket (so it stays where it is when wayrail
        // restarts) and is up before wayrail says it is ready; no socket, no sound to give.
        if self.sup.pulse_socket().is_none() {
            let socket = wayrail_audio::socket_in(&wayrail_audio::dir_for(&self.private, &real_name));
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                env.push(("PULSE_SERVER".to_owned(), format!("unix:{}", socket.display())));
            }
        }
        self.env = env;
        if let Err(err) = project::write_env_file(&self.sup.env_file(), &self.env) {
            tracing::error!("the environment file: {err:#}");
        }
    }

    fn check_projections(&mut self) {
        for p in &mut self.projections {
            let check = p.ensure();
            let was_blocked = std::mem::replace(&mut p.blocked, check == Check::Blocked);
            match check {
                Check::Fine | Check::Direct => {}
                Check::Made => tracing::info!("{}: {} -> {}", p.what, p.link.display(), p.target.display()),
                Check::Repaired => {
                    tracing::warn!("{} was gone: linked {} -> {} again", p.what, p.link.display(), p.target.display())
                }
                Check::Blocked if !was_blocked => tracing::warn!(
                    "{}: cannot show {} at {}: something else is there, or the socket is missing",
                    p.what,
                    p.target.display(),
                    p.link.display()
                ),
                Check::Blocked => {}
            }
        }
    }

    fn serve_status(&mut self) {
        while let Ok((mut stream, _)) = self.status.accept() {
            if !same_user(&stream) {
                continue;
            }
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let mut text = self.status_json().to_string();
            text.push('\n');
            let _ = stream.write_all(text.as_bytes());
        }
    }

    pub fn status_json(&self) -> Value {
        let now = Instant::now();
        let info = self.ready_info.as_ref();
        json!({
            "pid": std::process::id(),
            "uptime_seconds": now.duration_since(self.started).as_secs_f64(),
            "runtime_dir": self.sup.runtime_dir,
            "private_dir": self.private,
            "env_file": self.sup.env_file(),
            "log_dir": self.sup.log_dir,
            "in_vm": self.sup.in_vm,
            "children": self.children.iter().map(|c| c.status_json(now)).collect::<Vec<_>>(),
            "sockets": {
                "rdp": self.listeners.iter().map(|l| l.bound.clone()).collect::<Vec<_>>(),
                "projected": self.projections.iter().map(Projection::status_json).collect::<Vec<_>>(),
                "status": self.sup.status_socket(),
                "notify": self.notify_path,
            },
            "wayrail": info.map(|i| json!({
                "wayland_display": i.wayland_display,
                "x11_display": i.x11_display.map(|n| format!(":{n}")),
                "ipc_socket": i.ipc_socket,
                "listening": i.listening,
            })),
            "gpu": self.gpu,
            "env": self.env.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        })
    }

    /// Stops the host client, then wayrail, then the audio server; removes what we made.
    fn shutdown(mut self) {
        tracing::info!("shutting down");
        for role in [Role::HostClient, Role::Wayrail, Role::Audio] {
            for child in self.children.iter_mut().filter(|c| c.role == role) {
                let Some(mut process) = child.process.take() else { continue };
                // SAFETY: kill(2) on our own child, not reaped yet.
                unsafe { libc::kill(process.id() as libc::pid_t, libc::SIGTERM) };
                let deadline = Instant::now() + STOP_TIMEOUT;
                let status = loop {
                    match process.try_wait() {
                        Ok(Some(status)) => break Some(status),
                        Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                        _ => {
                            tracing::warn!("{} did not stop within {STOP_TIMEOUT:?}: killing it", child.name());
                            let _ = process.kill();
                            break process.wait().ok();
                        }
                    }
                };
                tracing::info!(
                    "{} stopped ({})",
                    child.name(),
                    status.map(crate::children::describe_exit).unwrap_or_default()
                );
            }
        }
        for p in &self.projections {
            p.remove();
        }
        let _ = std::fs::remove_file(self.sup.env_file());
        let _ = std::fs::remove_file(self.sup.status_socket());
        let _ = std::fs::remove_file(&self.notify_path);
        if let Some(path) = &self.password_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes the lock file and socket of X display `n` when the dead wayrail `pid` still holds
/// them (it could not clean up after SIGKILL): the next wayrail then gets the same display
/// number, and the `DISPLAY` that apps were given stays right.
fn release_x11_display(n: u32, pid: u32) {
    let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
    let holder = std::fs::read_to_string(&lock).ok().and_then(|t| t.trim().parse::<u32>().ok());
    if holder == Some(pid) {
        let _ = std::fs::remove_file(Path::new(X11_DIR).join(format!("X{n}")));
        let _ = std::fs::remove_file(&lock);
        tracing::info!("released X display :{n} of the dead wayrail (pid {pid})");
    }
}

/// Whether the peer of a status connection is our own user.
fn same_user(stream: &std::os::unix::net::UnixStream) -> bool {
    // SAFETY: ucred is plain data; getsockopt(2) fills it with the size given.
    unsafe {
        let mut cred: libc::ucred = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        let r = libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        );
        r == 0 && cred.uid == libc::getuid()
    }
}

/// SIGTERM, SIGINT and SIGCHLD written to a pipe by their handlers, so poll(2) wakes for them.
struct SignalPipe {
    read: File,
}

static SIGNAL_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let byte = signal as u8;
    // SAFETY: write(2) is async-signal-safe; the descriptor stays open for the process's life.
    unsafe { libc::write(SIGNAL_WRITE_FD.load(Ordering::Relaxed), (&byte as *const u8).cast(), 1) };
}

impl SignalPipe {
    fn install() -> anyhow::Result<SignalPipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe2(2) fills two new descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(std::io::Error::last_os_error()).context("pipe2");
        }
        SIGNAL_WRITE_FD.store(fds[1], Ordering::Relaxed);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD] {
            // SAFETY: a handler that only calls write(2); sigaction is plain data.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error()).context("sigaction");
                }
            }
        }
        // SAFETY: the read end is ours alone.
        Ok(SignalPipe { read: unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) } })
    }

    fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Empties the pipe; whether a signal asked us to stop.
    fn drain(&mut self) -> bool {
        use std::io::Read as _;
        let mut stop = false;
        let mut buf = [0u8; 64];
        while let Ok(n) = self.read.read(&mut buf) {
            if n == 0 {
                break;
            }
            for &signal in &buf[..n] {
                if [libc::SIGTERM, libc::SIGINT, libc::SIGHUP].contains(&(signal as libc::c_int)) {
                    tracing::info!("signal {signal}: stopping");
                    stop = true;
                }
            }
        }
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_datagrams() {
        let info = ReadyInfo::parse(
            "READY=1\nSTATUS=x\nX_WAYRAIL_WAYLAND_DISPLAY=wayland-0\nX_WAYRAIL_DISPLAY=:2\n\
             X_WAYRAIL_SOCKET=/r/wayrail.wayland-0.sock\nX_WAYRAIL_LISTEN=fd:3\nX_WAYRAIL_LISTEN=fd:4\n",
        )
        .unwrap();
        assert_eq!(info.wayland_display.as_deref(), Some("wayland-0"));
        assert_eq!(info.x11_display, Some(2));
        assert_eq!(info.listening, ["fd:3", "fd:4"]);
        assert_eq!(ReadyInfo::parse("READY=1\n"), Some(ReadyInfo::default()));
        assert_eq!(ReadyInfo::parse("STATUS=starting\n"), None);
        assert_eq!(ReadyInfo::parse("READY=0\n"), None);
    }
}
