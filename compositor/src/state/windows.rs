//! The toplevel lifecycle (new, committed, mapped, unmapped, destroyed), the window registry
//! kept in step with it, and the lookups everything else uses.

use smithay::desktop::utils::under_from_surface_tree;
use smithay::desktop::{PopupManager, Window, WindowSurfaceType};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::utils::{Logical, Point, Rectangle, Size, Transform};
use smithay::wayland::compositor::{send_surface_state, with_states, with_surface_tree_downward, TraversalAction};
use smithay::wayland::fractional_scale::with_fractional_scale;
use smithay::wayland::shell::xdg::{SurfaceCachedState, ToplevelSurface, XdgToplevelSurfaceData};

use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1;

use super::{x11_wl_surface, Core, State};
use crate::config::DecorationMode;
use crate::window::{Rect, ShowState, WindowId, WindowInfo, WindowKind};

/// A toplevel we manage, mapped or not.
pub struct ToplevelEntry {
    pub window: Window,
    /// Assigned when the toplevel first maps; None while it has no content.
    pub id: Option<WindowId>,
    pub show: ShowState,
    /// Where it was before maximize/fullscreen, to restore to.
    pub restore: Option<Rectangle<i32, Logical>>,
    /// Its last position while mapped, kept across minimize.
    pub location: Option<Point<i32, Logical>>,
    /// The output whose scale its surfaces were last told to prefer.
    pub preferred_output: Option<String>,
    /// The state to return to when un-minimized.
    pub restore_show: Option<ShowState>,
    /// When its title bar (server-side decorations) was last pressed, to see double-clicks.
    pub last_title_press: Option<std::time::Instant>,
    /// While maximized: its title bar shows over the top of its content (see
    /// `decorations::revealed`).
    pub bar_revealed: bool,
}

impl Core {
    pub fn toplevel_index(&self, surface: &WlSurface) -> Option<usize> {
        self.toplevels.iter().position(|t| window_root(&t.window).as_ref() == Some(surface))
    }

    pub fn toplevel_by_id(&self, id: WindowId) -> Option<&ToplevelEntry> {
        self.toplevels.iter().find(|t| t.id == Some(id))
    }

    pub(super) fn toplevel_index_by_id(&self, id: WindowId) -> Option<usize> {
        self.toplevels.iter().position(|t| t.id == Some(id))
    }

    /// The window id of the toplevel or popup whose root surface is `surface`.
    pub fn window_id_for_surface(&self, surface: &WlSurface) -> Option<WindowId> {
        if let Some(i) = self.toplevel_index(surface) {
            return self.toplevels[i].id;
        }
        self.popup_windows.iter().find(|(_, p)| p.popup.wl_surface() == surface).map(|(id, _)| *id)
    }

    /// The window id owning any surface (a subsurface resolves to its root).
    pub fn window_id_for_any_surface(&self, surface: &WlSurface) -> Option<WindowId> {
        let mut root = surface.clone();
        while let Some(parent) = smithay::wayland::compositor::get_parent(&root) {
            root = parent;
        }
        self.window_id_for_surface(&root)
    }

    pub(super) fn placement_output_name(&self) -> Option<String> {
        let (x, y) = (self.pointer_location.x, self.pointer_location.y);
        self.output_at(x, y).or(self.outputs.first()).map(|o| o.name.clone())
    }

    /// Where a new window goes: centered on its parent, else cascaded on the output under the pointer.
    pub fn initial_location(&self, size: Size<i32, Logical>, parent: Option<WindowId>) -> Point<i32, Logical> {
        if let Some(parent) = parent.and_then(|p| self.windows.get(p)) {
            return (parent.x + (parent.width - size.w) / 2, parent.y + (parent.height - size.h) / 2).into();
        }
        let Some(out) = self.output_at(self.pointer_location.x, self.pointer_location.y).or(self.outputs.first())
        else {
            return (0, 0).into();
        };
        let area = out.logical_rect();
        let n = self.toplevels.iter().filter(|t| t.id.is_some()).count() as i32 % 8;
        let x = area.x + ((area.width - size.w) / 2).max(0) + n * 32 - 112;
        let y = area.y + ((area.height - size.h) / 2).max(0) + n * 32 - 112;
        (x.max(area.x), y.max(area.y)).into()
    }

    /// Whether a surface belongs to a window on screen: mapped and not minimized; popups and
    /// subsurfaces by their toplevel.
    pub(super) fn is_shown(&self, surface: &WlSurface) -> bool {
        let mut id = self.window_id_for_any_surface(surface);
        while let Some(parent) = id.and_then(|i| self.popup_windows.get(&i)).map(|p| p.parent) {
            id = parent;
        }
        id.and_then(|id| self.toplevel_by_id(id)).is_some_and(|t| self.space.elements().any(|w| w == &t.window))
    }

    /// Re-reads a mapped toplevel's title, geometry, outputs and scale into the registry.
    pub fn sync_window_info(&mut self, id: WindowId) {
        let Some(index) = self.toplevel_index_by_id(id) else { return };
        let window = self.toplevels[index].window.clone();
        let Some(root) = window_root(&window) else { return };
        let WindowMeta { title, app_id, parent, .. } = self.window_meta(&window);
        let geometry = window.geometry();
        let location = self.space.element_location(&window).or(self.toplevels[index].location).unwrap_or_default();
        self.toplevels[index].location = Some(location);
        let rect = Rect::new(location.x, location.y, geometry.size.w, geometry.size.h);
        let output = self.output_for_rect(rect).map(|o| (o.name.clone(), o.scale));
        let show = self.toplevels[index].show;
        if let Some((name, _)) = &output {
            if self.toplevels[index].preferred_output.as_ref() != Some(name) {
                self.toplevels[index].preferred_output = Some(name.clone());
                self.send_preferred_scale(&root, name);
            }
        }
        self.windows.update(id, |w| {
            w.title = title;
            w.app_id = app_id;
            w.parent = parent;
            w.x = rect.x;
            w.y = rect.y;
            w.width = rect.width;
            w.height = rect.height;
            w.state = show;
            if let Some((name, scale)) = output {
                w.output = Some(name);
                w.scale = scale;
            }
        });
    }

    /// Tells every surface of a window (and its popups) the scale and transform of an output.
    pub fn send_preferred_scale(&self, root: &WlSurface, output_name: &str) {
        let Some(out) = self.output_by_name(output_name) else { return };
        let scale = out.output.current_scale();
        let apply = |surface: &WlSurface| {
            with_surface_tree_downward(
                surface,
                (),
                |_, _, _| TraversalAction::DoChildren(()),
                |s, data, _| {
                    send_surface_state(s, data, scale.integer_scale(), Transform::Normal);
                    with_fractional_scale(data, |fs| fs.set_preferred_scale(scale.fractional_scale()));
                },
                |_, _, _| true,
            );
        };
        apply(root);
        for (popup, _) in PopupManager::popups_for_surface(root) {
            apply(popup.wl_surface());
        }
    }

    /// Whether wayrail draws a title bar above a window: server-side decorations are
    /// configured and the window is an xdg toplevel in server-side mode, or an X11 window with
    /// no frame of its own; never while it is fullscreen.
    pub fn is_decorated(&self, window: &Window) -> bool {
        let fullscreen =
            self.toplevels.iter().find(|t| &t.window == window).is_some_and(|t| t.show == ShowState::Fullscreen);
        !fullscreen && self.wants_bar(window)
    }

    /// Where a window's title bar is: the rectangle it is laid out above (`decorations::
    /// bar_rect`, `hit_test`) and whether it overlays the content (a maximized window's,
    /// while revealed). None when it shows no bar.
    pub fn bar_anchor(&self, window: &Window) -> Option<(Rect, bool)> {
        let entry = self.toplevels.iter().find(|t| &t.window == window)?;
        let loc = self.space.element_location(window)?;
        if !self.is_decorated(window) {
            return None;
        }
        let size = window.geometry().size;
        let content = Rect::new(loc.x, loc.y, size.w, size.h);
        match entry.show {
            ShowState::Maximized if entry.bar_revealed => Some((crate::decorations::overlay_anchor(content), true)),
            ShowState::Maximized => None,
            _ => Some((content, false)),
        }
    }

    /// The title bar a window's own image carries (RemoteApp, see `window_bars`), in global
    /// logical pixels: right above its content, for a decorated window that is not maximized.
    pub fn image_bar(&self, id: WindowId) -> Option<Rect> {
        if !self.window_bars {
            return None;
        }
        let entry = self.toplevel_by_id(id)?;
        match self.bar_anchor(&entry.window)? {
            (anchor, false) => Some(crate::decorations::bar_rect(anchor)),
            (_, true) => None,
        }
    }

    /// Whether a window gets a title bar whenever it is not fullscreen.
    pub fn wants_bar(&self, window: &Window) -> bool {
        if self.config.decorations == DecorationMode::ClientSide {
            return false;
        }
        match window.x11_surface() {
            Some(x) => self.x11_wants_frame(x),
            None => window.toplevel().is_some_and(|t| {
                t.current_state().decoration_mode == Some(zxdg_toplevel_decoration_v1::Mode::ServerSide)
            }),
        }
    }

    /// An X11 window without a frame of its own: not override-redirect, no Motif hint saying
    /// "no decorations" (what client-side decorated X11 apps, GTK's among them, set) and no
    /// `_GTK_FRAME_EXTENTS` (read as it maps, see `decorations::has_client_frame`).
    pub fn x11_wants_frame(&self, x: &smithay::xwayland::X11Surface) -> bool {
        self.config.decorations == DecorationMode::ServerSide
            && !x.is_override_redirect()
            && !x.is_decorated()
            && !crate::decorations::has_client_frame(x)
    }

    pub(super) fn client_pid(&self, surface: &WlSurface) -> Option<i32> {
        let client = surface.client()?;
        client.get_credentials(&self.display_handle).ok().map(|c| c.pid)
    }
}

pub fn toplevel_title_app_id(toplevel: &ToplevelSurface) -> (String, String) {
    with_states(toplevel.wl_surface(), |states| {
        let data = states.data_map.get::<XdgToplevelSurfaceData>().unwrap().lock().unwrap();
        (data.title.clone().unwrap_or_default(), data.app_id.clone().unwrap_or_default())
    })
}

/// Clamps a size to a toplevel's min/max size hints (0 means unbounded).
pub fn clamp_to_size_hints(toplevel: &ToplevelSurface, size: Size<i32, Logical>) -> Size<i32, Logical> {
    let (min, max) = with_states(toplevel.wl_surface(), |states| {
        let mut cached = states.cached_state.get::<SurfaceCachedState>();
        let current = cached.current();
        (current.min_size, current.max_size)
    });
    clamp_size(size, min, max)
}

pub fn clamp_size(size: Size<i32, Logical>, min: Size<i32, Logical>, max: Size<i32, Logical>) -> Size<i32, Logical> {
    let clamp = |v: i32, lo: i32, hi: i32| {
        let v = if hi > 0 { v.min(hi) } else { v };
        v.max(lo).max(1)
    };
    (clamp(size.w, min.w, max.w), clamp(size.h, min.h, max.h)).into()
}

/// The root wl_surface of a window: its xdg toplevel's, or its X11 window's once known.
pub fn window_root(window: &Window) -> Option<WlSurface> {
    match window.x11_surface() {
        Some(x) => x11_wl_surface(x),
        None => window.toplevel().map(|t| t.wl_surface().clone()),
    }
}

/// The topmost window under a point and its render location (its root surface's origin).
/// smithay's `Space::element_under` cannot see X11 windows associated through WL_SURFACE_ID.
pub fn window_under(state: &State, pos: Point<f64, Logical>) -> Option<(Window, Point<i32, Logical>)> {
    state.space.elements().rev().find_map(|w| {
        let render_loc = state.space.element_location(w)? - w.geometry().loc;
        let local = pos - render_loc.to_f64();
        let hit = match w.x11_surface() {
            Some(x) => x11_wl_surface(x)
                .is_some_and(|s| under_from_surface_tree(&s, local, (0, 0), WindowSurfaceType::ALL).is_some()),
            None => smithay::desktop::space::SpaceElement::is_in_input_region(w, &local),
        };
        hit.then(|| (w.clone(), render_loc))
    })
}

/// What the registry shows of a window besides geometry.
pub struct WindowMeta {
    pub title: String,
    pub app_id: String,
    pub parent: Option<WindowId>,
    pub pid: Option<i32>,
}

impl Core {
    /// Title, app id, parent and pid of a toplevel entry's window, xdg or X11.
    pub fn window_meta(&self, window: &Window) -> WindowMeta {
        if let Some(x) = window.x11_surface() {
            let own = self.toplevels.iter().find(|t| &t.window == window).and_then(|t| t.id);
            let transient = x.is_transient_for().and_then(|w| self.x11_window_id(w));
            let parent = transient
                .or_else(|| own.and_then(|id| self.windows.get(id)).and_then(|w| w.parent))
                .or_else(|| x.is_override_redirect().then(|| self.x11_popup_owner(x, own)).flatten());
            let class = x.class();
            return WindowMeta {
                title: x.title(),
                app_id: if class.is_empty() { x.instance() } else { class },
                parent,
                pid: x.pid().map(|p| p as i32),
            };
        }
        let Some(toplevel) = window.toplevel() else {
            return WindowMeta { title: String::new(), app_id: String::new(), parent: None, pid: None };
        };
        let (title, app_id) = toplevel_title_app_id(toplevel);
        let parent = toplevel.parent().and_then(|p| self.window_id_for_surface(&p));
        WindowMeta { title, app_id, parent, pid: None }
    }
}

/// The window under a point, and the surface and its global origin under it.
pub fn surface_under(state: &State, pos: Point<f64, Logical>) -> Option<(WlSurface, Point<f64, Logical>)> {
    // `element_under` gives the render location (the window's location minus its geometry
    // offset): the origin of its root surface.
    let (window, render_loc) = window_under(state, pos)?;
    let local = pos - render_loc.to_f64();
    let found = match window.x11_surface() {
        Some(x) => under_from_surface_tree(&x11_wl_surface(x)?, local, (0, 0), WindowSurfaceType::ALL),
        None => window.surface_under(local, WindowSurfaceType::ALL),
    };
    found.map(|(s, p)| (s, (p + render_loc).to_f64()))
}

impl State {
    /// `loc` (a decorated window's content) moved down where needed so that its title bar
    /// starts on the output under it, not above it.
    pub fn leave_room_for_bar(&self, loc: Point<i32, Logical>) -> Point<i32, Logical> {
        let bar = crate::decorations::BAR_HEIGHT;
        let out = self
            .output_at(loc.x as f64, loc.y as f64)
            .or_else(|| self.output_at(loc.x as f64, (loc.y - bar) as f64))
            .or(self.outputs.first());
        match out.map(|o| o.logical_rect()) {
            Some(area) if loc.y - bar < area.y => (loc.x, area.y + bar).into(),
            _ => loc,
        }
    }

    pub fn new_toplevel(&mut self, toplevel: ToplevelSurface) {
        let window = Window::new_wayland_window(toplevel.clone());
        // Tell the client the scale it will be shown at before it draws its first frame.
        let output = self.placement_output_name();
        if let Some(name) = &output {
            self.send_preferred_scale(toplevel.wl_surface(), name);
        }
        self.toplevels.push(ToplevelEntry {
            window,
            id: None,
            show: ShowState::Normal,
            restore: None,
            location: None,
            preferred_output: output,
            restore_show: None,
            last_title_press: None,
            bar_revealed: false,
        });
    }

    /// Called on every non-sync commit of a toplevel's root surface.
    pub fn toplevel_committed(&mut self, index: usize) {
        let entry = &mut self.toplevels[index];
        entry.window.on_commit();
        let Some(root) = window_root(&entry.window) else { return };
        if let Some(toplevel) = entry.window.toplevel() {
            if !toplevel.is_initial_configure_sent() {
                toplevel.send_configure();
                return;
            }
        }
        let has_buffer = crate::render::surface_has_buffer(&root);
        match (entry.id, has_buffer) {
            (None, true) if entry.show != ShowState::Minimized => self.map_toplevel(index),
            (Some(id), false) => {
                tracing::debug!(%id, "toplevel unmapped its buffer");
                self.unmap_toplevel(index);
            }
            (Some(id), true) => {
                self.sync_window_info(id);
            }
            _ => {}
        }
    }

    pub(super) fn map_toplevel(&mut self, index: usize) {
        let window = self.toplevels[index].window.clone();
        let Some(root) = window_root(&window) else { return };
        let meta = self.window_meta(&window);
        let parent = meta.parent;
        let geometry = window.geometry();
        let location = match (self.toplevels[index].location, self.toplevels[index].show) {
            // X11 windows are where the X server has them (override-redirect ones place themselves).
            _ if window.is_x11() => window.x11_surface().map(|x| x.geometry().loc).unwrap_or_default(),
            (Some(loc), ShowState::Normal) => loc,
            (_, ShowState::Maximized | ShowState::Fullscreen) => {
                self.toplevels[index].location.unwrap_or_else(|| self.initial_location(geometry.size, parent))
            }
            _ => self.initial_location(geometry.size, parent),
        };
        let location = match (self.is_decorated(&window), self.toplevels[index].show) {
            (true, ShowState::Normal) => self.leave_room_for_bar(location),
            _ => location,
        };
        if let Some(x) = window.x11_surface().filter(|x| x.geometry().loc != location) {
            let _ = x.configure(Rectangle::new(location, x.geometry().size));
        }
        let override_redirect = window.x11_surface().is_some_and(|x| x.is_override_redirect());
        // X11 windows: _NET_WM_PID only (Xwayland's connection would give Xwayland or us).
        let pid = if window.is_x11() { meta.pid } else { self.client_pid(&root) };
        let info = WindowInfo {
            id: WindowId(0),
            kind: if override_redirect { WindowKind::Popup } else { WindowKind::Toplevel },
            title: meta.title,
            app_id: meta.app_id,
            pid,
            parent,
            x: location.x,
            y: location.y,
            width: geometry.size.w,
            height: geometry.size.h,
            state: self.toplevels[index].show,
            output: None,
            scale: 1.0,
            activated: false,
        };
        let id = self.windows.insert(info);
        tracing::info!(%id, title = %self.windows.get(id).unwrap().title, "window mapped");
        let entry = &mut self.toplevels[index];
        entry.id = Some(id);
        entry.location = Some(location);
        self.space.map_element(window, location, false);
        if override_redirect {
            self.update_stacking();
        } else {
            self.focus_window(Some(id));
        }
        self.sync_window_info(id);
        self.output_damaged = true;
    }

    pub fn unmap_toplevel(&mut self, index: usize) {
        let entry = &mut self.toplevels[index];
        let window = entry.window.clone();
        if let Some(id) = entry.id.take() {
            self.windows.remove(id);
            tracing::info!(%id, "window gone");
        }
        self.space.unmap_elem(&window);
        self.after_window_removed();
    }

    pub fn toplevel_destroyed(&mut self, surface: &WlSurface) {
        if let Some(index) = self.toplevel_index(surface) {
            self.unmap_toplevel(index);
            self.toplevels.remove(index);
        }
    }

    pub(super) fn after_window_removed(&mut self) {
        self.output_damaged = true;
        let focus = self.seat.get_keyboard().and_then(|k| k.current_focus());
        // A minimized window keeps its id but must not keep the keyboard.
        let focus_alive = focus.as_ref().is_some_and(|f| f.is_alive() && self.is_shown(f));
        if !focus_alive {
            // Focus goes to the topmost remaining window.
            let top = self
                .space
                .elements()
                .rev()
                .filter(|w| !w.x11_surface().is_some_and(|x| x.is_override_redirect()))
                .find_map(window_root);
            let id = top.and_then(|s| self.window_id_for_surface(&s));
            self.focus_window(id);
        } else {
            self.update_stacking();
        }
    }
}
