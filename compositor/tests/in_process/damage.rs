//! Damage: what a client marks as changed reaches the window model's `Damaged` event and the
//! per-window composition, no more and no less; and the composed pixels are the client's.

use wayrail_compositor::window::WindowEvent;

use crate::fixture::*;

fn damaged_lines(f: &mut Fixture) -> Vec<String> {
    f.event_log().into_iter().filter(|l| l.starts_with("damaged")).collect()
}

#[test]
fn a_small_damage_stays_small() {
    let (mut f, c, w) = Fixture::with_window("damage", (100, 80), RED);
    assert_eq!(damaged_lines(&mut f), [format!("damaged {} 0,0 100x80", w.id)], "mapping damages it all");

    let first = f.render_window(w.id, 1.0);
    assert_eq!((first.width, first.height, first.origin), (100, 80, (0, 0)));
    assert_eq!(first.damage, [rect(0, 0, 100, 80)], "the first render is full");
    for (x, y) in [(0, 0), (99, 0), (0, 79), (99, 79), (50, 40)] {
        assert_eq!(first.pixel(x, y), RED, "({x},{y})");
    }
    assert_eq!(f.render_window(w.id, 1.0).damage, [], "nothing changed");

    f.paint(c, &w, (50, 40, 5, 5), GREEN);
    assert_eq!(f.take_events(), [WindowEvent::Damaged { id: w.id, rects: vec![rect(50, 40, 5, 5)] }]);

    let second = f.render_window(w.id, 1.0);
    assert_eq!(second.damage, [rect(50, 40, 5, 5)]);
    for (x, y) in [(50, 40), (54, 44)] {
        assert_eq!(second.pixel(x, y), GREEN, "({x},{y})");
    }
    for (x, y) in [(49, 40), (55, 44), (50, 39), (54, 45)] {
        assert_eq!(second.pixel(x, y), RED, "({x},{y})");
    }
    assert_eq!(f.render_window(w.id, 1.0).damage, [], "nothing changed");

    // A commit without damage damages nothing.
    w.toplevel.surface.commit();
    f.roundtrip(c);
    assert_eq!(f.take_events(), []);
    assert_eq!(f.render_window(w.id, 1.0).damage, []);
}

#[test]
fn damage_of_a_scale_2_buffer() {
    let mut f = Fixture::with_outputs(&["3840x2160,scale=2"]);
    let c = f.add_client();
    let buffer = f.client(c).create_buffer(200, 160, RED);
    let w = f.map_window_with(c, "hidpi", buffer, 2);
    // Told the scale before the first frame.
    let told = f.client(c).surface(&w.toplevel.surface);
    assert_eq!((told.preferred_buffer_scale, told.fractional_scale), (Some(2), Some(240)));
    let info = f.state.windows.get(w.id).unwrap();
    assert_eq!((info.width, info.height, info.scale), (100, 80, 2.0), "logical size");
    assert_eq!(damaged_lines(&mut f), [format!("damaged {} 0,0 200x160", w.id)]);
    let first = f.render_window(w.id, 2.0);
    assert_eq!((first.width, first.height), (200, 160));
    assert_eq!(first.damage, [rect(0, 0, 200, 160)]);

    f.paint(c, &w, (20, 20, 10, 10), GREEN);
    assert_eq!(f.take_events(), [WindowEvent::Damaged { id: w.id, rects: vec![rect(20, 20, 10, 10)] }]);
    let second = f.render_window(w.id, 2.0);
    assert_eq!(second.damage, [rect(20, 20, 10, 10)]);
    assert_eq!((second.pixel(20, 20), second.pixel(29, 29)), (GREEN, GREEN));
    assert_eq!((second.pixel(19, 19), second.pixel(30, 30)), (RED, RED));
}

#[test]
fn damage_on_a_subsurface_is_offset_by_its_position() {
    let (mut f, c, w) = Fixture::with_window("parent", (100, 80), RED);
    f.render_window(w.id, 1.0);
    f.take_events();

    let cl = f.client(c);
    let Child { surface: child, subsurface: sub, buffer: child_buffer } =
        cl.create_child(&w.toplevel.surface, (10, 20), (20, 20), BLUE);
    child.commit();
    w.toplevel.surface.commit();
    f.roundtrip(c);
    assert_eq!(damaged_lines(&mut f), [format!("damaged {} 10,20 20x20", w.id)]);
    // The composition repaints more here: a new element restacks the parent's, and smithay's
    // damage tracker redraws restacked elements whole.
    let damage = f.render_window(w.id, 1.0).damage;
    assert!(damage.iter().any(|r| r.x <= 10 && r.y <= 20 && r.x + r.width >= 30 && r.y + r.height >= 40), "{damage:?}");

    sub.set_desync();
    child_buffer.fill_rect(2, 3, 4, 5, GREEN);
    child.attach(Some(&child_buffer.wl_buffer), 0, 0);
    child.damage_buffer(2, 3, 4, 5);
    child.commit();
    f.roundtrip(c);
    assert_eq!(f.take_events(), [WindowEvent::Damaged { id: w.id, rects: vec![rect(12, 23, 4, 5)] }]);
    let image = f.render_window(w.id, 1.0);
    assert_eq!(image.damage, [rect(12, 23, 4, 5)]);
    assert_eq!((image.pixel(12, 23), image.pixel(15, 27)), (GREEN, GREEN));
    assert_eq!((image.pixel(11, 23), image.pixel(16, 28), image.pixel(9, 19)), (BLUE, BLUE, RED));
}

#[test]
fn damage_through_a_viewport() {
    let (mut f, c) = Fixture::with_client();
    let cl = f.client(c);
    let toplevel = cl.create_toplevel();
    let viewport = cl.create_viewport(&toplevel.surface);
    // A 200x160 buffer shown at 100x80.
    viewport.set_destination(100, 80);
    toplevel.surface.commit();
    f.roundtrip(c);
    let buffer = f.redraw(c, &toplevel, 200, 160, RED);
    let id = f.window_id(c, &toplevel.surface).expect("mapped");
    let info = f.state.windows.get(id).unwrap();
    assert_eq!((info.width, info.height), (100, 80));
    f.render_window(id, 1.0);
    f.take_events();

    buffer.fill_rect(20, 20, 10, 10, GREEN);
    toplevel.surface.attach(Some(&buffer.wl_buffer), 0, 0);
    toplevel.surface.damage_buffer(20, 20, 10, 10);
    toplevel.surface.commit();
    f.roundtrip(c);
    assert_eq!(f.take_events(), [WindowEvent::Damaged { id, rects: vec![rect(10, 10, 5, 5)] }]);
    let image = f.render_window(id, 1.0);
    assert_eq!((image.width, image.height), (100, 80));
    assert_eq!(image.damage, [rect(10, 10, 5, 5)]);
    assert_eq!((image.pixel(10, 10), image.pixel(14, 14), image.pixel(15, 15)), (GREEN, GREEN, RED));
}
