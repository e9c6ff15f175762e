//! Where clients connect: TCP, Unix sockets, AF_VSOCK (a VM's host) and a listening socket
//! handed over by a supervisor.

use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};

pub use wayrail_link::{ListenAddr, ListenAddrError};

/// Any connected byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static> Stream for T {}

pub type BoxStream = Box<dyn Stream>;

pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, Option<PathBuf>),
    Vsock(tokio_vsock::VsockListener),
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, Some(path)) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Listener {
    pub async fn bind(addr: &ListenAddr) -> std::io::Result<Listener> {
        match addr {
            ListenAddr::Tcp(a) => Ok(Listener::Tcp(tokio::net::TcpListener::bind(a).await?)),
            ListenAddr::Unix(path) => {
                // A socket file left by a previous run that nobody serves any more.
                if std::os::unix::net::UnixStream::connect(path).is_err() {
                    let _ = std::fs::remove_file(path);
                }
                Ok(Listener::Unix(tokio::net::UnixListener::bind(path)?, Some(path.clone())))
            }
            ListenAddr::Vsock { cid, port } => {
                Ok(Listener::Vsock(tokio_vsock::VsockListener::bind(tokio_vsock::VsockAddr::new(*cid, *port))?))
            }
            ListenAddr::Fd(fd) => from_inherited_fd(*fd),
        }
    }

    /// The bound address, for logs (TCP ports chosen by the kernel show up here).
    pub fn local_addr(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map(|a| format!("tcp:{a}")).unwrap_or_default(),
            Listener::Unix(l, _) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix:(unnamed)".into()),
            Listener::Vsock(l) => l.local_addr().map(|a| format!("vsock:{}:{}", a.cid(), a.port())).unwrap_or_default(),
        }
    }

    pub async fn accept(&self) -> std::io::Result<(BoxStream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Box::new(s), peer.to_string()))
            }
            Listener::Unix(l, _) => {
                let (s, _) = l.accept().await?;
                Ok((Box::new(s), "unix".into()))
            }
            Listener::Vsock(l) => {
                let (s, peer) = l.accept().await?;
                Ok((Box::new(s), format!("vsock:{}:{}", peer.cid(), peer.port())))
            }
        }
    }
}

/// The listening sockets of systemd-style socket activation: `LISTEN_FDS` descriptors from 3
/// on, when `LISTEN_PID` is this process (else none: they were meant for another). The
/// variables are removed either way, so that programs started later do not take the
/// descriptors for theirs.
pub fn activated_listeners() -> Vec<ListenAddr> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    activation_fds(pid.as_deref(), fds.as_deref(), std::process::id())
}

/// Where to listen: the sockets of socket activation when there are any (systemd's socket unit
/// is then the one place listeners are set), else `configured`, else the default address.
pub fn activated_or_configured(configured: &[ListenAddr]) -> Vec<ListenAddr> {
    let activated = activated_listeners();
    if !activated.is_empty() {
        tracing::info!("listening on {} socket(s) from socket activation", activated.len());
        activated
    } else if configured.is_empty() {
        vec![ListenAddr::default()]
    } else {
        configured.to_vec()
    }
}

/// The first descriptor of socket activation (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// `LISTEN_PID` and `LISTEN_FDS` as `fd:N` addresses for the process `own_pid`.
fn activation_fds(pid: Option<&str>, fds: Option<&str>, own_pid: u32) -> Vec<ListenAddr> {
    let (Some(pid), Some(fds)) = (pid, fds) else { return Vec::new() };
    if pid.trim().parse::<u32>().ok() != Some(own_pid) {
        return Vec::new();
    }
    let count = fds.trim().parse::<RawFd>().unwrap_or(0).clamp(0, 1024);
    (LISTEN_FDS_START..LISTEN_FDS_START + count).map(ListenAddr::Fd).collect()
}

fn from_inherited_fd(fd: RawFd) -> std::io::Result<Listener> {
    // SAFETY: the supervisor handed this descriptor to us; we take ownership of it once.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // Inherited without close-on-exec (it had to survive our own exec): every program started
    // from here would hold the listening socket, and could accept our connections.
    set_cloexec(&owned)?;
    let domain = listening_domain(&owned)?;
    match domain {
        libc::AF_UNIX => {
            let l = std::os::unix::net::UnixListener::from(owned);
            l.set_nonblocking(true)?;
            Ok(Listener::Unix(tokio::net::UnixListener::from_std(l)?, None))
        }
        libc::AF_INET | libc::AF_INET6 => {
            let l = std::net::TcpListener::from(owned);
            l.set_nonblocking(true)?;
            Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l)?))
        }
        libc::AF_VSOCK => Ok(Listener::Vsock(tokio_vsock::VsockListener::from(owned))),
        other => Err(std::io::Error::other(format!("fd:{fd} is a socket of family {other}, not TCP, Unix or vsock"))),
    }
}

fn set_cloexec(fd: &std::os::fd::OwnedFd) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl(2) on a descriptor we own, reading and setting its descriptor flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The address family of an inherited socket, which must be listening.
fn listening_domain(fd: &std::os::fd::OwnedFd) -> std::io::Result<i32> {
    let domain = socket_option(fd, libc::SO_DOMAIN)?;
    if socket_option(fd, libc::SO_ACCEPTCONN).unwrap_or(0) == 0 {
        return Err(std::io::Error::other("the inherited descriptor is not a listening socket"));
    }
    Ok(domain)
}

/// An integer option of the socket level.
fn socket_option(fd: &std::os::fd::OwnedFd, option: libc::c_int) -> std::io::Result<libc::c_int> {
    use std::os::fd::AsRawFd;
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: plain getsockopt into a c_int of the right size.
    let r = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, option, (&mut value as *mut libc::c_int).cast(), &mut len)
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_addresses() {
        assert_eq!("tcp:127.0.0.1:3389".parse(), Ok(ListenAddr::Tcp("127.0.0.1:3389".into())));
        assert_eq!("tcp:[::1]:0".parse(), Ok(ListenAddr::Tcp("[::1]:0".into())));
        assert_eq!("unix:/run/x.sock".parse(), Ok(ListenAddr::Unix("/run/x.sock".into())));
        assert_eq!("vsock:2:3389".parse(), Ok(ListenAddr::Vsock { cid: 2, port: 3389 }));
        assert_eq!("vsock:any:5".parse(), Ok(ListenAddr::Vsock { cid: libc::VMADDR_CID_ANY, port: 5 }));
        assert_eq!("fd:3".parse(), Ok(ListenAddr::Fd(3)));
        for bad in ["", "tcp:", "tcp:host", "tcp::1", "tcp:h:99999", "unix:", "vsock:1", "fd:-1", "udp:1:2"] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn socket_activation_is_for_the_process_it_names() {
        assert_eq!(activation_fds(Some("42"), Some("2"), 42), vec![ListenAddr::Fd(3), ListenAddr::Fd(4)]);
        assert_eq!(activation_fds(Some("41"), Some("2"), 42), vec![], "another process's");
        assert_eq!(activation_fds(None, Some("2"), 42), vec![], "LISTEN_PID is required");
        assert_eq!(activation_fds(Some("42"), None, 42), vec![]);
        assert_eq!(activation_fds(Some("42"), Some("x"), 42), vec![]);
        assert_eq!(activation_fds(Some("42"), Some("-1"), 42), vec![]);
    }

    #[test]
    fn an_inherited_listener_is_closed_on_exec() {
        use std::os::fd::{AsRawFd, IntoRawFd};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = listener.into_raw_fd();
        // As a supervisor hands it over: without close-on-exec.
        // SAFETY: fcntl(2) on the descriptor we just took out of the listener.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = rt.enter();
        let l = from_inherited_fd(fd).unwrap();
        let Listener::Tcp(tcp) = &l else { panic!("not TCP") };
        // SAFETY: as above, reading the flags only.
        let flags = unsafe { libc::fcntl(tcp.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }
}
