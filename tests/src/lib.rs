//! The harness of wayrail's end-to-end tests: it runs the already-built `wayrail` binary on the
//! headless backend (or the RDP backend, with FreeRDP in Xvfb as the host: see [`rdp`]) and
//! real clients against it, and owns everything it starts.
//!
//! Every [`Compositor`] gets its own runtime directory (mode 0700) and socket name, and every
//! process started through it is a [`Client`] guard. Guards kill their whole process group and
//! reap it when dropped, also when a test panics; a panicking test prints the tails of the
//! compositor's and the clients' logs. Nothing depends on other tests, so the default parallel
//! test threads are fine. `WAYRAIL_E2E_LOG` sets the compositor's `RUST_LOG` (default `info`).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
pub use client::Client;
pub use image::{close_rgb, locate, sample_grid, Image, Rect};
pub use serde_json::Value;

mod client;
pub mod flood;
pub mod image;
pub mod ironrdp;
pub mod rail;
pub mod rdp;
pub mod x11;
pub mod xwayland;

/// How long a compositor may take to answer its first `wayrail msg version`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a real client (GTK, foot) may take to map its first window on a busy 2-core box.
pub const MAP_TIMEOUT: Duration = Duration::from_secs(30);

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

fn unique_id() -> String {
    format!("{}-{}", std::process::id(), NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Skips the test (prints why and returns) unless every program named is on `PATH`. In CI
/// (`CI=true`) a missing program fails the test instead: CI runs every test or says why not.
#[macro_export]
macro_rules! require_programs {
    ($($program:expr),+ $(,)?) => {
        let missing: Vec<&str> = [$($program),+].into_iter().filter(|p| !$crate::have_program(p)).collect();
        if !missing.is_empty() {
            $crate::skip_unless_ci(&format!(
                "{} not installed (scripts/setup-debian.sh test installs it)",
                missing.join(", ")
            ));
            return;
        }
    };
}

/// At least `len` bytes of text from a word list with accents, emoji, CJK, newlines and tabs,
/// the words picked by a xorshift from `seed` (made odd, so never zero).
pub fn sample_text(len: usize, seed: u32) -> String {
    let words = ["alpha ", "grüße ", "😀", "zwölf ", "line\n", "tab\t", "x", "日本 "];
    let mut out = String::with_capacity(len + 8);
    let mut s = seed | 1;
    while out.len() < len {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        out.push_str(words[(s % words.len() as u32) as usize]);
    }
    out
}

/// Whether the tests run in CI (`CI=true`, as CI services set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A test's environment lacks something: outside CI this prints `SKIPPED: why` and the caller
/// returns; in CI it panics with `why`, so nothing is skipped there unseen.
pub fn skip_unless_ci(why: &str) {
    if in_ci() {
        panic!("{why} (CI=true: CI must run this test)");
    }
    eprintln!("SKIPPED: {why}");
}

/// Whether a program is on `PATH` (or is an existing path).
pub fn have_program(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The `wayrail` binary: `$WAYRAIL_BIN`, else `wayrail` in the nearest directory above this
/// test executable (`target/debug/deps/x` finds `target/debug/wayrail`). Tests never build it.
pub fn wayrail_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("WAYRAIL_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors().skip(1).map(|dir| dir.join("wayrail")).find(|candidate| candidate.is_file()).unwrap_or_else(|| {
        panic!(
            "no wayrail binary found above {} (run `cargo build --workspace` first, or set WAYRAIL_BIN)",
            exe.display()
        )
    })
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `probe` until it yields a value or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let mut found = None;
    wait_until(timeout, || {
        found = probe();
        found.is_some()
    });
    found
}

/// The last `lines` lines of a text file (lossy), for failure messages.
pub fn file_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else { return format!("({} is missing)", path.display()) };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A private directory (mode 0700), removed with everything in it when dropped; kept when
/// `WAYRAIL_E2E_KEEP` is set, for looking at screenshots and logs after a run.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", unique_id()));
        fs::DirBuilder::new().mode(0o700).create(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("WAYRAIL_E2E_KEEP").is_some() {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A running `wayrail` (headless or RDP backend) with its own runtime directory and socket.
pub struct Compositor {
    process: Client,
    pub socket: String,
    pub log: PathBuf,
    /// What the RDP backend listens on (`tcp:127.0.0.1:PORT`, `unix:PATH`), as it printed.
    pub rdp_listening: Vec<String>,
    bin: PathBuf,
    // Dropped last: the runtime directory holds the sockets and logs.
    dir: TempDir,
}

impl Compositor {
    /// Starts `wayrail --backend headless --socket <unique> [extra_args]` and waits (at most
    /// [`STARTUP_TIMEOUT`]) until `wayrail msg version` answers. Xwayland is off unless
    /// `extra_args` says otherwise.
    pub fn start(extra_args: &[&str]) -> Compositor {
        Compositor::start_backend("headless", extra_args)
    }

    /// Starts `wayrail --backend rdp --socket <unique> --listen tcp:127.0.0.1:0 [extra_args]`
    /// (more `--listen` addresses may come in `extra_args`): the kernel picks a free port, read
    /// back from wayrail's startup message ([`Compositor::rdp_port`]). The self-signed TLS
    /// certificate goes to the private directory (`XDG_STATE_HOME`). Waits as [`Compositor::start`].
    pub fn start_rdp(extra_args: &[&str]) -> Compositor {
        Compositor::start_rdp_with_env(extra_args, &[])
    }

    /// [`Compositor::start_rdp`] with more environment variables for wayrail.
    pub fn start_rdp_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> Compositor {
        let mut args = vec!["--listen", "tcp:127.0.0.1:0"];
        args.extend_from_slice(extra_args);
        let mut compositor = Compositor::start_with("rdp", &args, env);
        // Printed before the IPC socket answers, so it is there by now.
        let stdout = fs::read_to_string(compositor.path("wayrail.stdout")).unwrap_or_default();
        compositor.rdp_listening =
            stdout.lines().filter_map(|l| l.trim().strip_prefix("RDP on ")).map(|a| a.trim().to_string()).collect();
        assert!(
            compositor.rdp_port().is_some(),
            "wayrail printed no TCP listening address: {stdout:?}\n{}",
            compositor.log_tail(20)
        );
        compositor
    }

    /// Starts `wayrail --backend nested` inside a parent session: `parent` is its environment
    /// (`DISPLAY` of an X server, or `WAYLAND_DISPLAY` of a Wayland compositor, as a path).
    /// Waits as [`Compositor::start`].
    pub fn start_nested(parent: &[(&str, &str)], extra_args: &[&str]) -> Compositor {
        Compositor::start_with("nested", extra_args, parent)
    }

    fn start_backend(backend: &str, extra_args: &[&str]) -> Compositor {
        Compositor::start_with(backend, extra_args, &[])
    }

    fn start_with(backend: &str, extra_args: &[&str], parent: &[(&str, &str)]) -> Compositor {
        let bin = wayrail_bin();
        let dir = TempDir::new("wayrail-e2e");
        let socket = format!("wr-e2e-{}", unique_id());
        let log = dir.path().join("wayrail.log");
        let mut cmd = Command::new(&bin);
        cmd.args(["--backend", backend, "--socket", &socket]);
        if !extra_args.iter().any(|a| a.starts_with("--xwayland")) {
            cmd.args(["--xwayland", "off"]);
        }
        cmd.args(extra_args);
        for var in ["WAYLAND_DISPLAY", "WAYLAND_SOCKET", "WAYRAIL_SOCKET", "DISPLAY"] {
            cmd.env_remove(var);
        }
        for var in ["RULES", "MODEL", "LAYOUT", "VARIANT", "OPTIONS"] {
            cmd.env_remove(format!("XKB_DEFAULT_{var}"));
        }
        cmd.envs(parent.iter().copied());
        cmd.env("XDG_RUNTIME_DIR", dir.path())
            // No user config: the built-in defaults (US keyboard layout, one 1920x1080 output).
            .env("XDG_CONFIG_HOME", dir.path().join("wayrail-config"))
            // The RDP backend keeps its self-signed certificate here.
            .env("XDG_STATE_HOME", dir.path().join("wayrail-state"))
            // Desktop entries for what the tests' RemoteApp hosts start (the Exec policy).
            .env("XDG_DATA_HOME", rail::exec_data_home(&dir.path().join("wayrail-data")))
            // RDP clients log in with the test password.
            .env("CREDENTIALS_DIRECTORY", rdp::test_credentials_dir(dir.path()))
            .env("RUST_LOG", std::env::var("WAYRAIL_E2E_LOG").unwrap_or_else(|_| "info".into()))
            .env("NO_COLOR", "1")
            // Apps a RemoteApp host starts (foot, xterm) run the user's shell; the tests must
            // not wait on this machine's interactive shell setup (a slow or stuck ~/.bashrc).
            .env("SHELL", "/bin/sh")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file(&dir.path().join("wayrail.stdout")))
            .stderr(log_file(&log))
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut compositor = Compositor {
            process: Client { name: "wayrail".into(), child, log: None, status: None },
            socket,
            log,
            rdp_listening: Vec::new(),
            bin,
            dir,
        };
        let started = Instant::now();
        let mut last_error = String::new();
        let ready = wait_until(STARTUP_TIMEOUT, || {
            if compositor.process.has_exited() {
                return true;
            }
            match compositor.try_msg_json(&["version"]) {
                Ok(v) => v["wayland_socket"].as_str() == Some(compositor.socket.as_str()),
                Err(e) => {
                    last_error = e.to_string();
                    false
                }
            }
        });
        if let Some(status) = compositor.process.try_status() {
            panic!("wayrail exited during startup ({status}):\n{}", compositor.log_tail(40));
        }
        assert!(
            ready,
            "wayrail did not answer `msg version` within {:?} ({last_error}):\n{}",
            started.elapsed(),
            compositor.log_tail(40)
        );
        compositor
    }

    pub fn runtime_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside this compositor's private directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the compositor process is still running.
    pub fn is_running(&mut self) -> bool {
        !self.process.has_exited()
    }

    /// Sends a signal to the compositor process.
    pub fn signal(&self, signal: i32) {
        self.process.signal(signal);
    }

    /// Waits up to `timeout` for the compositor to exit (reaping it).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(timeout)
    }

    /// The TCP port the RDP backend listens on (RDP compositors only).
    pub fn rdp_port(&self) -> Option<u16> {
        self.rdp_listening
            .iter()
            .find_map(|a| a.strip_prefix("tcp:"))
            .and_then(|hostport| hostport.rsplit_once(':'))
            .and_then(|(_, port)| port.parse().ok())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log, lines)
    }

    pub fn log_text(&self) -> String {
        fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// Runs `wayrail msg --json ARGS` against this compositor and parses its answer.
    pub fn try_msg_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = Command::new(&self.bin)
            .args(["msg", "--json"])
            .args(args)
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env("WAYLAND_DISPLAY", &self.socket)
            .env_remove("WAYRAIL_SOCKET")
            .stdin(Stdio::null())
            .output();
        let out = checked_output(out, "wayrail msg", args)?;
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!("`wayrail msg {}` printed no JSON: {:?}", args.join(" "), String::from_utf8_lossy(&out.stdout))
        })
    }

    /// As [`Compositor::try_msg_json`]; a failure fails the test, with the compositor's log.
    pub fn msg_json(&self, args: &[&str]) -> Value {
        self.try_msg_json(args).unwrap_or_else(|e| panic!("{e:#}\ncompositor log:\n{}", self.log_tail(30)))
    }

    /// Every window (`wayrail msg windows`).
    pub fn windows(&self) -> Vec<Value> {
        match self.msg_json(&["windows"]) {
            Value::Array(windows) => windows,
            other => panic!("`msg windows` answered {other}"),
        }
    }

    /// Desktop frames of an output that went straight from a fullscreen window's buffer,
    /// uncomposed (`msg version`: `desktop.direct_frames`).
    pub fn desktop_direct_frames(&self) -> u64 {
        let version = self.msg_json(&["version"]);
        version["desktop"]["direct_frames"].as_u64().unwrap_or_else(|| panic!("no direct frame counter: {version}"))
    }

    pub fn window(&self, id: u64) -> Option<Value> {
        self.windows().into_iter().find(|w| w["id"].as_u64() == Some(id))
    }

    pub fn outputs(&self) -> Vec<Value> {
        match self.msg_json(&["outputs"]) {
            Value::Array(outputs) => outputs,
            other => panic!("`msg outputs` answered {other}"),
        }
    }

    /// Waits until a window matching `pred` is listed and returns it; fails the test with
    /// `what` and the current window list otherwise.
    pub fn wait_for_window(&self, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(timeout, || self.windows().into_iter().find(|w| pred(w))).unwrap_or_else(|| {
            panic!(
                "no window {what} after {timeout:?}; windows: {}\ncompositor log:\n{}",
                Value::Array(self.windows()),
                self.log_tail(30)
            )
        })
    }

    /// Waits until no window matches `pred`; fails the test otherwise.
    pub fn wait_for_no_window(&self, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) {
        let gone = wait_until(timeout, || !self.windows().iter().any(&pred));
        assert!(gone, "window {what} still there after {timeout:?}: {}", Value::Array(self.windows()));
    }

    /// Waits for the toplevel of a client process to map (optionally with a given title).
    pub fn wait_for_toplevel_of(&self, client: &Client, timeout: Duration) -> Value {
        let pid = client.pid() as i64;
        self.wait_for_window(timeout, &format!("of {} (pid {pid})", client.name), |w| {
            w["kind"] == "toplevel" && w["pid"].as_i64() == Some(pid)
        })
    }

    /// `wayrail msg input WORDS...`.
    pub fn input(&self, words: &[&str]) {
        let mut args = vec!["input"];
        args.extend_from_slice(words);
        self.msg_json(&args);
    }

    /// `wayrail msg window ID OP [ARGS]`.
    pub fn window_op(&self, id: u64, op: &[&str]) {
        let id = id.to_string();
        let mut args = vec!["window", id.as_str()];
        args.extend_from_slice(op);
        self.msg_json(&args);
    }

    /// Whether the first output's picture inside `rect` changes (in more than 100 pixels)
    /// within 5 s; the screenshots are `NAME-N.png` in the test's directory.
    pub fn output_changes(&self, rect: Rect, name: &str) -> bool {
        let before = self.screenshot_output(&self.path(&format!("{name}-0.png")));
        let mut n = 0;
        wait_until(Duration::from_secs(5), || {
            n += 1;
            self.screenshot_output(&self.path(&format!("{name}-{n}.png"))).count_differences(&before, rect) > 100
        })
    }

    /// A PNG of the first output, loaded.
    pub fn screenshot_output(&self, path: &Path) -> Image {
        self.screenshot_named_output(path, None)
    }

    /// A PNG of an output (the first when `output` is None), loaded.
    pub fn screenshot_named_output(&self, path: &Path, output: Option<&str>) -> Image {
        let path_str = path.to_str().expect("UTF-8 path");
        let mut args = vec!["screenshot", path_str];
        if let Some(name) = output {
            args.extend(["--output", name]);
        }
        self.msg_json(&args);
        Image::load(path).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// A PNG of one window (its surface tree, no popups) and the answer's `origin`: where the
    /// window's root surface sits in the image.
    pub fn screenshot_window(&self, id: u64, path: &Path) -> (Image, (i32, i32)) {
        let id = id.to_string();
        let answer = self.msg_json(&["screenshot", path.to_str().expect("UTF-8 path"), "--window", &id]);
        let origin =
            (answer["origin"][0].as_i64().unwrap_or(0) as i32, answer["origin"][1].as_i64().unwrap_or(0) as i32);
        (Image::load(path).unwrap_or_else(|e| panic!("{e:#}")), origin)
    }

    /// A command for a client of this compositor: `WAYLAND_DISPLAY` and `XDG_RUNTIME_DIR` point
    /// here, no X display and no session bus are inherited (so GTK applications are not made
    /// unique across tests), GTK uses Wayland and software rendering, and the user's config is
    /// out of the way. Runs in the private directory.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for var in ["DISPLAY", "WAYLAND_SOCKET", "WAYRAIL_SOCKET", "DBUS_SESSION_BUS_ADDRESS"] {
            cmd.env_remove(var);
        }
        cmd.env("XDG_RUNTIME_DIR", self.dir.path())
            .env("WAYLAND_DISPLAY", &self.socket)
            .env("XDG_CONFIG_HOME", self.dir.path().join("client-config"))
            .env("XDG_DATA_HOME", self.dir.path().join("client-data"))
            .env("XDG_STATE_HOME", self.dir.path().join("client-state"))
            .env("GDK_BACKEND", "wayland")
            .env("GSK_RENDERER", "cairo")
            .env("NO_AT_BRIDGE", "1")
            .env("GTK_A11Y", "none")
            .current_dir(self.dir.path());
        cmd
    }

    /// Starts `program args` as a client with `env` added (see [`Compositor::command`]).
    pub fn spawn_client(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Client {
        let mut cmd = self.command(program);
        cmd.args(args).envs(env.iter().copied());
        self.spawn(program, cmd)
    }

    /// Waits up to `timeout` for the file at `path` to hold exactly `expected` (what a shell in
    /// `client` was made to write); fails the test with both logs if it does not.
    pub fn assert_file_becomes(&self, path: &Path, expected: &str, client: &Client, timeout: Duration) {
        let ok = wait_until(timeout, || fs::read_to_string(path).is_ok_and(|s| s == expected));
        assert!(
            ok,
            "{} holds {:?}, expected {expected:?}\nclient log:\n{}\nwayrail log:\n{}",
            path.display(),
            fs::read_to_string(path),
            client.log_tail(20),
            self.log_tail(20)
        );
    }

    /// Starts `program ARGS` and waits for its first toplevel: the client and that window.
    pub fn spawn_mapped(&self, program: &str, args: &[&str]) -> (Client, Value) {
        let client = self.spawn_client(program, args, &[]);
        let window = self.wait_for_toplevel_of(&client, MAP_TIMEOUT);
        (client, window)
    }

    /// Starts `foot` running a plain `sh` (prompt `$ `, no rc file) in a new directory `name`
    /// of the private directory, so what is typed into it can be checked through files there.
    pub fn spawn_foot_shell(&self, name: &str) -> (Client, PathBuf) {
        let workdir = self.path(name);
        std::fs::create_dir(&workdir).unwrap();
        let args = ["--working-directory", workdir.to_str().unwrap(), "sh"];
        (self.spawn_client("foot", &args, &[("ENV", ""), ("PS1", "$ ")]), workdir)
    }

    /// Starts a prepared command in its own process group under a guard: stdin is null, stdout
    /// and stderr go to a log file in the private directory.
    pub fn spawn(&self, name: &str, cmd: Command) -> Client {
        let short = Path::new(name).file_name().map_or(name.into(), |n| n.to_string_lossy().into_owned());
        let log = self.path(&format!("{short}-{}.log", unique_id()));
        Client::spawn_logged(&short, cmd, &log)
    }

    /// As [`Compositor::spawn`], with stdin and stdout piped to the test (stderr to a log).
    pub fn spawn_piped(&self, name: &str, mut cmd: Command) -> Client {
        let short = Path::new(name).file_name().map_or(name.into(), |n| n.to_string_lossy().into_owned());
        let log = self.path(&format!("{short}-{}.log", unique_id()));
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log_file(&log)).process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Client { name: short, child, log: Some(log), status: None }
    }

    /// Types ASCII text through `wayrail msg input` with evdev codes of a US layout, holding
    /// Shift for capitals and shifted symbols.
    pub fn type_text(&self, text: &str) {
        for c in text.chars() {
            let (code, shift) = us_key(c).unwrap_or_else(|| panic!("no US key for {c:?}"));
            let code = code.to_string();
            if shift {
                self.input(&["key", "42", "down"]);
            }
            self.input(&["tap", &code]);
            if shift {
                self.input(&["key", "42", "up"]);
            }
        }
    }
}

impl Drop for Compositor {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- last lines of the compositor log ({}) ----\n{}", self.log.display(), self.log_tail(40));
        }
        self.process.kill_and_reap();
    }
}

fn log_file(path: &Path) -> Stdio {
    File::create(path).map(Stdio::from).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()))
}

/// The evdev key code of an ASCII character on a US keyboard, and whether it needs Shift.
pub fn us_key(c: char) -> Option<(u32, bool)> {
    const LETTERS: [u32; 26] =
        [30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44];
    const DIGITS: [u32; 10] = [11, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const SHIFTED_DIGITS: &str = ")!@#$%^&*(";
    let plain = |code| Some((code, false));
    let shifted = |code| Some((code, true));
    match c {
        'a'..='z' => plain(LETTERS[(c as u8 - b'a') as usize]),
        'A'..='Z' => shifted(LETTERS[(c as u8 - b'A') as usize]),
        '0'..='9' => plain(DIGITS[(c as u8 - b'0') as usize]),
        ' ' => plain(57),
        '\n' => plain(28),
        '\t' => plain(15),
        '-' => plain(12),
        '_' => shifted(12),
        '=' => plain(13),
        '+' => shifted(13),
        '[' => plain(26),
        '{' => shifted(26),
        ']' => plain(27),
        '}' => shifted(27),
        ';' => plain(39),
        ':' => shifted(39),
        '\'' => plain(40),
        '"' => shifted(40),
        '`' => plain(41),
        '~' => shifted(41),
        '\\' => plain(43),
        '|' => shifted(43),
        ',' => plain(51),
        '<' => shifted(51),
        '.' => plain(52),
        '>' => shifted(52),
        '/' => plain(53),
        '?' => shifted(53),
        _ => SHIFTED_DIGITS.find(c).map(|i| (DIGITS[i], true)),
    }
}

/// Whether a process exited by itself rather than being killed by a signal.
pub fn exited_normally(status: ExitStatus) -> bool {
    status.signal().is_none()
}

/// The output of `program ARGS` (run with `Command::output`), or an error naming the command
/// with its exit status and what it printed to stderr when it could not run or failed.
pub fn checked_output(
    out: std::io::Result<std::process::Output>,
    program: &str,
    args: &[&str],
) -> anyhow::Result<std::process::Output> {
    let out = out.with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test here that reads or sets `CI`.
    #[test]
    fn missing_programs_skip_outside_ci_and_fail_in_ci() {
        fn needs_a_missing_program(reached: &mut bool) {
            require_programs!("sh", "wr-no-such-program");
            *reached = true;
        }
        let before = std::env::var_os("CI");
        std::env::set_var("CI", "false");
        let mut reached = false;
        needs_a_missing_program(&mut reached);
        assert!(!reached, "skipped outside CI");
        std::env::set_var("CI", "true");
        let failed = std::panic::catch_unwind(|| needs_a_missing_program(&mut false)).expect_err("fails in CI");
        let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("wr-no-such-program not installed"), "{message}");
        assert!(message.contains("scripts/setup-debian.sh test"), "{message}");
        match before {
            Some(v) => std::env::set_var("CI", v),
            None => std::env::remove_var("CI"),
        }
    }

    #[test]
    fn sample_text_is_long_enough_and_repeatable() {
        let text = sample_text(1000, 7);
        assert!(text.len() >= 1000 && text.len() < 1008, "{}", text.len());
        assert_eq!(text, sample_text(1000, 7));
        assert_ne!(text, sample_text(1000, 9));
        assert!(text.contains('\n') && !text.is_ascii());
    }

    #[test]
    fn us_keys() {
        assert_eq!(us_key('a'), Some((30, false)));
        assert_eq!(us_key('Z'), Some((44, true)));
        assert_eq!(us_key('0'), Some((11, false)));
        assert_eq!(us_key('!'), Some((2, true)));
        assert_eq!(us_key('#'), Some((4, true)));
        assert_eq!(us_key(')'), Some((11, true)));
        assert_eq!(us_key('~'), Some((41, true)));
        assert_eq!(us_key('é'), None);
    }

    #[test]
    fn grid_points_stay_inside() {
        let points = sample_grid(10, 20, 3);
        assert_eq!(points.len(), 9);
        assert!(points.iter().all(|&(x, y)| (0..10).contains(&x) && (0..20).contains(&y)));
    }
}
