//! xdg_popup: positioner geometry, constraint to the output, the window model entry.

use wayland_protocols::xdg::shell::client::xdg_positioner::{Anchor, ConstraintAdjustment, Gravity};
use wayrail_compositor::window::WindowKind;

use crate::fixture::*;

/// Maps a popup of `parent` with a buffer of its configured size.
fn map_popup(f: &mut Fixture, c: ClientId, parent: &MappedWindow, placement: &PopupPlacement) -> (Popup, Buffer) {
    let popup = f.client(c).create_popup(&parent.toplevel.xdg_surface, placement);
    popup.surface.commit();
    f.roundtrip(c);
    let Configure::Popup { width, height, .. } = *f.client(c).last_configure(popup.shell) else {
        panic!("not a popup configure")
    };
    let cl = f.client(c);
    cl.ack_last_popup_configure(&popup);
    let buffer = cl.create_buffer(width, height, GREEN);
    popup.surface.attach(Some(&buffer.wl_buffer), 0, 0);
    popup.surface.damage_buffer(0, 0, width, height);
    popup.surface.commit();
    f.roundtrip(c);
    (popup, buffer)
}

#[test]
fn a_popup_is_placed_by_its_positioner_and_listed() {
    let (mut f, c, parent) = Fixture::with_window_at("menu owner", (100, 80), (100, 100));
    f.take_events();

    let placement = PopupPlacement { anchor_rect: (10, 10, 1, 1), ..Default::default() };
    let (popup, _buffer) = map_popup(&mut f, c, &parent, &placement);
    assert_eq!(f.client(c).configures(popup.shell), ["popup 10,10 50x40"]);
    let id = f.window_id(c, &popup.surface).expect("the popup is a window");
    let info = f.state.windows.get(id).unwrap().clone();
    assert_eq!((info.kind, info.parent), (WindowKind::Popup, Some(parent.id)));
    assert_eq!((info.x, info.y, info.width, info.height), (110, 110, 50, 40));
    assert_eq!(f.state.windows.stacking(), [parent.id, id], "right above its parent");
    let image = f.render_window(id, 1.0);
    assert_eq!((image.width, image.height, image.pixel(0, 0)), (50, 40, GREEN));

    assert!(f.state.close_window(id));
    f.roundtrip(c);
    assert!(f.client(c).shell(popup.shell).popup_done);
    popup.xdg_popup.destroy();
    f.roundtrip(c);
    assert!(f.state.windows.get(id).is_none());
    assert!(f.event_log().contains(&format!("destroyed {id}")));
}

#[test]
fn a_popup_that_would_leave_the_output_flips() {
    // Right edge at 1900 of a 1920 wide output.
    let (mut f, c, parent) = Fixture::with_window_at("edge", (100, 80), (1800, 100));

    let placement = PopupPlacement {
        anchor_rect: (80, 10, 10, 10),
        anchor: Anchor::TopRight,
        gravity: Gravity::BottomRight,
        constraint_adjustment: ConstraintAdjustment::FlipX,
        ..Default::default()
    };
    let (popup, _buffer) = map_popup(&mut f, c, &parent, &placement);
    // Unconstrained it would span 1890..1940; flipped it ends at the anchor rect's left edge.
    assert_eq!(f.client(c).configures(popup.shell), ["popup 30,10 50x40"]);
    let id = f.window_id(c, &popup.surface).unwrap();
    let info = f.state.windows.get(id).unwrap();
    assert_eq!((info.x, info.y), (1830, 110));
}
