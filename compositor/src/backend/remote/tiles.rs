//! A frame's damage as the tiles a host is sent: cut from a composed image, or copied straight
//! from a client's buffer (a RemoteApp window that is one buffer, an output that is one
//! fullscreen window's buffer).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use wayrail_link::{PoolRect, Tile, WindowPool};

use crate::render::Composer;
use crate::state::Core;
use crate::window::WindowId;

/// The damage of a composed frame, each rectangle's pixels copied out of the image.
pub(super) fn frame_tiles(frame: &crate::render::Frame<'_>) -> Vec<Tile> {
    frame
        .damage
        .iter()
        .filter_map(|r| {
            let x = r.x.clamp(0, frame.width as i32) as usize;
            let y = r.y.clamp(0, frame.height as i32) as usize;
            let right = (r.x + r.width).clamp(0, frame.width as i32) as usize;
            let bottom = (r.y + r.height).clamp(0, frame.height as i32) as usize;
            if right <= x || bottom <= y {
                return None;
            }
            let mut bgra = Vec::with_capacity((right - x) * (bottom - y) * 4);
            for row in y..bottom {
                let start = row * frame.stride + x * 4;
                bgra.extend_from_slice(&frame.data[start..start + (right - x) * 4]);
            }
            Some(Tile { x: x as u16, y: y as u16, width: (right - x) as u16, height: (bottom - y) as u16, bgra })
        })
        .collect()
}

/// What changed on an output that is one window's buffer, as tiles copied from the buffer;
/// None when it is not, and goes composed (see `Composer::write_output_direct`).
pub(super) fn output_direct_tiles(composer: &mut Composer, state: &Core, name: &str) -> Option<Vec<Tile>> {
    let (w, h) = state.output_by_name(name)?.physical_size;
    let sink = TileSink::opaque((u32::try_from(w).ok()?, u32::try_from(h).ok()?));
    composer.write_output_direct(state, name, &sink)?;
    DESKTOP_DIRECT_FRAMES.fetch_add(1, Ordering::Relaxed);
    Some(sink.into_tiles())
}

/// Desktop frames of an output that went straight from a window's buffer, uncomposed.
pub static DESKTOP_DIRECT_FRAMES: AtomicU64 = AtomicU64::new(0);

/// What changed in a window that is one buffer, as tiles copied from the buffer (see
/// [`TileSink`]); None when it is not, and goes composed.
pub(super) fn direct_tiles(composer: &mut Composer, state: &Core, id: WindowId, scale: f64) -> Option<Vec<Tile>> {
    let sink = TileSink::new(Composer::direct_image_size(state, id, scale)?);
    composer.write_window_direct(state, id, scale, &sink)?;
    Some(sink.into_tiles())
}

/// Where the direct path of a RemoteApp window (`Composer::write_window_direct`) writes when
/// its pixels go in EGFX: tiles of the window's image, straight from the client's buffer, so
/// that a window that is one buffer costs one copy of its damage and no composition. The same
/// pixels as composing it: the buffer over transparency, XRGB's padding made opaque.
pub(super) struct TileSink {
    size: (u32, u32),
    tiles: Mutex<Vec<Tile>>,
    /// Every pixel's alpha made opaque: the image is composed over opaque black (a desktop).
    opaque: bool,
}

impl TileSink {
    /// For a window's image of `size`.
    pub(super) fn new(size: (u32, u32)) -> TileSink {
        TileSink { size, tiles: Mutex::new(Vec::new()), opaque: false }
    }

    /// For an output of `size` (see `Composer::write_output_direct`).
    pub(super) fn opaque(size: (u32, u32)) -> TileSink {
        TileSink { opaque: true, ..TileSink::new(size) }
    }

    pub(super) fn into_tiles(self) -> Vec<Tile> {
        self.tiles.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl WindowPool for TileSink {
    fn serial(&self) -> u64 {
        0
    }

    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn write(&self, src: &[u8], stride: usize, opaque: bool, rects: &[PoolRect], at: (u32, u32)) -> Option<usize> {
        // All or nothing: every rectangle lies in `src` and lands in the image.
        let fits = |r: &PoolRect| {
            let (x, y, w, h) = (r.x as usize, r.y as usize, r.width as usize, r.height as usize);
            let last = (y + h).checked_sub(1).map_or(0, |row| row * stride + (x + w) * 4);
            (x + w) * 4 <= stride
                && last <= src.len()
                && r.x + at.0 + r.width <= self.size.0
                && r.y + at.1 + r.height <= self.size.1
                && self.size.0 <= u32::from(u16::MAX)
                && self.size.1 <= u32::from(u16::MAX)
        };
        if !rects.iter().all(fits) {
            return None;
        }
        let mut tiles = self.tiles.lock().unwrap_or_else(|e| e.into_inner());
        let mut bytes = 0;
        for r in rects.iter().filter(|r| r.width > 0 && r.height > 0) {
            let (x, y, w, h) = (r.x as usize, r.y as usize, r.width as usize, r.height as usize);
            let mut bgra = Vec::with_capacity(w * h * 4);
            for row in y..y + h {
                let start = bgra.len();
                bgra.extend_from_slice(&src[row * stride + x * 4..][..w * 4]);
                if opaque || self.opaque {
                    // Row by row, while the row is in the cache: a pass over the whole tile
                    // after it costs as much as copying it (a full-HD frame: 0.5 ms).
                    make_opaque(&mut bgra[start..]);
                }
            }
            bytes += bgra.len();
            tiles.push(Tile {
                x: (r.x + at.0) as u16,
                y: (r.y + at.1) as u16,
                width: r.width as u16,
                height: r.height as u16,
                bgra,
            });
        }
        Some(bytes)
    }
}

/// Sets the alpha of every BGRA pixel to 0xff: a word at a time where the bytes are aligned
/// as words (a fresh allocation's are), else a byte at a time.
fn make_opaque(bgra: &mut [u8]) {
    match bytemuck::try_cast_slice_mut::<u8, u32>(bgra) {
        Ok(words) => words.iter_mut().for_each(|px| *px |= u32::from_le_bytes([0, 0, 0, 0xff])),
        Err(_) => bgra.chunks_exact_mut(4).for_each(|px| px[3] = 0xff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: u32, y: u32, width: u32, height: u32) -> PoolRect {
        PoolRect { x, y, width, height }
    }

    /// A 4x3 buffer with a padded stride (20 bytes a row): pixel (x, y) is [x, y, 7, 0x80].
    fn buffer() -> (Vec<u8>, usize) {
        let stride = 20;
        let mut src = vec![0xee; stride * 3];
        for y in 0..3 {
            for x in 0..4 {
                src[y * stride + x * 4..][..4].copy_from_slice(&[x as u8, y as u8, 7, 0x80]);
            }
        }
        (src, stride)
    }

    #[test]
    fn the_damage_of_a_buffer_becomes_tiles_where_it_lands_in_the_image() {
        let (src, stride) = buffer();
        let sink = TileSink::new((4, 5));
        // The buffer lands 2 rows down (under a title bar).
        assert_eq!(sink.write(&src, stride, false, &[rect(1, 0, 2, 2), rect(3, 2, 1, 1)], (0, 2)), Some(20));
        let tiles = sink.into_tiles();
        assert_eq!(tiles.len(), 2);
        assert_eq!((tiles[0].x, tiles[0].y, tiles[0].width, tiles[0].height), (1, 2, 2, 2));
        assert_eq!(tiles[0].bgra, [1, 0, 7, 0x80, 2, 0, 7, 0x80, 1, 1, 7, 0x80, 2, 1, 7, 0x80]);
        assert_eq!((tiles[1].x, tiles[1].y), (3, 4));
        assert_eq!(tiles[1].bgra, [3, 2, 7, 0x80]);
    }

    #[test]
    fn making_opaque_sets_alpha_alone_aligned_or_not() {
        let mut bytes: Vec<u8> = (0..41).collect();
        make_opaque(&mut bytes[..40]);
        make_opaque(&mut bytes[1..41]);
        let expected: Vec<u8> = (0..41u8).map(|i| if i % 4 == 3 || i % 4 == 0 && i > 0 { 0xff } else { i }).collect();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn xrgb_padding_becomes_opaque_alpha() {
        let (src, stride) = buffer();
        let sink = TileSink::new((4, 3));
        sink.write(&src, stride, true, &[rect(0, 1, 1, 1)], (0, 0)).unwrap();
        assert_eq!(sink.into_tiles()[0].bgra, [0, 1, 7, 0xff]);
    }

    #[test]
    fn a_rectangle_outside_the_buffer_or_the_image_writes_nothing() {
        let (src, stride) = buffer();
        let sink = TileSink::new((8, 3));
        assert_eq!(sink.write(&src, stride, false, &[rect(0, 0, 1, 1), rect(0, 2, 1, 2)], (0, 0)), None);
        assert_eq!(sink.write(&src, stride, false, &[rect(4, 0, 2, 1)], (0, 0)), None, "past the stride");
        assert_eq!(sink.write(&src, stride, false, &[rect(0, 0, 1, 1)], (8, 0)), None, "past the image");
        assert!(sink.into_tiles().is_empty());
    }
}
