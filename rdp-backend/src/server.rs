//! The RDP thread: listeners, the sessions, and which one is active.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::auth;
use crate::clipboard::ClipboardCommand;
use crate::session::{self, undeliverable, Note, SessionCmd, SessionQueue, SessionSetup};
use crate::transport::{BoxStream, Listener};
use crate::{ClipboardSender, DesktopFrame, HostEvent, Pointer, RailCommand, RdpConfig, SessionId, WindowFrame};

/// The compositor's side of the RDP server.
pub struct RdpHandle {
    frames: mpsc::Sender<DesktopFrame>,
    window_frames: mpsc::Sender<WindowFrame>,
    rail: mpsc::UnboundedSender<RailCommand>,
    pointer: tokio::sync::watch::Sender<Option<Pointer>>,
    clipboard: ClipboardSender,
    /// What each listener is bound to (TCP port 0 resolved).
    pub listening: Vec<String>,
    _thread: std::thread::JoinHandle<()>,
}

impl RdpHandle {
    /// Hands a frame to the active session without waiting; false when the queue is full (the
    /// compositor sends the next one after a `FrameDone`, so this only happens when it ignores that).
    pub fn send_frame(&self, frame: DesktopFrame) -> bool {
        self.frames.try_send(frame).is_ok()
    }

    /// Whether the RDP thread still runs (it ends only when every listener is gone or it panicked).
    pub fn is_running(&self) -> bool {
        !self._thread.is_finished()
    }

    /// Hands a RemoteApp window's frame to the active session without waiting; false when
    /// the queue is full.
    pub fn send_window_frame(&self, frame: WindowFrame) -> bool {
        self.window_frames.try_send(frame).is_ok()
    }

    /// Tells the active RemoteApp session about a window change (never blocks; these are
    /// small and must not be lost).
    pub fn send_rail(&self, command: RailCommand) {
        let _ = self.rail.send(command);
    }

    /// Sets the cursor the host shows; only the newest one matters, so this never blocks.
    pub fn set_pointer(&self, pointer: Pointer) {
        self.pointer.send_replace(Some(pointer));
    }

    /// A sender for clipboard commands that worker threads can own.
    pub fn clipboard(&self) -> ClipboardSender {
        self.clipboard.clone()
    }
}

pub struct RdpServer;

impl RdpServer {
    /// Binds every listener (so address errors show at startup), then serves on a thread of
    /// its own. Host events go to `host`.
    pub fn spawn(config: RdpConfig, host: calloop::channel::Sender<HostEvent>) -> anyhow::Result<RdpHandle> {
        let tls = tokio_rustls::TlsAcceptor::from(crate::tls::server_config(&config.tls)?);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let listeners = runtime.block_on(async {
            let mut out = Vec::new();
            for addr in &config.listen {
                let l = Listener::bind(addr).await.map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
                out.push(l);
            }
            anyhow::Ok(out)
        })?;
        if config.credentials.is_none() {
            if let Some(open) = listeners.iter().find(|l| tcp_beyond_loopback(l)) {
                anyhow::bail!(
                    "no login is required, which is for trusted transports only, and {} is a TCP \
                     address beyond loopback: set credentials or listen on a loopback, unix or vsock address",
                    open.local_addr()
                );
            }
            tracing::warn!("no login is required: anyone who reaches a listener gets the session");
        }
        let listening: Vec<String> = listeners.iter().map(Listener::local_addr).collect();
        for l in &listening {
            tracing::info!("RDP listening on {l}");
        }
        let (frames_tx, frames_rx) = mpsc::channel(4);
        let (pointer_tx, pointer_rx) = tokio::sync::watch::channel(None);
        let (window_frames_tx, window_frames_rx) = mpsc::channel(256);
        let (rail_tx, rail_rx) = mpsc::unbounded_channel();
        let (clipboard_tx, clipboard_rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new().name("wayrail-rdp".into()).spawn(move || {
            // ironrdp's futures are not Send: everything runs on this one thread.
            let local = tokio::task::LocalSet::new();
            local.block_on(
                &runtime,
                serve(
                    listeners,
                    config,
                    tls,
                    host,
                    FromCompositor {
                        frames: frames_rx,
                        pointer: pointer_rx,
                        window_frames: window_frames_rx,
                        rail: rail_rx,
                        clipboard: clipboard_rx,
                    },
                ),
            );
        })?;
        Ok(RdpHandle {
            frames: frames_tx,
            window_frames: window_frames_tx,
            rail: rail_tx,
            pointer: pointer_tx,
            // Clipboard commands to the active session, from any thread, never blocking.
            clipboard: ClipboardSender::new(move |command| {
                let _ = clipboard_tx.send(command);
            }),
            listening,
            _thread: thread,
        })
    }
}

/// Whether `listener` is a TCP listener that a peer beyond this machine may reach.
fn tcp_beyond_loopback(listener: &Listener) -> bool {
    match listener {
        Listener::Tcp(l) => l.local_addr().map_or(true, |a| !a.ip().is_loopback()),
        Listener::Unix(..) | Listener::Vsock(_) => false,
    }
}

struct Active {
    id: SessionId,
    peer: String,
    user: String,
}

/// Hands `command` to the active session without waiting; what no session takes is undone
/// at once (see [`undeliverable`]).
fn deliver(
    active: &Option<Active>,
    sessions: &HashMap<SessionId, SessionQueue>,
    host: &calloop::channel::Sender<HostEvent>,
    command: SessionCmd,
) {
    let queue = active.as_ref().and_then(|a| sessions.get(&a.id));
    let unsent = match queue {
        Some(queue) => queue.deliver(command).err(),
        None => Some(command),
    };
    if let Some(command) = unsent {
        undeliverable(command, host);
    }
}

/// Connections closed at once because too many others are still connecting, logged at most
/// once per `REFUSAL_LOG_INTERVAL` (a flood must not flood the log too).
#[derive(Default)]
struct Refusals {
    last_report: Option<Instant>,
    unreported: u64,
}

const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Refusals {
    fn refused(&mut self, peer: &str, pending: usize) {
        self.unreported += 1;
        if self.last_report.is_some_and(|at| at.elapsed() < REFUSAL_LOG_INTERVAL) {
            return;
        }
        tracing::warn!(
            %peer,
            refused = self.unreported,
            "connection refused: {pending} connections are in the connection sequence already \
             (the limit; refusals are logged at most every {REFUSAL_LOG_INTERVAL:?})"
        );
        self.last_report = Some(Instant::now());
        self.unreported = 0;
    }
}

/// What the compositor sends to the RDP thread.
struct FromCompositor {
    frames: mpsc::Receiver<DesktopFrame>,
    pointer: tokio::sync::watch::Receiver<Option<Pointer>>,
    window_frames: mpsc::Receiver<WindowFrame>,
    rail: mpsc::UnboundedReceiver<RailCommand>,
    clipboard: mpsc::UnboundedReceiver<ClipboardCommand>,
}

async fn serve(
    listeners: Vec<Listener>,
    config: RdpConfig,
    tls: tokio_rustls::TlsAcceptor,
    host: calloop::channel::Sender<HostEvent>,
    inputs: FromCompositor,
) {
    let FromCompositor { mut frames, pointer, mut window_frames, mut rail, mut clipboard } = inputs;
    let (conn_tx, mut conn_rx) = mpsc::channel::<(BoxStream, String)>(8);
    for listener in listeners {
        let tx = conn_tx.clone();
        tokio::task::spawn_local(async move {
            loop {
                match listener.accept().await {
                    Ok(conn) => {
                        if tx.send(conn).await.is_err() {
                            return;
                        }
                    }
                    Err(err) => {
                        tracing::warn!("accepting on {}: {err}", listener.local_addr());
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    drop(conn_tx);

    let (notes_tx, mut notes_rx) = mpsc::unbounded_channel::<Note>();
    let mut sessions: HashMap<SessionId, SessionQueue> = HashMap::new();
    let mut active: Option<Active> = None;
    // The sessions read it to know whether the host still listens to them.
    let active_id: Rc<Cell<Option<SessionId>>> = Rc::new(Cell::new(None));
    let backoff = Rc::new(RefCell::new(auth::Backoff::default()));
    let mut next_id: SessionId = 1;
    // Sessions still in the connection sequence, and the connections refused for them.
    let mut pending: HashSet<SessionId> = HashSet::new();
    let mut refusals = Refusals::default();

    loop {
        tokio::select! {
            Some((stream, peer)) = conn_rx.recv() => {
                if pending.len() >= config.limits.max_pending {
                    refusals.refused(&peer, pending.len());
                    drop(stream);
                    continue;
                }
                let id = next_id;
                next_id += 1;
                let (queue, rx, stop) = SessionQueue::new(id, host.clone());
                sessions.insert(id, queue);
                pending.insert(id);
                let setup = SessionSetup {
                    id,
                    tls: tls.clone(),
                    credentials: config.credentials.clone(),
                    backoff: backoff.clone(),
                    active: active_id.clone(),
                    default_size: config.default_size,
                    first_byte_timeout: config.limits.first_byte_timeout,
                    write_timeout: config.limits.write_timeout,
                    stop,
                    notes: notes_tx.clone(),
                    host: host.clone(),
                    pointer: pointer.clone(),
                    exec: config.exec.clone(),
                };
                tokio::task::spawn_local(session::run(stream, peer, setup, rx));
            }
            Some(note) = notes_rx.recv() => match note {
                Note::Activated { id, peer, user, decision, width, height, keyboard_layout, remote_app, monitors } => {
                    pending.remove(&id);
                    if let Some(live) = &active {
                        if !auth::may_take_over(config.takeover, &live.user, &user) {
                            tracing::warn!(
                                session = id,
                                %peer,
                                user,
                                live_session = live.id,
                                live_peer = %live.peer,
                                live_user = live.user,
                                "takeover refused by the {} policy: the live session stays", config.takeover
                            );
                            let _ = decision.send(Err(format!(
                                "takeover refused by the {} policy: session {} is live",
                                config.takeover, live.id
                            )));
                            continue;
                        }
                    }
                    if decision.send(Ok(())).is_err() {
                        // The session ended while it waited; its end note follows.
                        continue;
                    }
                    if let Some(old) = active.take() {
                        tracing::warn!(
                            session = id,
                            %peer,
                            user,
                            old_session = old.id,
                            old_peer = %old.peer,
                            old_user = old.user,
                            "a new session takes over"
                        );
                        if let Some(queue) = sessions.get(&old.id) {
                            // Never lost to a full queue (it waits in the backlog); its input is
                            // dropped from now on anyway, as it is no longer the active one.
                            let _ = queue.deliver(SessionCmd::Stop("replaced by a new connection".into()));
                        }
                        let _ = host.send(HostEvent::Disconnected { session: old.id, reason: "replaced by a new connection".into() });
                    }
                    active = Some(Active { id, peer, user });
                    active_id.set(Some(id));
                    let _ = host.send(HostEvent::Connected { session: id, width, height, keyboard_layout, remote_app, monitors });
                }
                Note::Ended { id, reason } => {
                    sessions.remove(&id);
                    pending.remove(&id);
                    if active.as_ref().is_some_and(|a| a.id == id) {
                        active = None;
                        active_id.set(None);
                        let _ = host.send(HostEvent::Disconnected { session: id, reason });
                    }
                }
            },
            Some(frame) = frames.recv() => deliver(&active, &sessions, &host, SessionCmd::Frame(frame)),
            Some(frame) = window_frames.recv() => deliver(&active, &sessions, &host, SessionCmd::WindowFrame(frame)),
            // Without a session nothing is lost: a new session is told every window.
            Some(command) = rail.recv() => deliver(&active, &sessions, &host, SessionCmd::Rail(command)),
            Some(command) = clipboard.recv() => deliver(&active, &sessions, &host, SessionCmd::Clipboard(command)),
            else => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_reported_once_per_interval_with_their_count() {
        let mut refusals = Refusals::default();
        refusals.refused("a", 16);
        let first = refusals.last_report.expect("the first refusal is reported");
        assert_eq!(refusals.unreported, 0);
        refusals.refused("b", 16);
        refusals.refused("c", 16);
        assert_eq!((refusals.last_report, refusals.unreported), (Some(first), 2), "the next ones wait");
        // Once the interval is over, the next refusal reports all three.
        refusals.last_report = Some(first - REFUSAL_LOG_INTERVAL);
        refusals.refused("d", 16);
        assert_eq!(refusals.unreported, 0);
        assert!(refusals.last_report.is_some_and(|at| at > first - REFUSAL_LOG_INTERVAL));
    }
}
