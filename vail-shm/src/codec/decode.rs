//! Bytes to PDUs: every length checked before a field is read.

use super::*;

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
