//! The app list: the Linux apps of this machine in the host's start menu, over the
//! `Microsoft::Windows::RDS::RemoteApplicationList` dynamic channel (rdpapplist v4, as WSLg's
//! hosts speak it), kept current as desktop entries come and go.
//!
//! - `codec`: the wire format, both directions, no I/O;
//! - `entries`: desktop entries by the Desktop Entry Specification;
//! - `icons`: icons by the Icon Theme Specification, PNG and SVG, scaled (the compositor's
//!   window icons use it too);
//! - `channel`: the server's side as a state machine (caps, sync, changes, associations);
//! - `dvc`: that state machine as an IronRDP dynamic channel;
//! - `scanner`: the thread that reads the list and watches the folders;
//! - `report`: what the host was told, for `wayrail msg apps`.

pub mod channel;
pub mod codec;
pub mod dvc;
pub mod entries;
pub mod icons;
pub mod report;
pub mod scanner;

use std::path::PathBuf;

pub use channel::{AppListChannel, AppListEvent, Listed};
pub use dvc::AppListServer;
pub use scanner::Scanner;

/// How the app list is made (`[applist]` of the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppListConfig {
    /// The host's name for this machine's apps (its start-menu folder).
    pub provider: String,
    /// Folders in place of `$XDG_DATA_DIRS` (their `applications` and `icons`);
    /// `$XDG_DATA_HOME` is always read first.
    pub data_dirs: Option<Vec<PathBuf>>,
    /// Icons are sent as squares of this many pixels.
    pub icon_size: u32,
    /// An icon theme searched before hicolor.
    pub icon_theme: Option<String>,
    /// `Terminal=true` entries run in this (program and arguments); None leaves them out.
    pub terminal: Option<Vec<String>>,
    /// The desktop names `OnlyShowIn`/`NotShowIn` are matched against.
    pub desktop_names: Vec<String>,
}

impl Default for AppListConfig {
    fn default() -> Self {
        AppListConfig {
            provider: "wayrail".into(),
            data_dirs: None,
            icon_size: 32,
            icon_theme: None,
            terminal: None,
            desktop_names: vec!["wayrail".into()],
        }
    }
}

/// A GUID (without braces) that names this machine's provider the same way every time:
/// derived from the machine id and the provider's name, so the host keeps one folder.
pub fn provider_id(provider: &str) -> String {
    let machine = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    // FNV-1a, twice with different seeds: 128 bits that are stable, not secret.
    let hash = |seed: u64| {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
        for b in machine.trim().bytes().chain([0]).chain(provider.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h
    };
    let (a, b) = (hash(1), hash(2));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_provider_id_is_a_stable_guid() {
        let id = super::provider_id("wayrail");
        assert_eq!(id, super::provider_id("wayrail"));
        assert_ne!(id, super::provider_id("other"));
        assert!(super::AppListChannel::new("wayrail", &id).is_ok(), "{id}");
    }
}
