//! GPU paravirtualization as WSL 2 offers it, as far as wayrail reports it: whether the
//! `/dev/dxg` device exists. `WAYRAIL_SYSTEM_ROOT` (set by `wayraild` from its `root`) puts
//! the system's paths under another folder, for tests.

use std::path::{Path, PathBuf};

/// The folder the system's paths are looked up under: `/` unless `WAYRAIL_SYSTEM_ROOT` says.
pub fn system_root() -> PathBuf {
    std::env::var_os("WAYRAIL_SYSTEM_ROOT").filter(|r| !r.is_empty()).map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// `dxg` when `root` has the paravirtualized GPU device, else `none`.
pub fn state(root: &Path) -> &'static str {
    if root.join("dev/dxg").exists() {
        "dxg"
    } else {
        "none"
    }
}

/// What `wayrail msg version` says of the GPU: its state and the adapter count, which is
/// unknown (null) because the dxg driver lists adapters only through its own ioctl.
pub fn describe(root: &Path) -> serde_json::Value {
    serde_json::json!({ "state": state(root), "adapters": null })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_root_with_the_device_is_dxg() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(state(root.path()), "none");
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::fs::write(root.path().join("dev/dxg"), "").unwrap();
        assert_eq!(state(root.path()), "dxg");
        assert_eq!(describe(root.path())["state"], "dxg");
    }
}
