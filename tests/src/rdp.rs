//! The RDP side of the end-to-end tests: an X server ([`Xvfb`]) for the client to draw into, a
//! FreeRDP client ([`FreeRdp`], `xfreerdp3` or `xfreerdp` 2.x) connected to a
//! [`Compositor::start_rdp`] compositor, pixel comparisons between what the client shows and
//! what the compositor composed, and hand-built X.224 packets for the raw-socket tests.
//!
//! The RDP client's window lies at the origin of the X screen (Xvfb has no window manager) and
//! shows the remote desktop 1:1, so desktop coordinates are window coordinates. For more than
//! one monitor, [`Xvfb::start_dummy_heads`] runs Xorg with the dummy driver instead.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::{file_tail, sample_grid, unique_id, wait_for, Client, Compositor, Image, Rect, NEXT_ID};

/// How long Xvfb may take to accept connections.
pub const XVFB_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an RDP client may take from start to its window (TLS, the connection sequence).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// `Xvfb :N -screen 0 1920x1080x24 -nolisten tcp` on a display number nobody uses, stopped
/// (SIGTERM, then SIGKILL) and reaped on drop. The number is tried, not guessed: X's own lock
/// file decides, and a taken one makes Xvfb exit at once, so the next candidate is tried.
pub struct Xvfb {
    process: Client,
    pub display: u32,
}

impl Xvfb {
    /// Starts an X server; its log goes to `log_dir`.
    pub fn start(log_dir: &Path) -> Xvfb {
        Xvfb::start_with(log_dir, &XServerKind::Xvfb)
    }

    /// Starts Xorg with the dummy video driver instead, one X screen per head in `heads`
    /// (width, height), left to right, joined by Xinerama into one desktop: an X display with
    /// real separate monitors (Xvfb's `+xinerama` puts every head at 0,0), as `xfreerdp3
    /// /multimon` needs. Its generated config and log go to `log_dir`; it needs no VT, no input
    /// devices and no system config. Xorg must be allowed to start (root, or a console user).
    pub fn start_dummy_heads(log_dir: &Path, heads: &[(u32, u32)]) -> Xvfb {
        assert!(!heads.is_empty(), "at least one head");
        Xvfb::start_with(log_dir, &XServerKind::DummyHeads(heads.to_vec()))
    }

    fn start_with(log_dir: &Path, kind: &XServerKind) -> Xvfb {
        // Spread parallel tests (and other test processes) over distinct numbers from the start.
        let spread = (std::process::id() * 37 + NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 11) % 600;
        let mut tried = Vec::new();
        for attempt in 0..40 {
            let display = 300 + (spread + attempt * 7) % 600;
            if display_in_use(display) {
                tried.push(format!(":{display}: in use"));
                continue;
            }
            match Xvfb::try_start(log_dir, display, kind) {
                Ok(xvfb) => return xvfb,
                Err(err) => tried.push(format!(":{display}: {err:#}")),
            }
        }
        panic!("could not start {} on any display tried:\n{}", kind.program(), tried.join("\n"));
    }

    fn try_start(log_dir: &Path, display: u32, kind: &XServerKind) -> anyhow::Result<Xvfb> {
        // The server writes the display number to -displayfd once it accepts connections.
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two new descriptors, owned from here on.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            bail!("pipe2: {}", std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are not owned elsewhere.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let program = kind.program();
        let tag = format!("{program}-{display}-{}", unique_id());
        let log = log_dir.join(format!("{tag}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(program);
        cmd.arg(format!(":{display}")).args(["-displayfd", &write_end.as_raw_fd().to_string()]);
        match kind {
            XServerKind::Xvfb => {
                // -noreset: no server reset when its last client leaves, during which a new
                // client (the next xfreerdp of a test) fails to open the display.
                cmd.args(["-screen", "0", "1920x1080x24", "-nolisten", "tcp", "-noreset"]);
            }
            XServerKind::DummyHeads(heads) => {
                let config = log_dir.join(format!("{tag}.conf"));
                std::fs::write(&config, dummy_heads_config(heads))
                    .with_context(|| format!("writing {}", config.display()))?;
                // An empty directory instead of the system's xorg.conf.d snippets.
                let config_dir = log_dir.join(format!("{tag}.conf.d"));
                std::fs::create_dir_all(&config_dir)?;
                cmd.arg("-config")
                    .arg(&config)
                    .arg("-configdir")
                    .arg(&config_dir)
                    .arg("-logfile")
                    .arg(log_dir.join(format!("{tag}.server.log")))
                    .args(["-novtswitch", "-sharevts", "-nolisten", "tcp", "-noreset", "+xinerama"]);
            }
        }
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out).process_group(0);
        let write_fd = write_end.as_raw_fd();
        // SAFETY: between fork and exec only fcntl(2) runs, which is async-signal-safe; it lets
        // the child (and no other process this test starts) inherit the pipe's write end.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(write_fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("starting {program}"))?;
        drop(write_end);
        let mut process = Client { name: format!("{program} :{display}"), child, log: Some(log), status: None };
        let answer = read_line_with_timeout(&read_end, kind.timeout());
        match answer {
            Some(line) if line.trim() == display.to_string() => Ok(Xvfb { process, display }),
            other => {
                let tail = process.log_tail(5);
                // Killed and reaped by the guard's drop; it must not print its log as a failure.
                process.log = None;
                drop(process);
                bail!("{program} answered {other:?}: {tail}")
            }
        }
    }

    /// `:N`.
    pub fn name(&self) -> String {
        format!(":{}", self.display)
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// None while the X server runs, else how it ended (for failure messages).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_status()
    }

    /// A command for an X client of this server: `DISPLAY` set, no Wayland display inherited.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        for var in ["WAYLAND_DISPLAY", "WAYLAND_SOCKET", "WAYRAIL_SOCKET"] {
            cmd.env_remove(var);
        }
        cmd.env("DISPLAY", self.name());
        cmd
    }

    /// Runs `xdotool ARGS` and returns what it printed.
    pub fn try_xdotool(&self, args: &[&str]) -> anyhow::Result<String> {
        // Bounded like `import`: `--sync` waits forever for a window that went away.
        let out = self.command("timeout").arg("15").arg("xdotool").args(args).stdin(Stdio::null()).output();
        let out = crate::checked_output(out, "xdotool", args)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// As [`Xvfb::try_xdotool`]; a failure fails the test.
    pub fn xdotool(&self, args: &[&str]) -> String {
        self.try_xdotool(args).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// A PNG of an X window's contents (`import -window`), loaded. The pointer is not in it.
    pub fn capture(&self, window: u64, path: &Path) -> anyhow::Result<Image> {
        // `import` can block for good when the window goes away under it (a client that
        // died): bounded, so a test fails instead of hanging.
        let out = self
            .command("timeout")
            .args(["15", "import", "-silent", "-window", &window.to_string()])
            .arg(format!("png:{}", path.display()))
            .stdin(Stdio::null())
            .output()
            .context("running import")?;
        if !out.status.success() {
            bail!("`import -window {window}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        Image::load(path)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // Asked to go, the server removes its lock file and socket; killed (by the guard, if
        // it does not go), it would leave them behind.
        if !self.process.has_exited() {
            self.process.signal(libc::SIGTERM);
            self.process.wait_exit(Duration::from_secs(3));
        }
    }
}

/// Which X server [`Xvfb`] runs.
enum XServerKind {
    Xvfb,
    /// Xorg with the dummy driver, one screen per head (width, height), left to right.
    DummyHeads(Vec<(u32, u32)>),
}

/// Debian's Xorg server binary.
const XORG_SERVER: &str = "/usr/lib/xorg/Xorg";

impl XServerKind {
    fn program(&self) -> &'static str {
        match self {
            XServerKind::Xvfb => "Xvfb",
            // The server itself, not the `Xorg` script: where Debian's setuid wrapper
            // (xserver-xorg-legacy) is installed, the script runs it, and it lets only console
            // users start X. The dummy driver needs no privileges.
            XServerKind::DummyHeads(_) if std::path::Path::new(XORG_SERVER).exists() => XORG_SERVER,
            XServerKind::DummyHeads(_) => "Xorg",
        }
    }

    /// Xorg loads modules and probes its drivers first: slower than Xvfb on a busy machine.
    fn timeout(&self) -> Duration {
        match self {
            XServerKind::Xvfb => XVFB_TIMEOUT,
            XServerKind::DummyHeads(_) => XVFB_TIMEOUT * 3,
        }
    }
}

/// An xorg.conf for the dummy driver: a Device, Monitor and Screen per head (each with one
/// mode of exactly its size), screens placed left to right in a ServerLayout, Xinerama on, and
/// no input devices or hotplugging (XTEST's virtual devices are enough for xdotool).
fn dummy_heads_config(heads: &[(u32, u32)]) -> String {
    let mut conf = String::from(
        "Section \"ServerFlags\"\n    Option \"AutoAddDevices\" \"false\"\n    Option \"AutoAddGPU\" \"false\"\n    \
         Option \"AutoEnableDevices\" \"false\"\n    Option \"DontVTSwitch\" \"true\"\n    \
         Option \"Xinerama\" \"true\"\nEndSection\n",
    );
    let mut layout = String::from("Section \"ServerLayout\"\n    Identifier \"heads\"\n");
    for (i, &(w, h)) in heads.iter().enumerate() {
        // A mode with a little blanking at 60 Hz; the dummy driver only checks the ranges below.
        let (ht, vt) = (w + 160, h + 25);
        let clock = f64::from(ht) * f64::from(vt) * 60.0 / 1e6;
        let video_ram_kb = (w * h * 4).div_ceil(1024) + 4096;
        conf.push_str(&format!(
            "Section \"Device\"\n    Identifier \"dev{i}\"\n    Driver \"dummy\"\n    VideoRam {video_ram_kb}\nEndSection\n\
             Section \"Monitor\"\n    Identifier \"mon{i}\"\n    HorizSync 5.0-1000.0\n    VertRefresh 5.0-200.0\n    \
             Modeline \"{w}x{h}\" {clock:.2} {w} {} {} {ht} {h} {} {} {vt}\nEndSection\n\
             Section \"Screen\"\n    Identifier \"scr{i}\"\n    Device \"dev{i}\"\n    Monitor \"mon{i}\"\n    \
             DefaultDepth 24\n    SubSection \"Display\"\n        Depth 24\n        Modes \"{w}x{h}\"\n        \
             Virtual {w} {h}\n    EndSubSection\nEndSection\n",
            w + 48,
            w + 80,
            h + 3,
            h + 6,
        ));
        if i == 0 {
            layout.push_str("    Screen 0 \"scr0\" 0 0\n");
        } else {
            layout.push_str(&format!("    Screen {i} \"scr{i}\" RightOf \"scr{}\"\n", i - 1));
        }
    }
    layout.push_str("EndSection\n");
    conf.push_str(&layout);
    conf
}

/// Whether an X server holds display `:N`: its lock file names a live process. (A socket
/// without one, or a lock of a dead process, is what a killed server left; Xvfb takes those
/// over.)
fn display_in_use(display: u32) -> bool {
    match std::fs::read_to_string(format!("/tmp/.X{display}-lock")) {
        Ok(text) => match text.trim().parse::<libc::pid_t>() {
            Ok(pid) if pid > 0 => {
                // SAFETY: kill(2) with signal 0 only checks whether the process exists.
                let alive = unsafe { libc::kill(pid, 0) } == 0;
                alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
            }
            // Being written right now, or unreadable: somebody's.
            _ => true,
        },
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// Reads one line from a pipe, waiting at most `timeout`; None on EOF, error or timeout.
fn read_line_with_timeout(fd: &OwnedFd, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut bytes = Vec::new();
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the length given.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
        if n == 0 {
            return None;
        }
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer of the length given.
        let got = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if got <= 0 {
            return (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
        }
        bytes.extend_from_slice(&buf[..got as usize]);
        if bytes.contains(&b'\n') {
            return Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
}

/// Which FreeRDP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeRdpVersion {
    /// `xfreerdp3` (3.x, bookworm-backports).
    V3,
    /// `xfreerdp` (2.x, bookworm).
    V2,
}

impl FreeRdpVersion {
    pub fn program(self) -> &'static str {
        match self {
            FreeRdpVersion::V3 => "xfreerdp3",
            FreeRdpVersion::V2 => "xfreerdp",
        }
    }
}

/// A FreeRDP client in an [`Xvfb`], connected over TLS to a compositor's TCP listener; killed
/// and reaped on drop (its log, in the compositor's directory, is printed when a test fails).
pub struct FreeRdp {
    pub client: Client,
    pub version: FreeRdpVersion,
    started: Instant,
    /// Its X window, once [`FreeRdp::wait_window`] found it.
    pub window: Option<u64>,
}

impl Drop for FreeRdp {
    fn drop(&mut self) {
        // xfreerdp mounts its file clipboard (FUSE) at a path named by its pid; killed, it
        // leaves the mount behind for good. Ended here, its mount is detached and removed.
        let pid = self.client.pid();
        if !self.client.has_exited() {
            self.client.signal(libc::SIGTERM);
            if self.client.wait_exit(Duration::from_secs(3)).is_none() {
                self.client.signal(libc::SIGKILL);
                self.client.wait_exit(Duration::from_secs(3));
            }
        }
        let mount = std::path::PathBuf::from(format!("/tmp/com.freerdp.client.cliprdr.{pid}"));
        if let Ok(path) = std::ffi::CString::new(mount.as_os_str().as_encoded_bytes()) {
            // SAFETY: umount2 with a NUL-terminated path we own; a path that is not a mount
            // point only makes it fail.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir(&mount);
    }
}

impl FreeRdp {
    /// Starts the client with the usual options (`/cert:ignore /sec:tls /u /p /size`, a US
    /// keyboard on 3.x) and `extra` ones; does not wait. A `size` of (0, 0) leaves `/size` out
    /// (`/multimon` takes the monitors' own sizes). It logs in as [`TEST_USER`] with [`TEST_PASSWORD`].
    pub fn start(wr: &Compositor, x: &Xvfb, version: FreeRdpVersion, size: (u32, u32), extra: &[&str]) -> FreeRdp {
        FreeRdp::start_as(wr, x, version, size, extra, (TEST_USER, TEST_PASSWORD))
    }

    /// [`FreeRdp::start`] with another user name and password.
    pub fn start_as(
        wr: &Compositor,
        x: &Xvfb,
        version: FreeRdpVersion,
        size: (u32, u32),
        extra: &[&str],
        (user, password): (&str, &str),
    ) -> FreeRdp {
        let port = wr.rdp_port().expect("an RDP compositor (Compositor::start_rdp)");
        let mut cmd = x.command(version.program());
        cmd.arg(format!("/v:127.0.0.1:{port}")).args([
            "/cert:ignore",
            "/sec:tls",
            &format!("/u:{user}"),
            &format!("/p:{password}"),
            "/log-level:WARN",
        ]);
        if size != (0, 0) {
            cmd.arg(format!("/size:{}x{}", size.0, size.1));
        }
        if version == FreeRdpVersion::V3 {
            cmd.arg("/kbd:layout:0x409");
        }
        cmd.args(extra).env("HOME", wr.path("freerdp-home")).current_dir(wr.runtime_dir());
        let started = Instant::now();
        let client = wr.spawn(version.program(), cmd);
        FreeRdp { client, version, started, window: None }
    }

    /// [`FreeRdp::start`], then [`FreeRdp::wait_window`]. FreeRDP sometimes fails in its own
    /// pre-connect stage (before it touches the network) when the machine is busy; such a
    /// start is retried, and says so.
    pub fn connect(wr: &Compositor, x: &Xvfb, version: FreeRdpVersion, size: (u32, u32), extra: &[&str]) -> FreeRdp {
        for attempt in 1..=3 {
            let mut rdp = FreeRdp::start(wr, x, version, size, extra);
            match rdp.try_wait_window(x, CONNECT_TIMEOUT) {
                Ok(_) => return rdp,
                Err(why) if attempt < 3 && why.contains("ERRCONNECT_PRE_CONNECT_FAILED") => {
                    eprintln!("{} failed before connecting (attempt {attempt}), retrying:\n{why}", version.program());
                }
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!()
    }

    /// How long ago the client was started.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until the client shows its (viewable) window and returns the window's id; fails the
    /// test if the client exits or no window shows up in time.
    pub fn wait_window(&mut self, x: &Xvfb, timeout: Duration) -> u64 {
        self.try_wait_window(x, timeout).unwrap_or_else(|why| panic!("{why}"))
    }

    /// As [`FreeRdp::wait_window`], with the failure as text.
    pub fn try_wait_window(&mut self, x: &Xvfb, timeout: Duration) -> Result<u64, String> {
        let pid = self.client.pid().to_string();
        let mut exited = None;
        let found = wait_for(timeout, || {
            if let Some(status) = self.client.try_status() {
                exited = Some(status);
                return Some(None);
            }
            let ids = x.try_xdotool(&["search", "--onlyvisible", "--pid", &pid]).ok()?;
            ids.lines().rev().find_map(|l| l.trim().parse::<u64>().ok()).map(Some)
        });
        match (found, exited) {
            (Some(Some(id)), _) => {
                self.window = Some(id);
                Ok(id)
            }
            (_, Some(status)) => Err(format!(
                "{} exited ({status}) before showing a window:\n{}",
                self.client.name,
                self.client.log_tail(30)
            )),
            _ => {
                Err(format!("{} showed no window within {timeout:?}:\n{}", self.client.name, self.client.log_tail(30)))
            }
        }
    }

    pub fn window(&self) -> u64 {
        self.window.expect("FreeRdp::wait_window first")
    }

    /// What the client's window shows.
    pub fn capture(&self, x: &Xvfb, path: &Path) -> anyhow::Result<Image> {
        x.capture(self.window(), path)
    }

    /// Gives the window the X input focus and clicks into it at `(x, y)` (desktop
    /// coordinates): there is no window manager to do it.
    pub fn focus_and_click(&self, xvfb: &Xvfb, x: i32, y: i32) {
        let id = self.window().to_string();
        xvfb.xdotool(&["windowfocus", "--sync", &id]);
        xvfb.xdotool(&["mousemove", "--window", &id, &x.to_string(), &y.to_string(), "click", "1"]);
    }
}

/// Where the pixels of `rect` differ between two images: the number of differing pixels and up
/// to `samples` of them (taken on a grid, so they spread over the area) as text.
pub fn describe_differences(host: &Image, own: &Image, rect: Rect, samples: usize) -> (usize, Vec<String>) {
    let count = host.count_differences(own, rect);
    let mut shown = Vec::new();
    if count > 0 {
        for (dx, dy) in sample_grid(rect.width, rect.height, 32) {
            let (px, py) = ((rect.x + dx) as u32, (rect.y + dy) as u32);
            if px >= host.width.min(own.width) || py >= host.height.min(own.height) {
                continue;
            }
            let (a, b) = (host.rgb(px, py), own.rgb(px, py));
            if a != b {
                shown.push(format!("({px},{py}): client {a:?}, compositor {b:?}"));
                if shown.len() >= samples {
                    break;
                }
            }
        }
    }
    (count, shown)
}

/// Polls until the RDP client's window shows, inside `rect` (desktop coordinates), exactly the
/// pixels of the compositor's own screenshot of its first output, taken at the same time; gives
/// the time that took. The scene must hold still (stopped apps) for this to converge. On
/// failure, the error says what differed and where the last two images are.
pub fn wait_client_shows_output(
    wr: &Compositor,
    x: &Xvfb,
    rdp: &FreeRdp,
    rect: Rect,
    timeout: Duration,
    tag: &str,
) -> Result<Duration, String> {
    let started = Instant::now();
    let own_path = wr.path(&format!("{tag}-compositor.png"));
    let host_path = wr.path(&format!("{tag}-client.png"));
    loop {
        let own = wr.screenshot_output(&own_path);
        let last = match rdp.capture(x, &host_path) {
            Ok(host) if (host.width, host.height) != (own.width, own.height) => {
                format!("client window {}x{}, output {}x{}", host.width, host.height, own.width, own.height)
            }
            Ok(host) => {
                let (count, shown) = describe_differences(&host, &own, rect, 12);
                if count == 0 {
                    return Ok(started.elapsed());
                }
                format!("{count} of {} pixels differ, e.g.\n{}", rect.width * rect.height, shown.join("\n"))
            }
            Err(e) => format!("{e:#}"),
        };
        if started.elapsed() > timeout {
            return Err(format!(
                "the client's window does not show the compositor's pixels in {rect:?} after {timeout:?}: {last}\n\
                 (last images: {} and {}; WAYRAIL_E2E_KEEP=1 keeps them)\nclient log:\n{}",
                host_path.display(),
                own_path.display(),
                rdp.client.log_tail(15)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// RDP_NEG_REQ's requestedProtocols bits.
pub const PROTOCOL_RDP: u32 = 0;
pub const PROTOCOL_SSL: u32 = 1;
pub const PROTOCOL_HYBRID: u32 = 2;

/// A client's first packet: TPKT + X.224 Connection Request (with a routing cookie) + an
/// RDP Negotiation Request for `requested_protocols` ([MS-RDPBCGR] 2.2.1.1).
pub fn x224_connection_request(requested_protocols: u32) -> Vec<u8> {
    let cookie = b"Cookie: mstshash=e2e\r\n";
    let mut neg = vec![0x01, 0x00, 0x08, 0x00]; // TYPE_RDP_NEG_REQ, flags, length 8 (LE)
    neg.extend_from_slice(&requested_protocols.to_le_bytes());
    // The X.224 header after the length indicator: CR code, DST-REF, SRC-REF, class 0.
    let x224 = [0xE0, 0x00, 0x00, 0x00, 0x00, 0x00];
    let li = x224.len() + cookie.len() + neg.len();
    let total = 4 + 1 + li;
    let mut packet = vec![0x03, 0x00, (total >> 8) as u8, total as u8, li as u8];
    packet.extend_from_slice(&x224);
    packet.extend_from_slice(cookie);
    packet.extend_from_slice(&neg);
    packet
}

/// What a server answered to a Connection Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionConfirm {
    /// RDP_NEG_RSP: the protocol the server picked, and its flags.
    Selected { protocol: u32, flags: u8 },
    /// RDP_NEG_FAILURE with its code.
    Failure(u32),
    /// A Connection Confirm without a negotiation part (standard RDP security).
    Plain,
}

/// Reads the X.224 Connection Confirm that answers [`x224_connection_request`].
pub fn read_connection_confirm(stream: &mut impl Read) -> anyhow::Result<ConnectionConfirm> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).context("reading the TPKT header")?;
    if header[0] != 3 {
        bail!("not TPKT: {header:02x?}");
    }
    let len = u16::from_be_bytes([header[2], header[3]]) as usize;
    if !(11..=512).contains(&len) {
        bail!("TPKT length {len} out of range");
    }
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).context("reading the X.224 packet")?;
    let li = body[0] as usize;
    if li + 1 != body.len() || li < 6 {
        bail!("X.224 length indicator {li} does not fit a {}-byte packet: {body:02x?}", body.len());
    }
    if body[1] & 0xF0 != 0xD0 {
        bail!("not an X.224 Connection Confirm: {body:02x?}");
    }
    let neg = &body[7..];
    match neg {
        [] => Ok(ConnectionConfirm::Plain),
        [0x02, flags, 0x08, 0x00, p @ ..] if p.len() == 4 => {
            Ok(ConnectionConfirm::Selected { protocol: u32::from_le_bytes([p[0], p[1], p[2], p[3]]), flags: *flags })
        }
        [0x03, _, 0x08, 0x00, p @ ..] if p.len() == 4 => {
            Ok(ConnectionConfirm::Failure(u32::from_le_bytes([p[0], p[1], p[2], p[3]])))
        }
        other => bail!("unexpected negotiation part {other:02x?}"),
    }
}

/// The path of a file in `dir`, for sockets: short enough for `sun_path` (108 bytes).
/// The login of the tests' RDP clients: the IronRDP test client's default, and what
/// [`FreeRdp::start`] gives.
pub const TEST_USER: &str = "test";
pub const TEST_PASSWORD: &str = "test";

/// A systemd-style credentials directory in `dir` whose `rdp-password` is [`TEST_PASSWORD`]:
/// the compositors of the tests take it as `$CREDENTIALS_DIRECTORY`. (The password wayrail
/// makes itself when it has none is tested on its own, in `rdp_auth`.)
pub fn test_credentials_dir(dir: &Path) -> PathBuf {
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials).expect("creating the credentials directory");
    std::fs::write(credentials.join("rdp-password"), format!("{TEST_PASSWORD}\n")).expect("writing the test password");
    credentials
}

pub fn socket_path(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    assert!(path.as_os_str().len() < 100, "socket path too long: {}", path.display());
    path
}

/// The last lines of an X server's or client's log, for messages.
pub fn log_tail(client: &Client, lines: usize) -> String {
    client.log_path().map(|p| file_tail(p, lines)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_heads_config_has_a_screen_per_head() {
        let conf = dummy_heads_config(&[(1280, 800), (1024, 768)]);
        assert_eq!(conf.matches("Driver \"dummy\"").count(), 2);
        assert!(conf.contains("Modes \"1024x768\""), "{conf}");
        assert!(conf.contains("Screen 1 \"scr1\" RightOf \"scr0\""), "{conf}");
        assert!(conf.contains("Option \"Xinerama\" \"true\""), "{conf}");
    }

    #[test]
    fn connection_request_layout() {
        let p = x224_connection_request(PROTOCOL_SSL);
        assert_eq!(p.len(), 4 + 1 + 6 + 22 + 8);
        assert_eq!(&p[..4], &[3, 0, 0, p.len() as u8]);
        assert_eq!(p[4] as usize, p.len() - 5);
        assert_eq!(p[5], 0xE0);
        assert_eq!(&p[p.len() - 8..], &[1, 0, 8, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn parses_confirms() {
        let rsp = [3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 1, 0, 0, 0];
        assert_eq!(
            read_connection_confirm(&mut &rsp[..]).unwrap(),
            ConnectionConfirm::Selected { protocol: 1, flags: 0x1f }
        );
        let fail = [3, 0, 0, 19, 14, 0xD0, 0, 0, 0, 0, 0, 3, 0, 8, 0, 5, 0, 0, 0];
        assert_eq!(read_connection_confirm(&mut &fail[..]).unwrap(), ConnectionConfirm::Failure(5));
        let plain = [3, 0, 0, 11, 6, 0xD0, 0, 0, 0, 0, 0];
        assert_eq!(read_connection_confirm(&mut &plain[..]).unwrap(), ConnectionConfirm::Plain);
        assert!(read_connection_confirm(&mut &[3, 0, 0, 11, 6, 0xE0, 0, 0, 0, 0, 0][..]).is_err());
        assert!(read_connection_confirm(&mut &[0x16, 3, 1, 0][..]).is_err());
    }
}
