//! A browser through RemoteApp: Firefox ESR on Wayland, shown by xfreerdp3 `/app`, takes keys
//! after a click from the host into its page, and after a double-click.

use std::time::Duration;

use wayrail_e2e::rail::{compositor_window, RailDesk, RAIL_TIMEOUT};
use wayrail_e2e::rdp::FreeRdpVersion;
use wayrail_e2e::{require_programs, Compositor, Rect, Value, MAP_TIMEOUT};

/// The page: a text field filling it, whose text becomes the title, so the compositor's window
/// list tells what reached it.
const PAGE: &str = "<!DOCTYPE html><title>ready</title><body style='margin:0'>\
    <textarea id=t style='width:100vw;height:100vh' oninput=\"document.title='typed:'+t.value\"></textarea>";

/// Preferences for a profile that opens the page and nothing else (no first-run tabs).
const USER_JS: &str = r#"
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.startup.page", 0);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.firstRunURL", "");
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("app.update.enabled", false);
user_pref("browser.tabs.warnOnClose", false);
user_pref("sidebar.revamp", false);
"#;

fn title_of(w: &Value) -> &str {
    w["title"].as_str().unwrap_or("")
}

/// Waits for the page's title to show exactly these keys.
fn wait_title(wr: &Compositor, id: u64, title: &str) {
    wr.wait_for_window(Duration::from_secs(15), &format!("titled {title:?} (the keys reached the page)"), |w| {
        let t = title_of(w);
        w["id"].as_u64() == Some(id) && (t == title || t.starts_with(&format!("{title} ")))
    });
}

#[test]
fn firefox_takes_keys_after_a_click_into_its_page() {
    require_programs!("Xvfb", "xdotool", "xfreerdp3", "firefox-esr");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let profile = wr.path("firefox-profile");
    std::fs::create_dir(&profile).unwrap();
    std::fs::write(profile.join("user.js"), USER_JS).unwrap();
    let home = profile.to_str().unwrap();
    let page = profile.join("page.html");
    std::fs::write(&page, PAGE).unwrap();
    let url = format!("file://{}", page.display());
    let firefox = wr.spawn_client(
        "firefox-esr",
        &["--profile", home, "--no-remote", "--new-instance", &url],
        &[("MOZ_ENABLE_WAYLAND", "1"), ("HOME", home), ("MOZ_CRASHREPORTER_DISABLE", "1")],
    );
    let window = wr.wait_for_window(MAP_TIMEOUT * 6, "of Firefox showing the page", |w| {
        w["kind"] == "toplevel" && title_of(w).starts_with("ready")
    });
    let id = window["id"].as_u64().unwrap();
    let mut desk = RailDesk::start(&wr, FreeRdpVersion::V3, (1280, 800), "true");
    let rail = desk.wait_window(RAIL_TIMEOUT, "for Firefox", |r| u64::from(r.rail_id) == id);

    // A click from the host into the text field filling the page, then typing there: the
    // host's keys reach it, and wayrail's own. Then a double-click: xfreerdp repeats the
    // position with each button, which must not look like a drag to Firefox, and the keys
    // after it still reach the page.
    desk.focus(&rail);
    let r = Rect::of(&compositor_window(&wr, id));
    let (x, y) = (r.x + r.width / 2, r.y + r.height / 2);
    desk.x.xdotool(&["mousemove", &x.to_string(), &y.to_string()]);
    desk.x.xdotool(&["click", "1"]);
    desk.x.xdotool(&["type", "--delay", "50", "abc"]);
    wait_title(&wr, id, "typed:abc");
    std::thread::sleep(Duration::from_millis(1000));
    desk.x.xdotool(&["click", "1"]);
    wr.type_text("d");
    wait_title(&wr, id, "typed:abcd");
    desk.x.xdotool(&["click", "--repeat", "2", "--delay", "80", "1"]);
    desk.x.xdotool(&["type", "--delay", "50", "e"]);
    wait_title(&wr, id, "typed:abcde");
    wr.type_text("f");
    wait_title(&wr, id, "typed:abcdef");
    drop(firefox);
}
