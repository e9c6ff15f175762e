//! A window's own image, kept between frames and redrawn where its commits said it changed.
//! The rectangles the commit handler computes (`render::take_window_damage`) are the only
//! damage a window image knows: they go into the window model's `Damaged` event and here, and
//! what is redrawn here is what a transport sends. Nothing is computed twice.
//!
//! A window that is one wl_shm surface shown pixel for pixel needs no drawing at all for VAIL:
//! [`WindowImage::write_direct`] copies its damage straight from the client's buffer into the
//! window's shared-memory pool, the only copy its pixels make on their way to the host.

use smithay::backend::renderer::element::{Id, RenderElement};
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::utils::{with_renderer_surface_state, Buffer};
use smithay::backend::renderer::{Bind, Color32F, Frame as _, Renderer};
use smithay::reexports::pixman;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::protocol::wl_shm;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Physical, Point, Rectangle, Size, Transform};
use smithay::wayland::compositor::get_children;
use smithay::wayland::shm::with_buffer_contents;
use wayrail_link::{PoolRect, WindowPool};

use crate::render::{frame_of, offscreen_image, Frame};
use crate::window::DamageRect;

/// Past this many rectangles a redraw takes their bounding box: one larger blit is cheaper
/// than many tiny ones, and the list cannot grow with a client's commits.
const MAX_RECTS: usize = 32;

pub struct WindowImage {
    image: pixman::Image<'static, 'static>,
    pub scale: f64,
    /// What commits damaged since the last draw, in pixels at `scale` relative to the root
    /// surface; `None`: everything (a new image, or damage at another scale).
    pending: Option<Vec<Rectangle<i32, Physical>>>,
    /// Each surface's element and where it was drawn the last time: a surface that appears,
    /// goes, moves, resizes or restacks makes the next draw a full one.
    layout: Vec<(Id, Rectangle<i32, Physical>)>,
}

impl WindowImage {
    pub fn new(renderer: &mut PixmanRenderer, size: Size<i32, Physical>, scale: f64) -> anyhow::Result<Self> {
        let image = offscreen_image(renderer, size)?;
        Ok(Self { image, scale, pending: None, layout: Vec::new() })
    }

    pub fn size(&self) -> Size<i32, Physical> {
        (self.image.width() as i32, self.image.height() as i32).into()
    }

    /// A commit changed these rectangles, computed at `scale`.
    pub fn damaged(&mut self, scale: f64, rects: &[DamageRect]) {
        if scale != self.scale {
            self.pending = None;
        }
        if let Some(pending) = &mut self.pending {
            pending.extend(rects.iter().map(|r| Rectangle::new((r.x, r.y).into(), (r.width, r.height).into())));
        }
    }

    /// The direct path: when the window is `root` alone, a wl_shm buffer (ARGB8888 or
    /// XRGB8888) shown pixel for pixel at the image's scale ([`lone_buffer`]), at `origin` in
    /// the image and filling it (but for a title bar above it), that part of its image is its
    /// buffer, pixel for pixel (drawing it over transparency changes nothing but XRGB's
    /// padding, which becomes opaque alpha). Then what commits damaged since the last draw is
    /// copied from the buffer into `pool` (the image's size) at `origin`, while the
    /// compositor holds the buffer, and nothing is drawn: no composition, no tile. Returns the
    /// rectangles written (empty: nothing changed), or None when the window does not qualify
    /// or the pool takes nothing now (the host may still be reading it): nothing was written
    /// then, and [`Self::draw`] composes the damage as ever.
    ///
    /// `bar`: the title bar element the image carries now (id and place), which only
    /// [`Self::draw`] draws: the content goes direct only while the image's last draw drew
    /// that very bar there and the content where it is now. Where the content went direct,
    /// the image's own pixels are stale; nothing reads them but a draw of that same place,
    /// which redraws them first.
    pub fn write_direct(
        &mut self,
        root: &WlSurface,
        pool: &dyn WindowPool,
        origin: Point<i32, Physical>,
        bar: Option<(Id, Rectangle<i32, Physical>)>,
    ) -> Option<Vec<PoolRect>> {
        let size = self.size();
        if pool.size() != (size.w as u32, size.h as u32) || origin.x < 0 || origin.y < 0 {
            return None;
        }
        // The buffer's pixels, where the image has them (the buffer's size is checked below).
        let content = Rectangle::new(origin, (size.w - origin.x, size.h - origin.y).into());
        let buffer = lone_buffer(root, self.scale, content.size)?;
        if let Some(bar) = &bar {
            let drawn = match self.layout.as_slice() {
                [drawn_bar, (_, at)] => drawn_bar == bar && *at == content,
                _ => false,
            };
            if self.pending.is_none() || !drawn {
                return None;
            }
        }
        let in_content = Rectangle::from_size(content.size);
        let damage = match &self.pending {
            Some(rects) => disjoint(rects.iter().filter_map(|r| r.intersection(in_content))),
            None => vec![in_content],
        };
        let rects = pool_rects(&damage);
        if !rects.is_empty() {
            copy_buffer(&buffer, content.size, pool, &rects, (origin.x as u32, origin.y as u32))?;
        }
        self.pending = Some(Vec::new());
        if bar.is_none() {
            // Drawn by nothing yet or long ago: a draw after this is a full one.
            self.layout.clear();
        }
        Some(rects.into_iter().map(|r| PoolRect { x: r.x + origin.x as u32, y: r.y + origin.y as u32, ..r }).collect())
    }

    /// Redraws what changed since the last draw; the frame's damage is exactly that, in
    /// rectangles that do not overlap (a translucent surface drawn twice over a spot would
    /// blend twice). `origin` is where the root surface sits in the image.
    pub fn draw<E: RenderElement<PixmanRenderer>>(
        &mut self,
        renderer: &mut PixmanRenderer,
        elements: &[E],
        origin: Point<i32, Physical>,
    ) -> anyhow::Result<Frame<'_>> {
        let whole = Rectangle::from_size(self.size());
        let layout: Vec<_> = elements.iter().map(|e| (e.id().clone(), e.geometry(self.scale.into()))).collect();
        let pending = self.pending.replace(Vec::new());
        let damage = match (pending, replaced(&self.layout, &layout)) {
            (Some(mut rects), Some(swapped)) => {
                // Damage is relative to the root surface; a replaced element's is the image's.
                rects.extend(swapped.into_iter().map(|mut r| {
                    r.loc -= origin;
                    r
                }));
                disjoint(rects.into_iter().filter_map(|mut r| {
                    r.loc += origin;
                    r.intersection(whole)
                }))
            }
            _ => vec![whole],
        };
        self.layout = layout;
        if !damage.is_empty() {
            let mut fb = renderer.bind(&mut self.image).map_err(|e| anyhow::anyhow!("bind: {e}"))?;
            let mut frame = renderer
                .render(&mut fb, whole.size, smithay::utils::Transform::Normal)
                .map_err(|e| anyhow::anyhow!("render: {e}"))?;
            frame.clear(Color32F::TRANSPARENT, &damage).map_err(|e| anyhow::anyhow!("clear: {e}"))?;
            // Elements come topmost first.
            for element in elements.iter().rev() {
                let at = element.geometry(self.scale.into());
                let local: Vec<_> = damage
                    .iter()
                    .filter_map(|d| d.intersection(at))
                    .map(|mut d| {
                        d.loc -= at.loc;
                        d
                    })
                    .collect();
                if !local.is_empty() {
                    element
                        .draw(&mut frame, element.src(), at, &local, &[])
                        .map_err(|e| anyhow::anyhow!("draw: {e}"))?;
                }
            }
            // Pixman draws synchronously: the pixels are there when `finish` returns.
            let _done = frame.finish().map_err(|e| anyhow::anyhow!("finish: {e}"))?;
        }
        let rects = damage.iter().map(|r| DamageRect { x: r.loc.x, y: r.loc.y, width: r.size.w, height: r.size.h });
        Ok(frame_of(&self.image, rects.collect()))
    }
}

/// The wl_shm buffer of `root` when, drawn at `scale`, the surface is that buffer pixel for
/// pixel over `size` pixels: no subsurface with content (foot keeps some without a buffer,
/// for occasional overlays), untransformed, not cropped, shown `size` pixels large (a buffer
/// of the buffer scale's size, or one a fractional-scale app drew at the scale with a
/// viewport). Whether the buffer has as many pixels is for [`copy_buffer`] to check.
pub(crate) fn lone_buffer(root: &WlSurface, scale: f64, size: Size<i32, Physical>) -> Option<Buffer> {
    let mapped = |s: &WlSurface| with_renderer_surface_state(s, |s| s.buffer().is_some()).unwrap_or(false);
    if get_children(root).iter().any(mapped) {
        return None;
    }
    with_renderer_surface_state(root, |s| {
        let logical = s.buffer_size()?;
        let view = s.view()?;
        let whole = view.src == Rectangle::from_size(logical.to_f64());
        // As composing rounds the surface's rectangle.
        let shown = view.dst.to_physical_precise_round(scale) == size;
        (whole && shown && s.buffer_transform() == Transform::Normal).then(|| s.buffer().cloned()).flatten()
    })?
}

/// Rectangles of pixels as a pool takes them.
pub(crate) fn pool_rects(rects: &[Rectangle<i32, Physical>]) -> Vec<PoolRect> {
    rects
        .iter()
        .map(|r| PoolRect { x: r.loc.x as u32, y: r.loc.y as u32, width: r.size.w as u32, height: r.size.h as u32 })
        .collect()
}

/// Copies `rects` of `buffer` (an ARGB8888 or XRGB8888 wl_shm buffer of exactly `size`
/// pixels, else nothing is copied) into `pool`, where they land at `at`, while the
/// compositor holds the buffer. The bytes written, or None: nothing was.
pub(crate) fn copy_buffer(
    buffer: &WlBuffer,
    size: Size<i32, Physical>,
    pool: &dyn WindowPool,
    rects: &[PoolRect],
    at: (u32, u32),
) -> Option<usize> {
    with_buffer_contents(buffer, |ptr, len, data| {
        let opaque = match data.format {
            wl_shm::Format::Argb8888 => false,
            wl_shm::Format::Xrgb8888 => true,
            _ => return None,
        };
        if (data.width, data.height) != (size.w, size.h) || data.offset < 0 || data.stride < data.width * 4 {
            return None;
        }
        let (offset, stride) = (data.offset as usize, data.stride as usize);
        let bytes = stride.checked_mul(data.height as usize)?;
        if offset.checked_add(bytes)? > len {
            return None;
        }
        // SAFETY: smithay maps the client's pool for the closure's duration, `len` bytes from
        // `ptr`, and the range was checked to lie within it. A client that shrinks its pool
        // meanwhile raises SIGBUS, which smithay catches around the closure.
        let src = unsafe { std::slice::from_raw_parts(ptr.add(offset), bytes) };
        pool.write(src, stride, opaque, rects, at)
    })
    .ok()?
}

/// Where `new` differs from `old` only by elements replaced in place (same position in the
/// stack, same rectangle: a title bar redrawn for a new title or focus), those rectangles;
/// None when anything appeared, went, moved or restacked (then all of the image is redrawn).
fn replaced(
    old: &[(Id, Rectangle<i32, Physical>)],
    new: &[(Id, Rectangle<i32, Physical>)],
) -> Option<Vec<Rectangle<i32, Physical>>> {
    if old.len() != new.len() {
        return None;
    }
    let mut rects = Vec::new();
    for ((old_id, old_at), (new_id, new_at)) in old.iter().zip(new) {
        if old_at != new_at {
            return None;
        }
        if old_id != new_id {
            rects.push(*new_at);
        }
    }
    Some(rects)
}

/// The same area as `rects`, in rectangles that do not overlap; their bounding box when
/// there would be too many.
pub(crate) fn disjoint(rects: impl Iterator<Item = Rectangle<i32, Physical>>) -> Vec<Rectangle<i32, Physical>> {
    let rects: Vec<_> = rects.collect();
    let bounding_box = || vec![rects.iter().skip(1).fold(rects[0], |acc, r| acc.merge(*r))];
    if rects.len() > MAX_RECTS {
        return bounding_box();
    }
    let mut out: Vec<Rectangle<i32, Physical>> = Vec::new();
    for rect in &rects {
        out.extend(Rectangle::subtract_rects_many([*rect], out.iter().copied()));
        if out.len() > 4 * MAX_RECTS {
            return bounding_box();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: i32, y: i32, w: i32, h: i32) -> Rectangle<i32, Physical> {
        Rectangle::new((x, y).into(), (w, h).into())
    }

    fn area(rects: &[Rectangle<i32, Physical>]) -> i32 {
        rects.iter().map(|r| r.size.w * r.size.h).sum()
    }

    #[test]
    fn overlapping_damage_becomes_disjoint_rectangles_of_the_same_area() {
        let out = disjoint([r(0, 0, 10, 10), r(5, 5, 10, 10), r(0, 0, 10, 10)].into_iter());
        assert_eq!(area(&out), 100 + 100 - 25);
        for (i, a) in out.iter().enumerate() {
            for b in &out[i + 1..] {
                assert!(!a.overlaps(*b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn an_element_replaced_in_place_is_its_rectangle_anything_else_is_everything() {
        let (a, b, bar, bar2) = (Id::new(), Id::new(), Id::new(), Id::new());
        let old = [(bar.clone(), r(0, 0, 300, 28)), (a.clone(), r(0, 28, 300, 200))];
        let retitled = [(bar2.clone(), r(0, 0, 300, 28)), (a.clone(), r(0, 28, 300, 200))];
        assert_eq!(replaced(&old, &old), Some(vec![]));
        assert_eq!(replaced(&old, &retitled), Some(vec![r(0, 0, 300, 28)]));
        assert_eq!(replaced(&old, &[(bar2, r(0, 0, 300, 28)), (b, r(0, 28, 300, 200))]).map(|v| v.len()), Some(2));
        assert_eq!(replaced(&old, &[(bar.clone(), r(0, 0, 300, 28)), (a.clone(), r(0, 28, 300, 201))]), None);
        assert_eq!(replaced(&old, &[(a.clone(), r(0, 28, 300, 200)), (bar.clone(), r(0, 0, 300, 28))]), None);
        assert_eq!(replaced(&old, &old[..1]), None);
    }

    #[test]
    fn many_rectangles_become_their_bounding_box() {
        let out = disjoint((0..100).map(|i| r(i * 20, 0, 10, 10)));
        assert_eq!(out, [r(0, 0, 1990, 10)]);
    }
}
