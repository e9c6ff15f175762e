//! The RDP server behind the compositor's `rdp` backend: its settings from the config, and
//! the server started as the compositor's `HostLink`.

use calloop::channel::Sender;
use wayrail_compositor::config::{self, Config, Takeover};
use wayrail_link::{HostEvent, HostLink};
use wayrail_rdp::{RdpConfig, RdpServer};

pub fn start(config: &Config, host: Sender<HostEvent>) -> anyhow::Result<Box<dyn HostLink>> {
    Ok(Box::new(RdpServer::spawn(rdp_config(config)?, host)?))
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
        limits: Default::default(),
        exec: config.rail.exec.clone(),
        vail_dir: vail_dir(config),
    })
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
