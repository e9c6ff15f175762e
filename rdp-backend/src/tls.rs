//! TLS, always: a certificate from files, or a self-signed one made on first run and kept
//! (mode 0600) in the state directory.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM files given by the user.
    Files { cert: PathBuf, key: PathBuf },
    /// `tls.crt`/`tls.key` in this directory, made on first use.
    StateDir(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: no certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no private key in it")]
    NoKey { path: PathBuf },
    #[error("making a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Der { path: PathBuf, source: x509_cert::der::Error },
    #[error("the certificate and key do not fit together: {0}")]
    Rustls(#[from] rustls::Error),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io { path: path.to_path_buf(), source }
}

/// The certificate and key files to use, generating them when the state dir has none.
pub fn cert_and_key_paths(source: &TlsSource) -> Result<(PathBuf, PathBuf), TlsError> {
    match source {
        TlsSource::Files { cert, key } => Ok((cert.clone(), key.clone())),
        TlsSource::StateDir(dir) => {
            let cert = dir.join("tls.crt");
            let key = dir.join("tls.key");
            if !cert.exists() || !key.exists() {
                generate(dir, &cert, &key)?;
            }
            Ok((cert, key))
        }
    }
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let mut names = vec!["localhost".to_string()];
    if !host.is_empty() && host != "localhost" {
        names.push(host);
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    let write = |path: &Path, data: &str| -> Result<(), TlsError> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err(path))?;
        f.write_all(data.as_bytes()).map_err(io_err(path))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err(path))
    };
    write(key_path, &certified.signing_key.serialize_pem())?;
    write(cert_path, &certified.cert.pem())?;
    tracing::info!(cert = %cert_path.display(), "made a self-signed TLS certificate");
    Ok(())
}

/// A private key others can read is no longer private: say so (the server still starts).
fn warn_if_key_exposed(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0);
    if mode & 0o044 != 0 {
        tracing::warn!(
            "the TLS key {} is readable by other users (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
}

pub fn server_config(source: &TlsSource) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (cert_path, key_path) = cert_and_key_paths(source)?;
    let cert_pem = std::fs::read(&cert_path).map_err(io_err(&cert_path))?;
    let key_pem = std::fs::read(&key_path).map_err(io_err(&key_path))?;
    warn_if_key_exposed(&key_path);
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut cert_pem.as_slice()).collect::<Result<_, _>>().map_err(io_err(&cert_path))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_path });
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(io_err(&key_path))?
        .ok_or(TlsError::NoKey { path: key_path.clone() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// The public key of the certificate the server shows (the subjectPublicKey bits of its
/// SubjectPublicKeyInfo): NLA binds the login to it, so that a client's credentials only ever
/// reach the server that holds the key.
pub fn public_key(source: &TlsSource) -> Result<Vec<u8>, TlsError> {
    use x509_cert::der::Decode as _;
    let (cert_path, _) = cert_and_key_paths(source)?;
    let cert_pem = std::fs::read(&cert_path).map_err(io_err(&cert_path))?;
    let first = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .next()
        .ok_or_else(|| TlsError::NoCertificate { path: cert_path.clone() })?
        .map_err(io_err(&cert_path))?;
    let cert =
        x509_cert::Certificate::from_der(first.as_ref()).map_err(|e| TlsError::Der { path: cert_path, source: e })?;
    Ok(cert.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes().to_vec())
}

/// Compares secrets without an early exit that would tell an attacker how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_private_modes() {
        let dir = std::env::temp_dir().join(format!("wayrail-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let src = TlsSource::StateDir(dir.clone());
        server_config(&src).unwrap();
        let key = dir.join("tls.key");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = std::fs::read(&key).unwrap();
        server_config(&src).unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), first, "kept, not regenerated");
        std::fs::write(dir.join("tls.crt"), "garbage").unwrap();
        assert!(matches!(server_config(&src), Err(TlsError::NoCertificate { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
