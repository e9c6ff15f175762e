//! `[supervisor]` in wayrail's `config.toml`, and everything wayraild derives from it: the
//! runtime directory apps use, the private directory wayrail runs in, where logs go, what to
//! listen on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use wayrail_rdp::ListenAddr;

/// `[supervisor]`, as written in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The `XDG_RUNTIME_DIR` of apps; default `$XDG_RUNTIME_DIR`, else `/run/user/UID`, else
    /// a private directory made in the temporary directory.
    pub runtime_dir: Option<PathBuf>,
    /// The Wayland socket's name in the runtime directory.
    pub wayland_display: String,
    /// Where X clients look for `X<N>`; a link to wayrail's socket is kept there when it is not
    /// `/tmp/.X11-unix` itself (a directory shared with a container, as WSLg's is).
    pub x11_dir: PathBuf,
    /// RDP listeners wayraild opens and hands to wayrail (`tcp:`, `unix:`, `vsock:`); default:
    /// `[rdp] listen`, else `tcp:127.0.0.1:3389`, and `vsock:any:3389` in a virtual machine.
    pub listen: Option<Vec<String>>,
    /// The `wayrail` program; default: the one next to `wayraild`, else `wayrail` on `PATH`.
    pub wayrail: Option<PathBuf>,
    /// More arguments for wayrail (e.g. `["--xwayland", "on"]`).
    pub wayrail_args: Vec<String>,
    /// The audio server, started first and restarted like the others, e.g. `["pipewire-pulse"]`.
    /// It runs with the private directory as `XDG_RUNTIME_DIR`.
    pub audio: Option<Vec<String>>,
    /// The PulseAudio socket the audio server makes; default `pulse/native` in the private
    /// directory when `audio` is set. Projected to `$XDG_RUNTIME_DIR/pulse/native`.
    pub pulse_socket: Option<PathBuf>,
    /// The host's RDP client, started once wayrail is ready. `{address}` (the first TCP
    /// listener's HOST:PORT), `{port}` and `{user}` in its arguments are filled in; the password
    /// comes on its standard input (one line), never on its command line.
    pub host_client: Option<Vec<String>>,
    /// The file system root GPU paths are looked up under (tests use a fake one).
    pub root: PathBuf,
    /// `MESA_D3D12_DEFAULT_ADAPTER_NAME` for apps when a dxg GPU is present.
    pub d3d12_adapter: Option<String>,
    /// `GALLIUM_DRIVER=d3d12` for apps when a dxg GPU is present (off: Mesa picks).
    pub gallium_d3d12: bool,
    /// Seconds wayrail may take to report ready.
    pub ready_timeout: f64,
    /// Seconds between checks of the projected sockets.
    pub check_interval: f64,
    /// A child that exits this many times within `crash_window` seconds is stopped.
    pub crash_limit: u32,
    pub crash_window: f64,
    /// Where each child's output goes (`NAME.log`); default `$XDG_STATE_HOME/wayrail/wayraild`.
    pub log_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            runtime_dir: None,
            wayland_display: "wayland-0".into(),
            x11_dir: PathBuf::from(X11_DIR),
            listen: None,
            wayrail: None,
            wayrail_args: Vec::new(),
            audio: None,
            pulse_socket: None,
            host_client: None,
            root: PathBuf::from("/"),
            d3d12_adapter: None,
            gallium_d3d12: false,
            ready_timeout: 10.0,
            check_interval: 1.0,
            crash_limit: 10,
            crash_window: 60.0,
            log_dir: None,
        }
    }
}

/// Where X11 clients find display sockets.
pub const X11_DIR: &str = "/tmp/.X11-unix";
/// The RDP port of the default listeners.
pub const RDP_PORT: u16 = 3389;

/// Everything wayraild runs with, resolved.
#[derive(Debug, Clone)]
pub struct Supervisor {
    pub settings: Settings,
    /// The config file given on the command line (handed to wayrail too).
    pub config_file: Option<PathBuf>,
    /// wayrail's whole config: `[rdp]` says how clients log in.
    pub wayrail: wayrail_compositor::config::Config,
    pub runtime_dir: PathBuf,
    pub listen: Vec<ListenAddr>,
    pub log_dir: PathBuf,
    pub in_vm: bool,
}

impl Supervisor {
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Supervisor> {
        let wayrail = wayrail_compositor::config::Config::load(config_file)?;
        let settings = match &wayrail.supervisor {
            Some(value) => Settings::deserialize(value.clone()).context("[supervisor] in the config")?,
            None => Settings::default(),
        };
        let in_vm = in_virtual_machine(&settings.root);
        let listen = match (&settings.listen, wayrail.rdp.listen.is_empty()) {
            (Some(list), _) => parse_listen(list)?,
            (None, false) => wayrail.rdp.listen.clone(),
            (None, true) => default_listen(in_vm),
        };
        if let Some(fd) = listen.iter().find(|a| matches!(a, ListenAddr::Fd(_))) {
            anyhow::bail!("{fd}: wayraild opens its listeners itself (tcp:, unix: or vsock:)");
        }
        let runtime_dir = match &settings.runtime_dir {
            Some(dir) => dir.clone(),
            None => default_runtime_dir(),
        };
        let log_dir = match &settings.log_dir {
            Some(dir) => dir.clone(),
            None => wayrail_compositor::config::state_dir()?.join("wayraild"),
        };
        for (name, value) in [
            ("ready_timeout", settings.ready_timeout),
            ("check_interval", settings.check_interval),
            ("crash_window", settings.crash_window),
        ] {
            if !(value > 0.0 && value < 86_400.0) {
                anyhow::bail!("[supervisor] {name} = {value}: expected seconds above 0");
            }
        }
        if settings.wayland_display.is_empty() || settings.wayland_display.contains('/') {
            anyhow::bail!("[supervisor] wayland_display {:?}: expected a socket name", settings.wayland_display);
        }
        Ok(Supervisor {
            settings,
            config_file: config_file.map(Path::to_path_buf),
            wayrail,
            runtime_dir,
            listen,
            log_dir,
            in_vm,
        })
    }

    /// wayraild's own directory inside the runtime directory: wayrail's `XDG_RUNTIME_DIR` (its
    /// real sockets), the status and notify sockets.
    pub fn private_dir(&self) -> PathBuf {
        self.runtime_dir.join("wayraild")
    }

    pub fn status_socket(&self) -> PathBuf {
        self.private_dir().join("status.sock")
    }

    pub fn env_file(&self) -> PathBuf {
        self.runtime_dir.join("wayraild.env")
    }

    pub fn ready_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.settings.ready_timeout)
    }

    pub fn check_interval(&self) -> Duration {
        Duration::from_secs_f64(self.settings.check_interval)
    }

    /// The PulseAudio socket to project, if there is an audio server.
    pub fn pulse_socket(&self) -> Option<PathBuf> {
        match (&self.settings.pulse_socket, &self.settings.audio) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(_)) => Some(self.private_dir().join("pulse/native")),
            (None, None) => None,
        }
    }

    /// The `wayrail` program to run.
    pub fn wayrail_program(&self) -> PathBuf {
        if let Some(p) = &self.settings.wayrail {
            return p.clone();
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("wayrail")))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("wayrail"))
    }
}

fn parse_listen(list: &[String]) -> anyhow::Result<Vec<ListenAddr>> {
    list.iter().map(|s| s.parse::<ListenAddr>().map_err(anyhow::Error::from)).collect()
}

/// Loopback TCP, and in a virtual machine vsock for the host (WSL 2's way in).
pub fn default_listen(in_vm: bool) -> Vec<ListenAddr> {
    let mut listen = vec![ListenAddr::Tcp(format!("127.0.0.1:{RDP_PORT}"))];
    if in_vm {
        listen.push(ListenAddr::Vsock { cid: libc::VMADDR_CID_ANY, port: RDP_PORT as u32 });
    }
    listen
}

/// A hypervisor shows in the CPU flags, and the host can reach us only if vsock is there.
pub fn in_virtual_machine(root: &Path) -> bool {
    let hypervisor = std::fs::read_to_string(root.join("proc/cpuinfo"))
        .map(|info| info.lines().any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor")))
        .unwrap_or(false);
    hypervisor && root.join("dev/vsock").exists()
}

/// `$XDG_RUNTIME_DIR`, else `/run/user/UID` when it exists, else (as wayrail does) a private
/// directory in the temporary directory.
pub fn default_runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    let system = PathBuf::from(format!("/run/user/{uid}"));
    if system.is_dir() {
        system
    } else {
        std::env::temp_dir().join(format!("wayrail-runtime-{uid}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<Settings, String> {
        let config = wayrail_compositor::config::Config::parse(text).map_err(|e| e.to_string())?;
        match config.supervisor {
            Some(v) => Settings::deserialize(v).map_err(|e| e.to_string()),
            None => Ok(Settings::default()),
        }
    }

    #[test]
    fn the_section_lives_beside_wayrails_own() {
        let s = settings(
            "xwayland = \"lazy\"\n[rdp]\nusername = \"u\"\n[supervisor]\nwayland_display = \"wayland-5\"\n\
             host_client = [\"xfreerdp3\", \"/v:{address}\"]\nready_timeout = 3\ncrash_limit = 4\n",
        )
        .unwrap();
        assert_eq!(s.wayland_display, "wayland-5");
        assert_eq!(s.host_client.as_deref(), Some(&["xfreerdp3".to_owned(), "/v:{address}".to_owned()][..]));
        assert_eq!((s.ready_timeout, s.crash_limit, s.crash_window), (3.0, 4, 60.0));
        assert_eq!(settings("").unwrap(), Settings::default());
        let err = settings("[supervisor]\nbogus = 1").unwrap_err();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn default_listeners_add_vsock_in_a_vm_only() {
        assert_eq!(default_listen(false), vec![ListenAddr::Tcp("127.0.0.1:3389".into())]);
        assert_eq!(default_listen(true)[1], ListenAddr::Vsock { cid: libc::VMADDR_CID_ANY, port: 3389 });
        let root = tempfile::tempdir().unwrap();
        assert!(!in_virtual_machine(root.path()));
        std::fs::create_dir_all(root.path().join("proc")).unwrap();
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::fs::write(root.path().join("proc/cpuinfo"), "processor\t: 0\nflags\t\t: fpu sse hypervisor\n").unwrap();
        assert!(!in_virtual_machine(root.path()), "no vsock device");
        std::fs::write(root.path().join("dev/vsock"), "").unwrap();
        assert!(in_virtual_machine(root.path()));
    }
}
