//! Which codec an EGFX surface's frames go out in, and the H.264 side of it.
//!
//! Every surface starts lossless (ClearCodec). A surface whose content keeps changing over a
//! large area (an animation, a video, fast scrolling) switches to H.264 (AVC420), which costs
//! a fraction of the bytes there; once it settles, the area that went out lossy is sent again
//! with ClearCodec, so text ends exact. The rule, per surface:
//!
//! - a frame is *large* when it damages at least a quarter of the surface and at least
//!   [`MIN_LARGE_AREA`] pixels (H.264 gains little on small surfaces);
//! - [`ENTER_STREAK`] large frames in a row, each within [`STREAK_GAP`] of the one before,
//!   switch the surface to AVC420 (starting with a key frame), when the client can decode it
//!   and `[rdp] h264` is not `off`; a slideshow (large changes seconds apart) stays lossless;
//! - while in AVC420, every frame goes out in AVC420 (its damage as the regions the client
//!   takes from the decoded picture), and the damage adds to the surface's *lossy* rectangle;
//! - [`LEAVE_CALM`] frames in a row that are not large, or [`SETTLE`] without any frame, end
//!   it: that frame, or a frame of its own, carries the lossy rectangle again in ClearCodec,
//!   taken from the surface's copy of its own pixels.
//!
//! H.264 frames cover the whole surface (the client decodes them at the surface's origin:
//! FreeRDP sizes its decoder to the surface and reads the regions in surface coordinates),
//! padded to whole 16×16 macroblocks by repeating the last column and row, so odd sizes
//! encode too; the regions, clipped to the surface, say what the client copies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ironrdp_pdu::geometry::ExclusiveRectangle;

/// `[rdp] h264`: whether surfaces may switch to H.264.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum H264Mode {
    /// AVC420 where it pays (see the module's rule), for clients that decode it.
    #[default]
    Auto,
    /// ClearCodec only.
    Off,
}

/// Large frames in a row that switch a surface to AVC420.
pub const ENTER_STREAK: u32 = 3;
/// Frames further apart than this do not make a streak.
pub const STREAK_GAP: Duration = Duration::from_millis(150);
/// Frames in a row that are not large that bring a surface back to ClearCodec.
pub const LEAVE_CALM: u32 = 2;
/// A surface in AVC420 that gets no frame for this long gets its lossless refresh.
pub const SETTLE: Duration = Duration::from_millis(500);
/// A frame smaller than this (in pixels) is never large.
pub const MIN_LARGE_AREA: u64 = 128 * 128;

/// What the next frame of a surface goes out in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// AVC420; `key_frame`: the first of a run, which must decode on its own.
    Avc420 { key_frame: bool },
    /// ClearCodec; `refresh`: this rectangle went out lossy and goes again, lossless.
    Clear { refresh: Option<ExclusiveRectangle> },
}

/// The per-surface rule of the module's documentation.
#[derive(Debug, Default)]
pub struct Chooser {
    /// In AVC420 now.
    avc: bool,
    /// Large frames in a row (in ClearCodec), or frames that are not large in a row (in AVC420).
    streak: u32,
    last_frame: Option<Instant>,
    /// What went out lossy since the last lossless refresh.
    lossy: Option<ExclusiveRectangle>,
}

impl Chooser {
    /// Whether a frame damaging `damage` pixels of a `surface`-pixel surface is large.
    pub fn is_large(damage: u64, surface: u64) -> bool {
        damage >= MIN_LARGE_AREA && damage.saturating_mul(4) >= surface
    }

    /// The codec of a frame with these damage rectangles (in surface coordinates, inside it).
    /// `avc_allowed`: the client decodes AVC420 and the config allows it.
    pub fn choose(
        &mut self,
        damage: &[ExclusiveRectangle],
        surface: (u16, u16),
        avc_allowed: bool,
        now: Instant,
    ) -> Choice {
        let area: u64 = damage.iter().map(rect_area).sum();
        let large = Self::is_large(area, u64::from(surface.0) * u64::from(surface.1));
        let in_time = self.last_frame.is_some_and(|t| now.saturating_duration_since(t) <= STREAK_GAP);
        self.last_frame = Some(now);
        if !self.avc {
            self.streak = if !large {
                0
            } else if in_time {
                self.streak + 1
            } else {
                1
            };
            if self.streak >= ENTER_STREAK && avc_allowed {
                self.avc = true;
                self.streak = 0;
                self.add_lossy(damage);
                return Choice::Avc420 { key_frame: true };
            }
            return Choice::Clear { refresh: None };
        }
        self.streak = if large { 0 } else { self.streak + 1 };
        if self.streak >= LEAVE_CALM || !avc_allowed {
            return Choice::Clear { refresh: self.leave() };
        }
        self.add_lossy(damage);
        Choice::Avc420 { key_frame: false }
    }

    /// When the surface gets its lossless refresh if no frame comes first.
    pub fn refresh_due(&self) -> Option<Instant> {
        if self.avc {
            self.last_frame.map(|t| t + SETTLE)
        } else {
            None
        }
    }

    /// Back to ClearCodec: what went out lossy, to send again.
    pub fn leave(&mut self) -> Option<ExclusiveRectangle> {
        self.avc = false;
        self.streak = 0;
        self.lossy.take()
    }

    pub fn in_avc(&self) -> bool {
        self.avc
    }

    fn add_lossy(&mut self, damage: &[ExclusiveRectangle]) {
        for r in damage {
            self.lossy = Some(match self.lossy.take() {
                None => r.clone(),
                Some(l) => ExclusiveRectangle {
                    left: l.left.min(r.left),
                    top: l.top.min(r.top),
                    right: l.right.max(r.right),
                    bottom: l.bottom.max(r.bottom),
                },
            });
        }
    }
}

fn rect_area(r: &ExclusiveRectangle) -> u64 {
    u64::from(r.right.saturating_sub(r.left)) * u64::from(r.bottom.saturating_sub(r.top))
}

/// A surface's own copy of its pixels (BGRA), which H.264 frames and lossless refreshes are
/// made from.
pub struct Shadow {
    pub width: u16,
    pub height: u16,
    pub bgra: Vec<u8>,
}

impl Shadow {
    pub fn new(width: u16, height: u16) -> Shadow {
        Shadow { width, height, bgra: vec![0; usize::from(width) * usize::from(height) * 4] }
    }

    /// Copies `rect` (inside the surface) of a tile whose rows are `stride` bytes apart.
    pub fn blit(&mut self, rect: &ExclusiveRectangle, data: &[u8], stride: usize) {
        let w = usize::from(rect.right - rect.left) * 4;
        for row in 0..usize::from(rect.bottom - rect.top) {
            let dst = ((usize::from(rect.top) + row) * usize::from(self.width) + usize::from(rect.left)) * 4;
            self.bgra[dst..dst + w].copy_from_slice(&data[row * stride..row * stride + w]);
        }
    }

    /// The pixels of `rect` (inside the surface), packed.
    pub fn crop(&self, rect: &ExclusiveRectangle) -> Vec<u8> {
        let w = usize::from(rect.right - rect.left) * 4;
        let mut out = Vec::with_capacity(w * usize::from(rect.bottom - rect.top));
        for y in usize::from(rect.top)..usize::from(rect.bottom) {
            let start = (y * usize::from(self.width) + usize::from(rect.left)) * 4;
            out.extend_from_slice(&self.bgra[start..start + w]);
        }
        out
    }

    /// The whole surface padded to whole macroblocks (the last column and row repeated), and
    /// the padded size.
    pub fn padded(&self) -> (Vec<u8>, usize, usize) {
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        let (pw, ph) = (w.div_ceil(16) * 16, h.div_ceil(16) * 16);
        let mut out = Vec::with_capacity(pw * ph * 4);
        for y in 0..ph {
            let row = &self.bgra[y.min(h - 1) * w * 4..][..w * 4];
            out.extend_from_slice(row);
            let last = &row[(w - 1) * 4..];
            for _ in w..pw {
                out.extend_from_slice(last);
            }
        }
        (out, pw, ph)
    }
}

/// An H.264 encoder for one surface.
pub struct H264 {
    encoder: openh264::encoder::Encoder,
    yuv: Option<I420>,
}

/// A YUV 4:2:0 picture, planes packed.
struct I420 {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl I420 {
    fn new(width: usize, height: usize) -> I420 {
        let chroma = width.div_ceil(2) * height.div_ceil(2);
        I420 { width, height, y: vec![0; width * height], u: vec![0; chroma], v: vec![0; chroma] }
    }

    /// Converts BGRA the way RDP clients convert back: MS-RDPEGFX's AVC420 is BT.709 with
    /// full-range YUV (FreeRDP's decoder uses exactly those coefficients); OpenH264's own
    /// conversion (BT.601, limited range) shows washed-out colours there.
    fn read_bgra(&mut self, bgra: &[u8]) -> anyhow::Result<()> {
        use yuv::{BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};
        let cw = self.width.div_ceil(2) as u32;
        let mut image = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(&mut self.y),
            y_stride: self.width as u32,
            u_plane: BufferStoreMut::Borrowed(&mut self.u),
            u_stride: cw,
            v_plane: BufferStoreMut::Borrowed(&mut self.v),
            v_stride: cw,
            width: self.width as u32,
            height: self.height as u32,
        };
        yuv::bgra_to_yuv420(
            &mut image,
            bgra,
            self.width as u32 * 4,
            YuvRange::Full,
            YuvStandardMatrix::Bt709,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| anyhow::anyhow!("RGB to YUV: {e:?}"))
    }
}

impl openh264::formats::YUVSource for I420 {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }
    fn strides(&self) -> (usize, usize, usize) {
        let cw = self.width.div_ceil(2);
        (self.width, cw, cw)
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

impl H264 {
    pub fn new() -> anyhow::Result<H264> {
        use openh264::encoder::{BitRate, Complexity, EncoderConfig, QpRange, RateControlMode, UsageType};
        let config = EncoderConfig::new()
            .usage_type(UsageType::ScreenContentRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(8_000_000))
            // A quality floor: past QP 30 text in a moving picture turns to mush, and the
            // bitrate target gives way instead.
            .qp(QpRange::new(10, 30))
            // A skipped frame would leave the client's picture behind the surface.
            .skip_frames(false)
            // Neither works for screen content (OpenH264 turns them off, with a warning).
            .adaptive_quantization(false)
            .background_detection(false)
            .complexity(Complexity::Low);
        let encoder = openh264::encoder::Encoder::with_api_config(openh264::OpenH264API::from_source(), config)
            .map_err(|e| anyhow::anyhow!("OpenH264: {e}"))?;
        Ok(H264 { encoder, yuv: None })
    }

    /// An Annex B picture of the whole surface.
    pub fn encode(&mut self, shadow: &Shadow, key_frame: bool) -> anyhow::Result<Vec<u8>> {
        let (bgra, w, h) = shadow.padded();
        let yuv = match self.yuv.as_mut() {
            Some(yuv) if (yuv.width, yuv.height) == (w, h) => yuv,
            _ => self.yuv.insert(I420::new(w, h)),
        };
        yuv.read_bgra(&bgra)?;
        if key_frame {
            self.encoder.force_intra_frame();
        }
        let stream = self.encoder.encode(&*yuv).map_err(|e| anyhow::anyhow!("OpenH264: {e}"))?;
        Ok(stream.to_vec())
    }
}

/// What the EGFX codecs did in this process, for `wayrail msg version`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CodecTotals {
    pub clear_frames: u64,
    pub clear_bytes: u64,
    pub avc420_frames: u64,
    pub avc420_bytes: u64,
    /// ClearCodec refreshes of what went out lossy (AVC420 or progressive).
    pub lossless_refreshes: u64,
    pub progressive_frames: u64,
    pub progressive_bytes: u64,
}

static CLEAR_FRAMES: AtomicU64 = AtomicU64::new(0);
static CLEAR_BYTES: AtomicU64 = AtomicU64::new(0);
static AVC420_FRAMES: AtomicU64 = AtomicU64::new(0);
static AVC420_BYTES: AtomicU64 = AtomicU64::new(0);
static REFRESHES: AtomicU64 = AtomicU64::new(0);
static PROGRESSIVE_FRAMES: AtomicU64 = AtomicU64::new(0);
static PROGRESSIVE_BYTES: AtomicU64 = AtomicU64::new(0);

pub fn totals() -> CodecTotals {
    CodecTotals {
        clear_frames: CLEAR_FRAMES.load(Ordering::Relaxed),
        clear_bytes: CLEAR_BYTES.load(Ordering::Relaxed),
        avc420_frames: AVC420_FRAMES.load(Ordering::Relaxed),
        avc420_bytes: AVC420_BYTES.load(Ordering::Relaxed),
        lossless_refreshes: REFRESHES.load(Ordering::Relaxed),
        progressive_frames: PROGRESSIVE_FRAMES.load(Ordering::Relaxed),
        progressive_bytes: PROGRESSIVE_BYTES.load(Ordering::Relaxed),
    }
}

pub(crate) fn count_clear(bytes: usize, refresh: bool) {
    CLEAR_FRAMES.fetch_add(1, Ordering::Relaxed);
    CLEAR_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
    if refresh {
        REFRESHES.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) fn count_progressive(bytes: usize) {
    PROGRESSIVE_FRAMES.fetch_add(1, Ordering::Relaxed);
    PROGRESSIVE_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

pub(crate) fn count_avc420(bytes: usize) {
    AVC420_FRAMES.fetch_add(1, Ordering::Relaxed);
    AVC420_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(left: u16, top: u16, right: u16, bottom: u16) -> ExclusiveRectangle {
        ExclusiveRectangle { left, top, right, bottom }
    }

    const SURFACE: (u16, u16) = (640, 480);

    fn full() -> Vec<ExclusiveRectangle> {
        vec![rect(0, 0, 640, 480)]
    }

    /// Frames `every` apart from `start`; returns the choices.
    fn run(c: &mut Chooser, frames: &[Vec<ExclusiveRectangle>], start: Instant, every: Duration) -> Vec<Choice> {
        frames.iter().enumerate().map(|(i, d)| c.choose(d, SURFACE, true, start + every * i as u32)).collect()
    }

    const CLEAR: Choice = Choice::Clear { refresh: None };

    #[test]
    fn sustained_large_change_switches_to_avc_with_a_key_frame() {
        let mut c = Chooser::default();
        let got = run(&mut c, &vec![full(); 5], Instant::now(), Duration::from_millis(16));
        assert_eq!(
            got,
            vec![
                CLEAR,
                CLEAR,
                Choice::Avc420 { key_frame: true },
                Choice::Avc420 { key_frame: false },
                Choice::Avc420 { key_frame: false }
            ]
        );
    }

    #[test]
    fn small_damage_stays_lossless() {
        let mut c = Chooser::default();
        // A line of text: 640×16, and a 120×120 corner (too few pixels though most of a
        // small part).
        let frames: Vec<_> =
            (0..20).map(|i| if i % 2 == 0 { vec![rect(0, 0, 640, 16)] } else { vec![rect(0, 0, 120, 120)] }).collect();
        let got = run(&mut c, &frames, Instant::now(), Duration::from_millis(16));
        assert!(got.iter().all(|g| *g == CLEAR), "{got:?}");
        // A quarter is large; just under is not.
        assert!(Chooser::is_large(640 * 120, 640 * 480));
        assert!(!Chooser::is_large(640 * 119, 640 * 480));
        assert!(!Chooser::is_large(127 * 128, 127 * 128), "too few pixels, whole surface or not");
    }

    #[test]
    fn a_slideshow_stays_lossless() {
        let mut c = Chooser::default();
        let got = run(&mut c, &vec![full(); 6], Instant::now(), Duration::from_secs(1));
        assert!(got.iter().all(|g| *g == CLEAR), "{got:?}");
    }

    #[test]
    fn a_small_frame_breaks_the_streak() {
        let mut c = Chooser::default();
        let frames = vec![full(), full(), vec![rect(0, 0, 10, 10)], full(), full()];
        let got = run(&mut c, &frames, Instant::now(), Duration::from_millis(16));
        assert!(got.iter().all(|g| *g == CLEAR), "{got:?}");
    }

    #[test]
    fn no_avc_for_a_client_without_it() {
        let mut c = Chooser::default();
        let now = Instant::now();
        for i in 0..10 {
            assert_eq!(c.choose(&full(), SURFACE, false, now + Duration::from_millis(16 * i)), CLEAR);
        }
        assert_eq!(c.refresh_due(), None);
    }

    #[test]
    fn calm_frames_leave_with_a_refresh_of_what_went_lossy() {
        let mut c = Chooser::default();
        let start = Instant::now();
        let ms = Duration::from_millis(16);
        let mut frames = vec![full(); 3];
        frames.push(vec![rect(0, 0, 600, 470)]);
        frames.push(vec![rect(5, 5, 6, 6)]);
        let got = run(&mut c, &frames, start, ms);
        assert_eq!(got[2], Choice::Avc420 { key_frame: true });
        assert_eq!(got[3], Choice::Avc420 { key_frame: false });
        assert_eq!(got[4], Choice::Avc420 { key_frame: false }, "one calm frame is not enough");
        let next = c.choose(&[rect(1, 1, 2, 2)], SURFACE, true, start + ms * 5);
        // The small frames in AVC420 went out lossy too (inside the full frames' rectangle).
        assert_eq!(next, Choice::Clear { refresh: Some(rect(0, 0, 640, 480)) });
        assert!(!c.in_avc());
        assert_eq!(c.refresh_due(), None);
        // And it takes a new streak to go back.
        assert_eq!(c.choose(&full(), SURFACE, true, start + ms * 6), CLEAR);
    }

    #[test]
    fn the_lossy_rectangle_is_the_union_of_the_avc_damage() {
        let mut c = Chooser::default();
        let start = Instant::now();
        let ms = Duration::from_millis(16);
        let big = vec![rect(10, 20, 400, 300)];
        run(&mut c, &vec![big.clone(); 3], start, ms);
        assert!(c.in_avc());
        c.choose(&[rect(300, 250, 500, 460)], SURFACE, true, start + ms * 3);
        assert_eq!(c.leave(), Some(rect(10, 20, 500, 460)));
        assert_eq!(c.leave(), None, "refreshed once");
    }

    #[test]
    fn settling_is_due_after_the_last_avc_frame() {
        let mut c = Chooser::default();
        let start = Instant::now();
        let ms = Duration::from_millis(16);
        run(&mut c, &vec![full(); 4], start, ms);
        assert_eq!(c.refresh_due(), Some(start + ms * 3 + SETTLE));
        assert_eq!(c.leave(), Some(rect(0, 0, 640, 480)));
        assert_eq!(c.refresh_due(), None);
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
            let stream = enc.encode(&s, true).unwrap();
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
}
