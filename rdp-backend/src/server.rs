//! The RDP thread: listeners, the sessions, and which one is active.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::auth;
use crate::clipboard::{ClipboardCommand, ClipboardEvent};
use crate::session::{self, undeliverable, Note, SessionCmd, SessionQueue, SessionSetup};
use crate::transport::{BoxStream, Listener};
use crate::{ClipboardSender, DesktopFrame, HostEvent, Pointer, RailCommand, RdpConfig, SessionId, WindowFrame};

/// The compositor's side of the RDP server.
pub struct RdpHandle {
    frames: mpsc::Sender<DesktopFrame>,
    window_frames: mpsc::Sender<WindowFrame>,
    rail: mpsc::Sender<RailCommand>,
    /// Set when a command to the RDP thread found its queue full and was dropped.
    overflow: Arc<AtomicBool>,
    pointer: tokio::sync::watch::Sender<Option<Pointer>>,
    clipboard: ClipboardSender,
    /// What each listener is bound to (TCP port 0 resolved).
    pub listening: Vec<String>,
    _thread: std::thread::JoinHandle<()>,
    /// Dropped (or fired) when the compositor goes: the sessions say goodbye to their clients.
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Told when the RDP thread is done.
    ended: std::sync::mpsc::Receiver<()>,
    /// The sessions' VAIL pools, for the compositor's direct writes.
    vail_pools: wayrail_vail::DirectPools,
}

/// A VAIL pool as the compositor writes into it.
struct VailPool(wayrail_vail::DirectWriter);

impl wayrail_link::WindowPool for VailPool {
    fn serial(&self) -> u64 {
        self.0.serial()
    }

    fn size(&self) -> (u32, u32) {
        self.0.size()
    }

    fn write(
        &self,
        src: &[u8],
        stride: usize,
        opaque: bool,
        rects: &[wayrail_link::PoolRect],
        at: (u32, u32),
    ) -> Option<usize> {
        let rects: Vec<wayrail_vail::Rect> =
            rects.iter().map(|r| wayrail_vail::Rect::new(r.x, r.y, r.width, r.height)).collect();
        self.0.write(src, stride, opaque, &rects, at)
    }
}

/// How long wayrail's exit waits for the sessions' goodbyes (the app list's removal from the
/// host's start menu, the disconnect).
const GOODBYE_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

impl Drop for RdpHandle {
    fn drop(&mut self) {
        drop(self.shutdown.take());
        let _ = self.ended.recv_timeout(GOODBYE_WAIT);
    }
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

    /// Tells the active RemoteApp session about a window change. Never blocks: the queue
    /// holds `COMPOSITOR_QUEUE` changes, which the RDP thread (that never waits on a
    /// session) takes at once; should it be full all the same, the change is dropped and
    /// the active session is ended, so that the client's reconnection is told every window
    /// again (`Connected`) instead of going on with a window state that lacks a change.
    pub fn send_rail(&self, command: RailCommand) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.rail.try_send(command) {
            self.overflow.store(true, Ordering::Relaxed);
        }
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

/// The compositor holds the server as a `HostLink`; the methods above are the whole of it.
impl wayrail_link::HostLink for RdpHandle {
    fn listening(&self) -> &[String] {
        &self.listening
    }

    fn send_frame(&self, frame: DesktopFrame) -> bool {
        RdpHandle::send_frame(self, frame)
    }

    fn send_window_frame(&self, frame: WindowFrame) -> bool {
        RdpHandle::send_window_frame(self, frame)
    }

    fn send_rail(&self, command: RailCommand) {
        RdpHandle::send_rail(self, command)
    }

    fn set_pointer(&self, pointer: Pointer) {
        RdpHandle::set_pointer(self, pointer)
    }

    fn clipboard(&self) -> ClipboardSender {
        RdpHandle::clipboard(self)
    }

    fn stats(&self) -> wayrail_link::LinkStats {
        let (vail_presents, vail_bytes_copied) = wayrail_vail::process_totals();
        let codecs = crate::codec::totals();
        wayrail_link::LinkStats {
            vail_presents,
            vail_bytes_copied,
            vail_direct_copies: wayrail_vail::direct_writes_total(),
            egfx_clear_frames: codecs.clear_frames,
            egfx_clear_bytes: codecs.clear_bytes,
            egfx_avc420_frames: codecs.avc420_frames,
            egfx_avc420_bytes: codecs.avc420_bytes,
            egfx_lossless_refreshes: codecs.lossless_refreshes,
            egfx_progressive_frames: codecs.progressive_frames,
            egfx_progressive_bytes: codecs.progressive_bytes,
            egfx_avc444_frames: codecs.avc444_frames,
            egfx_avc444_bytes: codecs.avc444_bytes,
            egfx_merged_frames: codecs.merged_frames,
        }
    }

    fn window_pool(&self, window: u32) -> Option<Arc<dyn wayrail_link::WindowPool>> {
        let writer = self.vail_pools.get(window.into())?;
        Some(Arc::new(VailPool(writer)))
    }
}

pub struct RdpServer;

/// The name of the thread every session runs on (and encodes its frames on).
pub(crate) const RDP_THREAD: &str = "wayrail-rdp";

impl RdpServer {
    /// Binds every listener (so address errors show at startup), then serves on a thread of
    /// its own. Host events go to `host`.
    pub fn spawn(config: RdpConfig, host: calloop::channel::Sender<HostEvent>) -> anyhow::Result<RdpHandle> {
        let tls = tokio_rustls::TlsAcceptor::from(crate::tls::server_config(&config.tls)?);
        let tls_public_key: Arc<[u8]> = crate::tls::public_key(&config.tls)?.into();
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
        let (rail_tx, rail_rx) = mpsc::channel(COMPOSITOR_QUEUE);
        let (clipboard_tx, clipboard_rx) = mpsc::channel(COMPOSITOR_QUEUE);
        let overflow = Arc::new(AtomicBool::new(false));
        let clipboard_host = host.clone();
        let clipboard_overflow = overflow.clone();
        let thread_overflow = overflow.clone();
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel();
        let (ended_tx, ended) = std::sync::mpsc::channel();
        let vail_pools = wayrail_vail::DirectPools::default();
        let thread_vail_pools = vail_pools.clone();
        let thread = std::thread::Builder::new().name(RDP_THREAD.into()).spawn(move || {
            // ironrdp's futures are not Send: everything runs on this one thread.
            let local = tokio::task::LocalSet::new();
            local.block_on(
                &runtime,
                serve(
                    listeners,
                    config,
                    (tls, tls_public_key),
                    host,
                    FromCompositor {
                        frames: frames_rx,
                        pointer: pointer_rx,
                        window_frames: window_frames_rx,
                        rail: rail_rx,
                        clipboard: clipboard_rx,
                        overflow: thread_overflow,
                        shutdown: shutdown_rx,
                        vail_pools: thread_vail_pools,
                    },
                ),
            );
            let _ = ended_tx.send(());
        })?;
        Ok(RdpHandle {
            frames: frames_tx,
            window_frames: window_frames_tx,
            rail: rail_tx,
            overflow,
            pointer: pointer_tx,
            // Clipboard commands to the active session, from any thread, never blocking; on a
            // full queue (see `send_rail`) a paste fails at once and the session is ended.
            clipboard: ClipboardSender::new(move |command| {
                if let Err(mpsc::error::TrySendError::Full(command)) = clipboard_tx.try_send(command) {
                    clipboard_overflow.store(true, Ordering::Relaxed);
                    if let ClipboardCommand::Request { id, mime } = command {
                        let result = Err("the RDP thread is behind".to_owned());
                        let kind = crate::clipboard::FormatKind::UnicodeText;
                        let _ = clipboard_host.send(HostEvent::Clipboard(ClipboardEvent::HostData {
                            id,
                            kind,
                            mime,
                            result,
                        }));
                    }
                }
            }),
            listening,
            _thread: thread,
            shutdown: Some(shutdown),
            ended,
            vail_pools,
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

/// How the log names a session: "session 3 of \"bob\" from 127.0.0.1:50000".
impl std::fmt::Display for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session {} of {:?} from {}", self.id, self.user, self.peer)
    }
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
    rail: mpsc::Receiver<RailCommand>,
    clipboard: mpsc::Receiver<ClipboardCommand>,
    overflow: Arc<AtomicBool>,
    /// Resolves when the compositor goes.
    shutdown: tokio::sync::oneshot::Receiver<()>,
    /// Where sessions register their VAIL pools for the compositor.
    vail_pools: wayrail_vail::DirectPools,
}

/// The room of the queues from the compositor to the RDP thread that carry state (RemoteApp
/// windows, the clipboard): far more than a burst (every window announced at once) needs.
const COMPOSITOR_QUEUE: usize = 4096;

/// Ends the active session when a command for it was dropped on a full queue (see
/// [`RdpHandle::send_rail`]): its client is then out of step, and its reconnection is told
/// everything again.
fn check_overflow(overflow: &AtomicBool, active: &Option<Active>, sessions: &HashMap<SessionId, SessionQueue>) {
    if !overflow.swap(false, Ordering::Relaxed) {
        return;
    }
    // Without a session nothing is lost: the next one is told everything.
    if let Some(queue) = active.as_ref().and_then(|a| sessions.get(&a.id)) {
        let why = format!("the compositor's queue to the RDP thread overflowed ({COMPOSITOR_QUEUE} commands): the session is out of step and ends, its client's reconnection is told everything again");
        tracing::warn!(session = active.as_ref().map(|a| a.id), "{why}");
        queue.stop(why);
    }
}

async fn serve(
    listeners: Vec<Listener>,
    config: RdpConfig,
    (tls, tls_public_key): (tokio_rustls::TlsAcceptor, Arc<[u8]>),
    host: calloop::channel::Sender<HostEvent>,
    inputs: FromCompositor,
) {
    let FromCompositor {
        mut frames,
        pointer,
        mut window_frames,
        mut rail,
        mut clipboard,
        overflow,
        mut shutdown,
        vail_pools,
    } = inputs;
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
                let (queue, rx, stop) = SessionQueue::new(id, config.limits.max_queued_bytes, host.clone());
                sessions.insert(id, queue);
                pending.insert(id);
                let setup = SessionSetup {
                    id,
                    tls: tls.clone(),
                    tls_public_key: tls_public_key.clone(),
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
                    vail_dir: config.vail_dir.clone(),
                    vail_pools: vail_pools.clone(),
                    audio: config.audio.clone(),
                    applist: config.applist.clone(),
                    h264: config.h264,
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
                                %live,
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
                            %old,
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
            Some(command) = rail.recv() => {
                check_overflow(&overflow, &active, &sessions);
                deliver(&active, &sessions, &host, SessionCmd::Rail(command));
            }
            Some(command) = clipboard.recv() => {
                check_overflow(&overflow, &active, &sessions);
                deliver(&active, &sessions, &host, SessionCmd::Clipboard(command));
            }
            _ = &mut shutdown => {
                // Each session says goodbye to its client and ends.
                let mut live: HashSet<SessionId> = sessions.keys().copied().collect();
                tracing::info!(sessions = live.len(), "the compositor is gone: ending the sessions");
                for queue in sessions.values() {
                    let _ = queue.deliver(SessionCmd::Shutdown);
                }
                let deadline = tokio::time::Instant::now() + GOODBYE_WAIT;
                while !live.is_empty() {
                    match tokio::time::timeout_at(deadline, notes_rx.recv()).await {
                        Ok(Some(Note::Ended { id, .. })) => drop(live.remove(&id)),
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
                break;
            }
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

    #[test]
    fn a_dropped_command_ends_the_active_session_only() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async {
            let (host, _events) = calloop::channel::channel();
            let mut sessions = HashMap::new();
            let (live, _live_cmds, live_stop) = SessionQueue::new(1, 1 << 20, host.clone());
            let (other, _other_cmds, other_stop) = SessionQueue::new(2, 1 << 20, host);
            sessions.insert(1, live);
            sessions.insert(2, other);
            let active = Some(Active { id: 1, peer: "peer".into(), user: "alice".into() });
            let overflow = AtomicBool::new(false);
            check_overflow(&overflow, &active, &sessions);
            assert!(live_stop.borrow().is_none(), "nothing was dropped: the session goes on");
            overflow.store(true, Ordering::Relaxed);
            check_overflow(&overflow, &active, &sessions);
            let why = live_stop.borrow().clone().expect("the active session is stopped");
            assert!(why.contains("overflowed"), "{why}");
            assert!(other_stop.borrow().is_none(), "only the active session is out of step");
            assert!(!overflow.load(Ordering::Relaxed), "the overflow is handled once");
        });
    }
}
