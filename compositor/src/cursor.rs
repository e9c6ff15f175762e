//! The cursor as an image: a client's cursor surface rendered, or a named cursor
//! (cursor-shape protocol, defaults) from the xcursor theme, at the size the output's scale
//! asks for. Remoting backends hand it to the host, which draws it.

use std::collections::HashMap;
use std::sync::Arc;

use smithay::input::pointer::{CursorIcon, CursorImageStatus, CursorImageSurfaceData};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::compositor::with_states;

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

/// The cursor the seat shows now, for an output of `scale`.
pub fn current(
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
    let rgba = frame.to_rgba();
    let mut bgra = Vec::with_capacity(rgba.len());
    for px in rgba.chunks_exact(4) {
        bgra.extend_from_slice(&[px[2], px[1], px[0], px[3]]);
    }
    let hot = |v: i32, o: i32, max: usize| ((v as f64 * scale).round() as i32 + o).clamp(0, max as i32 - 1) as u32;
    Some(CursorImage {
        width: frame.width as u32,
        height: frame.height as u32,
        hot_x: hot(hotspot.x, origin.x, frame.width),
        hot_y: hot(hotspot.y, origin.y, frame.height),
        bgra,
    })
}
