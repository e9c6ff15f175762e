//! AVC444 ([MS-RDPEGFX] 2.2.4.6, AVC444v2): a surface's picture in full chroma, as two 4:2:0
//! pictures of one H.264 stream. The *main view* is the picture as AVC420 sends it (luma, and
//! each 2×2 block's chroma averaged); the *auxiliary view* carries the three chroma samples of
//! each block that the main view leaves out (layout v2: the odd chroma columns side by side in
//! its luma plane, the even columns of the odd rows in its chroma planes). The client decodes
//! both with one decoder, one after the other, so they are encoded the same way, main then
//! auxiliary, by one encoder; each predicts from the pictures before it. Splitting the picture
//! into the views is ironrdp-egfx's (`Yuv444Frame`), with the colour conversion the client
//! reverses.
//!
//! Layout v2 rather than v1: xfreerdp 3.10 combines our v1 auxiliary views into the wrong
//! colours on every even row (a mean error of 18.5 of 255 on coloured strokes, against 6.1 in
//! v2 and about 25 in AVC420), and v2 is what current Windows servers send.
//!
//! Whether a picture needs it: [`chroma_detail`] measures how much of its colour 4:2:0 loses
//! (coloured text and thin coloured lines do; photos, video and shaded animation mostly don't).

use ironrdp_egfx::avc444::{Avc444Layout, Yuv444Frame};
use ironrdp_egfx::decode::Yuv420Frame;
use ironrdp_pdu::geometry::ExclusiveRectangle;

use super::h264::{new_encoder, Shadow, SCREEN};

/// The main and auxiliary pictures of one frame, each Annex B.
pub struct Avc444Pictures {
    pub main: Vec<u8>,
    pub auxiliary: Vec<u8>,
}

/// An AVC444 encoder for one surface.
pub struct Avc444 {
    encoder: openh264::encoder::Encoder,
    /// The padded picture as RGBA, what `Yuv444Frame` converts from.
    rgba: Vec<u8>,
}

impl Avc444 {
    pub fn new() -> anyhow::Result<Avc444> {
        Ok(Avc444 { encoder: new_encoder(SCREEN.0, SCREEN.1)?, rgba: Vec::new() })
    }

    /// Both views of the whole (padded) surface; `key_frame`: the main view decodes on its own.
    pub fn encode(&mut self, shadow: &Shadow, key_frame: bool) -> anyhow::Result<Avc444Pictures> {
        let (bgra, width, height) = shadow.padded();
        self.rgba.resize(width * height * 4, 0);
        for (rgba, bgra) in self.rgba.chunks_exact_mut(4).zip(bgra.chunks_exact(4)) {
            rgba.copy_from_slice(&[bgra[2], bgra[1], bgra[0], 0xFF]);
        }
        let (w, h) = (u16::try_from(width)?, u16::try_from(height)?);
        let picture =
            Yuv444Frame::from_rgba(&self.rgba, w, h).ok_or_else(|| anyhow::anyhow!("AVC444: short picture"))?;
        let (main, auxiliary) =
            picture.split(Avc444Layout::V2).map_err(|e| anyhow::anyhow!("AVC444: splitting the views: {e:?}"))?;
        if key_frame {
            self.encoder.force_intra_frame();
        }
        let main = self.encode_view(&main)?;
        let auxiliary = self.encode_view(&auxiliary)?;
        Ok(Avc444Pictures { main, auxiliary })
    }

    fn encode_view(&mut self, view: &Yuv420Frame) -> anyhow::Result<Vec<u8>> {
        let planes = Planes::of(view)?;
        let stream = self.encoder.encode(&planes).map_err(|e| anyhow::anyhow!("OpenH264: {e}"))?;
        Ok(stream.to_vec())
    }
}

/// A view's planes packed, as OpenH264 reads them.
struct Planes {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl Planes {
    fn of(view: &Yuv420Frame) -> anyhow::Result<Planes> {
        let (width, height) = (usize::from(view.width()), usize::from(view.height()));
        let mut planes = Planes {
            width,
            height,
            y: Vec::with_capacity(width * height),
            u: Vec::with_capacity(width * height / 4),
            v: Vec::with_capacity(width * height / 4),
        };
        let short = || anyhow::anyhow!("AVC444: a view shorter than its size");
        for row in 0..height {
            planes.y.extend_from_slice(view.luma_row(row).and_then(|r| r.get(..width)).ok_or_else(short)?);
        }
        for row in 0..height / 2 {
            planes.u.extend_from_slice(view.u_row(row).and_then(|r| r.get(..width / 2)).ok_or_else(short)?);
            planes.v.extend_from_slice(view.v_row(row).and_then(|r| r.get(..width / 2)).ok_or_else(short)?);
        }
        Ok(planes)
    }
}

impl openh264::formats::YUVSource for Planes {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }
    fn strides(&self) -> (usize, usize, usize) {
        (self.width, self.width / 2, self.width / 2)
    }
    fn y(&self) -> &[u8] {
        &self.y
    }
    fn u(&self) -> &[u8] {
        &self.u
    }
    fn v(&self) -> &[u8] {
        &self.v
    }
}

/// A 2×2 block whose chroma samples stray from their mean by more than this (in U plus V,
/// 0–255 each) shows the loss of 4:2:0: a coloured edge turns grey or bleeds.
pub const VISIBLE_CHROMA_SPREAD: u32 = 24;

/// The share (0 to 1) of the 2×2 blocks in `rects` whose colour 4:2:0 visibly loses
/// ([`VISIBLE_CHROMA_SPREAD`]).
pub fn chroma_detail(shadow: &Shadow, rects: &[ExclusiveRectangle]) -> f64 {
    let (mut blocks, mut lossy) = (0u64, 0u64);
    for r in rects {
        let (left, right) = (usize::from(r.left & !1), usize::from(r.right.min(shadow.width)));
        let (top, bottom) = (usize::from(r.top & !1), usize::from(r.bottom.min(shadow.height)));
        for y in (top..bottom.saturating_sub(1)).step_by(2) {
            let (upper, lower) = (shadow.row(y), shadow.row(y + 1));
            for x in (left..right.saturating_sub(1)).step_by(2) {
                let block = [&upper[x * 4..], &upper[x * 4 + 4..], &lower[x * 4..], &lower[x * 4 + 4..]];
                let uv = block.map(|p| chroma(p[2], p[1], p[0]));
                let (mean_u, mean_v) =
                    (uv.iter().map(|c| c.0).sum::<i32>() / 4, uv.iter().map(|c| c.1).sum::<i32>() / 4);
                let spread = uv.iter().map(|c| (c.0 - mean_u).unsigned_abs() + (c.1 - mean_v).unsigned_abs()).max();
                blocks += 1;
                if spread.unwrap_or(0) > VISIBLE_CHROMA_SPREAD {
                    lossy += 1;
                }
            }
        }
    }
    if blocks == 0 {
        0.0
    } else {
        lossy as f64 / blocks as f64
    }
}

/// U and V (BT.709, around zero, 8-bit scale) of a pixel.
fn chroma(r: u8, g: u8, b: u8) -> (i32, i32) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    ((-29 * r - 99 * g + 128 * b) >> 8, (128 * r - 116 * g - 12 * b) >> 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(left: u16, top: u16, right: u16, bottom: u16) -> ExclusiveRectangle {
        ExclusiveRectangle { left, top, right, bottom }
    }

    /// Thin coloured lines on white, like syntax-coloured text: one-pixel strokes of red, blue
    /// and green that 4:2:0 smears.
    fn coloured_strokes(w: u16, h: u16) -> (Shadow, Vec<u8>) {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let px = match (x % 6, y % 5) {
                    (1, _) => [0, 0, 220, 255],  // red column
                    (_, 2) => [230, 40, 0, 255], // blue row
                    (4, 3) => [0, 180, 0, 255],  // green dot
                    _ => [255, 255, 255, 255],
                };
                data.extend_from_slice(&px);
            }
        }
        let mut s = Shadow::new(w, h);
        s.blit(&rect(0, 0, w, h), &data, usize::from(w) * 4);
        (s, data)
    }

    /// Decodes `pictures` one after the other with one decoder, as the client does, into the
    /// full-chroma picture, and returns it as BGRA.
    fn decode(
        decoder: &mut openh264::decoder::Decoder,
        frame: &mut Yuv444Frame,
        p: &Avc444Pictures,
        w: u16,
        h: u16,
    ) -> Vec<u8> {
        let whole = [rect(0, 0, w, h)];
        for (stream, main) in [(&p.main, true), (&p.auxiliary, false)] {
            let view = decode_view(decoder, stream);
            if main {
                frame.apply_main_view(&view, &whole);
            } else {
                frame.apply_auxiliary_view(Avc444Layout::V2, &view, &whole);
            }
        }
        bgra(frame, w, h)
    }

    /// One picture of `stream` decoded, as a view.
    fn decode_view(decoder: &mut openh264::decoder::Decoder, stream: &[u8]) -> Yuv420Frame {
        use openh264::formats::YUVSource as _;
        let yuv = decoder.decode(stream).unwrap().expect("a picture");
        let (dw, dh) = yuv.dimensions();
        let (ys, us, vs) = yuv.strides();
        let (y, u, v) = (yuv.y()[..ys * dh].to_vec(), yuv.u()[..us * dh / 2].to_vec(), yuv.v()[..vs * dh / 2].to_vec());
        Yuv420Frame::new(dw as u16, dh as u16, y, ys, u, v, us).unwrap()
    }

    /// The picture as the client shows it, BGRA.
    fn bgra(frame: &Yuv444Frame, w: u16, h: u16) -> Vec<u8> {
        frame.to_rgba(&rect(0, 0, w, h)).chunks_exact(4).flat_map(|p| [p[2], p[1], p[0], 255]).collect()
    }

    fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
        let sum: u64 = a
            .chunks_exact(4)
            .zip(b.chunks_exact(4))
            .map(|(a, b)| (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>())
            .sum();
        sum as f64 / (a.len() / 4 * 3) as f64
    }

    /// Coloured strokes come back in their colours through AVC444, much closer than through
    /// AVC420 (whose chroma is one sample per 2×2 block), in both views of a key frame and
    /// of the frames after it.
    #[test]
    fn coloured_strokes_keep_their_colour_where_avc420_smears_them() {
        let (w, h) = (97u16, 61u16);
        let (mut shadow, data) = coloured_strokes(w, h);
        let mut encoder = Avc444::new().unwrap();
        let mut decoder = openh264::decoder::Decoder::new().unwrap();
        let mut frame = Yuv444Frame::new(w, h);
        let first = encoder.encode(&shadow, true).unwrap();
        let shown = decode(&mut decoder, &mut frame, &first, w, h);
        let full = mean_difference(&shown, &data);

        // The same picture through AVC420.
        let mut avc420 = super::super::H264::new().unwrap();
        let stream = avc420.encode(&mut shadow, true).unwrap();
        let mut d420 = openh264::decoder::Decoder::new().unwrap();
        let mut only_main = Yuv444Frame::new(w, h);
        only_main.apply_main_view(&decode_view(&mut d420, &stream), &[rect(0, 0, w, h)]);
        let decoded = bgra(&only_main, w, h);
        let subsampled = mean_difference(&decoded, &data);
        assert!(full < 6.0 && full * 3.0 < subsampled, "AVC444 {full:.2} against AVC420 {subsampled:.2}");

        // Changes, predicted from the pictures before: still right.
        let (_, taller) = coloured_strokes(w, h + 30);
        let row = usize::from(w) * 4;
        for n in 1..60 {
            let at = n % 30 * row;
            let moved = &taller[at..at + row * usize::from(h)];
            shadow.blit(&rect(0, 0, w, h), moved, row);
            let next = encoder.encode(&shadow, false).unwrap();
            let shown = decode(&mut decoder, &mut frame, &next, w, h);
            let after = mean_difference(&shown, moved);
            assert!(after < 6.0, "frame {n}: {after:.2}");
        }
    }

    #[test]
    fn chroma_detail_tells_coloured_strokes_from_grey_text_and_smooth_colour() {
        let (w, h) = (64u16, 40u16);
        let whole = [rect(0, 0, w, h)];
        let (strokes, _) = coloured_strokes(w, h);
        assert!(chroma_detail(&strokes, &whole) > 0.5);

        // Black strokes on white: sharp, but no colour to lose.
        let grey: Vec<u8> = (0..u32::from(w) * u32::from(h))
            .flat_map(|i| if i % 3 == 0 { [0, 0, 0, 255] } else { [255, 255, 255, 255] })
            .collect();
        let mut s = Shadow::new(w, h);
        s.blit(&whole[0], &grey, usize::from(w) * 4);
        assert_eq!(chroma_detail(&s, &whole), 0.0);

        // A smooth colour gradient: colour, but nothing 4:2:0 loses.
        let gradient: Vec<u8> =
            (0..h).flat_map(|y| (0..w).flat_map(move |x| [(x * 3) as u8, (y * 5) as u8, 200 - x as u8, 255])).collect();
        s.blit(&whole[0], &gradient, usize::from(w) * 4);
        assert_eq!(chroma_detail(&s, &whole), 0.0);
        assert_eq!(chroma_detail(&s, &[]), 0.0);
    }

    /// Prints what a frame of scrolling coloured strokes costs in AVC444 against AVC420, in
    /// time and bytes: `cargo test --release -p wayrail-rdp avc444_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark: prints figures, asserts nothing"]
    fn avc444_cost() {
        for (w, h) in [(250u16, 250u16), (1280, 800)] {
            let (_, data) = coloured_strokes(w, h + 40);
            let row = usize::from(w) * 4;
            let (mut full, mut sub) = (Avc444::new().unwrap(), super::super::H264::new().unwrap());
            let mut shadow = Shadow::new(w, h);
            let (mut t444, mut t420, mut b444, mut b420) = (std::time::Duration::ZERO, std::time::Duration::ZERO, 0, 0);
            const FRAMES: usize = 30;
            for frame in 0..FRAMES {
                // Scrolled by a row a frame.
                let at = frame % 40 * row;
                shadow.blit(&rect(0, 0, w, h), &data[at..at + row * usize::from(h)], row);
                let started = std::time::Instant::now();
                let p = full.encode(&shadow, frame == 0).unwrap();
                t444 += started.elapsed();
                b444 += p.main.len() + p.auxiliary.len();
                let started = std::time::Instant::now();
                b420 += sub.encode(&mut shadow, frame == 0).unwrap().len();
                t420 += started.elapsed();
            }
            let n = FRAMES as u32;
            println!(
                "{w}x{h} scrolling coloured strokes: AVC444 {:?} {} B a frame, AVC420 {:?} {} B a frame",
                t444 / n,
                b444 / FRAMES,
                t420 / n,
                b420 / FRAMES
            );
        }
    }
}
