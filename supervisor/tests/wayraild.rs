//! `wayraild` end to end, with the real `wayrail`: it brings wayrail up on sockets it owns,
//! projects them where apps look (a Wayland and an X client use them), reports its children,
//! restarts a killed wayrail that then answers RDP again (the time is printed), stops a child
//! that crash-loops while the others run, repairs deleted links, reports the GPU of a fake WSL
//! root, and gives up on a wayrail that never says it is ready. Besides: wayrail takes its
//! listeners from socket activation (`LISTEN_FDS`) and says READY=1, and the systemd units
//! verify. Every test has its own directories and ports and ends what it started.

use std::fs;
use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use wayrail_e2e::rdp::{
    read_connection_confirm, test_credentials_dir, x224_connection_request, ConnectionConfirm, Xvfb, PROTOCOL_SSL,
    TEST_PASSWORD,
};
use wayrail_e2e::{require_programs, wait_for, wait_until, wayrail_bin, Client, TempDir, Value};

const WAYRAILD: &str = env!("CARGO_BIN_EXE_wayraild");
/// wayrail's first start, TLS certificate included, on a busy 2-core machine.
const UP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the tests' daemons check the projected sockets.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// A running `wayraild` with its own runtime, state, config and X11 directories.
struct Daemon {
    process: Option<Client>,
    /// The X display of the host's RDP client (`host_client`), when a test has one.
    host_display: Option<String>,
    runtime: PathBuf,
    x11_dir: PathBuf,
    root: PathBuf,
    log: PathBuf,
    // Dropped last.
    dir: TempDir,
}

impl Daemon {
    /// Starts wayraild with `[supervisor]` holding the test's defaults and `extra` lines.
    fn start(extra: &str) -> Daemon {
        Daemon::start_with(extra, |_| {})
    }

    /// As [`Daemon::start`], the host client drawing on the X display `host_display`.
    fn start_for_host(extra: &str, host_display: &str) -> Daemon {
        Daemon::start_full(extra, |_| {}, Some(host_display.to_owned()))
    }

    /// As [`Daemon::start`], with `prepare` filling the fake root (`[supervisor] root`) first.
    fn start_with(extra: &str, prepare: impl FnOnce(&Path)) -> Daemon {
        Daemon::start_full(extra, prepare, None)
    }

    fn start_full(extra: &str, prepare: impl FnOnce(&Path), host_display: Option<String>) -> Daemon {
        let dir = TempDir::new("wayraild-e2e");
        let runtime = dir.path().join("run");
        let x11_dir = dir.path().join("x11");
        let root = dir.path().join("root");
        fs::create_dir_all(&root).unwrap();
        prepare(&root);
        let config_dir = dir.path().join("config/wayrail");
        fs::create_dir_all(&config_dir).unwrap();
        let mut config = format!(
            "[supervisor]\nx11_dir = {x11_dir:?}\nroot = {root:?}\ncheck_interval = {}\n",
            CHECK_INTERVAL.as_secs_f64()
        );
        if !extra.lines().any(|l| l.starts_with("listen =")) {
            config.push_str("listen = [\"tcp:127.0.0.1:0\"]\n");
        }
        if !extra.lines().any(|l| l.starts_with("wayrail =")) {
            config.push_str(&format!("wayrail = {:?}\n", wayrail_bin()));
        }
        config.push_str(extra);
        config.push('\n');
        fs::write(config_dir.join("config.toml"), config).unwrap();
        test_credentials_dir(dir.path());
        let log = dir.path().join("wayraild.log");
        let mut daemon = Daemon { process: None, host_display, runtime, x11_dir, root, log, dir };
        let cmd = daemon.command(&[]);
        daemon.process = Some(Client::spawn_logged("wayraild", cmd, &daemon.log.clone()));
        daemon
    }

    /// `wayraild ARGS` in this daemon's environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(WAYRAILD);
        cmd.args(args);
        for var in ["WAYLAND_DISPLAY", "WAYLAND_SOCKET", "WAYRAIL_SOCKET", "DISPLAY", "NOTIFY_SOCKET"] {
            cmd.env_remove(var);
        }
        for var in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LD_LIBRARY_PATH"] {
            cmd.env_remove(var);
        }
        let d = self.dir.path();
        cmd.env("XDG_RUNTIME_DIR", &self.runtime)
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("XDG_DATA_HOME", d.join("data"))
            .env("CREDENTIALS_DIRECTORY", d.join("credentials"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("SHELL", "/bin/sh")
            .env("HOME", d.join("home"))
            .current_dir(d);
        if let Some(display) = &self.host_display {
            cmd.env("DISPLAY", display);
        }
        cmd
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn try_status(&self) -> Option<Value> {
        let out = self.command(&["status", "--json"]).stdin(Stdio::null()).output().ok()?;
        out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
    }

    fn status(&self) -> Value {
        self.try_status().unwrap_or_else(|| panic!("no status\n{}", self.log_tail()))
    }

    /// Waits until the status satisfies `pred`; fails with `what`, the last status and the log.
    fn wait_status(&self, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let found = wait_for(timeout, || {
            let s = self.try_status()?;
            last = s.clone();
            pred(&s).then_some(s)
        });
        found.unwrap_or_else(|| panic!("{what}: not within {timeout:?}; status: {last:#}\n{}", self.log_tail()))
    }

    fn wait_ready(&self) -> Value {
        self.wait_status(UP_TIMEOUT, "wayrail running and ready", |s| child(s, "wayrail")["state"] == "running")
    }

    fn log_tail(&self) -> String {
        format!(
            "---- wayraild ----\n{}\n---- wayrail ----\n{}",
            wayrail_e2e::file_tail(&self.log, 40),
            wayrail_e2e::file_tail(&self.path("state/wayrail/wayraild/wayrail.log"), 30)
        )
    }

    fn rdp_port(status: &Value) -> u16 {
        let addr = status["sockets"]["rdp"][0].as_str().expect("an RDP listener");
        addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).expect("a TCP port")
    }

    fn env_file(&self) -> String {
        fs::read_to_string(self.runtime.join("wayraild.env")).unwrap_or_default()
    }

    /// SIGTERM, and the exit status within 20 s.
    fn stop(&mut self) -> Option<ExitStatus> {
        let process = self.process.as_mut()?;
        if process.has_exited() {
            // Reaped already: its pid may be somebody else's by now.
            return process.try_status();
        }
        process.signal(libc::SIGTERM);
        process.wait_exit(Duration::from_secs(20))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        // An orderly stop ends the children; the guard then kills whatever is left of the group.
        self.stop();
    }
}

fn child<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["children"].as_array().and_then(|c| c.iter().find(|c| c["name"] == name)).unwrap_or(&Value::Null)
}

fn pid_of(status: &Value, name: &str) -> i32 {
    child(status, name)["pid"].as_i64().unwrap_or_else(|| panic!("{name} has no pid: {status:#}")) as i32
}

fn alive(pid: i32) -> bool {
    // A zombie counts as gone: it runs nothing any more.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// Runs a short-lived program to its end (at most 20 s) and gives its status and output.
fn run_to_end(name: &str, cmd: Command, log: &Path) -> (ExitStatus, String) {
    let mut client = Client::spawn_logged(name, cmd, log);
    let status = client.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| panic!("{name} did not finish"));
    (status, client.log_text())
}

/// The Wayland client: `wayland-info` through the projected socket.
fn wayland_info(d: &Daemon, tag: &str) {
    let mut cmd = Command::new("wayland-info");
    cmd.env("XDG_RUNTIME_DIR", &d.runtime).env("WAYLAND_DISPLAY", "wayland-0").env_remove("DISPLAY");
    let (status, out) = run_to_end("wayland-info", cmd, &d.path(&format!("wayland-info-{tag}.log")));
    assert!(status.success(), "wayland-info failed ({status}): {out}\n{}", d.log_tail());
    assert!(out.contains("wl_compositor"), "wayland-info saw no wl_compositor: {out}");
}

/// `wayrail msg --json windows` as apps' shells run it: through the projected IPC socket.
fn msg_windows(d: &Daemon) -> Vec<Value> {
    msg_json(d, "windows").as_array().cloned().unwrap_or_default()
}

/// `wayrail msg --json WHAT` through the projected IPC socket; null when it fails.
fn msg_json(d: &Daemon, what: &str) -> Value {
    let out = Command::new(wayrail_bin())
        .args(["msg", "--json", what])
        .env("XDG_RUNTIME_DIR", &d.runtime)
        .env("WAYLAND_DISPLAY", "wayland-0")
        .env_remove("WAYRAIL_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("running wayrail msg");
    serde_json::from_slice::<Value>(&out.stdout).unwrap_or_default()
}

/// An X11 connection over `socket` (the projected link): the setup succeeds and names a root.
fn x11_handshake(socket: &Path) {
    use x11rb::connection::Connection as _;
    let stream = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connecting to {}: {e}", socket.display()));
    let (stream, _) = x11rb::rust_connection::DefaultStream::from_unix_stream(stream).unwrap();
    let conn = x11rb::rust_connection::RustConnection::connect_to_stream(stream, 0)
        .unwrap_or_else(|e| panic!("X11 setup over {}: {e}", socket.display()));
    assert!(!conn.setup().roots.is_empty(), "no screens");
}

/// Time until a TCP connection to `port` gets its X.224 Connection Confirm (TLS selected).
fn rdp_answers(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(&x224_connection_request(PROTOCOL_SSL))?;
    match read_connection_confirm(&mut s)? {
        ConnectionConfirm::Selected { protocol: PROTOCOL_SSL, .. } => Ok(()),
        other => anyhow::bail!("unexpected confirm {other:?}"),
    }
}

#[test]
fn wayraild_brings_up_wayrail_projects_its_sockets_and_restarts_it() {
    require_programs!("wayland-info", "xprop", "weston-simple-shm");
    // A host client that writes down what it was given: its arguments and its standard input.
    let scripts = TempDir::new("wayraild-host-client");
    let got = scripts.path().join("got");
    let script = scripts.path().join("host-client");
    fs::write(&script, format!("#!/bin/sh\nread -r pw\nprintf '%s\\n' \"$pw\" \"$1\" > {got:?}\nexec sleep 600\n"))
        .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let mut d = Daemon::start(&format!("host_client = [{script:?}, \"/v:{{address}}\"]"));
    let status = d.wait_ready();
    let status = if child(&status, "host-client")["state"] == "running" {
        status
    } else {
        d.wait_status(UP_TIMEOUT, "host client running", |s| child(s, "host-client")["state"] == "running")
    };

    // The runtime directory was made private, with wayrail's real sockets one level down.
    assert_eq!(fs::metadata(&d.runtime).unwrap().mode() & 0o777, 0o700);
    assert_eq!(fs::metadata(d.runtime.join("wayraild")).unwrap().mode() & 0o777, 0o700);
    assert_eq!(fs::metadata(d.runtime.join("wayraild/status.sock")).unwrap().mode() & 0o777, 0o600);

    // `status --json` lists the children with their pids.
    let wayrail_pid = pid_of(&status, "wayrail");
    let client_pid = pid_of(&status, "host-client");
    assert!(alive(wayrail_pid) && alive(client_pid));
    assert_eq!(child(&status, "wayrail")["restarts"], 0);
    let port = Daemon::rdp_port(&status);

    // The host client got the password on stdin, the address filled in, and no password in
    // its command line.
    assert!(wait_until(Duration::from_secs(10), || fs::read_to_string(&got).is_ok_and(|t| t.lines().count() == 2)));
    let text = fs::read_to_string(&got).unwrap();
    assert_eq!(text, format!("{TEST_PASSWORD}\n/v:127.0.0.1:{port}\n"));
    assert!(!child(&status, "host-client")["command"].to_string().contains(TEST_PASSWORD));

    // Apps find everything: a Wayland client through $XDG_RUNTIME_DIR/wayland-0 (a link), an X
    // client on the display, and an X11 setup through the projected X<N>.
    let link = d.runtime.join("wayland-0");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "{} is not a link", link.display());
    wayland_info(&d, "first");
    let display = status["wayrail"]["x11_display"].as_str().expect("an X11 display").to_owned();
    let n = display.trim_start_matches(':');
    let mut xprop = Command::new("xprop");
    xprop.args(["-root", "-len", "16"]).env("DISPLAY", &display);
    let (xstatus, out) = run_to_end("xprop", xprop, &d.path("xprop.log"));
    assert!(xstatus.success(), "xprop -root failed ({xstatus}): {out}");
    let x11_link = d.x11_dir.join(format!("X{n}"));
    assert_eq!(fs::read_link(&x11_link).unwrap(), Path::new("/tmp/.X11-unix").join(format!("X{n}")));
    x11_handshake(&x11_link);

    // The environment for apps, as a file and as `export` lines; no GPU in an empty root.
    let env = d.env_file();
    for line in [
        format!("XDG_RUNTIME_DIR={}", d.runtime.display()),
        "WAYLAND_DISPLAY=wayland-0".to_owned(),
        format!("DISPLAY={display}"),
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing from the env file:\n{env}");
    }
    assert!(!env.contains("LD_LIBRARY_PATH"), "{env}");
    assert_eq!(status["gpu"]["state"], "none");
    let out = d.command(&["env"]).output().unwrap();
    let exports = String::from_utf8_lossy(&out.stdout);
    assert!(exports.contains("export WAYLAND_DISPLAY='wayland-0'\n"), "{exports}");
    assert!(exports.contains(&format!("export DISPLAY='{display}'\n")), "{exports}");
    let human = d.command(&["status"]).output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("wayrail") && human.contains("GPU: none"), "{human}");

    // Deleted links are made again within the check interval.
    for (what, path) in [("wayland", link.clone()), ("x11", x11_link.clone())] {
        fs::remove_file(&path).unwrap();
        let deleted = Instant::now();
        let back = wait_until(Duration::from_secs(5), || fs::symlink_metadata(&path).is_ok());
        let took = deleted.elapsed();
        assert!(back, "{what} link {} not repaired\n{}", path.display(), d.log_tail());
        println!(
            "{what} link repaired after {} ms (check interval {} ms)",
            took.as_millis(),
            CHECK_INTERVAL.as_millis()
        );
        assert!(took < CHECK_INTERVAL + Duration::from_millis(500), "{what}: {took:?}");
    }
    let status = d.status();
    let repairs: Vec<_> =
        status["sockets"]["projected"].as_array().unwrap().iter().map(|p| p["repairs"].clone()).collect();
    assert!(repairs.iter().filter(|r| **r == 1).count() >= 2, "{repairs:?}");

    // An app with a window, seen through the projected IPC socket (`wayrail msg`).
    let mut app_cmd = Command::new("weston-simple-shm");
    app_cmd.env("XDG_RUNTIME_DIR", &d.runtime).env("WAYLAND_DISPLAY", "wayland-0");
    let mut app = Client::spawn_logged("weston-simple-shm", app_cmd, &d.path("simple-shm.log"));
    let app_pid = app.pid() as i64;
    assert!(
        wait_until(UP_TIMEOUT, || msg_windows(&d).iter().any(|w| w["pid"].as_i64() == Some(app_pid))),
        "weston-simple-shm's window not listed by `wayrail msg windows`: {:?}\n{}",
        msg_windows(&d),
        app.log_tail(20)
    );

    // kill -9 of wayrail: restarted, and RDP answers on the same port again.
    // SAFETY: kill(2) on wayrail, the daemon's child, alive above.
    unsafe { libc::kill(wayrail_pid, libc::SIGKILL) };
    let killed = Instant::now();
    let answered = wait_until(Duration::from_secs(20), || rdp_answers(port, Duration::from_secs(10)).is_ok());
    let took = killed.elapsed();
    assert!(answered, "RDP did not answer after wayrail was killed\n{}", d.log_tail());
    println!("wayrail killed with SIGKILL: restarted and answering RDP after {} ms (target 1000 ms)", took.as_millis());
    assert!(took < Duration::from_secs(1), "restart took {took:?}, more than the 1 s target");
    let status = d.wait_ready();
    let w = child(&status, "wayrail");
    assert_eq!(w["restarts"], 1, "{status:#}");
    assert!(w["last_exit"].as_str().unwrap_or_default().contains("SIGKILL"), "{w}");
    assert_ne!(pid_of(&status, "wayrail"), wayrail_pid);
    // The killed wayrail could not give its X display back; wayraild did.
    let lock = fs::read_to_string(format!("/tmp/.X{n}-lock")).unwrap_or_default();
    assert_ne!(lock.trim().parse::<i32>().ok(), Some(wayrail_pid), "the dead wayrail still holds :{n}");
    // The app that was connected is gone with its compositor; a new app works.
    assert!(app.wait_exit(Duration::from_secs(10)).is_some(), "weston-simple-shm outlived the killed wayrail");
    wayland_info(&d, "after-restart");

    // SIGTERM: everything stops in order, and what wayraild made goes away.
    let new_wayrail = pid_of(&status, "wayrail");
    let client_pid = pid_of(&status, "host-client");
    let exit = d.stop().expect("wayraild stops on SIGTERM");
    assert!(exit.success(), "wayraild exited with {exit}\n{}", d.log_tail());
    assert!(!alive(new_wayrail) && !alive(client_pid), "children left running");
    assert!(fs::symlink_metadata(&link).is_err(), "the Wayland link stayed");
    assert!(!d.runtime.join("wayraild.env").exists(), "the env file stayed");
    let log = fs::read_to_string(&d.log).unwrap();
    let order: Vec<usize> = ["host-client stopped", "wayrail stopped"].iter().map(|m| log.find(m).expect(m)).collect();
    assert!(order[0] < order[1], "not stopped in order:\n{log}");
}

/// The visible windows of process `pid` on the host's X display.
fn host_windows(x: &Xvfb, pid: i32) -> usize {
    x.try_xdotool(&["search", "--onlyvisible", "--pid", &pid.to_string()]).map_or(0, |ids| ids.lines().count())
}

#[test]
fn xfreerdp3_as_the_host_client_logs_in_from_stdin_and_comes_back_after_wayrail_is_killed() {
    require_programs!("Xvfb", "xdotool", "xfreerdp3");
    let logs = TempDir::new("wayraild-host-x");
    let x = Xvfb::start(logs.path());
    let client =
        "host_client = [\"xfreerdp3\", \"/v:{address}\", \"/u:test\", \"/from-stdin:force\", \"/cert:ignore\", \
                  \"/sec:tls\", \"/size:800x600\", \"/log-level:WARN\", \"/kbd:layout:0x409\"]";
    let d = Daemon::start_for_host(client, &x.name());
    let running =
        |s: &Value| child(s, "wayrail")["state"] == "running" && child(s, "host-client")["state"] == "running";
    let status = d.wait_status(UP_TIMEOUT, "wayrail and xfreerdp3 running", running);
    let first = pid_of(&status, "host-client");
    assert!(
        wait_until(UP_TIMEOUT, || host_windows(&x, first) > 0),
        "xfreerdp3 shows no window (did it log in?)\n{}\n{}",
        wayrail_e2e::file_tail(&d.path("state/wayrail/wayraild/host-client.log"), 30),
        d.log_tail()
    );
    let wayrail_log = d.path("state/wayrail/wayraild/wayrail.log");
    assert!(fs::read_to_string(&wayrail_log).unwrap().contains("RDP client connected"), "{}", d.log_tail());

    // SAFETY: kill(2) on the daemon's running wayrail.
    unsafe { libc::kill(pid_of(&status, "wayrail"), libc::SIGKILL) };
    let status = d.wait_status(UP_TIMEOUT, "a new xfreerdp3 after wayrail's restart", |s| {
        running(s) && child(s, "host-client")["pid"].as_i64() != Some(first as i64)
    });
    let second = pid_of(&status, "host-client");
    assert!(
        wait_until(UP_TIMEOUT, || host_windows(&x, second) > 0),
        "the restarted xfreerdp3 shows no window\n{}",
        d.log_tail()
    );
    let connected = fs::read_to_string(&wayrail_log).unwrap().matches("RDP client connected").count();
    assert!(connected >= 2, "{connected} connections\n{}", d.log_tail());
    assert!(child(&status, "host-client")["restarts"].as_u64() >= Some(1));
}

#[test]
fn a_child_that_always_crashes_is_stopped_with_backed_off_restarts_while_the_others_run() {
    let d = Daemon::start("host_client = [\"false\"]\ncrash_limit = 5");
    let status = d
        .wait_status(Duration::from_secs(60), "host client stopped", |s| child(s, "host-client")["state"] == "stopped");
    let c = child(&status, "host-client");
    let starts: Vec<u64> = c["starts_unix_ms"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let exits = c["exits_unix_ms"].as_array().unwrap().len();
    assert_eq!((starts.len(), exits), (5, 5), "{c}");
    let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    println!("host client started at intervals of {gaps:?} ms");
    for (gap, delay) in gaps.iter().zip([100u64, 200, 400, 800]) {
        assert!(*gap >= delay - 2 && *gap < delay + 1000, "gaps {gaps:?} do not follow the back-off");
    }
    let why = c["stopped_because"].as_str().unwrap_or_default();
    assert!(why.contains("crash loop: 5 exits within 60 s") && why.contains("exit status 1"), "{why}");
    assert!(fs::read_to_string(&d.log).unwrap().contains("host-client is stopped"), "{}", d.log_tail());
    // wayrail keeps running, untouched, and stays so.
    std::thread::sleep(Duration::from_millis(500));
    let status = d.status();
    let w = child(&status, "wayrail");
    assert_eq!((w["state"].as_str(), w["restarts"].as_u64()), (Some("running"), Some(0)), "{w}");
    assert!(alive(pid_of(&status, "wayrail")));
}

#[test]
fn gpu_paravirtualization_of_a_fake_wsl_root_is_reported_and_exported() {
    let extra = "d3d12_adapter = \"Fake Adapter\"\ngallium_d3d12 = true\nwayrail_args = [\"--xwayland\", \"off\"]";
    let d = Daemon::start_with(extra, |root| {
        fs::create_dir_all(root.join("dev")).unwrap();
        fs::write(root.join("dev/dxg"), "").unwrap();
        fs::create_dir_all(root.join("usr/lib/wsl/lib")).unwrap();
    });
    let status = d.wait_ready();
    let lib = d.root.join("usr/lib/wsl/lib");
    let gpu = &status["gpu"];
    assert_eq!(gpu["state"], "dxg", "{gpu}");
    assert_eq!(gpu["device"].as_str(), d.root.join("dev/dxg").to_str());
    assert_eq!(gpu["libraries"].as_str(), lib.to_str());
    assert!(gpu["adapters"].is_null(), "an adapter count nobody counted: {gpu}");
    let env = d.env_file();
    for line in [
        format!("LD_LIBRARY_PATH={}", lib.display()),
        "MESA_D3D12_DEFAULT_ADAPTER_NAME=Fake Adapter".to_owned(),
        "GALLIUM_DRIVER=d3d12".to_owned(),
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing from the env file:\n{env}");
    }
    assert!(!env.contains("DISPLAY=:"), "no X11 display with --xwayland off:\n{env}");
    // Apps that wayrail starts inherit it too.
    let environ = fs::read(format!("/proc/{}/environ", pid_of(&status, "wayrail"))).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.split('\0').any(|v| v == format!("LD_LIBRARY_PATH={}", lib.display())), "{environ:?}");
    let human = d.command(&["status"]).output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("GPU: dxg (adapter count unknown)"), "{human}");
    // wayrail says the same.
    let version = msg_json(&d, "version");
    assert_eq!(version["gpu"]["state"], "dxg", "{version}");
    assert!(version["gpu"]["adapters"].is_null(), "{version}");
}

#[test]
fn the_audio_server_starts_first_and_its_socket_is_projected() {
    require_programs!("python3");
    // A stand-in for pipewire-pulse: listens where wayraild expects the PulseAudio socket.
    let server = "import os, socket, time\n\
                  d = os.environ['XDG_RUNTIME_DIR'] + '/pulse'\n\
                  os.makedirs(d, exist_ok=True)\n\
                  s = socket.socket(socket.AF_UNIX)\n\
                  s.bind(d + '/native')\n\
                  s.listen()\n\
                  time.sleep(600)\n";
    let mut d =
        Daemon::start(&format!("audio = [\"python3\", \"-c\", {server:?}]\nwayrail_args = [\"--xwayland\", \"off\"]"));
    let status = d.wait_ready();
    let audio = child(&status, "audio");
    assert_eq!(audio["state"], "running", "{status:#}");
    let order: Vec<u64> =
        ["audio", "wayrail"].iter().map(|n| child(&status, n)["starts_unix_ms"][0].as_u64().unwrap()).collect();
    assert!(order[0] <= order[1], "wayrail started before the audio server: {order:?}");
    let link = d.runtime.join("pulse/native");
    assert_eq!(fs::read_link(&link).unwrap(), d.runtime.join("wayraild/pulse/native"));
    assert!(
        wait_until(Duration::from_secs(10), || UnixStream::connect(&link).is_ok()),
        "the audio server's socket is not reachable at {}",
        link.display()
    );
    let env = d.env_file();
    let pulse = format!("PULSE_SERVER=unix:{}", link.display());
    assert!(env.lines().any(|l| l == pulse), "{pulse} missing:\n{env}");
    // Stopped last, after wayrail.
    assert!(d.stop().is_some_and(|s| s.success()), "{}", d.log_tail());
    let log = fs::read_to_string(&d.log).unwrap();
    let order: Vec<usize> = ["wayrail stopped", "audio stopped"].iter().map(|m| log.find(m).expect(m)).collect();
    assert!(order[0] < order[1], "not stopped in order:\n{log}");
    assert!(fs::symlink_metadata(&link).is_err(), "the PulseAudio link stayed");
}

/// A vsock stream socket connected to `cid:port`.
fn vsock_connect(cid: u32, port: u32) -> std::io::Result<fs::File> {
    use std::os::fd::{FromRawFd as _, OwnedFd};
    // SAFETY: socket(2) and connect(2) with a sockaddr_vm of the size given; the descriptor is
    // owned at once.
    unsafe {
        let raw = libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let mut addr: libc::sockaddr_vm = std::mem::zeroed();
        addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
        addr.svm_cid = cid;
        addr.svm_port = port;
        let len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
        if libc::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), (&addr as *const libc::sockaddr_vm).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fs::File::from(fd))
    }
}

/// vsock (the way a VM's host comes in): wayraild opens the listener, wayrail serves it as an
/// inherited descriptor. A kernel without vsock skips it; the RDP exchange needs the vsock
/// loopback transport too (connecting to CID 1), and is skipped with the reason without it, as
/// rdp-backend's own vsock test is (`WAYRAIL_REQUIRE_VSOCK=1`: a failure).
#[test]
fn a_vsock_listener_of_wayraild_is_served_by_wayrail() {
    let mut d = Daemon::start(
        "listen = [\"tcp:127.0.0.1:0\", \"vsock:any:4294967295\"]\nwayrail_args = [\"--xwayland\", \"off\"]",
    );
    let mut up = None;
    wait_until(UP_TIMEOUT, || {
        up = d.try_status().filter(|s| child(s, "wayrail")["state"] == "running");
        up.is_some() || d.process.as_mut().is_some_and(|p| p.has_exited())
    });
    let Some(status) = up else {
        let log = fs::read_to_string(&d.log).unwrap_or_default();
        if log.contains("listening on vsock:") {
            let why = format!("no vsock in this kernel: {}", log.lines().last().unwrap_or_default());
            assert!(!std::env::var("WAYRAIL_REQUIRE_VSOCK").is_ok_and(|v| v == "1"), "{why}");
            println!("SKIPPED {why}");
            return;
        }
        panic!("wayrail not ready\n{}", d.log_tail());
    };
    let bound = status["sockets"]["rdp"][1].as_str().expect("the vsock listener").to_owned();
    let port: u32 = bound
        .strip_prefix("vsock:")
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("{bound}"));
    assert_ne!(port, u32::MAX, "the port the kernel chose is reported");
    // wayrail took the inherited descriptor as a vsock listener.
    let listening = status["wayrail"]["listening"].as_array().cloned().unwrap_or_default();
    assert!(
        listening
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.starts_with("vsock:") && l.ends_with(&format!(":{port}")))),
        "wayrail does not serve it: {listening:?}"
    );
    let mut s = match vsock_connect(1, port) {
        Ok(s) => s,
        Err(e) => {
            let why = format!("the RDP exchange over vsock: no vsock loopback to connect through ({e})");
            assert!(!std::env::var("WAYRAIL_REQUIRE_VSOCK").is_ok_and(|v| v == "1"), "{why}");
            println!("SKIPPED {why}");
            return;
        }
    };
    s.write_all(&x224_connection_request(PROTOCOL_SSL)).unwrap();
    let confirm = read_connection_confirm(&mut s).unwrap_or_else(|e| panic!("over vsock: {e:#}"));
    assert!(matches!(confirm, ConnectionConfirm::Selected { protocol: PROTOCOL_SSL, .. }), "{confirm:?}");
}

#[test]
fn a_wayrail_that_never_says_ready_is_killed_with_a_clear_error() {
    let dir = TempDir::new("wayraild-mute");
    let mute = dir.path().join("mute-wayrail");
    fs::write(&mute, "#!/bin/sh\nexec sleep 600\n").unwrap();
    fs::set_permissions(&mute, fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start(&format!("wayrail = {mute:?}\nready_timeout = 0.5\ncrash_limit = 2"));
    let status = d.wait_status(Duration::from_secs(20), "the mute wayrail stopped", |s| {
        child(s, "wayrail")["state"] == "stopped"
    });
    let w = child(&status, "wayrail");
    assert!(w["last_exit"].as_str().unwrap_or_default().starts_with("not ready within 0.5 s"), "{w}");
    let log = fs::read_to_string(&d.log).unwrap();
    assert!(log.contains("did not report ready within 0.5 s"), "{log}");
    assert!(log.contains("NOTIFY_SOCKET="), "the error names the socket: {log}");
}

#[test]
fn wayrail_takes_its_listener_from_socket_activation_and_says_ready() {
    let dir = TempDir::new("wayrail-activation");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(UP_TIMEOUT)).unwrap();
    let runtime = dir.path().join("run");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();

    // systemd's way: the socket at descriptor 3, LISTEN_FDS=1 and LISTEN_PID naming wayrail
    // itself (a shell that execs it knows that pid).
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "export LISTEN_PID=$$ LISTEN_FDS=1; exec \"$0\" \"$@\""]).arg(wayrail_bin()).args([
        "--socket",
        "wayland-activated",
        "--xwayland",
        "off",
    ]);
    for var in ["WAYLAND_DISPLAY", "WAYLAND_SOCKET", "WAYRAIL_SOCKET", "DISPLAY"] {
        cmd.env_remove(var);
    }
    cmd.env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("CREDENTIALS_DIRECTORY", test_credentials_dir(dir.path()))
        .env("NOTIFY_SOCKET", &notify_path)
        .env("RUST_LOG", "info");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    // SAFETY: dup2(2) and fcntl(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd != 3 && libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::fcntl(3, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let wayrail = Client::spawn_logged("wayrail", cmd, &dir.path().join("wayrail.log"));
    drop(listener);

    let mut buf = [0u8; 4096];
    let n = notify.recv(&mut buf).unwrap_or_else(|e| panic!("no readiness datagram: {e}\n{}", wayrail.log_tail(30)));
    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(message.lines().any(|l| l == "READY=1"), "{message}");
    assert!(message.lines().any(|l| l == "X_WAYRAIL_WAYLAND_DISPLAY=wayland-activated"), "{message}");
    assert!(message.lines().any(|l| l == format!("X_WAYRAIL_LISTEN=tcp:127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("3389"), "the default listener is not used with activation: {message}");
    rdp_answers(port, Duration::from_secs(10)).unwrap_or_else(|e| panic!("RDP on the activated socket: {e:#}"));
    assert!(wayrail.log_text().contains("socket activation"), "{}", wayrail.log_tail(30));
}

#[test]
fn the_systemd_units_verify() {
    require_programs!("systemd-analyze");
    let dir = TempDir::new("wayrail-units");
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    for name in ["wayrail.socket", "wayrail.service"] {
        fs::copy(units.join(name), dir.path().join(name)).unwrap();
    }
    // ExecStart names %h/.cargo/bin/wayrail: a home where that is the built binary.
    let bin = dir.path().join("home/.cargo/bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(wayrail_bin(), bin.join("wayrail")).unwrap();
    let runtime = dir.path().join("run");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--user", "wayrail.socket", "wayrail.service"])
        .current_dir(dir.path())
        .env("HOME", dir.path().join("home"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed ({}): {stderr}", out.status);
    // It reports bad keys and values as warnings and still succeeds: none may name our units.
    assert!(!stderr.contains("wayrail."), "systemd-analyze verify complained:\n{stderr}");
}

#[test]
fn apps_get_wayrails_sound_server_at_a_path_named_after_the_wayland_socket() {
    require_programs!("pulseaudio", "paplay");
    let mut d = Daemon::start("wayrail_args = [\"--xwayland\", \"off\"]\n[audio]\nenabled = true");
    d.wait_ready();
    // Known before wayrail runs: wayrail's runtime directory (wayraild's own) and the name of
    // its Wayland socket, not its pid.
    let socket = d.runtime.join("wayraild/wayrail-audio.wayland-0/native");
    let pulse = format!("PULSE_SERVER=unix:{}", socket.display());
    assert!(
        wait_until(Duration::from_secs(10), || d.env_file().lines().any(|l| l == pulse)),
        "{pulse} missing:\n{}\n{}",
        d.env_file(),
        d.log_tail()
    );
    let out = d.command(&["env"]).stdin(Stdio::null()).output().unwrap();
    let exports = String::from_utf8_lossy(&out.stdout);
    assert!(exports.contains(&format!("export PULSE_SERVER='unix:{}'", socket.display())), "{exports}");
    let mode = fs::metadata(socket.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the sound server's directory is for wayrail's user only");
    assert_eq!(msg_json(&d, "audio")["pulse_server"], format!("unix:{}", socket.display()));

    // An app with that environment plays into wayrail's sink: half a second of sound, read by
    // wayrail (no client is connected, so it is thrown away).
    let raw = d.path("sound.raw");
    fs::write(&raw, [0x10u8, 0x20].repeat(44_100)).unwrap();
    let mut cmd = Command::new("paplay");
    cmd.args(["--raw", "--format=s16le", "--rate=44100", "--channels=2"]).arg(&raw);
    for line in d.env_file().lines() {
        if let Some((k, v)) = line.split_once('=') {
            cmd.env(k, v);
        }
    }
    let (status, out) = run_to_end("paplay", cmd, &d.path("paplay.log"));
    assert!(status.success(), "paplay failed ({status}): {out}\n{}", d.log_tail());
    let heard = wait_for(Duration::from_secs(10), || {
        let audio = msg_json(&d, "audio");
        (audio["no_client_packets"].as_u64() >= Some(20)).then_some(audio)
    });
    let heard = heard.unwrap_or_else(|| panic!("wayrail read no sound: {}\n{}", msg_json(&d, "audio"), d.log_tail()));
    eprintln!("{pulse}\nwayrail's figures: {heard}");

    // Its directory goes with wayrail.
    assert!(d.stop().is_some_and(|s| s.success()), "{}", d.log_tail());
    assert!(!socket.parent().unwrap().exists(), "the sound server's directory stayed");
}
