//! wayrail's Xwayland glue that does not need the compositor's state.
//!
//! - [`X11Display`]: an X11 display number held without an X server: the `/tmp/.X<n>-lock`
//!   file and the listening sockets `/tmp/.X11-unix/X<n>` and `@/tmp/.X11-unix/X<n>`. `DISPLAY`
//!   works from the start; the compositor starts Xwayland when the first client connects.
//! - [`proxy`]: hands a connection accepted before Xwayland ran over to Xwayland: bytes and
//!   passed file descriptors (MIT-SHM, DRI3) both ways.
//! - [`close`]: closing X11 windows, killing hung clients.
//! - [`icon`]: reads `_NET_WM_ICON`.
//! - [`resources`]: `Xft.dpi` and `Xcursor.size` for HiDPI.
//! - [`selection`]: reads an X11 selection as any target (smithay does only text).
//! - [`xwayland_env`]: what Xwayland needs from our environment (smithay clears it).
//!
//! The lazy start, in order: [`X11Display::bind_free`] holds `:n`; a client connects; the
//! compositor [`X11Display::accept_pending`]s, [`X11Display::hand_over`]s the display (the lock
//! file and abstract socket go, the filesystem socket stays until replaced), lets smithay's
//! `XWayland::spawn(Some(n))` take the same number (it binds the same paths), takes what reached
//! the old socket meanwhile ([`HandOver::accept_pending`]) and [`proxy`]s the accepted
//! connections to it. Later clients reach Xwayland directly.
//!
//! Access: Xwayland admits local connections of its own user only (it is started without
//! `-auth`, and then takes only connections whose peer credentials carry its uid). The display
//! held before it runs admits the same: a connection accepted early is handed over only when
//! its peer (`SO_PEERCRED`) is our uid — the proxy connects as us, so Xwayland could not tell.
//! The abstract socket is bound whenever the display is held, so no other user can squat the
//! name libxcb tries first.

use std::fs::OpenOptions;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub mod close;
pub mod icon;
pub mod resources;
pub mod selection;

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};

/// The display numbers tried, as smithay and Xwayland do.
pub const DISPLAYS: std::ops::Range<u32> = 0..33;

fn lock_path(n: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X{n}-lock"))
}

fn socket_path(n: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X11-unix/X{n}"))
}

/// An X11 display number we hold: its lock file and listening sockets. Dropping it removes
/// the lock and the socket file.
#[derive(Debug)]
pub struct X11Display {
    number: u32,
    listeners: Vec<UnixListener>,
}

impl X11Display {
    /// Holds the first free display number (a lock file we could create, or a stale one whose
    /// process is gone) with its filesystem socket and, when `abstract_socket`, the abstract one.
    pub fn bind_free(abstract_socket: bool) -> io::Result<X11Display> {
        for n in DISPLAYS {
            if !grab_lock(n) {
                continue;
            }
            match bind_sockets(n, abstract_socket) {
                Ok(listeners) => return Ok(X11Display { number: n, listeners }),
                Err(err) => {
                    tracing::debug!(display = n, "X11 sockets: {err}");
                    let _ = std::fs::remove_file(lock_path(n));
                }
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, "no free X11 display number in :0..:32"))
    }

    /// Holds display `n` again (after the Xwayland that used it is gone).
    pub fn bind(n: u32, abstract_socket: bool) -> io::Result<X11Display> {
        if !grab_lock(n) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("display :{n} is locked")));
        }
        match bind_sockets(n, abstract_socket) {
            Ok(listeners) => Ok(X11Display { number: n, listeners }),
            Err(err) => {
                let _ = std::fs::remove_file(lock_path(n));
                Err(err)
            }
        }
    }

    pub fn number(&self) -> u32 {
        self.number
    }

    /// The listening sockets (non-blocking), to poll for a first client.
    pub fn listeners(&self) -> &[UnixListener] {
        &self.listeners
    }

    /// Accepts every connection waiting on any of the sockets; those of other users are
    /// closed (see [`admit`]).
    pub fn accept_pending(&self) -> Vec<UnixStream> {
        let mut streams = Vec::new();
        for listener in &self.listeners {
            streams.extend(accept_admitted(listener));
        }
        streams
    }
}

impl X11Display {
    /// Lets the display go to an X server that binds the same number, leaving no moment in which
    /// a connecting client finds nothing: the lock file and the abstract socket go now (the
    /// server must take them), but the filesystem socket stays bound and keeps its path until
    /// the server replaces it. libxcb tries the abstract socket first and, refused, the path:
    /// such clients wait in the returned listener's backlog, to be taken with
    /// [`HandOver::accept_pending`] once the server has bound its sockets.
    pub fn hand_over(mut self) -> HandOver {
        let mut listeners = std::mem::take(&mut self.listeners);
        let number = self.number;
        // No Drop: it would remove the path the server is about to own (nothing is left to leak).
        std::mem::forget(self);
        // The filesystem socket comes first (`bind_sockets`); the abstract one closes here.
        let filesystem = listeners.remove(0);
        drop(listeners);
        let _ = std::fs::remove_file(lock_path(number));
        HandOver { listener: filesystem }
    }
}

/// The filesystem socket of a display handed over (see [`X11Display::hand_over`]). Dropping it
/// closes the socket and leaves the path alone (it is the server's by then).
#[derive(Debug)]
pub struct HandOver {
    listener: UnixListener,
}

impl HandOver {
    /// Accepts the connections that reached the old socket before the server replaced it.
    pub fn accept_pending(&self) -> Vec<UnixStream> {
        accept_admitted(&self.listener)
    }
}

fn accept_admitted(listener: &UnixListener) -> Vec<UnixStream> {
    let mut streams = Vec::new();
    while let Ok((stream, _)) = listener.accept() {
        if admit(&stream) {
            let _ = stream.set_nonblocking(false);
            streams.push(stream);
        }
    }
    streams
}

/// Whether an early X client may be handed over: its peer is a process of our own user, as
/// Xwayland requires of the clients that reach it directly. Others are refused (closed).
pub fn admit(stream: &UnixStream) -> bool {
    peer_is_owner(stream, "X11")
}

/// Whether the peer of a Unix socket connection is a process of our own user; `what` names
/// the kind of connection in the warning logged for any other peer.
pub fn peer_is_owner(stream: &UnixStream, what: &str) -> bool {
    match rustix::net::sockopt::socket_peercred(stream) {
        Ok(cred) if cred.uid == rustix::process::getuid() => true,
        Ok(cred) => {
            tracing::warn!(
                uid = cred.uid.as_raw(),
                pid = cred.pid.as_raw_nonzero().get(),
                "refused an {what} connection of another user"
            );
            false
        }
        Err(err) => {
            tracing::warn!("refused an {what} connection without peer credentials: {err}");
            false
        }
    }
}

impl Drop for X11Display {
    fn drop(&mut self) {
        self.listeners.clear();
        let _ = std::fs::remove_file(socket_path(self.number));
        let _ = std::fs::remove_file(lock_path(self.number));
    }
}

/// Creates `/tmp/.X<n>-lock` with our pid, taking over a stale one.
fn grab_lock(n: u32) -> bool {
    let path = lock_path(n);
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                if writeln!(file, "{:>10}", std::process::id()).is_ok() {
                    return true;
                }
                let _ = std::fs::remove_file(&path);
                return false;
            }
            Err(_) => {
                let mut text = String::new();
                let Ok(mut file) = std::fs::File::open(&path) else { return false };
                if file.read_to_string(&mut text).is_err() {
                    return false;
                }
                let Ok(pid) = text.trim().parse::<i32>() else { return false };
                // SAFETY: kill(2) with signal 0 only checks whether the process exists.
                let gone = pid > 0
                    && unsafe { libc::kill(pid, 0) } == -1
                    && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
                if !gone || std::fs::remove_file(&path).is_err() {
                    return false;
                }
            }
        }
    }
    false
}

fn bind_sockets(n: u32, abstract_socket: bool) -> io::Result<Vec<UnixListener>> {
    let path = socket_path(n);
    let _ = std::fs::create_dir("/tmp/.X11-unix");
    // We hold the lock: a socket file left there belongs to a dead server.
    let _ = std::fs::remove_file(&path);
    let mut listeners = vec![UnixListener::bind(&path)?];
    if abstract_socket {
        let addr = SocketAddr::from_abstract_name(path.as_os_str().as_encoded_bytes())?;
        match UnixListener::bind_addr(&addr) {
            Ok(l) => listeners.push(l),
            Err(err) => {
                let _ = std::fs::remove_file(&path);
                return Err(err);
            }
        }
    }
    for l in &listeners {
        l.set_nonblocking(true)?;
    }
    Ok(listeners)
}

/// Connects to display `n`'s filesystem socket and forwards `client` to it, bytes and file
/// descriptors both ways, on two threads that end with the connection. While it lasts, the
/// client's pid (from the kernel, for its end of the connection) is known by its resource ids
/// ([`proxied_client_pid`]).
pub fn proxy(client: UnixStream, n: u32) -> io::Result<()> {
    let pid = rustix::net::sockopt::socket_peercred(&client).ok().map(|c| c.pid.as_raw_nonzero().get() as u32);
    std::thread::Builder::new().name("x11-proxy-up".into()).spawn(move || {
        let server = match connect_retrying(n) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(display = n, "handing an early X client to Xwayland: {err}");
                return;
            }
        };
        let key = NEXT_PROXIED.fetch_add(1, Ordering::Relaxed);
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { return };
        let down = std::thread::Builder::new().name("x11-proxy-down".into()).spawn(move || {
            // The server's first answer is the connection setup, with the client's resource ids
            // in its first 20 bytes (which may come in more than one piece).
            let mut setup = Vec::new();
            forward(&s2, &c2, |bytes| {
                setup.extend_from_slice(&bytes[..bytes.len().min(20 - setup.len())]);
                if setup.len() < 20 {
                    return true;
                }
                if let (Some(pid), Some((base, mask))) = (pid, resource_ids(&setup)) {
                    lock_proxied().push(Proxied { key, base, mask, pid });
                }
                false
            })
        });
        forward(&client, &server, |_| false);
        if let Ok(down) = down {
            let _ = down.join();
        }
        lock_proxied().retain(|p| p.key != key);
    })?;
    Ok(())
}

/// A client connected through [`proxy`]: its resource ids and its pid.
struct Proxied {
    key: u64,
    base: u32,
    mask: u32,
    pid: u32,
}

static PROXIED: Mutex<Vec<Proxied>> = Mutex::new(Vec::new());
static NEXT_PROXIED: AtomicU64 = AtomicU64::new(0);

fn lock_proxied() -> std::sync::MutexGuard<'static, Vec<Proxied>> {
    PROXIED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The pid of the proxied client that owns the X resource `xid` (a window), if one does: the
/// X server names wayrail for those (XRes), the proxy knows better.
pub fn proxied_client_pid(xid: u32) -> Option<u32> {
    lock_proxied().iter().find(|p| xid & !p.mask == p.base).map(|p| p.pid)
}

/// The resource-id base and mask of a successful connection setup reply, in the byte order
/// the client chose (told by the protocol major version, 11).
fn resource_ids(reply: &[u8]) -> Option<(u32, u32)> {
    if reply.len() < 20 || reply[0] != 1 {
        return None;
    }
    let little = match (reply[2], reply[3]) {
        (11, 0) => true,
        (0, 11) => false,
        _ => return None,
    };
    let word = |at: usize| {
        let b = [reply[at], reply[at + 1], reply[at + 2], reply[at + 3]];
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    Some((word(12), word(16)))
}

fn connect_retrying(n: u32) -> io::Result<UnixStream> {
    let path = socket_path(n);
    let mut last = None;
    for _ in 0..100 {
        match UnixStream::connect(&path) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(last.unwrap_or_else(|| io::Error::other("connect")))
}

/// The most descriptors one X request carries is small; leave room.
const MAX_FDS: usize = 16;

/// Copies from `from` to `to` until `from` ends, passing descriptors along with their bytes;
/// `watch` sees the bytes received for as long as it returns true.
fn forward(from: &UnixStream, to: &UnixStream, mut watch: impl FnMut(&[u8]) -> bool) {
    let mut watching = true;
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    loop {
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = match recvmsg(from, &mut [IoSliceMut::new(&mut buf)], &mut control, RecvFlags::CMSG_CLOEXEC) {
            Ok(r) => r.bytes,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        };
        let fds = received_fds(&mut control);
        if received == 0 && fds.is_empty() {
            break;
        }
        if watching && received > 0 {
            watching = watch(&buf[..received]);
        }
        if send_all(to, &buf[..received], &fds).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
    let _ = from.shutdown(std::net::Shutdown::Read);
}

fn send_all(to: &UnixStream, mut bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
    let mut pending_fds = !borrowed.is_empty();
    // Descriptors ride on the first byte of the data they came with.
    while !bytes.is_empty() || pending_fds {
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if pending_fds {
            control.push(SendAncillaryMessage::ScmRights(&borrowed));
        }
        let iov = [IoSlice::new(bytes)];
        match sendmsg(to, &iov, &mut control, SendFlags::NOSIGNAL) {
            Ok(n) => {
                pending_fds = false;
                bytes = &bytes[n..];
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        if bytes.is_empty() {
            break;
        }
    }
    Ok(())
}

/// Waits until an X connection has something to read, or `limit` (at most 200 ms) passes.
fn wait_readable(conn: &x11rb::rust_connection::RustConnection, limit: std::time::Duration) {
    use std::os::fd::AsRawFd;
    let slice = limit.min(std::time::Duration::from_millis(200)).as_millis() as i32;
    let mut pfd = libc::pollfd { fd: conn.stream().as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the connection's socket, which outlives the call.
    unsafe { libc::poll(&mut pfd, 1, slice) };
}

/// The environment Xwayland gets besides smithay's (PATH, XDG_RUNTIME_DIR): home, cursor
/// theme, locale, fonts, XKB overrides.
pub fn xwayland_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            matches!(k.as_str(), "HOME" | "USER" | "LANG" | "LC_ALL" | "LC_CTYPE" | "XAUTHORITY" | "FONTCONFIG_FILE")
                || k.starts_with("XCURSOR_")
                || k.starts_with("XKB_")
        })
        .collect()
}

/// The file descriptors that came with a message (SCM_RIGHTS), now ours.
fn received_fds(control: &mut RecvAncillaryBuffer) -> Vec<OwnedFd> {
    control
        .drain()
        .flat_map(|m| match m {
            RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn forwards_bytes_and_descriptors() {
        let (client, proxy_in) = UnixStream::pair().unwrap();
        let (proxy_out, server) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || forward(&proxy_in, &proxy_out, |_| false));
        let (pipe_r, pipe_w) = rustix::pipe::pipe().unwrap();
        send_all(&client, b"hello", &[pipe_w]).unwrap();
        let mut buf = [0u8; 16];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(&server, &mut [IoSliceMut::new(&mut buf)], &mut control, RecvFlags::empty()).unwrap();
        assert_eq!(&buf[..got.bytes], b"hello");
        let fds = received_fds(&mut control);
        assert_eq!(fds.len(), 1);
        // The passed descriptor is the pipe's write end: writing to it reaches our read end.
        rustix::io::write(&fds[0], b"x").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(rustix::io::read(&pipe_r, &mut one).unwrap(), 1);
        assert!(fds[0].as_raw_fd() >= 0);
        drop(client);
        t.join().unwrap();
        let mut rest = Vec::new();
        (&server).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn a_handed_over_display_keeps_its_path_and_queues_clients() {
        let d = X11Display::bind_free(true).unwrap();
        let n = d.number();
        let handed = d.hand_over();
        // The lock is free for the server; the path still leads to us.
        assert!(!lock_path(n).exists() && socket_path(n).exists());
        let c = UnixStream::connect(socket_path(n)).unwrap();
        // The server replaces the path; the connection made before is still ours to pass on.
        std::fs::remove_file(socket_path(n)).unwrap();
        let server = UnixListener::bind(socket_path(n)).unwrap();
        assert_eq!(handed.accept_pending().len(), 1);
        drop(handed);
        assert!(socket_path(n).exists(), "dropping the hand-over removed the server's path");
        drop((c, server));
        let _ = std::fs::remove_file(socket_path(n));
    }

    #[test]
    fn reads_resource_ids_from_a_setup_reply() {
        let mut reply = vec![1u8, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        reply.extend(0x0060_0000u32.to_le_bytes());
        reply.extend(0x001f_ffffu32.to_le_bytes());
        assert_eq!(resource_ids(&reply), Some((0x0060_0000, 0x001f_ffff)));
        let mut big = vec![1u8, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0];
        big.extend(0x0060_0000u32.to_be_bytes());
        big.extend(0x001f_ffffu32.to_be_bytes());
        assert_eq!(resource_ids(&big), Some((0x0060_0000, 0x001f_ffff)));
        // A refused setup, and a short read, tell nothing.
        reply[0] = 0;
        assert_eq!(resource_ids(&reply), None);
        assert_eq!(resource_ids(&big[..12]), None);
    }

    #[test]
    fn admits_connections_of_our_own_user() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(admit(&a));
    }

    #[test]
    fn holds_and_releases_a_display() {
        let d = X11Display::bind_free(false).unwrap();
        let n = d.number();
        assert!(lock_path(n).exists() && socket_path(n).exists());
        let c = UnixStream::connect(socket_path(n)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(d.accept_pending().len(), 1);
        drop(c);
        drop(d);
        assert!(!lock_path(n).exists() && !socket_path(n).exists());
    }
}
