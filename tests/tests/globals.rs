//! The globals wayrail advertises, as real clients see them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use wayrail_e2e::{require_programs, Compositor};

/// Every global a client must find, at the version smithay 0.7 implements and wayrail
/// advertises (pinned by running wayland-info against it).
const EXPECTED: &[(&str, u32)] = &[
    ("wl_compositor", 6),
    ("wl_subcompositor", 1),
    ("wl_shm", 2),
    ("wl_output", 4),
    ("zxdg_output_manager_v1", 3),
    ("wl_seat", 9),
    ("xdg_wm_base", 6),
    ("zxdg_decoration_manager_v1", 1),
    ("wp_viewporter", 1),
    ("wp_fractional_scale_manager_v1", 1),
    ("wp_presentation", 2),
    ("xdg_activation_v1", 1),
    ("wl_data_device_manager", 3),
    ("zwp_primary_selection_device_manager_v1", 1),
    ("zwlr_data_control_manager_v1", 2),
    ("ext_data_control_manager_v1", 1),
    ("wp_cursor_shape_manager_v1", 2),
    ("zwp_text_input_manager_v3", 1),
    ("zwp_pointer_constraints_v1", 1),
    ("zwp_relative_pointer_manager_v1", 1),
    ("zwp_idle_inhibit_manager_v1", 1),
    ("wp_single_pixel_buffer_manager_v1", 1),
    ("zxdg_exporter_v2", 1),
    ("zxdg_importer_v2", 1),
    ("xdg_toplevel_icon_manager_v1", 1),
    ("zwp_virtual_keyboard_manager_v1", 1),
    ("wp_security_context_manager_v1", 1),
];

/// Globals a sandboxed client (one that came through a security context) must not see.
const PRIVILEGED: &[&str] = &[
    "zwlr_data_control_manager_v1",
    "ext_data_control_manager_v1",
    "zwp_virtual_keyboard_manager_v1",
    "wp_security_context_manager_v1",
];

/// Parses wayland-info's `interface: 'NAME', version: N, name: M` lines.
fn parse_wayland_info(text: &str) -> BTreeMap<String, Vec<u32>> {
    let mut globals: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("interface: '") else { continue };
        let Some((interface, rest)) = rest.split_once('\'') else { continue };
        let version = rest
            .split_once("version:")
            .and_then(|(_, v)| v.trim_start().split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no version in {line:?}"));
        globals.entry(interface.to_string()).or_default().push(version);
    }
    globals
}

#[test]
fn wayland_info_lists_every_global_at_its_version() {
    require_programs!("wayland-info");
    let wr = Compositor::start(&["--output", "1280x800", "--output", "1024x768,scale=2"]);
    let mut client = wr.spawn_client("wayland-info", &[], &[]);
    let status = client.wait_exit(Duration::from_secs(20)).expect("wayland-info did not finish");
    assert!(status.success(), "wayland-info failed ({status}):\n{}", client.log_tail(20));
    let globals = parse_wayland_info(&client.log_text());

    let mut problems = Vec::new();
    for &(interface, version) in EXPECTED {
        match globals.get(interface) {
            None => problems.push(format!("{interface} is missing")),
            Some(versions) if versions.iter().any(|&v| v != version) => {
                problems.push(format!("{interface} is at version {versions:?}, expected {version}"))
            }
            Some(_) => {}
        }
    }
    // One wl_output per output, and one of every other global.
    for (interface, versions) in &globals {
        let expected = if interface == "wl_output" { 2 } else { 1 };
        if versions.len() != expected {
            problems.push(format!("{interface} advertised {} times, expected {expected}", versions.len()));
        }
    }
    assert!(problems.is_empty(), "globals wrong:\n  {}\nall globals: {globals:?}", problems.join("\n  "));
    // The outputs wayland-info describes are ours, with their scales.
    let text = client.log_text();
    assert!(text.contains("WR-1") && text.contains("WR-2"), "wayland-info did not describe both outputs:\n{text}");
}

#[test]
fn sandboxed_clients_see_no_privileged_globals() {
    let wr = Compositor::start(&[]);
    let cmd = wr.command(env!("CARGO_BIN_EXE_wr-sandbox-probe"));
    let mut probe = wr.spawn_piped("wr-sandbox-probe", cmd);
    let stdout = probe.child.stdout.take().expect("piped stdout");
    // Read on a thread, so a probe that hangs fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    assert!(!line.is_empty(), "the probe printed nothing:\n{}", probe.log_tail(20));
    let answer: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let names = |key: &str| -> Vec<String> {
        answer[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {answer}"))
            .iter()
            .map(|g| g[0].as_str().unwrap().to_string())
            .collect()
    };
    let direct = names("direct");
    let sandboxed = names("sandboxed");

    for interface in PRIVILEGED {
        assert!(direct.iter().any(|g| g == interface), "{interface} missing for a normal client: {direct:?}");
        assert!(!sandboxed.iter().any(|g| g == interface), "{interface} offered to a sandboxed client: {sandboxed:?}");
    }
    // Everything else is the same for both.
    let unprivileged: Vec<&String> = direct.iter().filter(|g| !PRIVILEGED.contains(&g.as_str())).collect();
    let sandboxed_refs: Vec<&String> = sandboxed.iter().collect();
    assert_eq!(unprivileged, sandboxed_refs, "a sandboxed client should see every unprivileged global");

    // The compositor knows the sandboxed connection for what it is.
    let clients = wr.msg_json(&["clients"]);
    let sandboxed_client = clients
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| !c["sandbox"].is_null())
        .unwrap_or_else(|| panic!("no sandboxed client in {clients}"));
    assert_eq!(sandboxed_client["sandbox"]["engine"], "org.wayrail.e2e", "{clients}");
    assert_eq!(sandboxed_client["sandbox"]["app_id"], "org.wayrail.e2e.probe", "{clients}");
    assert_eq!(sandboxed_client["pid"].as_u64(), Some(probe.pid() as u64), "{clients}");

    // Closing the probe's stdin lets it exit cleanly.
    drop(probe.child.stdin.take());
    let status = probe.wait_exit(Duration::from_secs(10)).expect("the probe did not exit");
    assert!(status.success(), "probe failed ({status}):\n{}", probe.log_tail(20));
}
