//! Window icons for hosts that show them (RemoteApp taskbar entries): the app's own
//! xdg-toplevel-icon, else the icon of its desktop entry (found by app id) from the icon
//! theme, scaled to the size asked for. X11 windows: their `_NET_WM_ICON`, else the same.
//! Desktop-entry and icon-theme lookup, PNG decoding and scaling are `wayrail_applist`'s,
//! shared with the app list; window icons take PNG files only, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::compositor::with_states;
use smithay::wayland::shm;
use smithay::wayland::xdg_toplevel_icon::ToplevelIconCachedState;
#[cfg(test)]
use wayrail_applist::entries::desktop_icon;
use wayrail_applist::entries::desktop_text_icon;
use wayrail_applist::icons::{find_icon_file, load_png, pad_square, png_pixels, Lookup};
pub use wayrail_applist::icons::{scale_square, MAX_ICON_SIDE};
use wayrail_xwayland::icon::IconImage;

/// Straight-alpha BGRA, top row first, `size`×`size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icon {
    pub size: u32,
    pub bgra: Vec<u8>,
}

/// The `_NET_WM_ICON` images of an X11 window, shared by its `X11Surface` (where they are read
/// into) and its wl_surface (where [`IconLoader::for_toplevel`] looks).
#[derive(Default, Clone)]
pub struct X11IconSlot(pub Arc<Mutex<Vec<IconImage>>>);

/// An X11 window's own icon, the image nearest `size` (larger preferred), squared and scaled.
fn x11_icon(surface: &WlSurface, size: u32) -> Option<Icon> {
    let images = with_states(surface, |s| s.data_map.get::<X11IconSlot>().map(|slot| slot.0.lock().unwrap().clone()))?;
    best_x11_icon(&images, size)
}

/// The image of `images` nearest `size` (larger preferred), squared and scaled.
fn best_x11_icon(images: &[IconImage], size: u32) -> Option<Icon> {
    let side = |i: &IconImage| i.width.max(i.height);
    let mut best: Option<&IconImage> = None;
    for image in images.iter().filter(|i| side(i) <= MAX_ICON_SIDE) {
        let better = best.is_none_or(|b| {
            (side(b) < size && side(image) > side(b)) || (side(image) >= size && side(image) < side(b))
        });
        if better {
            best = Some(image);
        }
    }
    let best = best?;
    let square = pad_square(&best.rgba, best.width, best.height);
    Some(rgba_to_bgra(scale_square(&square, side(best), size), size))
}

/// Finds and caches themed icons by name and size.
#[derive(Default)]
pub struct IconLoader {
    by_name: HashMap<(String, u32), Option<Icon>>,
    desktop_icon: HashMap<String, Option<String>>,
}

impl IconLoader {
    /// The icon of a toplevel: its xdg-toplevel-icon buffers or name, else its app's icon.
    pub fn for_toplevel(&mut self, surface: &WlSurface, app_id: &str, size: u32) -> Option<Icon> {
        if let Some(icon) = x11_icon(surface, size) {
            return Some(icon);
        }
        let (buffers, name) = with_states(surface, |states| {
            let mut cached = states.cached_state.get::<ToplevelIconCachedState>();
            let current = cached.current();
            (current.buffers().to_vec(), current.icon_name().map(str::to_string))
        });
        // The buffer nearest the size wanted, larger preferred.
        let mut best: Option<Icon> = None;
        for (buffer, scale) in &buffers {
            let icon = shm::with_buffer_contents(buffer, |ptr, len, data| {
                let (w, h, stride) = (data.width as usize, data.height as usize, data.stride as usize);
                let start = data.offset as usize;
                if w == 0 || w != h || w > MAX_ICON_SIDE as usize || start + stride * h > len {
                    return None;
                }
                // SAFETY: the range was checked against the pool's length just above.
                let bytes = unsafe { std::slice::from_raw_parts(ptr.add(start), stride * h) };
                let mut rgba = Vec::with_capacity(w * h * 4);
                for row in 0..h {
                    for px in bytes[row * stride..row * stride + w * 4].chunks_exact(4) {
                        // wl_shm ARGB8888 is premultiplied, B G R A in memory.
                        let a = px[3] as u32;
                        let un = |c: u8| (c as u32 * 255 + a / 2).checked_div(a).map_or(0, |v| v.min(255) as u8);
                        rgba.extend_from_slice(&[un(px[2]), un(px[1]), un(px[0]), px[3]]);
                    }
                }
                Some((w as u32, rgba))
            })
            .ok()
            .flatten();
            let Some((w, rgba)) = icon else { continue };
            let _ = scale;
            let better = best.as_ref().is_none_or(|b| (b.size < size && w > b.size) || (w >= size && w < b.size));
            if better {
                best = Some(Icon { size: w, bgra: rgba });
            }
        }
        if let Some(icon) = best {
            return Some(rgba_to_bgra(scale_square(&icon.bgra, icon.size, size), size));
        }
        if let Some(name) = name {
            if let Some(icon) = self.named(&name, size) {
                return Some(icon);
            }
        }
        let name = self.desktop_entry_icon(app_id)?;
        self.named(&name, size)
    }

    /// A themed icon by name (or an absolute path), PNG only.
    pub fn named(&mut self, name: &str, size: u32) -> Option<Icon> {
        let key = (name.to_string(), size);
        if let Some(hit) = self.by_name.get(&key) {
            return hit.clone();
        }
        let icon =
            find_icon_file(name, size, &Lookup::default()).and_then(|path| load_png(&path)).map(|(w, h, rgba)| {
                let square = if w == h { rgba } else { pad_square(&rgba, w, h) };
                rgba_to_bgra(scale_square(&square, w.max(h), size), size)
            });
        if icon.is_none() {
            tracing::debug!(name, size, "no PNG icon found");
        }
        self.by_name.insert(key, icon.clone());
        icon
    }

    /// The Icon= of the desktop entry for an app id (`<app_id>.desktop`, or one whose
    /// StartupWMClass is the app id).
    pub fn desktop_entry_icon(&mut self, app_id: &str) -> Option<String> {
        if app_id.is_empty() {
            return None;
        }
        if let Some(hit) = self.desktop_icon.get(app_id) {
            return hit.clone();
        }
        let found =
            wayrail_applist::entries::icon_for_app_id(&wayrail_applist::entries::application_dirs(None), app_id);
        self.desktop_icon.insert(app_id.to_string(), found.clone());
        found
    }
}

/// For the fuzz targets: [`best_x11_icon`].
#[doc(hidden)]
pub fn fuzz_x11_icon(images: &[IconImage], size: u32) -> Option<Icon> {
    best_x11_icon(images, size)
}

/// For the fuzz targets: [`desktop_text_icon`].
#[doc(hidden)]
pub fn fuzz_desktop_icon(text: &str, wm_class: Option<&str>) -> Option<String> {
    desktop_text_icon(text, wm_class)
}

/// For the fuzz targets: a PNG icon file's bytes as a themed icon of `size` is made from them.
#[doc(hidden)]
pub fn fuzz_png_icon(data: &[u8], size: u32) -> Option<Icon> {
    let (w, h, rgba) = png_pixels(data)?;
    let square = if w == h { rgba } else { pad_square(&rgba, w, h) };
    Some(rgba_to_bgra(scale_square(&square, w.max(h), size), size))
}

fn rgba_to_bgra(rgba: Vec<u8>, size: u32) -> Icon {
    let mut bgra = rgba;
    for px in bgra.chunks_exact_mut(4) {
        px.swap(0, 2);
    }
    Icon { size, bgra }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header().unwrap().write_image_data(&vec![255; (w * h * 4) as usize]).unwrap();
        out
    }

    #[test]
    fn png_icons_larger_than_the_limit_are_refused() {
        assert_eq!(fuzz_png_icon(&png_of(MAX_ICON_SIDE, 2), 16).map(|i| i.size), Some(16));
        assert_eq!(fuzz_png_icon(&png_of(MAX_ICON_SIDE + 1, 2), 16), None);
    }

    #[test]
    fn scaling_keeps_colour_and_alpha() {
        let red: Vec<u8> = (0..64 * 64).flat_map(|_| [255, 0, 0, 255]).collect();
        let s = scale_square(&red, 64, 32);
        assert_eq!(s.len(), 32 * 32 * 4);
        assert_eq!(&s[..4], &[255, 0, 0, 255]);
        let up = scale_square(&red, 64, 96);
        assert_eq!(up.len(), 96 * 96 * 4);
        // Half transparent, half opaque blue: the colour stays pure blue.
        let mixed: Vec<u8> = (0..4).flat_map(|i| if i % 2 == 0 { [0, 0, 0, 0] } else { [0, 0, 255, 255] }).collect();
        assert_eq!(scale_square(&mixed, 2, 1), vec![0, 0, 255, 127]);
    }

    #[test]
    fn desktop_entries() {
        let dir = std::env::temp_dir().join(format!("wayrail-icons-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.desktop");
        std::fs::write(
            &f,
            "[Desktop Entry]\nName=X\nIcon=xicon\nStartupWMClass=XClass\n[Desktop Action new]\nIcon=other\n",
        )
        .unwrap();
        assert_eq!(desktop_icon(&f, None).as_deref(), Some("xicon"));
        assert_eq!(desktop_icon(&f, Some("xclass")).as_deref(), Some("xicon"));
        assert_eq!(desktop_icon(&f, Some("y")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
