//! Readiness for a supervisor, in systemd's `sd_notify` protocol: when `NOTIFY_SOCKET` names a
//! Unix datagram socket (a path, or an abstract name written `@name`), wayrail sends it
//! `READY=1` once its Wayland socket, its X11 display and its RDP listeners accept connections.
//! The same datagram says where they are, in `X_WAYRAIL_*` fields (systemd ignores fields
//! with the `X_` prefix; `wayraild` reads them instead of guessing the X display number).

use std::ffi::OsStr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// Tells the supervisor (if any) that wayrail is ready; a failure to tell it is logged only.
pub fn ready(wayland_socket: &str, x11_display: Option<u32>, ipc_socket: &Path, listening: &[String]) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()) else { return };
    // Programs started from here (Xwayland, apps) must not speak for us.
    std::env::remove_var("NOTIFY_SOCKET");
    let message = ready_message(wayland_socket, x11_display, ipc_socket, listening);
    match send(&target, message.as_bytes()) {
        Ok(()) => tracing::debug!("told the supervisor at {} that we are ready", target.to_string_lossy()),
        Err(err) => tracing::warn!("NOTIFY_SOCKET {}: {err}", target.to_string_lossy()),
    }
}

/// `READY=1`, a `STATUS=` line for `systemctl status`, and where everything is.
pub fn ready_message(
    wayland_socket: &str,
    x11_display: Option<u32>,
    ipc_socket: &Path,
    listening: &[String],
) -> String {
    let display = x11_display.map(|n| format!(":{n}"));
    let mut status = format!("WAYLAND_DISPLAY={wayland_socket}");
    if let Some(d) = &display {
        status.push_str(&format!(" DISPLAY={d}"));
    }
    for addr in listening {
        status.push_str(&format!(" RDP on {addr}"));
    }
    let mut message = format!("READY=1\nSTATUS={status}\nX_WAYRAIL_WAYLAND_DISPLAY={wayland_socket}\n");
    if let Some(d) = display {
        message.push_str(&format!("X_WAYRAIL_DISPLAY={d}\n"));
    }
    message.push_str(&format!("X_WAYRAIL_SOCKET={}\n", ipc_socket.display()));
    for addr in listening {
        message.push_str(&format!("X_WAYRAIL_LISTEN={addr}\n"));
    }
    message
}

fn send(target: &OsStr, message: &[u8]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt as _;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(message, &addr)?;
    } else {
        socket.send_to(message, Path::new(target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_everything_a_supervisor_needs() {
        let listening = ["tcp:127.0.0.1:3389".to_owned(), "unix:/run/r.sock".to_owned()];
        let m = ready_message("wayland-0", Some(3), Path::new("/run/wayrail.wayland-0.sock"), &listening);
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines[0], "READY=1");
        assert!(lines.contains(&"X_WAYRAIL_WAYLAND_DISPLAY=wayland-0"), "{m}");
        assert!(lines.contains(&"X_WAYRAIL_DISPLAY=:3"), "{m}");
        assert!(lines.contains(&"X_WAYRAIL_SOCKET=/run/wayrail.wayland-0.sock"), "{m}");
        assert!(lines.contains(&"X_WAYRAIL_LISTEN=unix:/run/r.sock"), "{m}");
        let without_x = ready_message("w", None, Path::new("/i"), &[]);
        assert!(!without_x.contains("DISPLAY=:"), "{without_x}");
    }

    #[test]
    fn sends_to_a_path_and_to_an_abstract_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), b"READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");

        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("wayrail-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        send(OsStr::new(&format!("@{name}")), b"READY=1\n").unwrap();
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");
    }
}
