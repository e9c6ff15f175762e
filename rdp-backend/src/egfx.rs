//! EGFX output: one surface the size of the desktop (mapped to the output) in the full-desktop
//! mode, one per window in RemoteApp; damaged tiles encoded with ClearCodec (lossless,
//! mandatory for every EGFX client), or where a surface keeps changing (`codec`) AVC420, or
//! RemoteFX Progressive for a client without AVC (`progressive`).

use ironrdp_egfx::pdu::{CapabilitiesAdvertisePdu, CapabilitySet};
use std::time::Instant;

use ironrdp_egfx::pdu::Avc420Region;
use ironrdp_egfx::server::{GraphicsPipelineHandler, GraphicsPipelineServer, MixedTilePayload};
use ironrdp_graphics::clearcodec::ClearCodecEncoder;
use ironrdp_pdu::geometry::ExclusiveRectangle;
use tokio::sync::mpsc::UnboundedSender;

use crate::codec::{Choice, Chooser, H264Mode, Shadow, H264};
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
        tiles_in: &[crate::Tile],
        timestamp_ms: u32,
    ) -> Option<u32> {
        // Clipped to the surface: a desktop resize may race a frame in flight.
        let mut clipped = Vec::with_capacity(tiles_in.len());
        for t in tiles_in {
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
        let mut refresh = None;
        if let Some(adaptive) = self.adaptive.as_mut() {
            for (rect, t) in &clipped {
                adaptive.shadow.blit(rect, &t.bgra, t.width as usize * 4);
            }
            let damage: Vec<ExclusiveRectangle> = clipped.iter().map(|(r, _)| r.clone()).collect();
            let choice = adaptive.chooser.choose(&damage, (self.width, self.height), !adaptive.failed, Instant::now());
            match choice {
                Choice::Avc420 { .. } if adaptive.progressive.is_some() => {
                    let progressive = adaptive.progressive.as_mut().expect("checked");
                    match progressive.encode(&adaptive.shadow, &damage) {
                        Ok(Some(progressive_data)) => {
                            let bytes = progressive_data.len();
                            let tile = MixedTilePayload::RemoteFxProgressive { codec_context_id: 0, progressive_data };
                            let id = gfx.send_mixed_frame(self.surface_id, vec![tile], timestamp_ms);
                            if id.is_some() {
                                crate::codec::count_progressive(bytes);
                                return id;
                            }
                            tracing::warn!(
                                surface = self.surface_id,
                                "progressive frame refused; ClearCodec from now on"
                            );
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
                Choice::Avc420 { key_frame } => match adaptive.encode(key_frame) {
                    Ok(h264_data) => {
                        let bytes = h264_data.len();
                        let regions = damage
                            .iter()
                            .map(|r| Avc420Region::new(r.left, r.top, r.right, r.bottom, AVC_QP, 100))
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
                },
                Choice::Clear { refresh: r } => refresh = r,
            }
        }
        let mut tiles = Vec::with_capacity(clipped.len() + 1);
        let mut bytes = 0;
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

/// The QP the AVC420 regions report (informational: the encoder's rate control picks its own).
const AVC_QP: u8 = 22;

impl Adaptive {
    fn encode(&mut self, key_frame: bool) -> anyhow::Result<Vec<u8>> {
        let encoder = match self.encoder.as_mut() {
            Some(e) => e,
            None => self.encoder.insert(H264::new()?),
        };
        encoder.encode(&self.shadow, key_frame)
    }
}
