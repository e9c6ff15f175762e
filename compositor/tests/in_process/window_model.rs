//! The window model a remoting backend consumes: registry entries and their events.

use wayrail_compositor::window::{ShowState, WindowId};

use crate::fixture::*;

#[test]
fn lifecycle_events() {
    let (mut f, c, w) = Fixture::with_window("one", (100, 80), RED);
    let id = w.id;
    assert_eq!(
        f.event_log(),
        [
            format!("created {id} Toplevel \"one\" at 798,388 100x80 normal"),
            format!("stacking [{id}] active {id}"),
            format!("geometry {id} at 798,388 100x80 on WR-1 scale 1"),
            format!("damaged {id} 0,0 100x80"),
        ]
    );

    w.toplevel.xdg_toplevel.set_title("two".into());
    w.toplevel.xdg_toplevel.set_app_id("org.example.Two".into());
    f.roundtrip(c);
    assert_eq!(
        f.event_log(),
        [
            format!("metadata {id} title=\"two\" app_id=\"\" parent=None"),
            format!("metadata {id} title=\"two\" app_id=\"org.example.Two\" parent=None"),
        ]
    );

    assert!(f.state.set_minimized(id, true));
    f.dispatch();
    assert_eq!(f.event_log(), [format!("state {id} minimized"), "stacking [] active -".to_string()]);
    assert!(!f.is_mapped(id));
    assert_eq!(f.state.space.elements().count(), 0);
    assert_eq!(f.state.windows.get(id).unwrap().state, ShowState::Minimized, "still listed");
    f.roundtrip(c);
    assert_eq!(f.client(c).error(), None);
    assert_eq!(f.state.live_clients().len(), 1);

    assert!(f.state.set_minimized(id, false));
    f.dispatch();
    assert_eq!(f.event_log(), [format!("state {id} normal"), format!("stacking [{id}] active {id}")]);
    assert!(f.is_mapped(id));

    w.toplevel.xdg_toplevel.destroy();
    w.toplevel.xdg_surface.destroy();
    w.toplevel.surface.destroy();
    f.roundtrip(c);
    assert_eq!(f.event_log(), [format!("destroyed {id}"), "stacking [] active -".to_string()]);
    assert!(f.state.windows.get(id).is_none());
}

#[test]
fn a_minimized_window_is_not_activated() {
    let (mut f, c, a, b) = Fixture::with_two_windows(BLUE);

    f.state.set_minimized(b.id, true);
    f.dispatch();
    assert_eq!(f.state.windows.active(), Some(a.id));
    assert_eq!(f.client(c).last_configure(a.toplevel.shell).to_string(), "0x0 [activated]");
    assert_eq!(f.client(c).last_configure(b.toplevel.shell).to_string(), "0x0 []");

    f.state.set_minimized(b.id, false);
    f.dispatch();
    assert_eq!(f.state.windows.active(), Some(b.id), "restoring focuses");
    assert_eq!(f.client(c).last_configure(a.toplevel.shell).to_string(), "0x0 []");
    assert_eq!(f.client(c).last_configure(b.toplevel.shell).to_string(), "0x0 [activated]");
}

#[test]
fn ids_of_live_windows_are_never_reused() {
    let (mut f, c, a, b) = Fixture::with_two_windows(RED);
    assert_ne!(a.id, b.id);
    a.toplevel.xdg_toplevel.destroy();
    a.toplevel.xdg_surface.destroy();
    f.roundtrip(c);
    let d = f.map_window(c, "d", 100, 80, RED);
    assert!(d.id != b.id && d.id != a.id, "{d:?} vs live {b:?} and freed {a:?}", d = d.id, a = a.id, b = b.id);
    let ids: Vec<WindowId> = f.state.windows.iter().map(|w| w.id).collect();
    assert_eq!(ids, [b.id, d.id]);
}

#[test]
fn unmapping_with_a_null_buffer_and_mapping_again() {
    let (mut f, c, w) = Fixture::with_window("again", (100, 80), RED);
    f.take_events();

    w.toplevel.surface.attach(None, 0, 0);
    w.toplevel.surface.commit();
    f.roundtrip(c);
    assert_eq!(f.event_log(), [format!("destroyed {}", w.id), "stacking [] active -".to_string()]);

    // An unmapped toplevel starts over with an initial commit and configure.
    w.toplevel.surface.commit();
    f.roundtrip(c);
    // Unmapping took the activated state; the new initial configure follows.
    assert_eq!(f.client(c).configures(w.toplevel.shell), ["0x0 []", "0x0 [activated]", "0x0 []", "0x0 []"]);
    f.redraw(c, &w.toplevel, 100, 80, GREEN);
    assert_eq!(f.client(c).last_configure(w.toplevel.shell).to_string(), "0x0 [activated]");
    let id = f.window_id(c, &w.toplevel.surface).expect("mapped again");
    assert_ne!(id, w.id);
    assert!(f.event_log()[0].starts_with(&format!("created {id} Toplevel \"again\"")));
}

#[test]
fn a_transient_toplevel_has_its_parent_and_is_centered_on_it() {
    let (mut f, c, parent) = Fixture::with_window_at("parent", (400, 300), (100, 100));
    let dialog = f.client(c).create_toplevel();
    dialog.xdg_toplevel.set_parent(Some(&parent.toplevel.xdg_toplevel));
    dialog.surface.commit();
    f.roundtrip(c);
    f.redraw(c, &dialog, 200, 100, BLUE);
    let id = f.window_id(c, &dialog.surface).unwrap();
    let info = f.state.windows.get(id).unwrap();
    assert_eq!(info.parent, Some(parent.id));
    assert_eq!((info.x, info.y), (200, 200));
}
