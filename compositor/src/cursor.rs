//! The cursor as an image: a client's cursor surface rendered, or a named cursor
//! (cursor-shape protocol, defaults) from the xcursor theme, at the size the output's scale
//! asks for. Remoting backends hand it to the host, which draws it.
//!
//! While an app drags something (`wl_data_device.start_drag`) with an icon, the icon is part
//! of that image, under the cursor: the host moves its pointer itself, across all of its
//! windows, so the icon follows the pointer from one RemoteApp window to another (and over
//! the host's own windows) without a window of its own that would trail behind the pointer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smithay::input::pointer::{CursorIcon, CursorImageStatus, CursorImageSurfaceData};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Clock, Logical, Monotonic, Point};
use smithay::wayland::compositor::{with_states, with_surface_tree_downward, SurfaceAttributes, TraversalAction};

use crate::render::Composer;

/// Straight-alpha BGRA, top row first.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorImage {
    pub width: u32,
    pub height: u32,
    pub hot_x: u32,
    pub hot_y: u32,
    pub bgra: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CursorState {
    Hidden,
    Image(Arc<CursorImage>),
}

/// The base cursor size in logical pixels (XCURSOR_SIZE, default 24).
pub fn base_size() -> u32 {
    std::env::var("XCURSOR_SIZE").ok().and_then(|s| s.parse().ok()).filter(|s| (8..=256).contains(s)).unwrap_or(24)
}

/// Loads named cursors from the xcursor theme (XCURSOR_THEME, default "default"), cached.
pub struct CursorLoader {
    theme: xcursor::CursorTheme,
    cache: HashMap<(CursorIcon, u32), Option<Arc<CursorImage>>>,
}

impl Default for CursorLoader {
    fn default() -> Self {
        let name = std::env::var("XCURSOR_THEME").unwrap_or_else(|_| "default".into());
        Self { theme: xcursor::CursorTheme::load(&name), cache: HashMap::new() }
    }
}

impl CursorLoader {
    pub fn named(&mut self, icon: CursorIcon, size: u32) -> Option<Arc<CursorImage>> {
        if let Some(hit) = self.cache.get(&(icon, size)) {
            return hit.clone();
        }
        let loaded = std::iter::once(icon.name())
            .chain(icon.alt_names().iter().copied())
            .chain(["left_ptr", "default"])
            .find_map(|name| self.load(name, size))
            .map(Arc::new);
        if loaded.is_none() {
            tracing::warn!(
                cursor = icon.name(),
                "no cursor image in the xcursor theme (install a cursor theme, e.g. adwaita-icon-theme)"
            );
        }
        self.cache.insert((icon, size), loaded.clone());
        loaded
    }

    fn load(&self, name: &str, size: u32) -> Option<CursorImage> {
        let path = self.theme.load_icon(name)?;
        let bytes = std::fs::read(path).ok()?;
        let images = xcursor::parser::parse_xcursor(&bytes)?;
        // The nominal size closest to the one wanted; the first frame of animated cursors.
        let best = images.iter().min_by_key(|i| (i.size as i64 - size as i64).abs())?;
        let mut bgra = Vec::with_capacity(best.pixels_rgba.len());
        for px in best.pixels_rgba.chunks_exact(4) {
            bgra.extend_from_slice(&[px[2], px[1], px[0], px[3]]);
        }
        Some(CursorImage { width: best.width, height: best.height, hot_x: best.xhot, hot_y: best.yhot, bgra })
    }
}

/// The cursor the seat shows now, for an output of `scale`, with the icon of a drag in
/// progress under it.
pub fn current(
    status: &CursorImageStatus,
    loader: &mut CursorLoader,
    composer: &mut Composer,
    scale: f64,
) -> CursorState {
    let cursor = seat_cursor(status, loader, composer, scale);
    match composer.drag_icon().cloned() {
        Some(icon) => with_drag_icon(cursor, &icon, composer, scale),
        None => cursor,
    }
}

fn seat_cursor(
    status: &CursorImageStatus,
    loader: &mut CursorLoader,
    composer: &mut Composer,
    scale: f64,
) -> CursorState {
    let size = (base_size() as f64 * scale).round() as u32;
    match status {
        CursorImageStatus::Hidden => CursorState::Hidden,
        CursorImageStatus::Named(icon) => match loader.named(*icon, size) {
            Some(image) => CursorState::Image(image),
            None => CursorState::Hidden,
        },
        CursorImageStatus::Surface(surface) => match surface_image(surface, composer, scale) {
            Some(image) => CursorState::Image(Arc::new(image)),
            None => CursorState::Hidden,
        },
    }
}

fn surface_image(surface: &WlSurface, composer: &mut Composer, scale: f64) -> Option<CursorImage> {
    let hotspot = with_states(surface, |states| {
        states.data_map.get::<CursorImageSurfaceData>().map(|d| d.lock().unwrap().hotspot).unwrap_or_default()
    });
    let (frame, origin) = match composer.render_cursor(surface, scale) {
        Ok(Some(rendered)) => rendered,
        Ok(None) => return None,
        Err(err) => {
            tracing::warn!("rendering the cursor: {err:#}");
            return None;
        }
    };
    let bgra = to_bgra(&frame);
    let hot = |v: i32, o: i32, max: usize| ((v as f64 * scale).round() as i32 + o).clamp(0, max as i32 - 1) as u32;
    Some(CursorImage {
        width: frame.width as u32,
        height: frame.height as u32,
        hot_x: hot(hotspot.x, origin.x, frame.width),
        hot_y: hot(hotspot.y, origin.y, frame.height),
        bgra,
    })
}

/// Straight-alpha BGRA of a rendered frame.
fn to_bgra(frame: &crate::render::Frame<'_>) -> Vec<u8> {
    let rgba = frame.to_rgba();
    let mut bgra = Vec::with_capacity(rgba.len());
    for px in rgba.chunks_exact(4) {
        bgra.extend_from_slice(&[px[2], px[1], px[0], px[3]]);
    }
    bgra
}

/// Where a drag icon's surface origin is from the pointer's hot spot: (0, 0) at first, moved
/// by the offsets the client commits (attach dx/dy, `wl_surface.offset`). Kept in the
/// surface's data.
#[derive(Default)]
struct DragIconOffset(Mutex<Point<i32, Logical>>);

/// A drag starts with `surface` as its icon: it sits at the hot spot, moved by what its last
/// commit asked for. Returns whether the surface was never an icon before (then the caller
/// watches its commits, see [`drag_icon_committed`]).
pub fn drag_icon_started(surface: &WlSurface) -> bool {
    let first = with_states(surface, |states| {
        let first = states.data_map.insert_if_missing_threadsafe(DragIconOffset::default);
        *states.data_map.get::<DragIconOffset>().unwrap().0.lock().unwrap() = Point::default();
        first
    });
    drag_icon_committed(surface);
    first
}

/// A drag icon committed: what it moved by adds to its offset from the pointer.
pub fn drag_icon_committed(surface: &WlSurface) {
    with_states(surface, |states| {
        let delta = states.cached_state.get::<SurfaceAttributes>().current().buffer_delta.take();
        states.data_map.insert_if_missing_threadsafe(DragIconOffset::default);
        if let Some(delta) = delta {
            *states.data_map.get::<DragIconOffset>().unwrap().0.lock().unwrap() += delta;
        }
    });
}

fn drag_icon_offset(surface: &WlSurface) -> Point<i32, Logical> {
    with_states(surface, |states| {
        states.data_map.get::<DragIconOffset>().map(|o| *o.0.lock().unwrap()).unwrap_or_default()
    })
}

/// How far a drag image reaches left of and above the pointer's hot spot, and right of and
/// below it, in physical pixels: 256×256 at most. Hosts with the large-pointer capability
/// (mstsc, FreeRDP) take pointers up to 384×384; others get the top-left 96×96, which still
/// holds the hot spot and the cursor's tip. Apps centre text drag icons on the pointer, so
/// there is room on both sides.
const DRAG_IMAGE_BEFORE: i32 = 80;
const DRAG_IMAGE_AFTER: i32 = 176;

/// A picture placed relative to the pointer's hot spot (physical pixels, straight-alpha BGRA).
struct Placed<'a> {
    x: i32,
    y: i32,
    width: u32,
    height: u32,
    bgra: &'a [u8],
}

/// `cursor` drawn over the drag `icon` surface, whose origin is at the icon's offset from the
/// pointer. The icon's frame callbacks are answered here: the host got its picture.
fn with_drag_icon(cursor: CursorState, icon: &WlSurface, composer: &mut Composer, scale: f64) -> CursorState {
    let offset = drag_icon_offset(icon).to_f64().to_physical(scale).to_i32_round::<i32>();
    let rendered = match composer.render_cursor(icon, scale) {
        Ok(Some((frame, origin))) => Some((frame.width as u32, frame.height as u32, to_bgra(&frame), origin)),
        Ok(None) => None,
        Err(err) => {
            tracing::warn!("rendering the drag icon: {err:#}");
            None
        }
    };
    frames_done(icon);
    let Some((width, height, bgra, origin)) = rendered else { return cursor };
    let icon = Placed { x: offset.x - origin.x, y: offset.y - origin.y, width, height, bgra: &bgra };
    let pointer = match &cursor {
        CursorState::Image(image) => Some(Placed {
            x: -(image.hot_x as i32),
            y: -(image.hot_y as i32),
            width: image.width,
            height: image.height,
            bgra: &image.bgra,
        }),
        CursorState::Hidden => None,
    };
    let image = compose_drag_image(&icon, pointer.as_ref());
    tracing::debug!(
        icon = ?(icon.x, icon.y, icon.width, icon.height),
        image = ?(image.width, image.height, image.hot_x, image.hot_y),
        "drag image"
    );
    CursorState::Image(Arc::new(image))
}

/// The drag icon with the cursor over it as one cursor image, its hot spot where the
/// pointer's is, cut to [`DRAG_IMAGE_BEFORE`]/[`DRAG_IMAGE_AFTER`] around it.
fn compose_drag_image(icon: &Placed<'_>, cursor: Option<&Placed<'_>>) -> CursorImage {
    let layers: Vec<&Placed<'_>> = std::iter::once(icon).chain(cursor).collect();
    // The hot spot's own pixel is always inside.
    let (mut x0, mut y0, mut x1, mut y1) = (0, 0, 1, 1);
    for l in &layers {
        x0 = x0.min(l.x);
        y0 = y0.min(l.y);
        x1 = x1.max(l.x + l.width as i32);
        y1 = y1.max(l.y + l.height as i32);
    }
    let (x0, y0) = (x0.max(-DRAG_IMAGE_BEFORE), y0.max(-DRAG_IMAGE_BEFORE));
    let (x1, y1) = (x1.min(DRAG_IMAGE_AFTER), y1.min(DRAG_IMAGE_AFTER));
    let (width, height) = ((x1 - x0) as u32, (y1 - y0) as u32);
    let mut out = vec![0u8; width as usize * height as usize * 4];
    for l in layers {
        for sy in 0..l.height as i32 {
            let y = l.y + sy;
            if y < y0 || y >= y1 {
                continue;
            }
            for sx in 0..l.width as i32 {
                let x = l.x + sx;
                if x < x0 || x >= x1 {
                    continue;
                }
                let s = (sy as usize * l.width as usize + sx as usize) * 4;
                let d = ((y - y0) as usize * width as usize + (x - x0) as usize) * 4;
                over(&mut out[d..d + 4], &l.bgra[s..s + 4]);
            }
        }
    }
    CursorImage { width, height, hot_x: (-x0) as u32, hot_y: (-y0) as u32, bgra: out }
}

/// Straight-alpha `src` over `dst`, in place.
fn over(dst: &mut [u8], src: &[u8]) {
    let (sa, da) = (src[3] as u32, dst[3] as u32);
    if sa == 0 {
        return;
    }
    // Both in 255ths: a = sa + da·(1 − sa).
    let da_rest = da * (255 - sa) / 255;
    let a = sa + da_rest;
    for c in 0..3 {
        dst[c] = ((src[c] as u32 * sa + dst[c] as u32 * da_rest + a / 2) / a) as u8;
    }
    dst[3] = a as u8;
}

/// Answers the frame callbacks of a surface tree (one drawn into the cursor image).
fn frames_done(surface: &WlSurface) {
    let now: Duration = Clock::<Monotonic>::new().now().into();
    let time = now.as_millis() as u32;
    with_surface_tree_downward(
        surface,
        (),
        |_, _, _| TraversalAction::DoChildren(()),
        |_, states, _| {
            let callbacks: Vec<_> =
                states.cached_state.get::<SurfaceAttributes>().current().frame_callbacks.drain(..).collect();
            for callback in callbacks {
                callback.done(time);
            }
        },
        |_, _, _| true,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, bgra: [u8; 4]) -> Vec<u8> {
        bgra.repeat((width * height) as usize)
    }

    fn pixel(image: &CursorImage, x: u32, y: u32) -> [u8; 4] {
        let o = ((y * image.width + x) * 4) as usize;
        image.bgra[o..o + 4].try_into().unwrap()
    }

    #[test]
    fn the_cursor_is_drawn_over_the_icon_with_the_hot_spot_kept() {
        let (icon_px, cursor_px) = (solid(40, 20, [0, 0, 255, 255]), solid(10, 10, [255, 0, 0, 255]));
        // Icon from (-5, -5) to (35, 15); cursor from (-2, -1) to (8, 9).
        let icon = Placed { x: -5, y: -5, width: 40, height: 20, bgra: &icon_px };
        let cursor = Placed { x: -2, y: -1, width: 10, height: 10, bgra: &cursor_px };
        let image = compose_drag_image(&icon, Some(&cursor));
        assert_eq!((image.width, image.height, image.hot_x, image.hot_y), (40, 20, 5, 5));
        assert_eq!(pixel(&image, 5, 5), [255, 0, 0, 255], "the cursor is on top at the hot spot");
        assert_eq!(pixel(&image, 30, 15), [0, 0, 255, 255], "the icon shows beside the cursor");
    }

    #[test]
    fn a_far_or_large_icon_is_cut_around_the_hot_spot() {
        let icon_px = solid(600, 600, [0, 255, 0, 255]);
        let icon = Placed { x: -300, y: 20, width: 600, height: 600, bgra: &icon_px };
        let image = compose_drag_image(&icon, None);
        let size = (DRAG_IMAGE_BEFORE + DRAG_IMAGE_AFTER) as u32;
        assert_eq!((image.width, image.height), (size, DRAG_IMAGE_AFTER as u32));
        assert_eq!((image.hot_x, image.hot_y), (DRAG_IMAGE_BEFORE as u32, 0));
        assert_eq!(pixel(&image, 0, 0)[3], 0, "above the icon is see-through");
        assert_eq!(pixel(&image, 0, 25), [0, 255, 0, 255]);
    }

    #[test]
    fn translucent_over_opaque_blends() {
        let mut dst = [0, 0, 200, 255];
        over(&mut dst, &[200, 0, 0, 128]);
        assert_eq!(dst[3], 255);
        assert!((99..=101).contains(&dst[0]) && (98..=100).contains(&dst[2]), "{dst:?}");
        let mut clear = [0, 0, 0, 0];
        over(&mut clear, &[10, 20, 30, 40]);
        assert_eq!(clear, [10, 20, 30, 40]);
    }
}
