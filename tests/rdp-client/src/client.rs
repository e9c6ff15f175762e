//! The test client: the connection sequence on `ironrdp-connector`, then `ironrdp-session`'s
//! `ActiveStage` with the graphics pipeline on the dynamic channels, driven by the test.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use ironrdp_async::{FramedWrite as _, NetworkClient};
use ironrdp_connector::sspi::generator::NetworkRequest;
use ironrdp_connector::{ClientConnector, ConnectorResult, ServerName};
use ironrdp_displaycontrol::client::DisplayControlClient;
use ironrdp_displaycontrol::pdu::DisplayControlCapabilities;
use ironrdp_dvc::{DrdynvcClient, DvcClientProcessor};
use ironrdp_egfx::client::GraphicsPipelineClient;
use ironrdp_egfx::compositor::WindowUpdate;
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_pdu::gcc::Monitor;
use ironrdp_pdu::input::fast_path::FastPathInputEvent;
use ironrdp_pdu::mcs::{DisconnectProviderUltimatum, DisconnectReason, McsMessage};
use ironrdp_pdu::rdp::headers::ShareDataPdu;
use ironrdp_pdu::window::WindowingOrder;
use ironrdp_pdu::x224::X224;
use ironrdp_pdu::Action;
use ironrdp_session::image::DecodedImage;
use ironrdp_session::{ActiveStage, ActiveStageBuilder, ActiveStageOutput};
use ironrdp_svc::{SvcClientProcessor, SvcProcessor};
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::gfx::{GfxLog, RecordingHandler, SharedGfxLog};
use crate::monitors::MonitorSpec;
use crate::tap::{GfxTap, TapLog};
use crate::tls::TlsStream;
use crate::transport::connect_stream;

/// What the client asks for when it connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The desktop size (width, height) requested.
    pub size: (u16, u16),
    pub username: String,
    pub password: String,
    /// Ask for RemoteApp (RAIL): the INFO_RAIL flag and the RAIL capability sets. The RAIL
    /// channel itself is attached with [`ClientBuilder::with_static_channel`].
    pub remote_app: bool,
    /// The keyboard layout id (KLID) reported, e.g. 0x409 en-US, 0x407 de-DE.
    pub keyboard_layout: u32,
    /// The host's monitors, announced in Client Monitor Data and Client Monitor Extended Data;
    /// the desktop size is then their bounding box. Empty: one monitor of `size`.
    pub monitors: Vec<MonitorSpec>,
    /// Client Core Data's desktopScaleFactor in percent (0: not sent).
    pub desktop_scale: u32,
    /// Open the DisplayControl channel, for [`TestClient::send_monitor_layout`].
    pub display_control: bool,
    /// Log in with NLA (CredSSP with NTLM) and offer nothing else, as FreeRDP's `/sec:nla`
    /// does; else TLS security with the login in the Client Info PDU.
    pub nla: bool,
    /// When the client sends its Font List, the last PDU of its connection finalization.
    pub finalization: FinalizationOrder,
}

/// How the client orders its half of the connection finalization ([MS-RDPBCGR] 1.3.1.1,
/// where the PDUs of the two directions have no dependencies on each other).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FinalizationOrder {
    /// Synchronize, Control (Cooperate), Control (Request Control) and Font List at once, then
    /// the server's PDUs (IronRDP's and FreeRDP's way).
    #[default]
    Batched,
    /// Synchronize, Control (Cooperate) and Control (Request Control), then nothing more until
    /// the server's Synchronize, Control (Cooperate) and Control (Granted Control) arrived;
    /// only then the Font List, as some clients do.
    FontListAfterServerControl,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            size: (1024, 768),
            username: "test".into(),
            password: "test".into(),
            remote_app: false,
            keyboard_layout: 0x409,
            monitors: Vec::new(),
            desktop_scale: 0,
            display_control: false,
            finalization: FinalizationOrder::Batched,
            nla: false,
        }
    }
}

/// A pointer update from the server (the client does not draw pointers into the image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointerEvent {
    Default,
    Hidden,
    Position {
        x: u16,
        y: u16,
    },
    /// A new pointer shape: size and hotspot.
    Bitmap {
        width: u16,
        height: u16,
        hotspot_x: u16,
        hotspot_y: u16,
    },
}

/// NTLM is the only CredSSP package the client uses, so the connector never needs the
/// network on its own (Kerberos would).
struct NoNetwork;

impl NetworkClient for NoNetwork {
    async fn send(&mut self, _request: &NetworkRequest) -> ConnectorResult<Vec<u8>> {
        Err(ironrdp_connector::general_err!("the test client makes no network requests of its own"))
    }
}

type AttachStatic = Box<dyn FnOnce(&mut ClientConnector)>;

/// A client with extra channels (RAIL, custom dynamic channels) before it connects.
pub struct ClientBuilder {
    opts: ClientOptions,
    drdynvc: DrdynvcClient,
    statics: Vec<AttachStatic>,
    gfx: SharedGfxLog,
}

impl ClientBuilder {
    pub fn new(opts: ClientOptions) -> ClientBuilder {
        let gfx = SharedGfxLog::default();
        let pipeline = GraphicsPipelineClient::new(Box::new(RecordingHandler { log: gfx.clone() }), None);
        let mut drdynvc = DrdynvcClient::new().with_dynamic_channel(pipeline);
        if opts.display_control {
            drdynvc = drdynvc.with_dynamic_channel(DisplayControlClient::new(|_| Ok(Vec::new())));
        }
        ClientBuilder { opts, drdynvc, statics: Vec::new(), gfx }
    }

    /// Adds a static virtual channel (e.g. `rail`); reach it later with
    /// [`TestClient::stage_mut`]`.get_svc_processor_mut::<T>()`.
    pub fn with_static_channel<T: SvcClientProcessor + 'static>(mut self, channel: T) -> ClientBuilder {
        self.statics.push(Box::new(move |connector| connector.attach_static_channel(channel)));
        self
    }

    /// Adds a dynamic channel listener next to the graphics pipeline.
    pub fn with_dynamic_channel<T: DvcClientProcessor + 'static>(mut self, channel: T) -> ClientBuilder {
        self.drdynvc = self.drdynvc.with_dynamic_channel(channel);
        self
    }

    /// Connects to `addr` (`tcp:HOST:PORT`, `HOST:PORT`, `unix:PATH` or `vsock:CID:PORT`) and
    /// completes the connection sequence.
    pub async fn connect(self, addr: &str) -> Result<TestClient> {
        let ClientBuilder { opts, drdynvc, statics, gfx } = self;
        let (stream, client_addr) = connect_stream(addr).await?;
        let mut framed = ironrdp_tokio::TokioFramed::new(stream);
        let mut connector =
            ClientConnector::new(crate::config::connector_config(&opts), client_addr).with_static_channel(drdynvc);
        for attach in statics {
            attach(&mut connector);
        }
        let should_upgrade =
            ironrdp_async::connect_begin(&mut framed, &mut connector).await.context("X.224 negotiation")?;
        let tls = crate::tls::upgrade(framed.into_inner_no_leftover()).await?;
        // NLA binds the login to the key of the certificate the server showed.
        let server_public_key = if opts.nla { crate::tls::server_public_key(&tls)? } else { Vec::new() };
        let upgraded = ironrdp_async::mark_as_upgraded(should_upgrade, &mut connector);
        let mut framed = ironrdp_tokio::TokioFramed::new(tls);
        let outcome = match opts.finalization {
            FinalizationOrder::Batched => ironrdp_async::connect_finalize(
                upgraded,
                connector,
                &mut framed,
                &mut NoNetwork,
                ServerName::new("localhost"),
                server_public_key,
                None,
            )
            .await
            .context("connection sequence")?,
            FinalizationOrder::FontListAfterServerControl => {
                anyhow::ensure!(!opts.nla, "the Font List order is tested with TLS security only");
                crate::finalization::finalize_font_list_last(connector, &mut framed)
                    .await
                    .context("connection sequence")?
            }
        };
        let result = outcome.into_connected()?;

        let mut static_channels = result.static_channels;
        let channel_ids: Vec<(String, u16)> = static_channels
            .iter_mut()
            .filter_map(|(_, channel, id)| Some((channel.channel_name().as_str()?.to_string(), id?)))
            .collect();
        let desktop = (result.desktop_size.width, result.desktop_size.height);
        let mut stage = ActiveStageBuilder {
            static_channels,
            user_channel_id: result.user_channel_id,
            io_channel_id: result.io_channel_id,
            message_channel_id: result.message_channel_id,
            share_id: result.share_id,
            compression_type: result.compression_type,
            enable_server_pointer: result.enable_server_pointer,
            pointer_software_rendering: result.pointer_software_rendering,
        }
        .build();
        stage.set_window_support_level(result.window_support_level);
        let drdynvc_id = channel_ids.iter().find(|(name, _)| name == "drdynvc").map(|(_, id)| *id);
        let monitor_layouts = result.monitor_layout.into_iter().map(|pdu| pdu.monitors).collect();
        Ok(TestClient {
            framed,
            stage,
            image: DecodedImage::new(PixelFormat::RgbA32, desktop.0, desktop.1),
            gfx,
            user_channel_id: result.user_channel_id,
            io_channel_id: result.io_channel_id,
            channel_ids,
            tap: GfxTap::new(drdynvc_id),
            monitor_layouts,
            graphics_updates: 0,
            pointer: Vec::new(),
            windowing_orders: Vec::new(),
            window_updates: Vec::new(),
            window_images: std::collections::BTreeMap::new(),
            keep_window_updates: true,
            unaccounted_bytes: 0,
            terminated: None,
            closed: None,
            held: Default::default(),
        })
    }
}

/// A connected, activated RDP client that the test drives: nothing happens unless the test
/// calls [`TestClient::pump`] (or a method that pumps).
pub struct TestClient {
    framed: ironrdp_tokio::TokioFramed<TlsStream>,
    stage: ActiveStage,
    image: DecodedImage,
    gfx: SharedGfxLog,
    user_channel_id: u16,
    io_channel_id: u16,
    channel_ids: Vec<(String, u16)>,
    tap: GfxTap,
    /// Every Monitor Layout PDU (the one of the connection sequence first, if any).
    monitor_layouts: Vec<Vec<Monitor>>,
    graphics_updates: u64,
    pointer: Vec<PointerEvent>,
    windowing_orders: Vec<WindowingOrder>,
    window_updates: Vec<WindowUpdate>,
    /// Each RemoteApp window's pixels, rebuilt from the window updates.
    window_images: std::collections::BTreeMap<u64, crate::rail::WindowImage>,
    keep_window_updates: bool,
    /// Slow-path bytes received since the last EGFX frame ended.
    unaccounted_bytes: usize,
    terminated: Option<String>,
    closed: Option<String>,
    /// Answers held back ([`TestClient::delay_acks`]).
    held: crate::acks::HeldAnswers,
}

impl TestClient {
    /// Connects with the graphics pipeline and nothing else; see [`ClientBuilder`] for more.
    pub async fn connect(addr: &str, opts: ClientOptions) -> Result<TestClient> {
        ClientBuilder::new(opts).connect(addr).await
    }

    /// Reads and processes server PDUs for `timeout`, answering what needs an answer (frame
    /// acknowledgements, dynamic channel setup). Returns how many PDUs it processed; stops
    /// early when the server closes the connection (see [`TestClient::closed`]).
    pub async fn pump(&mut self, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        let mut count = 0;
        while self.closed.is_none() {
            self.write_held_answers().await?;
            let until = self.held.next_due().map_or(deadline, |due| due.min(deadline));
            let (action, frame) = match tokio::time::timeout_at(until, self.framed.read_pdu()).await {
                Err(_) if until < deadline => continue,
                Err(_) => break,
                Ok(Ok(pdu)) => pdu,
                Ok(Err(e)) if is_closed(&e) => {
                    self.closed = Some(e.to_string());
                    break;
                }
                Ok(Err(e)) => return Err(anyhow::Error::new(e).context("reading from the server")),
            };
            count += 1;
            self.process(action, &frame).await?;
        }
        Ok(count)
    }

    /// Pumps until `done(self)` holds; fails after `timeout`.
    pub async fn pump_until(&mut self, timeout: Duration, mut done: impl FnMut(&TestClient) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            if Instant::now() >= deadline {
                bail!("condition not reached within {timeout:?}");
            }
            if self.closed.is_some() {
                bail!("the server closed the connection: {}", self.closed.as_deref().unwrap_or_default());
            }
            self.pump(Duration::from_millis(10)).await?;
        }
        Ok(())
    }

    /// Pumps until the server has closed the connection; returns how it ended.
    pub async fn wait_closed(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        while self.closed.is_none() {
            if Instant::now() >= deadline {
                bail!("the server kept the connection open for {timeout:?}");
            }
            self.pump(Duration::from_millis(10)).await?;
        }
        Ok(self.closed.clone().unwrap_or_default())
    }

    async fn process(&mut self, action: Action, frame: &[u8]) -> Result<()> {
        let arrived = std::time::Instant::now();
        let frames_before = self.frames_received();
        let acks_before = self.frames_and_presents();
        let outputs = self.stage.process(&mut self.image, action, frame, None).context("processing a server PDU")?;
        if action == Action::X224 {
            self.tap.feed(frame);
            // EGFX travels in slow-path PDUs; what arrived until a frame ended is that frame's.
            self.unaccounted_bytes += frame.len();
            let mut log = self.gfx.lock();
            if log.frame_records.len() > frames_before {
                log.frame_records[frames_before].wire_bytes = std::mem::take(&mut self.unaccounted_bytes);
            }
            for record in &mut log.frame_records[frames_before..] {
                record.arrived = Some(arrived);
            }
        }
        // The acknowledgements of the frames this PDU ended go with its first answer.
        let mut new_frames = self.frames_and_presents() - acks_before;
        for output in outputs {
            match output {
                ActiveStageOutput::ResponseFrame(bytes) => {
                    if !bytes.is_empty() {
                        let frames = std::mem::take(&mut new_frames);
                        if let Some(bytes) = self.held.answer(bytes, frames, Instant::now()) {
                            self.write_answer(&bytes).await?;
                        }
                    }
                }
                ActiveStageOutput::GraphicsUpdate(_) => self.graphics_updates += 1,
                ActiveStageOutput::PointerDefault => self.pointer.push(PointerEvent::Default),
                ActiveStageOutput::PointerHidden => self.pointer.push(PointerEvent::Hidden),
                ActiveStageOutput::PointerPosition { x, y } => self.pointer.push(PointerEvent::Position { x, y }),
                ActiveStageOutput::PointerBitmap(p) => self.pointer.push(PointerEvent::Bitmap {
                    width: p.width,
                    height: p.height,
                    hotspot_x: p.hotspot_x,
                    hotspot_y: p.hotspot_y,
                }),
                ActiveStageOutput::WindowingOrders(orders) => self.windowing_orders.extend(orders),
                ActiveStageOutput::WindowSurfaceUpdates(updates) => {
                    for u in &updates {
                        crate::rail::paint_window_update(&mut self.window_images, u);
                    }
                    if self.keep_window_updates {
                        self.window_updates.extend(updates);
                    }
                }
                ActiveStageOutput::MonitorLayout(monitors) => self.monitor_layouts.push(monitors),
                ActiveStageOutput::Terminate(reason) => self.terminated = Some(reason.description()),
                ActiveStageOutput::DeactivateAll => {
                    bail!("the server started a deactivation-reactivation sequence, which the test client does not do")
                }
                other => tracing::debug!("server output ignored: {other:?}"),
            }
        }
        Ok(())
    }

    /// Every frame the client took in so far, each owing an acknowledgement: EGFX frames, and
    /// VAIL presents when it is a VAIL host ([`crate::GfxRedirHost`]).
    pub fn frames_and_presents(&self) -> usize {
        let vail = self.stage.get_dvc::<crate::GfxRedirHost>().map_or(0, |c| c.processor().state().lock().acks_sent);
        self.frames_received() + vail as usize
    }

    /// Writes an answer to the server; a connection closed meanwhile is the server's close.
    async fn write_answer(&mut self, bytes: &[u8]) -> Result<()> {
        match self.framed.write_all(bytes).await {
            Ok(()) => Ok(()),
            Err(e) if is_closed(&e) => {
                self.closed = Some(e.to_string());
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e).context("answering the server")),
        }
    }

    async fn write_held_answers(&mut self) -> Result<()> {
        for bytes in self.held.take_due(Instant::now()) {
            self.write_answer(&bytes).await?;
        }
        Ok(())
    }

    /// Holds every frame acknowledgement (EGFX frames, VAIL presents) back for `delay` (and what the client answers
    /// after it, to keep the order), as a slow client; None: answers go out at once again
    /// (what is held still waits for its time). Held answers go out while the test pumps.
    pub fn delay_acks(&mut self, delay: Option<Duration>) {
        self.held.set_delay(delay);
    }

    /// The most frames (EGFX, VAIL presents) received and not acknowledged at one time, since the last
    /// [`TestClient::reset_max_unacked`]: the server's frames in flight as the client sees them.
    pub fn max_unacked(&self) -> usize {
        self.held.max_unacked()
    }

    pub fn reset_max_unacked(&mut self) {
        self.held.reset_max();
    }

    /// Sends input events as fast-path input PDUs.
    pub async fn send_input(&mut self, events: &[FastPathInputEvent]) -> Result<()> {
        for output in self.stage.process_fastpath_input(&mut self.image, events)? {
            if let ActiveStageOutput::ResponseFrame(bytes) = output {
                self.framed.write_all(&bytes).await.context("sending input")?;
            }
        }
        Ok(())
    }

    /// Waits until the server opened the DisplayControl channel and sent its capabilities.
    pub async fn wait_display_control(&mut self, timeout: Duration) -> Result<DisplayControlCapabilities> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(caps) = self.stage.display_control_capabilities() {
                return Ok(caps);
            }
            if self.stage.display_control_ready().is_none() {
                bail!("the client was built without the DisplayControl channel (ClientOptions::display_control)");
            }
            if Instant::now() >= deadline {
                bail!("no DisplayControl capabilities from the server within {timeout:?}");
            }
            if let Some(closed) = &self.closed {
                bail!("the server closed the connection: {closed}");
            }
            self.pump(Duration::from_millis(10)).await?;
        }
    }

    /// Sends a new monitor layout on the DisplayControl channel (after
    /// [`TestClient::wait_display_control`]), as a host does when its monitors change.
    pub async fn send_monitor_layout(&mut self, monitors: &[MonitorSpec]) -> Result<()> {
        let layout = crate::monitors::display_control_layout(monitors)?;
        let bytes = match self.stage.encode_monitor_layout(&layout) {
            Some(bytes) => bytes.context("encoding the monitor layout")?,
            None => bail!("the DisplayControl channel is not ready"),
        };
        self.framed.write_all(&bytes).await.context("sending the monitor layout")?;
        Ok(())
    }

    /// The Monitor Layout PDUs the server sent (each a list of monitor rectangles, inclusive).
    pub fn monitor_layouts(&self) -> &[Vec<Monitor>] {
        &self.monitor_layouts
    }

    /// What the tap on the graphics channel saw: ResetGraphics with its monitor list.
    pub fn gfx_tap(&self) -> &TapLog {
        &self.tap.log
    }

    /// Sends a share data PDU (slow path) on the I/O channel.
    pub async fn send_share_data(&mut self, pdu: ShareDataPdu) -> Result<()> {
        let mut buf = ironrdp_core::WriteBuf::new();
        self.stage.encode_static(&mut buf, pdu)?;
        self.framed.write_all(buf.filled()).await.context("sending a share data PDU")?;
        Ok(())
    }

    /// Writes `bytes` as they are on the (TLS) connection, for robustness tests.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let (stream, _) = self.framed.get_inner_mut();
        stream.write_all(bytes).await?;
        stream.flush().await?;
        Ok(())
    }

    /// Sends `user_data` in an MCS Send Data Request on `channel_id` as it is (add the virtual
    /// channel header with [`crate::raw::svc_chunk`] for a static channel).
    pub async fn send_on_channel(&mut self, channel_id: u16, user_data: &[u8]) -> Result<()> {
        let pdu = crate::raw::mcs_send_data(self.user_channel_id, channel_id, user_data);
        self.send_raw(&pdu).await
    }

    /// Says goodbye (MCS Disconnect Provider Ultimatum, user requested) and closes TLS.
    pub async fn disconnect(mut self) -> Result<()> {
        if self.closed.is_some() {
            return Ok(());
        }
        let pdu = X224(McsMessage::DisconnectProviderUltimatum(DisconnectProviderUltimatum::from_reason(
            DisconnectReason::UserRequested,
        )));
        self.send_raw(&ironrdp_core::encode_vec(&pdu)?).await?;
        let (stream, _) = self.framed.get_inner_mut();
        let _ = stream.shutdown().await;
        Ok(())
    }

    /// The colour at (x, y) of the decoded desktop, as [r, g, b, a].
    ///
    /// # Panics
    ///
    /// When (x, y) is outside the desktop.
    pub fn pixel(&self, x: u16, y: u16) -> [u8; 4] {
        let (w, h) = self.desktop_size();
        assert!(x < w && y < h, "pixel ({x}, {y}) is outside the {w}x{h} desktop");
        let at = usize::from(y) * self.image.stride() + usize::from(x) * self.image.bytes_per_pixel();
        let p = &self.image.data()[at..at + 4];
        [p[0], p[1], p[2], p[3]]
    }

    /// The decoded desktop (RGBA, `desktop_size().0 * 4` bytes a row).
    pub fn image(&self) -> &DecodedImage {
        &self.image
    }

    /// The desktop size now (the server may change it with ResetGraphics).
    pub fn desktop_size(&self) -> (u16, u16) {
        (self.image.width(), self.image.height())
    }

    /// How many EGFX frames (EndFrame) were received, decoded and acknowledged.
    pub fn frames_received(&self) -> usize {
        self.gfx.lock().frames.len()
    }

    /// Everything the graphics pipeline did so far.
    pub fn gfx(&self) -> GfxLog {
        self.gfx.lock().clone()
    }

    /// How many times the desktop image changed (graphics updates of any kind).
    pub fn graphics_updates(&self) -> u64 {
        self.graphics_updates
    }

    pub fn pointer_events(&self) -> &[PointerEvent] {
        &self.pointer
    }

    pub fn windowing_orders(&self) -> &[WindowingOrder] {
        &self.windowing_orders
    }

    pub fn window_updates(&self) -> &[WindowUpdate] {
        &self.window_updates
    }

    /// The host's RemoteApp windows as the windowing orders so far describe them.
    pub fn host_windows(&self) -> crate::rail::HostWindows {
        crate::rail::HostWindows::from_orders(&self.windowing_orders)
    }

    /// A RemoteApp window's pixels, rebuilt from the EGFX window updates so far.
    pub fn window_image(&self, window_id: u32) -> Option<&crate::rail::WindowImage> {
        self.window_images.get(&u64::from(window_id))
    }

    /// Stops keeping every window update (long sessions); the window images stay current.
    pub fn keep_window_updates(&mut self, keep: bool) {
        self.keep_window_updates = keep;
        if !keep {
            self.window_updates.clear();
        }
    }

    /// One record per EGFX frame: the surfaces it updated and its size on the wire.
    pub fn frame_records(&self) -> Vec<crate::gfx::FrameRecord> {
        self.gfx.lock().frame_records.clone()
    }

    /// The RAIL channel's client end, when the client was built with one.
    pub fn rail(&mut self) -> Option<&crate::rail::RailClient> {
        self.stage.get_svc_processor::<crate::rail::RailClient>()
    }

    /// The `cliprdr` channel, when the client was built with a [`crate::ClipboardClient`].
    pub fn clipboard(&mut self) -> Option<&mut crate::clipboard::ClipboardClient> {
        self.stage.get_svc_processor_mut::<crate::clipboard::ClipboardClient>()
    }

    /// Sends PDUs on a static channel the client was built with (e.g. RAIL PDUs on `rail`).
    pub async fn send_svc<T: SvcProcessor + 'static>(&mut self, messages: Vec<ironrdp_svc::SvcMessage>) -> Result<()> {
        let bytes = self
            .stage
            .process_svc_processor_messages(ironrdp_svc::SvcProcessorMessages::<T>::new(messages))
            .context("encoding static channel PDUs")?;
        self.framed.write_all(&bytes).await.context("sending static channel PDUs")?;
        Ok(())
    }

    /// Sends a RAIL PDU (Activate, SysCommand, WindowMove, ...) on the `rail` channel.
    pub async fn send_rail(&mut self, pdu: ironrdp_rail::RailPdu) -> Result<()> {
        self.send_svc::<crate::rail::RailClient>(vec![ironrdp_svc::SvcMessage::from(pdu)]).await
    }

    /// The MCS channel id of a joined static channel by name (`drdynvc`, `rail`, ...).
    pub fn static_channel_id(&self, name: &str) -> Option<u16> {
        self.channel_ids.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    /// The id of an open dynamic channel by its processor type (e.g. `GraphicsPipelineClient`).
    pub fn dvc_channel_id<T: DvcClientProcessor + 'static>(&self) -> Option<u32> {
        self.stage.get_dvc::<T>().map(|c| c.channel_id())
    }

    /// Sends `payloads` as they are (lying lengths, unknown ids, garbage), one message each, on
    /// the dynamic channel of processor `T`; `name` names them in IronRDP's logs.
    pub async fn send_dvc<T: DvcClientProcessor + 'static>(
        &mut self,
        name: &'static str,
        payloads: Vec<Vec<u8>>,
    ) -> Result<()> {
        let Some(id) = self.dvc_channel_id::<T>() else { bail!("the server has not opened the {name} channel") };
        let messages = wayrail_dvc::EncodedPdu::messages(name, payloads);
        let svc = ironrdp_dvc::encode_dvc_messages(id, messages, ironrdp_svc::ChannelFlags::SHOW_PROTOCOL)?;
        self.send_svc::<ironrdp_dvc::DrdynvcClient>(svc).await
    }

    /// The id of the graphics pipeline's dynamic channel, once the server opened it.
    pub fn gfx_channel_id(&self) -> Option<u32> {
        self.dvc_channel_id::<GraphicsPipelineClient>()
    }

    pub fn user_channel_id(&self) -> u16 {
        self.user_channel_id
    }

    pub fn io_channel_id(&self) -> u16 {
        self.io_channel_id
    }

    /// The server's reason when it ended the session with a disconnect PDU.
    pub fn terminated(&self) -> Option<&str> {
        self.terminated.as_deref()
    }

    /// Set once the connection is gone (EOF or reset), with the transport's words for it.
    pub fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// The session layer, for channel processors (`get_svc_processor_mut`, `get_dvc_mut`).
    pub fn stage_mut(&mut self) -> &mut ActiveStage {
        &mut self.stage
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe)
}
