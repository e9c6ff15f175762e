//! Icons by name, as the Icon Theme Specification finds them: the configured theme, then
//! hicolor (and Adwaita, which most GTK apps assume), in every base folder
//! (`$XDG_DATA_HOME/icons`, `~/.icons`, each `$XDG_DATA_DIRS/icons`), then the pixmaps folders;
//! an absolute path is taken as it is. PNG files are decoded with `png`, SVG ones rendered with
//! `resvg`. Everything comes out as a square of straight-alpha RGBA at the size asked for.
//!
//! The compositor's window icons and the app list's start-menu icons both use this.

use std::path::{Path, PathBuf};

/// The largest icon image decoded (a side, pixels); larger ones are passed over.
pub const MAX_ICON_SIDE: u32 = 1024;

/// Which files a lookup takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    /// A theme searched before hicolor.
    pub theme: Option<String>,
    /// SVG files too (scalable folders, pixmaps).
    pub svg: bool,
    /// Base folders in place of the ones from the environment (the app list's configured
    /// data folders); their `icons` folders are searched, and the pixmaps in them.
    pub data_dirs: Option<Vec<PathBuf>>,
}

/// The icon base folders, in order, and the pixmaps folders.
fn bases(lookup: &Lookup) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut data = Vec::new();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()).map(PathBuf::from) {
        data.push(d);
    } else if let Some(h) = &home {
        data.push(h.join(".local/share"));
    }
    match &lookup.data_dirs {
        Some(dirs) => data.extend(dirs.iter().cloned()),
        None => {
            let dirs = std::env::var("XDG_DATA_DIRS")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
            data.extend(dirs.split(':').filter(|d| Path::new(d).is_absolute()).map(PathBuf::from));
        }
    }
    let mut icons: Vec<PathBuf> = data.iter().map(|d| d.join("icons")).collect();
    if let Some(h) = &home {
        icons.insert(1.min(icons.len()), h.join(".icons"));
    }
    let mut pixmaps: Vec<PathBuf> = data.iter().map(|d| d.join("pixmaps")).collect();
    if lookup.data_dirs.is_none() && !pixmaps.iter().any(|p| p == Path::new("/usr/share/pixmaps")) {
        pixmaps.push(PathBuf::from("/usr/share/pixmaps"));
    }
    (icons, pixmaps)
}

/// The file of icon `name` nearest `size`: the size itself first, then larger ones (scaled
/// down), scalable ones (with `svg`), then smaller ones.
pub fn find_icon_file(name: &str, size: u32, lookup: &Lookup) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.starts_with('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    // A name is a name: no path tricks into other folders.
    if name.contains('/') || name == ".." {
        return None;
    }
    let (bases, pixmaps) = bases(lookup);
    let exts: &[&str] = if lookup.svg { &["png", "svg"] } else { &["png"] };
    let mut sizes = vec![format!("{size}x{size}")];
    sizes.extend(
        [16u32, 22, 24, 32, 48, 64, 96, 128, 256, 512].iter().filter(|s| **s > size).map(|s| format!("{s}x{s}")),
    );
    if lookup.svg {
        sizes.push("scalable".into());
    }
    sizes.extend([256u32, 128, 96, 64, 48, 32, 24, 22, 16].iter().filter(|s| **s < size).map(|s| format!("{s}x{s}")));
    let mut themes: Vec<&str> = lookup.theme.as_deref().into_iter().collect();
    themes.extend(["hicolor", "Adwaita"].iter().filter(|t| Some(**t) != lookup.theme.as_deref()));
    for theme in themes {
        for s in &sizes {
            for base in &bases {
                for category in ["apps", "legacy", "places", "devices", "mimetypes", "categories"] {
                    for ext in exts {
                        let p = base.join(theme).join(s).join(category).join(format!("{name}.{ext}"));
                        if p.is_file() {
                            return Some(p);
                        }
                    }
                }
            }
        }
    }
    pixmaps.iter().flat_map(|d| exts.iter().map(move |e| d.join(format!("{name}.{e}")))).find(|p| p.is_file())
}

/// An icon file (PNG, or SVG by its extension) as a `size`×`size` square of straight RGBA.
pub fn load_icon(path: &Path, size: u32) -> Option<Vec<u8>> {
    let data = std::fs::read(path).ok()?;
    if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
        return render_svg(&data, size);
    }
    let (w, h, rgba) = png_pixels(data.as_slice())?;
    Some(square_scaled(rgba, w, h, size))
}

/// `rgba` of `w`×`h`, centred on a transparent square and scaled to `size`.
pub fn square_scaled(rgba: Vec<u8>, w: u32, h: u32, size: u32) -> Vec<u8> {
    let square = if w == h { rgba } else { pad_square(&rgba, w, h) };
    scale_square(&square, w.max(h), size)
}

/// Renders an SVG into a `size`×`size` square (kept in proportion, centred), straight RGBA.
pub fn render_svg(data: &[u8], size: u32) -> Option<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    if size == 0 || size > MAX_ICON_SIDE {
        return None;
    }
    let tree = usvg::Tree::from_data(data, &usvg::Options::default()).ok()?;
    let (w, h) = (tree.size().width(), tree.size().height());
    if !(w > 0.0 && h > 0.0) {
        return None;
    }
    let scale = size as f32 / w.max(h);
    let (dx, dy) = ((size as f32 - w * scale) / 2.0, (size as f32 - h * scale) / 2.0);
    let mut pixmap = tiny_skia::Pixmap::new(size, size)?;
    let transform = tiny_skia::Transform::from_row(scale, 0.0, 0.0, scale, dx, dy);
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    // tiny-skia keeps premultiplied RGBA.
    Some(
        pixmap
            .data()
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                let un = |c: u8| (u32::from(c) * 255 + a / 2).checked_div(a).map_or(0, |v| v.min(255) as u8);
                [un(p[0]), un(p[1]), un(p[2]), p[3]]
            })
            .collect(),
    )
}

/// A PNG file's size and straight-alpha RGBA.
pub fn load_png(path: &Path) -> Option<(u32, u32, Vec<u8>)> {
    let file = std::fs::File::open(path).ok()?;
    png_pixels(std::io::BufReader::new(file))
}

/// A PNG's size and straight-alpha RGBA pixels; None for what an icon cannot be.
pub fn png_pixels(reader: impl std::io::Read) -> Option<(u32, u32, Vec<u8>)> {
    let mut decoder = png::Decoder::new(reader);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().ok()?;
    // The header's size alone would have the buffer allocated: a few bytes could ask for GiBs.
    let (w, h) = reader.info().size();
    if w > MAX_ICON_SIDE || h > MAX_ICON_SIDE {
        tracing::debug!(w, h, "PNG icon too large");
        return None;
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).ok()?;
    let (w, h) = (info.width, info.height);
    let px = (w * h) as usize;
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf[..px * 4].to_vec(),
        png::ColorType::Rgb => buf[..px * 3].chunks_exact(3).flat_map(|c| [c[0], c[1], c[2], 255]).collect(),
        png::ColorType::GrayscaleAlpha => {
            buf[..px * 2].chunks_exact(2).flat_map(|c| [c[0], c[0], c[0], c[1]]).collect()
        }
        png::ColorType::Grayscale => buf[..px].iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => return None,
    };
    Some((w, h, rgba))
}

/// `rgba` of `w`×`h` centred on a transparent square.
pub fn pad_square(rgba: &[u8], w: u32, h: u32) -> Vec<u8> {
    let n = w.max(h) as usize;
    let mut out = vec![0u8; n * n * 4];
    let (ox, oy) = ((n - w as usize) / 2, (n - h as usize) / 2);
    for y in 0..h as usize {
        let src = &rgba[y * w as usize * 4..(y + 1) * w as usize * 4];
        let dst = ((y + oy) * n + ox) * 4;
        out[dst..dst + src.len()].copy_from_slice(src);
    }
    out
}

/// Box-filters (down) or nearest-neighbour scales (up) a square RGBA image.
pub fn scale_square(rgba: &[u8], from: u32, to: u32) -> Vec<u8> {
    if from == to {
        return rgba.to_vec();
    }
    let (f, t) = (from as usize, to as usize);
    let mut out = Vec::with_capacity(t * t * 4);
    for y in 0..t {
        for x in 0..t {
            let (x0, x1) = (x * f / t, ((x + 1) * f / t).max(x * f / t + 1).min(f));
            let (y0, y1) = (y * f / t, ((y + 1) * f / t).max(y * f / t + 1).min(f));
            let mut acc = [0u32; 4];
            let mut n = 0u32;
            for sy in y0..y1 {
                for sx in x0..x1 {
                    let p = &rgba[(sy * f + sx) * 4..(sy * f + sx) * 4 + 4];
                    // Weight colour by alpha so transparent pixels do not darken edges.
                    let a = p[3] as u32;
                    acc[0] += p[0] as u32 * a;
                    acc[1] += p[1] as u32 * a;
                    acc[2] += p[2] as u32 * a;
                    acc[3] += a;
                    n += 1;
                }
            }
            let a = acc[3];
            let c = |v: u32| v.checked_div(a).unwrap_or(0) as u8;
            out.extend_from_slice(&[c(acc[0]), c(acc[1]), c(acc[2]), (a / n.max(1)) as u8]);
        }
    }
    out
}

/// RGBA to BGRA in place.
pub fn rgba_to_bgra(mut rgba: Vec<u8>) -> Vec<u8> {
    for px in rgba.chunks_exact_mut(4) {
        px.swap(0, 2);
    }
    rgba
}

/// The icon of entries that have none to be found: a window drawn as a dark title bar over a
/// light body, so that it is recognisably an app and which way is up. Straight RGBA.
pub fn default_icon(size: u32) -> Vec<u8> {
    let n = size as i64;
    let margin = (n / 8).max(1);
    let bar = (n / 4).max(1);
    let mut out = Vec::with_capacity((n * n * 4) as usize);
    for y in 0..n {
        for x in 0..n {
            let inside = x >= margin && x < n - margin && y >= margin && y < n - margin;
            let px = if !inside {
                [0, 0, 0, 0]
            } else if y < margin + bar {
                [0x2e, 0x34, 0x40, 0xff]
            } else {
                [0xd8, 0xde, 0xe9, 0xff]
            };
            out.extend_from_slice(&px);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// A PNG, top half red, bottom half blue.
    fn red_over_blue_png(side: u32) -> Vec<u8> {
        let rgba: Vec<u8> = (0..side * side)
            .flat_map(|i| if i / side < side / 2 { [255, 0, 0, 255] } else { [0, 0, 255, 255] })
            .collect();
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header().unwrap().write_image_data(&rgba).unwrap();
        out
    }

    const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">
        <rect x="0" y="0" width="16" height="8" fill="#00ff00"/>
        <rect x="0" y="8" width="16" height="8" fill="#ff00ff"/></svg>"##;

    #[test]
    fn png_and_svg_come_out_square_at_the_size_asked_for() {
        let png = red_over_blue_png(64);
        let (w, h, rgba) = png_pixels(png.as_slice()).unwrap();
        let icon = square_scaled(rgba, w, h, 32);
        assert_eq!(icon.len(), 32 * 32 * 4);
        assert_eq!(&icon[..4], &[255, 0, 0, 255], "top is red");
        assert_eq!(&icon[icon.len() - 4..], &[0, 0, 255, 255], "bottom is blue");

        let svg = render_svg(SVG.as_bytes(), 48).unwrap();
        assert_eq!(svg.len(), 48 * 48 * 4);
        assert_eq!(&svg[..4], &[0, 255, 0, 255]);
        assert_eq!(&svg[svg.len() - 4..], &[255, 0, 255, 255]);
        assert!(render_svg(b"not svg", 48).is_none());
    }

    #[test]
    fn themes_sizes_scalable_and_pixmaps() {
        let d = tempfile::tempdir().unwrap();
        let share = d.path().join("share");
        write(&share.join("icons/hicolor/48x48/apps/app.png"), &red_over_blue_png(48));
        write(&share.join("icons/hicolor/scalable/apps/vector.svg"), SVG.as_bytes());
        write(&share.join("icons/MyTheme/32x32/apps/app.png"), &red_over_blue_png(32));
        write(&share.join("pixmaps/old.png"), &red_over_blue_png(16));
        let lookup = |theme: Option<&str>, svg| Lookup {
            theme: theme.map(str::to_string),
            svg,
            data_dirs: Some(vec![share.clone()]),
        };
        let found = find_icon_file("app", 32, &lookup(None, true)).unwrap();
        assert!(found.ends_with("hicolor/48x48/apps/app.png"), "{found:?}");
        let themed = find_icon_file("app", 32, &lookup(Some("MyTheme"), true)).unwrap();
        assert!(themed.ends_with("MyTheme/32x32/apps/app.png"), "{themed:?}");
        assert!(find_icon_file("vector", 32, &lookup(None, true)).unwrap().ends_with("scalable/apps/vector.svg"));
        assert_eq!(find_icon_file("vector", 32, &lookup(None, false)), None, "no SVG unless asked for");
        assert!(find_icon_file("old", 32, &lookup(None, true)).unwrap().ends_with("pixmaps/old.png"));
        assert_eq!(find_icon_file("../app", 32, &lookup(None, true)), None);
        let abs = share.join("pixmaps/old.png");
        assert_eq!(find_icon_file(abs.to_str().unwrap(), 32, &lookup(None, true)), Some(abs.clone()));
        assert_eq!(load_icon(&abs, 24).unwrap().len(), 24 * 24 * 4);
    }

    #[test]
    fn the_default_icon_is_not_blank_and_has_a_top() {
        let icon = default_icon(32);
        assert_eq!(icon.len(), 32 * 32 * 4);
        let at = |x: usize, y: usize| &icon[(y * 32 + x) * 4..(y * 32 + x) * 4 + 4];
        assert_eq!(at(16, 5), &[0x2e, 0x34, 0x40, 0xff], "the title bar");
        assert_eq!(at(16, 26), &[0xd8, 0xde, 0xe9, 0xff], "the body");
        assert_eq!(at(0, 0)[3], 0, "transparent around");
    }
}
