//! xdg_popup with a real toolkit: GTK 3's menubar menus, opened by clicks through
//! `wayrail msg input`, placed by their positioner and dismissed with Escape.

use std::time::Duration;

use serde_json::Value;
use wayrail_e2e::{locate, require_programs, Compositor, Rect};

const KEY_ESC: &str = "1";

/// Where gtk3-demo-application's menubar items are, from its window geometry's top-left
/// (under the client-side title bar; Adwaita at scale 1).
const PREFERENCES: (i32, i32) = (45, 49);
const HELP: (i32, i32) = (127, 49);

/// Clicks at `(x, y)` and waits for a popup of `parent` to map.
fn open_menu(wr: &Compositor, parent: u64, (x, y): (i32, i32)) -> Value {
    wr.input(&["click", &x.to_string(), &y.to_string()]);
    wr.wait_for_window(Duration::from_secs(10), &format!("(popup of {parent} after a click at {x},{y})"), |w| {
        w["kind"] == "popup" && w["parent"].as_u64() == Some(parent)
    })
}

fn dismiss(wr: &Compositor, popup: &Value) {
    let id = popup["id"].as_u64();
    wr.input(&["tap", KEY_ESC]);
    wr.wait_for_no_window(Duration::from_secs(5), "(the popup, after Escape)", |w| w["id"].as_u64() == id);
}

/// The popup is drawn where the compositor says it is: the output's pixels inside its
/// reported rectangle are the popup's own pixels.
fn assert_drawn_at_its_rect(wr: &Compositor, popup: &Value, name: &str) {
    let id = popup["id"].as_u64().unwrap();
    let rect = Rect::of(popup);
    let output = wr.screenshot_output(&wr.path(&format!("{name}-output.png")));
    let (own, _) = wr.screenshot_window(id, &wr.path(&format!("{name}-popup.png")));
    assert!(
        locate(&output, rect, &own).is_some(),
        "the output does not show popup {id} at {rect:?} (screenshots in {})",
        wr.runtime_dir().display()
    );
}

#[test]
fn gtk3_menubar_popups_follow_their_positioner() {
    require_programs!("gtk3-demo-application");
    let wr = Compositor::start(&["--output", "1280x800"]);
    let (_app, window) = wr.spawn_mapped("gtk3-demo-application", &[]);
    let id = window["id"].as_u64().unwrap();
    let window = wr.wait_for_window(Duration::from_secs(10), "titled \"Application Class\"", |w| {
        w["id"].as_u64() == Some(id) && w["title"] == "Application Class"
    });
    let output = Rect::of(&wr.outputs()[0]);
    let top = Rect::of(&window);
    assert!(output.contains_rect(&top), "{window}");

    // Preferences: the menu opens right below the item, left-aligned with it.
    let click = (top.x + PREFERENCES.0, top.y + PREFERENCES.1);
    let prefs = open_menu(&wr, id, click);
    let p = Rect::of(&prefs);
    assert!(p.width > 100 && p.height > 60, "the Preferences menu is too small: {prefs}");
    assert!(p.y > click.1 && p.y <= click.1 + 30, "menu top {} is not right below the click at y {}", p.y, click.1);
    assert!(p.x <= click.0 && p.x >= top.x - 10, "menu left {} is not at the item (click x {})", p.x, click.0);
    assert!(output.contains_rect(&p), "menu {p:?} leaves the output {output:?}");
    assert_eq!(prefs["pid"], window["pid"], "{prefs}");
    assert_drawn_at_its_rect(&wr, &prefs, "prefs");
    dismiss(&wr, &prefs);
    assert!(wr.window(id).is_some(), "the toplevel went away with its menu");

    // Help, right after: a click just after a dismissed menu reaches the new spot, and this
    // smaller menu opens below its own item.
    let click = (top.x + HELP.0, top.y + HELP.1);
    let help = open_menu(&wr, id, click);
    let h = Rect::of(&help);
    assert!(h.height < p.height, "expected the one-item Help menu, got {help}");
    assert!(h.x >= p.x + 50 && h.x <= click.0, "Help menu left {} not at its item (click x {})", h.x, click.0);
    assert!(h.y > click.1 && h.y <= click.1 + 30, "Help menu top {} not below the click at y {}", h.y, click.1);
    assert_drawn_at_its_rect(&wr, &help, "help");
    dismiss(&wr, &help);

    // Near the output's bottom-right corner the menu cannot open below and to the right of its
    // item: the positioner's adjustments keep it on the output.
    let (nx, ny) = (output.width - 200, output.height - 100);
    wr.window_op(id, &["move", &nx.to_string(), &ny.to_string()]);
    wr.wait_for_window(Duration::from_secs(5), "moved", |w| {
        w["id"].as_u64() == Some(id) && w["x"] == nx && w["y"] == ny
    });
    let click = (nx + PREFERENCES.0, ny + PREFERENCES.1);
    let constrained = open_menu(&wr, id, click);
    let c = Rect::of(&constrained);
    assert!(output.contains_rect(&c), "the constrained menu {c:?} leaves the output {output:?}");
    assert!(c.y + c.height <= click.1, "the menu should flip above its item at y {}: {c:?}", click.1);
    assert!(c.x < nx, "the menu should slide left to fit: {c:?}");
    assert_drawn_at_its_rect(&wr, &constrained, "constrained");
    dismiss(&wr, &constrained);
    assert_eq!(wr.windows().len(), 1, "{:?}", wr.windows());
}
