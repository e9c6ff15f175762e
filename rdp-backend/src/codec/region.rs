//! Video regions of the desktop surface: where, inside the one surface of the full-desktop
//! mode, content keeps changing over a large area while the rest stays still (an animating
//! window on a larger desktop).
//!
//! The surface's own rule ([`super::Chooser`]) wants a quarter of the surface changing, which
//! a 250×250 animation on a 1280×800 desktop never reaches. Here the desktop is cut into
//! [`CELL`]-pixel cells, each with the number of frames in a row (each within
//! [`STREAK_GAP`] of the one before) that damaged it. The cells damaged in [`ENTER_STREAK`]
//! frames in a row are *hot*; the bounding box of their damage, when it covers at least
//! [`MIN_LARGE_AREA`] pixels, is the *video region*. Its damage goes out lossy (in an
//! offscreen surface of its size that the frame copies into the desktop surface, or in
//! RemoteFX Progressive on the desktop surface itself), the rest of the damage in ClearCodec.
//!
//! The region ends as a surface's lossy run does: [`LEAVE_CALM`] frames in a row that damage
//! less than a quarter of it, or [`SETTLE`] without any frame; then it goes again, losslessly.
//! When the hot cells reach out of it (the window moved or grew), the region ends and a new
//! one starts where they are (with a key frame). The cost rule is the surface's: lossy frames
//! of the region that take more than [`COST_BUDGET`] and [`COST_RATIO`] times what large
//! lossless frames took end it for [`HOLD_OFF`].

use std::time::{Duration, Instant};

use ironrdp_pdu::geometry::ExclusiveRectangle;

use super::{
    rect_area, Chooser, Cost, COST_BUDGET, COST_RATIO, COST_SAMPLES, ENTER_STREAK, HOLD_OFF, LEAVE_CALM,
    MIN_LARGE_AREA, SETTLE, STREAK_GAP,
};

/// The side of a cell of the damage grid, in pixels.
pub const CELL: u16 = 32;

/// What a frame of the desktop surface does with its video region.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegionStep {
    /// The region that ended: it goes again losslessly and its offscreen surface goes.
    pub leave: Option<ExclusiveRectangle>,
    /// The region of this frame, in desktop coordinates; `key_frame` when it starts here
    /// (its offscreen surface is new and the whole region goes out).
    pub video: Option<(ExclusiveRectangle, bool)>,
}

#[derive(Debug)]
struct Active {
    rect: ExclusiveRectangle,
    /// Frames in a row that damaged less than a quarter of it.
    calm: u32,
    last_frame: Instant,
    cost: Cost,
}

/// The video region of one desktop surface (see the module's documentation).
#[derive(Debug)]
pub struct RegionTracker {
    cols: usize,
    rows: usize,
    /// Frames in a row that damaged each cell.
    streaks: Vec<u32>,
    /// The damage inside each cell in the last frame that damaged it.
    bounds: Vec<Option<ExclusiveRectangle>>,
    last_frame: Option<Instant>,
    active: Option<Active>,
    /// What large lossless frames cost (their damage at least [`MIN_LARGE_AREA`]).
    lossless_cost: Cost,
    held_off_until: Option<Instant>,
    /// Whether the last frame was large enough to weigh its lossless cost.
    last_large: bool,
}

impl RegionTracker {
    pub fn new(width: u16, height: u16) -> RegionTracker {
        let cols = usize::from(width.div_ceil(CELL));
        let rows = usize::from(height.div_ceil(CELL));
        RegionTracker {
            cols,
            rows,
            streaks: vec![0; cols * rows],
            bounds: vec![None; cols * rows],
            last_frame: None,
            active: None,
            lossless_cost: Cost::default(),
            held_off_until: None,
            last_large: false,
        }
    }

    /// The step of a frame with this damage (inside the surface). `allowed`: a lossy codec
    /// may be used now (the client has one, it has not failed, and the surface as a whole is
    /// neither in its lossy run nor held off from it).
    pub fn step(&mut self, damage: &[ExclusiveRectangle], allowed: bool, now: Instant) -> RegionStep {
        let in_time = self.last_frame.is_some_and(|t| now.saturating_duration_since(t) <= STREAK_GAP);
        self.last_frame = Some(now);
        let area: u64 = damage.iter().map(rect_area).sum();
        self.last_large = area >= MIN_LARGE_AREA;
        let candidate = self.mark(damage, in_time);
        let held_off = self.held_off_until.is_some_and(|t| now < t);
        let mut step = RegionStep::default();
        if let Some(active) = self.active.as_mut() {
            let inside: u64 = damage.iter().filter_map(|r| intersect(r, &active.rect)).map(|r| rect_area(&r)).sum();
            let large = inside.saturating_mul(4) >= rect_area(&active.rect);
            active.calm = if large { 0 } else { active.calm + 1 };
            active.last_frame = now;
            let moved = candidate.as_ref().is_some_and(|c| !contains(&active.rect, c));
            let costly = active.cost.samples >= COST_SAMPLES
                && active.cost.mean.is_some_and(|lossy| {
                    lossy > COST_BUDGET && self.lossless_cost.mean.is_some_and(|lossless| lossy > lossless * COST_RATIO)
                });
            if costly {
                tracing::debug!(lossy = ?active.cost.mean, lossless = ?self.lossless_cost.mean,
                    "the video region's lossy frames cost too much CPU: lossless for a while");
                self.held_off_until = Some(now + HOLD_OFF);
            }
            if !allowed || moved || costly || active.calm >= LEAVE_CALM {
                step.leave = self.active.take().map(|a| a.rect);
            } else {
                step.video = Some((active.rect.clone(), false));
                return step;
            }
        }
        let held_off = held_off || self.held_off_until.is_some_and(|t| now < t);
        if let Some(rect) = candidate.filter(|_| allowed && !held_off) {
            // A region that grew keeps what it had, unless that makes it much larger.
            let rect = match &step.leave {
                Some(old) if rect_area(&union(old, &rect)) <= 2 * rect_area(&rect) => union(old, &rect),
                _ => rect,
            };
            self.active = Some(Active { rect: rect.clone(), calm: 0, last_frame: now, cost: Cost::default() });
            step.video = Some((rect, true));
        }
        step
    }

    /// Counts the frame's damage into the cells; the bounding box of the damage of the hot
    /// cells when it is large enough.
    fn mark(&mut self, damage: &[ExclusiveRectangle], in_time: bool) -> Option<ExclusiveRectangle> {
        let mut touched = vec![None::<ExclusiveRectangle>; self.streaks.len()];
        for r in damage {
            let (c0, c1) = (usize::from(r.left / CELL), usize::from(r.right.div_ceil(CELL)).min(self.cols));
            let (r0, r1) = (usize::from(r.top / CELL), usize::from(r.bottom.div_ceil(CELL)).min(self.rows));
            for row in r0..r1 {
                for col in c0..c1 {
                    let cell = cell_rect(col, row);
                    if let Some(part) = intersect(r, &cell) {
                        let t = &mut touched[row * self.cols + col];
                        *t = Some(t.as_ref().map_or(part.clone(), |t| union(t, &part)));
                    }
                }
            }
        }
        let mut hot: Option<ExclusiveRectangle> = None;
        for (i, t) in touched.into_iter().enumerate() {
            match t {
                Some(t) => {
                    self.streaks[i] = if in_time { self.streaks[i] + 1 } else { 1 };
                    self.bounds[i] = Some(t);
                }
                None => self.streaks[i] = 0,
            }
            if self.streaks[i] >= ENTER_STREAK {
                if let Some(b) = &self.bounds[i] {
                    hot = Some(hot.map_or(b.clone(), |h| union(&h, b)));
                }
            }
        }
        hot.filter(|h| rect_area(h) >= MIN_LARGE_AREA)
    }

    /// What encoding a frame took (`lossy`: its video region's part, else its lossless part).
    pub fn note_cost(&mut self, lossy: bool, took: Duration) {
        if lossy {
            if let Some(a) = self.active.as_mut() {
                a.cost.add(took);
            }
        } else if self.last_large {
            self.lossless_cost.add(took);
        }
    }

    /// When the region gets its lossless refresh if no frame comes first.
    pub fn refresh_due(&self) -> Option<Instant> {
        self.active.as_ref().map(|a| a.last_frame + SETTLE)
    }

    /// Ends the region: what went out lossy, to send again.
    pub fn leave(&mut self) -> Option<ExclusiveRectangle> {
        self.active.take().map(|a| a.rect)
    }

    /// The region now, if any.
    pub fn active(&self) -> Option<&ExclusiveRectangle> {
        self.active.as_ref().map(|a| &a.rect)
    }
}

fn cell_rect(col: usize, row: usize) -> ExclusiveRectangle {
    let (x, y) = (col as u32 * u32::from(CELL), row as u32 * u32::from(CELL));
    let clamp = |v: u32| v.min(u32::from(u16::MAX)) as u16;
    ExclusiveRectangle {
        left: clamp(x),
        top: clamp(y),
        right: clamp(x + u32::from(CELL)),
        bottom: clamp(y + u32::from(CELL)),
    }
}

pub fn intersect(a: &ExclusiveRectangle, b: &ExclusiveRectangle) -> Option<ExclusiveRectangle> {
    let r = ExclusiveRectangle {
        left: a.left.max(b.left),
        top: a.top.max(b.top),
        right: a.right.min(b.right),
        bottom: a.bottom.min(b.bottom),
    };
    (r.left < r.right && r.top < r.bottom).then_some(r)
}

pub fn union(a: &ExclusiveRectangle, b: &ExclusiveRectangle) -> ExclusiveRectangle {
    ExclusiveRectangle {
        left: a.left.min(b.left),
        top: a.top.min(b.top),
        right: a.right.max(b.right),
        bottom: a.bottom.max(b.bottom),
    }
}

fn contains(outer: &ExclusiveRectangle, inner: &ExclusiveRectangle) -> bool {
    outer.left <= inner.left && outer.top <= inner.top && outer.right >= inner.right && outer.bottom >= inner.bottom
}

/// `a` without `hole`: up to four rectangles (above, below, left, right of it).
pub fn subtract(a: &ExclusiveRectangle, hole: &ExclusiveRectangle) -> Vec<ExclusiveRectangle> {
    let Some(i) = intersect(a, hole) else { return vec![a.clone()] };
    let parts = [
        ExclusiveRectangle { left: a.left, top: a.top, right: a.right, bottom: i.top },
        ExclusiveRectangle { left: a.left, top: i.bottom, right: a.right, bottom: a.bottom },
        ExclusiveRectangle { left: a.left, top: i.top, right: i.left, bottom: i.bottom },
        ExclusiveRectangle { left: i.right, top: i.top, right: a.right, bottom: i.bottom },
    ];
    parts.into_iter().filter(|r| r.left < r.right && r.top < r.bottom).collect()
}

impl Chooser {
    /// Whether the surface left its lossy run for its cost and may not switch yet.
    pub fn held_off(&self, now: Instant) -> bool {
        self.held_off_until.is_some_and(|t| now < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(left: u16, top: u16, right: u16, bottom: u16) -> ExclusiveRectangle {
        ExclusiveRectangle { left, top, right, bottom }
    }

    const MS16: Duration = Duration::from_millis(16);

    /// A 250×250 window at (100, 90) that animates, on a 1280×800 desktop.
    fn window() -> ExclusiveRectangle {
        rect(100, 90, 350, 340)
    }

    fn run(t: &mut RegionTracker, frames: &[Vec<ExclusiveRectangle>], start: Instant) -> Vec<RegionStep> {
        frames.iter().enumerate().map(|(i, d)| t.step(d, true, start + MS16 * i as u32)).collect()
    }

    fn none() -> RegionStep {
        RegionStep::default()
    }

    fn video(r: ExclusiveRectangle, key: bool) -> RegionStep {
        RegionStep { leave: None, video: Some((r, key)) }
    }

    #[test]
    fn a_small_animation_on_a_large_desktop_becomes_a_video_region() {
        // Far less than a quarter of the desktop: the surface's own rule stays lossless.
        assert!(!Chooser::is_large(250 * 250, 1280 * 800));
        let mut t = RegionTracker::new(1280, 800);
        let got = run(&mut t, &vec![vec![window()]; 5], Instant::now());
        assert_eq!(got, vec![none(), none(), video(window(), true), video(window(), false), video(window(), false)]);
    }

    #[test]
    fn typing_and_a_slideshow_make_no_region() {
        let mut t = RegionTracker::new(1280, 800);
        let start = Instant::now();
        // Typing: a glyph and the cursor, every frame, along a line.
        let typing: Vec<_> = (0..30u16).map(|i| vec![rect(10 + 8 * i, 100, 26 + 8 * i, 116)]).collect();
        assert!(run(&mut t, &typing, start).iter().all(|s| *s == none()));
        // Large changes a second apart.
        let mut t = RegionTracker::new(1280, 800);
        let got: Vec<_> = (0..6).map(|i| t.step(&[window()], true, start + Duration::from_secs(i))).collect();
        assert!(got.iter().all(|s| *s == none()), "{got:?}");
        // Not allowed (no lossy codec, or the surface held off): no region.
        let mut t = RegionTracker::new(1280, 800);
        let got: Vec<_> = (0..6).map(|i| t.step(&[window()], false, start + MS16 * i)).collect();
        assert!(got.iter().all(|s| *s == none()), "{got:?}");
    }

    #[test]
    fn other_small_damage_does_not_widen_the_region() {
        let mut t = RegionTracker::new(1280, 800);
        // A clock ticking elsewhere now and then, a cursor blinking.
        let frames: Vec<_> = (0..8)
            .map(|i| if i % 3 == 0 { vec![window(), rect(1200, 780, 1270, 796)] } else { vec![window()] })
            .collect();
        let got = run(&mut t, &frames, Instant::now());
        assert_eq!(got[2], video(window(), true));
        assert!(got[3..].iter().all(|s| *s == video(window(), false)), "{got:?}");
    }

    #[test]
    fn calm_frames_end_the_region_with_its_refresh() {
        let mut t = RegionTracker::new(1280, 800);
        let start = Instant::now();
        let mut frames = vec![vec![window()]; 4];
        frames.push(vec![rect(100, 90, 110, 100)]);
        frames.push(vec![rect(500, 500, 510, 510)]);
        let got = run(&mut t, &frames, start);
        assert_eq!(got[4], video(window(), false), "one calm frame is not enough");
        assert_eq!(got[5], RegionStep { leave: Some(window()), video: None });
        assert_eq!(t.refresh_due(), None);
        assert_eq!(t.leave(), None, "refreshed once");
    }

    #[test]
    fn a_region_settles_after_its_last_frame() {
        let mut t = RegionTracker::new(1280, 800);
        let start = Instant::now();
        run(&mut t, &vec![vec![window()]; 4], start);
        assert_eq!(t.refresh_due(), Some(start + MS16 * 3 + SETTLE));
        assert_eq!(t.leave(), Some(window()));
        assert_eq!(t.refresh_due(), None);
    }

    #[test]
    fn a_moved_window_starts_a_new_region_with_a_key_frame() {
        let mut t = RegionTracker::new(1280, 800);
        let start = Instant::now();
        run(&mut t, &vec![vec![window()]; 4], start);
        // Moved far away: three frames of the new place make it hot, the old one cools.
        let moved = rect(700, 400, 950, 650);
        let got: Vec<_> = (4..8).map(|i| t.step(std::slice::from_ref(&moved), true, start + MS16 * i)).collect();
        assert_eq!(got[0], video(window(), false), "the old region's damage is calm for one frame");
        assert_eq!(got[1], RegionStep { leave: Some(window()), video: None });
        assert_eq!(got[2], RegionStep { leave: None, video: Some((moved.clone(), true)) });
        assert_eq!(got[3], video(moved, false));
        // Grown a little: the region grows with it, with a new key frame.
        let mut t = RegionTracker::new(1280, 800);
        run(&mut t, &vec![vec![window()]; 4], start);
        let grown = rect(100, 90, 380, 340);
        let got: Vec<_> = (4..8).map(|i| t.step(std::slice::from_ref(&grown), true, start + MS16 * i)).collect();
        // The cells it had take the part of the growth inside them at once, the new cells once
        // they are hot.
        let partly = rect(100, 90, 352, 340);
        assert_eq!(got[0], RegionStep { leave: Some(window()), video: Some((partly.clone(), true)) });
        assert_eq!(got[1], video(partly.clone(), false));
        assert_eq!(got[2], RegionStep { leave: Some(partly), video: Some((grown.clone(), true)) });
        assert_eq!(got[3], video(grown, false));
    }

    #[test]
    fn costly_regions_go_back_to_lossless_for_a_while() {
        let mut t = RegionTracker::new(1280, 800);
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut steps = Vec::new();
        for i in 0..10 {
            let step = t.step(&[window()], true, start + MS16 * i);
            let lossy = step.video.is_some();
            t.note_cost(lossy, if lossy { ms(30) } else { ms(3) });
            steps.push(step);
        }
        let left = steps.iter().position(|s| s.leave.is_some()).expect("it ends");
        assert_eq!(left, 2 + COST_SAMPLES as usize, "{steps:?}");
        assert!(steps[left + 1..].iter().all(|s| *s == none()), "and stays lossless: {steps:?}");
        let later = start + HOLD_OFF + ms(100);
        let again: Vec<_> = (0..3).map(|i| t.step(&[window()], true, later + MS16 * i)).collect();
        assert_eq!(again[2], video(window(), true), "tried again after the hold-off");
    }

    #[test]
    fn rectangles_subtract_into_the_parts_around_the_hole() {
        let a = rect(0, 0, 100, 100);
        assert_eq!(subtract(&a, &rect(200, 200, 300, 300)), vec![a.clone()]);
        assert_eq!(subtract(&a, &rect(0, 0, 100, 100)), vec![]);
        let parts = subtract(&a, &rect(20, 30, 50, 60));
        assert_eq!(parts.iter().map(rect_area).sum::<u64>(), 100 * 100 - 30 * 30);
        for (i, p) in parts.iter().enumerate() {
            assert!(intersect(p, &rect(20, 30, 50, 60)).is_none());
            for q in &parts[i + 1..] {
                assert!(intersect(p, q).is_none(), "{p:?} {q:?}");
            }
        }
    }
}
