//! One RDP connection: the connection sequence (X.224, TLS, MCS, capabilities) on
//! `ironrdp-acceptor`, then a loop that reads client PDUs and writes desktop frames.
//! Anything malformed ends this session with a logged reason and nothing else.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ironrdp_acceptor::{Acceptor, AcceptorResult, DesktopSize};
use ironrdp_async::FramedWrite as _;
use ironrdp_connector::Sequence as _;
use ironrdp_core::decode;
use ironrdp_displaycontrol::pdu::{DisplayControlCapabilities, DisplayControlMonitorLayout};
use ironrdp_displaycontrol::server::{DisplayControlHandler, DisplayControlServer};
use ironrdp_dvc::{encode_dvc_messages, DrdynvcServer};
use ironrdp_egfx::server::GraphicsPipelineServer;
use ironrdp_pdu::input::fast_path::FastPathInput;
use ironrdp_pdu::mcs::{self, DisconnectProviderUltimatum, DisconnectReason};
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::rdp::capability_sets as caps;
use ironrdp_pdu::rdp::headers::{ShareControlHeader, ShareControlPdu, ShareDataPdu};
use ironrdp_pdu::x224::X224;
use ironrdp_pdu::Action;
use ironrdp_svc::{server_encode_svc_messages, ChannelFlags};
use tokio::sync::mpsc;

use crate::clipboard::ClipboardChannel;
use crate::egfx::{DesktopSurface, GfxEvent, GfxHandler};
use crate::input::InputTranslator;
use crate::monitors::{self, HostMonitor};
use crate::tls::constant_time_eq;
use crate::transport::BoxStream;
use crate::{Credentials, DesktopFrame, HostEvent, SessionId};

/// How long a client may take for the whole connection sequence.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after activation a client may take to open EGFX before it gets bitmap updates.
const EGFX_GRACE: Duration = Duration::from_secs(2);
/// The largest desktop a client may ask for.
const MAX_DESKTOP: DesktopSize = DesktopSize { width: 8192, height: 8192 };

pub(crate) struct SessionSetup {
    pub id: SessionId,
    pub tls: tokio_rustls::TlsAcceptor,
    pub credentials: Option<Credentials>,
    pub default_size: (u16, u16),
    pub notes: mpsc::UnboundedSender<Note>,
    pub host: calloop::channel::Sender<HostEvent>,
    /// The newest cursor; every session shows it from its start.
    pub pointer: tokio::sync::watch::Receiver<Option<crate::Pointer>>,
}

/// What a session tells the server task.
#[derive(Debug)]
pub(crate) enum Note {
    Activated {
        id: SessionId,
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
    Stop(String),
}

pub(crate) async fn run(stream: BoxStream, peer: String, setup: SessionSetup, cmds: mpsc::Receiver<SessionCmd>) {
    let id = setup.id;
    let notes = setup.notes.clone();
    tracing::info!(session = id, %peer, "connection");
    // On a task of its own so that a panic (in a decoder, say) ends only this session, and
    // still as an ordinary end the server and the host hear of.
    let task = tokio::task::spawn_local(async move { session(stream, &setup, cmds).await });
    let reason = match task.await {
        Ok(Ok(reason)) => reason,
        Ok(Err(err)) => format!("{err:#}"),
        Err(err) => format!("the session failed: {err}"),
    };
    tracing::info!(session = id, %peer, "session ended: {reason}");
    let _ = notes.send(Note::Ended { id, reason });
}

struct DisplayHandler {
    tx: mpsc::UnboundedSender<DisplayControlMonitorLayout>,
}

impl DisplayControlHandler for DisplayHandler {
    /// Up to 16 monitors of up to 8K each, so clients send their true multi-monitor layouts
    /// (the default, one 3840x2400 monitor, makes them send one monitor or none).
    fn capabilities(&self) -> ironrdp_pdu::PduResult<DisplayControlCapabilities> {
        // Constant and within the encoding's limits; the fallback is never taken.
        Ok(DisplayControlCapabilities::new(monitors::MAX_MONITORS as u32, 7680, 4320)
            .unwrap_or_else(|_| DisplayControlCapabilities::single_monitor()))
    }

    fn monitor_layout(&self, layout: DisplayControlMonitorLayout) {
        let _ = self.tx.send(layout);
    }
}

pub(crate) fn capabilities(size: DesktopSize) -> Vec<caps::CapabilitySet> {
    vec![
        caps::CapabilitySet::General(caps::General {
            extra_flags: caps::GeneralExtraFlags::FASTPATH_OUTPUT_SUPPORTED,
            refresh_rect_support: true,
            suppress_output_support: true,
            ..Default::default()
        }),
        caps::CapabilitySet::Bitmap(caps::Bitmap {
            pref_bits_per_pix: 32,
            desktop_width: size.width,
            desktop_height: size.height,
            desktop_resize_flag: true,
            drawing_flags: caps::BitmapDrawingFlags::empty(),
        }),
        caps::CapabilitySet::Order(caps::Order::new(
            caps::OrderFlags::empty(),
            caps::OrderSupportExFlags::empty(),
            2048,
            224,
        )),
        caps::CapabilitySet::SurfaceCommands(caps::SurfaceCommands { flags: caps::CmdFlags::all() }),
        caps::CapabilitySet::Pointer(caps::Pointer { color_pointer_cache_size: 32, pointer_cache_size: 32 }),
        caps::CapabilitySet::LargePointer(caps::LargePointer {
            flags: caps::LargePointerSupportFlags::UP_TO_384X384_PIXELS,
        }),
        caps::CapabilitySet::Input(caps::Input {
            input_flags: caps::InputFlags::SCANCODES
                | caps::InputFlags::MOUSEX
                | caps::InputFlags::FASTPATH_INPUT
                | caps::InputFlags::UNICODE
                | caps::InputFlags::FASTPATH_INPUT_2
                | caps::InputFlags::TS_MOUSE_HWHEEL,
            keyboard_layout: 0,
            keyboard_type: None,
            keyboard_subtype: 0,
            keyboard_function_key: 12,
            keyboard_ime_filename: String::new(),
        }),
        caps::CapabilitySet::VirtualChannel(caps::VirtualChannel {
            flags: caps::VirtualChannelFlags::NO_COMPRESSION,
            chunk_size: None,
        }),
        caps::CapabilitySet::MultiFragmentUpdate(caps::MultifragmentUpdate { max_request_size: 8 * 1024 * 1024 }),
        // RemoteApp, for the clients that ask for it.
        caps::CapabilitySet::Rail(caps::Rail {
            support_level: caps::RailSupportLevel::SUPPORTED
                | caps::RailSupportLevel::HANDSHAKE_EX_SUPPORTED
                | caps::RailSupportLevel::WINDOW_CLOAKING_SUPPORTED,
        }),
        caps::CapabilitySet::WindowList(caps::WindowList {
            support_level: caps::WindowSupportLevel::SupportedEx,
            num_icon_caches: 3,
            num_icon_cache_entries: 12,
        }),
    ]
}

type Framed = ironrdp_tokio::TokioFramed<tokio_rustls::server::TlsStream<BoxStream>>;

/// The connection sequence after TLS, step by step as `ironrdp_acceptor::accept_finalize`
/// runs it, plus two things the acceptor does not do: it keeps the client's monitors from
/// the Connect Initial (with their scale factors, which the acceptor drops), and it puts
/// them into the Monitor Layout PDU (where the acceptor lists one desktop-sized monitor).
async fn finalize(
    mut framed: Framed,
    acceptor: &mut Acceptor,
) -> anyhow::Result<(Framed, AcceptorResult, Option<Vec<HostMonitor>>)> {
    let mut buf = ironrdp_core::WriteBuf::new();
    let mut client_monitors = None;
    loop {
        if let Some(result) = acceptor.get_result() {
            return Ok((framed, result, client_monitors));
        }
        buf.clear();
        let sending_layout = acceptor.state().name() == "MonitorLayoutSend";
        let written = match acceptor.next_pdu_hint() {
            Some(hint) => {
                let pdu = framed.read_by_hint(hint).await.context("reading")?;
                if client_monitors.is_none() {
                    client_monitors = monitors::connect_initial_blocks(&pdu).map(|blocks| monitors::from_gcc(&blocks));
                }
                acceptor.step(&pdu, framed.last_read_at(), &mut buf)?
            }
            None => acceptor.step_no_input(&mut buf)?,
        };
        let Some(len) = written.size() else { continue };
        let mut bytes = buf.filled()[..len].to_vec();
        if sending_layout {
            if let Some(list) = client_monitors.clone().and_then(|m| monitors::validate(m).ok()) {
                match monitors::rewrite_monitor_layout(&bytes, &list) {
                    Some(rewritten) => bytes = rewritten,
                    None => tracing::warn!("the acceptor's monitor layout PDU could not be rewritten"),
                }
            }
        }
        framed.write_all(&bytes).await.context("writing")?;
    }
}

async fn session(stream: BoxStream, setup: &SessionSetup, cmds: mpsc::Receiver<SessionCmd>) -> anyhow::Result<String> {
    let size = DesktopSize { width: setup.default_size.0, height: setup.default_size.1 };
    let mut acceptor = Acceptor::new(SecurityProtocol::SSL, size, capabilities(size), None);
    acceptor.set_honor_client_desktop_size(Some(MAX_DESKTOP));
    let (gfx_tx, gfx_rx) = mpsc::unbounded_channel();
    let (display_tx, display_rx) = mpsc::unbounded_channel();
    acceptor.attach_static_channel(
        DrdynvcServer::new()
            .with_dynamic_channel(GraphicsPipelineServer::new(Box::new(GfxHandler { events: gfx_tx })))
            .with_dynamic_channel(DisplayControlServer::new(Box::new(DisplayHandler { tx: display_tx }))),
    );
    acceptor.attach_static_channel(wayrail_rail::RailChannel::default());
    acceptor.attach_static_channel(crate::clipboard::ClipboardChannel::default());

    let handshake = async {
        // `accept_begin` would do this, but it panics when the client sent more than its
        // connection request before the TLS handshake (`into_inner_no_leftover`).
        let mut framed = ironrdp_tokio::TokioFramed::new(stream);
        let mut buf = ironrdp_core::WriteBuf::new();
        let security = loop {
            if let Some(security) = acceptor.reached_security_upgrade() {
                break security;
            }
            ironrdp_async::single_sequence_step(&mut framed, &mut acceptor, &mut buf)
                .await
                .context("connection request")?;
        };
        if security.is_empty() {
            bail!("the client does not do TLS, which wayrail requires");
        }
        let (stream, leftover) = framed.into_inner();
        if !leftover.is_empty() {
            bail!("the client sent {} bytes after its connection request, before the TLS handshake", leftover.len());
        }
        let tls_stream = setup.tls.accept(stream).await.context("TLS handshake")?;
        acceptor.mark_security_upgrade_as_done();
        finalize(ironrdp_tokio::TokioFramed::new(tls_stream), &mut acceptor).await.context("connection sequence")
    };
    let (framed, mut result, client_monitors) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| anyhow::anyhow!("the client did not finish connecting within {HANDSHAKE_TIMEOUT:?}"))??;

    if let Some(expected) = &setup.credentials {
        let given = result.credentials.as_ref().map(|c| (c.username.clone(), c.password.clone()));
        let ok = given.as_ref().is_some_and(|(user, pass)| {
            constant_time_eq(user.as_bytes(), expected.username.as_bytes())
                & constant_time_eq(pass.as_bytes(), expected.password.as_bytes())
        });
        if !ok {
            bail!("login refused for user {:?}", given.map(|g| g.0).unwrap_or_default());
        }
    }

    let (width, height) = result
        .capabilities
        .iter()
        .find_map(|c| match c {
            caps::CapabilitySet::Bitmap(b) => Some((b.desktop_width, b.desktop_height)),
            _ => None,
        })
        .unwrap_or(setup.default_size);
    let keyboard_layout = result.keyboard_layout;
    // What the client said, or (when that makes no sense) one monitor of the desktop size.
    let single =
        vec![HostMonitor { x: 0, y: 0, width: width.into(), height: height.into(), primary: true, scale: 100 }];
    let client_monitors = match client_monitors.map(monitors::validate) {
        Some(Ok(list)) => list,
        Some(Err(why)) => {
            tracing::warn!(session = setup.id, "the client's monitor layout is refused ({why}): one monitor");
            single
        }
        None => single,
    };
    let (_, _, bw, bh) = monitors::bounding_box(&client_monitors);
    if (bw, bh) != (u32::from(width), u32::from(height)) {
        tracing::warn!(session = setup.id, width, height, bw, bh, "the desktop size is not the monitors' bounding box");
    }
    let (width, height) = (bw as u16, bh as u16);
    // Clients that want RemoteApp say so with a Rail capability set.
    let rail_caps = result.capabilities.iter().find_map(|c| match c {
        caps::CapabilitySet::Rail(r) => Some(r.support_level),
        _ => None,
    });
    let remote_app = rail_caps.is_some();
    if let Some(level) = rail_caps {
        if let Some(rail) = result
            .static_channels
            .get_by_type_mut::<wayrail_rail::RailChannel>()
            .and_then(|c| c.channel_processor_downcast_mut::<wayrail_rail::RailChannel>())
        {
            rail.handshake_ex = level.contains(caps::RailSupportLevel::HANDSHAKE_EX_SUPPORTED);
        }
    }
    tracing::info!(
        session = setup.id,
        width,
        height,
        keyboard_layout = format!("{keyboard_layout:#x}"),
        "client connected"
    );
    tracing::info!(session = setup.id, remote_app, monitors = ?client_monitors, "session mode and monitors");
    let _ = setup.notes.send(Note::Activated {
        id: setup.id,
        width,
        height,
        keyboard_layout,
        remote_app,
        monitors: client_monitors.clone(),
    });

    let large_pointer = result.capabilities.iter().any(|c| matches!(c, caps::CapabilitySet::LargePointer(l) if l.flags.contains(caps::LargePointerSupportFlags::UP_TO_384X384_PIXELS)));
    let mut session = Session {
        clear: crate::egfx::new_encoder(),
        rail: remote_app.then(crate::remoteapp::RailState::default),
        mapping: crate::remoteapp::Mapping::ScaledWindow,
        scaled_map_disabled: false,
        acks_suspended: false,
        egfx_ready: false,
        bitmap_mode: false,
        large_pointer,
        pointer: setup.pointer.clone(),
        id: setup.id,
        framed,
        result,
        host: setup.host.clone(),
        input: InputTranslator::default(),
        surface: None,
        width,
        height,
        monitors: client_monitors,
        in_flight: Vec::new(),
        started: Instant::now(),
        output_suppressed: false,
        clipboard: crate::clipboard::ClipboardState::new(setup.id),
    };
    session.start_channels().await?;
    session.pointer.mark_changed();
    tracing::debug!(session = session.id, large_pointer = session.large_pointer, "pointer support");
    let reason = session.run(cmds, gfx_rx, display_rx).await;
    for event in session.clipboard.on_end() {
        session.send_host(HostEvent::Clipboard(event));
    }
    let mut released = Vec::new();
    session.input.release_all(&mut released);
    for e in released {
        let _ = session.host.send(e);
    }
    // Frames the client will never acknowledge now: let the apps go on.
    for (_, frame) in session.in_flight.drain(..) {
        let _ = session.host.send(HostEvent::FrameDone { frame });
    }
    reason
}

struct Session {
    /// The one ClearCodec encoder of this connection.
    clear: crate::egfx::SharedEncoder,
    /// Set in RemoteApp sessions.
    rail: Option<crate::remoteapp::RailState>,
    mapping: crate::remoteapp::Mapping,
    /// The client advertised SCALEDMAP_DISABLE.
    scaled_map_disabled: bool,
    /// The client suspended frame acknowledgements: frames count as shown once sent.
    acks_suspended: bool,
    egfx_ready: bool,
    bitmap_mode: bool,
    large_pointer: bool,
    pointer: tokio::sync::watch::Receiver<Option<crate::Pointer>>,
    id: SessionId,
    framed: Framed,
    result: AcceptorResult,
    host: calloop::channel::Sender<HostEvent>,
    input: InputTranslator,
    surface: Option<DesktopSurface>,
    width: u16,
    height: u16,
    /// The client's monitors; `width`×`height` is their bounding box.
    monitors: Vec<HostMonitor>,
    /// EGFX frame id → compositor frame number, oldest first.
    in_flight: Vec<(u32, u64)>,
    started: Instant,
    output_suppressed: bool,
    clipboard: crate::clipboard::ClipboardState,
}

impl Session {
    async fn start_channels(&mut self) -> anyhow::Result<()> {
        let user = self.result.user_channel_id;
        let mut out = Vec::new();
        for (_, channel, id) in self.result.static_channels.iter_mut() {
            let Some(id) = id else { continue };
            let messages = channel.start().context("starting a static channel")?;
            out.extend(server_encode_svc_messages(messages, id, user)?);
        }
        self.framed.write_all(&out).await.context("writing")?;
        Ok(())
    }

    async fn run(
        &mut self,
        mut cmds: mpsc::Receiver<SessionCmd>,
        mut gfx: mpsc::UnboundedReceiver<GfxEvent>,
        mut display: mpsc::UnboundedReceiver<DisplayControlMonitorLayout>,
    ) -> anyhow::Result<String> {
        loop {
            tokio::select! {
                pdu = self.framed.read_pdu() => {
                    let (action, frame) = match pdu {
                        Ok(p) => p,
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok("the client closed the connection".into()),
                        Err(e) => return Err(anyhow::anyhow!(e).context("reading from the client")),
                    };
                    if let Some(reason) = self.handle_pdu(action, &frame).await? {
                        return Ok(reason);
                    }
                }
                cmd = cmds.recv() => match cmd {
                    Some(SessionCmd::Frame(frame)) => self.send_frame(frame).await?,
                    Some(SessionCmd::WindowFrame(frame)) => self.send_window_frame(frame).await?,
                    Some(SessionCmd::Rail(command)) => self.apply_rail(command).await?,
                    Some(SessionCmd::Clipboard(command)) => {
                        self.with_clipboard(|state, channel, out| state.on_command(channel, command, out)).await?
                    }
                    Some(SessionCmd::Stop(reason)) => {
                        self.disconnect().await;
                        return Ok(reason);
                    }
                    None => {
                        self.disconnect().await;
                        return Ok("the server is shutting down".into());
                    }
                },
                Some(event) = gfx.recv() => self.handle_gfx(event).await?,
                changed = self.pointer.changed() => {
                    if changed.is_ok() {
                        self.send_pointer().await?;
                    }
                }
                Some(layout) = display.recv() => self.handle_layout(layout).await?,
                () = clipboard_deadline(self.clipboard.deadline()) => {
                    self.with_clipboard(|state, _, out| state.on_timeout(out)).await?
                }
            }
        }
    }

    fn send_host(&self, event: HostEvent) {
        let _ = self.host.send(event);
    }

    /// Returns Some(reason) when the client ended the session.
    async fn handle_pdu(&mut self, action: Action, frame: &[u8]) -> anyhow::Result<Option<String>> {
        match action {
            Action::FastPath => {
                let input: FastPathInput =
                    decode(frame).map_err(|e| anyhow::anyhow!("malformed fast-path input: {e}"))?;
                let mut events = Vec::new();
                for event in input.input_events() {
                    self.input.fast_path(event, &mut events);
                }
                for e in events {
                    self.send_host(e);
                }
                Ok(None)
            }
            Action::X224 => {
                let message: X224<mcs::McsMessage<'_>> =
                    decode(frame).map_err(|e| anyhow::anyhow!("malformed X.224/MCS PDU: {e}"))?;
                match message.0 {
                    mcs::McsMessage::SendDataRequest(data) => {
                        let channel = data.channel_id;
                        if channel == self.result.io_channel_id {
                            return self.handle_io_channel(&data.user_data).await;
                        }
                        let user = self.result.user_channel_id;
                        let clipboard_id = self.result.static_channels.get_channel_id_by_type::<ClipboardChannel>();
                        if Some(channel) == clipboard_id {
                            self.clipboard.touch();
                            if !self.clipboard_channel().is_some_and(|c| c.screen_fragment(&data.user_data)) {
                                return Ok(None);
                            }
                        }
                        let Some(svc) = self.result.static_channels.get_by_channel_id_mut(channel) else {
                            tracing::debug!(session = self.id, channel, "data for an unknown channel ignored");
                            return Ok(None);
                        };
                        let name = svc.channel_name().as_str().unwrap_or("?").to_owned();
                        let out = svc.process(&data.user_data).map_err(|e| {
                            anyhow::anyhow!("malformed data on channel {name} ({channel}): {}", e.report())
                        })?;
                        if !out.is_empty() {
                            let bytes = server_encode_svc_messages(out, channel, user)?;
                            self.framed.write_all(&bytes).await.context("writing")?;
                        }
                        if Some(channel)
                            == self.result.static_channels.get_channel_id_by_type::<wayrail_rail::RailChannel>()
                        {
                            self.handle_rail_events().await?;
                        }
                        if Some(channel) == clipboard_id {
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
        }
    }

    async fn handle_io_channel(&mut self, data: &[u8]) -> anyhow::Result<Option<String>> {
        let header: ShareControlHeader =
            decode(data).map_err(|e| anyhow::anyhow!("malformed share control PDU: {e}"))?;
        let ShareControlPdu::Data(data) = header.share_control_pdu else {
            tracing::debug!(session = self.id, "share control PDU ignored");
            return Ok(None);
        };
        match data.share_data_pdu {
            ShareDataPdu::Input(input) => {
                let mut events = Vec::new();
                for event in &input.0 {
                    self.input.slow_path(event, &mut events);
                }
                for e in events {
                    self.send_host(e);
                }
            }
            ShareDataPdu::ShutdownRequest => return Ok(Some("the client asked to shut down".into())),
            ShareDataPdu::RefreshRectangle(_) => self.send_host(HostEvent::Refresh),
            ShareDataPdu::SuppressOutput(pdu) => {
                self.output_suppressed = pdu.desktop_rect.is_none();
                tracing::debug!(session = self.id, suppressed = self.output_suppressed, "suppress output");
                if !self.output_suppressed {
                    self.send_host(HostEvent::Refresh);
                }
            }
            other => tracing::trace!(session = self.id, "share data PDU ignored: {other:?}"),
        }
        Ok(None)
    }

    fn drdynvc(&mut self) -> Option<&mut DrdynvcServer> {
        self.result
            .static_channels
            .get_by_type_mut::<DrdynvcServer>()
            .and_then(|c| c.channel_processor_downcast_mut::<DrdynvcServer>())
    }

    /// Runs `f` on the graphics pipeline and writes what it queued.
    async fn with_gfx<T>(
        &mut self,
        f: impl FnOnce(&mut GraphicsPipelineServer, &mut Option<DesktopSurface>) -> T,
    ) -> anyhow::Result<Option<T>> {
        let user = self.result.user_channel_id;
        let Some(drdynvc_id) = self.result.static_channels.get_channel_id_by_type::<DrdynvcServer>() else {
            return Ok(None);
        };
        let mut surface = self.surface.take();
        let (value, bytes) = {
            let Some(drdynvc) = self.drdynvc() else {
                self.surface = surface;
                return Ok(None);
            };
            let Some(gfx_id) = drdynvc.get_channel_id_by_type::<GraphicsPipelineServer>() else {
                self.surface = surface;
                return Ok(None);
            };
            let Some(mut channel) = drdynvc.dvc_by_id_mut::<GraphicsPipelineServer>(gfx_id) else {
                self.surface = surface;
                return Ok(None);
            };
            let gfx = channel.processor_mut();
            let value = f(gfx, &mut surface);
            let messages = gfx.drain_output();
            let bytes = if messages.is_empty() {
                Vec::new()
            } else {
                let svc = encode_dvc_messages(gfx_id, messages, ChannelFlags::SHOW_PROTOCOL)?;
                server_encode_svc_messages(svc, drdynvc_id, user)?
            };
            (value, bytes)
        };
        self.surface = surface;
        if !bytes.is_empty() {
            self.framed.write_all(&bytes).await.context("writing")?;
        }
        Ok(Some(value))
    }

    async fn handle_gfx(&mut self, event: GfxEvent) -> anyhow::Result<()> {
        match event {
            GfxEvent::Ready => {
                self.egfx_ready = true;
                if self.rail.is_some() {
                    self.reset_window_surfaces().await?
                } else {
                    self.recreate_surface().await?
                }
            }
            GfxEvent::FrameAck { frame_id, suspended } => {
                // Acks come in order; anything older than this one was shown too.
                while let Some(&(id, frame)) = self.in_flight.first() {
                    if id.wrapping_sub(frame_id) as i32 > 0 {
                        break;
                    }
                    self.in_flight.remove(0);
                    self.send_host(HostEvent::FrameDone { frame });
                }
                if suspended != self.acks_suspended {
                    tracing::debug!(session = self.id, suspended, "client frame acknowledgements");
                    self.acks_suspended = suspended;
                }
                if suspended {
                    // No acks will come: nothing may wait for them.
                    for (_, frame) in self.in_flight.drain(..) {
                        let _ = self.host.send(HostEvent::FrameDone { frame });
                    }
                }
            }
            GfxEvent::Advertised { scaled_map_disabled } => {
                self.scaled_map_disabled = scaled_map_disabled;
            }
            GfxEvent::Closed => {
                tracing::warn!(session = self.id, "the client closed the graphics channel");
                self.surface = None;
            }
        }
        Ok(())
    }

    async fn recreate_surface(&mut self) -> anyhow::Result<()> {
        let clear = self.clear.clone();
        let (w, h) = (self.width, self.height);
        let layout = monitors::to_gcc(&self.monitors);
        let created = self.with_gfx(|gfx, surface| {
            *surface = DesktopSurface::create(gfx, &clear, w, h, layout);
            surface.is_some()
        });
        match created.await? {
            Some(true) => {
                tracing::debug!(session = self.id, w, h, "desktop surface ready");
                self.send_host(HostEvent::Refresh);
            }
            _ => tracing::warn!(session = self.id, "could not create the desktop surface"),
        }
        Ok(())
    }

    async fn handle_layout(&mut self, layout: DisplayControlMonitorLayout) -> anyhow::Result<()> {
        let list = match monitors::validate(monitors::from_display_control(&layout)) {
            Ok(list) => list,
            Err(why) => {
                // A layout we cannot show changes nothing; the session goes on as it was.
                tracing::warn!(session = self.id, "monitor layout refused: {why}");
                return Ok(());
            }
        };
        tracing::info!(session = self.id, monitors = ?list, "client monitor layout");
        if list == self.monitors {
            return Ok(());
        }
        let (_, _, w, h) = monitors::bounding_box(&list);
        let same_rects = monitors::to_gcc(&list) == monitors::to_gcc(&self.monitors);
        self.monitors = list.clone();
        self.send_host(HostEvent::Layout { monitors: list });
        if same_rects {
            // Only scales changed: the compositor sends new pixels, the graphics stay.
            return Ok(());
        }
        self.width = w as u16;
        self.height = h as u16;
        for (_, frame) in self.in_flight.drain(..) {
            let _ = self.host.send(HostEvent::FrameDone { frame });
        }
        if self.rail.is_some() && self.egfx_ready {
            self.reset_window_surfaces().await?;
        } else if self.surface.is_some() {
            self.recreate_surface().await?;
        }
        Ok(())
    }

    async fn send_frame(&mut self, frame: DesktopFrame) -> anyhow::Result<()> {
        if self.output_suppressed || (frame.width, frame.height) != (self.width, self.height) {
            // Nothing can show it now; the apps must not wait for it.
            self.send_host(HostEvent::FrameDone { frame: frame.frame });
            return Ok(());
        }
        if self.surface.is_none() {
            // EGFX normally comes up right after activation; a client that has not opened
            // it by now gets plain bitmap updates.
            if self.started.elapsed() > EGFX_GRACE && !self.egfx_ready {
                if !self.bitmap_mode {
                    tracing::info!(session = self.id, "no EGFX from this client: sending bitmap updates");
                    self.bitmap_mode = true;
                    // What was dropped while waiting for EGFX must be painted now.
                    self.send_host(HostEvent::Refresh);
                }
                let bytes = crate::bitmap::encode_frame(&frame)?;
                self.framed.write_all(&bytes).await.context("writing")?;
            }
            self.send_host(HostEvent::FrameDone { frame: frame.frame });
            return Ok(());
        }
        let timestamp = self.started.elapsed().as_millis() as u32;
        let queued = self.with_gfx(|gfx, surface| surface.as_mut().and_then(|s| s.queue_frame(gfx, &frame, timestamp)));
        match queued.await?.flatten() {
            Some(_) if self.acks_suspended => self.send_host(HostEvent::FrameDone { frame: frame.frame }),
            Some(frame_id) => self.in_flight.push((frame_id, frame.frame)),
            None => self.send_host(HostEvent::FrameDone { frame: frame.frame }),
        }
        Ok(())
    }

    // ------------------------------------------------------------ clipboard

    fn clipboard_channel(&mut self) -> Option<&mut ClipboardChannel> {
        self.result
            .static_channels
            .get_by_type_mut::<ClipboardChannel>()
            .and_then(|c| c.channel_processor_downcast_mut::<ClipboardChannel>())
    }

    /// Runs a step of the clipboard state, then writes its PDUs and hands its events on.
    async fn with_clipboard(
        &mut self,
        f: impl FnOnce(
            &mut crate::clipboard::ClipboardState,
            &mut ClipboardChannel,
            &mut Vec<ironrdp_svc::SvcMessage>,
        ) -> Vec<crate::ClipboardEvent>,
    ) -> anyhow::Result<()> {
        let Some(id) = self.result.static_channels.get_channel_id_by_type::<ClipboardChannel>() else {
            return Ok(());
        };
        let mut state = std::mem::replace(&mut self.clipboard, crate::clipboard::ClipboardState::new(self.id));
        let mut out = Vec::new();
        let events = match self.clipboard_channel() {
            Some(channel) => f(&mut state, channel, &mut out),
            None => Vec::new(),
        };
        self.clipboard = state;
        for event in events {
            self.send_host(HostEvent::Clipboard(event));
        }
        if !out.is_empty() {
            let bytes = server_encode_svc_messages(out, id, self.result.user_channel_id)?;
            self.framed.write_all(&bytes).await.context("writing")?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ RemoteApp

    fn rail_channel(&mut self) -> Option<&mut wayrail_rail::RailChannel> {
        self.result
            .static_channels
            .get_by_type_mut::<wayrail_rail::RailChannel>()
            .and_then(|c| c.channel_processor_downcast_mut::<wayrail_rail::RailChannel>())
    }

    async fn send_rail_messages(&mut self, messages: Vec<ironrdp_svc::SvcMessage>) -> anyhow::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let Some(id) = self.result.static_channels.get_channel_id_by_type::<wayrail_rail::RailChannel>() else {
            return Ok(());
        };
        let bytes = server_encode_svc_messages(messages, id, self.result.user_channel_id)?;
        self.framed.write_all(&bytes).await.context("writing")?;
        Ok(())
    }

    async fn handle_rail_events(&mut self) -> anyhow::Result<()> {
        let events = self.rail_channel().map(|c| c.take_events()).unwrap_or_default();
        for event in events {
            match event.clone() {
                wayrail_rail::RailEvent::Ready { .. } => {
                    let mut actions = crate::remoteapp::Actions::default();
                    if let Some(rail) = self.rail.as_mut() {
                        rail.on_ready(&mut actions);
                    }
                    self.perform(actions).await?;
                    self.send_host(HostEvent::Rail(event));
                }
                wayrail_rail::RailEvent::Exec { flags, executable, working_directory, arguments } => {
                    let result = crate::exec::launch(&executable, &working_directory, &arguments);
                    let message = wayrail_rail::RailChannel::exec_result(flags, &executable, result);
                    self.send_rail_messages(vec![message]).await?;
                }
                wayrail_rail::RailEvent::WindowMove { window, rect } => {
                    // The end of a host-side move/size: tell the host we saw it.
                    if self.rail.as_mut().is_some_and(|r| r.moving.remove(&window)) {
                        let message = wayrail_rail::RailChannel::local_move_size(
                            window,
                            false,
                            ironrdp_rail::MoveSizeType::Move,
                            rect.x.clamp(i16::MIN as i32, i16::MAX as i32) as i16,
                            rect.y.clamp(i16::MIN as i32, i16::MAX as i32) as i16,
                        );
                        self.send_rail_messages(vec![message]).await?;
                    }
                    self.send_host(HostEvent::Rail(event));
                }
                other => self.send_host(HostEvent::Rail(other)),
            }
        }
        Ok(())
    }

    async fn apply_rail(&mut self, command: crate::RailCommand) -> anyhow::Result<()> {
        let mut actions = crate::remoteapp::Actions::default();
        match self.rail.as_mut() {
            Some(rail) => rail.apply(command, &mut actions),
            None => return Ok(()),
        }
        self.perform(actions).await
    }

    /// Writes orders, then (re)creates and maps the surfaces the changes need.
    async fn perform(&mut self, actions: crate::remoteapp::Actions) -> anyhow::Result<()> {
        let bytes = crate::remoteapp::orders_bytes(&actions.orders)?;
        if !bytes.is_empty() {
            self.framed.write_all(&bytes).await.context("writing")?;
        }
        let extra = actions.rail_messages;
        if !extra.is_empty() {
            self.send_rail_messages(extra).await?;
        }
        if let Some((window, edges, x, y)) = actions.local_move_size {
            let clamp = |v: i32| v.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
            let (w, h) = (clamp(self.width as i32), clamp(self.height as i32));
            let messages = vec![
                wayrail_rail::RailChannel::min_max_info(window, (w, h), (0, 0), (1, 1), (clamp(8192), clamp(8192))),
                wayrail_rail::RailChannel::local_move_size(
                    window,
                    true,
                    crate::remoteapp::move_size_type(edges),
                    clamp(x),
                    clamp(y),
                ),
            ];
            self.send_rail_messages(messages).await?;
        }
        if !self.egfx_ready {
            return Ok(());
        }
        let deleted = actions.deleted_surfaces;
        if !deleted.is_empty() {
            self.with_gfx(|gfx, _| {
                for id in deleted {
                    gfx.delete_surface(id);
                }
            })
            .await?;
        }
        for id in actions.surfaces {
            self.create_window_surface(id).await?;
        }
        if self.mapping == crate::remoteapp::Mapping::Output {
            for id in actions.remap {
                let pdu = self.rail.as_ref().and_then(|r| {
                    let s = r.surfaces.get(&id)?;
                    r.map_pdu(id, s.surface_id, self.mapping)
                });
                if let Some(pdu) = pdu {
                    self.send_raw_gfx(vec![pdu]).await?;
                    self.send_host(HostEvent::RefreshWindow { window: id });
                }
            }
        }
        Ok(())
    }

    /// A fresh surface for a window, mapped to it; the compositor then repaints the window.
    async fn create_window_surface(&mut self, id: u32) -> anyhow::Result<()> {
        let clear = self.clear.clone();
        let Some(size) = self.rail.as_ref().and_then(|r| r.known.get(&id)).map(|w| w.surface_size()) else {
            return Ok(());
        };
        let (w, h) = (size.0.clamp(1, 8192) as u16, size.1.clamp(1, 8192) as u16);
        let old = self.rail.as_mut().and_then(|r| r.surfaces.remove(&id)).map(|s| s.surface_id);
        let created = self
            .with_gfx(|gfx, _| {
                if let Some(old) = old {
                    gfx.delete_surface(old);
                }
                crate::egfx::DesktopSurface::for_window(gfx, &clear, w, h)
            })
            .await?
            .flatten();
        let Some(surface) = created else {
            tracing::warn!(session = self.id, window = id, "no surface for the window");
            return Ok(());
        };
        let map = self.rail.as_ref().and_then(|r| r.map_pdu(id, surface.surface_id, self.mapping));
        if let Some(rail) = self.rail.as_mut() {
            rail.surfaces.insert(id, surface);
        }
        if let Some(pdu) = map {
            self.send_raw_gfx(vec![pdu]).await?;
        }
        self.send_host(HostEvent::RefreshWindow { window: id });
        Ok(())
    }

    /// After EGFX comes up or the desktop changes size: ResetGraphics, then a surface per window.
    async fn reset_window_surfaces(&mut self) -> anyhow::Result<()> {
        let (w, h) = (self.width, self.height);
        let layout = monitors::to_gcc(&self.monitors);
        let negotiated = self
            .with_gfx(|gfx, _| {
                gfx.resize_with_monitors(w, h, layout);
                gfx.negotiated_capabilities().cloned()
            })
            .await?
            .flatten();
        self.mapping = if self.scaled_map_disabled {
            crate::remoteapp::Mapping::Output
        } else {
            crate::remoteapp::Mapping::for_caps(negotiated.as_ref())
        };
        tracing::info!(session = self.id, mapping = ?self.mapping, "RemoteApp surfaces");
        self.send_host(HostEvent::WindowMapping { scaled: self.mapping == crate::remoteapp::Mapping::ScaledWindow });
        let ids: Vec<u32> = match self.rail.as_mut() {
            Some(rail) => {
                rail.surfaces.clear();
                rail.known.keys().copied().collect()
            }
            None => return Ok(()),
        };
        for id in ids {
            self.create_window_surface(id).await?;
        }
        Ok(())
    }

    /// Sends EGFX PDUs that the pipeline server has no call for (window mappings).
    async fn send_raw_gfx(&mut self, pdus: Vec<ironrdp_egfx::pdu::GfxPdu>) -> anyhow::Result<()> {
        let user = self.result.user_channel_id;
        let Some(drdynvc_id) = self.result.static_channels.get_channel_id_by_type::<DrdynvcServer>() else {
            return Ok(());
        };
        let Some(gfx_id) = self.drdynvc().and_then(|d| d.get_channel_id_by_type::<GraphicsPipelineServer>()) else {
            return Ok(());
        };
        let mut messages: Vec<ironrdp_dvc::DvcMessage> = Vec::new();
        for pdu in &pdus {
            let bytes = ironrdp_core::encode_vec(pdu)?;
            messages.push(Box::new(crate::egfx::RawGfx(ironrdp_graphics::zgfx::wrap_uncompressed(&bytes))));
        }
        let svc = encode_dvc_messages(gfx_id, messages, ChannelFlags::SHOW_PROTOCOL)?;
        let bytes = server_encode_svc_messages(svc, drdynvc_id, user)?;
        self.framed.write_all(&bytes).await.context("writing")?;
        Ok(())
    }

    async fn send_window_frame(&mut self, frame: crate::WindowFrame) -> anyhow::Result<()> {
        let window = frame.window;
        let has_surface = self.rail.as_ref().is_some_and(|r| r.surfaces.contains_key(&window));
        if !has_surface || self.output_suppressed {
            self.send_host(HostEvent::FrameDone { frame: frame.frame });
            return Ok(());
        }
        let timestamp = self.started.elapsed().as_millis() as u32;
        let mut surface = self.rail.as_mut().and_then(|r| r.surfaces.remove(&window));
        let queued =
            self.with_gfx(|gfx, _| surface.as_mut().and_then(|s| s.queue_tiles(gfx, &frame.tiles, timestamp))).await;
        if let (Some(rail), Some(s)) = (self.rail.as_mut(), surface) {
            rail.surfaces.insert(window, s);
        }
        match queued?.flatten() {
            Some(_) if self.acks_suspended => self.send_host(HostEvent::FrameDone { frame: frame.frame }),
            Some(frame_id) => self.in_flight.push((frame_id, frame.frame)),
            None => self.send_host(HostEvent::FrameDone { frame: frame.frame }),
        }
        Ok(())
    }

    async fn send_pointer(&mut self) -> anyhow::Result<()> {
        let pointer = self.pointer.borrow_and_update().clone();
        let Some(pointer) = pointer else { return Ok(()) };
        match crate::pointer::encode(&pointer, self.large_pointer) {
            Ok(bytes) => self.framed.write_all(&bytes).await.context("writing")?,
            Err(err) => tracing::warn!(session = self.id, "pointer not sent: {err:#}"),
        }
        Ok(())
    }

    async fn disconnect(&mut self) {
        let pdu = X224(mcs::McsMessage::DisconnectProviderUltimatum(DisconnectProviderUltimatum::from_reason(
            DisconnectReason::ProviderInitiated,
        )));
        if let Ok(bytes) = ironrdp_core::encode_vec(&pdu) {
            let _ = self.framed.write_all(&bytes).await;
        }
    }
}

/// Resolves when the clipboard request in flight times out; never when none is.
async fn clipboard_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
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
