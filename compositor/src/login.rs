//! What RDP clients log in with. In order: `[rdp] password` in the config, `[rdp]
//! password_file`, the systemd credential `rdp-password` (`$CREDENTIALS_DIRECTORY`), else a
//! password wayrail makes on its first start and keeps in its state directory (mode 0600).
//! `[rdp] username`, when set, is the only user name accepted; else any name is, and it tells
//! users apart for the takeover policy. `--insecure-no-auth` turns the login off.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::RdpSettings;

/// The generated password's file name in the state directory.
pub const GENERATED_FILE: &str = "rdp-password";
/// The systemd credential's name.
pub const SYSTEMD_CREDENTIAL: &str = "rdp-password";
/// Characters of a generated password: letters and digits that cannot be misread (no 0/O,
/// 1/l/I); 24 of them make about 139 bits.
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const GENERATED_LEN: usize = 24;

/// Where the password came from, to tell the user how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Config,
    File(PathBuf),
    /// Made by wayrail (now or on an earlier start) and kept in this file.
    Generated(PathBuf),
}

/// The login clients need, or `None` for `--insecure-no-auth`.
#[derive(Debug, Clone)]
pub struct Login {
    /// The only user name accepted (`[rdp] username`); None: any.
    pub username: Option<String>,
    pub password: String,
    pub source: PasswordSource,
}

/// Finds (or on the first start makes) the password; `state_dir` is where a generated one is kept.
pub fn resolve(rdp: &RdpSettings, state_dir: &Path) -> anyhow::Result<Option<Login>> {
    if rdp.insecure_no_auth {
        return Ok(None);
    }
    let (password, source) = if let Some(password) = &rdp.password {
        (password.clone(), PasswordSource::Config)
    } else if let Some(path) = &rdp.password_file {
        (read_password(path)?, PasswordSource::File(path.clone()))
    } else if let Some(path) = systemd_credential() {
        (read_password(&path)?, PasswordSource::File(path))
    } else {
        let path = state_dir.join(GENERATED_FILE);
        (generated(&path)?, PasswordSource::Generated(path))
    };
    if password.is_empty() {
        anyhow::bail!("the RDP password is empty ({source:?}): every client would get in");
    }
    Ok(Some(Login { username: rdp.username.clone(), password, source }))
}

fn systemd_credential() -> Option<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty())?;
    let path = Path::new(&dir).join(SYSTEMD_CREDENTIAL);
    path.exists().then_some(path)
}

/// A password file's first line.
fn read_password(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the RDP password {}", path.display()))?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// The password kept at `path`, made and written (0600, never replaced) when there is none.
fn generated(path: &Path) -> anyhow::Result<String> {
    match read_password(path) {
        Ok(password) => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!("{} is readable by others (mode {:o}): chmod 600 it", path.display(), mode & 0o777);
            }
            return Ok(password);
        }
        Err(_) if !path.exists() => {}
        Err(err) => return Err(err),
    }
    let dir = path.parent().expect("the password file is in a directory");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let password = random_password()?;
    // create_new: two wayrails starting at once do not overwrite each other's password.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{password}").with_context(|| format!("writing {}", path.display()))?;
    tracing::info!("made an RDP password, kept in {}", path.display());
    Ok(password)
}

/// `GENERATED_LEN` characters of `ALPHABET` from the kernel's random source.
fn random_password() -> anyhow::Result<String> {
    let mut random = std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?;
    let mut out = String::with_capacity(GENERATED_LEN);
    let mut byte = [0u8; 1];
    while out.len() < GENERATED_LEN {
        random.read_exact(&mut byte).context("reading /dev/urandom")?;
        // Only bytes below the largest multiple of the alphabet's size, so every character is
        // equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let login = resolve(&RdpSettings::default(), &state).unwrap().expect("a login by default");
        let path = state.join(GENERATED_FILE);
        assert_eq!(login.source, PasswordSource::Generated(path.clone()));
        assert_eq!(login.username, None, "any user name");
        let password = &login.password;
        assert_eq!(password.len(), GENERATED_LEN);
        assert!(password.bytes().all(|b| ALPHABET.contains(&b)), "{password}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let again = resolve(&RdpSettings::default(), &state).unwrap().unwrap();
        assert_eq!(&again.password, password, "kept across starts");
        let other = resolve(&RdpSettings::default(), &dir.path().join("other")).unwrap().unwrap();
        assert_ne!(&other.password, password, "random");
    }

    #[test]
    fn configured_passwords_win_and_no_auth_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\nignored\n").unwrap();
        let rdp = RdpSettings { password_file: Some(file.clone()), username: Some("ann".into()), ..Default::default() };
        let login = resolve(&rdp, dir.path()).unwrap().unwrap();
        assert_eq!(login.password, "from-file");
        assert_eq!(login.username.as_deref(), Some("ann"));
        assert_eq!(login.source, PasswordSource::File(file));
        let rdp = RdpSettings { password: Some("inline".into()), ..rdp };
        assert_eq!(resolve(&rdp, dir.path()).unwrap().unwrap().password, "inline");
        assert!(!dir.path().join(GENERATED_FILE).exists(), "nothing generated when configured");
        let rdp = RdpSettings { insecure_no_auth: true, ..Default::default() };
        assert!(resolve(&rdp, dir.path()).unwrap().is_none());
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        let rdp = RdpSettings { password_file: Some(empty), ..Default::default() };
        assert!(resolve(&rdp, dir.path()).is_err(), "an empty password is refused");
    }
}
