//! Bitmap updates: the desktop for clients without EGFX. Damaged tiles are cut into blocks of
//! at most 64×64 and compressed with RDP 6.0 planar compression.

use ironrdp_core::encode_vec;
use ironrdp_graphics::rdp6::{BgrAChannels, BitmapStreamEncoder};
use ironrdp_pdu::bitmap::{BitmapData, BitmapUpdateData, Compression};
use ironrdp_pdu::fast_path::{FastPathUpdate, UpdateCode};
use ironrdp_pdu::geometry::InclusiveRectangle;

use crate::DesktopFrame;

const BLOCK: u16 = 64;
/// Bitmap data per fast-path update (the client reassembles fragments up to its limit).
const UPDATE_BYTES: usize = 60 * 1024;

/// The fast-path bytes that paint `frame` with bitmap updates.
pub fn encode_frame(frame: &DesktopFrame) -> anyhow::Result<Vec<u8>> {
    let mut blocks: Vec<(InclusiveRectangle, u16, u16, Vec<u8>)> = Vec::new();
    for tile in &frame.tiles {
        if tile.bgra.len() != tile.width as usize * tile.height as usize * 4 {
            anyhow::bail!("tile {}x{} with {} bytes", tile.width, tile.height, tile.bgra.len());
        }
        let mut by = 0;
        while by < tile.height {
            let bh = BLOCK.min(tile.height - by);
            let mut bx = 0;
            while bx < tile.width {
                let bw = BLOCK.min(tile.width - bx);
                // Bitmap updates are bottom-up.
                let mut src = Vec::with_capacity(bw as usize * bh as usize * 4);
                for row in (by..by + bh).rev() {
                    let start = (row as usize * tile.width as usize + bx as usize) * 4;
                    src.extend_from_slice(&tile.bgra[start..start + bw as usize * 4]);
                }
                let mut dst = vec![0u8; bw as usize * bh as usize * 4 + 64];
                let mut encoder = BitmapStreamEncoder::new(bw as usize, bh as usize);
                // Noisy content can grow under RLE; then the raw planes go out.
                let len = match encoder.encode_bitmap::<BgrAChannels>(&src, &mut dst, true) {
                    Ok(len) => len,
                    Err(_) => encoder
                        .encode_bitmap::<BgrAChannels>(&src, &mut dst, false)
                        .map_err(|e| anyhow::anyhow!("planar encoding: {e:?}"))?,
                };
                dst.truncate(len);
                let (x, y) = (tile.x + bx, tile.y + by);
                let rect = InclusiveRectangle { left: x, top: y, right: x + bw - 1, bottom: y + bh - 1 };
                blocks.push((rect, bw, bh, dst));
                bx += bw;
            }
            by += bh;
        }
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < blocks.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < blocks.len() && (end == start || bytes + blocks[end].3.len() <= UPDATE_BYTES) {
            bytes += blocks[end].3.len();
            end += 1;
        }
        let rectangles = blocks[start..end]
            .iter()
            .map(|(rect, w, h, data)| BitmapData {
                rectangle: rect.clone(),
                width: *w,
                height: *h,
                bits_per_pixel: 32,
                compression_flags: Compression::BITMAP_COMPRESSION | Compression::NO_BITMAP_COMPRESSION_HDR,
                compressed_data_header: None,
                bitmap_data: data,
            })
            .collect();
        let data = encode_vec(&FastPathUpdate::Bitmap(BitmapUpdateData { rectangles }))?;
        out.extend(crate::pointer::fast_path(UpdateCode::Bitmap, &data)?);
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tile;

    #[test]
    fn tiles_become_blocks_that_decode() {
        let (w, h) = (130u16, 70u16);
        let bgra: Vec<u8> = (0..w as usize * h as usize).flat_map(|i| [(i % 251) as u8, 7, 9, 255]).collect();
        let frame = DesktopFrame {
            frame: 1,
            width: 800,
            height: 600,
            tiles: vec![Tile { x: 10, y: 20, width: w, height: h, bgra }],
        };
        let bytes = encode_frame(&frame).unwrap();
        assert!(!bytes.is_empty());
        // 130x70 → 3 columns × 2 rows of blocks; reassemble the fast-path fragments and decode.
        let mut data = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let mut c = ironrdp_core::ReadCursor::new(rest);
            let header = <ironrdp_pdu::fast_path::FastPathHeader as ironrdp_core::Decode>::decode(&mut c).unwrap();
            let header_len = rest.len() - c.len();
            let pdu: ironrdp_pdu::fast_path::FastPathUpdatePdu<'_> =
                ironrdp_core::decode(&rest[header_len..header_len + header.data_length]).unwrap();
            data.extend_from_slice(pdu.data);
            rest = &rest[header_len + header.data_length..];
        }
        let FastPathUpdate::Bitmap(update) = FastPathUpdate::decode_with_code(&data, UpdateCode::Bitmap).unwrap()
        else {
            panic!("not a bitmap update")
        };
        assert_eq!(update.rectangles.len(), 6);
        let first = &update.rectangles[0];
        assert_eq!((first.rectangle.left, first.rectangle.top, first.width, first.height), (10, 20, 64, 64));
        let last = update.rectangles.last().unwrap();
        assert_eq!((last.rectangle.right, last.rectangle.bottom, last.width, last.height), (139, 89, 2, 6));
    }
}
