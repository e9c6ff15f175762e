//! RemoteFX Progressive ([MS-RDPEGFX] 2.2.4.2) for clients that do not decode H.264: the
//! lossy codec a surface whose content keeps changing over a large area goes out in when
//! AVC420 is not available, at a fraction of ClearCodec's bytes on photos and animation.
//!
//! Each frame is one block stream: SYNC and CONTEXT on a surface's first frame, then
//! FRAME_BEGIN, one REGION and FRAME_END. The region carries a *simple* tile (the whole
//! picture in one pass, no refinement passes) for every 64×64 tile of the surface's grid the
//! damage touches, and the damage rectangles, which bound what the client copies out of the
//! tiles. The transform uses the reduce-extrapolate DWT, as Windows servers do, and one
//! quantization table for all three components: the usual RemoteFX table, finer for the low
//! bands where the eye sees errors.
//!
//! A tile at the right or bottom edge reaches past the surface: its outside is filled by
//! repeating the last column and row, so the transform sees no edge there.

use ironrdp_graphics::progressive::{encode_first_pass, rgba_to_ycbcr, COEFFICIENTS_PER_COMPONENT};
use ironrdp_pdu::codecs::rfx::progressive::{
    encode_progressive_stream, ComponentCodecQuant, ProgressiveBlock, ProgressiveContextPdu, ProgressiveFrameBeginPdu,
    ProgressiveFrameEndPdu, ProgressiveRegion, ProgressiveSyncPdu, ProgressiveTile, TileSimple,
};
use ironrdp_pdu::codecs::rfx::RfxRectangle;
use ironrdp_pdu::geometry::ExclusiveRectangle;

use crate::codec::Shadow;

/// The side of a tile, fixed by the protocol.
const TILE: usize = 64;

/// RFX_DWT_REDUCE_EXTRAPOLATE in a region's flags.
const REDUCE_EXTRAPOLATE: u8 = 0x01;
/// RFX_SUBBAND_DIFFING in the context's flags: tiles may be sent as differences (these never
/// are, but FreeRDP warns about a context without it).
const SUBBAND_DIFFING: u8 = 0x01;

/// The quantization of every component, by band: 6 leaves a band as the transform made it,
/// each step above halves its precision. The lowest band keeps everything; the finest
/// diagonal detail loses most.
const QUANT: ComponentCodecQuant =
    ComponentCodecQuant { ll3: 6, hl3: 6, lh3: 6, hh3: 6, hl2: 7, lh2: 7, hh2: 8, hl1: 8, lh1: 8, hh1: 9 };

/// The encoder of one surface.
#[derive(Debug, Default)]
pub struct Progressive {
    /// Whether SYNC and CONTEXT went out (the client keeps them per surface).
    started: bool,
    frame_index: u32,
}

/// One component's entropy-coded data: RLGR1 of 4096 coefficients never needs more than two
/// bytes each (RLGR's worst case is a little over 16 bits a value; zeros cost much less).
const COMPONENT_BUFFER: usize = COEFFICIENTS_PER_COMPONENT * 3;

impl Progressive {
    pub fn new() -> Progressive {
        Progressive::default()
    }

    /// The block stream of a frame that updates `rects` (inside the surface) of `shadow`, the
    /// surface's current pixels. None when `rects` is empty or the surface has no pixels.
    pub fn encode(&mut self, shadow: &Shadow, rects: &[ExclusiveRectangle]) -> anyhow::Result<Option<Vec<u8>>> {
        let (width, height) = (usize::from(shadow.width), usize::from(shadow.height));
        let rects: Vec<ExclusiveRectangle> = rects
            .iter()
            .map(|r| ExclusiveRectangle {
                left: r.left.min(shadow.width),
                top: r.top.min(shadow.height),
                right: r.right.min(shadow.width),
                bottom: r.bottom.min(shadow.height),
            })
            .filter(|r| r.left < r.right && r.top < r.bottom)
            .collect();
        if rects.is_empty() || width == 0 || height == 0 {
            return Ok(None);
        }
        let (columns, rows) = (width.div_ceil(TILE), height.div_ceil(TILE));
        let mut touched = vec![false; columns * rows];
        for r in &rects {
            for ty in usize::from(r.top) / TILE..usize::from(r.bottom).div_ceil(TILE) {
                for tx in usize::from(r.left) / TILE..usize::from(r.right).div_ceil(TILE) {
                    touched[ty * columns + tx] = true;
                }
            }
        }

        let mut rgba = vec![0u8; TILE * TILE * 4];
        let mut planes = [[0i16; COEFFICIENTS_PER_COMPONENT]; 3];
        // Every tile's three components, then the tiles pointing into them.
        let mut encoded: Vec<(u16, u16, [Vec<u8>; 3])> = Vec::new();
        for (index, _) in touched.iter().enumerate().filter(|(_, t)| **t) {
            let (tx, ty) = (index % columns, index / columns);
            tile_rgba(shadow, tx * TILE, ty * TILE, &mut rgba);
            let [y, cb, cr] = &mut planes;
            rgba_to_ycbcr(&rgba, y, cb, cr);
            let mut components: [Vec<u8>; 3] = Default::default();
            for (plane, out) in planes.iter_mut().zip(components.iter_mut()) {
                let mut buffer = vec![0u8; COMPONENT_BUFFER];
                let len = encode_first_pass(plane, &mut buffer, &QUANT, &ComponentCodecQuant::LOSSLESS, true)
                    .map_err(|e| anyhow::anyhow!("RLGR: {e:?}"))?;
                buffer.truncate(len);
                *out = buffer;
            }
            encoded.push((tx as u16, ty as u16, components));
        }
        let tiles = encoded
            .iter()
            .map(|(x_idx, y_idx, [y, cb, cr])| {
                ProgressiveTile::Simple(TileSimple {
                    quant_idx_y: 0,
                    quant_idx_cb: 0,
                    quant_idx_cr: 0,
                    x_idx: *x_idx,
                    y_idx: *y_idx,
                    flags: 0,
                    y_data: y,
                    cb_data: cb,
                    cr_data: cr,
                    tail_data: &[],
                })
            })
            .collect();

        let mut blocks = Vec::with_capacity(5);
        if !self.started {
            blocks.push(ProgressiveBlock::Sync(ProgressiveSyncPdu));
            blocks.push(ProgressiveBlock::Context(ProgressiveContextPdu {
                context_id: 0,
                tile_size: TILE as u16,
                flags: SUBBAND_DIFFING,
            }));
        }
        blocks.push(ProgressiveBlock::FrameBegin(ProgressiveFrameBeginPdu {
            frame_index: self.frame_index,
            region_count: 1,
        }));
        blocks.push(ProgressiveBlock::Region(ProgressiveRegion {
            tile_size: TILE as u8,
            rects: rects
                .iter()
                .map(|r| RfxRectangle { x: r.left, y: r.top, width: r.right - r.left, height: r.bottom - r.top })
                .collect(),
            quant_vals: vec![QUANT],
            quant_prog_vals: Vec::new(),
            flags: REDUCE_EXTRAPOLATE,
            tiles,
        }));
        blocks.push(ProgressiveBlock::FrameEnd(ProgressiveFrameEndPdu));
        let stream = encode_progressive_stream(&blocks).map_err(|e| anyhow::anyhow!("progressive stream: {e}"))?;
        self.started = true;
        self.frame_index = self.frame_index.wrapping_add(1);
        Ok(Some(stream))
    }

    /// The client forgot the surface's codec state (the surface was recreated): SYNC and
    /// CONTEXT go out again with the next frame.
    pub fn reset(&mut self) {
        self.started = false;
    }
}

/// The 64×64 tile whose top left corner is (`x0`, `y0`) as RGBA, the surface's last column
/// and row repeated where the tile reaches past it.
fn tile_rgba(shadow: &Shadow, x0: usize, y0: usize, out: &mut [u8]) {
    let (width, height) = (usize::from(shadow.width), usize::from(shadow.height));
    for row in 0..TILE {
        let line = shadow.row((y0 + row).min(height - 1));
        for column in 0..TILE {
            let x = (x0 + column).min(width - 1);
            let (src, dst) = (&line[x * 4..x * 4 + 4], &mut out[(row * TILE + column) * 4..][..4]);
            dst.copy_from_slice(&[src[2], src[1], src[0], 0xFF]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_graphics::progressive::ProgressiveDecoder;

    /// A picture with smooth gradients and a sharp edge, like a photo with a window border.
    /// The surface's copy and the same pixels packed, to compare with.
    fn picture(width: u16, height: u16) -> (Shadow, Vec<u8>) {
        let mut bgra = vec![0u8; usize::from(width) * usize::from(height) * 4];
        for y in 0..usize::from(height) {
            for x in 0..usize::from(width) {
                let p = &mut bgra[(y * usize::from(width) + x) * 4..][..4];
                let edge = if x > usize::from(width) / 2 { 80 } else { 0 };
                p.copy_from_slice(&[
                    (x * 2 % 256) as u8,
                    (y * 3 % 256) as u8,
                    ((x + y) % 200) as u8 + edge as u8 / 2,
                    0xFF,
                ]);
            }
        }
        let mut shadow = Shadow::new(width, height);
        let whole = ExclusiveRectangle { left: 0, top: 0, right: width, bottom: height };
        shadow.blit(&whole, &bgra, usize::from(width) * 4);
        (shadow, bgra)
    }

    /// Decodes `stream` onto a BGRA picture of the surface (what the client shows).
    fn decode(decoder: &mut ProgressiveDecoder, stream: &[u8], width: u16, height: u16, out: &mut [u8]) {
        let tiles = decoder.decode_bitmap(1, 0, width, height, stream).expect("the stream decodes");
        for tile in tiles {
            let (x0, y0) = (usize::from(tile.x_idx) * TILE, usize::from(tile.y_idx) * TILE);
            for r in &tile.update_rectangles {
                for y in usize::from(r.top)..usize::from(r.bottom) {
                    for x in usize::from(r.left)..usize::from(r.right) {
                        let src = &tile.pixels[((y - y0) * TILE + (x - x0)) * 4..][..4];
                        let dst = &mut out[(y * usize::from(width) + x) * 4..][..4];
                        dst.copy_from_slice(&[src[2], src[1], src[0], 0xFF]);
                    }
                }
            }
        }
    }

    #[test]
    fn a_frame_decodes_close_to_the_picture_in_a_fraction_of_its_bytes() {
        let (w, h) = (200u16, 130u16);
        let (shadow, bgra) = picture(w, h);
        let mut encoder = Progressive::new();
        let whole = ExclusiveRectangle { left: 0, top: 0, right: w, bottom: h };
        let stream = encoder.encode(&shadow, &[whole]).unwrap().expect("a frame");
        assert!(stream.len() * 4 < bgra.len(), "{} bytes for {} of pixels", stream.len(), bgra.len());

        let mut decoder = ProgressiveDecoder::new();
        let mut shown = vec![0u8; bgra.len()];
        decode(&mut decoder, &stream, w, h, &mut shown);
        let (mut sum, mut max) = (0u64, 0u8);
        for (a, b) in shown.chunks_exact(4).zip(bgra.chunks_exact(4)) {
            for c in 0..3 {
                let d = a[c].abs_diff(b[c]);
                sum += u64::from(d);
                max = max.max(d);
            }
        }
        let mean = sum as f64 / (f64::from(w) * f64::from(h) * 3.0);
        assert!(mean < 4.0 && max < 64, "mean error {mean:.2}, largest {max}");
    }

    #[test]
    fn only_the_tiles_the_damage_touches_go_out_and_the_rest_stays() {
        let (w, h) = (256u16, 192u16);
        let (mut shadow, bgra) = picture(w, h);
        let mut encoder = Progressive::new();
        let mut decoder = ProgressiveDecoder::new();
        let mut shown = vec![0u8; bgra.len()];
        let whole = ExclusiveRectangle { left: 0, top: 0, right: w, bottom: h };
        let first = encoder.encode(&shadow, &[whole]).unwrap().unwrap();
        decode(&mut decoder, &first, w, h, &mut shown);
        let before = shown.clone();

        // A white square inside one tile: one tile's worth of bytes, and only it changes.
        let square = ExclusiveRectangle { left: 70, top: 70, right: 90, bottom: 90 };
        shadow.blit(&square, &[255; 20 * 20 * 4], 20 * 4);
        let second = encoder.encode(&shadow, &[square]).unwrap().unwrap();
        assert!(second.len() * 4 < first.len(), "{} bytes for one tile, {} for twelve", second.len(), first.len());
        decode(&mut decoder, &second, w, h, &mut shown);
        for y in 0..usize::from(h) {
            for x in 0..usize::from(w) {
                let (i, inside) = ((y * usize::from(w) + x) * 4, (70..90).contains(&x) && (70..90).contains(&y));
                if inside {
                    assert!(shown[i..i + 3].iter().all(|v| *v > 200), "({x}, {y}) is {:?}", &shown[i..i + 4]);
                } else {
                    assert_eq!(shown[i..i + 4], before[i..i + 4], "({x}, {y}) outside the damage changed");
                }
            }
        }
    }

    #[test]
    fn sync_and_context_open_the_first_frame_only_and_again_after_a_reset() {
        let (shadow, _) = picture(64, 64);
        let rect = ExclusiveRectangle { left: 0, top: 0, right: 64, bottom: 64 };
        let mut encoder = Progressive::new();
        let block_types = |stream: &[u8]| {
            let mut types = Vec::new();
            let mut at = 0;
            while at < stream.len() {
                types.push(u16::from_le_bytes([stream[at], stream[at + 1]]));
                at += u32::from_le_bytes(stream[at + 2..at + 6].try_into().unwrap()) as usize;
            }
            types
        };
        // SYNC 0xCCC0, FRAME_BEGIN 0xCCC1, FRAME_END 0xCCC2, CONTEXT 0xCCC3, REGION 0xCCC4.
        let first = encoder.encode(&shadow, std::slice::from_ref(&rect)).unwrap().unwrap();
        assert_eq!(block_types(&first), [0xCCC0, 0xCCC3, 0xCCC1, 0xCCC4, 0xCCC2]);
        let second = encoder.encode(&shadow, std::slice::from_ref(&rect)).unwrap().unwrap();
        assert_eq!(block_types(&second), [0xCCC1, 0xCCC4, 0xCCC2]);
        encoder.reset();
        assert_eq!(
            block_types(&encoder.encode(&shadow, std::slice::from_ref(&rect)).unwrap().unwrap())[..2],
            [0xCCC0, 0xCCC3]
        );
        let outside = ExclusiveRectangle { left: 64, top: 0, right: 80, bottom: 10 };
        assert!(encoder.encode(&shadow, &[outside]).unwrap().is_none(), "damage outside the surface");
    }
}
