//! Composition with pixman: each window into its own offscreen image (what a remoting backend
//! sends), and whole outputs (the full-desktop mode, `nested`, screenshots). A window image is
//! redrawn where its commits damaged it (`window_image`); outputs, where many windows, popups
//! and the cursor overlap and move, use smithay's damage tracker. Either way an unchanged
//! window costs nothing and a small change yields a small rectangle.

use std::cell::Cell;
use std::collections::HashMap;

use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::memory::MemoryRenderBufferRenderElement;
use smithay::backend::renderer::element::surface::{render_elements_from_surface_tree, WaylandSurfaceRenderElement};
use smithay::backend::renderer::element::{render_elements, AsRenderElements, Element, Kind};
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::utils::{with_renderer_surface_state, CommitCounter};
use smithay::backend::renderer::{Bind, Offscreen};
use smithay::desktop::utils::bbox_from_surface_tree;
use smithay::desktop::{PopupKind, PopupManager, Window};
use smithay::reexports::pixman;
use smithay::reexports::wayland_server::backend::ObjectId;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::utils::{Buffer, Logical, Physical, Point, Rectangle, Scale, Size, Transform};
use smithay::wayland::compositor::{with_surface_tree_downward, SurfaceData, TraversalAction};

use crate::decorations::{BarCache, BarSpec, Look};
use crate::state::Core;
use crate::window::{DamageRect, Rect, WindowId};
use crate::window_image::{self, WindowImage};

pub fn surface_has_buffer(surface: &WlSurface) -> bool {
    with_renderer_surface_state(surface, |s| s.buffer().is_some()).unwrap_or(false)
}

/// The title bar a window's image carries (`Core::image_bar`), relative to its root surface:
/// right above the window's geometry.
fn image_bar_of(state: &Core, id: WindowId) -> Option<Rectangle<i32, Logical>> {
    state.image_bar(id).zip(state.toplevel_by_id(id)).map(|(bar, t)| {
        let geometry = t.window.geometry();
        Rectangle::<i32, Logical>::new(
            (geometry.loc.x, geometry.loc.y - bar.height).into(),
            (bar.width, bar.height).into(),
        )
    })
}

/// The last commit of a surface whose damage was already reported.
#[derive(Default)]
struct ReportedCommit(Cell<Option<CommitCounter>>);

/// The damage a window's surface tree accumulated since the last call, in physical pixels of
/// the window rendered at `scale`, relative to its root surface's origin. Buffer transforms,
/// buffer scale, viewports and subsurface offsets are applied; rects are rounded outward.
pub fn take_window_damage(root: &WlSurface, scale: f64) -> Vec<DamageRect> {
    let mut rects = Vec::new();
    with_surface_tree_downward(
        root,
        Point::<i32, Logical>::from((0, 0)),
        |_, states, loc| {
            let offset =
                with_renderer_surface_state_in(states, |s| s.view().map(|v| v.offset)).flatten().unwrap_or_default();
            TraversalAction::DoChildren(*loc + offset)
        },
        |_, states, loc| {
            let offset =
                with_renderer_surface_state_in(states, |s| s.view().map(|v| v.offset)).flatten().unwrap_or_default();
            let origin = *loc + offset;
            states.data_map.insert_if_missing(ReportedCommit::default);
            let reported = states.data_map.get::<ReportedCommit>().unwrap();
            let new = with_renderer_surface_state_in(states, |s| {
                let view = s.view()?;
                let buffer_size = s.buffer_size()?.to_buffer(s.buffer_scale(), s.buffer_transform());
                let since = reported.0.get();
                reported.0.set(Some(s.current_commit()));
                let damage: Vec<Rectangle<i32, Buffer>> = s.damage_since(since).into_iter().collect();
                Some(
                    damage
                        .into_iter()
                        .filter_map(|r| {
                            buffer_rect_to_surface(
                                r,
                                s.buffer_scale(),
                                s.buffer_transform(),
                                buffer_size,
                                view.src,
                                view.dst,
                            )
                        })
                        .map(|r| {
                            let r = Rectangle::<f64, Logical>::new(r.loc + origin.to_f64(), r.size);
                            r.to_physical_precise_up(Scale::from(scale))
                        })
                        .collect::<Vec<Rectangle<i32, Physical>>>(),
                )
            })
            .flatten();
            for r in new.into_iter().flatten() {
                rects.push(DamageRect { x: r.loc.x, y: r.loc.y, width: r.size.w, height: r.size.h });
            }
        },
        |_, _, _| true,
    );
    rects
}

fn with_renderer_surface_state_in<T>(
    states: &SurfaceData,
    f: impl FnOnce(&smithay::backend::renderer::utils::RendererSurfaceState) -> T,
) -> Option<T> {
    let state = states.data_map.get::<smithay::backend::renderer::utils::RendererSurfaceStateUserData>()?;
    Some(f(&state.lock().unwrap()))
}

/// Maps a damaged buffer rectangle into surface-local logical coordinates through the buffer
/// scale and transform and the viewport's source crop and destination size.
fn buffer_rect_to_surface(
    rect: Rectangle<i32, Buffer>,
    buffer_scale: i32,
    transform: Transform,
    buffer_size: Size<i32, Buffer>,
    src: Rectangle<f64, Logical>,
    dst: Size<i32, Logical>,
) -> Option<Rectangle<f64, Logical>> {
    let logical = rect.to_f64().to_logical(buffer_scale as f64, transform, &buffer_size.to_f64());
    let cropped = logical.intersection(src)?;
    let sx = dst.w as f64 / src.size.w;
    let sy = dst.h as f64 / src.size.h;
    Some(Rectangle::new(
        ((cropped.loc.x - src.loc.x) * sx, (cropped.loc.y - src.loc.y) * sy).into(),
        (cropped.size.w * sx, cropped.size.h * sy).into(),
    ))
}

/// A composed image: ARGB8888 premultiplied, `stride` bytes per row.
pub struct Frame<'a> {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub data: &'a [u8],
    /// What changed since the previous frame of this target (all of it the first time);
    /// empty when nothing changed.
    pub damage: Vec<DamageRect>,
}

impl Frame<'_> {
    /// The pixel at (x, y) as 0xAARRGGBB.
    pub fn pixel(&self, x: usize, y: usize) -> u32 {
        let o = y * self.stride + x * 4;
        u32::from_le_bytes(self.data[o..o + 4].try_into().unwrap())
    }

    /// Straight-alpha RGBA bytes, for PNG.
    pub fn to_rgba(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.width * self.height * 4);
        for y in 0..self.height {
            for x in 0..self.width {
                let p = self.pixel(x, y);
                let a = p >> 24;
                let un = |c: u32| (c * 255 + a / 2).checked_div(a).map_or(0, |v| v.min(255) as u8);
                out.extend_from_slice(&[un((p >> 16) & 0xff), un((p >> 8) & 0xff), un(p & 0xff), a as u8]);
            }
        }
        out
    }

    pub fn write_png(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut enc = png::Encoder::new(file, self.width as u32, self.height as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()?.write_image_data(&self.to_rgba())?;
        Ok(())
    }
}

struct Target {
    image: pixman::Image<'static, 'static>,
    tracker: OutputDamageTracker,
    scale: f64,
    /// Buffer age for the tracker: 0 redraws everything, 1 means "the image holds the last frame".
    age: usize,
    /// The surface whose buffer the last frame was, straight (see
    /// [`Composer::write_output_direct`]), and its commit then; the image is stale meanwhile.
    direct: Option<(ObjectId, CommitCounter)>,
}

/// The largest side of an image the composer makes (a window, an output): as large as the
/// largest desktop a host may have. A client cannot make wayrail allocate more.
pub const MAX_IMAGE_SIDE: i32 = 8192;
/// The largest side of a cursor image.
pub const MAX_CURSOR_SIDE: i32 = 512;

/// An offscreen ARGB8888 image of `size`, refused beyond `MAX_IMAGE_SIDE`.
pub(crate) fn offscreen_image(
    renderer: &mut PixmanRenderer,
    size: Size<i32, Physical>,
) -> anyhow::Result<pixman::Image<'static, 'static>> {
    if size.w > MAX_IMAGE_SIDE || size.h > MAX_IMAGE_SIDE {
        anyhow::bail!("a {}x{} image is larger than {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}; not composed", size.w, size.h);
    }
    renderer
        .create_buffer(Fourcc::Argb8888, Size::<i32, Buffer>::from((size.w.max(1), size.h.max(1))))
        .map_err(|e| anyhow::anyhow!("offscreen image {size:?}: {e}"))
}

impl Target {
    fn new(renderer: &mut PixmanRenderer, size: Size<i32, Physical>, scale: f64) -> anyhow::Result<Self> {
        let image = offscreen_image(renderer, size)?;
        let tracker = OutputDamageTracker::new(size, scale, Transform::Normal);
        Ok(Self { image, tracker, scale, age: 0, direct: None })
    }

    fn size(&self) -> Size<i32, Physical> {
        (self.image.width() as i32, self.image.height() as i32).into()
    }

    fn frame(&self, damage: Vec<DamageRect>) -> Frame<'_> {
        frame_of(&self.image, damage)
    }
}

/// An image's pixels with the damage of its last render.
pub(crate) fn frame_of<'a>(image: &'a pixman::Image<'static, 'static>, damage: Vec<DamageRect>) -> Frame<'a> {
    let (w, h, stride) = (image.width(), image.height(), image.stride());
    // SAFETY: the image owns `stride * height` bytes for as long as it lives, and the returned
    // frame borrows it.
    let data = unsafe { std::slice::from_raw_parts(image.data() as *const u8, stride * h) };
    Frame { width: w, height: h, stride, data, damage }
}

fn to_damage_rects(rects: Option<&Vec<Rectangle<i32, Physical>>>) -> Vec<DamageRect> {
    rects
        .map(|v| v.iter().map(|r| DamageRect { x: r.loc.x, y: r.loc.y, width: r.size.w, height: r.size.h }).collect())
        .unwrap_or_default()
}

render_elements! {
    /// What an output is composed of: windows' surfaces and the title bars wayrail draws.
    OutputElement<=PixmanRenderer>;
    Surface=WaylandSurfaceRenderElement<PixmanRenderer>,
    Bar=MemoryRenderBufferRenderElement<PixmanRenderer>,
}

/// The bar cache's name for bars drawn into window images rather than onto an output.
const WINDOW_IMAGE: &str = "\0window";

/// Owns the pixman renderer and one offscreen target per window and per output.
pub struct Composer {
    renderer: PixmanRenderer,
    windows: HashMap<WindowId, WindowImage>,
    outputs: HashMap<String, Target>,
    cursor: Option<Target>,
    /// The icon of a drag in progress (`wl_data_device.start_drag`), drawn with the cursor.
    drag_icon: Option<WlSurface>,
    /// Screenshots' own targets (see [`Composer::for_screenshot`]).
    shot_windows: HashMap<WindowId, WindowImage>,
    shot_outputs: HashMap<String, Target>,
    /// Title bars of decorated windows (server-side decorations).
    bars: BarCache,
}

impl Composer {
    pub fn new() -> anyhow::Result<Self> {
        let renderer = PixmanRenderer::new().map_err(|e| anyhow::anyhow!("pixman renderer: {e}"))?;
        Ok(Self {
            renderer,
            windows: HashMap::new(),
            outputs: HashMap::new(),
            cursor: None,
            drag_icon: None,
            shot_windows: HashMap::new(),
            shot_outputs: HashMap::new(),
            bars: BarCache::default(),
        })
    }

    /// Runs `f` (a screenshot) on targets of its own. Rendering a target takes its damage, so a
    /// screenshot rendered into the targets a backend sends from would leave that damage out
    /// of the backend's next frame: the host would keep stale pixels.
    pub fn for_screenshot<T>(&mut self, f: impl FnOnce(&mut Composer) -> T) -> T {
        std::mem::swap(&mut self.windows, &mut self.shot_windows);
        std::mem::swap(&mut self.outputs, &mut self.shot_outputs);
        let value = f(self);
        std::mem::swap(&mut self.windows, &mut self.shot_windows);
        std::mem::swap(&mut self.outputs, &mut self.shot_outputs);
        value
    }

    /// The root surface of a window id, toplevel or popup.
    fn window_root(state: &Core, id: WindowId) -> Option<WlSurface> {
        if let Some(t) = state.toplevel_by_id(id) {
            return crate::state::window_root(&t.window);
        }
        state.popup_windows.get(&id).map(|p| match &p.popup {
            PopupKind::Xdg(x) => x.wl_surface().clone(),
            other => other.wl_surface().clone(),
        })
    }

    /// Composes one window (its surface and subsurfaces, no popups) at `scale`. The image covers
    /// the surface tree's bounding box, and the title bar above it where the window's image
    /// carries one (`Core::image_bar`); `origin` in the result is where the root surface sits in it.
    pub fn render_window(
        &mut self,
        state: &Core,
        id: WindowId,
        scale: f64,
    ) -> anyhow::Result<Option<(Frame<'_>, Point<i32, Physical>)>> {
        let Some(root) = Self::window_root(state, id) else {
            self.windows.remove(&id);
            return Ok(None);
        };
        let mut bbox = bbox_from_surface_tree(&root, (0, 0));
        let bar = image_bar_of(state, id);
        if let Some(bar) = bar {
            bbox = bbox.merge(bar);
        }
        let size = bbox.size.to_physical_precise_round(scale);
        let origin: Point<i32, Physical> =
            (Point::<i32, Logical>::from((0, 0)) - bbox.loc).to_physical_precise_round(scale);
        let reuse = self.windows.get(&id).is_some_and(|t| t.size() == size && t.scale == scale);
        if !reuse {
            self.windows.insert(id, WindowImage::new(&mut self.renderer, size, scale)?);
        }
        // Topmost first: the bar does not overlap the content, but goes first all the same.
        let mut elements: Vec<OutputElement> = Vec::new();
        if let Some(bar) = bar {
            elements.extend(self.image_bar_element(state, id, scale, bar, bbox.loc).map(OutputElement::Bar));
        }
        elements.extend(
            render_elements_from_surface_tree(&mut self.renderer, &root, origin, scale, 1.0, Kind::Unspecified)
                .into_iter()
                .map(OutputElement::Surface),
        );
        let image = self.windows.get_mut(&id).unwrap();
        let frame = image.draw(&mut self.renderer, &elements, origin).map_err(|e| e.context(format!("window {id}")))?;
        Ok(Some((frame, origin)))
    }

    /// The title bar of a window image (see `render_window`), its bottom-left corner where
    /// the bar's rectangle `bar` ends, relative to the image at `image_loc` (logical, root
    /// surface relative).
    fn image_bar_element(
        &mut self,
        state: &Core,
        id: WindowId,
        scale: f64,
        bar: Rectangle<i32, Logical>,
        image_loc: Point<i32, Logical>,
    ) -> Option<MemoryRenderBufferRenderElement<PixmanRenderer>> {
        let title = state.windows.get(id).map(|w| w.title.as_str()).unwrap_or_default();
        let look = if state.windows.active() == Some(id) { Look::Focused } else { Look::Unfocused };
        let spec = BarSpec { window: id, width: bar.size.w, title, look };
        let content: Point<i32, Physical> = (Point::<i32, Logical>::from((bar.loc.x, bar.loc.y + bar.size.h))
            - image_loc)
            .to_physical_precise_round(scale);
        self.bars.element(&mut self.renderer, WINDOW_IMAGE, scale, spec, content)
    }

    /// Writes what changed in a window straight from its client's buffer into `pool`, with no
    /// composition, when the window qualifies (see [`WindowImage::write_direct`]; not in the
    /// benchmark's WSLg-style whole-window mode, which composes as WSLg does). A title bar in
    /// the image is composed, by `render_window` only: the content goes direct while the bar
    /// the image shows is the bar of now. The rectangles written, or None: compose the window
    /// with `render_window`.
    pub fn write_window_direct(
        &mut self,
        state: &Core,
        id: WindowId,
        scale: f64,
        pool: &dyn wayrail_link::WindowPool,
    ) -> Option<Vec<wayrail_link::PoolRect>> {
        if state.config.vail.whole_window {
            return None;
        }
        let DirectLayout { root, bar, bbox, size, origin } = Self::direct_layout(state, id, scale)?;
        let reuse = self.windows.get(&id).is_some_and(|t| t.size() == size && t.scale == scale);
        let bar_layout = match bar {
            None => None,
            // A new image has no bar yet.
            Some(_) if !reuse => return None,
            Some(bar) => {
                let element = self.image_bar_element(state, id, scale, bar, bbox.loc)?;
                Some((element.id().clone(), element.geometry(scale.into())))
            }
        };
        if !reuse {
            // The image keeps the window's damage between frames, whichever path takes it.
            let image = WindowImage::new(&mut self.renderer, size, scale).ok()?;
            self.windows.insert(id, image);
        }
        self.windows.get_mut(&id)?.write_direct(&root, pool, origin, bar_layout)
    }

    /// The size of the image `write_window_direct` writes a window's pixels into (the pool's).
    pub fn direct_image_size(state: &Core, id: WindowId, scale: f64) -> Option<(u32, u32)> {
        let size = Self::direct_layout(state, id, scale)?.size;
        Some((u32::try_from(size.w).ok()?, u32::try_from(size.h).ok()?))
    }

    /// Where a window's surface and title bar lie in its image, when the surface tree starts
    /// at the root surface's origin (else the window goes composed).
    fn direct_layout(state: &Core, id: WindowId, scale: f64) -> Option<DirectLayout> {
        let root = Self::window_root(state, id)?;
        let surface = bbox_from_surface_tree(&root, (0, 0));
        if surface.loc != Point::from((0, 0)) {
            return None;
        }
        let bar = image_bar_of(state, id);
        let bbox = bar.map_or(surface, |bar| surface.merge(bar));
        let size = bbox.size.to_physical_precise_round(scale);
        let origin = (Point::<i32, Logical>::from((0, 0)) - bbox.loc).to_physical_precise_round(scale);
        Some(DirectLayout { root, bar, bbox, size, origin })
    }

    /// A commit changed these rectangles of a window (pixels at `scale`, relative to its root
    /// surface): its images redraw them, and only them, next time.
    pub fn window_damaged(&mut self, id: WindowId, scale: f64, rects: &[DamageRect]) {
        for images in [&mut self.windows, &mut self.shot_windows] {
            if let Some(image) = images.get_mut(&id) {
                image.damaged(scale, rects);
            }
        }
    }

    /// Composes a cursor surface tree at `scale`; None while it has no content.
    pub fn render_cursor(
        &mut self,
        surface: &WlSurface,
        scale: f64,
    ) -> anyhow::Result<Option<(Frame<'_>, Point<i32, Physical>)>> {
        if !surface_has_buffer(surface) {
            return Ok(None);
        }
        let bbox = bbox_from_surface_tree(surface, (0, 0));
        let size = bbox.size.to_physical_precise_round(scale);
        if size.w <= 0 || size.h <= 0 {
            return Ok(None);
        }
        if size.w > MAX_CURSOR_SIDE || size.h > MAX_CURSOR_SIDE {
            anyhow::bail!("a {}x{} cursor is larger than {MAX_CURSOR_SIDE}x{MAX_CURSOR_SIDE}", size.w, size.h);
        }
        let origin: Point<i32, Physical> =
            (Point::<i32, Logical>::from((0, 0)) - bbox.loc).to_physical_precise_round(scale);
        // Cursors are small and change rarely: a fresh target each time, fully drawn.
        let mut target = Target::new(&mut self.renderer, size, scale)?;
        let elements: Vec<WaylandSurfaceRenderElement<PixmanRenderer>> =
            render_elements_from_surface_tree(&mut self.renderer, surface, origin, scale, 1.0, Kind::Cursor);
        {
            let mut fb = self.renderer.bind(&mut target.image).map_err(|e| anyhow::anyhow!("bind: {e}"))?;
            target
                .tracker
                .render_output(&mut self.renderer, &mut fb, 0, &elements, [0.0, 0.0, 0.0, 0.0])
                .map_err(|e| anyhow::anyhow!("render cursor: {e:?}"))?;
        }
        self.cursor = Some(target);
        Ok(self.cursor.as_ref().map(|t| (t.frame(Vec::new()), origin)))
    }

    /// A drag started with this icon surface, or (None) ended.
    pub fn set_drag_icon(&mut self, icon: Option<WlSurface>) {
        self.drag_icon = icon;
    }

    /// The icon of the drag in progress, while its surface lives.
    pub fn drag_icon(&self) -> Option<&WlSurface> {
        self.drag_icon.as_ref().filter(|s| s.is_alive())
    }

    pub fn forget_window(&mut self, id: WindowId) {
        self.bars.forget_window(id);
        self.windows.remove(&id);
        self.shot_windows.remove(&id);
    }

    /// Composes a whole output: every visible window with its popups, bottom to top.
    pub fn render_output(&mut self, state: &Core, name: &str) -> anyhow::Result<Frame<'_>> {
        let entry = state.output_by_name(name).ok_or_else(|| anyhow::anyhow!("no output {name}"))?;
        let size: Size<i32, Physical> = entry.physical_size.into();
        let reuse = self.outputs.get(name).is_some_and(|t| t.size() == size && t.scale == entry.scale);
        if !reuse {
            let mut target = Target::new(&mut self.renderer, size, entry.scale)?;
            target.tracker = OutputDamageTracker::from_output(&entry.output);
            self.outputs.insert(name.to_string(), target);
        }
        let target = self.outputs.get_mut(name).unwrap();
        // Top to bottom, as the damage tracker wants them. Not smithay's space rendering: it
        // cannot see X11 windows associated through WL_SURFACE_ID (Xwayland before 23.1).
        let out_loc = Point::<i32, Logical>::from(entry.position);
        let lr = entry.logical_rect();
        let out_rect = Rectangle::<i32, Logical>::new(out_loc, (lr.width, lr.height).into());
        let mut elements: Vec<OutputElement> = Vec::new();
        for (window, render_loc, bar) in windows_on(state, out_rect) {
            let id = state.toplevels.iter().find(|t| &t.window == window).and_then(|t| t.id);
            let bar = match (bar, id) {
                (Some((anchor, overlay)), Some(id)) => {
                    let title = state.windows.get(id).map(|w| w.title.as_str()).unwrap_or_default();
                    let look = if state.windows.active() == Some(id) { Look::Focused } else { Look::Unfocused };
                    let spec = BarSpec { window: id, width: anchor.width, title, look };
                    let at = Point::<i32, Logical>::from((anchor.x, anchor.y));
                    let content: Point<i32, Physical> = (at - out_loc).to_physical_precise_round(entry.scale);
                    self.bars.element(&mut self.renderer, name, entry.scale, spec, content).map(|b| (b, overlay))
                }
                _ => None,
            };
            // A bar over a maximized window's content comes first: elements go top to bottom.
            let (over, beside) = match bar {
                Some((b, true)) => (Some(b), None),
                Some((b, false)) => (None, Some(b)),
                None => (None, None),
            };
            elements.extend(over.map(OutputElement::Bar));
            let phys: Point<i32, Physical> = (render_loc - out_loc).to_physical_precise_round(entry.scale);
            match window.x11_surface() {
                Some(x) => {
                    if let Some(root) = crate::state::x11_wl_surface(x) {
                        elements.extend(
                            render_elements_from_surface_tree(
                                &mut self.renderer,
                                &root,
                                phys,
                                entry.scale,
                                1.0,
                                Kind::Unspecified,
                            )
                            .into_iter()
                            .map(OutputElement::Surface),
                        );
                    }
                }
                None => {
                    elements.extend(
                        AsRenderElements::<PixmanRenderer>::render_elements::<
                            WaylandSurfaceRenderElement<PixmanRenderer>,
                        >(window, &mut self.renderer, phys, Scale::from(entry.scale), 1.0)
                        .into_iter()
                        .map(OutputElement::Surface),
                    )
                }
            }
            elements.extend(beside.map(OutputElement::Bar));
        }
        let damage = {
            let mut fb = self.renderer.bind(&mut target.image).map_err(|e| anyhow::anyhow!("bind: {e}"))?;
            let result = target
                .tracker
                .render_output(&mut self.renderer, &mut fb, target.age, &elements, [0.0, 0.0, 0.0, 1.0])
                .map_err(|e| anyhow::anyhow!("render output {name}: {e:?}"))?;
            to_damage_rects(result.damage)
        };
        target.age = 1;
        target.direct = None;
        Ok(target.frame(damage))
    }

    /// The desktop's direct path: when one window alone shows on an output, at its origin,
    /// and is a buffer as large as the output shown pixel for pixel (a fullscreen video, game
    /// or terminal, at any scale it draws at; see [`window_image::lone_buffer`]), the output
    /// is that buffer over the
    /// opaque black it is composed on: its own pixels, alpha made opaque (premultiplied, over
    /// black changes nothing else). Then what changed since the last frame is copied from the
    /// buffer into `pool` (the output's size; the pool makes it opaque) and nothing is
    /// composed. The rectangles written, or None: compose the output with `render_output`,
    /// which then redraws all of it (its image is stale after a direct frame).
    pub fn write_output_direct(
        &mut self,
        state: &Core,
        name: &str,
        pool: &dyn wayrail_link::WindowPool,
    ) -> Option<Vec<wayrail_link::PoolRect>> {
        let entry = state.output_by_name(name)?;
        let size: Size<i32, Physical> = entry.physical_size.into();
        if pool.size() != (u32::try_from(size.w).ok()?, u32::try_from(size.h).ok()?) {
            return None;
        }
        let out_loc = Point::<i32, Logical>::from(entry.position);
        let lr = entry.logical_rect();
        let out_rect = Rectangle::<i32, Logical>::new(out_loc, (lr.width, lr.height).into());
        let [(window, render_loc, None)] = windows_on(state, out_rect)[..] else { return None };
        let root = crate::state::window_root(window)?;
        let at: Point<i32, Physical> = (render_loc - out_loc).to_physical_precise_round(entry.scale);
        if at != Point::from((0, 0)) || PopupManager::popups_for_surface(&root).next().is_some() {
            return None;
        }
        let buffer = window_image::lone_buffer(&root, entry.scale, size)?;
        let whole = Rectangle::from_size(size);
        let commit = with_renderer_surface_state(&root, |s| s.current_commit())?;
        let target = self.outputs.get(name).filter(|t| t.size() == size && t.scale == entry.scale);
        let damage = match target.and_then(|t| t.direct.clone()) {
            Some((id, since)) if id == root.id() => {
                // The buffer is the output pixel for pixel: its damage is the output's.
                let rects = with_renderer_surface_state(&root, |s| s.damage_since(Some(since)))?;
                window_image::disjoint(rects.into_iter().filter_map(|r| {
                    Rectangle::<i32, Physical>::new((r.loc.x, r.loc.y).into(), (r.size.w, r.size.h).into())
                        .intersection(whole)
                }))
            }
            _ => vec![whole],
        };
        let rects = window_image::pool_rects(&damage);
        if !rects.is_empty() {
            window_image::copy_buffer(&buffer, size, pool, &rects, (0, 0))?;
        }
        if target.is_none() {
            let target = Target::new(&mut self.renderer, size, entry.scale).ok()?;
            self.outputs.insert(
                name.to_string(),
                Target { tracker: OutputDamageTracker::from_output(&entry.output), ..target },
            );
        }
        let target = self.outputs.get_mut(name)?;
        target.direct = Some((root.id(), commit));
        target.age = 0;
        Some(rects)
    }

    pub fn forget_output(&mut self, name: &str) {
        self.bars.forget_output(name);
        self.outputs.remove(name);
        self.shot_outputs.remove(name);
    }
}

/// A window that shows on an output, where its surface tree is drawn (logical) and its title
/// bar, if it has one (`Core::bar_anchor`).
type Shown<'s> = (&'s Window, Point<i32, Logical>, Option<(Rect, bool)>);

/// The windows that show on an output (`out_rect`, logical), topmost first.
fn windows_on(state: &Core, out_rect: Rectangle<i32, Logical>) -> Vec<Shown<'_>> {
    let mut windows = Vec::new();
    for window in state.space.elements().rev() {
        let Some(loc) = state.space.element_location(window) else { continue };
        let render_loc = loc - window.geometry().loc;
        let mut bbox = window.bbox_with_popups();
        bbox.loc += render_loc;
        let bar = state.bar_anchor(window);
        if let Some((anchor, _)) = bar {
            let r = crate::decorations::bar_rect(anchor);
            bbox = bbox.merge(Rectangle::new((r.x, r.y).into(), (r.width, r.height).into()));
        }
        if out_rect.overlaps(bbox) {
            windows.push((window, render_loc, bar));
        }
    }
    windows
}

/// See [`Composer::direct_layout`].
struct DirectLayout {
    root: WlSurface,
    bar: Option<Rectangle<i32, Logical>>,
    bbox: Rectangle<i32, Logical>,
    size: Size<i32, Physical>,
    origin: Point<i32, Physical>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffer damage `(x, y, w, h)` of a `buffer`-sized buffer at `scale`, cropped to `src`
    /// (logical, in the buffer's surface) and shown at `dst`: where it lands on the surface.
    fn map(
        (x, y, w, h): (i32, i32, i32, i32),
        scale: i32,
        buffer: (i32, i32),
        src: (f64, f64, f64, f64),
        dst: (i32, i32),
    ) -> Option<(f64, f64, f64, f64)> {
        let src = Rectangle::<f64, Logical>::new((src.0, src.1).into(), (src.2, src.3).into());
        let damage = Rectangle::new((x, y).into(), (w, h).into());
        let r = buffer_rect_to_surface(damage, scale, Transform::Normal, buffer.into(), src, dst.into())?;
        Some((r.loc.x, r.loc.y, r.size.w, r.size.h))
    }

    #[test]
    fn buffer_damage_maps_through_scale_and_viewport() {
        // Scale-2 buffer of a 100x100 surface: buffer (20,20 10x10) is logical (10,10 5x5).
        let full = (0.0, 0.0, 100.0, 100.0);
        assert_eq!(map((20, 20, 10, 10), 2, (200, 200), full, (100, 100)), Some((10.0, 10.0, 5.0, 5.0)));
        // A viewport showing the right half at double size.
        let right_half = (50.0, 0.0, 50.0, 100.0);
        assert_eq!(map((60, 0, 10, 10), 1, (100, 100), right_half, (100, 200)), Some((20.0, 0.0, 20.0, 20.0)));
        // Damage outside the crop is dropped.
        assert_eq!(map((0, 0, 10, 10), 1, (100, 100), right_half, (100, 200)), None);
    }
}
