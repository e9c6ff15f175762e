//! The RDP servers the scenarios run in, and one session of each: the server with its own
//! runtime dir, the relay that times its bytes, an Xvfb with xfreerdp3 in it, and the XDamage
//! counter on the client's window.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::procs::{free_port, log_tail, tcp_listening, wait_for, Procs};
use crate::relay::Relay;
use crate::xdamage::DamageCounter;

/// Where `/work/shared/peers/wslg/build.sh`-style builds put WSLg's compositor.
pub(crate) const WSLG_PREFIX: &str = "/opt/wslg-anchor";

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub(crate) enum RdpServer {
    Wayrail,
    /// wayrail with `[rdp] h264 = "off"`: ClearCodec only, to weigh what H.264 saves.
    WayrailH264Off,
    /// wayrail with a client that turned AVC off (`/gfx:AVC420:off,AVC444:off`): RemoteFX
    /// Progressive where the others get AVC420.
    WayrailNoAvc,
    /// Weston 14's RDP backend, desktop-shell.
    Weston,
    /// wayrail in RemoteApp: xfreerdp3 `/app:program:...`, the app's window a window of the host.
    WayrailRemoteapp,
    /// WSLg's own compositor (weston-mirror's RDP RemoteApp backend with rdprail-shell).
    Wslg,
}

impl RdpServer {
    pub(crate) fn label(self) -> &'static str {
        match self {
            RdpServer::Wayrail => "wayrail",
            RdpServer::WayrailH264Off => "wayrail-h264-off",
            RdpServer::WayrailNoAvc => "wayrail-no-avc",
            RdpServer::Weston => "weston",
            RdpServer::WayrailRemoteapp => "wayrail-remoteapp",
            RdpServer::Wslg => "wslg",
        }
    }

    pub(crate) fn remote_app(self) -> bool {
        matches!(self, RdpServer::WayrailRemoteapp | RdpServer::Wslg)
    }

    fn is_wayrail(self) -> bool {
        matches!(
            self,
            RdpServer::Wayrail | RdpServer::WayrailH264Off | RdpServer::WayrailNoAvc | RdpServer::WayrailRemoteapp
        )
    }
}

pub(crate) fn wslg_built() -> bool {
    Path::new(WSLG_PREFIX).join("bin/weston").is_file()
}

/// The client's command line, the same for every server (RemoteApp adds its `/app`). The gdi
/// log filter makes the client log one line per surface command it decodes (codec, payload
/// length): that is how the codec is read, and it costs the client one short write per command.
pub(crate) fn rdp_client_args(port: &str, size: &str, app: Option<&str>) -> Vec<String> {
    let mut args = vec![
        format!("/v:127.0.0.1:{port}"),
        "/cert:ignore".into(),
        "/sec:tls".into(),
        "/u:test".into(),
        "/p:test".into(),
        format!("/size:{size}"),
        "/log-level:ERROR".into(),
        "/log-filters:com.freerdp.gdi:TRACE".into(),
    ];
    if let Some(app) = app {
        // WSLg's desktop window order is refused without the relaxed checks.
        args.extend([format!("/app:program:{app}"), "+relax-order-checks".into()]);
    }
    args
}

/// One server with its client, ready for apps.
pub(crate) struct Session {
    pub(crate) procs: Procs,
    pub(crate) server_pid: u32,
    pub(crate) server_port: u16,
    pub(crate) relay: Relay,
    pub(crate) counter: DamageCounter,
    /// The window the XDamage counter watches, as it reported it.
    pub(crate) window: String,
    runtime_dir: PathBuf,
    wayland_display: String,
    config_dir: PathBuf,
}

impl Session {
    /// Starts `server` serving a `size` desktop and xfreerdp3 against it through the relay.
    /// In RemoteApp, `rail_app` is the script the host asks the server to run (the app logs
    /// where the script says); the counter waits for its window.
    pub(crate) fn start(
        server: RdpServer,
        wayrail: &Path,
        size: &str,
        rail_app: Option<&str>,
    ) -> anyhow::Result<Session> {
        let mut procs = Procs::new(server.label())?;
        let mut runtime_dir = procs.subdir("run")?;
        let config_dir = procs.subdir("config")?;
        let port = free_port()?;
        let mut wayland_display = format!("wayrail-bench-{}", std::process::id());
        let rail_script = match rail_app {
            Some(body) if server.remote_app() => {
                let path = procs.dir.join("rail-app.sh");
                let dir = procs.dir.to_str().context("a UTF-8 path")?;
                std::fs::write(&path, format!("#!/bin/sh\n{}\n", body.replace("@DIR@", dir)))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
                Some(path.to_str().context("a UTF-8 path")?.to_string())
            }
            _ => None,
        };
        let mut cmd = if server.is_wayrail() {
            let mut config = String::new();
            if server == RdpServer::WayrailH264Off {
                config.push_str("[rdp]\nh264 = \"off\"\n");
            }
            if server.remote_app() {
                config.push_str("[rail]\nexec = \"any\"\n");
            }
            let dir = config_dir.join("wayrail");
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("config.toml"), config).context("writing the bench's wayrail config")?;
            // The client's login (/u:test /p:test), as a systemd credential.
            let credentials = procs.subdir("credentials")?;
            std::fs::write(credentials.join("rdp-password"), "test\n").context("writing the bench's RDP password")?;
            let mut cmd = Command::new(wayrail);
            cmd.args(["--backend", "rdp", "--socket", &wayland_display])
                .args(["--listen", &format!("tcp:127.0.0.1:{port}"), "--output", size])
                .env("XDG_STATE_HOME", procs.subdir("state")?)
                .env("CREDENTIALS_DIRECTORY", credentials)
                // For the "EGFX ready" line.
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1");
            cmd
        } else {
            let (cert, key) = certificate(&procs)?;
            let tls = [format!("--rdp-tls-cert={}", cert.display()), format!("--rdp-tls-key={}", key.display())];
            let listen = [format!("--port={port}"), "--address=127.0.0.1".into()];
            if server == RdpServer::Wslg {
                // As WSLGd starts it (and start-wslg.sh beside the WSLg build): the RAIL shell,
                // no shared memory (no virtiofs), so every frame goes out as EGFX.
                runtime_dir = runtime_dir.join("xdg-wslg");
                std::fs::DirBuilder::new().recursive(true).create(&runtime_dir)?;
                std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))?;
                wayland_display = "wayland-0".into();
                let mut cmd = Command::new(Path::new(WSLG_PREFIX).join("bin/weston"));
                cmd.args(["--backend=rdp-backend.so", "--xwayland", "--socket=wayland-0", "--shell=rdprail-shell.so"])
                    .args(tls)
                    .args(listen)
                    // FreeRDP's libraries in lib, weston's in meson's multiarch libdir.
                    .env("LD_LIBRARY_PATH", format!("{WSLG_PREFIX}/lib:{WSLG_PREFIX}/lib/x86_64-linux-gnu"))
                    .env("HOME", &procs.dir)
                    .env("WSL2_DISTRO_NAME", "Debian")
                    .env("WESTON_DISABLE_ABSTRACT_FD", "1")
                    .env("WESTON_RDP_SHARED_MEMORY", "false");
                cmd
            } else {
                let (w, h) = size.split_once('x').context("the desktop size is WxH")?;
                let mut cmd = Command::new("weston");
                cmd.arg("--backend=rdp-backend.so")
                    .args(tls)
                    .args(listen)
                    .arg(format!("--socket={wayland_display}"))
                    .args(["--no-config", &format!("--width={w}"), &format!("--height={h}")]);
                cmd
            }
        };
        cmd.env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("XDG_CONFIG_HOME", &config_dir)
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("WAYLAND_SOCKET")
            .env_remove("DISPLAY");
        procs.spawn("server", cmd)?;
        let server_pid = procs.pid("server").expect("just started");
        let what = format!("the server was not listening on 127.0.0.1:{port} and {wayland_display}");
        wait_for(&procs, &["server"], &what, Duration::from_secs(30), || {
            tcp_listening(port) && runtime_dir.join(&wayland_display).exists()
        })?;
        let relay = Relay::start(port)?;

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
        cmd.args(rdp_client_args(&relay.port.to_string(), size, rail_script.as_deref()));
        if server == RdpServer::WayrailNoAvc {
            cmd.arg("/gfx:AVC420:off,AVC444:off");
        }
        cmd.env("DISPLAY", &display).env("XDG_CONFIG_HOME", &config_dir).env_remove("WAYLAND_DISPLAY");
        procs.spawn("xfreerdp3", cmd)?;
        let mut counter = DamageCounter::start(&mut procs, &display, Duration::from_secs(30))?;
        let window = counter.ready(Duration::from_secs(35)).map_err(|e| {
            let why = procs.check_alive(&["server", "xfreerdp3"]).err().map_or(String::new(), |e| format!(" ({e:#})"));
            e.context(format!("the client's window did not show{why}"))
        })?;
        if server == RdpServer::Wslg {
            counter.unshape()?;
        }
        Ok(Session {
            procs,
            server_pid,
            server_port: port,
            relay,
            counter,
            window,
            runtime_dir,
            wayland_display,
            config_dir,
        })
    }

    /// A command for a Wayland client of this session's server.
    pub(crate) fn wayland_client(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("XDG_CONFIG_HOME", &self.config_dir)
            .env("WAYLAND_DISPLAY", &self.wayland_display)
            .env_remove("WAYLAND_SOCKET")
            .env_remove("DISPLAY");
        cmd
    }

    /// The server's log so far.
    pub(crate) fn server_log(&self) -> String {
        String::from_utf8_lossy(&self.procs.log_range("server", 0, u64::MAX)).into_owned()
    }
}

/// A self-signed certificate for Weston's TLS.
fn certificate(procs: &Procs) -> anyhow::Result<(PathBuf, PathBuf)> {
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
    Ok((cert, key))
}
