//! Sets up the event loop, the Wayland socket, the IPC socket and a backend, and runs them.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::{channel, EventLoop, Interest, LoopSignal, Mode, PostAction};
use smithay::reexports::wayland_server::{Display, Resource};
use smithay::wayland::socket::ListeningSocketSource;

use crate::backend::Backend;
use crate::config::{BackendKind, Config};
use crate::ipc::{self, IpcServer, Request, WindowOp};
use crate::state::State;
use crate::window::WindowId;

pub struct ServerOptions {
    pub config: Config,
    /// Directory for the Wayland and IPC sockets; `XDG_RUNTIME_DIR` by default.
    pub runtime_dir: Option<PathBuf>,
    /// Starts the remoting server of the `rdp` backend (the `wayrail` command passes RDP's).
    pub remote: Option<crate::backend::remote::StartRemote>,
}

pub struct Server {
    pub event_loop: EventLoop<'static, State>,
    pub state: State,
    pub socket_name: String,
    pub ipc_path: PathBuf,
    _ipc: IpcServer,
    signals: Option<smithay::reexports::calloop::signals::Signals>,
}

impl Server {
    pub fn new(options: ServerOptions) -> anyhow::Result<Server> {
        let runtime_dir = match options.runtime_dir {
            Some(d) => d,
            None => runtime_dir()?,
        };
        // Blocked before any thread exists, so every thread inherits the mask and the loop
        // alone receives these.
        let signals = smithay::reexports::calloop::signals::Signals::new(&[
            smithay::reexports::calloop::signals::Signal::SIGTERM,
            smithay::reexports::calloop::signals::Signal::SIGINT,
            smithay::reexports::calloop::signals::Signal::SIGHUP,
        ])?;
        // Smithay's socket source reads the runtime dir from the environment.
        std::env::set_var("XDG_RUNTIME_DIR", &runtime_dir);
        let event_loop: EventLoop<'static, State> = EventLoop::try_new()?;
        let display: Display<State> = Display::new()?;
        let backend_kind = options.config.backend;
        let socket_override = options.config.socket.clone();
        let mut state = State::new(display.handle(), event_loop.handle(), options.config)?;

        let source = match &socket_override {
            Some(name) => {
                ListeningSocketSource::with_name(name).map_err(|e| anyhow::anyhow!("Wayland socket {name}: {e}"))?
            }
            None => ListeningSocketSource::new_auto().map_err(|e| anyhow::anyhow!("Wayland socket: {e}"))?,
        };
        let socket_name = source.socket_name().to_string_lossy().into_owned();
        state.socket_name = socket_name.clone();
        event_loop.handle().insert_source(source, |stream, _, state| state.insert_client(stream, None))?;
        event_loop.handle().insert_source(
            Generic::new(display, Interest::READ, Mode::Level),
            |_, display, state| {
                // SAFETY: the display is not dropped while the loop runs.
                if let Err(err) = unsafe { display.get_mut().dispatch_clients(state) } {
                    tracing::error!("dispatching clients: {err}");
                }
                Ok(PostAction::Continue)
            },
        )?;

        let ipc_path = ipc::socket_path(&runtime_dir, &socket_name);
        let (ipc_server, requests) = IpcServer::start(ipc_path.clone())?;
        event_loop
            .handle()
            .insert_source(requests, |event, _, state| {
                if let channel::Event::Msg(pending) = event {
                    let answer = match pending.request {
                        Ok(request) => handle_request(state, request),
                        Err(e) => ipc::err(e),
                    };
                    let _ = pending.reply.send(answer);
                }
            })
            .map_err(|e| anyhow::anyhow!("IPC source: {}", e.error))?;

        let backend = match backend_kind {
            BackendKind::Headless => Backend::Headless,
            BackendKind::Nested => crate::backend::nested::init(&event_loop.handle(), &mut state)?,
            BackendKind::Rdp => {
                let start = options.remote.ok_or_else(|| anyhow::anyhow!("no remoting server to start"))?;
                crate::backend::remote::init(&event_loop.handle(), &mut state, start)?
            }
        };
        state.backend = backend;
        let xwayland_mode = state.config.xwayland;
        if let Some(n) = state.init_xwayland(xwayland_mode) {
            std::env::set_var("DISPLAY", format!(":{n}"));
        }
        // What programs started from here need to find us. Only now: the nested backend
        // connects to the session we run in through the WAYLAND_DISPLAY we inherited.
        std::env::set_var("WAYLAND_DISPLAY", &socket_name);
        std::env::set_var("WAYRAIL_SOCKET", &ipc_path);
        tracing::info!(socket = %socket_name, ipc = %ipc_path.display(), backend = ?backend_kind, "wayrail is ready");
        crate::notify::ready(&socket_name, state.xwl.display, &ipc_path, state.backend.listening());
        Ok(Server { event_loop, state, socket_name, ipc_path, _ipc: ipc_server, signals: Some(signals) })
    }

    pub fn loop_signal(&self) -> LoopSignal {
        self.event_loop.get_signal()
    }

    /// Runs until the loop is stopped or SIGTERM/SIGINT arrives; then sockets are removed.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let stop = self.event_loop.get_signal();
        let Some(signals) = self.signals.take() else { anyhow::bail!("run() twice") };
        self.event_loop
            .handle()
            .insert_source(signals, move |event, _, _| {
                tracing::info!("{:?}: shutting down", event.signal());
                stop.stop();
            })
            .map_err(|e| anyhow::anyhow!("signal source: {}", e.error))?;
        self.event_loop.run(None, &mut self.state, after_dispatch)?;
        self.state.stop_xwayland();
        // Unix listeners of the RDP thread are not dropped at exit: remove their files here.
        for addr in &self.state.config.rdp.listen {
            if let wayrail_link::ListenAddr::Unix(path) = addr {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }

    /// One round of the loop, for tests and benchmarks.
    pub fn dispatch(&mut self, timeout: Option<Duration>) -> anyhow::Result<()> {
        self.event_loop.dispatch(timeout, &mut self.state)?;
        after_dispatch(&mut self.state);
        Ok(())
    }
}

/// `XDG_RUNTIME_DIR`, or (in a shell without a login session) a private directory made for us.
fn runtime_dir() -> anyhow::Result<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        check_private_dir(&dir, uid).map_err(|e| anyhow::anyhow!("XDG_RUNTIME_DIR: {e}"))?;
        return Ok(dir);
    }
    let system = PathBuf::from(format!("/run/user/{uid}"));
    if system.is_dir() {
        check_private_dir(&system, uid)?;
        return Ok(system);
    }
    let dir = std::env::temp_dir().join(format!("wayrail-runtime-{uid}"));
    // Made 0700 at once; one that exists must be ours (the sticky temporary directory keeps
    // others from replacing it afterwards).
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => anyhow::bail!("creating {}: {e}", dir.display()),
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid {
        anyhow::bail!("{} is not a directory of ours; set XDG_RUNTIME_DIR", dir.display());
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    tracing::warn!("XDG_RUNTIME_DIR is not set; using {}", dir.display());
    Ok(dir)
}

/// The runtime directory holds our sockets: it must be a directory of `uid` that nobody else
/// may write to (a group- or world-writable one would let others replace them).
fn check_private_dir(dir: &std::path::Path, uid: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    if meta.uid() != uid {
        anyhow::bail!("{} belongs to uid {}, not to us (uid {uid})", dir.display(), meta.uid());
    }
    if meta.mode() & 0o022 != 0 {
        anyhow::bail!(
            "{} is writable by others (mode {:o}); make it 0700 (chmod 700)",
            dir.display(),
            meta.mode() & 0o7777
        );
    }
    Ok(())
}

/// After every wakeup: settle the window model, flush to clients, run the frame clock.
pub fn after_dispatch(state: &mut State) {
    state.refresh();
    crate::backend::after_dispatch(state);
    // Changes no client committed (a window moved, raised, closed or gone, an output resized)
    // need a frame too, or a host that is sent damage would keep the old picture.
    if std::mem::take(&mut state.output_damaged) {
        state.frame_requested = true;
    }
    crate::frame_clock::after_dispatch(state);
    if let Err(err) = state.display_handle.flush_clients() {
        tracing::warn!("flushing clients: {err}");
    }
}

fn handle_request(state: &mut State, request: Request) -> Value {
    match request {
        Request::Version => ipc::ok(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "wayland_socket": state.socket_name,
            "x11_display": state.xwl.display.map(|n| format!(":{n}")),
            "backend": format!("{:?}", state.config.backend).to_lowercase(),
            "transport": state.backend.transport(),
            "vail": state.backend.stats().map(|s| json!({
                "presents": s.vail_presents,
                "bytes_copied": s.vail_bytes_copied,
                "direct_copies": s.vail_direct_copies,
            })),
            "egfx": state.backend.stats().map(|s| json!({
                "clear_frames": s.egfx_clear_frames,
                "clear_bytes": s.egfx_clear_bytes,
                "avc420_frames": s.egfx_avc420_frames,
                "avc420_bytes": s.egfx_avc420_bytes,
                "lossless_refreshes": s.egfx_lossless_refreshes,
                "progressive_frames": s.egfx_progressive_frames,
                "progressive_bytes": s.egfx_progressive_bytes,
                "avc444_frames": s.egfx_avc444_frames,
                "avc444_bytes": s.egfx_avc444_bytes,
                "merged_frames": s.egfx_merged_frames,
            })),
            "desktop": json!({
                "direct_frames": crate::backend::remote::DESKTOP_DIRECT_FRAMES.load(std::sync::atomic::Ordering::Relaxed),
            }),
            "gpu": crate::gpu::describe(&crate::gpu::system_root()),
        })),
        Request::Windows => {
            let windows: Vec<Value> = state.windows.iter().map(|w| serde_json::to_value(w).unwrap()).collect();
            ipc::ok(Value::Array(windows))
        }
        Request::Outputs => ipc::ok(Value::Array(state.outputs.iter().map(output_json).collect())),
        Request::Clients => ipc::ok(clients_json(state)),
        Request::Screenshot { output, window } => screenshot(state, output.as_deref(), window),
        Request::Window { id, op } => window_op(state, ipc::window_id(id), op),
        Request::Input { events } => {
            for event in events {
                state.handle_input(event.into());
            }
            ipc::ok(Value::Null)
        }
    }
}

fn output_json(o: &crate::state::OutputEntry) -> Value {
    let logical = o.logical_rect();
    json!({
        "name": o.name,
        // Where it is on the host, in the host's pixels (its virtual desktop, primary monitor
        // at 0,0); without a host, the logical position and the physical size.
        "x": o.host_rect.x,
        "y": o.host_rect.y,
        "width": o.host_rect.width,
        "height": o.host_rect.height,
        "primary": o.primary,
        "logical": {"x": logical.x, "y": logical.y, "width": logical.width, "height": logical.height},
        "scale": o.scale,
        "refresh": o.refresh_mhz as f64 / 1000.0,
    })
}

fn clients_json(state: &mut State) -> Value {
    let mut per_client: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
    for t in state.toplevels.iter().filter(|t| t.id.is_some()) {
        if let Some(c) = crate::state::window_root(&t.window).and_then(|s| s.client()) {
            *per_client.entry(c.id()).or_default() += 1;
        }
    }
    let clients: Vec<Value> = state
        .live_clients()
        .iter()
        .map(|c| {
            let command = c.pid.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok());
            let sandbox = c
                .data
                .security_context
                .as_ref()
                .map(|s| json!({"engine": s.sandbox_engine, "app_id": s.app_id, "instance_id": s.instance_id}));
            json!({
                "id": format!("{:?}", c.client.id()),
                "pid": c.pid,
                "uid": c.uid,
                "command": command.map(|s| s.trim().to_string()),
                "windows": per_client.get(&c.client.id()).copied().unwrap_or(0),
                "sandbox": sandbox,
                "connected_seconds": c.connected_at.elapsed().as_secs(),
            })
        })
        .collect();
    Value::Array(clients)
}

/// A screenshot as the answer carries it: the PNG, base64-encoded, which the client writes.
fn screenshot(state: &mut State, output: Option<&str>, window: Option<u32>) -> Value {
    let State { core: state, composer, .. } = state;
    let result = composer.for_screenshot(|composer| -> anyhow::Result<Value> {
        if let Some(id) = window {
            let id = WindowId(id);
            let scale = state.windows.get(id).map(|w| w.scale).ok_or_else(|| anyhow::anyhow!("no window {id}"))?;
            let (frame, origin) = composer
                .render_window(state, id, scale)?
                .ok_or_else(|| anyhow::anyhow!("window {id} has no content"))?;
            let png = png_base64(&frame)?;
            Ok(json!({"png": png, "width": frame.width, "height": frame.height, "origin": [origin.x, origin.y]}))
        } else {
            let name = match output {
                Some(n) => n.to_string(),
                None => state.outputs.first().map(|o| o.name.clone()).ok_or_else(|| anyhow::anyhow!("no outputs"))?,
            };
            let frame = composer.render_output(state, &name)?;
            let png = png_base64(&frame)?;
            Ok(json!({"png": png, "width": frame.width, "height": frame.height, "output": name}))
        }
    });
    match result {
        Ok(v) => ipc::ok(v),
        Err(e) => ipc::err(format!("{e:#}")),
    }
}

fn png_base64(frame: &crate::render::Frame<'_>) -> anyhow::Result<String> {
    use base64::Engine as _;
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, frame.width as u32, frame.height as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&frame.to_rgba())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn window_op(state: &mut State, id: WindowId, op: WindowOp) -> Value {
    if state.windows.get(id).is_none() {
        return ipc::err(format!("no window {id}"));
    }
    let done = match op {
        WindowOp::Focus => {
            state.set_minimized(id, false);
            state.focus_window(Some(id));
            true
        }
        WindowOp::Close => state.close_window(id),
        WindowOp::Maximize => state.set_maximized(id, true),
        WindowOp::Unmaximize => state.set_maximized(id, false),
        WindowOp::Minimize => state.set_minimized(id, true),
        WindowOp::Restore => state.set_minimized(id, false),
        WindowOp::Move { x, y } => state.move_window(id, x, y),
        WindowOp::Resize { width, height } => state.request_size(id, width, height),
    };
    if done {
        ipc::ok(Value::Null)
    } else {
        ipc::err(format!("window {id} cannot do that"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_dir_must_be_ours_and_not_writable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let uid = rustix::process::getuid().as_raw();
        let dir = std::env::temp_dir().join(format!("wayrail-rt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (mode, fine) in [(0o700, true), (0o755, true), (0o775, false), (0o1777, false)] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(check_private_dir(&dir, uid).is_ok(), fine, "{mode:o}");
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_private_dir(&dir, uid + 1).unwrap_err().to_string();
        assert!(err.contains("not to us"), "{err}");
        std::fs::remove_dir(&dir).unwrap();
        assert!(check_private_dir(&dir, uid).is_err());
    }
}
