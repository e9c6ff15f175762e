//! A client that breaks the protocol is disconnected; the others carry on.

use wayland_client::protocol::wl_shm;

use crate::fixture::*;

/// Two clients with a window each; the second is about to misbehave.
fn two_clients() -> (Fixture, ClientId, MappedWindow, ClientId, MappedWindow) {
    let mut f = Fixture::new();
    let (good, bad) = (f.add_client(), f.add_client());
    let good_window = f.map_window(good, "good", 100, 80, RED);
    let bad_window = f.map_window(bad, "bad", 100, 80, BLUE);
    f.take_events();
    (f, good, good_window, bad, bad_window)
}

/// After the bad client's request: its connection died of `interface`'s protocol error `code`,
/// and nothing else did.
fn assert_only_the_bad_client_died(
    f: &mut Fixture,
    (good, bad): (ClientId, ClientId),
    (good_window, bad_window): (&MappedWindow, &MappedWindow),
    (interface, code): (&str, u32),
) {
    f.dispatch();
    let error = f.client(bad).error().expect("disconnected").to_string();
    assert!(error.starts_with(&format!("{interface}@")) && error.contains(&format!(": error {code}:")), "{error}");
    assert!(f.state.windows.get(bad_window.id).is_none(), "the bad client's window is gone");
    assert!(f.event_log().contains(&format!("destroyed {}", bad_window.id)));
    assert_eq!(f.state.live_clients().len(), 1);
    assert_eq!(f.state.live_clients()[0].client.id(), *f.server_client_id(good));

    f.roundtrip(good);
    assert_eq!(f.client(good).error(), None);
    assert!(f.state.windows.get(good_window.id).is_some());
    // And it still works: a new window maps.
    let again = f.map_window(good, "still here", 50, 50, GREEN);
    assert!(f.state.windows.get(again.id).is_some());
}

#[test]
fn a_buffer_outside_its_pool_kills_the_client() {
    let (mut f, good, good_window, bad, bad_window) = two_clients();
    let (pool, _fd) = f.client(bad).create_pool(64);
    let qh = f.client(bad).qh.clone();
    pool.create_buffer(0, 100, 100, 400, wl_shm::Format::Argb8888, &qh, ());
    // wl_shm.error.invalid_stride, which smithay uses for every bad buffer geometry.
    assert_only_the_bad_client_died(&mut f, (good, bad), (&good_window, &bad_window), ("wl_shm_pool", 1));
}

#[test]
fn get_toplevel_twice_kills_the_client() {
    let (mut f, good, good_window, bad, bad_window) = two_clients();
    let qh = f.client(bad).qh.clone();
    // A second xdg_toplevel on the mapped window's xdg_surface.
    bad_window.toplevel.xdg_surface.get_toplevel(&qh, bad_window.toplevel.shell);
    // xdg_surface.error.already_constructed, posted on the new xdg_toplevel.
    assert_only_the_bad_client_died(&mut f, (good, bad), (&good_window, &bad_window), ("xdg_toplevel", 2));
}

#[test]
fn a_buffer_before_the_initial_configure_waits_for_the_ack() {
    // xdg-shell calls this unconfigured_buffer; smithay leaves the check to the compositor
    // and wayrail is lenient: the buffer is simply not shown before the client acks.
    let (mut f, c) = Fixture::with_client();
    let cl = f.client(c);
    let toplevel = cl.create_toplevel();
    let buffer = cl.create_buffer(10, 10, RED);
    toplevel.surface.attach(Some(&buffer.wl_buffer), 0, 0);
    toplevel.surface.commit();
    f.roundtrip(c);
    assert_eq!(f.client(c).configures(toplevel.shell), ["0x0 []"]);
    assert_eq!(f.window_id(c, &toplevel.surface), None, "not mapped before the ack");
    assert!(f.state.windows.is_empty());

    f.client(c).ack_last_configure(&toplevel);
    toplevel.surface.commit();
    f.roundtrip(c);
    assert!(f.window_id(c, &toplevel.surface).is_some());
}

/// A client that cuts its pool's file short under a committed buffer gets wl_shm's
/// invalid_fd when the compositor next reads the buffer; the compositor (which catches the
/// SIGBUS) and the other clients go on.
#[test]
fn a_pool_cut_short_under_a_committed_buffer_kills_the_client_when_drawn() {
    let (mut f, good, good_window, bad, bad_window) = two_clients();
    let (width, height) = (100, 80);
    let (pool, fd) = f.client(bad).create_pool((width * height * 4) as usize);
    let qh = f.client(bad).qh.clone();
    let buffer = pool.create_buffer(0, width, height, width * 4, wl_shm::Format::Argb8888, &qh, ());
    let surface = &bad_window.toplevel.surface;
    surface.attach(Some(&buffer), 0, 0);
    surface.damage_buffer(0, 0, width, height);
    surface.commit();
    f.roundtrip(bad);
    assert_eq!(f.render_window(bad_window.id, 1.0).pixel(0, 0), 0, "the new buffer is drawn");

    rustix::fs::ftruncate(&fd, 0).expect("ftruncate");
    surface.attach(Some(&buffer), 0, 0);
    surface.damage_buffer(0, 0, width, height);
    surface.commit();
    f.roundtrip(bad);
    // Drawing it faults on the missing pages: that one image fails. The dead client's objects
    // go at the next dispatch with socket activity (here the good client's; in life also the
    // bad client's own hang-up).
    f.render_window_error(bad_window.id, 1.0);
    f.roundtrip(good);
    assert_only_the_bad_client_died(&mut f, (good, bad), (&good_window, &bad_window), ("wl_buffer", 2));
}
