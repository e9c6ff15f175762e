//! Settings: built-in defaults, overridden by the TOML config file, overridden by the command line.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Serve the desktop to RDP clients.
    #[default]
    Rdp,
    /// No display at all: virtual outputs (tests, benchmarks, automation).
    Headless,
    /// A window inside the current Wayland/X11 session (development).
    Nested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum XwaylandMode {
    On,
    #[default]
    Lazy,
    Off,
}

/// A virtual output: `WIDTHxHEIGHT[@HZ][,scale=S][,x=X][,y=Y][,name=N]`, sizes in physical pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    pub name: Option<String>,
    pub width: i32,
    pub height: i32,
    /// Millihertz.
    pub refresh: i32,
    pub scale: f64,
    /// Top-left in the global logical space; None places it right of the previous one.
    pub position: Option<(i32, i32)>,
}

impl Default for OutputSpec {
    fn default() -> Self {
        Self { name: None, width: 1920, height: 1080, refresh: 60_000, scale: 1.0, position: None }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("bad output spec {spec:?}: {why} (expected WIDTHxHEIGHT[@HZ][,scale=S][,x=X][,y=Y][,name=N])")]
pub struct OutputSpecError {
    spec: String,
    why: String,
}

impl FromStr for OutputSpec {
    type Err = OutputSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| OutputSpecError { spec: s.to_string(), why: why.to_string() };
        let mut parts = s.split(',');
        let mode = parts.next().unwrap_or_default();
        let (size, hz) = match mode.split_once('@') {
            Some((size, hz)) => (size, Some(hz)),
            None => (mode, None),
        };
        let (w, h) = size.split_once('x').ok_or_else(|| err("no WIDTHxHEIGHT"))?;
        let width: i32 = w.parse().map_err(|_| err("width is not a number"))?;
        let height: i32 = h.parse().map_err(|_| err("height is not a number"))?;
        if !(1..=16384).contains(&width) || !(1..=16384).contains(&height) {
            return Err(err("size must be 1..=16384"));
        }
        let mut spec = OutputSpec { width, height, ..Default::default() };
        if let Some(hz) = hz {
            let hz: f64 = hz.parse().map_err(|_| err("refresh is not a number"))?;
            if !(1.0..=1000.0).contains(&hz) {
                return Err(err("refresh must be 1..=1000 Hz"));
            }
            spec.refresh = (hz * 1000.0).round() as i32;
        }
        let (mut x, mut y) = (None, None);
        for part in parts {
            let (k, v) = part.split_once('=').ok_or_else(|| err("option without '='"))?;
            match k {
                "scale" => {
                    let scale: f64 = v.parse().map_err(|_| err("scale is not a number"))?;
                    if !(1.0..=5.0).contains(&scale) {
                        return Err(err("scale must be 1..=5"));
                    }
                    spec.scale = scale;
                }
                "x" => x = Some(v.parse().map_err(|_| err("x is not a number"))?),
                "y" => y = Some(v.parse().map_err(|_| err("y is not a number"))?),
                "name" => spec.name = Some(v.to_string()),
                _ => return Err(err("unknown option")),
            }
        }
        if x.is_some() || y.is_some() {
            spec.position = Some((x.unwrap_or(0), y.unwrap_or(0)));
        }
        Ok(spec)
    }
}

impl<'de> Deserialize<'de> for OutputSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KeyboardConfig {
    /// xkb rules/model/layout/variant/options; empty means xkbcommon's defaults (us).
    pub rules: String,
    pub model: String,
    pub layout: String,
    pub variant: String,
    pub options: Option<String>,
    /// Delay before key repeat starts, in milliseconds.
    pub repeat_delay: i32,
    /// Repeats per second.
    pub repeat_rate: i32,
}

impl Default for KeyboardConfig {
    fn default() -> Self {
        Self {
            rules: String::new(),
            model: String::new(),
            layout: String::new(),
            variant: String::new(),
            options: None,
            repeat_delay: 600,
            repeat_rate: 25,
        }
    }
}

/// Whether to ask clients to leave decorations to the host (server side) or draw their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DecorationMode {
    #[default]
    ServerSide,
    ClientSide,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub backend: BackendKind,
    /// Wayland socket name in XDG_RUNTIME_DIR; None picks the first free `wayland-N`.
    pub socket: Option<String>,
    pub xwayland: XwaylandMode,
    pub outputs: Vec<OutputSpec>,
    pub keyboard: KeyboardConfig,
    pub decorations: DecorationMode,
    pub rdp: RdpSettings,
    pub clipboard: ClipboardSettings,
    pub rail: RailSettings,
    pub vail: VailSettings,
    pub audio: AudioSettings,
    pub applist: AppListSettings,
    /// `[supervisor]`: `wayraild`'s settings; it reads them, wayrail does not.
    pub supervisor: Option<toml::Value>,
}

/// `[vail]`: RemoteApp window pixels through shared memory, for hosts that map it (gfxredir).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VailSettings {
    /// Offer VAIL to hosts (default true); hosts that cannot take it get EGFX either way.
    pub enabled: bool,
    /// The folder the host maps; `$WSL2_SHARED_MEMORY_MOUNT_POINT` wins over it, and without
    /// either pools go to `$XDG_RUNTIME_DIR/wayrail-shm`.
    pub dir: Option<PathBuf>,
    /// Redraw and copy a changed RemoteApp window whole, as WSLg's compositor does, instead of
    /// only what changed: for the benchmark's comparison (default false; costs CPU and copies).
    pub whole_window: bool,
}

impl Default for VailSettings {
    fn default() -> Self {
        Self { enabled: true, dir: None, whole_window: false }
    }
}

/// `[audio]`: sound from the apps to the host (the RDP `rdpsnd` channel).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AudioSettings {
    /// Run a private sound server whose default sink goes to the RDP client; default (unset):
    /// on when `program` is found.
    pub enabled: Option<bool>,
    /// The sink's sample rate: 44100 (the default) or 48000, s16 stereo either way.
    #[serde(deserialize_with = "audio_rate")]
    pub rate: u32,
    /// The sound server; default `pulseaudio` on `PATH`.
    pub program: Option<PathBuf>,
    /// The wave format for the host: `auto` (PCM to a client on this machine, IMA ADPCM — a
    /// quarter of the bytes — to one across a network that takes it), `pcm` or `adpcm`.
    pub codec: AudioCodec,
}

/// `[audio] codec`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AudioCodec {
    #[default]
    Auto,
    Pcm,
    Adpcm,
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self { enabled: None, rate: 44_100, program: None, codec: AudioCodec::Auto }
    }
}

fn audio_rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        rate @ (44_100 | 48_000) => Ok(rate),
        other => Err(serde::de::Error::custom(format!("rate {other}: 44100 or 48000"))),
    }
}

/// `[applist]`: this machine's apps in the host's start menu (rdpapplist).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AppListSettings {
    /// Offer the list to hosts (default true).
    pub enabled: bool,
    /// The host's name for this machine's apps: its start-menu folder (no spaces, quotes, `..`).
    pub provider: String,
    /// Icons go as squares of this many pixels (16 to 256; default 32).
    pub icon_size: u32,
    /// An icon theme searched before hicolor.
    pub icon_theme: Option<String>,
    /// A terminal for `Terminal=true` entries, program and arguments (`["foot", "-e"]`);
    /// without one they are left out.
    pub terminal: Option<Vec<String>>,
    /// Folders read in place of `$XDG_DATA_DIRS` (`$XDG_DATA_HOME` is always read first).
    pub data_dirs: Option<Vec<PathBuf>>,
}

impl Default for AppListSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            provider: "wayrail".into(),
            icon_size: 32,
            icon_theme: None,
            terminal: None,
            data_dirs: None,
        }
    }
}

/// `[rail]`: RemoteApp.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RailSettings {
    /// Which programs the host may start (RAIL Exec): `"any"`, `"desktop-entries"` (the
    /// default: programs with a desktop entry), or a list of program names and absolute
    /// paths let in besides those.
    #[serde(deserialize_with = "exec_policy")]
    pub exec: wayrail_rail::exec::ExecPolicy,
}

fn exec_policy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<wayrail_rail::exec::ExecPolicy, D::Error> {
    struct Policy;
    impl<'de> serde::de::Visitor<'de> for Policy {
        type Value = wayrail_rail::exec::ExecPolicy;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("\"any\", \"desktop-entries\" or a list of program names and absolute paths")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v {
                "any" => Ok(wayrail_rail::exec::ExecPolicy::Any),
                "desktop-entries" => Ok(wayrail_rail::exec::ExecPolicy::default()),
                _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
            }
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut also = Vec::new();
            while let Some(program) = seq.next_element::<String>()? {
                // What a relative path names would depend on the directory the host asks for.
                if program.trim().is_empty() || (program.contains('/') && !program.starts_with('/')) {
                    return Err(serde::de::Error::invalid_value(serde::de::Unexpected::Str(&program), &self));
                }
                also.push(program);
            }
            Ok(wayrail_rail::exec::ExecPolicy::DesktopEntries { also })
        }
    }
    d.deserialize_any(Policy)
}

/// `[clipboard]`: how the host's clipboard meets the Linux selections.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ClipboardSettings {
    /// Also share the PRIMARY selection with the host: a host copy sets PRIMARY too, and a
    /// Linux PRIMARY selection (selecting text) goes to the host like a copy. Off by default:
    /// selecting text in a Linux app would replace the host's clipboard otherwise.
    pub primary: bool,
}

/// `[rdp]`: where and how RDP clients connect.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RdpSettings {
    /// `tcp:HOST:PORT`, `unix:PATH`, `vsock:CID:PORT` or `fd:N`; default `tcp:127.0.0.1:3389`.
    #[serde(deserialize_with = "listen_addrs")]
    pub listen: Vec<wayrail_link::ListenAddr>,
    /// PEM certificate and key; default: a self-signed pair made once in the state directory.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The only user name clients may log in with (ASCII case ignored); default: any name.
    pub username: Option<String>,
    /// The password clients log in with; default: `password_file`, the systemd credential
    /// `rdp-password`, else one wayrail makes and keeps in `state_dir()/rdp-password`.
    pub password: Option<String>,
    /// A file whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// Whether a client that logged in may take over the live session.
    pub takeover: Takeover,
    /// No login at all (`--insecure-no-auth`, command line only): for trusted transports;
    /// refused on TCP listeners beyond loopback.
    #[serde(skip)]
    pub insecure_no_auth: bool,
    /// At most this many connections in the connection sequence at once (default 16).
    pub max_pending_connections: Option<usize>,
    /// A new connection must send its first byte within this (default 5000).
    pub first_byte_timeout_ms: Option<u64>,
    /// A client that reads nothing of one write for this long is dropped (default 30000).
    pub write_timeout_ms: Option<u64>,
    /// A session whose commands waiting for its client weigh more than this ends (default
    /// 32 MiB).
    pub max_queued_bytes: Option<usize>,
    /// Whether EGFX surfaces switch to H.264 (AVC420) where a large area keeps changing, for
    /// clients that decode it (default `auto`).
    pub h264: H264,
    /// The most frames a second a client gets (default [`DEFAULT_MAX_FPS`]): the refresh of
    /// its monitor, which RDP does not tell. Below it, frames follow the client's
    /// acknowledgements. The outputs of RDP sessions show this refresh to the apps.
    #[serde(deserialize_with = "max_fps")]
    pub max_fps: Option<u32>,
}

/// `[rdp] max_fps` unless set: the refresh of most monitors.
pub const DEFAULT_MAX_FPS: u32 = 60;

impl RdpSettings {
    /// `max_fps`, or its default.
    pub fn max_fps(&self) -> u32 {
        self.max_fps.unwrap_or(DEFAULT_MAX_FPS)
    }
}

fn max_fps<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match u32::deserialize(d)? {
        fps @ 1..=1000 => Ok(Some(fps)),
        other => Err(serde::de::Error::custom(format!("max_fps {other}: 1 to 1000"))),
    }
}

/// `[rdp] h264`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum H264 {
    /// H.264 where it pays; lossless otherwise, and once the change settles.
    #[default]
    Auto,
    /// Lossless codecs only.
    Off,
}

/// `[rdp] takeover`: when a new session replaces the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Takeover {
    /// Only a client logged in with the live session's user name.
    #[default]
    SameUser,
    /// Never while a session is live.
    Never,
    /// Any client that logged in.
    Any,
}

fn listen_addrs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<wayrail_link::ListenAddr>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter().map(|s| s.parse().map_err(serde::de::Error::custom)).collect()
}

/// `$XDG_STATE_HOME/wayrail` (default `~/.local/state/wayrail`): the TLS certificate and the
/// generated RDP password live here.
pub fn state_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .ok_or_else(|| anyhow::anyhow!("neither XDG_STATE_HOME nor HOME is set"))?;
    Ok(base.join("wayrail"))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
}

impl Config {
    /// `$XDG_CONFIG_HOME/wayrail/config.toml`, falling back to `~/.config`.
    pub fn default_path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("wayrail").join("config.toml"))
    }

    /// Loads `path`; a missing file at the default location is not an error.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => match Self::default_path() {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let config =
            Self::parse(&text).map_err(|source| ConfigError::Parse { path: path.clone(), source: Box::new(source) })?;
        if config.rdp.password.is_some() {
            warn_if_readable_by_others(&path, "it holds the RDP password");
        }
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Whether a file's mode lets its group or others read it (`None`: it cannot be read at all).
pub fn readable_by_others(path: &Path) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o044 != 0)
}

/// Warns when a file holding a secret is readable by its group or by everyone.
pub fn warn_if_readable_by_others(path: &Path, why: &str) {
    if readable_by_others(path) == Some(true) {
        tracing::warn!("{} is readable by other users and {why}: chmod 600 it", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_modes() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("wayrail-mode-test-{}", std::process::id()));
        std::fs::write(&path, "password = \"x\"").unwrap();
        for (mode, exposed) in [(0o600, false), (0o640, true), (0o604, true), (0o700, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(readable_by_others(&path), Some(exposed), "{mode:o}");
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(readable_by_others(&path), None);
    }

    #[test]
    fn output_specs() {
        let o: OutputSpec = "2560x1440@144,scale=1.5,x=-2560,y=100,name=LEFT".parse().unwrap();
        assert_eq!(o.width, 2560);
        assert_eq!(o.refresh, 144_000);
        assert_eq!(o.scale, 1.5);
        assert_eq!(o.position, Some((-2560, 100)));
        assert_eq!(o.name.as_deref(), Some("LEFT"));
        let o: OutputSpec = "800x600".parse().unwrap();
        assert_eq!((o.refresh, o.scale, o.position), (60_000, 1.0, None));
        for bad in ["", "800", "0x600", "800x600@0", "800x600,scale=0.5", "800x600,dpi=96", "axb"] {
            assert!(bad.parse::<OutputSpec>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn config_file() {
        let c = Config::parse(
            r#"
            backend = "headless"
            socket = "wayland-7"
            xwayland = "off"
            outputs = ["1280x800,scale=2"]
            decorations = "client-side"
            [keyboard]
            layout = "de"
            repeat_rate = 30
            "#,
        )
        .unwrap();
        assert_eq!(c.socket.as_deref(), Some("wayland-7"));
        assert_eq!(c.xwayland, XwaylandMode::Off);
        assert_eq!(c.outputs[0].scale, 2.0);
        assert_eq!(c.keyboard.layout, "de");
        assert_eq!(c.keyboard.repeat_delay, 600);
        assert_eq!(c.decorations, DecorationMode::ClientSide);
        let c = Config::parse(
            "[rdp]\nlisten = [\"tcp:0.0.0.0:3390\", \"unix:/tmp/r.sock\"]\nusername = \"u\"\npassword = \"p\"",
        )
        .unwrap();
        assert_eq!(c.rdp.listen.len(), 2);
        assert_eq!(c.rdp.takeover, Takeover::SameUser, "the default");
        let c = Config::parse("[rdp]\ntakeover = \"never\"\npassword_file = \"/run/pw\"").unwrap();
        assert_eq!((c.rdp.takeover, c.rdp.password_file.as_deref()), (Takeover::Never, Some(Path::new("/run/pw"))));
        assert!(Config::parse("[rdp]\ntakeover = \"sometimes\"").is_err());
        assert_eq!(c.rdp.h264, H264::Auto, "the default");
        assert_eq!(Config::parse("[rdp]\nh264 = \"off\"").unwrap().rdp.h264, H264::Off);
        assert_eq!(Config::parse("[rdp]\nh264 = \"auto\"").unwrap().rdp.h264, H264::Auto);
        assert!(Config::parse("[rdp]\nh264 = \"on\"").is_err());
        assert_eq!((c.rdp.max_fps, c.rdp.max_fps()), (None, DEFAULT_MAX_FPS), "the default");
        assert_eq!(Config::parse("[rdp]\nmax_fps = 144").unwrap().rdp.max_fps(), 144);
        assert!(Config::parse("[rdp]\nmax_fps = 0").is_err());
        assert!(Config::parse("[rdp]\nmax_fps = 1001").is_err());
        assert!(Config::parse("[rdp]\nmax_fps = 59.94").is_err(), "whole frames a second");
        assert!(Config::parse("[rdp]\ninsecure_no_auth = true").is_err(), "command line only");
        assert!(Config::parse("[rdp]\nlisten = [\"udp:1\"]").is_err());
        let err = Config::parse("bogus = 1").unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn audio_settings() {
        let c = Config::default().audio;
        assert_eq!((c.enabled, c.rate, c.program), (None, 44_100, None), "on when pulseaudio is there, 44.1 kHz");
        assert_eq!(c.codec, AudioCodec::Auto);
        assert_eq!(Config::parse("[audio]\ncodec = \"adpcm\"").unwrap().audio.codec, AudioCodec::Adpcm);
        assert_eq!(Config::parse("[audio]\ncodec = \"pcm\"").unwrap().audio.codec, AudioCodec::Pcm);
        assert!(Config::parse("[audio]\ncodec = \"mp3\"").is_err());
        let c = Config::parse("[audio]\nenabled = false\nrate = 48000\nprogram = \"/opt/pa\"").unwrap().audio;
        assert_eq!((c.enabled, c.rate, c.program.as_deref()), (Some(false), 48_000, Some(Path::new("/opt/pa"))));
        for bad in ["rate = 22050", "rate = \"fast\"", "enabled = 1", "volume = 3"] {
            assert!(Config::parse(&format!("[audio]\n{bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn rail_exec_policy() {
        use wayrail_rail::exec::ExecPolicy;
        assert_eq!(Config::default().rail.exec, ExecPolicy::DesktopEntries { also: vec![] });
        assert_eq!(Config::parse("[rail]").unwrap().rail.exec, ExecPolicy::default());
        assert_eq!(Config::parse("[rail]\nexec = \"any\"").unwrap().rail.exec, ExecPolicy::Any);
        assert_eq!(Config::parse("[rail]\nexec = \"desktop-entries\"").unwrap().rail.exec, ExecPolicy::default());
        assert_eq!(
            Config::parse("[rail]\nexec = [\"foot\", \"/opt/tool/bin/tool\"]").unwrap().rail.exec,
            ExecPolicy::DesktopEntries { also: vec!["foot".into(), "/opt/tool/bin/tool".into()] }
        );
        for bad in ["exec = \"all\"", "exec = [\"bin/tool\"]", "exec = [\"\"]", "exec = 1", "exec = [1]", "other = 1"] {
            let err = Config::parse(&format!("[rail]\n{bad}")).expect_err(bad).to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
