//! `wayrail msg`: a JSON-lines request/response protocol on a Unix socket beside the Wayland
//! socket. A thread does the socket I/O and hands each request to the compositor loop over a
//! channel, so a stuck IPC client never stalls the compositor.
//!
//! Who may talk: the socket is made mode 0600 before it listens, and each connection's peer
//! (`SO_PEERCRED`) must be our own uid — root included, any other uid is closed without an
//! answer (root can act as the user anyway; wayrail's IPC has no business with it). Nothing
//! a request says makes wayrail write a file: a screenshot comes back as PNG bytes and the
//! client writes it.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use smithay::reexports::calloop::channel::{self, Channel, Sender};

use crate::window::WindowId;

/// Requests, as `{"cmd": "...", ...}` on one line.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Version,
    Windows,
    Outputs,
    Clients,
    /// A PNG of an output (default: the first) or of one window, returned base64-encoded in
    /// the answer's `png`.
    Screenshot {
        output: Option<String>,
        window: Option<u32>,
    },
    /// A window operation, as a remote host would ask for it.
    Window {
        id: u32,
        op: WindowOp,
    },
    /// Input events through the backend input API, in order (automation, tests).
    Input {
        events: Vec<InputRequest>,
    },
}

/// Requests the IPC thread answers by itself, without the compositor loop: what the RDP
/// sessions record for it (the app list the host was sent).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum DirectRequest {
    Apps,
}

/// The answer to a direct request, None for any other line.
fn answer_direct(line: &str) -> Option<Value> {
    match serde_json::from_str::<DirectRequest>(line).ok()? {
        DirectRequest::Apps => Some(match serde_json::to_value(wayrail_applist::report::current()) {
            Ok(v) => ok(v),
            Err(e) => err(e),
        }),
    }
}

/// Input over IPC: keys and buttons by evdev code, the pointer in global logical coordinates.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputRequest {
    Key { code: u32, pressed: bool },
    Motion { x: f64, y: f64 },
    Button { button: u32, pressed: bool },
    Axis { vertical_v120: i32, horizontal_v120: i32 },
}

impl From<InputRequest> for crate::input::InputEvent {
    fn from(r: InputRequest) -> Self {
        use crate::input::InputEvent as E;
        match r {
            InputRequest::Key { code, pressed } => E::Key { code, pressed },
            InputRequest::Motion { x, y } => E::PointerMotion { x, y },
            InputRequest::Button { button, pressed } => E::PointerButton { button, pressed },
            InputRequest::Axis { vertical_v120, horizontal_v120 } => E::PointerAxis { vertical_v120, horizontal_v120 },
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WindowOp {
    Focus,
    Close,
    Maximize,
    Unmaximize,
    Minimize,
    Restore,
    Move { x: i32, y: i32 },
    Resize { width: i32, height: i32 },
}

/// The longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

pub fn socket_path(runtime_dir: &Path, wayland_socket: &str) -> PathBuf {
    runtime_dir.join(format!("wayrail.{wayland_socket}.sock"))
}

/// A request from a client and where its answer goes.
pub struct Pending {
    pub request: Result<Request, String>,
    pub reply: mpsc::SyncSender<Value>,
}

pub struct IpcServer {
    path: PathBuf,
}

impl Drop for IpcServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl IpcServer {
    /// Binds the socket and starts the I/O thread; requests arrive on the returned channel.
    pub fn start(path: PathBuf) -> anyhow::Result<(IpcServer, Channel<Pending>)> {
        if UnixStream::connect(&path).is_ok() {
            anyhow::bail!("{} is in use by a running wayrail", path.display());
        }
        let _ = std::fs::remove_file(&path);
        let listener = bind_private(&path).map_err(|e| anyhow::anyhow!("binding {}: {e}", path.display()))?;
        let (tx, rx) = channel::channel();
        std::thread::Builder::new().name("wayrail-ipc".into()).spawn(move || accept_loop(listener, tx))?;
        Ok((IpcServer { path }, rx))
    }
}

/// A listening socket at `path` that only its owner may connect to: mode 0600 before it
/// listens, so no connection of another user can wait in its backlog.
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    use std::os::unix::fs::PermissionsExt;
    let fd = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    rustix::net::listen(&fd, 64)?;
    Ok(UnixListener::from(fd))
}

/// Whether a connection comes from a process of our own user.
pub fn peer_is_owner(stream: &UnixStream) -> bool {
    match rustix::net::sockopt::socket_peercred(stream) {
        Ok(cred) if cred.uid == rustix::process::getuid() => true,
        Ok(cred) => {
            tracing::warn!(
                uid = cred.uid.as_raw(),
                pid = cred.pid.as_raw_nonzero().get(),
                "refused an IPC connection of another user"
            );
            false
        }
        Err(err) => {
            tracing::warn!("refused an IPC connection without peer credentials: {err}");
            false
        }
    }
}

fn accept_loop(listener: UnixListener, tx: Sender<Pending>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if !peer_is_owner(&stream) {
            continue;
        }
        let tx = tx.clone();
        let _ = std::thread::Builder::new().name("wayrail-ipc-conn".into()).spawn(move || serve(stream, tx));
    }
}

fn serve(stream: UnixStream, tx: Sender<Pending>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    })
    .take(MAX_REQUEST);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with('\n') {
            let _ = writeln!(
                writer,
                "{}",
                json!({"ok": false, "error": "request too long or not terminated by a newline"})
            );
            return;
        }
        if let Some(reply) = answer_direct(line.trim()) {
            if writeln!(writer, "{reply}").is_err() {
                return;
            }
            reader.set_limit(MAX_REQUEST);
            continue;
        }
        let request = serde_json::from_str::<Request>(line.trim()).map_err(|e| format!("bad request: {e}"));
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        if tx.send(Pending { request, reply: reply_tx }).is_err() {
            return;
        }
        let Ok(reply) = reply_rx.recv_timeout(Duration::from_secs(30)) else { return };
        if writeln!(writer, "{reply}").is_err() {
            return;
        }
        reader.set_limit(MAX_REQUEST);
    }
}

/// The `wayrail msg` side: sends one request and returns the `data` of the answer.
pub fn send(path: &Path, request: &impl Serialize) -> anyhow::Result<Value> {
    let mut stream = UnixStream::connect(path)
        .map_err(|e| anyhow::anyhow!("cannot reach wayrail at {}: {e} (is it running?)", path.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(35)))?;
    writeln!(stream, "{}", serde_json::to_string(request)?)?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let reply: Value = serde_json::from_str(&line).map_err(|e| anyhow::anyhow!("bad answer from wayrail: {e}"))?;
    if reply["ok"] == Value::Bool(true) {
        Ok(reply["data"].clone())
    } else {
        anyhow::bail!("{}", reply["error"].as_str().unwrap_or("unknown error"))
    }
}

/// Finds the IPC socket: `WAYRAIL_SOCKET`, else the one for `WAYLAND_DISPLAY`, else the only
/// one in the runtime dir.
pub fn find_socket() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("WAYRAIL_SOCKET").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let runtime =
        std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
            // Where `wayrail` goes when it finds no XDG_RUNTIME_DIR either.
            let uid = rustix::process::getuid().as_raw();
            let system = PathBuf::from(format!("/run/user/{uid}"));
            if system.is_dir() {
                system
            } else {
                std::env::temp_dir().join(format!("wayrail-runtime-{uid}"))
            }
        });
    if let Ok(display) = std::env::var("WAYLAND_DISPLAY") {
        let name = Path::new(&display).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(display);
        let p = socket_path(&runtime, &name);
        if p.exists() {
            return Ok(p);
        }
    }
    let found: Vec<PathBuf> = std::fs::read_dir(&runtime)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("wayrail.") && n.ends_with(".sock"))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!("no running wayrail found in {} (set WAYRAIL_SOCKET)", runtime.display()),
        _ => anyhow::bail!("several wayrail instances in {}: set WAYLAND_DISPLAY or WAYRAIL_SOCKET", runtime.display()),
    }
}

pub fn ok(data: Value) -> Value {
    json!({"ok": true, "data": data})
}

pub fn err(message: impl std::fmt::Display) -> Value {
    json!({"ok": false, "error": message.to_string()})
}

pub fn window_id(id: u32) -> WindowId {
    WindowId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format() {
        let r: Request = serde_json::from_str(r#"{"cmd":"window","id":3,"op":{"op":"move","x":1,"y":-2}}"#).unwrap();
        assert_eq!(r, Request::Window { id: 3, op: WindowOp::Move { x: 1, y: -2 } });
        let r: Request = serde_json::from_str(r#"{"cmd":"screenshot","window":4}"#).unwrap();
        assert_eq!(r, Request::Screenshot { output: None, window: Some(4) });
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
    }

    /// A fresh directory for a test's socket, and the socket's path in it.
    fn socket_in_temp_dir(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("wayrail-ipc-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sock");
        (dir, path)
    }

    #[test]
    fn the_socket_is_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, path) = socket_in_temp_dir("mode");
        let (server, _rx) = IpcServer::start(path.clone()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(peer_is_owner(&UnixStream::connect(&path).unwrap()));
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn oversized_and_garbage_requests_get_errors() {
        let (dir, path) = socket_in_temp_dir("test");
        let (server, rx) = IpcServer::start(path.clone()).unwrap();
        // Answer every request from a stand-in loop.
        std::thread::spawn(move || {
            let mut ev = smithay::reexports::calloop::EventLoop::<()>::try_new().unwrap();
            ev.handle()
                .insert_source(rx, |e, _, _| {
                    if let channel::Event::Msg(p) = e {
                        let v = match p.request {
                            Ok(r) => ok(serde_json::to_value(r).unwrap()),
                            Err(e) => err(e),
                        };
                        let _ = p.reply.send(v);
                    }
                })
                .unwrap();
            loop {
                ev.dispatch(Duration::from_millis(100), &mut ()).unwrap();
            }
        });
        assert_eq!(send(&path, &Request::Version).unwrap(), json!({"cmd": "version"}));
        // The app list is answered by the IPC thread itself (the stand-in would echo the cmd).
        let apps = send(&path, &DirectRequest::Apps).unwrap();
        assert!(apps["apps"].is_array() && apps.get("cmd").is_none(), "{apps}");
        let mut s = UnixStream::connect(&path).unwrap();
        writeln!(s, "not json").unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        assert!(line.contains("bad request"), "{line}");
        let mut s = UnixStream::connect(&path).unwrap();
        let big = vec![b'x'; MAX_REQUEST as usize + 10];
        let _ = s.write_all(&big);
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        assert!(line.contains("too long"), "{line}");
        drop(server);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
