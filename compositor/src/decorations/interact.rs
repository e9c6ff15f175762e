//! What the pointer does on a title bar and the resize band around a decorated window: drag
//! the title to move, double-click it to maximize, the buttons to close, maximize or
//! minimize, the band to resize; a maximized window's bar shows while the pointer is at its top.
//! In a RemoteApp session the bars are part of the window images (`Core::window_bars`): the
//! host's pointer over one lands here the same way, a drag on a title goes to the host as a
//! local move when it can do that, and there is no resize band (the host's window ends at
//! the frame).

use std::time::{Duration, Instant};

use smithay::desktop::WindowSurfaceType;
use smithay::input::pointer::{CursorImageStatus, Focus, GrabStartData};
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::ResizeEdge;
use smithay::utils::{Logical, Point, Serial};

use super::{cursor_for, hit_test, revealed, Hit};
use crate::grabs::MoveResizeGrab;
use crate::input::BTN_LEFT;
use crate::state::State;
use crate::window::{Rect, ShowState, WindowId};

/// Two presses on a title within this long are a double-click.
const DOUBLE_CLICK: Duration = Duration::from_millis(400);

impl State {
    /// The decorated window whose title bar or resize band is the topmost thing at `pos`, and
    /// what that part of its frame does.
    pub fn decoration_at(&self, pos: Point<f64, Logical>) -> Option<(WindowId, Hit)> {
        // A RemoteApp host's window ends at the bar: no resize band around it.
        let band = !self.window_bars;
        for window in self.space.elements().rev() {
            let Some(loc) = self.space.element_location(window) else { continue };
            let size = window.geometry().size;
            let content = Rect::new(loc.x, loc.y, size.w, size.h);
            if let Some((anchor, overlay)) = self.bar_anchor(window) {
                // A bar over a maximized window has no resize band.
                let hit =
                    hit_test(anchor, pos.x, pos.y).filter(|h| !((overlay || !band) && matches!(h, Hit::Resize(_))));
                if let Some(hit) = hit {
                    return self.toplevels.iter().find(|t| &t.window == window).and_then(|t| t.id).map(|id| (id, hit));
                }
            }
            // The window, or a popup of it, has the point: whatever is below is hidden.
            let local = pos - (loc - window.geometry().loc).to_f64();
            if content.contains(pos.x, pos.y) || window.surface_under(local, WindowSurfaceType::ALL).is_some() {
                return None;
            }
        }
        None
    }

    /// The pointer at `pos` over a part of a frame takes that part's shape (the apps set it
    /// elsewhere, on entering their surfaces). Returns whether a decoration is under it.
    pub fn pointer_over_decoration(&mut self, pos: Point<f64, Logical>) -> bool {
        let Some((_, hit)) = self.decoration_at(pos) else { return false };
        let image = CursorImageStatus::Named(cursor_for(hit));
        if self.cursor_status != image {
            self.cursor_status = image;
            self.cursor_dirty = true;
        }
        true
    }

    /// Shows or hides maximized windows' bars for the pointer at `pos` (see
    /// [`super::revealed`]); the outputs are redrawn when one changed.
    pub fn reveal_bars(&mut self, pos: Point<f64, Logical>) {
        // A window image carries no overlay bar (RemoteApp: the host maximizes windows).
        let shown = !self.window_bars;
        let mut changed = false;
        for i in 0..self.toplevels.len() {
            let t = &self.toplevels[i];
            let reveal = shown
                && t.show == ShowState::Maximized
                && self.is_decorated(&t.window)
                && self.space.element_location(&t.window).is_some_and(|loc| {
                    let size = t.window.geometry().size;
                    revealed(Rect::new(loc.x, loc.y, size.w, size.h), t.bar_revealed, pos.x, pos.y)
                });
            if self.toplevels[i].bar_revealed != reveal {
                self.toplevels[i].bar_revealed = reveal;
                changed = true;
            }
        }
        if changed {
            self.output_damaged = true;
        }
    }

    /// A button pressed at the pointer: when it is on a decoration, the window is focused, the
    /// press does what that part of the frame does, and a grab keeps the press (and its
    /// release) from the apps. Returns whether the press was taken.
    pub fn press_on_decoration(&mut self, button: u32, serial: Serial) -> bool {
        let pos = self.pointer_location;
        let Some((id, hit)) = self.decoration_at(pos) else { return false };
        let Some(pointer) = self.seat.get_pointer() else { return false };
        let Some(index) = self.toplevels.iter().position(|t| t.id == Some(id)) else { return false };
        if self.windows.active() != Some(id) {
            self.focus_window(Some(id));
        }
        let start = GrabStartData { focus: None, button, location: pos };
        let entry = &mut self.toplevels[index];
        let (location, size, show) = (entry.location.unwrap_or_default(), entry.window.geometry().size, entry.show);
        let grab = match hit {
            Hit::Title if button == BTN_LEFT => {
                let now = Instant::now();
                let double = entry.last_title_press.is_some_and(|t| now.duration_since(t) < DOUBLE_CLICK);
                entry.last_title_press = (!double).then_some(now);
                if double {
                    self.set_maximized(id, show != ShowState::Maximized);
                    MoveResizeGrab::holding(start, id)
                } else if show == ShowState::Maximized {
                    // A maximized window stays where maximize put it.
                    MoveResizeGrab::holding(start, id)
                } else if self.host_move_resize {
                    // The host drags its window natively (RemoteApp with local move/size).
                    // Some hosts (FreeRDP) say where it ended only by the button going up
                    // there: the grab moves the window by the pointer's way, as Windows' own
                    // move loop does, and the button going up ends the host's move.
                    self.windows.move_resize_requested(id, None, pos.x, pos.y);
                    MoveResizeGrab::moving(start, id, location)
                } else {
                    MoveResizeGrab::moving(start, id, location)
                }
            }
            Hit::Close if button == BTN_LEFT => {
                self.close_window(id);
                MoveResizeGrab::holding(start, id)
            }
            Hit::Maximize if button == BTN_LEFT => {
                self.set_maximized(id, show != ShowState::Maximized);
                MoveResizeGrab::holding(start, id)
            }
            Hit::Minimize if button == BTN_LEFT => {
                self.set_minimized(id, true);
                MoveResizeGrab::holding(start, id)
            }
            Hit::Resize(edges) if button == BTN_LEFT && show == ShowState::Normal => {
                match ResizeEdge::try_from(edges) {
                    Ok(edges) => MoveResizeGrab::resizing(start, id, edges, location, size),
                    Err(_) => MoveResizeGrab::holding(start, id),
                }
            }
            _ => MoveResizeGrab::holding(start, id),
        };
        pointer.set_grab(self, grab, serial, Focus::Clear);
        true
    }
}
