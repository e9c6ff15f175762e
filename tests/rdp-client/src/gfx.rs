//! What the graphics pipeline (EGFX) did, for assertions. The decoding itself is IronRDP's:
//! `GraphicsPipelineClient` decodes every codec it knows (ClearCodec, planar, uncompressed,
//! RemoteFX progressive, ...) into its own surfaces and maps them to the output, and
//! `ActiveStage` composites the output into the session's `DecodedImage`.

use ironrdp_egfx::client::{BitmapUpdate, GraphicsPipelineHandler, Surface};
use ironrdp_egfx::pdu::{CapabilitySet, Codec1Type, MapSurfaceToScaledWindowPdu, MapSurfaceToWindowPdu};

/// A record of the graphics pipeline's events, shared between the channel handler and the
/// client.
#[derive(Debug, Default, Clone)]
pub struct GfxLog {
    /// The capability set the server confirmed.
    pub confirmed: Option<CapabilitySet>,
    /// Every ResetGraphics (width, height).
    pub resets: Vec<(u32, u32)>,
    /// Surfaces created: (id, width, height).
    pub surfaces_created: Vec<(u16, u16, u16)>,
    pub surfaces_deleted: Vec<u16>,
    /// MapSurfaceToOutput: (surface, x, y).
    pub mapped_to_output: Vec<(u16, u32, u32)>,
    pub mapped_to_window: Vec<MapSurfaceToWindowPdu>,
    pub mapped_to_scaled_window: Vec<MapSurfaceToScaledWindowPdu>,
    /// Decoded surface commands: (surface, codec, left, top, right, bottom), right/bottom exclusive.
    pub updates: Vec<(u16, Codec1Type, u16, u16, u16, u16)>,
    /// EGFX frame ids in the order their EndFrame arrived.
    pub frames: Vec<u32>,
    /// One record per frame, in the order their EndFrame arrived.
    pub frame_records: Vec<FrameRecord>,
    /// Surfaces and pixels updated since the last EndFrame.
    pending: FrameRecord,
    pub closed: bool,
}

impl GfxLog {
    /// The newest scaled mapping of a surface to window `window_id`.
    pub fn scaled_mapping_of(&self, window_id: u64) -> Option<&MapSurfaceToScaledWindowPdu> {
        self.mapped_to_scaled_window.iter().rev().find(|m| m.window_id == window_id)
    }
}

/// What one EGFX frame carried.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FrameRecord {
    pub frame_id: u32,
    /// The surfaces its commands updated (in order, repeats kept).
    pub surfaces: Vec<u16>,
    /// How many surface pixels its commands covered.
    pub pixels: u64,
    /// The bytes of the slow-path PDUs (graphics channel traffic) that arrived since the
    /// previous frame ended, up to and including this frame's EndFrame: the frame's encoded
    /// surface commands and their framing.
    pub wire_bytes: usize,
    /// When the PDU carrying its EndFrame came off the connection (before decoding it).
    pub arrived: Option<std::time::Instant>,
}

/// The shared log; the handler writes, the test reads.
pub type SharedGfxLog = crate::Shared<GfxLog>;

/// Records the pipeline's callbacks into a [`SharedGfxLog`].
pub struct RecordingHandler {
    pub log: SharedGfxLog,
}

impl GraphicsPipelineHandler for RecordingHandler {
    fn on_capabilities_confirmed(&mut self, caps: &CapabilitySet) {
        self.log.lock().confirmed = Some(caps.clone());
    }

    fn on_reset_graphics(&mut self, width: u32, height: u32) {
        self.log.lock().resets.push((width, height));
    }

    fn on_surface_created(&mut self, surface: &Surface) {
        self.log.lock().surfaces_created.push((surface.id, surface.width, surface.height));
    }

    fn on_surface_deleted(&mut self, surface_id: u16) {
        self.log.lock().surfaces_deleted.push(surface_id);
    }

    fn on_surface_mapped(&mut self, surface_id: u16, origin_x: u32, origin_y: u32) {
        self.log.lock().mapped_to_output.push((surface_id, origin_x, origin_y));
    }

    fn on_map_surface_to_window(&mut self, pdu: &MapSurfaceToWindowPdu) {
        self.log.lock().mapped_to_window.push(pdu.clone());
    }

    fn on_map_surface_to_scaled_window(&mut self, pdu: &MapSurfaceToScaledWindowPdu) {
        self.log.lock().mapped_to_scaled_window.push(pdu.clone());
    }

    fn on_bitmap_updated(&mut self, update: &BitmapUpdate) {
        let r = &update.destination_rectangle;
        let mut log = self.log.lock();
        log.updates.push((update.surface_id, update.codec_id, r.left, r.top, r.right, r.bottom));
        log.pending.surfaces.push(update.surface_id);
        log.pending.pixels += u64::from(r.right.saturating_sub(r.left)) * u64::from(r.bottom.saturating_sub(r.top));
    }

    fn on_frame_complete(&mut self, frame_id: u32) {
        let mut log = self.log.lock();
        log.frames.push(frame_id);
        let mut record = std::mem::take(&mut log.pending);
        record.frame_id = frame_id;
        log.frame_records.push(record);
    }

    fn on_close(&mut self) {
        self.log.lock().closed = true;
    }
}
