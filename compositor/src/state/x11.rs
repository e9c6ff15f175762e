//! The glue between X11 windows and the window model.

use smithay::output::Output;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::utils::Rectangle;
use smithay::xwayland::X11Surface;

use super::Core;
use crate::window::{Rect, ShowState, WindowId};

/// The wl_surface an X11 window draws into: through xwayland-shell (smithay sets it), or
/// through the older WL_SURFACE_ID message, which Xwayland before 23.1 uses; that one we
/// resolve ourselves (see `State::associate_x11_surfaces`) and keep in the window's user data.
pub fn x11_wl_surface(x: &X11Surface) -> Option<WlSurface> {
    x.wl_surface().or_else(|| {
        x.user_data().get::<LegacyWlSurface>().and_then(|l| l.0.lock().unwrap().clone()).filter(|s| s.is_alive())
    })
}

/// The WL_SURFACE_ID association of an X11 window.
#[derive(Default)]
pub struct LegacyWlSurface(pub std::sync::Mutex<Option<WlSurface>>);

impl Core {
    /// Whose an override-redirect window (menu, tooltip) without WM_TRANSIENT_FOR is: the
    /// topmost X11 window it opens over, else the focused window.
    pub(super) fn x11_popup_owner(&self, x: &X11Surface, own: Option<WindowId>) -> Option<WindowId> {
        let at = x.geometry().loc;
        let under = self.space.elements().rev().find_map(|w| {
            let id = self.toplevels.iter().find(|t| &t.window == w).and_then(|t| t.id)?;
            let managed_x11 = w.x11_surface().is_some_and(|o| !o.is_override_redirect());
            let info = self.windows.get(id)?;
            (managed_x11 && Some(id) != own && info.rect().contains(at.x as f64, at.y as f64)).then_some(id)
        });
        under.or_else(|| self.windows.active()).filter(|a| Some(*a) != own)
    }

    /// The window id of an X11 window by its X11 id.
    pub fn x11_window_id(&self, window: u32) -> Option<WindowId> {
        self.toplevels
            .iter()
            .find(|t| t.window.x11_surface().is_some_and(|x| x.window_id() == window))
            .and_then(|t| t.id)
    }

    /// Maximize, fullscreen or restore an X11 window: it gets the area and the _NET_WM_STATE.
    pub(super) fn set_x11_show(&mut self, index: usize, show: ShowState, output: Option<&Output>) {
        let entry = &self.toplevels[index];
        let Some(x) = entry.window.x11_surface().cloned() else { return };
        let geo = x.geometry();
        let loc = entry.location.unwrap_or(geo.loc);
        let current = Rectangle::new(loc, geo.size);
        let rect = match show {
            ShowState::Normal | ShowState::Minimized => entry.restore.unwrap_or(current),
            ShowState::Maximized | ShowState::Fullscreen => {
                let out = output
                    .and_then(|o| self.outputs.iter().find(|e| &e.output == o))
                    .or_else(|| self.output_for_rect(Rect::new(loc.x, loc.y, geo.size.w.max(1), geo.size.h.max(1))));
                let Some(area) = out.map(|o| match show {
                    ShowState::Maximized => self.maximize_area(o),
                    _ => o.logical_rect(),
                }) else {
                    return;
                };
                Rectangle::new((area.x, area.y).into(), (area.width, area.height).into())
            }
        };
        let entry = &mut self.toplevels[index];
        if entry.show == ShowState::Normal && show != ShowState::Normal {
            entry.restore = Some(current);
        }
        if show == ShowState::Normal {
            entry.restore = None;
        }
        entry.show = show;
        entry.location = Some(rect.loc);
        let _ = x.set_maximized(show == ShowState::Maximized);
        let _ = x.set_fullscreen(show == ShowState::Fullscreen);
        let _ = x.configure(rect);
        if let Some(id) = entry.id {
            let window = entry.window.clone();
            self.space.map_element(window, rect.loc, false);
            self.windows.update(id, |w| w.state = show);
            self.sync_window_info(id);
        }
        self.output_damaged = true;
    }
}
