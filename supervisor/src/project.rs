//! Sockets shown where apps look for them, as WSLg does: wayrail's real sockets stay in the
//! private directory, and links to them sit at the well-known places (`$XDG_RUNTIME_DIR/
//! wayland-0`, `X<N>` in the X11 directory, `$XDG_RUNTIME_DIR/pulse/native`). A link that
//! somebody deleted (a cleaner of temporary files, a mount over the directory) is made again
//! at the next check. And the environment apps need, as a file and as `export` lines.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// A link at `link` to the real socket `target`.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub what: &'static str,
    pub link: PathBuf,
    pub target: PathBuf,
    /// How often it had to be made again.
    pub repairs: u32,
    made: bool,
    /// Something not ours was in the way at the last check (said once, not every check).
    pub blocked: bool,
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Fine,
    /// Made for the first time.
    Made,
    /// The link was missing or wrong and is right again.
    Repaired,
    /// The link's place is the real socket itself: nothing to link; it is there.
    Direct,
    /// Something that is not ours is in the way (or the real socket is missing): left alone.
    Blocked,
}

impl Projection {
    pub fn new(what: &'static str, link: PathBuf, target: PathBuf) -> Projection {
        Projection { what, link, target, repairs: 0, made: false, blocked: false }
    }

    /// Makes the link right if it is not, and says what it found.
    pub fn ensure(&mut self) -> Check {
        if self.link == self.target {
            return if self.target.exists() { Check::Direct } else { Check::Blocked };
        }
        match std::fs::read_link(&self.link) {
            Ok(points_to) if points_to == self.target => return Check::Fine,
            // A link of ours to an older socket (wayrail restarted on another display).
            Ok(_) => {
                let _ = std::fs::remove_file(&self.link);
            }
            Err(_) if std::fs::symlink_metadata(&self.link).is_ok() => {
                // A real file: a socket nobody serves may go, anything else stays.
                use std::os::unix::fs::FileTypeExt as _;
                let is_socket = std::fs::symlink_metadata(&self.link).is_ok_and(|m| m.file_type().is_socket());
                if !is_socket || std::os::unix::net::UnixStream::connect(&self.link).is_ok() {
                    return Check::Blocked;
                }
                let _ = std::fs::remove_file(&self.link);
            }
            Err(_) => {}
        }
        if let Some(dir) = self.link.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::os::unix::fs::symlink(&self.target, &self.link) {
            Ok(()) if !self.made => {
                self.made = true;
                Check::Made
            }
            Ok(()) => {
                self.repairs += 1;
                Check::Repaired
            }
            Err(err) => {
                tracing::warn!("linking {} to {}: {err}", self.link.display(), self.target.display());
                Check::Blocked
            }
        }
    }

    /// Removes the link if it is still ours.
    pub fn remove(&self) {
        if self.link != self.target && std::fs::read_link(&self.link).is_ok_and(|p| p == self.target) {
            let _ = std::fs::remove_file(&self.link);
        }
    }

    pub fn status_json(&self) -> serde_json::Value {
        let ok = if self.link == self.target {
            self.target.exists()
        } else {
            std::fs::read_link(&self.link).is_ok_and(|p| p == self.target)
        };
        serde_json::json!({
            "what": self.what,
            "path": self.link,
            "target": self.target,
            "ok": ok,
            "repairs": self.repairs,
        })
    }
}

/// The environment file: `KEY=VALUE` lines (systemd's `EnvironmentFile=` reads it too),
/// written whole or not at all.
pub fn write_env_file(path: &Path, env: &[(String, String)]) -> anyhow::Result<()> {
    let mut text = String::from("# Written by wayraild: the environment apps need to reach wayrail.\n");
    for (key, value) in env {
        text.push_str(&format!("{key}={value}\n"));
    }
    let tmp = path.with_extension("env.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// The environment file's variables.
pub fn read_env_file(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// `export KEY='VALUE'` lines for a POSIX shell; `LD_LIBRARY_PATH` keeps what the shell had.
pub fn export_lines(env: &[(String, String)]) -> String {
    let mut out = String::new();
    for (key, value) in env {
        if key == "LD_LIBRARY_PATH" {
            // Only the directories wayraild adds: the shell's own stay behind them.
            let ours = value.split(':').next().unwrap_or_default();
            out.push_str(&format!("export {key}={}\"${{{key}:+:${key}}}\"\n", shell_quote(ours)));
        } else {
            out.push_str(&format!("export {key}={}\n", shell_quote(value)));
        }
    }
    out
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_made_repaired_and_never_replace_what_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real");
        let _server = std::os::unix::net::UnixListener::bind(&target).unwrap();
        let mut p = Projection::new("wayland", dir.path().join("run/wayland-0"), target.clone());
        assert_eq!(p.ensure(), Check::Made);
        assert_eq!(p.ensure(), Check::Fine);
        assert!(std::os::unix::net::UnixStream::connect(&p.link).is_ok(), "reaches the socket");
        std::fs::remove_file(&p.link).unwrap();
        assert_eq!(p.ensure(), Check::Repaired);
        assert_eq!(p.status_json()["repairs"], 1);
        std::fs::remove_file(&p.link).unwrap();
        std::os::unix::fs::symlink("/elsewhere", &p.link).unwrap();
        assert_eq!(p.ensure(), Check::Repaired, "a stale link is replaced");
        std::fs::remove_file(&p.link).unwrap();
        std::fs::write(&p.link, "a file").unwrap();
        assert_eq!(p.ensure(), Check::Blocked, "not ours: left alone");
        assert_eq!(std::fs::read_to_string(&p.link).unwrap(), "a file");
        std::fs::remove_file(&p.link).unwrap();
        p.ensure();
        p.remove();
        assert!(std::fs::symlink_metadata(&p.link).is_err(), "removed at the end");
        let mut direct = Projection::new("x11", target.clone(), target);
        assert_eq!(direct.ensure(), Check::Direct);
    }

    #[test]
    fn the_env_file_and_its_export_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wayraild.env");
        let env = vec![
            ("WAYLAND_DISPLAY".to_owned(), "wayland-0".to_owned()),
            ("DISPLAY".to_owned(), ":1".to_owned()),
            ("LD_LIBRARY_PATH".to_owned(), "/usr/lib/wsl/lib:/old".to_owned()),
            ("ODD".to_owned(), "it's".to_owned()),
        ];
        write_env_file(&path, &env).unwrap();
        assert_eq!(read_env_file(&path).unwrap(), env);
        let lines = export_lines(&env);
        assert!(lines.contains("export WAYLAND_DISPLAY='wayland-0'\n"), "{lines}");
        assert!(
            lines.contains("export LD_LIBRARY_PATH='/usr/lib/wsl/lib'\"${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\"\n"),
            "{lines}"
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("LD_LIBRARY_PATH=/mine; {lines} printf '%s|%s' \"$ODD\" \"$LD_LIBRARY_PATH\""))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's|/usr/lib/wsl/lib:/mine");
    }
}
