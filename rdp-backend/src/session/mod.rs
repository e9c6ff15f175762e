//! One RDP connection: the connection sequence (`connection`), then a loop that reads client
//! PDUs and the compositor's commands and hands each to the channel it belongs to: input
//! (`input`), graphics (`egfx`), monitors (`display`), RemoteApp (`rail`), clipboard
//! (`clipboard`). Every frame in flight is in `frames`, the one place that says a frame is done.
//! Anything malformed ends this session with a logged reason and nothing else.

mod applist;
mod audio;
mod clipboard;
mod connection;
mod display;
mod egfx;
mod finalization;
mod frames;
mod input;
mod mic;
mod nla;
mod queue;
mod rail;
mod vail;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ironrdp_core::decode;
use ironrdp_pdu::mcs;
use ironrdp_pdu::x224::X224;
use ironrdp_pdu::Action;
use tokio::sync::{mpsc, oneshot};

use self::connection::{Accepted, Connection, ProtocolIndependentCode};
use self::display::Desktop;
use self::egfx::Graphics;
use self::rail::RemoteApp;
use crate::clipboard::{ClipboardChannel, ClipboardState};
use crate::input::InputTranslator;
use crate::monitors::HostMonitor;
use crate::reassembly::{ChunkScreen, MAX_REASSEMBLY};
use crate::transport::BoxStream;
use crate::{Credentials, DesktopFrame, HostEvent, SessionId};

pub(crate) use self::frames::FrameSink;
use self::frames::FrameTracker;
pub(crate) use self::queue::{undeliverable, SessionQueue};

pub(crate) struct SessionSetup {
    pub id: SessionId,
    pub tls: tokio_rustls::TlsAcceptor,
    /// The public key of the TLS certificate, which NLA binds the login to.
    pub tls_public_key: std::sync::Arc<[u8]>,
    pub credentials: Option<Credentials>,
    /// Failed logins per peer address, shared by every session of the server.
    pub backoff: Rc<RefCell<crate::auth::Backoff>>,
    /// The session the host listens to: the events of every other one are dropped.
    pub active: Rc<Cell<Option<SessionId>>>,
    pub default_size: (u16, u16),
    /// How long the client may take for the first byte of its connection request.
    pub first_byte_timeout: std::time::Duration,
    /// How long one write to the connected client may wait for it to read.
    pub write_timeout: std::time::Duration,
    /// Set by the server to end the session at once, with the reason, even in the middle of
    /// a write (its queue overflowed).
    pub stop: tokio::sync::watch::Receiver<Option<String>>,
    pub notes: mpsc::UnboundedSender<Note>,
    pub host: calloop::channel::Sender<HostEvent>,
    /// The newest cursor; every session shows it from its start.
    pub pointer: tokio::sync::watch::Receiver<Option<crate::Pointer>>,
    /// Which programs the client may start.
    pub exec: crate::ExecPolicy,
    /// Where VAIL pools go, when the host can take them.
    pub vail_dir: Option<std::path::PathBuf>,
    /// Where the session registers its VAIL pools for the compositor's direct writes.
    pub vail_pools: wayrail_vail::DirectPools,
    /// Sound for the host, when wayrail plays it.
    pub audio: Option<std::sync::Arc<wayrail_audio::AudioHub>>,
    /// How the host's app list is made; None: no app list.
    pub applist: Option<wayrail_applist::AppListConfig>,
    /// `[rdp] h264`.
    pub h264: crate::H264Mode,
}

/// What a session tells the server task.
#[derive(Debug)]
pub(crate) enum Note {
    /// The session logged in and wants to become the active one; the server answers with
    /// `decision` (Err: why not), and the session waits for it before it does anything.
    Activated {
        id: SessionId,
        peer: String,
        user: String,
        decision: oneshot::Sender<Result<(), String>>,
        width: u16,
        height: u16,
        keyboard_layout: u32,
        remote_app: bool,
        monitors: Vec<HostMonitor>,
    },
    Ended {
        id: SessionId,
        reason: String,
    },
}

#[derive(Debug)]
pub(crate) enum SessionCmd {
    Frame(DesktopFrame),
    WindowFrame(crate::WindowFrame),
    Rail(crate::RailCommand),
    Clipboard(crate::ClipboardCommand),
    /// Another session took over: the client is told so and the session ends.
    Stop(String),
    /// wayrail shuts down: the session says goodbye (the app list's provider removed from the
    /// host, a disconnect) and ends.
    Shutdown,
}

pub(crate) async fn run(stream: BoxStream, peer: String, setup: SessionSetup, cmds: mpsc::Receiver<SessionCmd>) {
    let id = setup.id;
    let notes = setup.notes.clone();
    tracing::info!(session = id, %peer, "connection");
    // On a task of its own so that a panic (in a decoder, say) ends only this session, and
    // still as an ordinary end the server and the host hear of.
    let task = tokio::task::spawn_local({
        let peer = peer.clone();
        async move { session(stream, &peer, &setup, cmds).await }
    });
    let reason = match task.await {
        Ok(Ok(reason)) => reason,
        Ok(Err(err)) => format!("{err:#}"),
        Err(err) => format!("the session failed: {err}"),
    };
    tracing::info!(session = id, %peer, "session ended: {reason}");
    let _ = notes.send(Note::Ended { id, reason });
}

async fn session(
    stream: BoxStream,
    peer: &str,
    setup: &SessionSetup,
    mut cmds: mpsc::Receiver<SessionCmd>,
) -> anyhow::Result<String> {
    let accepted = connection::accept(stream, peer, setup).await?;
    let Accepted {
        mut conn,
        width,
        height,
        keyboard_layout,
        monitors,
        user,
        remote_app,
        large_pointer,
        sound_encoder,
        applist,
        mut events,
    } = accepted;
    tracing::info!(
        session = setup.id,
        width,
        height,
        keyboard_layout = format!("{keyboard_layout:#x}"),
        "client connected"
    );
    tracing::info!(session = setup.id, remote_app, monitors = ?monitors, "session mode and monitors");
    let (decision, decided) = oneshot::channel();
    let _ = setup.notes.send(Note::Activated {
        id: setup.id,
        peer: peer.to_owned(),
        user,
        decision,
        width,
        height,
        keyboard_layout,
        remote_app,
        monitors: monitors.clone(),
    });
    match decided.await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            conn.refuse(ProtocolIndependentCode::ServerInsufficientPrivileges).await;
            return Ok(why);
        }
        Err(_) => return Ok("the server is shutting down".into()),
    }

    let mut session = Session {
        id: setup.id,
        conn,
        host: setup.host.clone(),
        active: setup.active.clone(),
        ending: false,
        frames: FrameTracker::new(setup.host.clone()),
        input: InputTranslator::default(),
        desktop: Desktop { width, height, monitors, suppressed: false },
        graphics: Graphics::new(setup.h264),
        vail: vail::Vail::default(),
        rail: remote_app.then(RemoteApp::new),
        exec: crate::exec::ExecGate::new(setup.exec.clone(), setup.applist.as_ref().and_then(|a| a.data_dirs.clone())),
        clipboard: ClipboardState::new(setup.id),
        pointer: setup.pointer.clone(),
        large_pointer,
        chunks: ChunkScreen::default(),
        sound: setup.audio.clone().zip(sound_encoder).map(|(hub, encoder)| audio::Sound {
            hub,
            started: std::time::Instant::now(),
            encoder,
            flush_at: None,
        }),
        mic: setup.audio.as_ref().and_then(|hub| hub.mic.clone()).map(mic::MicInput::new),
        applist,
        held: None,
    };
    session.conn.start_channels().await?;
    session.pointer.mark_changed();
    tracing::debug!(session = session.id, large_pointer = session.large_pointer, "pointer support");
    let reason = session.run(&mut cmds, &mut events).await;
    session.end(&mut cmds);
    reason
}

/// A connected client and, side by side, the state of each of its channels.
struct Session {
    id: SessionId,
    conn: Connection,
    host: calloop::channel::Sender<HostEvent>,
    /// Which session is active: once it is another one, this one's events are dropped.
    active: Rc<Cell<Option<SessionId>>>,
    /// The session is over: what it still tells the host undoes its own effects (held keys
    /// released, its clipboard gone), which the host needs even after a takeover.
    ending: bool,
    /// Every frame sent and not yet done.
    frames: FrameTracker,
    input: InputTranslator,
    desktop: Desktop,
    graphics: Graphics,
    /// Whether RemoteApp windows go through shared memory (gfxredir) in this session.
    vail: vail::Vail,
    /// Set in RemoteApp sessions.
    rail: Option<RemoteApp>,
    /// What the client may start, and how often (RemoteApp sessions only).
    exec: crate::exec::ExecGate,
    clipboard: ClipboardState,
    pointer: tokio::sync::watch::Receiver<Option<crate::Pointer>>,
    large_pointer: bool,
    /// Static channel chunks, held to the reassembly cap.
    chunks: ChunkScreen,
    /// Sound to the host (`rdpsnd`), when wayrail plays it.
    sound: Option<audio::Sound>,
    /// The host's microphone (`AUDIO_INPUT`), when the sound server has a source for it.
    mic: Option<mic::MicInput>,
    /// The host's start-menu list of this machine's apps.
    applist: applist::AppList,
    /// The command that ended a batch of window frames, taken next.
    held: Option<SessionCmd>,
}

impl Session {
    async fn run(
        &mut self,
        cmds: &mut mpsc::Receiver<SessionCmd>,
        events: &mut connection::ChannelEvents,
    ) -> anyhow::Result<String> {
        let mut stop = self.conn.stop_signal();
        loop {
            let bitmap_at = self.bitmap_deadline();
            let refresh_at = self.refresh_deadline();
            tokio::select! {
                pdu = self.conn.read_pdu() => {
                    let (action, frame) = match pdu {
                        Ok(p) => p,
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok("the client closed the connection".into()),
                        Err(e) => return Err(anyhow::anyhow!(e).context("reading from the client")),
                    };
                    if let Some(reason) = self.handle_pdu(action, &frame).await? {
                        return Ok(reason);
                    }
                }
                cmd = next_cmd(&mut self.held, cmds) => match cmd {
                    Some(SessionCmd::Frame(frame)) => self.send_frame(frame).await?,
                    Some(SessionCmd::WindowFrame(frame)) => {
                        let (frames, next) = rail::take_window_frames(frame, cmds);
                        self.held = next;
                        self.send_window_frames(frames).await?
                    }
                    Some(SessionCmd::Rail(command)) => {
                        let window = self.applist_window_of(&command);
                        self.apply_rail(command).await?;
                        if let Some(window) = window {
                            self.applist_window(window).await?;
                        }
                    }
                    Some(SessionCmd::Clipboard(command)) => {
                        self.with_clipboard(|state, channel, out| state.on_command(channel, command, out)).await?
                    }
                    Some(SessionCmd::Stop(reason)) => {
                        self.conn.refuse(ProtocolIndependentCode::DisconnectedByOtherconnection).await;
                        return Ok(reason);
                    }
                    Some(SessionCmd::Shutdown) | None => {
                        self.applist_goodbye().await;
                        self.conn.disconnect().await;
                        return Ok("the server is shutting down".into());
                    }
                },
                Some(event) = events.gfx.recv() => self.handle_gfx(event).await?,
                changed = self.pointer.changed() => {
                    if changed.is_ok() {
                        self.send_pointer().await?;
                    }
                }
                Some(layout) = events.layouts.recv() => self.handle_layout(layout).await?,
                Some(event) = events.vail.recv() => self.handle_vail(event).await?,
                Some(packet) = audio::next(&mut events.sound) => self.send_sound(packet).await?,
                () = clipboard::deadline(audio::flush_deadline(&self.sound)) => self.flush_sound().await?,
                Some(wake) = mic::next(&mut self.mic) => self.on_mic(wake).await?,
                Some(msg) = events.applist.recv() => self.handle_applist(msg).await?,
                why = connection::wait_stop(&mut stop) => {
                    self.conn.disconnect().await;
                    return Ok(why);
                }
                () = clipboard::deadline(bitmap_at) => self.start_bitmap_mode(),
                () = clipboard::deadline(refresh_at) => self.refresh_surfaces().await?,
                () = clipboard::deadline(self.clipboard.deadline()) => {
                    self.with_clipboard(|state, _, out| state.on_timeout(out)).await?
                }
            }
        }
    }

    /// The session is over: the compositor hears the clipboard's end, keys and buttons are
    /// released, and every frame is done, those still queued for this session included.
    fn end(&mut self, cmds: &mut mpsc::Receiver<SessionCmd>) {
        self.ending = true;
        for event in self.clipboard.on_end() {
            self.send_host(HostEvent::Clipboard(event));
        }
        self.release_input();
        self.frames.release_all();
        cmds.close();
        while let Some(cmd) = self.held.take().or_else(|| cmds.try_recv().ok()) {
            match cmd {
                SessionCmd::Frame(frame) => self.frames.done_now(frame.frame),
                SessionCmd::WindowFrame(frame) => self.frames.done_now(frame.frame),
                SessionCmd::Rail(_) | SessionCmd::Clipboard(_) | SessionCmd::Stop(_) | SessionCmd::Shutdown => {}
            }
        }
    }

    /// Tells the host, unless another session took over (or this one never became active).
    fn send_host(&self, event: HostEvent) {
        if !self.ending && self.active.get() != Some(self.id) {
            tracing::debug!(session = self.id, "event of an inactive session dropped: {event:?}");
            return;
        }
        let _ = self.host.send(event);
    }

    /// Returns Some(reason) when the client ended the session.
    async fn handle_pdu(&mut self, action: Action, frame: &[u8]) -> anyhow::Result<Option<String>> {
        if matches!(action, Action::FastPath) {
            self.handle_fast_path_input(frame)?;
            return Ok(None);
        }
        let message: X224<mcs::McsMessage<'_>> =
            decode(frame).map_err(|e| anyhow::anyhow!("malformed X.224/MCS PDU: {e}"))?;
        match message.0 {
            mcs::McsMessage::SendDataRequest(data) => {
                let channel = data.channel_id;
                if channel == self.conn.result.io_channel_id {
                    return self.handle_io_channel(&data.user_data);
                }
                let Some(name) = self.conn.channel_name(channel) else {
                    tracing::debug!(session = self.id, channel, "data for an unknown channel ignored");
                    return Ok(None);
                };
                let clipboard = Some(channel) == self.conn.channel_id::<ClipboardChannel>();
                if clipboard && !self.screen_clipboard_fragment(&data.user_data) {
                    return Ok(None);
                }
                // The clipboard drops what its own cap refuses (above); anything else over the
                // cap ends the session.
                let cap = if clipboard { crate::clipboard::MAX_CLIPBOARD_BYTES + 64 } else { MAX_REASSEMBLY };
                if let Err(why) = self.chunks.check(channel, &data.user_data, cap) {
                    tracing::warn!(session = self.id, channel, "channel {name}: {why}");
                    anyhow::bail!("refused data on channel {name} ({channel}): {why}");
                }
                self.conn.process_svc(channel, &data.user_data).await?;
                if Some(channel) == self.conn.channel_id::<wayrail_rail::RailChannel>() {
                    self.handle_rail_events().await?;
                }
                if clipboard {
                    self.with_clipboard(|state, channel, out| state.on_channel(channel, out)).await?;
                }
                Ok(None)
            }
            mcs::McsMessage::DisconnectProviderUltimatum(_) => Ok(Some("the client disconnected".into())),
            other => {
                tracing::debug!(session = self.id, "MCS message ignored: {}", mcs_name(&other));
                Ok(None)
            }
        }
    }

    async fn send_pointer(&mut self) -> anyhow::Result<()> {
        let pointer = self.pointer.borrow_and_update().clone();
        let Some(pointer) = pointer else { return Ok(()) };
        match crate::pointer::encode(&pointer, self.large_pointer) {
            Ok(bytes) => self.conn.write(&bytes).await?,
            Err(err) => tracing::warn!(session = self.id, "pointer not sent: {err:#}"),
        }
        Ok(())
    }
}

/// The command held back from the last batch, or the next one.
async fn next_cmd(held: &mut Option<SessionCmd>, cmds: &mut mpsc::Receiver<SessionCmd>) -> Option<SessionCmd> {
    match held.take() {
        Some(cmd) => Some(cmd),
        None => cmds.recv().await,
    }
}

fn mcs_name(message: &mcs::McsMessage<'_>) -> &'static str {
    match message {
        mcs::McsMessage::ErectDomainRequest(_) => "ErectDomainRequest",
        mcs::McsMessage::AttachUserRequest(_) => "AttachUserRequest",
        mcs::McsMessage::AttachUserConfirm(_) => "AttachUserConfirm",
        mcs::McsMessage::ChannelJoinRequest(_) => "ChannelJoinRequest",
        mcs::McsMessage::ChannelJoinConfirm(_) => "ChannelJoinConfirm",
        mcs::McsMessage::SendDataIndication(_) => "SendDataIndication",
        _ => "other",
    }
}
