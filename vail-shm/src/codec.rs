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

mod decode;
mod encode;

pub use decode::{decode, peek_header, split};

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
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
