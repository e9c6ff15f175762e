//! The H.264 (AVC420) side of a surface: its own padded copy of its pixels, kept in YUV as
//! it changes, and the OpenH264 encoder.

use ironrdp_pdu::geometry::ExclusiveRectangle;

/// A rectangle of the padded picture on even coordinates (so that it holds whole 2×2 chroma
/// blocks), in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Area {
    left: usize,
    top: usize,
    right: usize,
    bottom: usize,
}

impl Area {
    fn union(self, o: Area) -> Area {
        Area {
            left: self.left.min(o.left),
            top: self.top.min(o.top),
            right: self.right.max(o.right),
            bottom: self.bottom.max(o.bottom),
        }
    }
}

/// Changed areas a shadow keeps apart before it merges them into their bounding box.
const MAX_DIRTY: usize = 16;

/// A surface's own copy of its pixels (BGRA), which H.264 frames and lossless refreshes are
/// made from. It is kept padded to whole 16×16 macroblocks (the last column and row repeated
/// into the padding), as H.264 encodes it, so that a frame converts only what changed and
/// copies nothing whole.
pub struct Shadow {
    pub width: u16,
    pub height: u16,
    /// The padded size.
    padded: (usize, usize),
    /// Rows `padded.0 * 4` bytes apart, and one spare row: the YUV conversion walks a
    /// rectangle's rows in pairs of whole rows from its first pixel on, so a rectangle that
    /// starts right of the first column and ends on the last row reads that far.
    bgra: Vec<u8>,
    /// What changed since the YUV picture was last made from it.
    dirty: Vec<Area>,
}

impl Shadow {
    pub fn new(width: u16, height: u16) -> Shadow {
        let padded = (usize::from(width).div_ceil(16) * 16, usize::from(height).div_ceil(16) * 16);
        Shadow { width, height, padded, bgra: vec![0; padded.0 * (padded.1 + 1) * 4], dirty: Vec::new() }
    }

    /// Row `y` (inside the surface) of the surface's pixels, without the padding.
    pub fn row(&self, y: usize) -> &[u8] {
        let width = usize::from(self.width) * 4;
        &self.bgra[y * self.padded.0 * 4..][..width]
    }

    /// Copies `rect` (inside the surface) of a tile whose rows are `stride` bytes apart.
    pub fn blit(&mut self, rect: &ExclusiveRectangle, data: &[u8], stride: usize) {
        let (pw, ph) = self.padded;
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        let (left, top) = (usize::from(rect.left), usize::from(rect.top));
        let (right, bottom) = (usize::from(rect.right), usize::from(rect.bottom));
        let bytes = (right - left) * 4;
        for row in 0..bottom - top {
            let line = &mut self.bgra[(top + row) * pw * 4..][..pw * 4];
            line[left * 4..left * 4 + bytes].copy_from_slice(&data[row * stride..row * stride + bytes]);
            if right == w {
                let (body, padding) = line.split_at_mut(w * 4);
                let last = &body[(w - 1) * 4..];
                for px in padding.chunks_exact_mut(4) {
                    px.copy_from_slice(last);
                }
            }
        }
        if bottom == h {
            let (body, padding) = self.bgra.split_at_mut(h * pw * 4);
            let last = &body[(h - 1) * pw * 4..];
            for line in padding.chunks_exact_mut(pw * 4).take(ph - h) {
                line.copy_from_slice(last);
            }
        }
        // Out to even coordinates, and over the padding that repeats what changed.
        let even = |v: usize| v.div_ceil(2) * 2;
        self.add_dirty(Area {
            left: left & !1,
            top: top & !1,
            right: if right == w { pw } else { even(right) },
            bottom: if bottom == h { ph } else { even(bottom) },
        });
    }

    fn add_dirty(&mut self, area: Area) {
        if self.dirty.iter().any(|d| d.union(area) == *d) {
            return;
        }
        self.dirty.push(area);
        if self.dirty.len() > MAX_DIRTY {
            let all = self.dirty.drain(..).reduce(Area::union);
            self.dirty.extend(all);
        }
    }

    /// The pixels of `rect` (inside the surface), packed.
    pub fn crop(&self, rect: &ExclusiveRectangle) -> Vec<u8> {
        let w = usize::from(rect.right - rect.left) * 4;
        let mut out = Vec::with_capacity(w * usize::from(rect.bottom - rect.top));
        for y in usize::from(rect.top)..usize::from(rect.bottom) {
            let start = (y * self.padded.0 + usize::from(rect.left)) * 4;
            out.extend_from_slice(&self.bgra[start..start + w]);
        }
        out
    }

    /// The whole surface padded to whole macroblocks, and the padded size.
    pub(super) fn padded(&self) -> (&[u8], usize, usize) {
        let (pw, ph) = self.padded;
        (&self.bgra[..pw * ph * 4], pw, ph)
    }
}

/// An H.264 encoder for one surface.
pub struct H264 {
    encoder: openh264::encoder::Encoder,
    /// In OpenH264's camera mode (see [`H264::for_surface`]).
    camera: bool,
    /// The surface's picture in YUV, kept from frame to frame: each frame converts only what
    /// changed since the one before.
    yuv: Option<I420>,
}

/// A YUV 4:2:0 picture of a padded shadow, planes packed (each with a spare row, for the
/// same reason as [`Shadow::bgra`]).
struct I420 {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl I420 {
    /// `width` and `height` even.
    fn new(width: usize, height: usize) -> I420 {
        let chroma = width / 2 * (height / 2 + 1);
        I420 { width, height, y: vec![0; width * (height + 1)], u: vec![0; chroma], v: vec![0; chroma] }
    }

    /// Converts `area` of `bgra` (a padded picture of this size) the way RDP clients convert
    /// back: MS-RDPEGFX's AVC420 is BT.709 with full-range YUV (FreeRDP's decoder uses
    /// exactly those coefficients); OpenH264's own conversion (BT.601, limited range) shows
    /// washed-out colours there. Each 2×2 block converts on its own, so converting the areas
    /// that changed gives what converting the whole would.
    fn convert(&mut self, bgra: &[u8], area: Area) -> anyhow::Result<()> {
        use yuv::{BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};
        let (w, cw) = (self.width, self.width / 2);
        let chroma = area.top / 2 * cw + area.left / 2;
        let mut image = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(&mut self.y[area.top * w + area.left..]),
            y_stride: w as u32,
            u_plane: BufferStoreMut::Borrowed(&mut self.u[chroma..]),
            u_stride: cw as u32,
            v_plane: BufferStoreMut::Borrowed(&mut self.v[chroma..]),
            v_stride: cw as u32,
            width: (area.right - area.left) as u32,
            height: (area.bottom - area.top) as u32,
        };
        yuv::bgra_to_yuv420(
            &mut image,
            &bgra[(area.top * w + area.left) * 4..],
            w as u32 * 4,
            YuvRange::Full,
            YuvStandardMatrix::Bt709,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| anyhow::anyhow!("RGB to YUV: {e:?}"))
    }

    /// Brings the picture up to date with `shadow`: the areas that changed, or all of it when
    /// `all`.
    fn update(&mut self, shadow: &mut Shadow, all: bool) -> anyhow::Result<()> {
        let (pw, ph) = shadow.padded;
        if all {
            shadow.dirty.clear();
            return self.convert(&shadow.bgra, Area { left: 0, top: 0, right: pw, bottom: ph });
        }
        for area in shadow.dirty.drain(..) {
            self.convert(&shadow.bgra, area)?;
        }
        Ok(())
    }
}

impl openh264::formats::YUVSource for I420 {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }
    fn strides(&self) -> (usize, usize, usize) {
        (self.width, self.width / 2, self.width / 2)
    }
    fn y(&self) -> &[u8] {
        &self.y[..self.width * self.height]
    }
    fn u(&self) -> &[u8] {
        &self.u[..self.width * self.height / 4]
    }
    fn v(&self) -> &[u8] {
        &self.v[..self.width * self.height / 4]
    }
}

/// An OpenH264 encoder in `usage` mode whose quality floor is `min_qp`.
pub(super) fn new_encoder(
    usage: openh264::encoder::UsageType,
    min_qp: u8,
) -> anyhow::Result<openh264::encoder::Encoder> {
    use openh264::encoder::{BitRate, Complexity, EncoderConfig, QpRange, RateControlMode};
    let config = EncoderConfig::new()
        .usage_type(usage)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(8_000_000))
        // A quality floor: past QP 30 text in a moving picture turns to mush, and the
        // bitrate target gives way instead.
        .qp(QpRange::new(min_qp, 30))
        // A skipped frame would leave the client's picture behind the surface.
        .skip_frames(false)
        // Neither works for screen content (OpenH264 turns them off, with a warning).
        .adaptive_quantization(false)
        .background_detection(false)
        .complexity(Complexity::Low)
        // One slice per picture: OpenH264's own threads have nothing to share, and the
        // session encodes several surfaces side by side itself.
        .num_threads(1);
    let mut encoder = openh264::encoder::Encoder::with_api_config(openh264::OpenH264API::from_source(), config)
        .map_err(|e| anyhow::anyhow!("OpenH264: {e}"))?;
    // OpenH264 initialises at the first frame and warns then that without frame skipping
    // it cannot hold the bitrate, which is the point of `skip_frames(false)`. Errors only,
    // until the crate makes it quiet after the initialisation.
    let mut level = openh264_sys2::WELS_LOG_ERROR;
    // SAFETY: the encoder exists; the trace level is an option OpenH264 takes before its
    // initialisation (it reads an int), and nothing the encoder relies on.
    unsafe { encoder.raw_api().set_option(openh264_sys2::ENCODER_OPTION_TRACE_LEVEL, (&raw mut level).cast()) };
    Ok(encoder)
}

/// What a surface's encoder is made for: text, windows, what a screen shows.
pub(super) const SCREEN: (openh264::encoder::UsageType, u8) = (openh264::encoder::UsageType::ScreenContentRealTime, 10);

/// The quality floor of a video region's encoder, and of a large surface's (see
/// [`H264::for_surface`]).
const VIDEO_MIN_QP: u8 = 22;

/// Surfaces of this many pixels or more get the coarser quality floor.
const LARGE_SURFACE: usize = 1_000_000;

impl H264 {
    /// An encoder for a surface's content.
    pub fn new() -> anyhow::Result<H264> {
        Ok(H264 { encoder: new_encoder(SCREEN.0, SCREEN.1)?, camera: false, yuv: None })
    }

    /// An encoder for a surface of this size: [`H264::new`]'s, but for a surface of a
    /// megapixel or more (a desktop, a maximized window) with the video region's quality floor.
    /// What a lossy run shows is refreshed losslessly when it settles, and the finest QP costs
    /// with the pixels: on a full-HD animation QP 10 takes about 10 ms of CPU a frame and QP 22
    /// about 7 ms, with 2.4 times fewer bytes.
    ///
    /// In screen-content mode, whose hashed motion search keeps scrolled text at a fraction
    /// of camera mode's bytes; with `camera`, in camera mode, whose search costs a fraction
    /// of that where the screen-content search is too slow (a terminal flooded with text at
    /// 1280×800: 33 ms a frame against about 6, for three times the bytes).
    pub fn for_surface(width: u16, height: u16, camera: bool) -> anyhow::Result<H264> {
        let large = usize::from(width) * usize::from(height) >= LARGE_SURFACE;
        let min_qp = if large { VIDEO_MIN_QP } else { SCREEN.1 };
        let usage = if camera { openh264::encoder::UsageType::CameraVideoRealTime } else { SCREEN.0 };
        Ok(H264 { encoder: new_encoder(usage, min_qp)?, camera, yuv: None })
    }

    /// Whether it is in camera mode.
    pub fn camera(&self) -> bool {
        self.camera
    }

    /// An encoder for a desktop's video region: content that changes all over, every frame
    /// (an animation, a video), where OpenH264's camera mode finds its motion at a fraction
    /// of the screen-content mode's cost (its hashed full search is made for scrolled text).
    /// Its quality floor is coarser than a surface's: a region is small next to the bitrate
    /// target, which would keep it at the finest QP, and its text (if any) is refreshed
    /// losslessly when it settles. QP 22 halves the bytes of QP 10 on an animation, at a
    /// little less CPU (fewer coefficients to code).
    pub fn for_video() -> anyhow::Result<H264> {
        let usage = openh264::encoder::UsageType::CameraVideoRealTime;
        Ok(H264 { encoder: new_encoder(usage, VIDEO_MIN_QP)?, camera: true, yuv: None })
    }

    /// An Annex B picture of the whole surface.
    pub fn encode(&mut self, shadow: &mut Shadow, key_frame: bool) -> anyhow::Result<Vec<u8>> {
        let (w, h) = shadow.padded;
        let fresh = !matches!(&self.yuv, Some(yuv) if (yuv.width, yuv.height) == (w, h));
        if fresh {
            self.yuv = Some(I420::new(w, h));
        }
        let yuv = self.yuv.as_mut().expect("made above");
        yuv.update(shadow, fresh)?;
        if key_frame {
            self.encoder.force_intra_frame();
        }
        let stream = self.encoder.encode(&*yuv).map_err(|e| anyhow::anyhow!("OpenH264: {e}"))?;
        Ok(stream.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(left: u16, top: u16, right: u16, bottom: u16) -> ExclusiveRectangle {
        ExclusiveRectangle { left, top, right, bottom }
    }

    #[test]
    fn padding_repeats_the_last_column_and_row() {
        let mut s = Shadow::new(3, 2);
        let px = |v: u8| [v, v, v, 255];
        let data: Vec<u8> = [1, 2, 3, 4, 5, 6].iter().flat_map(|&v| px(v)).collect();
        s.blit(&rect(0, 0, 3, 2), &data, 12);
        let (padded, w, h) = s.padded();
        assert_eq!((w, h), (16, 16));
        let at = |x: usize, y: usize| padded[(y * w + x) * 4];
        assert_eq!((at(0, 0), at(2, 0), at(15, 0)), (1, 3, 3));
        assert_eq!((at(0, 1), at(2, 1), at(15, 1)), (4, 6, 6));
        assert_eq!((at(0, 15), at(15, 15)), (4, 6));
        assert_eq!(s.crop(&rect(1, 1, 3, 2)), [px(5), px(6)].concat());
    }

    /// YUV back to RGB as FreeRDP's decoder does (BT.709, full range, its integer formula).
    fn freerdp_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
        let (y, u, v) = (256 * i32::from(y), i32::from(u) - 128, i32::from(v) - 128);
        let clip = |x: i32| (x >> 8).clamp(0, 255) as u8;
        [clip(y + 403 * v), clip(y - 48 * u - 120 * v), clip(y + 475 * u)]
    }

    /// Odd sizes encode, and decode to the surface's picture (within H.264's loss) at the
    /// surface's origin, in the colours an RDP client shows.
    #[test]
    fn odd_sized_surfaces_encode_and_decode_at_their_origin() {
        use openh264::formats::YUVSource as _;
        for (w, h) in [(97u16, 61u16), (1, 1), (33, 16), (640, 479)] {
            let mut s = Shadow::new(w, h);
            let mut data = Vec::new();
            for y in 0..h {
                for x in 0..w {
                    let v = if (x / 8 + y / 8) % 2 == 0 { 40 } else { 200 };
                    data.extend_from_slice(&[v, (x % 256) as u8 / 2 + 60, 255 - v, 255]);
                }
            }
            s.blit(&rect(0, 0, w, h), &data, usize::from(w) * 4);
            let mut enc = H264::new().unwrap();
            let stream = enc.encode(&mut s, true).unwrap();
            assert!(stream.starts_with(&[0, 0, 0, 1]), "Annex B");
            let mut dec = openh264::decoder::Decoder::new().unwrap();
            let yuv = dec.decode(&stream).unwrap().expect("a picture");
            let (dw, dh) = yuv.dimensions();
            assert!(dw >= usize::from(w) && dh >= usize::from(h), "{dw}x{dh} for {w}x{h}");
            let (ys, us, vs) = yuv.strides();
            let mut diff = 0u64;
            for y in 0..usize::from(h) {
                for x in 0..usize::from(w) {
                    let src = &data[(y * usize::from(w) + x) * 4..][..3];
                    let got =
                        freerdp_rgb(yuv.y()[y * ys + x], yuv.u()[y / 2 * us + x / 2], yuv.v()[y / 2 * vs + x / 2]);
                    // BGRA in, RGB out.
                    diff += u64::from(src[2].abs_diff(got[0]))
                        + u64::from(src[1].abs_diff(got[1]))
                        + u64::from(src[0].abs_diff(got[2]));
                }
            }
            let mean = diff as f64 / (f64::from(w) * f64::from(h) * 3.0);
            assert!(mean < 4.0, "{w}x{h}: mean difference {mean}");
        }
    }

    /// A shadow of `w`×`h` filled with a pattern that differs at every pixel.
    fn patterned(w: u16, h: u16, seed: u32) -> (Shadow, Vec<u8>) {
        let mut data = Vec::new();
        for i in 0..u32::from(w) * u32::from(h) {
            let v = i.wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503));
            data.extend_from_slice(&[(v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8, 255]);
        }
        let mut s = Shadow::new(w, h);
        s.blit(&rect(0, 0, w, h), &data, usize::from(w) * 4);
        (s, data)
    }

    /// The YUV picture of the whole shadow, converted at once.
    fn whole(shadow: &mut Shadow) -> I420 {
        let mut yuv = I420::new(shadow.padded.0, shadow.padded.1);
        let dirty = shadow.dirty.clone();
        yuv.update(shadow, true).unwrap();
        shadow.dirty = dirty;
        yuv
    }

    fn planes(yuv: &I420) -> (&[u8], &[u8], &[u8]) {
        use openh264::formats::YUVSource as _;
        (yuv.y(), yuv.u(), yuv.v())
    }

    /// Converting only what changed (on even coordinates, the padding with it) gives what
    /// converting the whole surface gives, whatever the rectangles: odd ones, ones on the
    /// last column or row, more than the shadow keeps apart.
    #[test]
    fn converting_what_changed_equals_converting_all() {
        for (w, h) in [(97u16, 61u16), (640, 479), (33, 16), (1, 1), (400, 300)] {
            let (mut shadow, _) = patterned(w, h, 1);
            let mut kept = whole(&mut shadow);
            shadow.dirty.clear();
            let rects = [
                rect(0, 0, 1, 1),
                rect(w / 3, h / 4, w / 2 + 1, h / 2 + 1),
                rect(w - 1, h - 1, w, h),
                rect(w / 5, h.saturating_sub(3), w, h),
                rect(w.saturating_sub(7), 0, w, h / 2 + 1),
                rect(1, 1, w, h),
            ];
            for (round, r) in rects.iter().enumerate() {
                let r = rect(
                    r.left.min(w - 1),
                    r.top.min(h - 1),
                    r.right.max(r.left.min(w - 1) + 1),
                    r.bottom.max(r.top.min(h - 1) + 1),
                );
                let (_, data) = patterned(r.right - r.left, r.bottom - r.top, round as u32 + 7);
                shadow.blit(&r, &data, usize::from(r.right - r.left) * 4);
                kept.update(&mut shadow, false).unwrap();
                assert!(shadow.dirty.is_empty());
                assert!(planes(&kept) == planes(&whole(&mut shadow)), "{w}x{h}, after {r:?}");
            }
            // Many small changes at once: merged, still the same.
            for i in 0..(MAX_DIRTY as u16 * 2) {
                let (x, y) = ((i * 7) % w, (i * 5) % h);
                let r = rect(x, y, (x + 3).min(w), (y + 2).min(h));
                let (_, data) = patterned(r.right - r.left, r.bottom - r.top, u32::from(i));
                shadow.blit(&r, &data, usize::from(r.right - r.left) * 4);
            }
            assert!(shadow.dirty.len() <= MAX_DIRTY);
            kept.update(&mut shadow, false).unwrap();
            assert!(planes(&kept) == planes(&whole(&mut shadow)), "{w}x{h}, after many");
        }
    }

    /// What each of OpenH264's modes costs on an animation the size of a desktop's video
    /// region (run with `--release -- --ignored --nocapture`).
    #[test]
    #[ignore = "a benchmark"]
    fn video_region_encoding_benchmark() {
        let (w, h) = (250u16, 250u16);
        // Rings that grow, stripes that move: every pixel changes every frame.
        let picture = |t: i32| -> Vec<u8> {
            let mut data = Vec::with_capacity(usize::from(w) * usize::from(h) * 4);
            for y in 0..i32::from(h) {
                for x in 0..i32::from(w) {
                    let (dx, dy) = (x - 125, y - 125);
                    let r2 = dx * dx + dy * dy;
                    let v = if r2 < 80 * 80 {
                        r2 / 32 + t * 4
                    } else if r2 < 110 * 110 {
                        y + t * 2
                    } else {
                        x + t
                    };
                    data.extend_from_slice(&[(v * 3) as u8, (v * 5) as u8, v as u8, 255]);
                }
            }
            data
        };
        for (name, make) in [("screen", H264::new as fn() -> _), ("video", H264::for_video)] {
            let mut s = Shadow::new(w, h);
            let mut enc = make().unwrap();
            let (mut took, mut bytes) = (std::time::Duration::ZERO, 0);
            for t in 0..200 {
                s.blit(&rect(0, 0, w, h), &picture(t), usize::from(w) * 4);
                let started = std::time::Instant::now();
                let stream = enc.encode(&mut s, t == 0).unwrap();
                if t >= 20 {
                    took += started.elapsed();
                    bytes += stream.len();
                }
            }
            eprintln!("{name}: {:?} and {} bytes a frame", took / 180, bytes / 180);
        }
    }

    /// A large surface's lossy frames come at the coarser floor (fewer bytes for the same
    /// picture), a small one's at the finest.
    #[test]
    fn a_large_surface_gets_the_coarser_quality_floor() {
        let bytes = |mut enc: H264, w: u16, h: u16| {
            let mut total = 0;
            for t in 0..10u32 {
                let mut data = Vec::with_capacity(usize::from(w) * usize::from(h) * 4);
                for y in 0..u32::from(h) {
                    for x in 0..u32::from(w) {
                        // Gradients sliding different ways: easy to predict, so the rate
                        // control keeps to the floor.
                        let (r, g, b) = (x / 4 + t * 4, y / 4 + t * 2, (x + y) / 8 + t * 3);
                        data.extend_from_slice(&[b as u8, g as u8, r as u8, 255]);
                    }
                }
                let mut s = Shadow::new(w, h);
                s.blit(&rect(0, 0, w, h), &data, usize::from(w) * 4);
                let stream = enc.encode(&mut s, t == 0).unwrap();
                // After the rate control settled.
                if t >= 4 {
                    total += stream.len();
                }
            }
            total
        };
        let (w, h) = (1280, 800);
        let (fine, surface) = (bytes(H264::new().unwrap(), w, h), bytes(H264::for_surface(w, h, false).unwrap(), w, h));
        assert!(surface * 3 < fine * 2, "{w}x{h}: {surface} bytes at the surface's floor, {fine} at the finest");
        let (w, h) = (400, 300);
        let (fine, surface) = (bytes(H264::new().unwrap(), w, h), bytes(H264::for_surface(w, h, false).unwrap(), w, h));
        assert_eq!(surface, fine, "{w}x{h} is small: the finest floor");
    }

    /// The padding follows every change of the last column and row.
    #[test]
    fn the_padding_follows_changes_of_the_edges() {
        let (mut s, _) = patterned(20, 18, 3);
        let red = [0u8, 0, 255, 255];
        s.blit(&rect(19, 5, 20, 6), &red, 4);
        s.blit(&rect(4, 17, 5, 18), &red, 4);
        let (padded, w, h) = s.padded();
        assert_eq!((w, h), (32, 32));
        let at = |x: usize, y: usize| &padded[(y * w + x) * 4..][..4];
        for x in 20..32 {
            assert_eq!(at(x, 5), red, "column {x} of row 5");
        }
        for y in 18..32 {
            assert_eq!(at(4, y), red, "row {y} of column 4");
            assert_eq!(at(31, y), at(19, 17), "the corner");
        }
    }
}
