//! EGFX output: one surface the size of the desktop (mapped to the output) in the full-desktop
//! mode, one per window in RemoteApp; damaged tiles encoded with ClearCodec (lossless,
//! mandatory for every EGFX client), or where a surface keeps changing (`codec`) AVC420, or
//! RemoteFX Progressive for a client without AVC (`progressive`). A lossy run whose content
//! has colour that 4:2:0 visibly loses (`codec::chroma_detail`) goes out in AVC444 instead,
//! for a client that decodes it.

use ironrdp_egfx::pdu::{CapabilitiesAdvertisePdu, CapabilitySet};
use std::time::Instant;

use ironrdp_egfx::pdu::Avc420Region;
use ironrdp_egfx::server::{GraphicsPipelineHandler, GraphicsPipelineServer, MixedTilePayload};
use ironrdp_graphics::clearcodec::ClearCodecEncoder;
use ironrdp_pdu::geometry::ExclusiveRectangle;
use tokio::sync::mpsc::UnboundedSender;

use crate::codec::{chroma_detail, Avc444, Avc444Pictures, Choice, Chooser, H264Mode, Shadow, H264};
use crate::progressive::Progressive;
use crate::DesktopFrame;

/// What the graphics pipeline tells the session loop.
#[derive(Debug)]
pub enum GfxEvent {
    /// What the client advertised; `scaled_map_disabled`: it cannot show surfaces mapped to
    /// scaled windows (FreeRDP 2.x sets SCALEDMAP_DISABLE and draws only output-mapped ones).
    Advertised {
        scaled_map_disabled: bool,
    },
    Ready,
    /// `suspended`: the client asked for no more acks (queue depth SUSPEND_FRAME_ACKNOWLEDGEMENT).
    FrameAck {
        frame_id: u32,
        suspended: bool,
    },
    Closed,
}

/// Forwards the pipeline's callbacks into the session loop.
pub struct GfxHandler {
    pub events: UnboundedSender<GfxEvent>,
}

impl GraphicsPipelineHandler for GfxHandler {
    fn capabilities_advertise(&mut self, pdu: &CapabilitiesAdvertisePdu) {
        let versions: Vec<String> = pdu.0.iter().map(|c| format!("{:#x}", c.version.0)).collect();
        tracing::debug!(?versions, "client EGFX capabilities");
        let scaled_map_disabled = pdu.0.iter().any(|raw| {
            matches!(raw.parsed(), Ok(Some(CapabilitySet::V10_7 { flags }))
                if flags.contains(ironrdp_egfx::pdu::CapabilitiesV107Flags::SCALEDMAP_DISABLE))
        });
        let _ = self.events.send(GfxEvent::Advertised { scaled_map_disabled });
    }

    fn on_ready(&mut self, negotiated: &CapabilitySet) {
        tracing::info!(version = format!("{:#x}", negotiated.version().0), "EGFX ready");
        let _ = self.events.send(GfxEvent::Ready);
    }

    fn on_frame_ack(&mut self, frame_id: u32, queue_depth: u32, _total_frames_decoded: u32) {
        let _ = self.events.send(GfxEvent::FrameAck { frame_id, suspended: queue_depth == 0xFFFF_FFFF });
    }

    /// No limit here: the compositor paces itself (one desktop frame, or one frame per changed
    /// RemoteApp window, until they are acknowledged). The pipeline's default of 3 refused the
    /// 4th window's frame of a round after it was encoded: its pixels never reached the host,
    /// and the ClearCodec glyph cache and sequence numbers went out of step with the client's.
    fn max_frames_in_flight(&self) -> u32 {
        0
    }

    fn on_close(&mut self) {
        let _ = self.events.send(GfxEvent::Closed);
    }
}

/// The codecs of a connection: its one ClearCodec encoder (sequence numbers and the glyph
/// cache run per connection, so every surface shares it) and whether H.264 may be used.
pub struct Codecs {
    pub clear: std::cell::RefCell<ClearCodecEncoder>,
    pub h264: H264Mode,
}

/// The session's codecs (single-threaded session, so a plain Rc).
pub type SharedEncoder = std::rc::Rc<Codecs>;

pub fn new_encoder(h264: H264Mode) -> SharedEncoder {
    std::rc::Rc::new(Codecs { clear: std::cell::RefCell::new(ClearCodecEncoder::new()), h264 })
}

/// The lossy side of a surface: H.264 when its client decodes AVC420, else RemoteFX
/// Progressive.
struct Adaptive {
    chooser: Chooser,
    shadow: Shadow,
    /// Made when the surface first switches to AVC420; None after it failed.
    encoder: Option<H264>,
    /// The client decodes AVC444.
    avc444_allowed: bool,
    /// The lossy run goes out in AVC444 (chosen at its key frame).
    full_chroma: bool,
    /// Made when a lossy run first goes out in AVC444.
    avc444: Option<Avc444>,
    /// Set for a client without AVC420: the lossy frames go out in RemoteFX Progressive.
    progressive: Option<Progressive>,
    failed: bool,
}

/// The session's desktop surface.
pub struct DesktopSurface {
    pub surface_id: u16,
    pub width: u16,
    pub height: u16,
    codecs: SharedEncoder,
    /// Set when the surface may switch to AVC420 (`[rdp] h264` and the client allow it).
    adaptive: Option<Adaptive>,
}

impl DesktopSurface {
    /// (Re)creates the desktop surface: ResetGraphics with the desktop size and the monitors,
    /// CreateSurface, MapSurfaceToOutput.
    pub fn create(
        gfx: &mut GraphicsPipelineServer,
        encoder: &SharedEncoder,
        width: u16,
        height: u16,
        monitors: Vec<ironrdp_pdu::gcc::Monitor>,
    ) -> Option<DesktopSurface> {
        gfx.resize_with_monitors(width, height, monitors);
        let surface_id = gfx.create_surface(width, height)?;
        if !gfx.map_surface_to_output(surface_id, 0, 0) {
            return None;
        }
        Some(Self::new(gfx, encoder, surface_id, width, height))
    }

    /// A surface for one RemoteApp window (mapped separately by the caller).
    pub fn for_window(
        gfx: &mut GraphicsPipelineServer,
        encoder: &SharedEncoder,
        width: u16,
        height: u16,
    ) -> Option<DesktopSurface> {
        let surface_id = gfx.create_surface(width.max(1), height.max(1))?;
        Some(Self::new(gfx, encoder, surface_id, width, height))
    }

    fn new(
        gfx: &GraphicsPipelineServer,
        codecs: &SharedEncoder,
        surface_id: u16,
        width: u16,
        height: u16,
    ) -> DesktopSurface {
        let lossy = codecs.h264 == H264Mode::Auto && width > 0 && height > 0;
        let avc = gfx.supports_avc420();
        let adaptive = (lossy && (avc || supports_progressive(gfx))).then(|| Adaptive {
            chooser: Chooser::default(),
            shadow: Shadow::new(width, height),
            encoder: None,
            avc444_allowed: avc && gfx.supports_avc444(),
            full_chroma: false,
            avc444: None,
            progressive: (!avc).then(Progressive::new),
            failed: false,
        });
        DesktopSurface { surface_id, width, height, codecs: codecs.clone(), adaptive }
    }

    /// Queues one EGFX frame with every tile of `frame`; returns its EGFX frame id.
    pub fn queue_frame(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        frame: &DesktopFrame,
        timestamp_ms: u32,
    ) -> Option<u32> {
        self.queue_tiles(gfx, &frame.tiles, timestamp_ms)
    }

    /// Queues one EGFX frame with these tiles, in the codec `codec` chooses; returns its EGFX
    /// frame id.
    pub fn queue_tiles(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        tiles: &[crate::Tile],
        timestamp_ms: u32,
    ) -> Option<u32> {
        let prepared = self.prepare(tiles, Instant::now())?;
        let picture = self.avc_job(&prepared).map(AvcJob::run);
        self.send(gfx, prepared, picture, timestamp_ms)
    }

    /// The tiles clipped to the surface and kept in its copy, and the codec chosen; None when
    /// none of them is on the surface.
    fn prepare<'t>(&mut self, tiles: &'t [crate::Tile], now: Instant) -> Option<Prepared<'t>> {
        debug_assert_eq!(std::thread::current().name(), Some(crate::server::RDP_THREAD), "{ON_THE_RDP_THREAD}");
        // Clipped to the surface: a desktop resize may race a frame in flight.
        let mut clipped = Vec::with_capacity(tiles.len());
        for t in tiles {
            let right = (t.x as u32 + t.width as u32).min(self.width as u32) as u16;
            let bottom = (t.y as u32 + t.height as u32).min(self.height as u32) as u16;
            if right <= t.x || bottom <= t.y || t.bgra.len() != t.width as usize * t.height as usize * 4 {
                continue;
            }
            clipped.push((ExclusiveRectangle { left: t.x, top: t.y, right, bottom }, t));
        }
        if clipped.is_empty() {
            return None;
        }
        let choice = match self.adaptive.as_mut() {
            Some(adaptive) => {
                for (rect, t) in &clipped {
                    adaptive.shadow.blit(rect, &t.bgra, t.width as usize * 4);
                }
                let damage: Vec<ExclusiveRectangle> = clipped.iter().map(|(r, _)| r.clone()).collect();
                adaptive.chooser.choose(&damage, (self.width, self.height), !adaptive.failed, now)
            }
            None => Choice::Clear { refresh: None },
        };
        Some(Prepared { clipped, choice })
    }

    /// The H.264 picture the frame needs, as work that may run on another thread.
    fn avc_job(&mut self, prepared: &Prepared<'_>) -> Option<AvcJob<'_>> {
        match prepared.choice {
            // A client without AVC: the lossy picture is RemoteFX Progressive, made in `send`.
            Choice::Avc420 { .. } if self.adaptive.as_ref()?.progressive.is_some() => None,
            Choice::Avc420 { key_frame } => {
                let adaptive = self.adaptive.as_mut()?;
                if key_frame {
                    // A run's codec is chosen at its start, from what it starts with.
                    let damage: Vec<ExclusiveRectangle> = prepared.clipped.iter().map(|(r, _)| r.clone()).collect();
                    let detail = if adaptive.avc444_allowed { chroma_detail(&adaptive.shadow, &damage) } else { 0.0 };
                    adaptive.full_chroma = detail >= NEEDS_CHROMA;
                    tracing::debug!(surface = self.surface_id, detail, avc444 = adaptive.full_chroma, "lossy run");
                }
                Some(AvcJob { adaptive, key_frame })
            }
            Choice::Clear { .. } => None,
        }
    }

    /// Queues the frame: the H.264 `picture` an AVC420 choice was encoded to, or ClearCodec
    /// tiles (encoded here, in the order frames go out, as the connection's ClearCodec state
    /// wants).
    fn send(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        prepared: Prepared<'_>,
        picture: Option<anyhow::Result<Picture>>,
        timestamp_ms: u32,
    ) -> Option<u32> {
        let Prepared { clipped, choice } = prepared;
        let mut refresh = None;
        match (choice, self.adaptive.as_mut()) {
            (Choice::Avc420 { .. }, Some(adaptive)) if adaptive.progressive.is_some() => {
                let damage: Vec<ExclusiveRectangle> = clipped.iter().map(|(r, _)| r.clone()).collect();
                let progressive = adaptive.progressive.as_mut().expect("checked");
                let started = Instant::now();
                let encoded = progressive.encode(&adaptive.shadow, &damage);
                adaptive.chooser.note_cost(true, started.elapsed());
                match encoded {
                    Ok(Some(progressive_data)) => {
                        let bytes = progressive_data.len();
                        let tile = MixedTilePayload::RemoteFxProgressive { codec_context_id: 0, progressive_data };
                        let id = gfx.send_mixed_frame(self.surface_id, vec![tile], timestamp_ms);
                        if id.is_some() {
                            crate::codec::count_progressive(bytes);
                            return id;
                        }
                        tracing::warn!(surface = self.surface_id, "progressive frame refused; ClearCodec from now on");
                    }
                    // Nothing of the damage inside the surface: nothing lossy to send.
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(
                            surface = self.surface_id,
                            "RemoteFX Progressive failed, ClearCodec from now on: {err:#}"
                        )
                    }
                }
                adaptive.failed = true;
                refresh = adaptive.chooser.leave();
            }
            (Choice::Avc420 { key_frame }, Some(adaptive)) => {
                match picture.unwrap_or_else(|| Err(anyhow::anyhow!("no picture was encoded"))) {
                    Ok(picture) => {
                        let (codec, bytes, id) = match picture {
                            Picture::Avc420(h264_data) => {
                                let bytes = h264_data.len();
                                let regions = clipped
                                    .iter()
                                    .map(|(r, _)| Avc420Region::new(r.left, r.top, r.right, r.bottom, AVC_QP, 100))
                                    .collect();
                                let tile = MixedTilePayload::Avc420 { regions, h264_data };
                                ("AVC420", bytes, gfx.send_mixed_frame(self.surface_id, vec![tile], timestamp_ms))
                            }
                            // Both views of every frame (LC 0): the client combines them
                            // into the full-chroma picture, in one region on whole macroblocks
                            // (`macroblock_bounds`), which then all went out lossy.
                            Picture::Avc444(Avc444Pictures { main, auxiliary }) => {
                                let bytes = main.len() + auxiliary.len();
                                let damage: Vec<ExclusiveRectangle> = clipped.iter().map(|(r, _)| r.clone()).collect();
                                let bounds = macroblock_bounds(&damage, (self.width, self.height));
                                adaptive.chooser.add_lossy(std::slice::from_ref(&bounds));
                                let regions = [Avc420Region::new(
                                    bounds.left,
                                    bounds.top,
                                    bounds.right,
                                    bounds.bottom,
                                    AVC_QP,
                                    100,
                                )];
                                let id = gfx.send_avc444v2_frame(
                                    self.surface_id,
                                    ironrdp_egfx::pdu::Encoding::LUMA_AND_CHROMA,
                                    &main,
                                    &regions,
                                    Some(&auxiliary),
                                    Some(&regions),
                                    timestamp_ms,
                                );
                                ("AVC444", bytes, id)
                            }
                        };
                        if id.is_some() {
                            if key_frame {
                                tracing::debug!(surface = self.surface_id, codec, "surface switched to H.264");
                            }
                            match codec {
                                "AVC444" => crate::codec::count_avc444(bytes),
                                _ => crate::codec::count_avc420(bytes),
                            }
                            return id;
                        }
                        // Refused (the pipeline says why at trace level): lossless from now on.
                        tracing::warn!(surface = self.surface_id, codec, "H.264 frame refused; ClearCodec from now on");
                        adaptive.failed = true;
                        refresh = adaptive.chooser.leave();
                    }
                    Err(err) => {
                        tracing::warn!(surface = self.surface_id, "H.264 failed, ClearCodec from now on: {err:#}");
                        adaptive.failed = true;
                        adaptive.encoder = None;
                        adaptive.avc444 = None;
                        refresh = adaptive.chooser.leave();
                    }
                }
            }
            (Choice::Avc420 { .. }, None) => {}
            (Choice::Clear { refresh: r }, _) => refresh = r,
        }
        let mut tiles = Vec::with_capacity(clipped.len() + 1);
        let mut bytes = 0;
        let started = Instant::now();
        for (rect, t) in &clipped {
            let (w, h) = (rect.right - rect.left, rect.bottom - rect.top);
            let data = if w == t.width && h == t.height {
                self.codecs.clear.borrow_mut().encode(&t.bgra, w, h)
            } else {
                let mut clipped = Vec::with_capacity(w as usize * h as usize * 4);
                for row in 0..h as usize {
                    let start = row * t.width as usize * 4;
                    clipped.extend_from_slice(&t.bgra[start..start + w as usize * 4]);
                }
                self.codecs.clear.borrow_mut().encode(&clipped, w, h)
            };
            bytes += data.len();
            tiles.push(MixedTilePayload::ClearCodec { destination: rect.clone(), bitmap_data: data });
        }
        if let Some(adaptive) = self.adaptive.as_mut() {
            adaptive.chooser.note_cost(false, started.elapsed());
        }
        if let Some(tile) = refresh.as_ref().and_then(|r| self.refresh_tile(r)) {
            if let MixedTilePayload::ClearCodec { bitmap_data, .. } = &tile {
                bytes += bitmap_data.len();
            }
            tiles.push(tile);
        }
        let id = gfx.send_mixed_frame(self.surface_id, tiles, timestamp_ms);
        if id.is_some() {
            crate::codec::count_clear(bytes, refresh.is_some());
            if refresh.is_some() {
                tracing::debug!(surface = self.surface_id, "surface back to ClearCodec, lossless refresh sent");
            }
        }
        id
    }

    /// When this surface's lossless refresh is due (it went out in AVC420 and nothing came
    /// since).
    pub fn refresh_due(&self) -> Option<Instant> {
        self.adaptive.as_ref().and_then(|a| a.chooser.refresh_due())
    }

    /// The surface settled: what went out lossy goes again in ClearCodec. Returns the EGFX
    /// frame id, if a frame went out.
    pub fn refresh(&mut self, gfx: &mut GraphicsPipelineServer, timestamp_ms: u32) -> Option<u32> {
        let rect = self.adaptive.as_mut()?.chooser.leave()?;
        let tile = self.refresh_tile(&rect)?;
        let bytes = match &tile {
            MixedTilePayload::ClearCodec { bitmap_data, .. } => bitmap_data.len(),
            _ => 0,
        };
        let id = gfx.send_mixed_frame(self.surface_id, vec![tile], timestamp_ms);
        if id.is_some() {
            crate::codec::count_clear(bytes, true);
            tracing::debug!(surface = self.surface_id, "surface settled, lossless refresh sent");
        }
        id
    }

    /// Back to ClearCodec without a refresh (there is no pipeline to send it on).
    pub fn forget_lossy(&mut self) {
        if let Some(a) = self.adaptive.as_mut() {
            a.chooser.leave();
        }
    }

    /// A ClearCodec tile of `rect` from the surface's own copy.
    fn refresh_tile(&self, rect: &ExclusiveRectangle) -> Option<MixedTilePayload> {
        let shadow = &self.adaptive.as_ref()?.shadow;
        let rect = ExclusiveRectangle {
            left: rect.left,
            top: rect.top,
            right: rect.right.min(shadow.width),
            bottom: rect.bottom.min(shadow.height),
        };
        if rect.right <= rect.left || rect.bottom <= rect.top {
            return None;
        }
        let pixels = shadow.crop(&rect);
        let data = self.codecs.clear.borrow_mut().encode(&pixels, rect.right - rect.left, rect.bottom - rect.top);
        Some(MixedTilePayload::ClearCodec { destination: rect, bitmap_data: data })
    }
}

/// Whether the client takes RemoteFX Progressive: every EGFX version but 8.0 has it
/// ([MS-RDPEGFX] 2.2.3.1: version 8.0 servers must not send it).
fn supports_progressive(gfx: &GraphicsPipelineServer) -> bool {
    !matches!(gfx.negotiated_capabilities(), None | Some(CapabilitySet::V8 { .. }))
}

/// The bounding box of `damage` out to whole 16×16 macroblocks, inside a `size` surface.
/// FreeRDP combines an AVC444 auxiliary view region by region and finds a region's samples
/// at its left edge divided by two and by four (the view packs columns at half and quarter
/// widths), and for layout v1 counts its odd chroma rows from the region's top: a region off
/// the macroblock grid gets the wrong chroma.
fn macroblock_bounds(damage: &[ExclusiveRectangle], (width, height): (u16, u16)) -> ExclusiveRectangle {
    let mut bounds = damage.iter().cloned().reduce(|a, b| ExclusiveRectangle {
        left: a.left.min(b.left),
        top: a.top.min(b.top),
        right: a.right.max(b.right),
        bottom: a.bottom.max(b.bottom),
    });
    let b = bounds.get_or_insert(ExclusiveRectangle { left: 0, top: 0, right: width, bottom: height });
    let up = |v: u16, limit: u16| (u32::from(v).div_ceil(16) * 16).min(u32::from(limit)) as u16;
    ExclusiveRectangle { left: b.left & !15, top: b.top & !15, right: up(b.right, width), bottom: up(b.bottom, height) }
}

/// What a surface's lossy frame was encoded to.
enum Picture {
    Avc420(Vec<u8>),
    Avc444(Avc444Pictures),
}

/// The share of a lossy run's first picture (its 2×2 blocks) that must lose visible colour
/// in 4:2:0 for the run to go out in AVC444, at two to three times AVC420's encoding time and
/// several times its bytes (`codec::avc444`'s benchmark): a quarter. Coloured strokes and
/// text dense with colour reach it; weston-simple-shm's saturated rings measure 0.08 to 0.12
/// and stay AVC420, as do shaded animation and video.
const NEEDS_CHROMA: f64 = 0.25;

/// The QP the AVC420 regions report (informational: the encoder's rate control picks its own).
const AVC_QP: u8 = 22;

/// No encoding runs on the compositor's thread, in the full-desktop mode or in RemoteApp:
/// the compositor hands its tiles over (`RdpHandle::send_frame`, `send_window_frame`: a
/// channel send) and never waits for an encoder; a session encodes them on the RDP thread
/// (`send_frame` → `queue_frame`, `send_window_frames` → `queue_tiles` / `queue_frames`).
/// Its codecs are in an `Rc`, so they cannot leave that thread (the test below stops
/// compiling if they can), and the H.264 work of a round of several windows goes to worker
/// threads of the session's own. (VAIL only copies pixels, on the compositor's thread.)
const ON_THE_RDP_THREAD: &str = "EGFX frames are encoded on the RDP thread (and its workers) only";

/// A frame between choosing its codec and going out.
struct Prepared<'t> {
    clipped: Vec<(ExclusiveRectangle, &'t crate::Tile)>,
    choice: Choice,
}

/// Encoding one surface's H.264 picture: all it touches is that surface's encoder and copy.
struct AvcJob<'a> {
    adaptive: &'a mut Adaptive,
    key_frame: bool,
}

impl AvcJob<'_> {
    fn run(self) -> anyhow::Result<Picture> {
        let thread = std::thread::current();
        debug_assert!(matches!(thread.name(), Some(crate::server::RDP_THREAD | AVC_THREAD)), "{ON_THE_RDP_THREAD}");
        let a = self.adaptive;
        let started = Instant::now();
        let picture = if a.full_chroma {
            let encoder = match a.avc444.as_mut() {
                Some(e) => e,
                None => a.avc444.insert(Avc444::new()?),
            };
            encoder.encode(&a.shadow, self.key_frame).map(Picture::Avc444)
        } else {
            let encoder = match a.encoder.as_mut() {
                Some(e) => e,
                None => a.encoder.insert(H264::new()?),
            };
            encoder.encode(&mut a.shadow, self.key_frame).map(Picture::Avc420)
        };
        a.chooser.note_cost(true, started.elapsed());
        picture
    }

    /// About how much work it is (the pixels of the picture).
    fn size(&self) -> usize {
        usize::from(self.adaptive.shadow.width) * usize::from(self.adaptive.shadow.height)
    }
}

/// Queues one frame for each of several surfaces (each surface once), in this order: the
/// same frames as `queue_tiles` one after the other. The H.264 pictures among them are
/// encoded side by side, on as many threads as there are cores (this one among them);
/// ClearCodec runs here, frame after frame, as its state is the connection's.
pub fn queue_frames(
    gfx: &mut GraphicsPipelineServer,
    frames: Vec<(&mut DesktopSurface, &[crate::Tile])>,
    timestamp_ms: u32,
) -> Vec<Option<u32>> {
    queue_frames_at(gfx, frames, timestamp_ms, Instant::now())
}

fn queue_frames_at(
    gfx: &mut GraphicsPipelineServer,
    mut frames: Vec<(&mut DesktopSurface, &[crate::Tile])>,
    timestamp_ms: u32,
    now: Instant,
) -> Vec<Option<u32>> {
    let prepared: Vec<Option<Prepared<'_>>> = frames.iter_mut().map(|(s, tiles)| s.prepare(tiles, now)).collect();
    let mut pictures: Vec<Option<anyhow::Result<Picture>>> = prepared.iter().map(|_| None).collect();
    let jobs: Vec<(usize, AvcJob<'_>)> = frames
        .iter_mut()
        .zip(&prepared)
        .enumerate()
        .filter_map(|(i, ((surface, _), p))| Some((i, surface.avc_job(p.as_ref()?)?)))
        .collect();
    for (i, picture) in encode_side_by_side(jobs) {
        pictures[i] = Some(picture);
    }
    frames
        .into_iter()
        .zip(prepared)
        .zip(pictures)
        .map(|(((surface, _), p), picture)| surface.send(gfx, p?, picture, timestamp_ms))
        .collect()
}

/// Runs the jobs on up to as many threads as there are cores, this one included; the results
/// with their indexes, in no order.
fn encode_side_by_side(mut jobs: Vec<(usize, AvcJob<'_>)>) -> Vec<(usize, anyhow::Result<Picture>)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len());
    if threads <= 1 {
        return jobs.into_iter().map(|(i, job)| (i, job.run())).collect();
    }
    // The largest first (taken from the end), so that one big picture does not come last.
    jobs.sort_by_key(|(_, job)| job.size());
    let queue = std::sync::Mutex::new(jobs);
    let work = || {
        let mut done = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((i, job)) = next else { return done };
            done.push((i, job.run()));
        }
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().name(AVC_THREAD.into()).spawn_scoped(scope, work).ok())
            .collect();
        let mut done = work();
        for helper in helpers {
            done.extend(helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        done
    })
}

/// The name of the threads that encode H.264 pictures for a session.
pub(crate) const AVC_THREAD: &str = "wayrail-avc";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ironrdp_dvc::DvcProcessor as _;

    use super::*;

    /// Implemented twice for a type that is `Send`, which makes `check` ambiguous for it.
    trait NotSend<A> {
        fn check() {}
    }
    impl<T: ?Sized> NotSend<()> for T {}
    impl<T: ?Sized + Send> NotSend<u8> for T {}

    /// The compositor's thread never encodes: the codecs are made by the session on the RDP
    /// thread and cannot leave it (this stops compiling if they can); what goes to worker
    /// threads is an `AvcJob` inside a scope of the session's, and `prepare` and
    /// `AvcJob::run` check their thread in debug builds.
    #[test]
    fn the_codecs_cannot_leave_the_rdp_thread() {
        <SharedEncoder as NotSend<_>>::check();
        <DesktopSurface as NotSend<_>>::check();
    }

    /// Runs `f` on a thread named as the RDP thread is.
    fn on_rdp_thread(f: impl FnOnce() + Send + 'static) {
        let thread = std::thread::Builder::new().name(crate::server::RDP_THREAD.into()).spawn(f).unwrap();
        thread.join().unwrap();
    }

    /// A pipeline whose client decodes AVC420, ready for frames.
    fn pipeline() -> GraphicsPipelineServer {
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let mut gfx = GraphicsPipelineServer::new(Box::new(GfxHandler { events }));
        gfx.start(1).unwrap();
        let caps = CapabilitySet::V10_7 { flags: ironrdp_egfx::pdu::CapabilitiesV107Flags::empty() };
        let pdu = ironrdp_egfx::pdu::GfxPdu::CapabilitiesAdvertise(CapabilitiesAdvertisePdu(vec![(&caps).into()]));
        gfx.process(1, &ironrdp_core::encode_vec(&pdu).unwrap()).unwrap();
        assert!(gfx.is_ready() && gfx.supports_avc420());
        gfx.drain_output();
        gfx
    }

    /// What the pipeline queued, as bytes.
    fn output(gfx: &mut GraphicsPipelineServer) -> Vec<Vec<u8>> {
        gfx.drain_output().iter().map(|m| ironrdp_core::encode_vec(m.as_ref()).unwrap()).collect()
    }

    /// A whole-surface tile, different in every frame.
    fn tile(width: u16, height: u16, frame: u32) -> crate::Tile {
        let mut bgra = Vec::with_capacity(usize::from(width) * usize::from(height) * 4);
        for y in 0..u32::from(height) {
            for x in 0..u32::from(width) {
                let v = (x * 3 + y * 5 + frame * 11) as u8;
                bgra.extend_from_slice(&[v, v.wrapping_mul(3), ((x ^ y) + frame) as u8, 255]);
            }
        }
        crate::Tile { x: 0, y: 0, width, height, bgra }
    }

    /// Frames of several windows encoded side by side go out exactly as one after the other
    /// would: the same PDUs in the same order, H.264 pictures and ClearCodec alike.
    #[test]
    fn frames_encoded_side_by_side_go_out_as_one_after_the_other() {
        on_rdp_thread(|| {
            let sizes = [(160u16, 128u16), (128, 136), (144, 150), (130, 129)];
            let (mut one, mut all) = (pipeline(), pipeline());
            let (codecs_one, codecs_all) = (new_encoder(H264Mode::Auto), new_encoder(H264Mode::Auto));
            let mut surfaces_one: Vec<DesktopSurface> =
                sizes.iter().map(|&(w, h)| DesktopSurface::for_window(&mut one, &codecs_one, w, h).unwrap()).collect();
            let mut surfaces_all: Vec<DesktopSurface> =
                sizes.iter().map(|&(w, h)| DesktopSurface::for_window(&mut all, &codecs_all, w, h).unwrap()).collect();
            // The choice weighs measured encoding times, which differ between the two runs.
            for s in surfaces_one.iter_mut().chain(surfaces_all.iter_mut()) {
                s.adaptive.as_mut().expect("a client with AVC").chooser.ignore_cost();
            }
            assert_eq!(output(&mut one), output(&mut all));
            let start = Instant::now();
            for round in 0..8u32 {
                let now = start + Duration::from_millis(16) * round;
                // The last rounds change one window a little only: it goes back to ClearCodec
                // (with its lossless refresh) while the others stay in AVC420.
                let tiles: Vec<Vec<crate::Tile>> = sizes
                    .iter()
                    .enumerate()
                    .map(|(i, &(w, h))| {
                        if round >= 6 && i == 1 {
                            vec![tile(8, 8, round)]
                        } else {
                            vec![tile(w, h, round * 7 + i as u32)]
                        }
                    })
                    .collect();
                let ids_one: Vec<Option<u32>> = surfaces_one
                    .iter_mut()
                    .zip(&tiles)
                    .map(|(s, t)| {
                        let prepared = s.prepare(t, now)?;
                        let picture = s.avc_job(&prepared).map(AvcJob::run);
                        s.send(&mut one, prepared, picture, round)
                    })
                    .collect();
                let frames = surfaces_all.iter_mut().zip(&tiles).map(|(s, t)| (s, &t[..])).collect();
                let ids_all = queue_frames_at(&mut all, frames, round, now);
                assert_eq!(ids_one, ids_all, "round {round}");
                assert!(ids_all.iter().all(Option::is_some), "round {round}");
                assert_eq!(output(&mut one), output(&mut all), "round {round}");
                if round == 5 {
                    let avc = surfaces_all.iter().all(|s| s.adaptive.as_ref().is_some_and(|a| a.chooser.in_avc()));
                    assert!(avc, "every window went AVC420");
                }
            }
        });
    }

    /// Thin coloured strokes on white, scrolled by `frame` rows, as a whole-surface tile.
    fn strokes(width: u16, height: u16, frame: u32) -> crate::Tile {
        let mut bgra = Vec::with_capacity(usize::from(width) * usize::from(height) * 4);
        for y in 0..u32::from(height) {
            for x in 0..u32::from(width) {
                bgra.extend_from_slice(match (x % 6, (y + frame) % 5) {
                    (1, _) => &[0, 0, 220, 255],
                    (_, 2) => &[230, 40, 0, 255],
                    _ => &[255, 255, 255, 255],
                });
            }
        }
        crate::Tile { x: 0, y: 0, width, height, bgra }
    }

    /// A smooth shaded picture that moves, as an animation or a video.
    fn shaded(width: u16, height: u16, frame: u32) -> crate::Tile {
        let mut bgra = Vec::with_capacity(usize::from(width) * usize::from(height) * 4);
        for y in 0..u32::from(height) {
            for x in 0..u32::from(width) {
                bgra.extend_from_slice(&[(x + frame) as u8, (y * 2) as u8, (x + y + frame) as u8 / 2, 255]);
            }
        }
        crate::Tile { x: 0, y: 0, width, height, bgra }
    }

    /// A lossy run whose content has colour 4:2:0 loses goes out in AVC444 (both views) to a
    /// client that decodes it; shaded animation stays AVC420, and so does everything for a
    /// client without AVC444.
    #[test]
    fn avc444_regions_start_on_the_macroblock_grid() {
        let r = |left, top, right, bottom| ExclusiveRectangle { left, top, right, bottom };
        assert_eq!(macroblock_bounds(&[r(17, 30, 40, 41), r(3, 33, 9, 70)], (100, 60)), r(0, 16, 48, 60));
        assert_eq!(macroblock_bounds(&[r(16, 32, 32, 48)], (100, 60)), r(16, 32, 32, 48));
        assert_eq!(macroblock_bounds(&[], (30, 20)), r(0, 0, 30, 20));
    }

    #[test]
    fn coloured_strokes_go_out_in_avc444_and_shaded_animation_in_avc420() {
        on_rdp_thread(|| {
            let run = |picture: fn(u16, u16, u32) -> crate::Tile, avc444: bool| {
                let mut gfx = pipeline();
                let codecs = new_encoder(H264Mode::Auto);
                let mut surface = DesktopSurface::for_window(&mut gfx, &codecs, 160, 120).unwrap();
                let adaptive = surface.adaptive.as_mut().unwrap();
                adaptive.chooser.ignore_cost();
                adaptive.avc444_allowed &= avc444;
                let before = crate::codec::totals().avc444_frames;
                let start = Instant::now();
                for frame in 0..6u32 {
                    let tiles = [picture(160, 120, frame)];
                    let prepared = surface.prepare(&tiles, start + Duration::from_millis(16) * frame).unwrap();
                    let encoded = surface.avc_job(&prepared).map(AvcJob::run);
                    assert!(surface.send(&mut gfx, prepared, encoded, frame).is_some());
                }
                let adaptive = surface.adaptive.as_ref().unwrap();
                assert!(adaptive.chooser.in_avc(), "the animation went lossy");
                (adaptive.full_chroma, crate::codec::totals().avc444_frames - before)
            };
            let (full, sent) = run(strokes, true);
            assert!(full && sent >= 3, "coloured strokes: AVC444 {full}, {sent} frames");
            assert!(!run(shaded, true).0, "shaded animation went AVC444");
            assert!(!run(strokes, false).0, "AVC444 to a client without it");
        });
    }

    /// How long a round of several animated windows takes with their H.264 pictures encoded
    /// one after the other and side by side (run with `--release -- --ignored --nocapture`).
    #[test]
    #[ignore = "a benchmark"]
    fn side_by_side_encoding_benchmark() {
        on_rdp_thread(|| {
            for windows in [1usize, 2, 4, 8] {
                let mut timings = Vec::new();
                for side_by_side in [false, true] {
                    let mut gfx = pipeline();
                    let codecs = new_encoder(H264Mode::Auto);
                    let mut surfaces: Vec<DesktopSurface> = (0..windows)
                        .map(|_| DesktopSurface::for_window(&mut gfx, &codecs, 320, 240).unwrap())
                        .collect();
                    let start = Instant::now();
                    let mut busy = Duration::ZERO;
                    for round in 0..60u32 {
                        let now = start + Duration::from_millis(16) * round;
                        let tiles: Vec<Vec<crate::Tile>> =
                            (0..windows).map(|i| vec![tile(320, 240, round * 3 + i as u32)]).collect();
                        let began = Instant::now();
                        if side_by_side {
                            let frames = surfaces.iter_mut().zip(&tiles).map(|(s, t)| (s, &t[..])).collect();
                            queue_frames_at(&mut gfx, frames, round, now);
                        } else {
                            for (s, t) in surfaces.iter_mut().zip(&tiles) {
                                let prepared = s.prepare(t, now).unwrap();
                                let picture = s.avc_job(&prepared).map(AvcJob::run);
                                s.send(&mut gfx, prepared, picture, round);
                            }
                        }
                        if round >= 10 {
                            busy += began.elapsed();
                        }
                        output(&mut gfx);
                    }
                    assert!(surfaces.iter().all(|s| s.adaptive.as_ref().is_some_and(|a| a.chooser.in_avc())));
                    timings.push(busy / 50);
                }
                eprintln!(
                    "{windows} windows of 320x240: a round takes {:?} one after the other, {:?} side by side",
                    timings[0], timings[1]
                );
            }
        });
    }
}
