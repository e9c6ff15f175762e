//! X11 windows through RemoteApp: an X11 app's window and its override-redirect menu reach a
//! RemoteApp host (the in-repo IronRDP test client) as windows, the menu owned by the app's
//! window, with the app's pixels.

use std::time::Duration;

use wayrail_e2e::ironrdp::{self, compositor_window, connect_gfx};
use wayrail_e2e::{require_programs, Compositor};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, RailClient, TestClient};

const STEP: Duration = Duration::from_secs(15);

async fn connect(wr: &Compositor) -> TestClient {
    let opts = ClientOptions { size: (1280, 800), remote_app: true, ..Default::default() };
    connect_gfx(wr, ClientBuilder::new(opts).with_static_channel(RailClient::new(None)), STEP).await
}

async fn until(wr: &Compositor, client: &mut TestClient, what: &str, cond: impl FnMut(&TestClient) -> bool) {
    ironrdp::until(wr, client, STEP, what, cond).await
}

#[tokio::test(flavor = "current_thread")]
async fn xterm_and_its_menu_reach_a_remote_app_host() {
    require_programs!("Xwayland", "xterm");
    let wr = Compositor::start_rdp(&["--output", "1280x800", "--xwayland", "lazy"]);
    let mut client = connect(&wr).await;
    let _term = wr.spawn_x11_client("xterm", &[]);
    let window = compositor_window(&wr, &mut client, "of xterm", |w| w["title"] == "xterm").await;
    let id = window["id"].as_u64().unwrap() as u32;
    until(&wr, &mut client, "xterm announced", |c| {
        c.host_windows().windows.get(&id).is_some_and(|w| w.title == "xterm")
    })
    .await;
    // Its pixels: a white terminal with a black prompt.
    until(&wr, &mut client, "xterm's pixels", |c| {
        let Some(w) = c.host_windows().windows.get(&id).cloned() else { return false };
        let full = (0, 0, w.window_size.0 as u16, w.window_size.1 as u16);
        c.window_image(id).is_some_and(|img| img.count_not(full, [0xff; 3]) > 0 && img.count_not(full, [0; 3]) > 0)
    })
    .await;

    // Ctrl + button: the menu is a host window owned by the xterm's.
    let (x, y) = (window["x"].as_i64().unwrap() + 50, window["y"].as_i64().unwrap() + 50);
    wr.input(&["motion", &x.to_string(), &y.to_string()]);
    wr.input(&["key", "29", "down"]);
    wr.input(&["button", "272", "down"]);
    let menu = compositor_window(&wr, &mut client, "xterm's menu", |w| w["kind"] == "popup").await;
    let menu_id = menu["id"].as_u64().unwrap() as u32;
    until(&wr, &mut client, "the menu announced", |c| {
        c.host_windows().windows.get(&menu_id).is_some_and(|w| w.owner == id)
    })
    .await;
    wr.input(&["button", "272", "up"]);
    wr.input(&["key", "29", "up"]);
    until(&wr, &mut client, "the menu gone", |c| c.host_windows().deleted.contains(&menu_id)).await;
}
