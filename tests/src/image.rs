//! Pixels for assertions: rectangles from `wayrail msg` JSON, PNG images and their
//! comparisons.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;

/// A rectangle in the compositor's global logical space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl Rect {
    /// The rectangle of a window or output JSON object (`x`, `y`, `width`, `height`).
    pub fn of(v: &Value) -> Rect {
        let n = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("no number {k:?} in {v}")) as i32;
        Rect { x: n("x"), y: n("y"), width: n("width"), height: n("height") }
    }

    pub fn contains_rect(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.x + other.width <= self.x + self.width
            && other.y + other.height <= self.y + self.height
    }

    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.width && y < self.y + self.height
    }
}

/// A decoded PNG as RGBA8.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Image {
    pub fn load(path: &Path) -> anyhow::Result<Image> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut decoder = png::Decoder::new(file);
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().with_context(|| format!("decoding {}", path.display()))?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf)?;
        buf.truncate(info.buffer_size());
        let rgba = match info.color_type {
            png::ColorType::Rgba => buf,
            png::ColorType::Rgb => buf.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
            png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
            png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
            other => bail!("{}: unexpected PNG color type {other:?}", path.display()),
        };
        Ok(Image { width: info.width, height: info.height, rgba })
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        assert!(x < self.width && y < self.height, "pixel {x},{y} outside {}x{}", self.width, self.height);
        let i = ((y * self.width + x) * 4) as usize;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }

    pub fn rgb(&self, x: u32, y: u32) -> [u8; 3] {
        let [r, g, b, _] = self.pixel(x, y);
        [r, g, b]
    }

    /// How many pixels of `rect` (image coordinates) differ in colour between two images.
    pub fn count_differences(&self, other: &Image, rect: Rect) -> usize {
        let mut n = 0;
        for y in rect.y.max(0)..(rect.y + rect.height).min(self.height.min(other.height) as i32) {
            for x in rect.x.max(0)..(rect.x + rect.width).min(self.width.min(other.width) as i32) {
                if self.rgb(x as u32, y as u32) != other.rgb(x as u32, y as u32) {
                    n += 1;
                }
            }
        }
        n
    }

    /// How many distinct colours `rect` holds (capped at `cap`): tells content from a flat fill.
    pub fn distinct_colors(&self, rect: Rect, cap: usize) -> usize {
        let mut seen = std::collections::HashSet::new();
        for y in rect.y.max(0)..(rect.y + rect.height).min(self.height as i32) {
            for x in rect.x.max(0)..(rect.x + rect.width).min(self.width as i32) {
                seen.insert(self.rgb(x as u32, y as u32));
                if seen.len() >= cap {
                    return cap;
                }
            }
        }
        seen.len()
    }
}

/// Where in `needle` the pixels of `area` of `haystack` are: the offset `(ox, oy)` such that
/// `needle[ox + dx, oy + dy] == haystack[area.x + dx, area.y + dy]` on a 12x12 grid of samples.
/// For finding a window's visible part inside its own screenshot (which may hold shadows).
pub fn locate(haystack: &Image, area: Rect, needle: &Image) -> Option<(i32, i32)> {
    let points = sample_grid(area.width, area.height, 12);
    let max_x = needle.width as i32 - area.width;
    let max_y = needle.height as i32 - area.height;
    for oy in 0..=max_y {
        for ox in 0..=max_x {
            let all = points.iter().all(|&(dx, dy)| {
                close_rgb(
                    haystack.rgb((area.x + dx) as u32, (area.y + dy) as u32),
                    needle.rgb((ox + dx) as u32, (oy + dy) as u32),
                    2,
                )
            });
            if all {
                return Some((ox, oy));
            }
        }
    }
    None
}

/// Points of an evenly spaced `n`×`n` grid inside a `width`×`height` area (offsets from its corner).
pub fn sample_grid(width: i32, height: i32, n: i32) -> Vec<(i32, i32)> {
    let mut points = Vec::new();
    for j in 0..n {
        for i in 0..n {
            points.push(((2 * i + 1) * width / (2 * n), (2 * j + 1) * height / (2 * n)));
        }
    }
    points
}

/// Whether two colours are equal within `tolerance` per channel.
pub fn close_rgb(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b.iter()).all(|(x, y)| x.abs_diff(*y) <= tolerance)
}
