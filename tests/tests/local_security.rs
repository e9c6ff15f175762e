//! What other users of the machine cannot reach (the X display, the IPC socket) and what
//! programs started from wayrail do not inherit (the RDP listening socket).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use wayrail_e2e::{require_programs, wait_for, wait_until, wayrail_bin, Compositor, TempDir};

/// The user these tests act as besides the one running them.
const OTHER_USER: &str = "wayrail-e2e-other";

/// A second local user (uid, gid), made with `useradd` when missing. That needs root: without
/// it the test is skipped with the reason printed, which fails when `CI=true`.
fn other_user() -> Option<(u32, u32)> {
    // SAFETY: getuid(2) cannot fail.
    if unsafe { libc::getuid() } != 0 {
        let why = "needs root to create and act as a second local user";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}, and CI=true does not allow skipping");
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, OTHER_USER]).stderr(Stdio::null()).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        // Another test binary may be making it at the same time: it is there either way after.
        let _ = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER])
            .status();
    }
    let user = (id("-u").expect("useradd made no user"), id("-g").expect("the user has no group"));
    assert_ne!(user.0, 0);
    Some(user)
}

/// Runs `program args` as `user` with only `env` (and PATH), giving up after 15 s.
fn run_as(user: (u32, u32), program: &Path, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .current_dir("/")
        .uid(user.0)
        .gid(user.1)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let status = wait_for(Duration::from_secs(15), || child.try_wait().ok().flatten());
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("{} as uid {} did not finish", program.display(), user.0)
    });
    let out = child.wait_with_output().unwrap();
    (status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Another user cannot open wayrail's X display: not through the display wayrail holds before
/// Xwayland runs (the lazy start), nor Xwayland's own afterwards; the owner can.
#[test]
fn another_user_cannot_open_the_x_display() {
    require_programs!("Xwayland", "xprop");
    let Some(other) = other_user() else { return };
    let wr = Compositor::start_xwayland("lazy", &[]);
    let display = wr.x11_display().expect("no X11 display");
    let xprop = Path::new("/usr/bin/xprop");
    let args = ["-root", "-display", display.as_str()];
    // The first client: it reaches the display wayrail holds, which starts Xwayland.
    let (status, out) = run_as(other, xprop, &args, &[]);
    assert!(!status.success(), "another user read the root window through the held display: {out}");
    assert!(wr.log_text().contains("refused an X11 connection of another user"), "{}", wr.log_tail(20));
    // The owner gets in (Xwayland runs by now, or starts for this client).
    let mut owner = wr.x11_command("xprop");
    owner.args(["-root", "_NET_SUPPORTING_WM_CHECK"]);
    let out = owner.output().unwrap();
    assert!(out.status.success(), "the owner cannot open the display: {}", String::from_utf8_lossy(&out.stderr));
    // Xwayland itself, reached directly.
    let (status, out) = run_as(other, xprop, &args, &[]);
    assert!(!status.success(), "another user read the root window from Xwayland: {out}");
}

/// The IPC socket is 0600, and a connection of another user that reaches it anyway (the
/// directory and socket opened up here) is closed without an answer; the owner is answered.
#[test]
fn another_user_cannot_use_the_ipc_socket() {
    let Some(other) = other_user() else { return };
    let wr = Compositor::start(&[]);
    let socket = wr.path(&format!("wayrail.{}.sock", wr.socket));
    let mode = fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "IPC socket mode {mode:o}");
    let bin = wayrail_bin();
    let socket_env = socket.to_str().unwrap();
    let msg = ["msg", "--json", "version"];
    let (status, out) = run_as(other, &bin, &msg, &[("WAYRAIL_SOCKET", socket_env)]);
    assert!(!status.success(), "another user was answered: {out}");
    // Past the file modes, the peer's uid is what keeps it out.
    fs::set_permissions(wr.runtime_dir(), fs::Permissions::from_mode(0o711)).unwrap();
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o666)).unwrap();
    let (status, out) = run_as(other, &bin, &msg, &[("WAYRAIL_SOCKET", socket_env)]);
    assert!(!status.success() && !out.contains("wayland_socket"), "another user was answered: {out}");
    assert!(wr.log_text().contains("refused an IPC connection of another user"), "{}", wr.log_tail(20));
    assert_eq!(wr.msg_json(&["version"])["wayland_socket"].as_str(), Some(wr.socket.as_str()));
    fs::set_permissions(wr.runtime_dir(), fs::Permissions::from_mode(0o700)).unwrap();
}

/// The socket inode a descriptor of process `pid` refers to, for each descriptor.
fn socket_inodes(pid: u32) -> Vec<String> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    dir.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("socket:"))
        .collect()
}

/// The pid of a child of `parent` named `comm`.
fn child_named(parent: u32, comm: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).find(|pid| {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { return false };
        let ppid = stat[close + 1..].split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        &stat[open + 1..close] == comm && ppid == Some(parent)
    })
}

/// A listening socket handed to wayrail (`--listen fd:3`, as a supervisor does) is not
/// inherited by the programs wayrail starts: Xwayland here.
#[test]
fn programs_started_by_wayrail_do_not_hold_the_inherited_listener() {
    require_programs!("Xwayland");
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let inode = fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
    let inode = inode.to_string_lossy().into_owned();
    let dir = TempDir::new("wayrail-e2e-fd");
    let socket = format!("wr-e2e-fd-{}", std::process::id());
    let mut cmd = Command::new(wayrail_bin());
    cmd.args(["--backend", "rdp", "--socket", &socket, "--listen", "fd:3", "--xwayland", "on"])
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .env_remove("WAYRAIL_SOCKET")
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.path().join("wayrail.stdout")).unwrap())
        .stderr(fs::File::create(dir.path().join("wayrail.log")).unwrap());
    let fd = listener.as_raw_fd();
    // SAFETY: only async-signal-safe calls between fork and exec: dup2 and fcntl.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                // dup2 onto itself keeps close-on-exec: clear it by hand.
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut wayrail = cmd.spawn().unwrap();
    let pid = wayrail.id();
    let log = dir.path().join("wayrail.log");
    let started = Instant::now();
    let ready = wait_until(Duration::from_secs(30), || {
        fs::read_to_string(&log).is_ok_and(|l| l.contains("Xwayland is ready"))
            || wayrail.try_wait().ok().flatten().is_some()
    });
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    let xwayland = child_named(pid, "Xwayland");
    let held_by_wayrail = socket_inodes(pid).contains(&inode);
    let held_by_xwayland = xwayland.map(socket_inodes);
    let _ = wayrail.kill();
    let _ = wayrail.wait();
    assert!(ready, "Xwayland was not ready after {:?}:\n{}", started.elapsed(), log_text());
    assert!(held_by_wayrail, "wayrail does not hold the listener it was given ({inode}):\n{}", log_text());
    let held_by_xwayland = held_by_xwayland.expect("no Xwayland child of wayrail");
    assert!(!held_by_xwayland.contains(&inode), "Xwayland inherited the RDP listener {inode}");
}

/// From a shell without a login session (no `XDG_RUNTIME_DIR`), wayrail makes a private
/// runtime directory of its own; the startup hint then names it, so the printed command
/// reaches wayrail as it is.
#[test]
fn the_startup_hint_works_from_a_shell_without_a_runtime_dir() {
    require_programs!("wayland-info");
    let home = TempDir::new("hint-home");
    let log = home.path().join("wayrail.log");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut cmd = Command::new(wayrail_bin());
    cmd.args(["--backend", "headless", "--xwayland", "off"])
        .env_clear()
        .env("PATH", &path)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"));
    let mut wr = wayrail_e2e::Client::spawn_logged("wayrail", cmd, &log);
    let hint = wait_for(Duration::from_secs(20), || {
        let text = fs::read_to_string(&log).ok()?;
        let line = text.lines().find(|l| l.contains("apps: "))?;
        Some(line.split("apps: ").nth(1)?.split(" foot").next()?.to_owned())
    })
    .unwrap_or_else(|| panic!("no startup hint: {}", wr.log_text()));
    assert!(hint.contains("XDG_RUNTIME_DIR="), "the hint must name the runtime directory: {hint}");
    let mut app = Command::new("wayland-info");
    app.env_clear().env("PATH", &path);
    for pair in hint.split_whitespace() {
        let (name, value) = pair.split_once('=').unwrap_or_else(|| panic!("not NAME=VALUE: {pair}"));
        app.env(name, value);
    }
    let out = app.stdout(Stdio::piped()).stderr(Stdio::piped()).output().expect("running wayland-info");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("wl_compositor"),
        "the hint's command does not reach wayrail: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wr.signal(libc::SIGTERM);
    assert!(wr.wait_exit(Duration::from_secs(10)).is_some(), "wayrail did not stop");
}
