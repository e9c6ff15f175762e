//! The RDP server behind the compositor's `rdp` backend: its settings from the config, the
//! sound server whose sink goes to RDP clients, and the server started as the compositor's
//! `HostLink`.

use std::sync::Arc;

use calloop::channel::Sender;
use serde_json::json;
use wayrail_audio::PcmFormat;
use wayrail_compositor::config::{self, AudioCodec, AudioSettings, Config, RdpSettings, Takeover};
use wayrail_link::{HostEvent, HostLink};
use wayrail_rdp::{Limits, RdpConfig, RdpServer};

/// Called by the compositor once the runtime directory is known and before the RDP thread
/// exists (so `PULSE_SERVER` is in the environment of everything started later).
pub fn start(config: &Config, host: Sender<HostEvent>) -> anyhow::Result<Box<dyn HostLink>> {
    let mut rdp = rdp_config(config)?;
    rdp.audio = start_audio(&config.audio, config.socket.as_deref())?;
    wayrail_compositor::ipc::answer_locally("frames", frame_times);
    Ok(Box::new(RdpServer::spawn(rdp, host)?))
}

/// `wayrail msg frames`: per transport, the RemoteApp window frames timed from commit to
/// written to the host, and the newest durations (µs, oldest first): from the commit, and
/// from the frame clock's tick.
fn frame_times() -> serde_json::Value {
    use wayrail_rdp::frame_times::{times, Transport, KEPT};
    let of = |t| {
        let times = times(t);
        json!({ "frames": times.frames, "last_us": times.last_us, "last_after_tick_us": times.last_after_tick_us })
    };
    json!({ "kept": KEPT, "vail": of(Transport::Vail), "egfx": of(Transport::Egfx) })
}

/// The running sound server, stopped by [`stop_audio`] when wayrail ends.
static AUDIO: std::sync::Mutex<Option<wayrail_audio::Audio>> = std::sync::Mutex::new(None);

/// Starts the private sound server (see `wayrail_audio`) unless `[audio]` says not to or
/// there is none; exports `PULSE_SERVER` for apps; answers `wayrail msg audio`. A sound
/// server that fails to start is an error only when `[audio] enabled = true` asked for it.
fn start_audio(settings: &AudioSettings, socket: Option<&str>) -> anyhow::Result<Option<Arc<wayrail_audio::AudioHub>>> {
    let program = settings.program.clone().or_else(|| on_path("pulseaudio"));
    let off = |why: String| {
        tracing::info!("no sound to the host: {why}");
        wayrail_compositor::ipc::answer_locally("audio", move || json!({"enabled": false, "why": why}));
        Ok(None)
    };
    let program = match (settings.enabled, program) {
        (Some(false), _) => return off("[audio] enabled = false".into()),
        (Some(true), None) => anyhow::bail!("[audio] enabled = true, but pulseaudio is not installed"),
        (None, None) => return off("pulseaudio is not installed".into()),
        (_, Some(program)) => program,
    };
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    for dir in wayrail_audio::sweep_stale(&runtime) {
        tracing::info!(dir = %dir.display(), "removed a crashed wayrail's sound server directory");
    }
    // Named after the Wayland socket, so that its path is known before wayrail runs (wayraild
    // gives it to apps) and stays the same when wayrail restarts.
    let name = socket.map(str::to_owned).or_else(|| held_wayland_socket(&runtime)).unwrap_or_else(|| {
        tracing::warn!("the Wayland socket's name is unknown: the sound server's directory is named after the pid");
        format!("pid-{}", std::process::id())
    });
    let dir = wayrail_audio::dir_for(&runtime, &name);
    // pactl follows which apps record, so that the host's microphone is open only then;
    // without it there is no microphone.
    let pactl = on_path("pactl");
    if pactl.is_none() {
        tracing::info!("no microphone from the host: pactl (pulseaudio-utils) is not installed");
    }
    let format = PcmFormat::new(settings.rate, 2);
    let audio = match wayrail_audio::Audio::start(&program, pactl.as_deref(), dir, format) {
        Ok(audio) => audio,
        Err(e) if settings.enabled.is_none() => return off(format!("{e:#}")),
        Err(e) => return Err(e.context("starting the sound server ([audio] enabled = true)")),
    };
    // Before any other thread could read the environment: apps started from here on play
    // through it.
    std::env::set_var("PULSE_SERVER", audio.pulse_server());
    let hub = audio.hub.clone();
    hub.set_codec(match settings.codec {
        AudioCodec::Auto => wayrail_audio::SoundCodec::Auto,
        AudioCodec::Pcm => wayrail_audio::SoundCodec::Pcm,
        AudioCodec::Adpcm => wayrail_audio::SoundCodec::Adpcm,
    });
    let (server, pid) = (audio.pulse_server(), audio.pid());
    let status = hub.clone();
    wayrail_compositor::ipc::answer_locally("audio", move || {
        let mut answer = status.status();
        answer["pulse_server"] = json!(server);
        answer["pid"] = json!(pid);
        answer
    });
    *AUDIO.lock().unwrap_or_else(|e| e.into_inner()) = Some(audio);
    Ok(Some(hub))
}

/// Stops the sound server and removes its directory.
pub fn stop_audio() {
    drop(AUDIO.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// The name of the Wayland socket this process opened in `runtime` when it picked one itself
/// (`wayland-N`): the socket's lock file, which it holds open while it serves the socket.
fn held_wayland_socket(runtime: &std::path::Path) -> Option<String> {
    std::fs::read_dir("/proc/self/fd").ok()?.flatten().find_map(|fd| {
        let target = std::fs::read_link(fd.path()).ok()?;
        if target.parent()? != runtime {
            return None;
        }
        let name = target.file_name()?.to_str()?.strip_suffix(".lock")?;
        (name.starts_with("wayland-") && runtime.join(name).exists()).then(|| name.to_owned())
    })
}

/// `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

pub fn rdp_config(config: &Config) -> anyhow::Result<RdpConfig> {
    let rdp = &config.rdp;
    let tls = match (&rdp.tls_cert, &rdp.tls_key) {
        (Some(cert), Some(key)) => wayrail_rdp::tls::TlsSource::Files { cert: cert.clone(), key: key.clone() },
        (None, None) => wayrail_rdp::tls::TlsSource::StateDir(config::state_dir()?),
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    let credentials = wayrail_compositor::login::resolve(rdp, &config::state_dir()?)?
        .map(|login| wayrail_rdp::Credentials { username: login.username, password: login.password });
    // Sockets from socket activation (LISTEN_FDS) replace the configured addresses.
    let listen = wayrail_rdp::transport::activated_or_configured(&rdp.listen);
    let first = config.outputs.first().cloned().unwrap_or_default();
    Ok(RdpConfig {
        listen,
        tls,
        credentials,
        takeover: takeover(rdp.takeover),
        default_size: (first.width.clamp(200, 8192) as u16, first.height.clamp(200, 8192) as u16),
        limits: limits(rdp)?,
        exec: config.rail.exec.clone(),
        vail_dir: vail_dir(config),
        audio: None,
        applist: applist(config)?,
        h264: match rdp.h264 {
            config::H264::Auto => wayrail_rdp::H264Mode::Auto,
            config::H264::Off => wayrail_rdp::H264Mode::Off,
        },
    })
}

/// The app list's settings from `[applist]`; None when it is off.
fn applist(config: &Config) -> anyhow::Result<Option<wayrail_applist::AppListConfig>> {
    // `wayrail msg apps`: what the sessions sent, answered by the IPC thread.
    wayrail_compositor::ipc::answer_locally(
        "apps",
        || match serde_json::to_value(wayrail_applist::report::current()) {
            Ok(report) => report,
            Err(e) => json!({ "error": e.to_string() }),
        },
    );
    let a = &config.applist;
    if !a.enabled {
        return Ok(None);
    }
    anyhow::ensure!(
        wayrail_applist::channel::valid_provider_name(&a.provider),
        "[applist] provider {:?}: no spaces, quotes, `..` or path characters",
        a.provider
    );
    anyhow::ensure!((16..=256).contains(&a.icon_size), "[applist] icon_size must be 16 to 256");
    Ok(Some(wayrail_applist::AppListConfig {
        provider: a.provider.clone(),
        data_dirs: a.data_dirs.clone(),
        icon_size: a.icon_size,
        icon_theme: a.icon_theme.clone(),
        terminal: a.terminal.clone().filter(|t| !t.is_empty()),
        ..Default::default()
    }))
}

/// The folder for VAIL pools, cleared of what a crashed wayrail left; None (EGFX only) when
/// VAIL is off or no folder is usable.
fn vail_dir(config: &Config) -> Option<std::path::PathBuf> {
    if !config.vail.enabled {
        return None;
    }
    let dir = match wayrail_vail::pool_dir(config.vail.dir.as_deref()) {
        Ok(dir) => dir,
        Err(e) => {
            tracing::warn!("VAIL is off, RemoteApp windows go over EGFX: {e}");
            return None;
        }
    };
    match wayrail_vail::sweep_stale(&dir) {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(count = removed.len(), dir = %dir.display(), "removed stale VAIL pools")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(dir = %dir.display(), "looking for stale VAIL pools: {e}"),
    }
    Some(dir)
}

fn takeover(policy: Takeover) -> wayrail_rdp::Takeover {
    match policy {
        Takeover::SameUser => wayrail_rdp::Takeover::SameUser,
        Takeover::Never => wayrail_rdp::Takeover::Never,
        Takeover::Any => wayrail_rdp::Takeover::Any,
    }
}

/// The server's limits: what `[rdp]` sets, `Limits::default()` for the rest.
fn limits(rdp: &RdpSettings) -> anyhow::Result<Limits> {
    let default = Limits::default();
    let ms = std::time::Duration::from_millis;
    let limits = Limits {
        max_pending: rdp.max_pending_connections.unwrap_or(default.max_pending),
        first_byte_timeout: rdp.first_byte_timeout_ms.map_or(default.first_byte_timeout, ms),
        write_timeout: rdp.write_timeout_ms.map_or(default.write_timeout, ms),
        max_queued_bytes: rdp.max_queued_bytes.unwrap_or(default.max_queued_bytes),
    };
    // Zero would refuse every client or drop it at once: surely a mistake.
    for (name, zero) in [
        ("max_pending_connections", limits.max_pending == 0),
        ("first_byte_timeout_ms", limits.first_byte_timeout.is_zero()),
        ("write_timeout_ms", limits.write_timeout.is_zero()),
        ("max_queued_bytes", limits.max_queued_bytes == 0),
    ] {
        anyhow::ensure!(!zero, "[rdp] {name} must be more than 0");
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits_of(text: &str) -> anyhow::Result<Limits> {
        limits(&Config::parse(text)?.rdp)
    }

    #[test]
    fn rdp_limits() {
        let defaults = limits_of("").unwrap();
        assert_eq!(defaults, Limits::default());
        let limits = limits_of(
            "[rdp]\nmax_pending_connections = 4\nfirst_byte_timeout_ms = 1500\nwrite_timeout_ms = 10000\nmax_queued_bytes = 1048576",
        )
        .unwrap();
        assert_eq!(
            limits,
            Limits {
                max_pending: 4,
                first_byte_timeout: Duration::from_millis(1500),
                write_timeout: Duration::from_secs(10),
                max_queued_bytes: 1 << 20,
            }
        );
        // One set, the others keep their defaults.
        let limits = limits_of("[rdp]\nwrite_timeout_ms = 2000").unwrap();
        assert_eq!(limits, Limits { write_timeout: Duration::from_secs(2), ..defaults });
        let err = limits_of("[rdp]\nmax_pending_connections = 0").unwrap_err();
        assert!(err.to_string().contains("max_pending_connections"), "{err}");
        assert!(limits_of("[rdp]\nwrite_timeout_ms = 0").is_err());
        assert!(Config::parse("[rdp]\nfirst_byte_timeout_ms = -1").is_err());
        assert!(Config::parse("[rdp]\nmax_pending = 4").is_err(), "the config's own names");
    }
}
