//! Pointer (cursor) updates: the host draws the cursor itself, from images we send.

use ironrdp_core::encode_vec;
use ironrdp_pdu::fast_path::{
    EncryptionFlags, FastPathHeader, FastPathUpdate, FastPathUpdatePdu, Fragmentation, UpdateCode,
};
use ironrdp_pdu::pointer::{
    ColorPointerAttribute, LargePointerAttribute, Point16, PointerAttribute, PointerUpdateData,
};

pub use wayrail_link::Pointer;

/// The largest pointer a plain (new/color) pointer update may carry unless the 96×96 flag of
/// the large-pointer capability was agreed (MS-RDPBCGR 2.2.9.1.1.4.4): FreeRDP drops the
/// connection on a larger one. wayrail announces 384×384 only, so a client without it gets
/// its pointers shrunk to 32×32 (a cursor at scale 1.5 or 2, a drag icon).
pub const MAX_PLAIN_POINTER: u16 = 32;
/// The largest large pointer (MS-RDPBCGR 2.2.7.2.11).
pub const MAX_LARGE_POINTER: u16 = 384;
/// Fast-path PDUs stay well under the 15-bit length field.
const FRAGMENT: usize = 16 * 1024;

/// The fast-path update bytes that set this pointer. `large` says whether the client
/// announced the large-pointer capability.
pub fn encode(pointer: &Pointer, large: bool) -> anyhow::Result<Vec<u8>> {
    match pointer {
        Pointer::Hidden => fast_path(UpdateCode::HiddenPointer, &[]),
        Pointer::Default => fast_path(UpdateCode::DefaultPointer, &[]),
        Pointer::Image { width, height, hot_x, hot_y, bgra } => {
            if *width == 0 || *height == 0 || bgra.len() != *width as usize * *height as usize * 4 {
                anyhow::bail!("pointer image {width}x{height} with {} bytes", bgra.len());
            }
            let ((w, h, pixels), (hx, hy)) = if large && (*width > MAX_LARGE_POINTER || *height > MAX_LARGE_POINTER) {
                (crop(bgra, *width, *height, MAX_LARGE_POINTER), (*hot_x, *hot_y))
            } else if !large && (*width > MAX_PLAIN_POINTER || *height > MAX_PLAIN_POINTER) {
                shrink(bgra, *width, *height, *hot_x, *hot_y, MAX_PLAIN_POINTER)
            } else {
                ((*width, *height, bgra.clone()), (*hot_x, *hot_y))
            };
            let (xor_mask, and_mask) = masks(&pixels, w, h);
            let hot_spot = Point16 { x: hx.min(w - 1), y: hy.min(h - 1) };
            let color = ColorPointerAttribute {
                cache_index: 0,
                hot_spot,
                width: w,
                height: h,
                xor_mask: &xor_mask,
                and_mask: &and_mask,
            };
            let update = if large && (w > MAX_PLAIN_POINTER || h > MAX_PLAIN_POINTER) {
                // The large pointer PDU carries the same fields, without the color pointer's
                // nesting, up to 384×384; beyond 32×32 only it is safe with every client.
                let ColorPointerAttribute { cache_index, hot_spot, width, height, xor_mask, and_mask } = color;
                PointerUpdateData::Large(LargePointerAttribute {
                    xor_bpp: 32,
                    cache_index,
                    hot_spot,
                    width,
                    height,
                    xor_mask,
                    and_mask,
                })
            } else {
                PointerUpdateData::New(PointerAttribute { xor_bpp: 32, color_pointer: color })
            };
            let code = if matches!(update, PointerUpdateData::Large(_)) {
                UpdateCode::LargePointer
            } else {
                UpdateCode::NewPointer
            };
            let data = encode_vec(&FastPathUpdate::Pointer(update))?;
            fast_path(code, &data)
        }
    }
}

/// Keeps the top-left `limit`×`limit` pixels (where the hotspot of nearly every cursor is).
fn crop(bgra: &[u8], width: u16, height: u16, limit: u16) -> (u16, u16, Vec<u8>) {
    let (w, h) = (width.min(limit), height.min(limit));
    let mut out = Vec::with_capacity(w as usize * h as usize * 4);
    for row in 0..h as usize {
        let start = row * width as usize * 4;
        out.extend_from_slice(&bgra[start..start + w as usize * 4]);
    }
    (w, h, out)
}

/// Scales the image down to fit `limit`×`limit`, keeping its proportions, each pixel the
/// average of the pixels it covers (colours weighted by their alpha); the hotspot goes along.
/// Returns the new size and pixels, and the new hotspot.
fn shrink(
    bgra: &[u8],
    width: u16,
    height: u16,
    hot_x: u16,
    hot_y: u16,
    limit: u16,
) -> ((u16, u16, Vec<u8>), (u16, u16)) {
    let (w, h) = (width as usize, height as usize);
    let scale = (limit as f64 / w as f64).min(limit as f64 / h as f64);
    let (nw, nh) = (
        ((w as f64 * scale).round() as usize).clamp(1, limit as usize),
        ((h as f64 * scale).round() as usize).clamp(1, limit as usize),
    );
    let mut out = Vec::with_capacity(nw * nh * 4);
    for oy in 0..nh {
        let (y0, y1) = (oy * h / nh, ((oy + 1) * h / nh).max(oy * h / nh + 1));
        for ox in 0..nw {
            let (x0, x1) = (ox * w / nw, ((ox + 1) * w / nw).max(ox * w / nw + 1));
            let (mut sum, mut alpha, mut n) = ([0u64; 3], 0u64, 0u64);
            for y in y0..y1 {
                for x in x0..x1 {
                    let p = &bgra[(y * w + x) * 4..(y * w + x) * 4 + 4];
                    let a = u64::from(p[3]);
                    for c in 0..3 {
                        sum[c] += u64::from(p[c]) * a;
                    }
                    alpha += a;
                    n += 1;
                }
            }
            let colour = |c: usize| sum[c].checked_div(alpha).unwrap_or(0) as u8;
            out.extend([colour(0), colour(1), colour(2), (alpha / n) as u8]);
        }
    }
    let hot = |v: u16, from: usize, to: usize| ((v as usize * to / from).min(to - 1)) as u16;
    ((nw as u16, nh as u16, out), (hot(hot_x, w, nw), hot(hot_y, h, nh)))
}

/// 32 bpp XOR mask and 1 bpp AND mask, bottom-up, rows padded to 2 bytes. With an alpha
/// channel the AND mask is all zeros: the alpha decides.
fn masks(bgra: &[u8], width: u16, height: u16) -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (width as usize, height as usize);
    let mut xor = Vec::with_capacity(w * h * 4);
    for row in (0..h).rev() {
        xor.extend_from_slice(&bgra[row * w * 4..(row + 1) * w * 4]);
    }
    let and_stride = w.div_ceil(16) * 2;
    (xor, vec![0u8; and_stride * h])
}

/// Wraps an update in fast-path PDUs, fragmenting what is too large for one.
pub(crate) fn fast_path(code: UpdateCode, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = if data.is_empty() { vec![data] } else { data.chunks(FRAGMENT).collect() };
    let n = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let fragmentation = match (n, i) {
            (1, _) => Fragmentation::Single,
            (_, 0) => Fragmentation::First,
            (_, i) if i == n - 1 => Fragmentation::Last,
            _ => Fragmentation::Next,
        };
        let pdu = FastPathUpdatePdu {
            fragmentation,
            update_code: code,
            compression_flags: None,
            compression_type: None,
            data: chunk,
        };
        let body = encode_vec(&pdu)?;
        out.extend(encode_vec(&FastPathHeader::new(EncryptionFlags::empty(), body.len()))?);
        out.extend(body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_core::decode;

    fn parse(bytes: &[u8]) -> Vec<(UpdateCode, Fragmentation, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let header: FastPathHeader = decode(rest).unwrap();
            let header_len = rest.len() - {
                let mut c = ironrdp_core::ReadCursor::new(rest);
                let _ = <FastPathHeader as ironrdp_core::Decode>::decode(&mut c).unwrap();
                c.len()
            };
            let total = header_len + header.data_length;
            let pdu: FastPathUpdatePdu<'_> = decode(&rest[header_len..total]).unwrap();
            out.push((pdu.update_code, pdu.fragmentation, pdu.data.to_vec()));
            rest = &rest[total..];
        }
        out
    }

    #[test]
    fn small_pointer_round_trips() {
        let bgra: Vec<u8> = (0..24 * 24).flat_map(|i| [i as u8, 0, 0, 255]).collect();
        let p = Pointer::Image { width: 24, height: 24, hot_x: 3, hot_y: 4, bgra: bgra.clone() };
        let frames = parse(&encode(&p, false).unwrap());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].0, UpdateCode::NewPointer);
        let update = FastPathUpdate::decode_with_code(&frames[0].2, UpdateCode::NewPointer).unwrap();
        let FastPathUpdate::Pointer(PointerUpdateData::New(attr)) = update else { panic!("{update:?}") };
        assert_eq!(
            (attr.xor_bpp, attr.color_pointer.width, attr.color_pointer.hot_spot.x, attr.color_pointer.hot_spot.y),
            (32, 24, 3, 4)
        );
        // Bottom-up: the first row on the wire is the last row of the image.
        assert_eq!(&attr.color_pointer.xor_mask[..4], &bgra[23 * 24 * 4..23 * 24 * 4 + 4]);
        assert_eq!(attr.color_pointer.and_mask.len(), 4 * 24);
    }

    #[test]
    fn large_pointer_is_fragmented_and_cropped_without_the_capability() {
        let bgra = vec![255u8; 200 * 200 * 4];
        let p = Pointer::Image { width: 200, height: 200, hot_x: 199, hot_y: 0, bgra };
        let frames = parse(&encode(&p, true).unwrap());
        assert!(frames.len() > 1);
        assert_eq!(frames[0].1, Fragmentation::First);
        assert_eq!(frames.last().unwrap().1, Fragmentation::Last);
        assert!(frames.iter().all(|f| f.0 == UpdateCode::LargePointer));
        // Without the capability: shrunk to 32×32, the hotspot with it.
        let small = parse(&encode(&p, false).unwrap());
        let data: Vec<u8> = small.iter().flat_map(|f| f.2.clone()).collect();
        let FastPathUpdate::Pointer(PointerUpdateData::New(attr)) =
            FastPathUpdate::decode_with_code(&data, UpdateCode::NewPointer).unwrap()
        else {
            panic!()
        };
        let c = &attr.color_pointer;
        assert_eq!((c.width, c.height, c.hot_spot.x, c.hot_spot.y), (32, 32, 31, 0));
    }

    /// A 48×24 pointer with its left half opaque red and its right half clear becomes 32×16
    /// for a client without large pointers: each half stays what it was, the hotspot scales.
    #[test]
    fn a_pointer_above_32_pixels_is_shrunk_for_a_client_without_large_pointers() {
        let bgra: Vec<u8> =
            (0..24).flat_map(|_| (0..48).flat_map(|x| if x < 24 { [0, 0, 255, 255] } else { [0, 0, 0, 0] })).collect();
        let p = Pointer::Image { width: 48, height: 24, hot_x: 12, hot_y: 6, bgra };
        let frames = parse(&encode(&p, false).unwrap());
        assert_eq!(frames[0].0, UpdateCode::NewPointer);
        let FastPathUpdate::Pointer(PointerUpdateData::New(attr)) =
            FastPathUpdate::decode_with_code(&frames[0].2, UpdateCode::NewPointer).unwrap()
        else {
            panic!()
        };
        let c = &attr.color_pointer;
        assert_eq!((c.width, c.height, c.hot_spot.x, c.hot_spot.y), (32, 16, 8, 4));
        let row = &c.xor_mask[..32 * 4];
        assert_eq!(&row[..4], &[0, 0, 255, 255], "left: opaque red");
        assert_eq!(&row[31 * 4..], &[0, 0, 0, 0], "right: clear");
    }

    /// A 36×36 pointer (a cursor at scale 1.5, a drag icon) goes as a large pointer to a client
    /// that takes them: FreeRDP refuses a plain one above 32×32 and disconnects.
    #[test]
    fn a_pointer_above_32_pixels_is_a_large_pointer_when_the_client_takes_them() {
        let bgra = vec![255u8; 36 * 36 * 4];
        let p = Pointer::Image { width: 36, height: 36, hot_x: 4, hot_y: 4, bgra };
        let frames = parse(&encode(&p, true).unwrap());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].0, UpdateCode::LargePointer);
        let FastPathUpdate::Pointer(PointerUpdateData::Large(attr)) =
            FastPathUpdate::decode_with_code(&frames[0].2, UpdateCode::LargePointer).unwrap()
        else {
            panic!()
        };
        assert_eq!((attr.width, attr.height, attr.hot_spot.x), (36, 36, 4));
        // A 32×32 one stays a plain pointer, and so does anything without the capability
        // (shrunk, see below).
        let small = Pointer::Image { width: 32, height: 32, hot_x: 0, hot_y: 0, bgra: vec![255u8; 32 * 32 * 4] };
        assert_eq!(parse(&encode(&small, true).unwrap())[0].0, UpdateCode::NewPointer);
        assert_eq!(parse(&encode(&p, false).unwrap())[0].0, UpdateCode::NewPointer);
    }

    #[test]
    fn bad_images_are_refused() {
        assert!(encode(&Pointer::Image { width: 2, height: 2, hot_x: 0, hot_y: 0, bgra: vec![0; 3] }, false).is_err());
        assert!(encode(&Pointer::Image { width: 0, height: 2, hot_x: 0, hot_y: 0, bgra: vec![] }, false).is_err());
        assert_eq!(parse(&encode(&Pointer::Hidden, false).unwrap())[0].0, UpdateCode::HiddenPointer);
    }
}
