//! Server-side decorations: the title bar wayrail draws above windows that asked for it
//! (xdg-decoration in server-side mode) or have no frame of their own (X11 windows without
//! Motif "no decorations"). This module is the pure part — where the bar and its buttons are
//! at a given width and scale, what a pointer position over a frame means, and the bar's
//! pixels (`draw`). Which windows are decorated, how the bar is composed and what a click
//! does live with the window model (`state`), the composer (`render`) and the input code.
//!
//! Geometry: a window's content keeps its own rectangle; the bar sits right above it, as wide
//! as the content, `BAR_HEIGHT` logical pixels tall. Around content and bar an invisible band
//! of `RESIZE_BORDER` pixels resizes the window. A maximized window keeps the whole maximize
//! area for its content: its bar slides over the top of the content while the pointer is
//! there (`revealed`), laid out against the content moved down by the bar (`overlay_anchor`).

mod compose;
mod draw;
mod interact;
mod x11;

pub use compose::{BarCache, BarSpec};
pub use draw::{render_bar, title_font, BarImage, Look};
pub use x11::has_client_frame;

use crate::window::Rect;

/// The bar's height in logical pixels.
pub const BAR_HEIGHT: i32 = 28;
/// Each button's width in logical pixels (the buttons are as tall as the bar).
pub const BUTTON_WIDTH: i32 = 32;
/// The invisible band around a decorated window that resizes it, in logical pixels.
pub const RESIZE_BORDER: i32 = 6;
/// How far along an edge from a corner the band resizes both edges of that corner.
pub const CORNER: i32 = 20;
/// Where the title starts, from the bar's left edge, in logical pixels.
pub const TITLE_PADDING: i32 = 10;

/// Resize edges, the bits of xdg_toplevel.resize_edge (top 1, bottom 2, left 4, right 8).
pub mod edge {
    pub const TOP: u32 = 1;
    pub const BOTTOM: u32 = 2;
    pub const LEFT: u32 = 4;
    pub const RIGHT: u32 = 8;
}

/// What a point of a decorated window's frame does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// The title bar outside the buttons: drag to move, double-click to maximize.
    Title,
    Close,
    Maximize,
    Minimize,
    /// The resize band: the `edge` bits held.
    Resize(u32),
}

/// The buttons, right to left.
pub const BUTTONS: [Hit; 3] = [Hit::Close, Hit::Maximize, Hit::Minimize];

/// The bar's rectangle for a window whose content is at `content` (both global logical).
pub fn bar_rect(content: Rect) -> Rect {
    Rect::new(content.x, content.y - BAR_HEIGHT, content.width, BAR_HEIGHT)
}

/// The frame: content and bar together.
pub fn frame_rect(content: Rect) -> Rect {
    Rect::new(content.x, content.y - BAR_HEIGHT, content.width, content.height + BAR_HEIGHT)
}

/// A button's rectangle in logical pixels relative to the bar's top-left, for a bar
/// `width` wide. Buttons that would not fit beside each other are left out (None).
pub fn button_rect(button: Hit, width: i32) -> Option<Rect> {
    let slot = BUTTONS.iter().position(|b| *b == button)? as i32;
    let x = width - (slot + 1) * BUTTON_WIDTH;
    (x >= 0).then(|| Rect::new(x, 0, BUTTON_WIDTH, BAR_HEIGHT))
}

/// Where the title may be drawn, relative to the bar: from the padding to the leftmost button.
pub fn title_rect(width: i32) -> Rect {
    let right = BUTTONS.iter().filter_map(|b| button_rect(*b, width)).map(|r| r.x).min().unwrap_or(width);
    Rect::new(TITLE_PADDING, 0, (right - TITLE_PADDING - 4).max(0), BAR_HEIGHT)
}

/// What the point (`x`, `y`, global logical) means for a decorated window whose content is at
/// `content`: None over the content itself (the app's) and away from the frame.
pub fn hit_test(content: Rect, x: f64, y: f64) -> Option<Hit> {
    let frame = frame_rect(content);
    if frame.contains(x, y) {
        if content.contains(x, y) {
            return None;
        }
        let (bx, by) = (x - frame.x as f64, y - frame.y as f64);
        for button in BUTTONS {
            if button_rect(button, content.width).is_some_and(|r| r.contains(bx, by)) {
                return Some(button);
            }
        }
        return Some(Hit::Title);
    }
    let b = RESIZE_BORDER;
    let band = Rect::new(frame.x - b, frame.y - b, frame.width + 2 * b, frame.height + 2 * b);
    if !band.contains(x, y) {
        return None;
    }
    let (left, top) = (frame.x as f64, frame.y as f64);
    let (right, bottom) = ((frame.x + frame.width) as f64, (frame.y + frame.height) as f64);
    let c = CORNER as f64;
    let mut edges = 0;
    if x < left + if y < top || y >= bottom { c } else { 0.0 } {
        edges |= edge::LEFT;
    }
    if x >= right - if y < top || y >= bottom { c } else { 0.0 } {
        edges |= edge::RIGHT;
    }
    if y < top + if x < left || x >= right { c } else { 0.0 } {
        edges |= edge::TOP;
    }
    if y >= bottom - if x < left || x >= right { c } else { 0.0 } {
        edges |= edge::BOTTOM;
    }
    Some(Hit::Resize(edges))
}

/// How close to a maximized window's top edge the pointer must come to reveal its bar.
pub const REVEAL_EDGE: i32 = 2;

/// The rectangle a maximized window's bar is laid out above (for `bar_rect`, `hit_test`):
/// its content moved down by the bar, so the bar covers the content's top.
pub fn overlay_anchor(content: Rect) -> Rect {
    Rect::new(content.x, content.y + BAR_HEIGHT, content.width, (content.height - BAR_HEIGHT).max(0))
}

/// Whether a maximized window's bar shows with the pointer at `x`, `y`: the pointer at the
/// window's top edge reveals it, and it stays while the pointer is on it.
pub fn revealed(content: Rect, was_revealed: bool, x: f64, y: f64) -> bool {
    let band = if was_revealed { BAR_HEIGHT } else { REVEAL_EDGE };
    Rect::new(content.x, content.y, content.width, band).contains(x, y)
}

/// The pointer's shape over a part of a frame: resize arrows on the band, the arrow elsewhere.
pub fn cursor_for(hit: Hit) -> smithay::input::pointer::CursorIcon {
    use edge::*;
    use smithay::input::pointer::CursorIcon as C;
    match hit {
        Hit::Resize(e) if e == TOP | LEFT => C::NwResize,
        Hit::Resize(e) if e == TOP | RIGHT => C::NeResize,
        Hit::Resize(e) if e == BOTTOM | LEFT => C::SwResize,
        Hit::Resize(e) if e == BOTTOM | RIGHT => C::SeResize,
        Hit::Resize(TOP) => C::NResize,
        Hit::Resize(BOTTOM) => C::SResize,
        Hit::Resize(LEFT) => C::WResize,
        Hit::Resize(RIGHT) => C::EResize,
        _ => C::Default,
    }
}

/// A logical rectangle (relative to the bar) in the pixels of a bar drawn at `scale`: each
/// edge rounded on its own, so neighbours share their edges without gaps or overlaps.
pub fn to_physical(r: Rect, scale: f64) -> Rect {
    let x0 = (r.x as f64 * scale).round() as i32;
    let y0 = (r.y as f64 * scale).round() as i32;
    let x1 = ((r.x + r.width) as f64 * scale).round() as i32;
    let y1 = ((r.y + r.height) as f64 * scale).round() as i32;
    Rect::new(x0, y0, x1 - x0, y1 - y0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTENT: Rect = Rect::new(100, 100, 400, 300);

    #[test]
    fn the_bar_sits_above_the_content() {
        assert_eq!(bar_rect(CONTENT), Rect::new(100, 100 - BAR_HEIGHT, 400, BAR_HEIGHT));
        assert_eq!(frame_rect(CONTENT), Rect::new(100, 100 - BAR_HEIGHT, 400, 300 + BAR_HEIGHT));
    }

    #[test]
    fn hit_test_finds_buttons_title_and_content() {
        let top = (100 - BAR_HEIGHT) as f64;
        let mid = top + BAR_HEIGHT as f64 / 2.0;
        assert_eq!(hit_test(CONTENT, 499.0, mid), Some(Hit::Close));
        assert_eq!(hit_test(CONTENT, 500.0 - BUTTON_WIDTH as f64 - 1.0, mid), Some(Hit::Maximize));
        assert_eq!(hit_test(CONTENT, 500.0 - 2.0 * BUTTON_WIDTH as f64 - 1.0, mid), Some(Hit::Minimize));
        assert_eq!(hit_test(CONTENT, 500.0 - 3.0 * BUTTON_WIDTH as f64 - 1.0, mid), Some(Hit::Title));
        assert_eq!(hit_test(CONTENT, 101.0, top), Some(Hit::Title));
        assert_eq!(hit_test(CONTENT, 101.0, 100.0), None, "the content is the app's");
        assert_eq!(hit_test(CONTENT, 300.0, 300.0), None);
        assert_eq!(hit_test(CONTENT, 0.0, 0.0), None, "far away");
    }

    #[test]
    fn hit_test_finds_edges_and_corners() {
        let top = (100 - BAR_HEIGHT) as f64;
        use edge::*;
        assert_eq!(hit_test(CONTENT, 98.0, 250.0), Some(Hit::Resize(LEFT)));
        assert_eq!(hit_test(CONTENT, 503.0, 250.0), Some(Hit::Resize(RIGHT)));
        assert_eq!(hit_test(CONTENT, 300.0, 402.0), Some(Hit::Resize(BOTTOM)));
        assert_eq!(hit_test(CONTENT, 300.0, top - 2.0), Some(Hit::Resize(TOP)));
        assert_eq!(hit_test(CONTENT, 98.0, top - 2.0), Some(Hit::Resize(TOP | LEFT)));
        assert_eq!(hit_test(CONTENT, 105.0, top - 2.0), Some(Hit::Resize(TOP | LEFT)), "near the corner");
        assert_eq!(hit_test(CONTENT, 98.0, top + 5.0), Some(Hit::Resize(TOP | LEFT)));
        assert_eq!(hit_test(CONTENT, 503.0, 398.0), Some(Hit::Resize(BOTTOM | RIGHT)));
        assert_eq!(hit_test(CONTENT, 507.0, 250.0), None, "beyond the band");
    }

    #[test]
    fn the_band_shows_resize_arrows() {
        use smithay::input::pointer::CursorIcon as C;
        let top = (100 - BAR_HEIGHT) as f64;
        let at = |x, y| cursor_for(hit_test(CONTENT, x, y).expect("a frame part"));
        assert_eq!(at(98.0, top - 2.0), C::NwResize);
        assert_eq!(at(503.0, 398.0), C::SeResize);
        assert_eq!(at(300.0, 402.0), C::SResize);
        assert_eq!(at(98.0, 250.0), C::WResize);
        assert_eq!(at(300.0, top + 5.0), C::Default, "the title");
    }

    #[test]
    fn narrow_bars_drop_buttons_and_keep_the_title_inside() {
        assert!(button_rect(Hit::Minimize, 2 * BUTTON_WIDTH + 5).is_none());
        assert!(button_rect(Hit::Maximize, 2 * BUTTON_WIDTH + 5).is_some());
        let t = title_rect(400);
        assert!(t.x + t.width <= button_rect(Hit::Minimize, 400).unwrap().x);
        assert_eq!(title_rect(0).width, 0);
    }

    #[test]
    fn a_maximized_bar_is_revealed_at_the_top_edge_and_stays_while_the_pointer_is_on_it() {
        let max = Rect::new(0, 0, 800, 600);
        assert!(!revealed(max, false, 400.0, 10.0), "the content's top is the app's until revealed");
        assert!(revealed(max, false, 400.0, 1.0));
        assert!(revealed(max, true, 400.0, (BAR_HEIGHT - 1) as f64));
        assert!(!revealed(max, true, 400.0, BAR_HEIGHT as f64));
        assert!(!revealed(max, true, 801.0, 1.0), "another output's pointer");
        let anchor = overlay_anchor(max);
        assert_eq!(bar_rect(anchor), Rect::new(0, 0, 800, BAR_HEIGHT), "the bar covers the content's top");
        assert_eq!(hit_test(anchor, 799.0, 5.0), Some(Hit::Close));
    }

    #[test]
    fn physical_rects_tile_without_gaps() {
        for scale in [1.0, 1.25, 1.5, 1.75, 2.0, 3.0] {
            let close = to_physical(button_rect(Hit::Close, 333).unwrap(), scale);
            let max = to_physical(button_rect(Hit::Maximize, 333).unwrap(), scale);
            assert_eq!(max.x + max.width, close.x, "at {scale}");
            assert_eq!(close.x + close.width, (333.0 * scale).round() as i32, "at {scale}");
        }
    }
}
