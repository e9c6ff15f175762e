//! The listening sockets wayraild owns: the RDP listeners it hands to wayrail (they outlive a
//! wayrail that crashes, so clients that connect meanwhile wait in the backlog instead of
//! being refused), and the runtime directory they and the other sockets live in.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wayrail_rdp::ListenAddr;

/// One RDP listener: the descriptor (close-on-exec, like every descriptor of wayraild) and
/// what it is bound to.
pub struct RdpListener {
    pub fd: OwnedFd,
    /// `tcp:127.0.0.1:PORT` with the port the kernel chose, `unix:PATH`, `vsock:CID:PORT`.
    pub bound: String,
    /// A socket file to remove at the end.
    pub path: Option<PathBuf>,
}

impl Drop for RdpListener {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub fn bind(addr: &ListenAddr) -> anyhow::Result<RdpListener> {
    match addr {
        ListenAddr::Tcp(hostport) => {
            let l = std::net::TcpListener::bind(hostport).with_context(|| format!("listening on {addr}"))?;
            let bound = format!("tcp:{}", l.local_addr()?);
            Ok(RdpListener { fd: l.into(), bound, path: None })
        }
        ListenAddr::Unix(path) => {
            // A socket file left behind by an earlier run that nobody serves any more.
            if std::os::unix::net::UnixStream::connect(path).is_err() {
                let _ = std::fs::remove_file(path);
            }
            let l = std::os::unix::net::UnixListener::bind(path).with_context(|| format!("listening on {addr}"))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            Ok(RdpListener { fd: l.into(), bound: addr.to_string(), path: Some(path.clone()) })
        }
        ListenAddr::Vsock { cid, port } => {
            let fd =
                bind_vsock(*cid, *port).with_context(|| format!("listening on {addr} (is this a VM with vsock?)"))?;
            let bound = vsock_port(&fd).map_or_else(|_| addr.to_string(), |port| format!("vsock:{cid}:{port}"));
            Ok(RdpListener { fd, bound, path: None })
        }
        ListenAddr::Fd(_) => anyhow::bail!("{addr}: wayraild opens its listeners itself"),
    }
}

fn bind_vsock(cid: u32, port: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: socket(2); the descriptor is owned right away.
    let raw = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_vm is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_cid = cid;
    addr.svm_port = port;
    let len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
    // SAFETY: bind(2)/listen(2) on our socket with an address of the size given.
    unsafe {
        if libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_vm).cast(), len) != 0
            || libc::listen(fd.as_raw_fd(), 128) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(fd)
}

/// The port a vsock socket is bound to (`VMADDR_PORT_ANY` resolved).
fn vsock_port(fd: &OwnedFd) -> std::io::Result<u32> {
    // SAFETY: sockaddr_vm is plain data; getsockname(2) fills at most `len` bytes of it.
    unsafe {
        let mut addr: libc::sockaddr_vm = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
        if libc::getsockname(fd.as_raw_fd(), (&mut addr as *mut libc::sockaddr_vm).cast(), &mut len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(addr.svm_port)
    }
}

/// Clears close-on-exec on `fd`: only ever called in a child between fork and exec, so the
/// flag changes for the child's copy alone.
///
/// # Safety
/// Async-signal-safe: fcntl(2) only.
pub unsafe fn inherit(fd: RawFd) -> std::io::Result<()> {
    let flags = libc::fcntl(fd, libc::F_GETFD);
    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `dir` (mode 0700) if it is missing; one that exists must belong to us, and is made
/// 0700 if it was open to others.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).with_context(|| format!("{}", dir.display()))?;
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    if !meta.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    if meta.uid() != uid {
        anyhow::bail!("{} belongs to uid {}, not to us (uid {uid})", dir.display(), meta.uid());
    }
    if meta.mode() & 0o077 != 0 {
        tracing::warn!("{} was mode {:o}: made it 0700", dir.display(), meta.mode() & 0o7777);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_are_close_on_exec_and_tcp_port_zero_is_resolved() {
        let l = bind(&"tcp:127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(l.bound.starts_with("tcp:127.0.0.1:") && !l.bound.ends_with(":0"), "{}", l.bound);
        // SAFETY: reading the flags of our own descriptor.
        let flags = unsafe { libc::fcntl(l.fd.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rdp.sock");
        let u = bind(&ListenAddr::Unix(path.clone())).unwrap();
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        drop(u);
        assert!(!path.exists(), "removed with the listener");
    }

    #[test]
    fn the_runtime_dir_is_made_private_and_must_be_ours() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("a/run");
        private_dir(&run).unwrap();
        assert_eq!(std::fs::metadata(&run).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&run).unwrap();
        assert_eq!(std::fs::metadata(&run).unwrap().mode() & 0o777, 0o700, "tightened");
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(private_dir(&file).is_err());
    }
}
