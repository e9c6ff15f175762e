//! GPU paravirtualization as WSL 2 offers it: the `/dev/dxg` device and the user-mode driver
//! libraries in `/usr/lib/wsl/lib`, found under a configurable root, and the environment apps
//! need to use them through Mesa's d3d12 driver. Everything works without them.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// What was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gpu {
    /// `dxg` when the device exists, else `none`.
    pub state: &'static str,
    pub device: Option<PathBuf>,
    /// The driver libraries' directory, when it exists.
    pub libraries: Option<PathBuf>,
    /// How many adapters: `None` when it cannot be counted. The dxg driver lists its adapters
    /// neither in sysfs nor in /proc; only its enumeration ioctl does, which wayraild does not
    /// make. So a present device is reported with the count unknown, never a guessed one.
    pub adapters: Option<u32>,
}

impl Gpu {
    pub fn detect(root: &Path) -> Gpu {
        let device = root.join("dev/dxg");
        let libraries = root.join("usr/lib/wsl/lib");
        let present = device.exists();
        Gpu {
            state: wayrail_compositor::gpu::state(root),
            device: present.then_some(device),
            libraries: libraries.is_dir().then_some(libraries),
            adapters: None,
        }
    }

    pub fn present(&self) -> bool {
        self.device.is_some()
    }

    /// One line for `wayraild status`.
    pub fn describe(&self) -> String {
        if !self.present() {
            return "none".into();
        }
        let count = self.adapters.map_or("adapter count unknown".to_owned(), |n| format!("{n} adapter(s)"));
        match &self.libraries {
            Some(lib) => format!("dxg ({count}), libraries in {}", lib.display()),
            None => format!("dxg ({count}), no driver libraries"),
        }
    }

    /// The variables apps get: the driver libraries on `LD_LIBRARY_PATH` (before what it held),
    /// the adapter Mesa's d3d12 driver should use when one is named, and `GALLIUM_DRIVER=d3d12`
    /// only when asked for.
    pub fn app_env(
        &self,
        adapter: Option<&str>,
        gallium_d3d12: bool,
        ld_library_path: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(lib) = &self.libraries {
            let mut path = lib.display().to_string();
            if let Some(old) = ld_library_path.filter(|p| !p.is_empty()) {
                path = format!("{path}:{old}");
            }
            env.push(("LD_LIBRARY_PATH".to_owned(), path));
        }
        if self.present() {
            if let Some(name) = adapter.filter(|n| !n.is_empty()) {
                env.push(("MESA_D3D12_DEFAULT_ADAPTER_NAME".to_owned(), name.to_owned()));
            }
            if gallium_d3d12 {
                env.push(("GALLIUM_DRIVER".to_owned(), "d3d12".to_owned()));
            }
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_wsl_root_and_an_empty_one() {
        let root = tempfile::tempdir().unwrap();
        let none = Gpu::detect(root.path());
        assert_eq!((none.state, none.present(), none.describe().as_str()), ("none", false, "none"));
        assert_eq!(none.app_env(Some("NVIDIA"), true, Some("/x")), vec![]);

        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::fs::write(root.path().join("dev/dxg"), "").unwrap();
        let device_only = Gpu::detect(root.path());
        assert_eq!(device_only.state, "dxg");
        assert_eq!(device_only.libraries, None);
        assert_eq!(device_only.app_env(None, false, None), vec![]);

        let lib = root.path().join("usr/lib/wsl/lib");
        std::fs::create_dir_all(&lib).unwrap();
        let gpu = Gpu::detect(root.path());
        assert_eq!(gpu.adapters, None, "not counted, not guessed");
        assert!(gpu.describe().contains("adapter count unknown"), "{}", gpu.describe());
        let lib = lib.display().to_string();
        assert_eq!(gpu.app_env(None, false, None), vec![("LD_LIBRARY_PATH".to_owned(), lib.clone())]);
        assert_eq!(
            gpu.app_env(Some("NVIDIA RTX"), true, Some("/opt/lib")),
            vec![
                ("LD_LIBRARY_PATH".to_owned(), format!("{lib}:/opt/lib")),
                ("MESA_D3D12_DEFAULT_ADAPTER_NAME".to_owned(), "NVIDIA RTX".to_owned()),
                ("GALLIUM_DRIVER".to_owned(), "d3d12".to_owned()),
            ]
        );
    }
}
