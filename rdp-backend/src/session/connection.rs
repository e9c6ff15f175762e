//! The connection sequence (X.224, TLS, MCS, capabilities) on `ironrdp-acceptor`, the login
//! check and what the client negotiated; then `Connection`, the wire every channel of the
//! session writes to.

use std::time::Duration;

use anyhow::{bail, Context};
use ironrdp_acceptor::{Acceptor, AcceptorResult, AcceptorState, DesktopSize};
use ironrdp_async::FramedWrite as _;
use ironrdp_connector::Sequence as _;
use ironrdp_displaycontrol::pdu::DisplayControlMonitorLayout;
use ironrdp_displaycontrol::server::DisplayControlServer;
use ironrdp_dvc::DrdynvcServer;
use ironrdp_egfx::server::GraphicsPipelineServer;
use ironrdp_pdu::mcs::{self, DisconnectProviderUltimatum, DisconnectReason};
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::rdp::capability_sets as caps;
use ironrdp_pdu::rdp::headers::ShareDataPdu;
pub(super) use ironrdp_pdu::rdp::server_error_info::ProtocolIndependentCode;
use ironrdp_pdu::rdp::server_error_info::{ErrorInfo, ServerSetErrorInfoPdu};
use ironrdp_pdu::x224::X224;
use ironrdp_svc::{server_encode_svc_messages, SvcMessage, SvcProcessor};
use tokio::sync::mpsc;

use super::display::DisplayHandler;
use super::finalization::{finalize, share_data_indication};
use super::nla::{nla, NlaFailure};
use super::SessionSetup;
use crate::auth;
use crate::egfx::{GfxEvent, GfxHandler};
use crate::monitors::{self, HostMonitor};
use crate::reassembly::CappedDrdynvc;
use crate::transport::BoxStream;
use crate::SessionId;

/// How long a client may take for the whole connection sequence.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest desktop a client may ask for.
const MAX_DESKTOP: DesktopSize = DesktopSize { width: 8192, height: 8192 };

fn capabilities(size: DesktopSize) -> Vec<caps::CapabilitySet> {
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

pub(super) type Framed = ironrdp_tokio::TokioFramed<tokio_rustls::server::TlsStream<BoxStream>>;

/// Waits for the client's first byte, so that a connection that sends nothing holds its
/// place among the connecting ones only briefly; the framing goes on with that byte.
async fn first_byte(mut stream: BoxStream, timeout: Duration) -> anyhow::Result<ironrdp_tokio::TokioFramed<BoxStream>> {
    use tokio::io::AsyncReadExt as _;
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(timeout, stream.read(&mut byte))
        .await
        .map_err(|_| anyhow::anyhow!("the client sent nothing within {timeout:?}"))?
        .context("reading the connection request")?;
    if read == 0 {
        bail!("the client closed the connection before sending anything");
    }
    let leftover = ironrdp_async::bytes::BytesMut::from(&byte[..]);
    Ok(ironrdp_tokio::TokioFramed::new_with_leftover(stream, leftover))
}

/// A client that finished the connection sequence, and what it negotiated.
pub(super) struct Accepted {
    pub conn: Connection,
    /// The bounding box of `monitors`.
    pub width: u16,
    pub height: u16,
    pub keyboard_layout: u32,
    /// The client's monitors, or (when what it said makes no sense) one of the desktop size.
    pub monitors: Vec<HostMonitor>,
    /// The user name the client logged in with.
    pub user: String,
    /// The client asked for RemoteApp with a Rail capability set.
    pub remote_app: bool,
    pub large_pointer: bool,
    /// The encoder of the sound format the client takes (see `audio`).
    pub sound_encoder: Option<super::audio::SharedEncoder>,
    /// The app list's state; its messages come in `events`.
    pub applist: super::applist::AppList,
    pub events: ChannelEvents,
}

/// What the channels' processors tell the session, each on a queue of its own.
pub(super) struct ChannelEvents {
    pub gfx: mpsc::UnboundedReceiver<GfxEvent>,
    pub layouts: mpsc::UnboundedReceiver<DisplayControlMonitorLayout>,
    pub vail: mpsc::UnboundedReceiver<wayrail_vail::VailEvent>,
    /// The sound for this client, once it negotiated a format (`rdpsnd`).
    pub sound: Option<mpsc::Receiver<wayrail_audio::Packet>>,
    pub applist: mpsc::UnboundedReceiver<super::applist::AppListMsg>,
}

/// Whether the client is on this machine: a unix or vsock socket (a VM's host), or TCP from
/// a loopback address. `peer` is as the listener names it ("10.0.0.7:51234", "[::1]:3389",
/// "unix", "vsock:3:1234").
pub(crate) fn peer_is_local(peer: &str) -> bool {
    if peer == "unix" || peer.starts_with("vsock:") {
        return true;
    }
    peer.parse::<std::net::SocketAddr>().is_ok_and(|a| a.ip().to_canonical().is_loopback())
}

/// Runs the connection sequence with its time limit and checks the login: NLA (CredSSP with
/// NTLM, before the connection sequence) when the client offers it and a login is configured,
/// else TLS and the user name and password of the Client Info PDU (the acceptor runs no check
/// of its own). Plain RDP security is never offered.
pub(super) async fn accept(stream: BoxStream, peer: &str, setup: &SessionSetup) -> anyhow::Result<Accepted> {
    let size = DesktopSize { width: setup.default_size.0, height: setup.default_size.1 };
    // NLA checks the client against the configured login, so it is offered only with one.
    let security = if setup.credentials.is_some() {
        SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX
    } else {
        SecurityProtocol::SSL
    };
    let mut acceptor = Acceptor::new(security, size, capabilities(size), None);
    acceptor.set_honor_client_desktop_size(Some(MAX_DESKTOP));
    let (gfx_tx, gfx_events) = mpsc::unbounded_channel();
    let (display_tx, layouts) = mpsc::unbounded_channel();
    let (vail_tx, vail_events) = mpsc::unbounded_channel();
    let mut dvcs = DrdynvcServer::new()
        .with_dynamic_channel(GraphicsPipelineServer::new(Box::new(GfxHandler { events: gfx_tx })))
        .with_dynamic_channel(DisplayControlServer::new(Box::new(DisplayHandler { tx: display_tx })));
    if let Some(dir) = &setup.vail_dir {
        // Hosts that cannot map our pools never open it.
        let events = Box::new(move |event| drop(vail_tx.send(event)));
        let gfxredir =
            wayrail_vail::GfxRedirServer::new(dir.clone(), events).with_direct_pools(setup.vail_pools.clone());
        dvcs = dvcs.with_dynamic_channel(gfxredir);
    }
    let (dvcs, applist, applist_rx) = super::applist::register(dvcs, setup.applist.as_ref(), setup.id);
    acceptor.attach_static_channel(CappedDrdynvc::new(dvcs, setup.id));
    acceptor.attach_static_channel(wayrail_rail::RailChannel::default());
    acceptor.attach_static_channel(crate::clipboard::ClipboardChannel::default());
    let local = peer_is_local(peer);
    let (sound_packets, sound_encoder) = match setup.audio.clone() {
        Some(hub) => {
            let (channel, packets, encoder) = super::audio::SoundHandler::channel(hub, setup.id, local);
            acceptor.attach_static_channel(channel);
            (Some(packets), Some(encoder))
        }
        None => (None, None),
    };

    // The whole sequence has one time limit; a back-off wait before an NLA login is checked
    // is not counted in it (as the wait before a TLS login's check comes after it).
    let mut deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    let late = || anyhow::anyhow!("the client did not finish connecting within {HANDSHAKE_TIMEOUT:?}");
    let upgrade = async {
        // `accept_begin` would do this, but it panics when the client sent more than its
        // connection request before the TLS handshake (`into_inner_no_leftover`).
        let mut framed = first_byte(stream, setup.first_byte_timeout).await?;
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
        setup.tls.accept(stream).await.context("TLS handshake")
    };
    let tls_stream = tokio::time::timeout_at(deadline, upgrade).await.map_err(|_| late())??;
    acceptor.mark_security_upgrade_as_done();
    let mut framed = ironrdp_tokio::TokioFramed::new(tls_stream);

    let address = auth::peer_address(peer).to_owned();
    let mut nla_user = None;
    if let Some(AcceptorState::Credssp { protocol, .. }) = ironrdp_connector::state_downcast(acceptor.state()) {
        let protocol = *protocol;
        let expected = setup.credentials.as_ref().context("NLA was chosen without a login to check")?;
        // A peer that failed to log in waits its back-off before this login is checked.
        let now = std::time::Instant::now();
        let check_at = setup.backoff.borrow_mut().reserve(&address, now);
        tokio::time::sleep_until(check_at.into()).await;
        deadline += check_at.saturating_duration_since(now);
        let login = nla(&mut framed, protocol, expected, &setup.tls_public_key);
        match tokio::time::timeout_at(deadline, login).await.map_err(|_| late())? {
            Ok(user) => {
                setup.backoff.borrow_mut().succeeded(&address);
                tracing::info!(session = setup.id, %peer, user, "logged in with NLA");
                nla_user = Some(user);
            }
            Err(NlaFailure::Refused(why)) => {
                let wait = setup.backoff.borrow_mut().failed(&address, std::time::Instant::now());
                tracing::warn!(
                    session = setup.id,
                    %peer,
                    "login refused (NLA): {why}; the next login from {address} is checked in {wait:?} at the earliest"
                );
                bail!("login refused (NLA): {why}");
            }
            Err(NlaFailure::Broken(err)) => return Err(err.context("NLA")),
        }
        acceptor.mark_credssp_as_done();
    }
    let (framed, mut result, client_monitors) =
        tokio::time::timeout_at(deadline, finalize(framed, &mut acceptor, setup.id))
            .await
            .map_err(|_| late())?
            .context("connection sequence")?;

    let user = match nla_user {
        // NLA checked the login before the connection sequence; the Client Info PDU of an
        // NLA connection carries no credentials the acceptor keeps.
        Some(user) => user,
        None => {
            // A peer that failed to log in waits its back-off before this login is checked.
            let check_at = setup.backoff.borrow_mut().reserve(&address, std::time::Instant::now());
            tokio::time::sleep_until(check_at.into()).await;
            match auth::check_login(setup.credentials.as_ref(), result.credentials.as_ref()) {
                Ok(user) => {
                    setup.backoff.borrow_mut().succeeded(&address);
                    user
                }
                Err(why) => {
                    let wait = setup.backoff.borrow_mut().failed(&address, std::time::Instant::now());
                    tracing::warn!(
                        session = setup.id,
                        %peer,
                        "login refused: {why}; the next login from {address} is checked in {wait:?} at the earliest"
                    );
                    let mut conn = Connection::new(framed, result, setup);
                    conn.refuse(ProtocolIndependentCode::ServerDeniedConnection).await;
                    bail!("login refused: {why}");
                }
            }
        }
    };

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
    let large_pointer = result.capabilities.iter().any(|c| matches!(c, caps::CapabilitySet::LargePointer(l) if l.flags.contains(caps::LargePointerSupportFlags::UP_TO_384X384_PIXELS)));
    Ok(Accepted {
        conn: Connection::new(framed, result, setup),
        width,
        height,
        keyboard_layout,
        monitors: client_monitors,
        user,
        remote_app,
        large_pointer,
        sound_encoder,
        applist,
        events: ChannelEvents {
            gfx: gfx_events,
            layouts,
            vail: vail_events,
            sound: sound_packets,
            applist: applist_rx,
        },
    })
}

/// The longest a goodbye (error info, disconnect) may wait for the client to read it.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// The connected client: the framed TLS stream and the channels the acceptor joined.
pub(super) struct Connection {
    framed: Framed,
    pub result: AcceptorResult,
    session: SessionId,
    write_timeout: Duration,
    stop: tokio::sync::watch::Receiver<Option<String>>,
    /// Why writing is over: a write timed out or was cut by a stop (the stream is in the
    /// middle of a PDU then, so nothing more may be written).
    broken: Option<String>,
}

impl Connection {
    fn new(framed: Framed, result: AcceptorResult, setup: &SessionSetup) -> Self {
        Connection {
            framed,
            result,
            session: setup.id,
            write_timeout: setup.write_timeout,
            stop: setup.stop.clone(),
            broken: None,
        }
    }

    /// The server's stop signal, for [`wait_stop`].
    pub fn stop_signal(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.stop.clone()
    }

    pub async fn read_pdu(&mut self) -> std::io::Result<(ironrdp_pdu::Action, ironrdp_async::bytes::BytesMut)> {
        self.framed.read_pdu().await
    }

    /// Writes `bytes`, waiting at most the write timeout for the client to read; a client
    /// that does not read in time, or a stop from the server meanwhile, ends the session.
    pub async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.write_within(bytes, self.write_timeout).await
    }

    async fn write_within(&mut self, bytes: &[u8], limit: Duration) -> anyhow::Result<()> {
        if let Some(why) = &self.broken {
            bail!("{why}");
        }
        let why = tokio::select! {
            written = tokio::time::timeout(limit, self.framed.write_all(bytes)) => match written {
                Ok(written) => return written.context("writing"),
                Err(_) => {
                    let why = format!("the client read nothing for {limit:?} (a write of {} bytes waited that long)", bytes.len());
                    tracing::warn!(session = self.session, "dropping the client: {why}");
                    why
                }
            },
            why = wait_stop(&mut self.stop) => why,
        };
        self.broken = Some(why.clone());
        bail!(why)
    }

    /// The processor of the static channel of type `T`, when the client joined it.
    pub fn channel_mut<T: SvcProcessor + 'static>(&mut self) -> Option<&mut T> {
        self.result.static_channels.get_by_type_mut::<T>().and_then(|c| c.channel_processor_downcast_mut::<T>())
    }

    /// The name of static channel `channel`, when the client joined it.
    pub fn channel_name(&self, channel: u16) -> Option<String> {
        let svc = self.result.static_channels.get_by_channel_id(channel)?;
        Some(svc.channel_name().as_str().unwrap_or("?").to_owned())
    }

    pub fn channel_id<T: SvcProcessor + 'static>(&self) -> Option<u16> {
        self.result.static_channels.get_channel_id_by_type::<T>()
    }

    /// Writes messages on channel `channel`.
    pub async fn send_on(&mut self, channel: u16, messages: Vec<SvcMessage>) -> anyhow::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let bytes = server_encode_svc_messages(messages, channel, self.result.user_channel_id)?;
        self.write(&bytes).await
    }

    /// Writes messages on the static channel of type `T`; nothing when the client has none.
    pub async fn send_svc<T: SvcProcessor + 'static>(&mut self, messages: Vec<SvcMessage>) -> anyhow::Result<()> {
        match self.channel_id::<T>() {
            Some(id) => self.send_on(id, messages).await,
            None => Ok(()),
        }
    }

    /// The first PDUs of every joined static channel.
    pub async fn start_channels(&mut self) -> anyhow::Result<()> {
        let user = self.result.user_channel_id;
        let mut out = Vec::new();
        for (_, channel, id) in self.result.static_channels.iter_mut() {
            let Some(id) = id else { continue };
            let messages = channel.start().context("starting a static channel")?;
            out.extend(server_encode_svc_messages(messages, id, user)?);
        }
        self.write(&out).await
    }

    /// Hands data of a static channel to its processor and writes its answer; false for a
    /// channel the client did not join.
    pub async fn process_svc(&mut self, channel: u16, data: &[u8]) -> anyhow::Result<bool> {
        let Some(svc) = self.result.static_channels.get_by_channel_id_mut(channel) else {
            return Ok(false);
        };
        let name = svc.channel_name().as_str().unwrap_or("?").to_owned();
        let out = svc
            .process(data)
            .map_err(|e| anyhow::anyhow!("malformed data on channel {name} ({channel}): {}", e.report()))?;
        self.send_on(channel, out).await?;
        Ok(true)
    }

    /// Tells the client why the server ends the connection (a Set Error Info PDU, which
    /// clients show), then ends it.
    pub async fn refuse(&mut self, why: ProtocolIndependentCode) {
        let info = ShareDataPdu::ServerSetErrorInfo(ServerSetErrorInfoPdu(ErrorInfo::ProtocolIndependentCode(why)));
        if let Ok(bytes) = share_data_indication(self.result.user_channel_id, self.result.io_channel_id, info) {
            let _ = self.write_within(&bytes, GOODBYE_TIMEOUT.min(self.write_timeout)).await;
        }
        self.disconnect().await;
    }

    /// Tells the client the server ends the connection; a write error changes nothing now.
    pub async fn disconnect(&mut self) {
        let pdu = X224(mcs::McsMessage::DisconnectProviderUltimatum(DisconnectProviderUltimatum::from_reason(
            DisconnectReason::ProviderInitiated,
        )));
        if let Ok(bytes) = ironrdp_core::encode_vec(&pdu) {
            let _ = self.write_within(&bytes, GOODBYE_TIMEOUT.min(self.write_timeout)).await;
        }
    }
}

/// The reason once `stop` holds one; pending for ever when the server dropped its end.
pub(super) async fn wait_stop(stop: &mut tokio::sync::watch::Receiver<Option<String>>) -> String {
    match stop.wait_for(Option::is_some).await {
        Ok(why) => why.clone().unwrap_or_default(),
        Err(_) => std::future::pending().await,
    }
}
