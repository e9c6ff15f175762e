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
//!
//! Tiles are independent, so a large frame's tiles are encoded on one thread per core, each
//! taking a run of them (a full-HD frame: 37 ms on one thread, 19 ms on two, here); the
//! stream is the same either way.

use ironrdp_graphics::progressive::{encode_first_pass, COEFFICIENTS_PER_COMPONENT};
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

        let touched: Vec<(usize, usize)> =
            touched.iter().enumerate().filter(|(_, t)| **t).map(|(i, _)| (i % columns, i / columns)).collect();
        let encoded = encode_tiles(shadow, &touched, encoding_threads(touched.len()))?;
        let tiles = encoded
            .iter()
            .map(|EncodedTile { x_idx, y_idx, components: [y, cb, cr] }| {
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

/// Below this many tiles a frame is encoded on the calling thread alone: a thread costs more
/// to start than a few tiles take.
const MIN_TILES_PER_THREAD: usize = 8;

/// The name of the threads that help encode a large progressive frame.
const RFX_THREAD: &str = "wayrail-rfx";

/// How many threads encode `tiles` tiles: one per core, each with enough tiles to be worth it.
fn encoding_threads(tiles: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(tiles / MIN_TILES_PER_THREAD).max(1)
}

/// One tile of a frame: its place in the grid and its Y, Cb and Cr, entropy-coded.
struct EncodedTile {
    x_idx: u16,
    y_idx: u16,
    components: [Vec<u8>; 3],
}

/// Encodes the tiles at these grid places, in their order, on `threads` threads (the calling
/// one among them): each takes a run of consecutive tiles, so the result needs no sorting.
/// Tiles are independent (a simple tile is the whole picture of its 64×64 pixels), and the
/// stream is the same whatever the number of threads.
fn encode_tiles(shadow: &Shadow, tiles: &[(usize, usize)], threads: usize) -> anyhow::Result<Vec<EncodedTile>> {
    let run = tiles.len().div_ceil(threads.max(1)).max(1);
    let mut runs = tiles.chunks(run);
    let Some(first) = runs.next() else { return Ok(Vec::new()) };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = runs
            .map(|part| {
                let spawned = std::thread::Builder::new()
                    .name(RFX_THREAD.into())
                    .spawn_scoped(scope, move || encode_run(shadow, part));
                // Without a thread, the run is encoded here after the first.
                spawned.map_err(|_| part)
            })
            .collect();
        let mut encoded = encode_run(shadow, first)?;
        for helper in helpers {
            let part = match helper {
                Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                Err(part) => encode_run(shadow, part)?,
            };
            encoded.extend(part);
        }
        Ok(encoded)
    })
}

/// Encodes a run of tiles on this thread.
fn encode_run(shadow: &Shadow, tiles: &[(usize, usize)]) -> anyhow::Result<Vec<EncodedTile>> {
    let mut planes = [[0i16; COEFFICIENTS_PER_COMPONENT]; 3];
    let mut buffer = vec![0u8; COMPONENT_BUFFER];
    tiles
        .iter()
        .map(|&(tx, ty)| {
            tile_ycbcr(shadow, tx * TILE, ty * TILE, &mut planes);
            let mut components: [Vec<u8>; 3] = Default::default();
            for (plane, out) in planes.iter_mut().zip(components.iter_mut()) {
                let len = encode_first_pass(plane, &mut buffer, &QUANT, &ComponentCodecQuant::LOSSLESS, true)
                    .map_err(|e| anyhow::anyhow!("RLGR: {e:?}"))?;
                *out = buffer[..len].to_vec();
                // The writer sets only the bits it writes: the last byte's padding must be
                // zero again for the next component.
                buffer[..len].fill(0);
            }
            Ok(EncodedTile { x_idx: tx as u16, y_idx: ty as u16, components })
        })
        .collect()
}

/// The 64×64 tile whose top left corner is (`x0`, `y0`) as Y, Cb and Cr (BT.601, full range,
/// Y centred on zero as the transform wants it, in 16-bit fixed point), the surface's last
/// column and row repeated where the tile reaches past it. Read straight from the surface's
/// BGRA rows: no RGBA copy of the tile in between.
fn tile_ycbcr(
    shadow: &Shadow,
    x0: usize,
    y0: usize,
    [y_out, cb_out, cr_out]: &mut [[i16; COEFFICIENTS_PER_COMPONENT]; 3],
) {
    let (width, height) = (usize::from(shadow.width), usize::from(shadow.height));
    // The columns inside the surface; the rest repeat the last one.
    let inside = width.saturating_sub(x0).min(TILE);
    for row in 0..TILE {
        let line = shadow.row((y0 + row).min(height - 1));
        let pixels = &line[x0.min(width - 1) * 4..][..inside.max(1) * 4];
        let at = row * TILE;
        let (y_row, cb_row, cr_row) =
            (&mut y_out[at..at + TILE], &mut cb_out[at..at + TILE], &mut cr_out[at..at + TILE]);
        for (((p, y), cb), cr) in
            pixels.chunks_exact(4).zip(y_row.iter_mut()).zip(cb_row.iter_mut()).zip(cr_row.iter_mut())
        {
            let (b, g, r) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            *y = (((19595 * r + 38470 * g + 7471 * b + 32768) >> 16) - 128) as i16;
            *cb = ((-11059 * r - 21709 * g + 32768 * b + 32768) >> 16) as i16;
            *cr = ((32768 * r - 27439 * g - 5329 * b + 32768) >> 16) as i16;
        }
        let last = inside.max(1) - 1;
        for plane in [y_row, cb_row, cr_row] {
            let edge = plane[last];
            plane[last + 1..].fill(edge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_graphics::progressive::ProgressiveDecoder;
    use std::time::Duration;

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

    /// The conversion straight from the surface gives what the RGBA path of ironrdp-graphics
    /// gives, edge tiles included.
    #[test]
    fn tiles_convert_as_ironrdp_converts_rgba() {
        let (shadow, bgra) = picture(150, 70);
        for (x0, y0) in [(0, 0), (64, 0), (128, 64)] {
            let mut rgba = vec![0u8; TILE * TILE * 4];
            for row in 0..TILE {
                for column in 0..TILE {
                    let (x, y) = ((x0 + column).min(149), (y0 + row).min(69));
                    let p = &bgra[(y * 150 + x) * 4..][..4];
                    rgba[(row * TILE + column) * 4..][..4].copy_from_slice(&[p[2], p[1], p[0], 0xFF]);
                }
            }
            let mut expected = [[0i16; COEFFICIENTS_PER_COMPONENT]; 3];
            let [y, cb, cr] = &mut expected;
            ironrdp_graphics::progressive::rgba_to_ycbcr(&rgba, y, cb, cr);
            let mut planes = [[0i16; COEFFICIENTS_PER_COMPONENT]; 3];
            tile_ycbcr(&shadow, x0, y0, &mut planes);
            assert!(planes == expected, "tile at ({x0}, {y0})");
        }
    }

    #[test]
    fn the_stream_is_the_same_on_any_number_of_threads() {
        let (shadow, _) = picture(700, 300);
        let (columns, rows) = (700usize.div_ceil(TILE), 300usize.div_ceil(TILE));
        let places: Vec<(usize, usize)> = (0..rows).flat_map(|y| (0..columns).map(move |x| (x, y))).collect();
        let one = encode_tiles(&shadow, &places, 1).unwrap();
        for threads in [2, 3, 7, places.len(), places.len() + 5] {
            let many = encode_tiles(&shadow, &places, threads).unwrap();
            assert_eq!(many.len(), one.len(), "{threads} threads");
            for (a, b) in many.iter().zip(&one) {
                assert_eq!((a.x_idx, a.y_idx, &a.components), (b.x_idx, b.y_idx, &b.components), "{threads} threads");
            }
        }
        assert!(encode_tiles(&shadow, &[], 2).unwrap().is_empty());
    }

    /// Prints what a full-HD frame costs on one thread and on all cores: run with
    /// `cargo test --release -p wayrail-rdp progressive_full_hd_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark: prints figures, asserts nothing"]
    fn progressive_full_hd_cost() {
        let (shadow, _) = picture(1920, 1080);
        let places: Vec<(usize, usize)> =
            (0..1080usize.div_ceil(TILE)).flat_map(|y| (0..1920usize.div_ceil(TILE)).map(move |x| (x, y))).collect();
        for threads in [1, encoding_threads(places.len())] {
            let started = std::time::Instant::now();
            const ROUNDS: u32 = 20;
            for _ in 0..ROUNDS {
                encode_tiles(&shadow, &places, threads).unwrap();
            }
            println!("full HD, {} tiles, {threads} thread(s): {:?} a frame", places.len(), started.elapsed() / ROUNDS);
        }
        // Where one tile's time goes, on one thread.
        let mut planes = [[0i16; COEFFICIENTS_PER_COMPONENT]; 3];
        let mut buffer = vec![0u8; COMPONENT_BUFFER];
        let mut temp = [0i16; COEFFICIENTS_PER_COMPONENT];
        let (mut colour, mut dwt, mut rest) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for &(x, y) in &places {
            let t = std::time::Instant::now();
            tile_ycbcr(&shadow, x * TILE, y * TILE, &mut planes);
            colour += t.elapsed();
            for plane in &mut planes {
                let mut copy = *plane;
                let t = std::time::Instant::now();
                ironrdp_graphics::dwt_extrapolate::encode(&mut copy, &mut temp);
                dwt += t.elapsed();
                let t = std::time::Instant::now();
                encode_first_pass(plane, &mut buffer, &QUANT, &ComponentCodecQuant::LOSSLESS, true).unwrap();
                buffer.fill(0);
                rest += t.elapsed();
            }
        }
        println!("one thread, full HD: colour {colour:?}, DWT {dwt:?}, DWT + quantization + RLGR {rest:?}");
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
