//! The title bar's pixels, drawn at the scale it is shown at (so it is crisp at every output
//! scale): background, the title in DejaVu Sans (through `ab_glyph`), and the minimize,
//! maximize and close buttons as anti-aliased strokes.

use std::sync::OnceLock;

use ab_glyph::{Font, FontArc, PxScale, ScaleFont};

use super::{button_rect, title_rect, to_physical, Hit, BAR_HEIGHT, BUTTONS};
use crate::window::Rect;

/// Where Debian's `fonts-dejavu-core` puts the title font.
const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// The title's size in logical pixels.
const TITLE_SIZE: f64 = 14.0;
/// The side of a button's icon in logical pixels.
const ICON_SIZE: f64 = 10.0;

/// The title font, loaded once; None (with a warning, once) when it is missing: bars then
/// have no text.
pub fn title_font() -> Option<&'static FontArc> {
    static FONT: OnceLock<Option<FontArc>> = OnceLock::new();
    FONT.get_or_init(|| {
        match std::fs::read(FONT_PATH)
            .map_err(|e| e.to_string())
            .and_then(|bytes| FontArc::try_from_vec(bytes).map_err(|e| e.to_string()))
        {
            Ok(font) => Some(font),
            Err(err) => {
                tracing::warn!("title bars without titles: font {FONT_PATH}: {err} (install fonts-dejavu-core)");
                None
            }
        }
    })
    .as_ref()
}

/// Focused or not: the two looks of a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Look {
    Focused,
    Unfocused,
}

struct Palette {
    background: [u8; 3],
    text: [u8; 3],
    close_background: [u8; 3],
    icon: [u8; 3],
}

impl Look {
    fn palette(self) -> Palette {
        match self {
            Look::Focused => Palette {
                background: [0x2e, 0x34, 0x40],
                text: [0xf2, 0xf2, 0xf2],
                close_background: [0xc4, 0x2b, 0x1c],
                icon: [0xf2, 0xf2, 0xf2],
            },
            Look::Unfocused => Palette {
                background: [0xd6, 0xd6, 0xd6],
                text: [0x6a, 0x6a, 0x6a],
                close_background: [0xd6, 0xd6, 0xd6],
                icon: [0x6a, 0x6a, 0x6a],
            },
        }
    }
}

/// A bar's pixels: ARGB8888 (B, G, R, A bytes in memory), opaque, `width * 4` bytes a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarImage {
    pub width: i32,
    pub height: i32,
    pub data: Vec<u8>,
}

impl BarImage {
    fn new(width: i32, height: i32, color: [u8; 3]) -> Self {
        let mut data = Vec::with_capacity((width * height * 4) as usize);
        for _ in 0..width * height {
            data.extend_from_slice(&[color[2], color[1], color[0], 0xff]);
        }
        Self { width, height, data }
    }

    /// The pixel at `x`, `y` as (r, g, b).
    pub fn rgb(&self, x: i32, y: i32) -> [u8; 3] {
        let i = ((y * self.width + x) * 4) as usize;
        [self.data[i + 2], self.data[i + 1], self.data[i]]
    }

    fn fill(&mut self, r: Rect, color: [u8; 3]) {
        for y in r.y.max(0)..(r.y + r.height).min(self.height) {
            for x in r.x.max(0)..(r.x + r.width).min(self.width) {
                self.blend(x, y, color, 1.0);
            }
        }
    }

    /// Mixes `color` into the pixel at `x`, `y` by `coverage` (0..1); outside is clipped.
    fn blend(&mut self, x: i32, y: i32, color: [u8; 3], coverage: f32) {
        if x < 0 || y < 0 || x >= self.width || y >= self.height || coverage <= 0.0 {
            return;
        }
        let a = coverage.min(1.0);
        let i = ((y * self.width + x) * 4) as usize;
        for (c, byte) in [color[2], color[1], color[0]].into_iter().zip(&mut self.data[i..i + 3]) {
            *byte = (*byte as f32 * (1.0 - a) + c as f32 * a).round() as u8;
        }
    }

    /// An anti-aliased line from (x0, y0) to (x1, y1) (pixel coordinates, pixel centres at
    /// .5), `thickness` pixels wide, clipped to `clip`.
    fn stroke(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), thickness: f64, color: [u8; 3], clip: Rect) {
        let half = thickness / 2.0;
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = (dx * dx + dy * dy).max(1e-9);
        let (left, right) = ((x0.min(x1) - half - 1.0).floor() as i32, (x0.max(x1) + half + 1.0).ceil() as i32);
        let (top, bottom) = ((y0.min(y1) - half - 1.0).floor() as i32, (y0.max(y1) + half + 1.0).ceil() as i32);
        for py in top.max(clip.y)..bottom.min(clip.y + clip.height) {
            for px in left.max(clip.x)..right.min(clip.x + clip.width) {
                let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
                let t = (((cx - x0) * dx + (cy - y0) * dy) / len2).clamp(0.0, 1.0);
                let (nx, ny) = (x0 + t * dx - cx, y0 + t * dy - cy);
                let distance = (nx * nx + ny * ny).sqrt();
                self.blend(px, py, color, (half + 0.5 - distance).clamp(0.0, 1.0) as f32);
            }
        }
    }
}

/// Draws the bar of a window `width` logical pixels wide at `scale`, with `title`, in `look`;
/// `font` None draws no text.
pub fn render_bar(width: i32, scale: f64, title: &str, look: Look, font: Option<&FontArc>) -> BarImage {
    let palette = look.palette();
    let full = to_physical(Rect::new(0, 0, width.max(1), BAR_HEIGHT), scale);
    let mut image = BarImage::new(full.width.max(1), full.height.max(1), palette.background);
    if let Some(font) = font {
        draw_title(&mut image, font, title, to_physical(title_rect(width), scale), scale, palette.text);
    }
    let thickness = scale.max(1.0).round();
    for button in BUTTONS {
        let Some(rect) = button_rect(button, width) else { continue };
        let r = to_physical(rect, scale);
        if button == Hit::Close {
            image.fill(r, palette.close_background);
        }
        draw_icon(&mut image, button, r, scale, thickness, palette.icon);
    }
    image
}

/// A button's icon, centred in its physical rectangle `r`.
fn draw_icon(image: &mut BarImage, button: Hit, r: Rect, scale: f64, thickness: f64, color: [u8; 3]) {
    let side = (ICON_SIZE * scale).round();
    // Snapped to the pixel grid (plus half a pixel for odd widths) so straight strokes are sharp.
    let snap = if thickness as i64 % 2 == 1 { 0.5 } else { 0.0 };
    let x0 = (r.x as f64 + (r.width as f64 - side) / 2.0).round() + snap;
    let y0 = (r.y as f64 + (r.height as f64 - side) / 2.0).round() + snap;
    let (x1, y1) = (x0 + side, y0 + side);
    match button {
        Hit::Close => {
            image.stroke((x0, y0), (x1, y1), thickness, color, r);
            image.stroke((x0, y1), (x1, y0), thickness, color, r);
        }
        Hit::Maximize => {
            for (a, b) in [((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))] {
                image.stroke(a, b, thickness, color, r);
            }
        }
        Hit::Minimize => image.stroke((x0, y1), (x1, y1), thickness, color, r),
        Hit::Title | Hit::Resize(_) => {}
    }
}

/// The title, vertically centred in `area` (physical), cut with an ellipsis where it is too long.
fn draw_title(image: &mut BarImage, font: &FontArc, title: &str, area: Rect, scale: f64, color: [u8; 3]) {
    let scaled = font.as_scaled(PxScale::from((TITLE_SIZE * scale) as f32));
    let advance = |text: &str| -> f32 {
        let mut width = 0.0;
        let mut previous = None;
        for ch in text.chars() {
            let id = scaled.glyph_id(ch);
            if let Some(p) = previous {
                width += scaled.kern(p, id);
            }
            width += scaled.h_advance(id);
            previous = Some(id);
        }
        width
    };
    let limit = area.width as f32;
    let text: String = if advance(title) <= limit {
        title.to_string()
    } else {
        let chars: Vec<char> = title.chars().collect();
        let mut keep = chars.len();
        loop {
            let candidate: String = chars[..keep].iter().collect::<String>() + "…";
            if keep == 0 || advance(&candidate) <= limit {
                break if keep == 0 { String::new() } else { candidate };
            }
            keep -= 1;
        }
    };
    let baseline = area.y as f32 + (area.height as f32 + scaled.ascent() + scaled.descent()) / 2.0;
    let mut x = area.x as f32;
    let mut previous = None;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = previous {
            x += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scaled.scale(), ab_glyph::point(x, baseline));
        x += scaled.h_advance(id);
        previous = Some(id);
        let Some(outlined) = font.outline_glyph(glyph) else { continue };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32);
            if px < area.x + area.width {
                image.blend(px, py, color, coverage);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decorations::hit_test;

    const SCALES: [f64; 5] = [1.0, 1.25, 1.5, 2.0, 3.0];

    fn font() -> &'static FontArc {
        title_font().expect("DejaVu Sans (Debian's fonts-dejavu-core, see scripts/setup-debian.sh)")
    }

    /// Pixels of `r` (physical) that differ from `color`.
    fn count_not(image: &BarImage, r: Rect, color: [u8; 3]) -> usize {
        (r.y..r.y + r.height)
            .flat_map(|y| (r.x..r.x + r.width).map(move |x| (x, y)))
            .filter(|&(x, y)| image.rgb(x, y) != color)
            .count()
    }

    #[test]
    fn the_bar_has_the_size_of_its_scale() {
        for scale in SCALES {
            let image = render_bar(301, scale, "t", Look::Focused, None);
            assert_eq!(
                (image.width, image.height),
                ((301.0 * scale).round() as i32, (BAR_HEIGHT as f64 * scale).round() as i32)
            );
            assert_eq!(image.data.len(), (image.width * image.height * 4) as usize);
        }
    }

    #[test]
    fn the_title_is_drawn_in_the_title_area() {
        for scale in SCALES {
            let bg = Look::Focused.palette().background;
            let with = render_bar(400, scale, "Terminal — foot", Look::Focused, Some(font()));
            let area = to_physical(title_rect(400), scale);
            let inked = count_not(&with, area, bg);
            assert!(inked > (40.0 * scale * scale) as usize, "{inked} title pixels at {scale}");
            let without = render_bar(400, scale, "", Look::Focused, Some(font()));
            assert_eq!(count_not(&without, area, bg), 0, "an empty title draws nothing at {scale}");
        }
    }

    #[test]
    fn a_long_title_stays_out_of_the_buttons() {
        let title = "a very long title that cannot possibly fit into such a narrow bar at all".repeat(3);
        for scale in SCALES {
            let image = render_bar(200, scale, &title, Look::Unfocused, Some(font()));
            let palette = Look::Unfocused.palette();
            let min = to_physical(button_rect(Hit::Minimize, 200).unwrap(), scale);
            // Left of the minimize icon nothing but background.
            let margin = Rect::new(min.x, 0, ((min.width as f64 - ICON_SIZE * scale) / 2.0 - 1.0) as i32, min.height);
            assert_eq!(count_not(&image, margin, palette.background), 0, "at {scale}");
        }
    }

    #[test]
    fn buttons_are_drawn_where_the_hit_test_finds_them() {
        let content = Rect::new(50, 80, 420, 200);
        for scale in SCALES {
            let image = render_bar(content.width, scale, "x", Look::Focused, None);
            let palette = Look::Focused.palette();
            for button in BUTTONS {
                let logical = button_rect(button, content.width).unwrap();
                // The hit test, in global coordinates, finds this button at its rectangle's centre.
                let (cx, cy) = (logical.x as f64 + logical.width as f64 / 2.0, logical.height as f64 / 2.0);
                let at = (content.x as f64 + cx, (content.y - BAR_HEIGHT) as f64 + cy);
                assert_eq!(hit_test(content, at.0, at.1), Some(button), "at {scale}");
                // And the icon's pixels are around that centre, in the bar drawn at `scale`.
                let icon_px = (ICON_SIZE * scale).ceil() as i32 + 2;
                let (px, py) = ((cx * scale) as i32, (cy * scale) as i32);
                let around = Rect::new(px - icon_px / 2 - 1, py - icon_px / 2 - 1, icon_px + 2, icon_px + 2);
                let background = if button == Hit::Close { palette.close_background } else { palette.background };
                let icon = (around.y..around.y + around.height)
                    .flat_map(|y| (around.x..around.x + around.width).map(move |x| (x, y)))
                    .filter(|&(x, y)| image.rgb(x, y) == palette.icon)
                    .count();
                assert!(icon >= (8.0 * scale) as usize, "{button:?} at {scale}: {icon} icon pixels");
                let physical = to_physical(logical, scale);
                let outside_icon = Rect::new(physical.x, physical.y, physical.width, 2);
                assert_eq!(count_not(&image, outside_icon, background), 0, "{button:?} at {scale}: top of the button");
            }
        }
    }

    #[test]
    fn focused_and_unfocused_look_different() {
        let a = render_bar(300, 1.5, "t", Look::Focused, Some(font()));
        let b = render_bar(300, 1.5, "t", Look::Unfocused, Some(font()));
        assert_ne!(a.rgb(5, 5), b.rgb(5, 5));
        assert_ne!(a.rgb(a.width - 2, 2), b.rgb(b.width - 2, 2), "the close button is red only when focused");
    }
}
