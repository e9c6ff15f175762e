//! Interactive move and resize done by the compositor, for when no host can do it natively
//! (headless, nested, full-desktop RDP). A RemoteApp host gets the request instead and drags
//! the window itself, with its own snapping.

use smithay::input::pointer::{
    AxisFrame, ButtonEvent, GestureHoldBeginEvent, GestureHoldEndEvent, GesturePinchBeginEvent, GesturePinchEndEvent,
    GesturePinchUpdateEvent, GestureSwipeBeginEvent, GestureSwipeEndEvent, GestureSwipeUpdateEvent, GrabStartData,
    MotionEvent, PointerGrab, PointerInnerHandle, RelativeMotionEvent,
};
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::ResizeEdge;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, Size};

use crate::state::State;
use crate::window::WindowId;

/// What a grab does with the pointer's travel.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Move {
        start_location: Point<i32, Logical>,
    },
    Resize {
        edges: ResizeEdge,
        start_location: Point<i32, Logical>,
        start_size: Size<i32, Logical>,
    },
    /// The buttons are held on a title bar's button: nothing moves, no client sees them.
    Hold,
}

pub struct MoveResizeGrab {
    start: GrabStartData<State>,
    window: WindowId,
    kind: Kind,
}

impl MoveResizeGrab {
    pub fn moving(start: GrabStartData<State>, window: WindowId, location: Point<i32, Logical>) -> Self {
        Self { start, window, kind: Kind::Move { start_location: location } }
    }

    /// Holds the pointer until its buttons are released (a click on a title bar's button).
    pub fn holding(start: GrabStartData<State>, window: WindowId) -> Self {
        Self { start, window, kind: Kind::Hold }
    }

    pub fn resizing(
        start: GrabStartData<State>,
        window: WindowId,
        edges: ResizeEdge,
        location: Point<i32, Logical>,
        size: Size<i32, Logical>,
    ) -> Self {
        Self { start, window, kind: Kind::Resize { edges, start_location: location, start_size: size } }
    }
}

/// The new rectangle of a resize from `loc`/`size` by `delta`, for the edges held.
pub fn resized(
    edges: ResizeEdge,
    loc: Point<i32, Logical>,
    size: Size<i32, Logical>,
    delta: Point<i32, Logical>,
) -> (Point<i32, Logical>, Size<i32, Logical>) {
    let bits = edges as u32;
    let (mut x, mut y, mut w, mut h) = (loc.x, loc.y, size.w, size.h);
    if bits & ResizeEdge::Left as u32 != 0 {
        x += delta.x;
        w -= delta.x;
    }
    if bits & ResizeEdge::Right as u32 != 0 {
        w += delta.x;
    }
    if bits & ResizeEdge::Top as u32 != 0 {
        y += delta.y;
        h -= delta.y;
    }
    if bits & ResizeEdge::Bottom as u32 != 0 {
        h += delta.y;
    }
    ((x, y).into(), (w.max(1), h.max(1)).into())
}

impl PointerGrab<State> for MoveResizeGrab {
    fn motion(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        _focus: Option<(WlSurface, Point<f64, Logical>)>,
        event: &MotionEvent,
    ) {
        // No client gets pointer focus while the window is dragged.
        handle.motion(data, None, event);
        let delta = (event.location - self.start.location).to_i32_round::<i32>();
        match self.kind {
            Kind::Move { start_location } => {
                let to = start_location + delta;
                data.move_window(self.window, to.x, to.y);
            }
            Kind::Resize { edges, start_location, start_size } => {
                let (loc, size) = resized(edges, start_location, start_size, delta);
                data.request_size(self.window, size.w, size.h);
                // Edges on the left/top move the window as it shrinks or grows.
                if loc != start_location {
                    data.move_window(self.window, loc.x, loc.y);
                }
            }
            Kind::Hold => {}
        }
    }

    fn relative_motion(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        focus: Option<(WlSurface, Point<f64, Logical>)>,
        event: &RelativeMotionEvent,
    ) {
        handle.relative_motion(data, focus, event);
    }

    fn button(&mut self, data: &mut State, handle: &mut PointerInnerHandle<'_, State>, event: &ButtonEvent) {
        handle.button(data, event);
        if handle.current_pressed().is_empty() {
            handle.unset_grab(self, data, event.serial, event.time, true);
            if data.host_move_resize && matches!(self.kind, Kind::Move { .. }) {
                // A title-bar move the host did alongside (see `press_on_decoration`).
                data.windows.move_resize_ended(self.window);
            }
        }
    }

    fn axis(&mut self, data: &mut State, handle: &mut PointerInnerHandle<'_, State>, details: AxisFrame) {
        handle.axis(data, details);
    }

    fn frame(&mut self, data: &mut State, handle: &mut PointerInnerHandle<'_, State>) {
        handle.frame(data);
    }

    fn gesture_swipe_begin(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        event: &GestureSwipeBeginEvent,
    ) {
        handle.gesture_swipe_begin(data, event);
    }

    fn gesture_swipe_update(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        event: &GestureSwipeUpdateEvent,
    ) {
        handle.gesture_swipe_update(data, event);
    }

    fn gesture_swipe_end(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        event: &GestureSwipeEndEvent,
    ) {
        handle.gesture_swipe_end(data, event);
    }

    fn gesture_pinch_begin(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        event: &GesturePinchBeginEvent,
    ) {
        handle.gesture_pinch_begin(data, event);
    }

    fn gesture_pinch_update(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        event: &GesturePinchUpdateEvent,
    ) {
        handle.gesture_pinch_update(data, event);
    }

    fn gesture_pinch_end(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        event: &GesturePinchEndEvent,
    ) {
        handle.gesture_pinch_end(data, event);
    }

    fn gesture_hold_begin(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        event: &GestureHoldBeginEvent,
    ) {
        handle.gesture_hold_begin(data, event);
    }

    fn gesture_hold_end(
        &mut self,
        data: &mut State,
        handle: &mut PointerInnerHandle<'_, State>,
        event: &GestureHoldEndEvent,
    ) {
        handle.gesture_hold_end(data, event);
    }

    fn start_data(&self) -> &GrabStartData<State> {
        &self.start
    }

    fn unset(&mut self, _data: &mut State) {}
}

impl State {
    /// An app asked to be moved or resized with the pointer button it holds (`serial`): a
    /// host that can do it natively is asked to, otherwise the compositor drags the window.
    pub fn interactive_move_resize(
        &mut self,
        surface: &WlSurface,
        seat: &smithay::reexports::wayland_server::protocol::wl_seat::WlSeat,
        serial: smithay::utils::Serial,
        edges: Option<ResizeEdge>,
    ) {
        let Some(seat) = smithay::input::Seat::<State>::from_resource(seat) else { return };
        let Some(pointer) = seat.get_pointer() else { return };
        // Only while the button that started it is still held.
        if !pointer.has_grab(serial) {
            return;
        }
        let Some(id) = self.window_id_for_surface(surface) else { return };
        self.start_move_resize(id, &pointer, serial, edges);
    }

    /// Hands a move/resize of window `id` to the host when it can do it natively, else starts
    /// the compositor's grab; `pointer` must hold the grab that started it.
    pub fn start_move_resize(
        &mut self,
        id: WindowId,
        pointer: &smithay::input::pointer::PointerHandle<State>,
        serial: smithay::utils::Serial,
        edges: Option<ResizeEdge>,
    ) {
        let Some(start) = pointer.grab_start_data() else { return };
        if self.host_move_resize {
            self.windows.move_resize_requested(id, edges.map(|e| e as u32), start.location.x, start.location.y);
            if edges.is_some() {
                // The host resizes natively and reports the new rect when it is done.
                return;
            }
        }
        let Some(entry) = self.toplevel_by_id(id) else { return };
        let location = entry.location.unwrap_or_default();
        let size = entry.window.geometry().size;
        // A move the host does natively is followed here too, as for a title bar of ours (see
        // `press_on_decoration`): some hosts (FreeRDP) tell where it ended only by the button
        // going up, and the grab's release ends the host's move.
        let grab = match edges {
            None => MoveResizeGrab::moving(start, id, location),
            Some(edges) => MoveResizeGrab::resizing(start, id, edges, location, size),
        };
        pointer.set_grab(self, grab, serial, smithay::input::pointer::Focus::Clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_edges() {
        let (loc, size) = (Point::from((100, 100)), Size::from((400, 300)));
        assert_eq!(resized(ResizeEdge::BottomRight, loc, size, (10, 20).into()), (loc, (410, 320).into()));
        assert_eq!(resized(ResizeEdge::TopLeft, loc, size, (10, 20).into()), ((110, 120).into(), (390, 280).into()));
        assert_eq!(resized(ResizeEdge::Left, loc, size, (-50, 99).into()), ((50, 100).into(), (450, 300).into()));
        assert_eq!(resized(ResizeEdge::Top, loc, size, (0, 500).into()).1, (400, 1).into());
    }
}
