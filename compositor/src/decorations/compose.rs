//! Title bars as render elements of an output: one memory buffer per window and output,
//! redrawn only when what it shows changes (width, scale, title, focus), so the output's
//! damage tracker sees an unchanged bar as unchanged.

use std::collections::HashMap;

use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::element::memory::{MemoryRenderBuffer, MemoryRenderBufferRenderElement};
use smithay::backend::renderer::element::Kind;
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::utils::{Physical, Point, Rectangle, Transform};

use super::{render_bar, title_font, Look, BAR_HEIGHT};
use crate::window::WindowId;

#[derive(Debug, Clone, PartialEq)]
struct BarKey {
    width: i32,
    scale: f64,
    title: String,
    look: Look,
}

/// The bars last drawn, by window and output.
#[derive(Default)]
pub struct BarCache {
    bars: HashMap<(WindowId, String), (BarKey, MemoryRenderBuffer)>,
}

/// What a bar shows.
pub struct BarSpec<'a> {
    pub window: WindowId,
    /// The window's content width in logical pixels.
    pub width: i32,
    pub title: &'a str,
    pub look: Look,
}

impl BarCache {
    /// The bar of `spec` on output `output` at `scale`, its bottom-left corner at `content`
    /// (the physical position of the window's content on that output).
    pub fn element(
        &mut self,
        renderer: &mut PixmanRenderer,
        output: &str,
        scale: f64,
        spec: BarSpec<'_>,
        content: Point<i32, Physical>,
    ) -> Option<MemoryRenderBufferRenderElement<PixmanRenderer>> {
        let key = BarKey { width: spec.width, scale, title: spec.title.to_string(), look: spec.look };
        let slot = self.bars.entry((spec.window, output.to_string()));
        let (_, buffer) = match slot {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                if e.get().0 != key {
                    e.insert(draw(key));
                }
                e.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(e) => e.insert(draw(key)),
        };
        let height = (BAR_HEIGHT as f64 * scale).round() as i32;
        let width_px = (spec.width.max(1) as f64 * scale).round();
        let location: Point<f64, Physical> = (content.x as f64, (content.y - height) as f64).into();
        let src = Rectangle::from_size((width_px, height as f64).into());
        MemoryRenderBufferRenderElement::from_buffer(
            renderer,
            location,
            buffer,
            None,
            Some(src),
            Some((spec.width.max(1), BAR_HEIGHT).into()),
            Kind::Unspecified,
        )
        .map_err(|e| tracing::warn!("title bar of window {}: {e}", spec.window))
        .ok()
    }

    /// Drops the bars of a window that is gone.
    pub fn forget_window(&mut self, id: WindowId) {
        self.bars.retain(|(w, _), _| *w != id);
    }

    /// Drops the bars on an output that is gone.
    pub fn forget_output(&mut self, name: &str) {
        self.bars.retain(|(_, o), _| o != name);
    }
}

fn draw(key: BarKey) -> (BarKey, MemoryRenderBuffer) {
    let image = render_bar(key.width, key.scale, &key.title, key.look, title_font());
    let size = (image.width, image.height);
    let opaque = vec![Rectangle::from_size(size.into())];
    let buffer =
        MemoryRenderBuffer::from_slice(&image.data, Fourcc::Argb8888, size, 1, Transform::Normal, Some(opaque));
    (key, buffer)
}
