//! The gfxredir wire format, both directions, deciding nothing.
//!
//! There is no MS-RDP document for the channel; the layout follows FreeRDP's
//! `include/freerdp/channels/gfxredir.h` and its server, which WSLg's host speaks to. Every PDU
//! is a header (u32 cmdId, u32 length of the whole PDU, little endian) and a fixed body. The
//! decoder is strict because the bytes come from the network: the declared length must be the
//! length given, and every count and string is bounded before anything is allocated.

use thiserror::Error;

/// The dynamic channel's name.
pub const CHANNEL_NAME: &str = "Microsoft::Windows::RDS::RemoteAppGraphicsRedirection";

pub const CMD_LEGACY_CAPS: u32 = 0x1;
pub const CMD_ERROR: u32 = 0x6;
pub const CMD_CAPS_ADVERTISE: u32 = 0x8;
pub const CMD_CAPS_CONFIRM: u32 = 0x9;
pub const CMD_OPEN_POOL: u32 = 0xA;
pub const CMD_CLOSE_POOL: u32 = 0xB;
pub const CMD_CREATE_BUFFER: u32 = 0xC;
pub const CMD_DESTROY_BUFFER: u32 = 0xD;
pub const CMD_PRESENT_BUFFER: u32 = 0xE;
pub const CMD_PRESENT_BUFFER_ACK: u32 = 0xF;

pub const HEADER_SIZE: usize = 8;
/// signature, version, length.
pub const CAPS_HEADER_SIZE: usize = 12;
/// 'SPAC'.
pub const CAPS_SIGNATURE: u32 = 0x5350_4143;
pub const CAPS_VERSION_1: u32 = 0x1;
pub const CAPS_VERSION_2_0: u32 = 0x2000;
/// The only version LegacyCaps carries.
pub const LEGACY_VERSION: u16 = 1;
pub const MAX_OPAQUE_RECTS: usize = 16;
/// Real hosts send one or two caps sets; more is noise or an attack.
pub const MAX_CAPS_SETS: usize = 16;
/// A caps set's data (v2 has 4 bytes); anything above this is refused.
pub const MAX_CAPS_DATA: usize = 1024;
/// Section names are `{UUID}` (39 units with the NUL); this leaves room for path-like names
/// without letting a peer make us decode megabytes of UTF-16.
pub const MAX_SECTION_NAME_UNITS: usize = 260;

/// PresentBuffer's fixed part after the header, up to and including numOpaqueRects.
const PRESENT_FIXED: usize = 64;
const RECT_SIZE: usize = 16;

/// A rectangle as gfxredir carries it (RECTANGLE_32: left, top, width, height).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect { x, y, width, height }
    }

    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// The part of `self` inside a `width` x `height` area at the origin.
    pub fn clip(&self, width: u32, height: u32) -> Rect {
        let x = self.x.min(width);
        let y = self.y.min(height);
        let right = self.x.saturating_add(self.width).min(width);
        let bottom = self.y.saturating_add(self.height).min(height);
        Rect::new(x, y, right - x, bottom - y)
    }

    /// The smallest rectangle holding both; an empty one adds nothing.
    pub fn union(&self, other: &Rect) -> Rect {
        if self.is_empty() {
            return *other;
        }
        if other.is_empty() {
            return *self;
        }
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        let right = self.x.saturating_add(self.width).max(other.x.saturating_add(other.width));
        let bottom = self.y.saturating_add(self.height).max(other.y.saturating_add(other.height));
        Rect::new(x, y, right - x, bottom - y)
    }
}

/// One caps set: signature 'SPAC', version, length (header included), data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapsSet {
    pub version: u32,
    pub data: Vec<u8>,
}

impl CapsSet {
    /// Version 2.0 with its one field, supportedFeatures (reserved, 0 today).
    pub fn v2(supported_features: u32) -> CapsSet {
        CapsSet { version: CAPS_VERSION_2_0, data: supported_features.to_le_bytes().to_vec() }
    }

    fn wire_len(&self) -> usize {
        CAPS_HEADER_SIZE + self.data.len()
    }
}

/// CreateBuffer's pixel format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Xrgb8888 = 1,
    Argb8888 = 2,
}

/// PresentBuffer: which buffer to show in which window, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentBuffer {
    /// 0: no audio/video sync.
    pub timestamp: u64,
    pub present_id: u64,
    pub window_id: u64,
    pub buffer_id: u64,
    /// 0, 90, 180 or 270.
    pub orientation: u32,
    /// The window's size on the host; the host scales the buffer to it.
    pub target_width: u32,
    pub target_height: u32,
    pub dirty: Rect,
    /// At most [`MAX_OPAQUE_RECTS`].
    pub opaque: Vec<Rect>,
}

/// Every gfxredir PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    /// C→S, from hosts that speak only version 1.
    LegacyCaps { version: u16 },
    /// S→C.
    Error { code: u32 },
    /// C→S.
    CapsAdvertise(Vec<CapsSet>),
    /// S→C: the chosen set, echoed.
    CapsConfirm(CapsSet),
    /// S→C. `section_name` without its NUL.
    OpenPool { pool_id: u64, pool_size: u64, section_name: String },
    /// S→C.
    ClosePool { pool_id: u64 },
    /// S→C.
    CreateBuffer {
        pool_id: u64,
        buffer_id: u64,
        offset: u64,
        stride: u32,
        width: u32,
        height: u32,
        format: PixelFormat,
    },
    /// S→C.
    DestroyBuffer { buffer_id: u64 },
    /// S→C.
    PresentBuffer(PresentBuffer),
    /// C→S.
    PresentBufferAck { window_id: u64, present_id: u64 },
}

/// Why bytes are not a gfxredir PDU, or a PDU cannot be encoded; each names the PDU and field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    #[error("gfxredir header: {0} bytes, fewer than the 8-byte header")]
    ShortHeader(usize),
    #[error("gfxredir header: length field says {declared} bytes, {actual} given")]
    LengthMismatch { declared: u32, actual: usize },
    #[error("gfxredir header: unknown cmdId {0:#x}")]
    UnknownCommand(u32),
    #[error("gfxredir {pdu}: body of {actual} bytes, {expected} expected")]
    BodyLength { pdu: &'static str, expected: usize, actual: usize },
    #[error("gfxredir LegacyCaps.version: {0}, only 1 exists")]
    LegacyVersion(u16),
    #[error("gfxredir {pdu}.signature: {found:#x}, 'SPAC' (0x53504143) expected")]
    CapsSignature { pdu: &'static str, found: u32 },
    #[error("gfxredir {pdu}.length: {length} does not fit a caps set in {remaining} bytes")]
    CapsLength { pdu: &'static str, length: u32, remaining: usize },
    #[error("gfxredir CapsAdvertise: no caps set")]
    NoCapsSets,
    #[error("gfxredir CapsAdvertise: more than {MAX_CAPS_SETS} caps sets")]
    TooManyCapsSets,
    #[error("gfxredir caps set data: {0} bytes, more than {MAX_CAPS_DATA}")]
    CapsDataTooLong(usize),
    #[error("gfxredir OpenPool.sectionName: {0}")]
    SectionName(&'static str),
    #[error("gfxredir CreateBuffer.format: unknown pixel format {0}")]
    PixelFormat(u32),
    #[error("gfxredir PresentBuffer.orientation: {0}, not 0, 90, 180 or 270")]
    Orientation(u32),
    #[error("gfxredir PresentBuffer.numOpaqueRects: {0}, more than 16")]
    TooManyOpaqueRects(usize),
    #[error("gfxredir PDU of {0} bytes does not fit the u32 length field")]
    TooLong(usize),
}

/// Reads little-endian fields off a body whose length was checked already.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().unwrap_or([0; N])
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn rect(&mut self) -> Rect {
        Rect::new(self.u32(), self.u32(), self.u32(), self.u32())
    }
}

fn expect_len(pdu: &'static str, body: &[u8], expected: usize) -> Result<(), CodecError> {
    if body.len() == expected {
        Ok(())
    } else {
        Err(CodecError::BodyLength { pdu, expected, actual: body.len() })
    }
}

/// Reads the header of the PDU at the start of `bytes`: (cmdId, declared length), without
/// checking the length against anything.
pub fn peek_header(bytes: &[u8]) -> Result<(u32, u32), CodecError> {
    let header = bytes.get(..HEADER_SIZE).ok_or(CodecError::ShortHeader(bytes.len()))?;
    let mut r = Reader(header);
    Ok((r.u32(), r.u32()))
}

/// Decodes exactly one PDU: `bytes` must be the whole PDU and nothing else.
pub fn decode(bytes: &[u8]) -> Result<Pdu, CodecError> {
    let (cmd, declared) = peek_header(bytes)?;
    if declared as usize != bytes.len() || (declared as usize) < HEADER_SIZE {
        return Err(CodecError::LengthMismatch { declared, actual: bytes.len() });
    }
    let body = &bytes[HEADER_SIZE..];
    let mut r = Reader(body);
    Ok(match cmd {
        CMD_LEGACY_CAPS => {
            expect_len("LegacyCaps", body, 2)?;
            let version = r.u16();
            if version != LEGACY_VERSION {
                return Err(CodecError::LegacyVersion(version));
            }
            Pdu::LegacyCaps { version }
        }
        CMD_ERROR => {
            expect_len("Error", body, 4)?;
            Pdu::Error { code: r.u32() }
        }
        CMD_CAPS_ADVERTISE => Pdu::CapsAdvertise(decode_caps_sets(body)?),
        CMD_CAPS_CONFIRM => {
            let (set, used) = decode_caps_set("CapsConfirm", body)?;
            expect_len("CapsConfirm", body, used)?;
            Pdu::CapsConfirm(set)
        }
        CMD_OPEN_POOL => decode_open_pool(body)?,
        CMD_CLOSE_POOL => {
            expect_len("ClosePool", body, 8)?;
            Pdu::ClosePool { pool_id: r.u64() }
        }
        CMD_CREATE_BUFFER => {
            expect_len("CreateBuffer", body, 40)?;
            let (pool_id, buffer_id, offset) = (r.u64(), r.u64(), r.u64());
            let (stride, width, height) = (r.u32(), r.u32(), r.u32());
            let format = match r.u32() {
                1 => PixelFormat::Xrgb8888,
                2 => PixelFormat::Argb8888,
                other => return Err(CodecError::PixelFormat(other)),
            };
            Pdu::CreateBuffer { pool_id, buffer_id, offset, stride, width, height, format }
        }
        CMD_DESTROY_BUFFER => {
            expect_len("DestroyBuffer", body, 8)?;
            Pdu::DestroyBuffer { buffer_id: r.u64() }
        }
        CMD_PRESENT_BUFFER => decode_present(body)?,
        CMD_PRESENT_BUFFER_ACK => {
            expect_len("PresentBufferAck", body, 16)?;
            Pdu::PresentBufferAck { window_id: r.u64(), present_id: r.u64() }
        }
        other => return Err(CodecError::UnknownCommand(other)),
    })
}

/// One caps set at the start of `bytes`, and how many bytes it took.
fn decode_caps_set(pdu: &'static str, bytes: &[u8]) -> Result<(CapsSet, usize), CodecError> {
    if bytes.len() < CAPS_HEADER_SIZE {
        return Err(CodecError::BodyLength { pdu, expected: CAPS_HEADER_SIZE, actual: bytes.len() });
    }
    let mut r = Reader(bytes);
    let (signature, version, length) = (r.u32(), r.u32(), r.u32());
    if signature != CAPS_SIGNATURE {
        return Err(CodecError::CapsSignature { pdu, found: signature });
    }
    let len = length as usize;
    if len < CAPS_HEADER_SIZE || len > bytes.len() {
        return Err(CodecError::CapsLength { pdu, length, remaining: bytes.len() });
    }
    if len - CAPS_HEADER_SIZE > MAX_CAPS_DATA {
        return Err(CodecError::CapsDataTooLong(len - CAPS_HEADER_SIZE));
    }
    Ok((CapsSet { version, data: bytes[CAPS_HEADER_SIZE..len].to_vec() }, len))
}

fn decode_caps_sets(mut body: &[u8]) -> Result<Vec<CapsSet>, CodecError> {
    let mut sets = Vec::new();
    while !body.is_empty() {
        if sets.len() == MAX_CAPS_SETS {
            return Err(CodecError::TooManyCapsSets);
        }
        let (set, used) = decode_caps_set("CapsAdvertise", body)?;
        sets.push(set);
        body = &body[used..];
    }
    if sets.is_empty() {
        return Err(CodecError::NoCapsSets);
    }
    Ok(sets)
}

fn decode_open_pool(body: &[u8]) -> Result<Pdu, CodecError> {
    if body.len() < 20 {
        return Err(CodecError::BodyLength { pdu: "OpenPool", expected: 20, actual: body.len() });
    }
    let mut r = Reader(body);
    let (pool_id, pool_size, units) = (r.u64(), r.u64(), r.u32() as usize);
    if units == 0 {
        return Err(CodecError::SectionName("empty (not even the NUL)"));
    }
    if units > MAX_SECTION_NAME_UNITS {
        return Err(CodecError::SectionName("longer than 260 UTF-16 units"));
    }
    expect_len("OpenPool", body, 20 + units * 2)?;
    let utf16: Vec<u16> = r.0.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let (nul, name) = utf16.split_last().ok_or(CodecError::SectionName("empty"))?;
    if *nul != 0 {
        return Err(CodecError::SectionName("not NUL-terminated"));
    }
    if name.contains(&0) {
        return Err(CodecError::SectionName("a NUL inside the name"));
    }
    let section_name = String::from_utf16(name).map_err(|_| CodecError::SectionName("not UTF-16"))?;
    Ok(Pdu::OpenPool { pool_id, pool_size, section_name })
}

fn decode_present(body: &[u8]) -> Result<Pdu, CodecError> {
    if body.len() < PRESENT_FIXED {
        return Err(CodecError::BodyLength { pdu: "PresentBuffer", expected: PRESENT_FIXED, actual: body.len() });
    }
    let mut r = Reader(body);
    let (timestamp, present_id, window_id, buffer_id) = (r.u64(), r.u64(), r.u64(), r.u64());
    let orientation = r.u32();
    if !matches!(orientation, 0 | 90 | 180 | 270) {
        return Err(CodecError::Orientation(orientation));
    }
    let (target_width, target_height) = (r.u32(), r.u32());
    let dirty = r.rect();
    let count = r.u32() as usize;
    if count > MAX_OPAQUE_RECTS {
        return Err(CodecError::TooManyOpaqueRects(count));
    }
    // Zero opaque rects still leave one (zeroed) slot on the wire.
    expect_len("PresentBuffer", body, PRESENT_FIXED + count.max(1) * RECT_SIZE)?;
    let opaque = (0..count).map(|_| r.rect()).collect();
    Ok(Pdu::PresentBuffer(PresentBuffer {
        timestamp,
        present_id,
        window_id,
        buffer_id,
        orientation,
        target_width,
        target_height,
        dirty,
        opaque,
    }))
}

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
    pub fn cmd_id(&self) -> u32 {
        match self {
            Pdu::LegacyCaps { .. } => CMD_LEGACY_CAPS,
            Pdu::Error { .. } => CMD_ERROR,
            Pdu::CapsAdvertise(_) => CMD_CAPS_ADVERTISE,
            Pdu::CapsConfirm(_) => CMD_CAPS_CONFIRM,
            Pdu::OpenPool { .. } => CMD_OPEN_POOL,
            Pdu::ClosePool { .. } => CMD_CLOSE_POOL,
            Pdu::CreateBuffer { .. } => CMD_CREATE_BUFFER,
            Pdu::DestroyBuffer { .. } => CMD_DESTROY_BUFFER,
            Pdu::PresentBuffer(_) => CMD_PRESENT_BUFFER,
            Pdu::PresentBufferAck { .. } => CMD_PRESENT_BUFFER_ACK,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Pdu::LegacyCaps { .. } => "LegacyCaps",
            Pdu::Error { .. } => "Error",
            Pdu::CapsAdvertise(_) => "CapsAdvertise",
            Pdu::CapsConfirm(_) => "CapsConfirm",
            Pdu::OpenPool { .. } => "OpenPool",
            Pdu::ClosePool { .. } => "ClosePool",
            Pdu::CreateBuffer { .. } => "CreateBuffer",
            Pdu::DestroyBuffer { .. } => "DestroyBuffer",
            Pdu::PresentBuffer(_) => "PresentBuffer",
            Pdu::PresentBufferAck { .. } => "PresentBufferAck",
        }
    }

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

/// Splits a DVC message into the PDUs it holds, by their header lengths (a peer may send
/// several at once, as FreeRDP's server accepts). A declared length that overruns or is below
/// the header ends the split with the rest as one (malformed) piece for `decode` to refuse.
pub fn split(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = match peek_header(rest) {
            Ok((_, len)) if (HEADER_SIZE..=rest.len()).contains(&(len as usize)) => len as usize,
            _ => rest.len(),
        };
        let (pdu, tail) = rest.split_at(len);
        out.push(pdu);
        rest = tail;
    }
    out
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
