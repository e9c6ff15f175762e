//! Subsurfaces in the composed window image: position, stacking order, sync and desync commits.

use crate::fixture::*;

/// A 100×80 red window, and a 20×20 blue subsurface of it at (10, 20) not committed yet.
fn red_parent_with_blue_child() -> (Fixture, ClientId, MappedWindow, Child) {
    let (mut f, c, w) = Fixture::with_window("parent", (100, 80), RED);
    let child = f.client(c).create_child(&w.toplevel.surface, (10, 20), (20, 20), BLUE);
    (f, c, w, child)
}

#[test]
fn a_sync_subsurface_appears_at_its_position_when_the_parent_commits() {
    let (mut f, c, w, Child { surface: child, subsurface: sub, buffer: _child_buffer }) = red_parent_with_blue_child();
    child.commit();
    f.roundtrip(c);
    assert_eq!(f.render_window(w.id, 1.0).pixel(15, 25), RED, "cached until the parent commits");

    w.toplevel.surface.commit();
    f.roundtrip(c);
    let image = f.render_window(w.id, 1.0);
    assert_eq!((image.width, image.height), (100, 80));
    for (x, y) in [(10, 20), (29, 20), (10, 39), (29, 39)] {
        assert_eq!(image.pixel(x, y), BLUE, "({x},{y})");
    }
    for (x, y) in [(9, 20), (30, 20), (10, 19), (10, 40)] {
        assert_eq!(image.pixel(x, y), RED, "({x},{y})");
    }

    // A new position also waits for the parent.
    sub.set_position(50, 30);
    f.roundtrip(c);
    assert_eq!(f.render_window(w.id, 1.0).pixel(15, 25), BLUE);
    w.toplevel.surface.commit();
    f.roundtrip(c);
    let image = f.render_window(w.id, 1.0);
    assert_eq!((image.pixel(15, 25), image.pixel(50, 30), image.pixel(69, 49)), (RED, BLUE, BLUE));
}

#[test]
fn place_above_and_below_order_the_pixels() {
    let (mut f, c, w) = Fixture::with_window("parent", (100, 80), RED);
    let parent = w.toplevel.surface.clone();

    let cl = f.client(c);
    let (a, b) = (cl.create_surface(), cl.create_surface());
    let sub_a = cl.create_subsurface(&a, &parent);
    let sub_b = cl.create_subsurface(&b, &parent);
    let (buf_a, buf_b) = (cl.create_buffer(30, 30, GREEN), cl.create_buffer(30, 30, BLUE));
    sub_a.set_position(10, 10);
    sub_b.set_position(20, 20);
    for (surface, buffer) in [(&a, &buf_a), (&b, &buf_b)] {
        surface.attach(Some(&buffer.wl_buffer), 0, 0);
        surface.damage_buffer(0, 0, 30, 30);
        surface.commit();
    }
    parent.commit();
    f.roundtrip(c);
    let image = f.render_window(w.id, 1.0);
    assert_eq!((image.pixel(15, 15), image.pixel(25, 25), image.pixel(45, 45)), (GREEN, BLUE, BLUE), "b is newer");

    sub_a.place_above(&b);
    parent.commit();
    f.roundtrip(c);
    let image = f.render_window(w.id, 1.0);
    assert_eq!((image.pixel(15, 15), image.pixel(25, 25), image.pixel(45, 45)), (GREEN, GREEN, BLUE), "a above b");

    sub_a.place_below(&parent);
    parent.commit();
    f.roundtrip(c);
    let image = f.render_window(w.id, 1.0);
    assert_eq!(
        (image.pixel(15, 15), image.pixel(25, 25), image.pixel(45, 45)),
        (RED, BLUE, BLUE),
        "a under the parent"
    );
}

#[test]
fn a_desync_subsurface_updates_on_its_own_commit() {
    let (mut f, c, w, Child { surface: child, subsurface: sub, buffer: child_buffer }) = red_parent_with_blue_child();
    sub.set_desync();
    child.commit();
    // The subsurface itself is added with the parent's next commit.
    w.toplevel.surface.commit();
    f.roundtrip(c);
    assert_eq!(f.render_window(w.id, 1.0).pixel(15, 25), BLUE);
    f.take_events();

    child_buffer.fill(GREEN);
    child.attach(Some(&child_buffer.wl_buffer), 0, 0);
    child.damage_buffer(0, 0, 20, 20);
    child.commit();
    f.roundtrip(c);
    let image = f.render_window(w.id, 1.0);
    assert_eq!(image.pixel(15, 25), GREEN, "no parent commit needed");
    assert_eq!(image.damage, [rect(10, 20, 20, 20)]);
    assert_eq!(f.event_log(), [format!("damaged {} 10,20 20x20", w.id)]);
}
