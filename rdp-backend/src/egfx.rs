//! EGFX output for the full-desktop mode: one surface the size of the desktop, mapped to the
//! output, damaged tiles encoded with ClearCodec (lossless, mandatory for every EGFX client).

use ironrdp_egfx::pdu::{CapabilitiesAdvertisePdu, CapabilitySet};
use ironrdp_egfx::server::{GraphicsPipelineHandler, GraphicsPipelineServer, MixedTilePayload};
use ironrdp_graphics::clearcodec::ClearCodecEncoder;
use ironrdp_pdu::geometry::ExclusiveRectangle;
use tokio::sync::mpsc::UnboundedSender;

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

/// The session's ClearCodec encoder (single-threaded session, so a plain Rc).
pub type SharedEncoder = std::rc::Rc<std::cell::RefCell<ClearCodecEncoder>>;

pub fn new_encoder() -> SharedEncoder {
    std::rc::Rc::new(std::cell::RefCell::new(ClearCodecEncoder::new()))
}

/// The session's desktop surface.
pub struct DesktopSurface {
    pub surface_id: u16,
    pub width: u16,
    pub height: u16,
    /// ClearCodec's sequence numbers run per connection: every surface shares one encoder.
    encoder: SharedEncoder,
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
        Some(DesktopSurface { surface_id, width, height, encoder: encoder.clone() })
    }

    /// A surface for one RemoteApp window (mapped separately by the caller).
    pub fn for_window(
        gfx: &mut GraphicsPipelineServer,
        encoder: &SharedEncoder,
        width: u16,
        height: u16,
    ) -> Option<DesktopSurface> {
        let surface_id = gfx.create_surface(width.max(1), height.max(1))?;
        Some(DesktopSurface { surface_id, width, height, encoder: encoder.clone() })
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

    /// Queues one EGFX frame with these tiles; returns its EGFX frame id.
    pub fn queue_tiles(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        tiles_in: &[crate::Tile],
        timestamp_ms: u32,
    ) -> Option<u32> {
        let mut tiles = Vec::with_capacity(tiles_in.len());
        for t in tiles_in {
            // Clip to the surface: a desktop resize may race a frame in flight.
            let right = (t.x as u32 + t.width as u32).min(self.width as u32) as u16;
            let bottom = (t.y as u32 + t.height as u32).min(self.height as u32) as u16;
            if right <= t.x || bottom <= t.y || t.bgra.len() != t.width as usize * t.height as usize * 4 {
                continue;
            }
            let (w, h) = (right - t.x, bottom - t.y);
            let data = if w == t.width && h == t.height {
                self.encoder.borrow_mut().encode(&t.bgra, w, h)
            } else {
                let mut clipped = Vec::with_capacity(w as usize * h as usize * 4);
                for row in 0..h as usize {
                    let start = row * t.width as usize * 4;
                    clipped.extend_from_slice(&t.bgra[start..start + w as usize * 4]);
                }
                self.encoder.borrow_mut().encode(&clipped, w, h)
            };
            tiles.push(MixedTilePayload::ClearCodec {
                destination: ExclusiveRectangle { left: t.x, top: t.y, right, bottom },
                bitmap_data: data,
            });
        }
        if tiles.is_empty() {
            return None;
        }
        gfx.send_mixed_frame(self.surface_id, tiles, timestamp_ms)
    }
}
