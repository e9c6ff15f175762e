//! EGFX output: one surface the size of the desktop (mapped to the output) in the full-desktop
//! mode, one per window in RemoteApp; damaged tiles encoded with ClearCodec (lossless,
//! mandatory for every EGFX client), or where a surface keeps changing (`codec`) AVC420, or
//! RemoteFX Progressive for a client without AVC (`progressive`). A lossy run whose content
//! has colour that 4:2:0 visibly loses (`codec::chroma_detail`) goes out in AVC444 instead,
//! for a client that decodes it. On the desktop surface, a part that keeps changing while the
//! rest stays still (an animating window on a larger desktop) is a *video region*
//! (`codec::region`): it goes out lossy on its own, the rest in ClearCodec (see
//! [`DesktopSurface::queue_frame`]).

use ironrdp_egfx::pdu::{CapabilitiesAdvertisePdu, CapabilitySet};
use std::time::Instant;

use ironrdp_dvc::DvcMessage;
use ironrdp_egfx::pdu::{Avc420Region, GfxPdu, Point, SurfaceToSurfacePdu};
use ironrdp_egfx::server::{GraphicsPipelineHandler, GraphicsPipelineServer, MixedTilePayload};
use ironrdp_graphics::clearcodec::ClearCodecEncoder;
use ironrdp_pdu::geometry::ExclusiveRectangle;
use tokio::sync::mpsc::UnboundedSender;

use crate::codec::region::{intersect, subtract, union};
use crate::codec::{
    chroma_detail, Avc444, Avc444Pictures, Choice, Chooser, H264Mode, RegionStep, RegionTracker, Shadow, H264,
};
use crate::progressive::Progressive;
use crate::DesktopFrame;

mod side_by_side;
#[cfg(test)]
mod tests;
mod video_region;

use side_by_side::AvcJob;
pub use side_by_side::{acknowledge_merged, merge_frames, queue_frames};
use video_region::Region;

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
    /// The desktop surface's video region, when it has a lossy codec (never a window's).
    region: Option<Region>,
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
        let mut surface = Self::new(gfx, encoder, surface_id, width, height);
        if surface.adaptive.is_some() {
            surface.region =
                Some(Region { tracker: RegionTracker::new(width, height), offscreen: None, encoder: None });
        }
        Some(surface)
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
            chooser: if avc { Chooser::default() } else { Chooser::without_cheaper_mode() },
            shadow: Shadow::new(width, height),
            encoder: None,
            avc444_allowed: avc && gfx.supports_avc444(),
            full_chroma: false,
            avc444: None,
            progressive: (!avc).then(Progressive::new),
            failed: false,
        });
        DesktopSurface { surface_id, width, height, codecs: codecs.clone(), adaptive, region: None }
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
        let started = crate::codec::CpuStopwatch::start();
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
        if let Some(region) = self.region.as_mut() {
            region.tracker.note_cost(false, started.elapsed());
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
        let surface = self.adaptive.as_ref().and_then(|a| a.chooser.refresh_due());
        let region = self.region.as_ref().and_then(|r| r.tracker.refresh_due());
        surface.into_iter().chain(region).min()
    }

    /// The surface (or its video region) settled: what went out lossy goes again in
    /// ClearCodec. Returns the EGFX frame id, if a frame went out.
    pub fn refresh(&mut self, gfx: &mut GraphicsPipelineServer, timestamp_ms: u32) -> Option<u32> {
        let now = Instant::now();
        let mut rects = Vec::new();
        if let Some(a) = self.adaptive.as_mut().filter(|a| a.chooser.refresh_due().is_some_and(|t| t <= now)) {
            rects.extend(a.chooser.leave());
        }
        if let Some(r) = self.region.as_mut().filter(|r| r.tracker.refresh_due().is_some_and(|t| t <= now)) {
            rects.extend(r.tracker.leave());
            self.drop_offscreen(gfx);
        }
        let tiles: Vec<MixedTilePayload> = rects.iter().filter_map(|r| self.refresh_tile(r)).collect();
        let bytes = tiles
            .iter()
            .map(|tile| match tile {
                MixedTilePayload::ClearCodec { bitmap_data, .. } => bitmap_data.len(),
                _ => 0,
            })
            .sum();
        if tiles.is_empty() {
            return None;
        }
        let id = gfx.send_mixed_frame(self.surface_id, tiles, timestamp_ms);
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
        if let Some(r) = self.region.as_mut() {
            r.tracker.leave();
            r.offscreen = None;
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
