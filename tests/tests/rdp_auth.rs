//! Logging in to the real wayrail: on a fresh start it makes a password and lets in only the
//! clients that give it; a wrong password or another user's client never disturbs the live
//! session, the same user takes it over; `--insecure-no-auth` is refused beyond loopback; and
//! xfreerdp3 logs in with the password (and is sent away without it).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wayrail_e2e::rdp::{FreeRdp, FreeRdpVersion, Xvfb, TEST_PASSWORD, TEST_USER};
use wayrail_e2e::{require_programs, wait_for, wait_until, wayrail_bin, Compositor, TempDir, STARTUP_TIMEOUT};
use wayrail_rdp_testclient::{ClientOptions, TestClient};

/// How long one step (a connection, a frame, a refusal) may take.
const STEP: Duration = Duration::from_secs(15);
const PROBE: &str = env!("CARGO_BIN_EXE_wr-rail-probe");

fn login(user: &str, password: &str) -> ClientOptions {
    ClientOptions { size: (800, 600), username: user.into(), password: password.into(), ..Default::default() }
}

/// A wayrail started by hand, without the harness's test password: what a user gets.
struct Bare {
    child: Child,
    dir: TempDir,
}

impl Bare {
    /// `wayrail --backend rdp [args]` with its own (fresh or reused) runtime, config and state
    /// directories in `dir`; no `$CREDENTIALS_DIRECTORY`, no config file.
    fn spawn(dir: TempDir, args: &[&str]) -> Bare {
        let child = Bare::start(dir.path(), args);
        Bare { child, dir }
    }

    fn start(dir: &Path, args: &[&str]) -> Child {
        let runtime = dir.join("runtime");
        std::fs::DirBuilder::new().recursive(true).create(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let stdout = std::fs::File::create(dir.join("stdout")).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
        Command::new(wayrail_bin())
            .args(["--backend", "rdp", "--xwayland", "off", "--socket", "wr-auth-bare"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("starting wayrail")
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// The printed `RDP on tcp:ADDR` address, once wayrail prints its startup message.
    fn rdp_addr(&mut self) -> String {
        let found = wait_for(STARTUP_TIMEOUT, || {
            if self.child.try_wait().ok().flatten().is_some() {
                return Some(None);
            }
            let out = self.stdout();
            let addr = out.lines().find_map(|l| l.trim().strip_prefix("RDP on tcp:").map(str::to_owned));
            // The whole message is written at once; wait for its last line.
            addr.filter(|_| out.contains("apps:")).map(Some)
        });
        found.flatten().unwrap_or_else(|| panic!("wayrail did not start:\n{}\n{}", self.stdout(), self.stderr()))
    }

    fn password_file(&self) -> std::path::PathBuf {
        self.dir.path().join("state/wayrail/rdp-password")
    }

    /// Stops wayrail and starts it again on the same directories.
    fn restart(&mut self, args: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.dir.path().join("stdout"));
        self.child = Bare::start(self.dir.path(), args);
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects `opts`; fails unless the server sends it away after the connection sequence,
/// telling it why (an error info the client turns into a termination reason).
async fn assert_refused(addr: &str, opts: ClientOptions, log: impl Fn() -> String) {
    let what = format!("{}/{}", opts.username, opts.password);
    match TestClient::connect(addr, opts).await {
        Ok(mut client) => {
            client.wait_closed(STEP).await.unwrap_or_else(|e| panic!("{what} was let in: {e:#}\n{}", log()));
            assert!(client.terminated().is_some(), "{what}: the client was not told why: {:?}", client.closed());
        }
        // Closed before the client finished its side of the sequence: refused too.
        Err(e) => eprintln!("{what}: refused during the connection sequence: {e:#}"),
    }
}

/// Connects `opts` and waits until it is served: the graphics pipeline up and a frame shown.
async fn assert_served(addr: &str, opts: ClientOptions, log: impl Fn() -> String) -> TestClient {
    let what = format!("{}/{}", opts.username, opts.password);
    let mut client =
        TestClient::connect(addr, opts).await.unwrap_or_else(|e| panic!("{what} could not connect: {e:#}\n{}", log()));
    client
        .pump_until(STEP, |c| c.frames_received() > 0)
        .await
        .unwrap_or_else(|e| panic!("{what} got no frame: {e:#}\n{}", log()));
    client
}

#[tokio::test(flavor = "current_thread")]
async fn a_fresh_start_makes_a_password_and_lets_in_only_who_gives_it() {
    let mut wr = Bare::spawn(TempDir::new("wayrail-auth"), &["--listen", "tcp:127.0.0.1:0"]);
    let addr = wr.rdp_addr();
    let file = wr.password_file();
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}\n{}", file.display(), wr.stderr()));
    let password = text.trim_end().to_owned();
    assert!(password.len() >= 20, "a strong password: {password:?}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "private");
    // It says how to connect, and never shows the password outside a terminal.
    let out = wr.stdout();
    assert!(out.contains(&file.display().to_string()), "the startup message names the password file:\n{out}");
    assert!(!out.contains(&password) && !wr.stderr().contains(&password), "the password was printed:\n{out}");

    assert_refused(&addr, login(TEST_USER, TEST_PASSWORD), || wr.stderr()).await;
    assert_refused(&addr, login(TEST_USER, ""), || wr.stderr()).await;
    let stderr = wr.stderr();
    assert!(stderr.contains("login refused") && stderr.contains("127.0.0.1"), "the refusal is logged:\n{stderr}");
    assert!(!stderr.contains("RDP client connected"), "a refused client reached the compositor:\n{stderr}");
    let client = assert_served(&addr, login("anyone", &password), || wr.stderr()).await;
    drop(client);

    // A restart keeps the password.
    wr.restart(&["--listen", "tcp:127.0.0.1:0"]);
    let addr = wr.rdp_addr();
    assert_eq!(std::fs::read_to_string(wr.password_file()).unwrap(), text, "the password is kept");
    assert_served(&addr, login("anyone", &password), || wr.stderr()).await;
}

#[test]
fn insecure_no_auth_is_refused_beyond_loopback() {
    let mut wr = Bare::spawn(TempDir::new("wayrail-auth"), &["--insecure-no-auth", "--listen", "tcp:0.0.0.0:0"]);
    let status = wait_for(STARTUP_TIMEOUT, || wr.child.try_wait().ok().flatten())
        .unwrap_or_else(|| panic!("wayrail started without a login on 0.0.0.0:\n{}", wr.stderr()));
    assert!(!status.success());
    let stderr = wr.stderr();
    assert!(stderr.contains("no login is required") && stderr.contains("0.0.0.0"), "{stderr}");
    assert!(!wr.password_file().exists(), "no password made for --insecure-no-auth");
}

#[tokio::test(flavor = "current_thread")]
async fn insecure_no_auth_on_loopback_lets_anyone_in() {
    let wr = Compositor::start_rdp(&["--insecure-no-auth"]);
    let addr = format!("127.0.0.1:{}", wr.rdp_port().unwrap());
    assert_served(&addr, login("whoever", "whatever"), || wr.log_tail(20)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_logins_and_other_users_leave_the_live_session_alone() {
    let wr = Compositor::start_rdp(&[]);
    let addr = format!("127.0.0.1:{}", wr.rdp_port().unwrap());
    let log = || wr.log_tail(30);
    let mut live = assert_served(&addr, login("alice", TEST_PASSWORD), log).await;

    assert_refused(&addr, login("alice", "guess"), log).await;
    assert_refused(&addr, login("bob", TEST_PASSWORD), log).await;
    let text = wr.log_text();
    assert!(text.contains("login refused"), "{}", log());
    assert!(text.contains("takeover refused"), "{}", log());

    // The live client is still served: a new window's pixels reach it.
    let frames = live.frames_received();
    let _probe = wr.spawn_client(PROBE, &["--title", "after the refusals"], &[]);
    live.pump_until(STEP, |c| c.frames_received() > frames)
        .await
        .unwrap_or_else(|e| panic!("the live client got no frame after the refusals: {e:#}\n{}", log()));
    assert!(live.closed().is_none());

    // The same user takes over, and the old client is sent away.
    let _new = assert_served(&addr, login("Alice", TEST_PASSWORD), log).await;
    live.wait_closed(STEP).await.unwrap_or_else(|e| panic!("the replaced client stayed: {e:#}\n{}", log()));
    assert!(wr.log_text().contains("a new session takes over"), "{}", log());
}

#[test]
fn xfreerdp3_logs_in_with_the_password_only() {
    require_programs!("Xvfb", "xdotool", "xfreerdp3");
    let wr = Compositor::start_rdp(&[]);
    let x = Xvfb::start(wr.runtime_dir());
    let mut wrong = FreeRdp::start_as(&wr, &x, FreeRdpVersion::V3, (800, 600), &[], (TEST_USER, "not-the-password"));
    let status = wrong.client.wait_exit(STEP);
    assert!(status.is_some_and(|s| !s.success()), "xfreerdp3 with a wrong password: {status:?}\n{}", wr.log_tail(20));
    let text = wr.log_text();
    assert!(text.contains("login refused"), "{}", wr.log_tail(20));
    assert!(!text.contains("RDP client connected"), "{}", wr.log_tail(20));
    // With the password it connects (its window shows before the login is checked, which
    // waits out the wrong one's back-off) and stays.
    let mut rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (800, 600), &[]);
    let connected = wait_until(STEP, || wr.log_text().contains("RDP client connected"));
    assert!(connected, "{}", wr.log_tail(20));
    assert!(!rdp.client.has_exited(), "{}", rdp.client.log_tail(20));
}
