//! EGFX output: one surface the size of the desktop (mapped to the output) in the full-desktop
//! mode, one per window in RemoteApp; damaged tiles encoded with ClearCodec (lossless,
//! mandatory for every EGFX client), or where a surface keeps changing (`codec`) AVC420, or
//! RemoteFX Progressive for a client without AVC (`progressive`). On the desktop surface, a
//! part that keeps changing while the rest stays still (an animating window on a larger
//! desktop) is a *video region* (`codec::region`): it goes out lossy on its own, the rest in
//! ClearCodec (see [`DesktopSurface::queue_frame`]).

use ironrdp_egfx::pdu::{CapabilitiesAdvertisePdu, CapabilitySet};
use std::time::Instant;

use ironrdp_dvc::DvcMessage;
use ironrdp_egfx::pdu::{Avc420Region, GfxPdu, Point, SurfaceToSurfacePdu};
use ironrdp_egfx::server::{GraphicsPipelineHandler, GraphicsPipelineServer, MixedTilePayload};
use ironrdp_graphics::clearcodec::ClearCodecEncoder;
use ironrdp_pdu::geometry::ExclusiveRectangle;
use tokio::sync::mpsc::UnboundedSender;

use crate::codec::region::{intersect, subtract, union};
use crate::codec::{Choice, Chooser, H264Mode, RegionStep, RegionTracker, Shadow, H264};
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

/// The video region of the desktop surface and, for a client that decodes AVC420, the
/// offscreen surface it is encoded into.
struct Region {
    tracker: RegionTracker,
    offscreen: Option<Offscreen>,
    /// Kept from region to region (it follows the picture's size; each region starts with a
    /// key frame).
    encoder: Option<H264>,
}

/// An offscreen surface (not mapped to the output) the size of the video region, rounded up
/// to whole macroblocks: FreeRDP decodes an AVC420 picture at the size of the surface it is
/// sent to and copies its regions at the surface's origin, so a picture of the region alone
/// needs a surface of its own; SurfaceToSurface then copies it into the desktop surface.
struct Offscreen {
    surface_id: u16,
    /// The region's pixels.
    shadow: Shadow,
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
            chooser: Chooser::default(),
            shadow: Shadow::new(width, height),
            encoder: None,
            progressive: (!avc).then(Progressive::new),
            failed: false,
        });
        DesktopSurface { surface_id, width, height, codecs: codecs.clone(), adaptive, region: None }
    }

    /// Queues the EGFX frames of `frame`: one, or with a video region two (its lossy part,
    /// then the ClearCodec rest). Returns the id of the last, and the pipeline's output to
    /// write (with the SurfaceToSurface copy of the region in its place, which the pipeline
    /// has no call for).
    pub fn queue_frame(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        frame: &DesktopFrame,
        timestamp_ms: u32,
    ) -> (Option<u32>, Vec<DvcMessage>) {
        let mut out = Vec::new();
        let id = self.queue_desktop_tiles(gfx, &frame.tiles, timestamp_ms, Instant::now(), &mut out);
        out.extend(gfx.drain_output());
        (id, out)
    }

    /// `queue_frame`'s work; what the pipeline queued before the last frame is drained into
    /// `out`.
    fn queue_desktop_tiles(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        tiles: &[crate::Tile],
        timestamp_ms: u32,
        now: Instant,
        out: &mut Vec<DvcMessage>,
    ) -> Option<u32> {
        let mut prepared = self.prepare(tiles, now)?;
        let step = match (self.region.as_mut(), self.adaptive.as_ref()) {
            (Some(region), Some(adaptive)) => {
                let damage: Vec<ExclusiveRectangle> = prepared.clipped.iter().map(|(r, _)| r.clone()).collect();
                // The surface's own lossy run (or its refresh, or its hold-off) comes first.
                let allowed = !adaptive.failed
                    && matches!(prepared.choice, Choice::Clear { refresh: None })
                    && !adaptive.chooser.held_off(now);
                region.tracker.step(&damage, allowed, now)
            }
            _ => RegionStep::default(),
        };
        if let Some(left) = step.leave.clone() {
            self.drop_offscreen(gfx);
            match &mut prepared.choice {
                // The whole surface went lossy: the region is part of what it refreshes.
                Choice::Avc420 { .. } => {
                    if let Some(a) = self.adaptive.as_mut() {
                        a.chooser.add_lossy(&[left]);
                    }
                }
                Choice::Clear { refresh } if step.video.is_none() => {
                    *refresh = Some(refresh.as_ref().map_or(left.clone(), |r| union(r, &left)));
                }
                Choice::Clear { .. } => {}
            }
        }
        let Some((rect, key_frame)) = step.video else {
            let picture = self.avc_job(&prepared).map(AvcJob::run);
            return self.send(gfx, prepared, picture, timestamp_ms);
        };
        let mut inside = Vec::new();
        let mut outside = Vec::new();
        for (r, _) in &prepared.clipped {
            inside.extend(intersect(r, &rect));
            outside.extend(subtract(r, &rect));
        }
        // What the region that ended had outside the new one goes again, losslessly.
        let refresh: Vec<ExclusiveRectangle> = step.leave.iter().flat_map(|l| subtract(l, &rect)).collect();
        let lossy_id = self.send_region(gfx, &rect, key_frame, &prepared.clipped, &inside, timestamp_ms, out);
        let lossy_id = match lossy_id {
            Ok(id) => id,
            Err(()) => {
                // The lossy part failed: lossless from now on, the region included.
                outside.push(rect.clone());
                None
            }
        };
        outside.extend(refresh.iter().cloned());
        if outside.is_empty() {
            return lossy_id;
        }
        let started = Instant::now();
        let mut tiles = Vec::with_capacity(outside.len());
        let mut bytes = 0;
        for r in &outside {
            if let Some(tile) = self.refresh_tile(r) {
                if let MixedTilePayload::ClearCodec { bitmap_data, .. } = &tile {
                    bytes += bitmap_data.len();
                }
                tiles.push(tile);
            }
        }
        if let Some(region) = self.region.as_mut() {
            region.tracker.note_cost(false, started.elapsed());
        }
        let id = gfx.send_mixed_frame(self.surface_id, tiles, timestamp_ms);
        if id.is_some() {
            crate::codec::count_clear(bytes, !refresh.is_empty());
        }
        id.or(lossy_id)
    }

    /// Sends the video region's lossy frame: AVC420 into its offscreen surface (made on a key
    /// frame) and the copy into the desktop surface, or RemoteFX Progressive on the desktop
    /// surface itself. `clipped`: the frame's tiles; `inside`: the damage inside the region.
    /// Err when the codec failed (the region is over then, and the surface lossless from now on).
    #[allow(clippy::too_many_arguments)]
    fn send_region(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        rect: &ExclusiveRectangle,
        key_frame: bool,
        clipped: &[(ExclusiveRectangle, &crate::Tile)],
        inside: &[ExclusiveRectangle],
        timestamp_ms: u32,
        out: &mut Vec<DvcMessage>,
    ) -> Result<Option<u32>, ()> {
        let (Some(adaptive), Some(region)) = (self.adaptive.as_mut(), self.region.as_mut()) else { return Err(()) };
        let started = Instant::now();
        if let Some(progressive) = adaptive.progressive.as_mut() {
            // Progressive is tiled: it goes on the desktop surface where the damage is.
            let encoded = progressive.encode(&adaptive.shadow, inside);
            region.tracker.note_cost(true, started.elapsed());
            let failed = match encoded {
                Ok(None) => return Ok(None),
                Ok(Some(progressive_data)) => {
                    let bytes = progressive_data.len();
                    let tile = MixedTilePayload::RemoteFxProgressive { codec_context_id: 0, progressive_data };
                    if let Some(id) = gfx.send_mixed_frame(self.surface_id, vec![tile], timestamp_ms) {
                        crate::codec::count_progressive(bytes);
                        return Ok(Some(id));
                    }
                    "refused".to_string()
                }
                Err(err) => format!("{err:#}"),
            };
            tracing::warn!(surface = self.surface_id, "RemoteFX Progressive of the video region failed: {failed}");
            adaptive.failed = true;
            region.tracker.leave();
            return Err(());
        }
        let (w, h) = (rect.right - rect.left, rect.bottom - rect.top);
        // A new offscreen surface holds nothing yet: the whole region goes into it.
        let key_frame = key_frame || region.offscreen.is_none();
        if key_frame {
            if let Some(old) = region.offscreen.take() {
                gfx.delete_surface(old.surface_id);
            }
            let padded = (w.div_ceil(16) * 16, h.div_ceil(16) * 16);
            let Some(surface_id) = gfx.create_surface(padded.0, padded.1) else {
                region.tracker.leave();
                return Err(());
            };
            let mut shadow = Shadow::new(w, h);
            let all = ExclusiveRectangle { left: 0, top: 0, right: w, bottom: h };
            shadow.blit(&all, &adaptive.shadow.crop(rect), usize::from(w) * 4);
            region.offscreen = Some(Offscreen { surface_id, shadow });
        } else if inside.is_empty() {
            return Ok(None);
        }
        let offscreen = region.offscreen.as_mut().expect("made above");
        let local = |r: &ExclusiveRectangle| ExclusiveRectangle {
            left: r.left - rect.left,
            top: r.top - rect.top,
            right: r.right - rect.left,
            bottom: r.bottom - rect.top,
        };
        // Straight from the tiles (a crop of the desktop's copy would be one more copy, and an
        // allocation the size of the region each frame).
        for (r, t) in clipped {
            let Some(part) = intersect(r, rect) else { continue };
            let stride = usize::from(t.width) * 4;
            let start = usize::from(part.top - t.y) * stride + usize::from(part.left - t.x) * 4;
            offscreen.shadow.blit(&local(&part), &t.bgra[start..], stride);
        }
        let encoder = match region.encoder.as_mut() {
            Some(e) => Ok(e),
            None => H264::for_video().map(|e| region.encoder.insert(e)),
        };
        let picture = encoder.and_then(|e| e.encode(&mut offscreen.shadow, key_frame));
        region.tracker.note_cost(true, started.elapsed());
        let regions: Vec<Avc420Region> = if key_frame {
            vec![Avc420Region::new(0, 0, w, h, AVC_QP, 100)]
        } else {
            inside.iter().map(local).map(|r| Avc420Region::new(r.left, r.top, r.right, r.bottom, AVC_QP, 100)).collect()
        };
        let sent = picture.map_err(|e| format!("{e:#}")).and_then(|h264_data| {
            let bytes = h264_data.len();
            let tile = MixedTilePayload::Avc420 { regions, h264_data };
            let id = gfx.send_mixed_frame(offscreen.surface_id, vec![tile], timestamp_ms).ok_or("refused")?;
            Ok((id, bytes))
        });
        match sent {
            Ok((id, bytes)) => {
                // The copy into the desktop surface goes in the same frame, after the picture
                // (the pipeline queued StartFrame, the picture, EndFrame: it goes before the end).
                let copy = GfxPdu::SurfaceToSurface(SurfaceToSurfacePdu {
                    source_surface_id: offscreen.surface_id,
                    destination_surface_id: self.surface_id,
                    source_rectangle: ExclusiveRectangle { left: 0, top: 0, right: w, bottom: h },
                    destination_points: vec![Point { x: rect.left, y: rect.top }],
                });
                let mut queued = gfx.drain_output();
                let end = queued.pop();
                queued.push(raw_gfx(&copy));
                queued.extend(end);
                out.extend(queued);
                if key_frame {
                    tracing::debug!(surface = self.surface_id, ?rect, "video region in AVC420");
                }
                crate::codec::count_avc420(bytes);
                Ok(Some(id))
            }
            Err(err) => {
                tracing::warn!(surface = self.surface_id, "AVC420 of the video region failed: {err}");
                adaptive.failed = true;
                region.encoder = None;
                region.tracker.leave();
                self.drop_offscreen(gfx);
                Err(())
            }
        }
    }

    /// Deletes the video region's offscreen surface, if there is one.
    fn drop_offscreen(&mut self, gfx: &mut GraphicsPipelineServer) {
        if let Some(old) = self.region.as_mut().and_then(|r| r.offscreen.take()) {
            gfx.delete_surface(old.surface_id);
        }
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
            Choice::Avc420 { key_frame } => Some(AvcJob { adaptive: self.adaptive.as_mut()?, key_frame }),
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
        picture: Option<anyhow::Result<Vec<u8>>>,
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
                    Ok(h264_data) => {
                        let bytes = h264_data.len();
                        let regions = clipped
                            .iter()
                            .map(|(r, _)| Avc420Region::new(r.left, r.top, r.right, r.bottom, AVC_QP, 100))
                            .collect();
                        let id = gfx.send_mixed_frame(
                            self.surface_id,
                            vec![MixedTilePayload::Avc420 { regions, h264_data }],
                            timestamp_ms,
                        );
                        if id.is_some() {
                            if key_frame {
                                tracing::debug!(surface = self.surface_id, "surface switched to AVC420");
                            }
                            crate::codec::count_avc420(bytes);
                            return id;
                        }
                        // Refused (the pipeline says why at trace level): lossless from now on.
                        tracing::warn!(surface = self.surface_id, "AVC420 frame refused; ClearCodec from now on");
                        adaptive.failed = true;
                        refresh = adaptive.chooser.leave();
                    }
                    Err(err) => {
                        tracing::warn!(surface = self.surface_id, "H.264 failed, ClearCodec from now on: {err:#}");
                        adaptive.failed = true;
                        adaptive.encoder = None;
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

/// An EGFX PDU the pipeline server has no call for, as a message of its channel (the
/// pipeline's output is never ZGFX-compressed, so an uncompressed segment of it is in step).
fn raw_gfx(pdu: &GfxPdu) -> DvcMessage {
    let bytes = ironrdp_core::encode_vec(pdu).expect("an EGFX PDU encodes");
    wayrail_dvc::EncodedPdu::message("RawGfx", ironrdp_graphics::zgfx::wrap_uncompressed(&bytes))
}

/// Whether the client takes RemoteFX Progressive: every EGFX version but 8.0 has it
/// ([MS-RDPEGFX] 2.2.3.1: version 8.0 servers must not send it).
fn supports_progressive(gfx: &GraphicsPipelineServer) -> bool {
    !matches!(gfx.negotiated_capabilities(), None | Some(CapabilitySet::V8 { .. }))
}

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
    fn run(self) -> anyhow::Result<Vec<u8>> {
        let thread = std::thread::current();
        debug_assert!(matches!(thread.name(), Some(crate::server::RDP_THREAD | AVC_THREAD)), "{ON_THE_RDP_THREAD}");
        let a = self.adaptive;
        let started = Instant::now();
        let encoder = match a.encoder.as_mut() {
            Some(e) => e,
            None => a.encoder.insert(H264::new()?),
        };
        let picture = encoder.encode(&mut a.shadow, self.key_frame);
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
    let mut pictures: Vec<Option<anyhow::Result<Vec<u8>>>> = prepared.iter().map(|_| None).collect();
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
fn encode_side_by_side(mut jobs: Vec<(usize, AvcJob<'_>)>) -> Vec<(usize, anyhow::Result<Vec<u8>>)> {
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

    /// A pipeline whose client decodes RemoteFX Progressive but not AVC420.
    fn pipeline_without_avc() -> GraphicsPipelineServer {
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let mut gfx = GraphicsPipelineServer::new(Box::new(GfxHandler { events }));
        gfx.start(1).unwrap();
        let caps = CapabilitySet::V10_7 { flags: ironrdp_egfx::pdu::CapabilitiesV107Flags::AVC_DISABLED };
        let pdu = ironrdp_egfx::pdu::GfxPdu::CapabilitiesAdvertise(CapabilitiesAdvertisePdu(vec![(&caps).into()]));
        gfx.process(1, &ironrdp_core::encode_vec(&pdu).unwrap()).unwrap();
        assert!(gfx.is_ready() && !gfx.supports_avc420() && supports_progressive(&gfx));
        gfx.drain_output();
        gfx
    }

    /// The EGFX PDUs in these messages, as the client reads them.
    fn pdus(messages: &[DvcMessage]) -> Vec<GfxPdu> {
        let mut zgfx = ironrdp_graphics::zgfx::Decompressor::new();
        messages
            .iter()
            .map(|m| {
                let wrapped = ironrdp_core::encode_vec(m.as_ref()).unwrap();
                let mut pdu = Vec::new();
                zgfx.decompress(&wrapped, &mut pdu).unwrap();
                ironrdp_core::decode::<GfxPdu>(&pdu).unwrap()
            })
            .collect()
    }

    /// A PDU in short: its kind and the surface it is for.
    fn short(pdu: &GfxPdu) -> String {
        use ironrdp_egfx::pdu::Codec1Type;
        match pdu {
            GfxPdu::StartFrame(_) => "start".into(),
            GfxPdu::EndFrame(_) => "end".into(),
            GfxPdu::CreateSurface(p) => format!("create {} {}x{}", p.surface_id, p.width, p.height),
            GfxPdu::DeleteSurface(p) => format!("delete {}", p.surface_id),
            GfxPdu::WireToSurface1(p) => {
                let codec = match p.codec_id {
                    Codec1Type::Avc420 => "avc420",
                    Codec1Type::ClearCodec => "clear",
                    _ => "other",
                };
                let r = &p.destination_rectangle;
                format!("{codec} {} {},{},{},{}", p.surface_id, r.left, r.top, r.right, r.bottom)
            }
            GfxPdu::WireToSurface2(p) => format!("progressive {}", p.surface_id),
            GfxPdu::SurfaceToSurface(p) => {
                let (r, to) = (&p.source_rectangle, &p.destination_points);
                let to: Vec<(u16, u16)> = to.iter().map(|p| (p.x, p.y)).collect();
                format!(
                    "copy {}->{} {},{},{},{} to {to:?}",
                    p.source_surface_id, p.destination_surface_id, r.left, r.top, r.right, r.bottom
                )
            }
            other => format!("{other:?}"),
        }
    }

    /// A small animation on a large desktop: a video region. For a client with AVC420 it
    /// goes out into an offscreen surface of its size, copied into the desktop surface in the
    /// same frame, the rest of the damage in ClearCodec; settled, it goes again losslessly and
    /// the offscreen surface goes. A client without AVC gets it in RemoteFX Progressive on the
    /// desktop surface.
    #[test]
    fn a_video_region_goes_lossy_beside_lossless_text() {
        on_rdp_thread(|| {
            for avc in [true, false] {
                let mut gfx = if avc { pipeline() } else { pipeline_without_avc() };
                let codecs = new_encoder(H264Mode::Auto);
                let monitors = Vec::new();
                let mut desktop = DesktopSurface::create(&mut gfx, &codecs, 640, 480, monitors).unwrap();
                gfx.drain_output();
                let d = desktop.surface_id;
                let start = Instant::now().checked_sub(Duration::from_secs(10)).unwrap();
                // A 150×150 animation at (200, 100), a line of text typed at the bottom.
                let frame = |i: u32| {
                    let mut animation = tile(150, 150, i);
                    (animation.x, animation.y) = (200, 100);
                    let mut tiles = vec![animation];
                    if i == 4 {
                        let mut text = tile(40, 16, i);
                        (text.x, text.y) = (10, 400);
                        tiles.push(text);
                    }
                    tiles
                };
                let mut sent = Vec::new();
                for i in 0..5u32 {
                    let mut out = Vec::new();
                    let id = desktop.queue_desktop_tiles(
                        &mut gfx,
                        &frame(i),
                        i,
                        start + Duration::from_millis(16) * i,
                        &mut out,
                    );
                    out.extend(gfx.drain_output());
                    assert!(id.is_some(), "frame {i}");
                    sent.push(pdus(&out).iter().map(short).collect::<Vec<_>>());
                }
                let clear = |r: &str| format!("clear {d} {r}");
                for (i, frame) in sent.iter().enumerate().take(2) {
                    assert_eq!(*frame, ["start".to_string(), clear("200,100,350,250"), "end".into()], "frame {i}");
                }
                let o = d + 1;
                if avc {
                    let lossy = |create: bool| {
                        let mut pdus: Vec<String> = create.then(|| format!("create {o} 160x160")).into_iter().collect();
                        pdus.extend([
                            "start".to_string(),
                            format!("avc420 {o} 0,0,150,150"),
                            format!("copy {o}->{d} 0,0,150,150 to [(200, 100)]"),
                            "end".into(),
                        ]);
                        pdus
                    };
                    assert_eq!(sent[2], lossy(true), "the key frame");
                    assert_eq!(sent[3], lossy(false));
                    let mut text = lossy(false);
                    text.extend(["start".to_string(), clear("10,400,50,416"), "end".into()]);
                    assert_eq!(sent[4], text, "the text beside it stays lossless");
                } else {
                    let lossy = vec!["start".to_string(), format!("progressive {d}"), "end".into()];
                    assert_eq!(sent[2], lossy);
                    assert_eq!(sent[3], lossy);
                    let mut text = lossy.clone();
                    text.extend(["start".to_string(), clear("10,400,50,416"), "end".into()]);
                    assert_eq!(sent[4], text, "the text beside it stays lossless");
                }
                // Settled (the frames were long ago): the refresh, and the offscreen surface goes.
                assert!(desktop.refresh_due().is_some_and(|t| t <= Instant::now()));
                assert!(desktop.refresh(&mut gfx, 9).is_some());
                let refresh: Vec<String> = pdus(&gfx.drain_output()).iter().map(short).collect();
                let mut expected: Vec<String> = avc.then(|| format!("delete {o}")).into_iter().collect();
                expected.extend(["start".to_string(), clear("200,100,350,250"), "end".into()]);
                assert_eq!(refresh, expected);
                assert_eq!(desktop.refresh_due(), None);
                let totals = crate::codec::totals();
                assert!(totals.lossless_refreshes >= 1);
            }
        });
    }

    /// When the whole desktop surface goes AVC420, the video region ends: its offscreen
    /// surface goes, and what it showed is part of what the surface refreshes when it settles.
    #[test]
    fn the_surface_going_avc420_ends_the_video_region() {
        on_rdp_thread(|| {
            let mut gfx = pipeline();
            let codecs = new_encoder(H264Mode::Auto);
            let mut desktop = DesktopSurface::create(&mut gfx, &codecs, 640, 480, Vec::new()).unwrap();
            desktop.adaptive.as_mut().unwrap().chooser.ignore_cost();
            gfx.drain_output();
            let start = Instant::now();
            let mut all = Vec::new();
            for i in 0..8u32 {
                // The animation at (200, 300), then only its top half with a large band at the
                // top of the desktop: enough for the surface's own rule.
                let tiles = if i < 4 {
                    let mut animation = tile(150, 150, i);
                    (animation.x, animation.y) = (200, 300);
                    vec![animation]
                } else {
                    let mut half = tile(150, 75, i);
                    (half.x, half.y) = (200, 300);
                    vec![tile(640, 130, i), half]
                };
                let mut out = Vec::new();
                let now = start + Duration::from_millis(16) * i;
                assert!(desktop.queue_desktop_tiles(&mut gfx, &tiles, i, now, &mut out).is_some());
                out.extend(gfx.drain_output());
                all.extend(pdus(&out).iter().map(short));
                if i == 3 {
                    assert!(desktop.region.as_ref().unwrap().offscreen.is_some(), "a video region: {all:?}");
                }
            }
            let region = desktop.region.as_ref().unwrap();
            assert!(region.tracker.active().is_none() && region.offscreen.is_none(), "{all:?}");
            let created = all.iter().filter(|p| p.starts_with("create")).count();
            let deleted = all.iter().filter(|p| p.starts_with("delete")).count();
            assert!(created >= 1 && created == deleted, "every offscreen surface deleted: {all:?}");
            let whole = format!("avc420 {} ", desktop.surface_id);
            assert!(all.last_chunk::<3>().unwrap()[1].starts_with(&whole), "{all:?}");
            let chooser = &mut desktop.adaptive.as_mut().unwrap().chooser;
            assert!(chooser.in_avc());
            // The damage reaches down to 375, the region to 450.
            let lossy = chooser.leave().unwrap();
            assert!(lossy.left == 0 && lossy.top == 0 && lossy.right == 640 && lossy.bottom == 450, "{lossy:?}");
        });
    }

    /// With lossy codecs off, or in a window of its own (RemoteApp), there is no video region.
    #[test]
    fn no_video_region_with_lossy_codecs_off_or_for_a_window() {
        on_rdp_thread(|| {
            let mut gfx = pipeline();
            let off = new_encoder(H264Mode::Off);
            let desktop = DesktopSurface::create(&mut gfx, &off, 640, 480, Vec::new()).unwrap();
            assert!(desktop.region.is_none() && desktop.adaptive.is_none());
            let auto = new_encoder(H264Mode::Auto);
            let window = DesktopSurface::for_window(&mut gfx, &auto, 640, 480).unwrap();
            assert!(window.region.is_none() && window.adaptive.is_some());
            let desktop = DesktopSurface::create(&mut gfx, &auto, 640, 480, Vec::new()).unwrap();
            assert!(desktop.region.is_some());
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
