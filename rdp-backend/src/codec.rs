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
//!   taken from the surface's copy of its own pixels;
//! - the cost is measured, not guessed: when the lossy frames of a surface take more than
//!   [`COST_BUDGET`] of CPU each and more than [`COST_RATIO`] times its lossless frames did
//!   (H.264 of fast-scrolling text at 1280×800: 30 ms and more against 3 ms), the machine
//!   cannot keep up: first the run goes on with OpenH264's camera mode (a key frame), whose
//!   motion search costs a fraction of the screen-content mode's (for more bytes on scrolled
//!   text), and the surface keeps it; when that costs too much as well, ClearCodec keeps the
//!   frame rate: the surface goes back to it and stays there for [`HOLD_OFF`] before it may
//!   switch again.
//!
//! H.264 frames cover the whole surface (the client decodes them at the surface's origin:
//! FreeRDP sizes its decoder to the surface and reads the regions in surface coordinates),
//! padded to whole 16×16 macroblocks by repeating the last column and row, so odd sizes
//! encode too; the regions, clipped to the surface, say what the client copies.
//!
//! The desktop surface of the full-desktop mode has a second rule on top ([`region`]): a
//! part of it that keeps changing while the rest stays still, too small for a quarter of the
//! surface (an animating window on a larger desktop), is a *video region* that goes out lossy
//! on its own, in an offscreen surface of its size copied into the desktop surface, while the
//! rest stays ClearCodec.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ironrdp_pdu::geometry::ExclusiveRectangle;

mod avc444;
mod h264;
pub mod region;
pub use avc444::{chroma_detail, Avc444, Avc444Pictures};
pub use h264::{Shadow, H264};
pub use region::{RegionStep, RegionTracker};

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
/// Lossy frames cheaper than this (CPU to encode one) are always worth their bytes.
pub const COST_BUDGET: Duration = Duration::from_millis(12);
/// How many times a lossless frame's cost a lossy one may take above the budget.
pub const COST_RATIO: u32 = 3;
/// Lossy frames measured before their cost is judged (key frames are not measured: a run's
/// first picture, with the encoder's start, costs several times the frames after it).
pub const COST_SAMPLES: u32 = 4;
/// How long a surface that left the lossy codec for its cost stays lossless.
pub const HOLD_OFF: Duration = Duration::from_secs(5);

/// Measures the CPU time the calling thread spends, which is what encoding a frame on one
/// thread costs: its wall time also counts the time the thread waited for a core, which on a
/// busy machine (the client decoding on the same two cores, a build) makes a cheap encoder
/// look costly. Encoders that spread a frame over threads (Progressive) are timed by the clock.
pub struct CpuStopwatch(Duration);

impl CpuStopwatch {
    pub fn start() -> CpuStopwatch {
        CpuStopwatch(thread_cpu_time())
    }

    pub fn elapsed(&self) -> Duration {
        thread_cpu_time().saturating_sub(self.0)
    }
}

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// A running mean of encoding times (each new one weighs a quarter).
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    mean: Option<Duration>,
    samples: u32,
}

impl Cost {
    fn add(&mut self, took: Duration) {
        self.mean = Some(self.mean.map_or(took, |m| (m * 3 + took) / 4));
        self.samples += 1;
    }
}

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
    /// What this surface's frames cost to encode, lossless and (in this run) lossy.
    lossless_cost: Cost,
    lossy_cost: Cost,
    /// Lossless until then: the lossy frames cost too much.
    held_off_until: Option<Instant>,
    /// Whether the last frame chosen was large (only large lossless frames are weighed
    /// against lossy ones).
    last_large: bool,
    /// The lossy codec is at its cheapest: OpenH264's camera mode, since a run in its
    /// screen-content mode cost too much (kept for the surface's life: its content is the
    /// kind that costs), or a codec with no cheaper mode (Progressive).
    cheapest: bool,
    /// Tests only: choose by the damage alone.
    cost_ignored: bool,
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
        self.last_large = large;
        if !self.avc {
            self.streak = if !large {
                0
            } else if in_time {
                self.streak + 1
            } else {
                1
            };
            let held_off = self.held_off_until.is_some_and(|t| now < t);
            if self.streak >= ENTER_STREAK && avc_allowed && !held_off {
                self.avc = true;
                self.streak = 0;
                self.lossy_cost = Cost::default();
                self.add_lossy(damage);
                return Choice::Avc420 { key_frame: true };
            }
            return Choice::Clear { refresh: None };
        }
        self.streak = if large { 0 } else { self.streak + 1 };
        if self.streak >= LEAVE_CALM || !avc_allowed {
            return Choice::Clear { refresh: self.leave() };
        }
        if self.lossy_too_costly() {
            let (lossy, lossless) = (self.lossy_cost.mean, self.lossless_cost.mean);
            if !self.cheapest {
                tracing::debug!(?lossy, ?lossless, "lossy frames cost too much CPU here: the cheaper motion search");
                self.cheapest = true;
                self.lossy_cost = Cost::default();
                self.add_lossy(damage);
                return Choice::Avc420 { key_frame: true };
            }
            tracing::debug!(?lossy, ?lossless, "lossy frames cost too much CPU here: lossless for a while");
            self.held_off_until = Some(now + HOLD_OFF);
            return Choice::Clear { refresh: self.leave() };
        }
        self.add_lossy(damage);
        Choice::Avc420 { key_frame: false }
    }

    /// What encoding a frame took (`lossy`: in AVC420 or progressive, else ClearCodec).
    pub fn note_cost(&mut self, lossy: bool, took: Duration) {
        if lossy {
            self.lossy_cost.add(took);
        } else if self.last_large {
            self.lossless_cost.add(took);
        }
    }

    /// Whether the lossy codec is at its cheapest (OpenH264's camera mode, for AVC).
    pub fn cheapest(&self) -> bool {
        self.cheapest
    }

    /// For a lossy codec with no cheaper mode: a run that costs too much goes lossless.
    pub fn without_cheaper_mode() -> Chooser {
        Chooser { cheapest: true, ..Chooser::default() }
    }

    /// Chooses by the damage alone, for tests that compare runs whose timings differ.
    #[cfg(test)]
    pub(crate) fn ignore_cost(&mut self) {
        self.cost_ignored = true;
    }

    fn lossy_too_costly(&self) -> bool {
        if self.cost_ignored {
            return false;
        }
        let (Some(lossy), Some(lossless)) = (self.lossy_cost.mean, self.lossless_cost.mean) else { return false };
        self.lossy_cost.samples >= COST_SAMPLES && lossy > COST_BUDGET && lossy > lossless * COST_RATIO
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

    /// Adds `damage` to what went out lossy (and goes again when the surface leaves AVC420).
    pub fn add_lossy(&mut self, damage: &[ExclusiveRectangle]) {
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
    pub avc444_frames: u64,
    pub avc444_bytes: u64,
    /// Window frames merged into another's EGFX frame (`egfx::merge_frames`).
    pub merged_frames: u64,
}

static CLEAR_FRAMES: AtomicU64 = AtomicU64::new(0);
static CLEAR_BYTES: AtomicU64 = AtomicU64::new(0);
static AVC420_FRAMES: AtomicU64 = AtomicU64::new(0);
static AVC420_BYTES: AtomicU64 = AtomicU64::new(0);
static REFRESHES: AtomicU64 = AtomicU64::new(0);
static PROGRESSIVE_FRAMES: AtomicU64 = AtomicU64::new(0);
static PROGRESSIVE_BYTES: AtomicU64 = AtomicU64::new(0);
static AVC444_FRAMES: AtomicU64 = AtomicU64::new(0);
static AVC444_BYTES: AtomicU64 = AtomicU64::new(0);
static MERGED_FRAMES: AtomicU64 = AtomicU64::new(0);

pub fn totals() -> CodecTotals {
    CodecTotals {
        clear_frames: CLEAR_FRAMES.load(Ordering::Relaxed),
        clear_bytes: CLEAR_BYTES.load(Ordering::Relaxed),
        avc420_frames: AVC420_FRAMES.load(Ordering::Relaxed),
        avc420_bytes: AVC420_BYTES.load(Ordering::Relaxed),
        lossless_refreshes: REFRESHES.load(Ordering::Relaxed),
        progressive_frames: PROGRESSIVE_FRAMES.load(Ordering::Relaxed),
        progressive_bytes: PROGRESSIVE_BYTES.load(Ordering::Relaxed),
        avc444_frames: AVC444_FRAMES.load(Ordering::Relaxed),
        avc444_bytes: AVC444_BYTES.load(Ordering::Relaxed),
        merged_frames: MERGED_FRAMES.load(Ordering::Relaxed),
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

pub(crate) fn count_merged(frames: usize) {
    MERGED_FRAMES.fetch_add(frames as u64, Ordering::Relaxed);
}

pub(crate) fn count_avc444(bytes: usize) {
    AVC444_FRAMES.fetch_add(1, Ordering::Relaxed);
    AVC444_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
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

    /// Drives `c` through large frames 16 ms apart from `start`, noting for each the cost
    /// its codec took (`lossy` or `lossless`); returns the choices.
    fn costed(c: &mut Chooser, n: u32, start: Instant, lossy: Duration, lossless: Duration) -> Vec<Choice> {
        (0..n)
            .map(|i| {
                let choice = c.choose(&full(), SURFACE, true, start + Duration::from_millis(16) * i);
                let avc = matches!(choice, Choice::Avc420 { .. });
                c.note_cost(avc, if avc { lossy } else { lossless });
                choice
            })
            .collect()
    }

    #[test]
    fn lossy_frames_far_costlier_than_lossless_ones_go_back_to_clearcodec_for_a_while() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        // Scrolling text: H.264 at 30 ms a frame where ClearCodec took 3, in either mode.
        let mut c = Chooser::default();
        let got = costed(&mut c, 14, start, ms(30), ms(3));
        // First the cheaper search, after the samples it needs: a key frame, and it stays.
        let samples = COST_SAMPLES as usize;
        let plain = Choice::Avc420 { key_frame: false };
        assert!(got[3..2 + samples].iter().all(|c| *c == plain), "measured in screen-content mode: {got:?}");
        assert_eq!(got[2 + samples], Choice::Avc420 { key_frame: true }, "the cheaper search: {got:?}");
        assert!(c.cheapest());
        let first_clear_after_avc = got.iter().skip(2).position(|c| matches!(c, Choice::Clear { .. })).unwrap() + 2;
        assert!(
            matches!(&got[first_clear_after_avc], Choice::Clear { refresh: Some(_) }),
            "back with the lossless refresh: {got:?}"
        );
        assert_eq!(first_clear_after_avc, 2 + 2 * samples, "after the samples of each mode: {got:?}");
        assert!(got[first_clear_after_avc + 1..].iter().all(|c| *c == CLEAR), "and stays lossless: {got:?}");
        // Held off for HOLD_OFF, then measured again.
        let later = start + HOLD_OFF + ms(500);
        let again = costed(&mut c, 4, later, ms(30), ms(3));
        assert_eq!(again[2], Choice::Avc420 { key_frame: true }, "tried again after the hold-off: {again:?}");

        // A codec with no cheaper mode (Progressive): straight back to ClearCodec.
        let mut c = Chooser::without_cheaper_mode();
        let got = costed(&mut c, 8, start, ms(30), ms(3));
        assert!(matches!(&got[2 + samples], Choice::Clear { refresh: Some(_) }), "{got:?}");

        // An animation where both cost alike (a full-HD picture: both are expensive), or
        // where H.264 stays under the budget: H.264 stays.
        for (lossy, lossless) in [(ms(18), ms(17)), (ms(8), ms(1))] {
            let mut c = Chooser::default();
            let got = costed(&mut c, 20, start, lossy, lossless);
            assert!(got[2..].iter().all(|c| matches!(c, Choice::Avc420 { .. })), "{lossy:?} vs {lossless:?}: {got:?}");
        }
    }

    #[test]
    fn only_large_lossless_frames_are_weighed() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut c = Chooser::default();
        // Typing costs next to nothing in ClearCodec; it says nothing of a large frame's cost.
        for i in 0..10 {
            assert_eq!(c.choose(&[rect(0, 0, 10, 20)], SURFACE, true, start + ms(50) * i), CLEAR);
            c.note_cost(false, Duration::from_micros(50));
        }
        assert_eq!(c.lossless_cost.samples, 0);
        // Large frames at 10 ms lossless, 20 ms lossy: within the ratio, H.264 stays.
        let got = costed(&mut c, 12, start + ms(1000), ms(20), ms(10));
        assert!(got[2..].iter().all(|c| matches!(c, Choice::Avc420 { .. })), "{got:?}");
    }
}
