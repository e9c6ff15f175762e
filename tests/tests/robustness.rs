//! Clients that die or misbehave do not take the compositor (or other clients) down with them.

use std::time::Duration;

use wayrail_e2e::{require_programs, wait_until, Client, Compositor, Rect, MAP_TIMEOUT};

/// Whether `client`'s window content changes within a few seconds.
fn keeps_animating(wr: &Compositor, client: &Client, name: &str) -> bool {
    let window = wr.wait_for_toplevel_of(client, MAP_TIMEOUT);
    wr.output_changes(Rect::of(&window), name)
}

fn listed_client_pids(wr: &Compositor) -> Vec<u64> {
    wr.msg_json(&["clients"]).as_array().into_iter().flatten().filter_map(|c| c["pid"].as_u64()).collect()
}

#[test]
fn sigkilled_client_mid_animation_leaves_the_compositor_serving() {
    require_programs!("weston-simple-shm");
    let mut wr = Compositor::start(&["--output", "1024x768"]);
    let mut victim = wr.spawn_client("weston-simple-shm", &[], &[]);
    assert!(keeps_animating(&wr, &victim, "victim"), "simple-shm never animated");
    let victim_pid = victim.pid() as u64;
    let id = wr.windows()[0]["id"].as_u64().unwrap();

    victim.signal(libc::SIGKILL);
    assert!(victim.wait_exit(Duration::from_secs(5)).is_some(), "SIGKILL did not end simple-shm");
    wr.wait_for_no_window(Duration::from_secs(5), "of the killed client", |w| w["id"].as_u64() == Some(id));
    assert!(
        wait_until(Duration::from_secs(5), || !listed_client_pids(&wr).contains(&victim_pid)),
        "the killed client is still listed: {}",
        wr.msg_json(&["clients"])
    );
    assert!(wr.is_running(), "the compositor died with its client");

    // Business as usual: a new client maps and animates, the IPC answers.
    let survivor = wr.spawn_client("weston-simple-shm", &[], &[]);
    assert!(keeps_animating(&wr, &survivor, "survivor"), "a new client does not animate after the kill");
    let windows = wr.windows();
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert_ne!(windows[0]["id"].as_u64(), Some(id), "window ids are not reused");
    assert!(wr.is_running());
}

#[test]
fn protocol_errors_disconnect_only_the_offender() {
    require_programs!("weston-simple-shm");
    let mut wr = Compositor::start(&["--output", "1024x768"]);
    let bystander = wr.spawn_client("weston-simple-shm", &[], &[]);
    assert!(keeps_animating(&wr, &bystander, "before"), "simple-shm never animated");

    // wl_shm.error.invalid_stride on the pool; xdg_surface.error.already_constructed, which
    // smithay posts on the second xdg_toplevel object.
    let cases = [
        ("shm-out-of-bounds", &["wl_shm_pool 1 "][..]),
        ("double-toplevel", &["xdg_surface 2 ", "xdg_toplevel 2 "][..]),
    ];
    for (mode, accepted) in cases {
        let mut bad = wr.spawn_client(env!("CARGO_BIN_EXE_wr-bad-client"), &[mode], &[]);
        let status = bad.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| panic!("wr-bad-client {mode} hangs"));
        let report = bad.log_text();
        assert!(
            status.success(),
            "wr-bad-client {mode} was not disconnected with a protocol error ({status}): {report}"
        );
        assert!(
            accepted.iter().any(|a| report.contains(&format!("protocol error: {a}"))),
            "{mode}: expected a protocol error {accepted:?}, got {report:?}"
        );
        let pid = bad.pid() as u64;
        assert!(
            wait_until(Duration::from_secs(5), || !listed_client_pids(&wr).contains(&pid)),
            "{mode}: the offender is still connected: {}",
            wr.msg_json(&["clients"])
        );
        assert!(wr.is_running(), "{mode}: the compositor died");
        assert!(keeps_animating(&wr, &bystander, mode), "{mode}: the bystander stopped animating");
    }
    let log = wr.log_text();
    assert_eq!(log.matches("protocol error").count(), 2, "the compositor should log each protocol error:\n{log}");
    assert_eq!(wr.windows().len(), 1, "{:?}", wr.windows());
}
