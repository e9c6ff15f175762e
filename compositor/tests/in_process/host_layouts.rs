//! Random host monitor layouts and random changes to them, for the property tests: monitors
//! side by side, stacked, in L shapes, with gaps, left of or above the primary, at the scales
//! hosts use; changed by plugging monitors in and out, rescaling, resizing, reordering and
//! moving the primary.

use proptest::prelude::*;
use wayrail_compositor::layout::PhysMonitor;
use wayrail_compositor::window::Rect;

pub const SCALES: [f64; 6] = [1.0, 1.25, 1.5, 1.75, 2.0, 3.0];

/// The smallest number of host pixels that is a whole number of logical pixels at `scale`.
fn grid(scale: f64) -> i32 {
    match (scale * 4.0) as i32 {
        5 => 5,
        6 => 3,
        7 => 7,
        8 => 2,
        12 => 3,
        _ => 1,
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Side {
    Right,
    Left,
    Below,
    Above,
}

/// Where along the neighbour's edge a new monitor goes.
#[derive(Debug, Clone, Copy)]
pub enum Along {
    /// Top or left edges aligned.
    Start,
    /// Bottom or right edges aligned.
    End,
    Center,
    /// Anywhere that still shares at least a pixel of the edge (0..=1000 of that range).
    Anywhere(i32),
}

/// A new monitor placed against an existing one.
#[derive(Debug, Clone)]
pub struct Attach {
    pub size: (i32, i32),
    pub scale: f64,
    /// Index (modulo the monitor count) of the monitor to attach to.
    pub to: usize,
    pub side: Side,
    pub along: Along,
    /// Host pixels between the two; 0 makes them touch.
    pub gap: i32,
}

/// A whole host layout: the first monitor, the others attached one by one, and which one
/// is primary. With `uniform`, every monitor has the first one's scale and every size and
/// offset is a whole number of logical pixels.
#[derive(Debug, Clone)]
pub struct LayoutSpec {
    pub uniform: bool,
    pub first: ((i32, i32), f64),
    pub others: Vec<Attach>,
    pub primary: usize,
}

/// One change of the host's monitors.
#[derive(Debug, Clone)]
pub enum LayoutOp {
    Plug(Attach),
    Unplug(usize),
    Rescale(usize, f64),
    Resize(usize, (i32, i32)),
    MakePrimary(usize),
    /// The host lists its monitors in another order.
    Rotate(usize),
    Replace(LayoutSpec),
}

fn snap(v: i32, unit: i32) -> i32 {
    (v as f64 / unit as f64).round() as i32 * unit
}

fn place(base: Rect, a: &Attach, unit: i32) -> Rect {
    let (w, h) = (snap(a.size.0, unit).max(unit), snap(a.size.1, unit).max(unit));
    let gap = snap(a.gap, unit);
    let offset = |base_len: i32, len: i32| {
        let off = match a.along {
            Along::Start => 0,
            Along::End => base_len - len,
            Along::Center => (base_len - len) / 2,
            Along::Anywhere(f) => -len + 1 + ((base_len + len - 2) as i64 * f as i64 / 1000) as i32,
        };
        // On the grid, but still sharing the edge.
        let snapped = snap(off, unit);
        if snapped > -len && snapped < base_len {
            snapped
        } else {
            off
        }
    };
    match a.side {
        Side::Right => Rect::new(base.x + base.width + gap, base.y + offset(base.height, h), w, h),
        Side::Left => Rect::new(base.x - w - gap, base.y + offset(base.height, h), w, h),
        Side::Below => Rect::new(base.x + offset(base.width, w), base.y + base.height + gap, w, h),
        Side::Above => Rect::new(base.x + offset(base.width, w), base.y - h - gap, w, h),
    }
}

fn fits(monitors: &[PhysMonitor], r: Rect, except: Option<usize>) -> bool {
    monitors.iter().enumerate().all(|(i, m)| Some(i) == except || m.rect.intersection_area(&r) == 0)
}

/// The primary's top-left at (0,0), as RDP hosts report it; exactly one primary.
fn normalize(monitors: &mut [PhysMonitor]) {
    if !monitors.iter().any(|m| m.primary) {
        monitors[0].primary = true;
    }
    let p = monitors.iter().find(|m| m.primary).unwrap().rect;
    for m in monitors.iter_mut() {
        m.rect.x -= p.x;
        m.rect.y -= p.y;
    }
}

fn attach(monitors: &mut Vec<PhysMonitor>, a: &Attach, unit: i32, scale: Option<f64>) -> bool {
    let base = monitors[a.to % monitors.len()].rect;
    let r = place(base, a, unit);
    if !fits(monitors, r, None) {
        return false;
    }
    monitors.push(PhysMonitor { rect: r, scale: scale.unwrap_or(a.scale), primary: false });
    true
}

impl LayoutSpec {
    pub fn build(&self) -> Vec<PhysMonitor> {
        let ((w, h), scale) = self.first;
        let unit = if self.uniform { grid(scale) } else { 1 };
        let mut monitors = vec![PhysMonitor {
            rect: Rect::new(0, 0, snap(w, unit).max(unit), snap(h, unit).max(unit)),
            scale,
            primary: false,
        }];
        for a in &self.others {
            attach(&mut monitors, a, unit, self.uniform.then_some(scale));
        }
        let primary = self.primary % monitors.len();
        monitors[primary].primary = true;
        normalize(&mut monitors);
        monitors
    }
}

impl LayoutOp {
    /// Applies the change; false when it does not apply (a monitor that would overlap
    /// another, the last monitor unplugged).
    pub fn apply(&self, monitors: &mut Vec<PhysMonitor>) -> bool {
        let n = monitors.len();
        match self {
            LayoutOp::Plug(a) => {
                if n >= 4 || !attach(monitors, a, 1, None) {
                    return false;
                }
            }
            LayoutOp::Unplug(i) => {
                if n == 1 {
                    return false;
                }
                monitors.remove(i % n);
            }
            LayoutOp::Rescale(i, s) => monitors[i % n].scale = *s,
            LayoutOp::Resize(i, (w, h)) => {
                let mut r = monitors[i % n].rect;
                (r.width, r.height) = (*w, *h);
                if !fits(monitors, r, Some(i % n)) {
                    return false;
                }
                monitors[i % n].rect = r;
            }
            LayoutOp::MakePrimary(i) => {
                for (j, m) in monitors.iter_mut().enumerate() {
                    m.primary = j == i % n;
                }
            }
            LayoutOp::Rotate(k) => monitors.rotate_left(k % n),
            LayoutOp::Replace(spec) => *monitors = spec.build(),
        }
        normalize(monitors);
        true
    }
}

pub fn scale() -> impl Strategy<Value = f64> {
    prop::sample::select(SCALES.to_vec())
}

pub fn side_length() -> impl Strategy<Value = i32> {
    200..=4000
}

pub fn size() -> impl Strategy<Value = (i32, i32)> {
    prop_oneof![
        prop::sample::select(vec![(1920, 1080), (2560, 1440), (3840, 2160), (1366, 768), (1280, 1024), (1080, 1920)]),
        (side_length(), side_length()),
    ]
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Right), Just(Side::Left), Just(Side::Below), Just(Side::Above)]
}

fn along() -> impl Strategy<Value = Along> {
    prop_oneof![Just(Along::Start), Just(Along::End), Just(Along::Center), (0..=1000).prop_map(Along::Anywhere)]
}

fn gap() -> impl Strategy<Value = i32> {
    prop_oneof![4 => Just(0), 1 => 1..=600]
}

pub fn attach_strategy() -> impl Strategy<Value = Attach> {
    (size(), scale(), 0..4usize, side(), along(), gap()).prop_map(|(size, scale, to, side, along, gap)| Attach {
        size,
        scale,
        to,
        side,
        along,
        gap,
    })
}

pub fn layout() -> impl Strategy<Value = LayoutSpec> {
    (any::<bool>(), size(), scale(), prop::collection::vec(attach_strategy(), 0..=3), 0..4usize).prop_map(
        |(uniform, size, scale, others, primary)| LayoutSpec { uniform, first: (size, scale), others, primary },
    )
}

pub fn layout_op() -> impl Strategy<Value = LayoutOp> {
    prop_oneof![
        3 => attach_strategy().prop_map(LayoutOp::Plug),
        2 => (0..4usize).prop_map(LayoutOp::Unplug),
        3 => (0..4usize, scale()).prop_map(|(i, s)| LayoutOp::Rescale(i, s)),
        1 => (0..4usize, size()).prop_map(|(i, s)| LayoutOp::Resize(i, s)),
        2 => (0..4usize).prop_map(LayoutOp::MakePrimary),
        1 => (1..4usize).prop_map(LayoutOp::Rotate),
        1 => layout().prop_map(LayoutOp::Replace),
    ]
}

/// The fixed seed every property here runs with, so CI runs the same cases every time;
/// `WAYRAIL_PROPTEST_SEED` picks another one and `WAYRAIL_PROPTEST_CASES` another count, to
/// explore.
pub fn config(cases: u32) -> proptest::test_runner::Config {
    let env = |name: &str| std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v}?")));
    let seed = env("WAYRAIL_PROPTEST_SEED").unwrap_or(0x0077_6179_7261_696c);
    let cases = env("WAYRAIL_PROPTEST_CASES").map_or(cases, |c| c as u32);
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Default::default()
    }
}

/// One line per monitor: `0: 1920x1080+0+0 @1.5 primary`.
pub fn describe(monitors: &[PhysMonitor]) -> String {
    let lines: Vec<String> = monitors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let r = m.rect;
            let primary = if m.primary { " primary" } else { "" };
            format!("  {i}: {}x{}{:+}{:+} @{}{primary}", r.width, r.height, r.x, r.y, m.scale)
        })
        .collect();
    lines.join("\n")
}
