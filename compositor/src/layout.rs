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
/// `i`'s logical units, and kept to where the two still share at least a logical pixel of
/// edge (with mixed scales, `j` starting far before `i` along the edge would otherwise end
/// before `i` begins, e.g. a 200 % monitor bottom-aligned right of a 100 % one).
fn beside(i: &PhysMonitor, li: (i32, i32), j: &PhysMonitor) -> Option<(i32, i32)> {
    let (pi, pj) = (i.rect, j.rect);
    let (iw, ih) = i.logical_size();
    let (jw, jh) = j.logical_size();
    let along = |d: i32, i_len: i32, j_len: i32| ((d as f64 / i.scale).round() as i32).clamp(1 - j_len, i_len - 1);
    let vertical_overlap = overlaps_range(pi.y, pi.y + pi.height, pj.y, pj.y + pj.height);
    let horizontal_overlap = overlaps_range(pi.x, pi.x + pi.width, pj.x, pj.x + pj.width);
    if vertical_overlap && pj.x == pi.x + pi.width {
        Some((li.0 + iw, li.1 + along(pj.y - pi.y, ih, jh)))
    } else if vertical_overlap && pj.x + pj.width == pi.x {
        Some((li.0 - jw, li.1 + along(pj.y - pi.y, ih, jh)))
    } else if horizontal_overlap && pj.y == pi.y + pi.height {
        Some((li.0 + along(pj.x - pi.x, iw, jw), li.1 + ih))
    } else if horizontal_overlap && pj.y + pj.height == pi.y {
        Some((li.0 + along(pj.x - pi.x, iw, jw), li.1 - jh))
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

/// Whether two rectangles share a stretch of edge of positive length (they lie side by side or
/// one above the other, without overlapping).
pub fn share_edge(a: Rect, b: Rect) -> bool {
    share_edge_within(a, b, 0)
}

/// As [`share_edge`], with edges up to `gap` apart counted as shared.
fn share_edge_within(a: Rect, b: Rect, gap: i32) -> bool {
    let near = |a_end: i32, b_start: i32| (0..=gap).contains(&(b_start - a_end));
    let side_by_side = (near(a.x + a.width, b.x) || near(b.x + b.width, a.x))
        && overlaps_range(a.y, a.y + a.height, b.y, b.y + b.height);
    let stacked = (near(a.y + a.height, b.y) || near(b.y + b.height, a.y))
        && overlaps_range(a.x, a.x + a.width, b.x, b.x + b.width);
    side_by_side || stacked
}

/// Checks what this module promises of `origins` (as [`logical_origins`] returns them) for
/// `monitors`, which must not overlap on the host: every output has a positive size; the
/// primary (else the first) is at (0,0); outputs never overlap; each output maps onto its
/// monitor exactly (corners both ways, and a logical rectangle through host pixels and
/// back); of two monitors that touch on the host, at least one touches some output in
/// logical space, and with one scale everywhere the two touch each other (up to a logical
/// pixel of rounding); and with one
/// scale everywhere, on a grid where that scale divides every coordinate, the
/// logical layout is exactly the host layout shrunk by the scale.
pub fn verify_invariants(monitors: &[PhysMonitor], origins: &[(i32, i32)]) -> Result<(), String> {
    if monitors.len() != origins.len() {
        return Err(format!("{} origins for {} monitors", origins.len(), monitors.len()));
    }
    if monitors.is_empty() {
        return Ok(());
    }
    let logical: Vec<Rect> = monitors
        .iter()
        .zip(origins)
        .map(|(m, o)| {
            let (w, h) = m.logical_size();
            Rect::new(o.0, o.1, w, h)
        })
        .collect();
    for (i, (m, l)) in monitors.iter().zip(&logical).enumerate() {
        if m.rect.width <= 0 || m.rect.height <= 0 || !(m.scale >= 1.0 && m.scale.is_finite()) {
            return Err(format!("monitor {i} is not a monitor: {m:?}"));
        }
        if l.width <= 0 || l.height <= 0 {
            return Err(format!("output {i} has no area: {l:?} for {m:?}"));
        }
    }
    for (i, a) in monitors.iter().enumerate() {
        for (j, b) in monitors.iter().enumerate().skip(i + 1) {
            if a.rect.intersection_area(&b.rect) > 0 {
                return Err(format!("monitors {i} and {j} overlap on the host: {:?} {:?}", a.rect, b.rect));
            }
        }
    }
    let first = monitors.iter().position(|m| m.primary).unwrap_or(0);
    if origins[first] != (0, 0) {
        return Err(format!("the primary (monitor {first}) is at {:?}, not (0,0)", origins[first]));
    }
    for (i, a) in logical.iter().enumerate() {
        for (j, b) in logical.iter().enumerate().skip(i + 1) {
            if a.intersection_area(b) > 0 {
                return Err(format!("outputs {i} and {j} overlap: {a:?} {b:?}"));
            }
        }
    }
    for (i, (m, l)) in monitors.iter().zip(&logical).enumerate() {
        let (p, s, o) = (m.rect, m.scale, origins[i]);
        // Host corners to logical: the top-left exactly, the bottom-right within the
        // rounding of the logical size.
        let (x0, y0) = to_logical(p, o, s, p.x as f64, p.y as f64);
        if (x0, y0) != (o.0 as f64, o.1 as f64) {
            return Err(format!("output {i}: host top-left {:?} maps to ({x0},{y0}), not {o:?}", (p.x, p.y)));
        }
        let (x1, y1) = to_logical(p, o, s, (p.x + p.width) as f64, (p.y + p.height) as f64);
        if (x1 - (l.x + l.width) as f64).abs() > 0.5 + 1e-9 || (y1 - (l.y + l.height) as f64).abs() > 0.5 + 1e-9 {
            return Err(format!("output {i}: host bottom-right maps to ({x1},{y1}), off the corner of {l:?}"));
        }
        // The host point p is L + (p - P) / s, and back.
        for (hx, hy) in [(p.x, p.y), (p.x + p.width / 3, p.y + p.height / 2), (p.x + p.width - 1, p.y + p.height - 1)] {
            let (lx, ly) = to_logical(p, o, s, hx as f64, hy as f64);
            let back = (p.x as f64 + (lx - o.0 as f64) * s, p.y as f64 + (ly - o.1 as f64) * s);
            if (back.0 - hx as f64).abs() > 1e-6 || (back.1 - hy as f64).abs() > 1e-6 {
                return Err(format!("output {i}: host ({hx},{hy}) -> logical ({lx},{ly}) -> host {back:?}"));
            }
        }
        // The whole output onto the whole monitor, within the rounding of the logical size.
        let host = to_physical(p, o, s, *l);
        let slack = s / 2.0 + 0.5;
        if (host.x, host.y) != (p.x, p.y)
            || (host.width - p.width).abs() as f64 > slack
            || (host.height - p.height).abs() as f64 > slack
        {
            return Err(format!("output {i}: {l:?} covers host {host:?}, not its monitor {p:?}"));
        }
        if rect_to_logical(p, o, s, host) != *l {
            return Err(format!("output {i}: {l:?} -> host {host:?} -> {:?}", rect_to_logical(p, o, s, host)));
        }
    }
    // Of two monitors that touch on the host, the one placed later was placed against a
    // neighbour it touches there, or pushed against the output it would have overlapped:
    // either way it shares an edge with some output. With one scale everywhere every touch
    // is kept, up to a logical pixel where sizes and offsets round differently.
    let scale = monitors[first].scale;
    let uniform = monitors.iter().all(|m| m.scale == scale);
    let touches_some = |j: usize| logical.iter().enumerate().any(|(i, li)| i != j && share_edge(*li, logical[j]));
    for (i, mi) in monitors.iter().enumerate() {
        for (j, mj) in monitors.iter().enumerate().skip(i + 1) {
            if !share_edge(mi.rect, mj.rect) || share_edge(logical[i], logical[j]) {
                continue;
            }
            let kept_within_rounding = share_edge_within(logical[i], logical[j], 1);
            if (uniform && !kept_within_rounding) || !(touches_some(i) || touches_some(j)) {
                return Err(format!(
                    "monitors {i} and {j} touch on the host, not in logical space: {:?} {:?}",
                    logical[i], logical[j]
                ));
            }
        }
    }
    let whole = |v: i32| (v as f64 / scale).fract() == 0.0;
    let base = monitors[first].rect;
    let on_grid = monitors.iter().all(|m| {
        m.scale == scale
            && whole(m.rect.x - base.x)
            && whole(m.rect.y - base.y)
            && whole(m.rect.width)
            && whole(m.rect.height)
    });
    if on_grid {
        for (i, m) in monitors.iter().enumerate() {
            let want = (((m.rect.x - base.x) as f64 / scale) as i32, ((m.rect.y - base.y) as f64 / scale) as i32);
            if origins[i] != want {
                return Err(format!("one scale {scale} on its grid: output {i} is at {:?}, not {want:?}", origins[i]));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mon(x: i32, y: i32, w: i32, h: i32, scale: f64, primary: bool) -> PhysMonitor {
        PhysMonitor { rect: Rect::new(x, y, w, h), scale, primary }
    }

    fn logical_rects(ms: &[PhysMonitor]) -> Vec<Rect> {
        let origins = logical_origins(ms);
        verify_invariants(ms, &origins).unwrap();
        origins
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
    fn a_monitor_reaching_far_before_its_neighbour_still_touches_it() {
        // A 200 % monitor right of a 100 % one, bottom edges aligned: 1080 up in the 100 %
        // monitor's units, its 1080 logical rows would end where the other one begins.
        let ms = [mon(0, 0, 1920, 1080, 1.0, true), mon(1920, -1080, 3840, 2160, 2.0, false)];
        assert_eq!(logical_rects(&ms)[1], Rect::new(1920, -1079, 1920, 1080));
        // Left of it, and above it reaching far to the left.
        let ms = [mon(0, 0, 1920, 1080, 1.0, true), mon(-1920, -865, 1920, 1080, 1.25, false)];
        assert_eq!(logical_rects(&ms)[1], Rect::new(-1536, -863, 1536, 864));
        let ms = [mon(0, 0, 1920, 1080, 1.0, true), mon(-3000, -1200, 3200, 1200, 3.0, false)];
        assert_eq!(logical_rects(&ms)[1], Rect::new(-1066, -400, 1067, 400));
    }

    #[test]
    fn the_invariants_catch_broken_layouts() {
        let ms = [mon(0, 0, 1920, 1080, 1.0, true), mon(1920, 0, 1920, 1080, 2.0, false)];
        assert_eq!(verify_invariants(&ms, &[(0, 0), (1920, 0)]), Ok(()));
        let err = |origins: &[(i32, i32)]| verify_invariants(&ms, origins).unwrap_err();
        assert!(err(&[(0, 0)]).contains("1 origins for 2 monitors"));
        assert!(err(&[(10, 0), (1930, 0)]).contains("not (0,0)"));
        assert!(err(&[(0, 0), (1900, 0)]).contains("overlap"));
        assert!(err(&[(0, 0), (1921, 0)]).contains("touch on the host, not in logical space"));
        let ms = [mon(0, 0, 1920, 1080, 1.5, true), mon(3000, 0, 1500, 1500, 1.5, false)];
        assert!(verify_invariants(&ms, &[(0, 0), (2001, 0)]).unwrap_err().contains("one scale 1.5 on its grid"));
        let ms = [mon(0, 0, 1920, 1080, 1.0, true), mon(1000, 0, 1920, 1080, 1.0, false)];
        assert!(verify_invariants(&ms, &[(0, 0), (1920, 0)]).unwrap_err().contains("overlap on the host"));
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
