//! Limits on what a client controls: the images the composer makes for it.

use crate::fixture::*;

#[test]
fn a_window_image_larger_than_the_largest_desktop_is_not_composed() {
    let (mut f, c) = Fixture::with_client();
    let w = f.map_window(c, "wide", 5000, 10, RED);
    assert_eq!(f.render_window(w.id, 1.0).width, 5000);
    // 10000 pixels wide at scale 2: refused, with the reason.
    let err = f.render_window_error(w.id, 2.0);
    assert!(err.contains("10000x20") && err.contains("8192"), "{err}");
    // Nothing else is harmed: the same window at scale 1 again, and the client is served.
    assert_eq!(f.render_window(w.id, 1.0).pixel(4999, 9), RED);
    f.roundtrip(c);
}

#[test]
fn a_cursor_larger_than_512_pixels_is_refused() {
    let (mut f, c) = Fixture::with_client();
    let surface = f.client(c).create_surface();
    let big = f.client(c).create_buffer(600, 300, RED);
    surface.attach(Some(&big.wl_buffer), 0, 0);
    surface.commit();
    f.roundtrip(c);
    let server = f.any_surface(c, &surface);
    let err = f.render_cursor(&server, 1.0).expect_err("a 600 px cursor");
    assert!(err.contains("600x300") && err.contains("512"), "{err}");
    // A cursor within the limit is composed, also at a scale that doubles it.
    let small = f.client(c).create_buffer(200, 100, RED);
    surface.attach(Some(&small.wl_buffer), 0, 0);
    surface.commit();
    f.roundtrip(c);
    assert_eq!(f.render_cursor(&server, 2.0), Ok(Some((400, 200))));
}
