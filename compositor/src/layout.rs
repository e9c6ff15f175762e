//! From the host's monitors (physical pixels of its virtual desktop) to the compositor's
//! logical layout, and back.
//!
//! Each output maps exactly and linearly: a host point `p` on monitor `i` is the logical point
//! `L_i + (p - P_i) / s_i`, where `P_i` and `L_i` are the monitor's physical and logical
//! top-left and `s_i` its scale. Only the logical top-lefts need choosing. They are chosen so
//! that monitors touching on the host touch in the logical space too (so the pointer and
//! windows cross between them without a jump or a dead zone), whatever the arrangement and
//! the scales; scaling is never turned off for an arrangement.

use crate::state::logical_size;
use crate::window::Rect;

/// One host monitor as the layout sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhysMonitor {
    /// Physical pixels in the host's virtual desktop.
    pub rect: Rect,
    pub scale: f64,
    pub primary: bool,
}

impl PhysMonitor {
    pub fn logical_size(&self) -> (i32, i32) {
        logical_size((self.rect.width, self.rect.height), self.scale)
    }
}

fn overlaps_range(a0: i32, a1: i32, b0: i32, b1: i32) -> bool {
    a0 < b1 && b0 < a1
}

/// Where monitor `j` goes in logical space next to the placed monitor `i` (logical top-left
/// `li`), when the two touch on the host. The offset along the shared edge is measured in
/// `i`'s logical units.
fn beside(i: &PhysMonitor, li: (i32, i32), j: &PhysMonitor) -> Option<(i32, i32)> {
    let (pi, pj) = (i.rect, j.rect);
    let (iw, ih) = i.logical_size();
    let (jw, jh) = j.logical_size();
    let along = |d: i32| (d as f64 / i.scale).round() as i32;
    let vertical_overlap = overlaps_range(pi.y, pi.y + pi.height, pj.y, pj.y + pj.height);
    let horizontal_overlap = overlaps_range(pi.x, pi.x + pi.width, pj.x, pj.x + pj.width);
    if vertical_overlap && pj.x == pi.x + pi.width {
        Some((li.0 + iw, li.1 + along(pj.y - pi.y)))
    } else if vertical_overlap && pj.x + pj.width == pi.x {
        Some((li.0 - jw, li.1 + along(pj.y - pi.y)))
    } else if horizontal_overlap && pj.y == pi.y + pi.height {
        Some((li.0 + along(pj.x - pi.x), li.1 + ih))
    } else if horizontal_overlap && pj.y + pj.height == pi.y {
        Some((li.0 + along(pj.x - pi.x), li.1 - jh))
    } else {
        None
    }
}

/// The logical top-left of each monitor, in the monitors' order. The primary (else the
/// first) monitor is at (0,0); the others are placed next to a placed neighbour they touch,
/// in breadth-first order; a monitor that touches none (a gap on the host) keeps its offset
/// to the nearest placed one, in that one's logical units. A placement that would overlap an
/// earlier one is pushed away from it, so outputs never overlap.
pub fn logical_origins(monitors: &[PhysMonitor]) -> Vec<(i32, i32)> {
    let n = monitors.len();
    let mut placed: Vec<Option<(i32, i32)>> = vec![None; n];
    if n == 0 {
        return Vec::new();
    }
    let first = monitors.iter().position(|m| m.primary).unwrap_or(0);
    placed[first] = Some((0, 0));
    let mut order = vec![first];
    while order.len() < n {
        // A touching neighbour first, in placement order.
        let mut next = None;
        'search: for &i in &order {
            for j in 0..n {
                if placed[j].is_none() {
                    if let Some(at) = beside(&monitors[i], placed[i].unwrap(), &monitors[j]) {
                        next = Some((j, at));
                        break 'search;
                    }
                }
            }
        }
        let (j, at) = next.unwrap_or_else(|| {
            // Nothing touches: the unplaced monitor nearest to a placed one keeps its offset.
            let mut best: Option<(i64, usize, (i32, i32))> = None;
            for &i in &order {
                for j in (0..n).filter(|&j| placed[j].is_none()) {
                    let (pi, pj) = (monitors[i].rect, monitors[j].rect);
                    let gap = |a0: i32, a1: i32, b0: i32, b1: i32| (b0 - a1).max(a0 - b1).max(0) as i64;
                    let d = gap(pi.x, pi.x + pi.width, pj.x, pj.x + pj.width)
                        + gap(pi.y, pi.y + pi.height, pj.y, pj.y + pj.height);
                    if best.is_none_or(|b| d < b.0) {
                        let li = placed[i].unwrap();
                        let s = monitors[i].scale;
                        let at = (
                            li.0 + ((pj.x - pi.x) as f64 / s).round() as i32,
                            li.1 + ((pj.y - pi.y) as f64 / s).round() as i32,
                        );
                        best = Some((d, j, at));
                    }
                }
            }
            let (_, j, at) = best.expect("an unplaced monitor");
            (j, at)
        });
        placed[j] = Some(push_clear(monitors, &placed, j, at));
        order.push(j);
    }
    placed.into_iter().map(|p| p.unwrap()).collect()
}

/// `at` for monitor `j`, moved right or down (whichever is shorter) past every placed
/// monitor it would overlap.
fn push_clear(monitors: &[PhysMonitor], placed: &[Option<(i32, i32)>], j: usize, mut at: (i32, i32)) -> (i32, i32) {
    let (w, h) = monitors[j].logical_size();
    for _ in 0..=monitors.len() * 2 {
        let hit = placed.iter().enumerate().find_map(|(i, p)| {
            let p = (*p)?;
            let (iw, ih) = monitors[i].logical_size();
            (overlaps_range(at.0, at.0 + w, p.0, p.0 + iw) && overlaps_range(at.1, at.1 + h, p.1, p.1 + ih))
                .then_some((p, iw, ih))
        });
        let Some((p, iw, ih)) = hit else { return at };
        let (dx, dy) = (p.0 + iw - at.0, p.1 + ih - at.1);
        if dx <= dy {
            at.0 += dx;
        } else {
            at.1 += dy;
        }
    }
    at
}

/// A host point on a monitor to the logical space.
pub fn to_logical(physical: Rect, logical_origin: (i32, i32), scale: f64, x: f64, y: f64) -> (f64, f64) {
    (
        logical_origin.0 as f64 + (x - physical.x as f64) / scale,
        logical_origin.1 as f64 + (y - physical.y as f64) / scale,
    )
}

/// A logical rectangle on a monitor to host pixels (edges rounded to the nearest pixel, so
/// rectangles that touch in logical space touch on the host too).
pub fn to_physical(physical: Rect, logical_origin: (i32, i32), scale: f64, r: Rect) -> Rect {
    let px = |v: i32, origin: i32, host: i32| host + ((v - origin) as f64 * scale).round() as i32;
    let left = px(r.x, logical_origin.0, physical.x);
    let top = px(r.y, logical_origin.1, physical.y);
    let right = px(r.x + r.width, logical_origin.0, physical.x);
    let bottom = px(r.y + r.height, logical_origin.1, physical.y);
    Rect::new(left, top, right - left, bottom - top)
}

/// A host rectangle on a monitor to logical space (the inverse of [`to_physical`]).
pub fn rect_to_logical(physical: Rect, logical_origin: (i32, i32), scale: f64, r: Rect) -> Rect {
    let lg = |v: i32, host: i32, origin: i32| origin + ((v - host) as f64 / scale).round() as i32;
    let left = lg(r.x, physical.x, logical_origin.0);
    let top = lg(r.y, physical.y, logical_origin.1);
    let right = lg(r.x + r.width, physical.x, logical_origin.0);
    let bottom = lg(r.y + r.height, physical.y, logical_origin.1);
    Rect::new(left, top, right - left, bottom - top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mon(x: i32, y: i32, w: i32, h: i32, scale: f64, primary: bool) -> PhysMonitor {
        PhysMonitor { rect: Rect::new(x, y, w, h), scale, primary }
    }

    fn logical_rects(ms: &[PhysMonitor]) -> Vec<Rect> {
        logical_origins(ms)
            .into_iter()
            .zip(ms)
            .map(|(o, m)| {
                let (w, h) = m.logical_size();
                Rect::new(o.0, o.1, w, h)
            })
            .collect()
    }

    fn assert_no_overlap(rects: &[Rect]) {
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                assert_eq!(a.intersection_area(b), 0, "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn side_by_side_with_mixed_scales_touch() {
        let ms = [mon(0, 0, 1920, 1080, 1.5, true), mon(1920, 0, 3840, 2160, 2.0, false)];
        let r = logical_rects(&ms);
        assert_eq!(r[0], Rect::new(0, 0, 1280, 720));
        assert_eq!(r[1], Rect::new(1280, 0, 1920, 1080));
    }

    #[test]
    fn a_monitor_left_of_the_primary_has_negative_logical_coordinates() {
        let ms = [mon(0, 0, 2560, 1440, 1.25, true), mon(-1920, 300, 1920, 1080, 1.0, false)];
        let r = logical_rects(&ms);
        assert_eq!(r[0], Rect::new(0, 0, 2048, 1152));
        assert_eq!(r[1], Rect::new(-1920, 240, 1920, 1080));
    }

    #[test]
    fn stacked_with_an_offset() {
        let ms = [mon(0, 0, 1920, 1080, 1.0, true), mon(400, 1080, 2560, 1600, 2.0, false)];
        let r = logical_rects(&ms);
        assert_eq!(r[1], Rect::new(400, 1080, 1280, 800));
        let ms = [mon(0, 0, 1920, 1080, 2.0, true), mon(-300, -1200, 1600, 1200, 1.0, false)];
        let r = logical_rects(&ms);
        assert_eq!(r[0], Rect::new(0, 0, 960, 540));
        assert_eq!(r[1], Rect::new(-150, -1200, 1600, 1200));
    }

    #[test]
    fn an_l_shape_keeps_every_edge_and_never_overlaps() {
        // A B
        // C
        let ms = [
            mon(0, 0, 1920, 1080, 1.5, true),
            mon(1920, 0, 1920, 1080, 1.0, false),
            mon(0, 1080, 1920, 1200, 1.25, false),
        ];
        let r = logical_rects(&ms);
        assert_eq!(r[0], Rect::new(0, 0, 1280, 720));
        assert_eq!(r[1], Rect::new(1280, 0, 1920, 1080));
        // Right below A, C (wider in logical units than A) would overlap B: it moves down
        // past B. The host pointer still crosses A→C without a gap (it maps per monitor).
        assert_eq!(r[2], Rect::new(0, 1080, 1536, 960));
        assert_no_overlap(&r);
        // Without mixed scales, every edge is kept.
        let ms = [
            mon(0, 0, 1920, 1080, 1.5, true),
            mon(1920, 0, 1920, 1080, 1.5, false),
            mon(0, 1080, 1920, 1200, 1.5, false),
        ];
        assert_eq!(logical_rects(&ms)[2], Rect::new(0, 720, 1280, 800));
    }

    #[test]
    fn placements_that_would_overlap_are_pushed_apart() {
        // A(2x) B(1x)
        // C(1x) D(1x): C is placed below A (logical height 540), D right of B; D would
        // overlap nothing, C must not overlap B.
        let ms = [
            mon(0, 0, 1920, 1080, 2.0, true),
            mon(1920, 0, 1920, 1080, 1.0, false),
            mon(0, 1080, 1920, 1080, 1.0, false),
            mon(1920, 1080, 1920, 1080, 1.0, false),
        ];
        let r = logical_rects(&ms);
        assert_no_overlap(&r);
        assert_eq!(r[0], Rect::new(0, 0, 960, 540));
        assert_eq!(r[1], Rect::new(960, 0, 1920, 1080));
    }

    #[test]
    fn a_gap_keeps_its_offset() {
        let ms = [mon(0, 0, 1920, 1080, 1.0, true), mon(2000, 0, 1280, 1024, 1.0, false)];
        assert_eq!(logical_rects(&ms)[1], Rect::new(2000, 0, 1280, 1024));
    }

    #[test]
    fn the_primary_is_at_the_origin_wherever_it_is_listed() {
        let ms = [mon(-1280, 0, 1280, 1024, 1.0, false), mon(0, 0, 1920, 1080, 1.0, true)];
        assert_eq!(logical_origins(&ms), [(-1280, 0), (0, 0)]);
    }

    #[test]
    fn corners_map_exactly_both_ways() {
        let physical = Rect::new(1920, -200, 2560, 1600);
        let origin = (1280, -100);
        for scale in [1.0, 1.25, 1.5, 1.75, 2.0, 3.0] {
            let (lw, lh) = logical_size((2560, 1600), scale);
            let logical = Rect::new(origin.0, origin.1, lw, lh);
            assert_eq!(to_logical(physical, origin, scale, 1920.0, -200.0), (1280.0, -100.0));
            let (x, y) = to_logical(physical, origin, scale, (1920 + 2560) as f64, (-200 + 1600) as f64);
            assert!((x - (1280.0 + 2560.0 / scale)).abs() < 1e-9 && (y - (-100.0 + 1600.0 / scale)).abs() < 1e-9);
            // The whole output maps onto the whole monitor, within a pixel of rounding.
            let back = to_physical(physical, origin, scale, logical);
            assert_eq!((back.x, back.y), (physical.x, physical.y));
            assert!((back.width - physical.width).abs() <= scale.ceil() as i32, "{scale}: {back:?}");
            assert_eq!(rect_to_logical(physical, origin, scale, back), logical);
        }
    }
}
