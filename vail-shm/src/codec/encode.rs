//! PDUs to bytes, refusing only what the wire cannot carry.

use super::*;

/// Appends little-endian fields.
struct Writer(Vec<u8>);

impl Writer {
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn rect(&mut self, r: &Rect) {
        for v in [r.x, r.y, r.width, r.height] {
            self.u32(v);
        }
    }
    fn caps_set(&mut self, set: &CapsSet) -> Result<(), CodecError> {
        if set.data.len() > MAX_CAPS_DATA {
            return Err(CodecError::CapsDataTooLong(set.data.len()));
        }
        self.u32(CAPS_SIGNATURE);
        self.u32(set.version);
        self.u32(set.wire_len() as u32);
        self.0.extend_from_slice(&set.data);
        Ok(())
    }
}

impl Pdu {
    /// The whole PDU, header included. Fails only on values the wire cannot carry.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut w = Writer(Vec::with_capacity(96));
        w.u32(self.cmd_id());
        w.u32(0); // the length, patched below
        match self {
            Pdu::LegacyCaps { version } => w.u16(*version),
            Pdu::Error { code } => w.u32(*code),
            Pdu::CapsAdvertise(sets) => {
                if sets.is_empty() {
                    return Err(CodecError::NoCapsSets);
                }
                if sets.len() > MAX_CAPS_SETS {
                    return Err(CodecError::TooManyCapsSets);
                }
                for set in sets {
                    w.caps_set(set)?;
                }
            }
            Pdu::CapsConfirm(set) => w.caps_set(set)?,
            Pdu::OpenPool { pool_id, pool_size, section_name } => {
                let mut units: Vec<u16> = section_name.encode_utf16().collect();
                if units.contains(&0) {
                    return Err(CodecError::SectionName("a NUL inside the name"));
                }
                units.push(0);
                if units.len() > MAX_SECTION_NAME_UNITS {
                    return Err(CodecError::SectionName("longer than 260 UTF-16 units"));
                }
                w.u64(*pool_id);
                w.u64(*pool_size);
                w.u32(units.len() as u32);
                for u in units {
                    w.u16(u);
                }
            }
            Pdu::ClosePool { pool_id } => w.u64(*pool_id),
            Pdu::CreateBuffer { pool_id, buffer_id, offset, stride, width, height, format } => {
                w.u64(*pool_id);
                w.u64(*buffer_id);
                w.u64(*offset);
                w.u32(*stride);
                w.u32(*width);
                w.u32(*height);
                w.u32(*format as u32);
            }
            Pdu::DestroyBuffer { buffer_id } => w.u64(*buffer_id),
            Pdu::PresentBuffer(p) => {
                if !matches!(p.orientation, 0 | 90 | 180 | 270) {
                    return Err(CodecError::Orientation(p.orientation));
                }
                if p.opaque.len() > MAX_OPAQUE_RECTS {
                    return Err(CodecError::TooManyOpaqueRects(p.opaque.len()));
                }
                w.u64(p.timestamp);
                w.u64(p.present_id);
                w.u64(p.window_id);
                w.u64(p.buffer_id);
                w.u32(p.orientation);
                w.u32(p.target_width);
                w.u32(p.target_height);
                w.rect(&p.dirty);
                w.u32(p.opaque.len() as u32);
                for r in &p.opaque {
                    w.rect(r);
                }
                if p.opaque.is_empty() {
                    // FreeRDP's server writes one zeroed slot; WSLg's host reads it.
                    w.rect(&Rect::default());
                }
            }
            Pdu::PresentBufferAck { window_id, present_id } => {
                w.u64(*window_id);
                w.u64(*present_id);
            }
        }
        let len = u32::try_from(w.0.len()).map_err(|_| CodecError::TooLong(w.0.len()))?;
        w.0[4..8].copy_from_slice(&len.to_le_bytes());
        Ok(w.0)
    }
}
