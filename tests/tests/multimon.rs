//! Several host monitors and per-monitor scale: the host's monitors become outputs (at connect
//! and when the host's layout changes at run time), each with one exact mapping between the
//! host's physical pixels and the compositor's logical space, so pointer input lands on the
//! intended surface pixel at every monitor's corners, windows enter the output they are on,
//! fractional-scale-aware apps draw at exactly the physical size and are shown unscaled, and
//! other apps get an integer buffer scale with the host scaling their window.
//!
//! The hosts: `xfreerdp3 /multimon` in a two-head Xorg (dummy driver) and `xfreerdp3
//! /scale-desktop:150`, and the in-repo test client for exact layouts (mixed scales, stacked,
//! L-shaped, negative coordinates), DisplayControl layout changes and PDU-level checks
//! (ResetGraphics' monitor list, RemoteApp window rectangles, scaled-window target sizes). The
//! Wayland side is `wr-scale-probe`, which logs what it is told and what it draws.
//!
//! Monitor sizes are chosen so that physical / scale is a whole number: the expected logical
//! rectangles are then exact, whatever rounding the compositor uses elsewhere.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wayrail_e2e::ironrdp::{self, connect_gfx, pump};
use wayrail_e2e::rdp::{wait_client_shows_output, FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{require_programs, wait_until, Client, Compositor, Rect, Value, MAP_TIMEOUT};
use wayrail_rdp_testclient::ironrdp_pdu::input::fast_path::FastPathInputEvent;
use wayrail_rdp_testclient::ironrdp_pdu::input::mouse::{MousePdu, PointerFlags};
use wayrail_rdp_testclient::ironrdp_rail::{RailPdu, Rectangle, WindowMovePdu};
use wayrail_rdp_testclient::monitors::bounding_box;
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, MonitorSpec, RailClient, TestClient};

/// How long one step (a layout change, a redraw, a pointer event) may take on a busy machine.
const STEP: Duration = Duration::from_secs(20);
const SCALE_PROBE: &str = env!("CARGO_BIN_EXE_wr-scale-probe");
/// The probe's colour (opaque) and its checkerboard's other colour.
const BLUE: [u8; 3] = [0x20, 0x60, 0xc0];
const BLACK: [u8; 3] = [0, 0, 0];

/// A `wr-scale-probe` run by a test: its log and its command file.
struct Probe {
    client: Client,
    log: PathBuf,
    commands: PathBuf,
}

impl Probe {
    fn spawn(wr: &Compositor, name: &str, args: &[&str]) -> Probe {
        let log = wr.path(&format!("{name}.log"));
        let commands = wr.path(&format!("{name}.commands"));
        let mut all = vec![log.to_str().unwrap(), "--title", name, "--commands", commands.to_str().unwrap()];
        all.extend_from_slice(args);
        let client = wr.spawn_client(SCALE_PROBE, &all, &[]);
        Probe { client, log, commands }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn send(&self, command: &str) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.commands).unwrap();
        writeln!(f, "{command}").unwrap();
    }

    /// The logged lines from byte `from` on.
    fn lines_since(&self, from: usize) -> Vec<String> {
        let text = self.text();
        text.get(from..).unwrap_or("").lines().map(str::to_string).collect()
    }

    /// The last `draw` line: (buffer width, buffer height, buffer scale, viewport size).
    fn last_draw(&self) -> Option<Draw> {
        let text = self.text();
        let line = text.lines().rev().find(|l| l.starts_with("draw "))?;
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| w.get(i).and_then(|s| s.parse::<i32>().ok());
        Some((num(1)?, num(2)?, num(4)?, num(6).zip(num(7))))
    }

    /// The output the surface is on now, from its enter and leave events.
    fn entered(&self) -> Vec<String> {
        let mut on: Vec<String> = Vec::new();
        for line in self.text().lines() {
            if let Some(name) = line.strip_prefix("surface enter ") {
                on.push(name.to_string());
            } else if let Some(name) = line.strip_prefix("surface leave ") {
                on.retain(|n| n != name);
            }
        }
        on
    }
}

/// A `draw` line: (buffer width, buffer height, buffer scale, viewport destination).
type Draw = (i32, i32, i32, Option<(i32, i32)>);

/// A monitor on the wire: (left, top, right, bottom, primary), right and bottom inclusive.
type WireMonitor = (i32, i32, i32, i32, bool);

/// An output as `wayrail msg outputs` reports it.
#[derive(Debug, Clone, PartialEq)]
struct Out {
    name: String,
    physical: Rect,
    logical: Rect,
    scale: f64,
    primary: bool,
}

/// An output that is not the primary one.
fn out(name: &str, physical: (i32, i32, i32, i32), logical: (i32, i32, i32, i32), scale: f64) -> Out {
    let r = |(x, y, width, height)| Rect { x, y, width, height };
    Out { name: name.into(), physical: r(physical), logical: r(logical), scale, primary: false }
}

impl Out {
    fn primary(self) -> Out {
        Out { primary: true, ..self }
    }
}

fn outputs_of(wr: &Compositor) -> Vec<Out> {
    wr.outputs()
        .iter()
        .map(|o| Out {
            name: o["name"].as_str().unwrap_or_default().to_string(),
            physical: Rect::of(o),
            logical: Rect::of(&o["logical"]),
            scale: o["scale"].as_f64().unwrap_or(f64::NAN),
            primary: o["primary"].as_bool().unwrap_or_else(|| panic!("no primary flag in {o}")),
        })
        .collect()
}

fn same_outputs(got: &[Out], want: &[Out]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            g.name == w.name
                && g.physical == w.physical
                && g.logical == w.logical
                && (g.scale - w.scale).abs() < 1e-6
                && g.primary == w.primary
        })
}

/// Pumps the client until the compositor's outputs are `want` (in order); fails with both.
async fn wait_outputs(wr: &Compositor, client: &mut TestClient, want: &[Out]) {
    let deadline = Instant::now() + STEP;
    loop {
        let got = outputs_of(wr);
        if same_outputs(&got, want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "outputs after {STEP:?}:\n{got:#?}\nexpected:\n{want:#?}\nmsg outputs: {}\ncompositor log:\n{}",
            Value::Array(wr.outputs()),
            wr.log_tail(30)
        );
        pump(client, 30).await;
    }
}

/// Pumps the client until `cond` holds on the probe's log; fails with the log.
async fn until_probe(
    wr: &Compositor,
    client: &mut TestClient,
    probe: &Probe,
    what: &str,
    cond: impl Fn(&Probe) -> bool,
) {
    let deadline = Instant::now() + STEP;
    while !cond(probe) {
        assert!(
            Instant::now() < deadline,
            "the probe never got {what} within {STEP:?}; its log:\n{}\noutputs: {}\nwindows: {}\ncompositor log:\n{}",
            probe.text(),
            Value::Array(wr.outputs()),
            Value::Array(wr.windows()),
            wr.log_tail(30)
        );
        pump(client, 30).await;
    }
}

/// Pumps the client until `cond` holds on it; fails with `what` and the compositor's state.
async fn until(wr: &Compositor, client: &mut TestClient, what: &str, cond: impl FnMut(&TestClient) -> bool) {
    ironrdp::until(wr, client, STEP, what, cond).await
}

/// Connects the test client announcing `monitors` (with the DisplayControl channel), as a
/// RemoteApp host when `rail` is given; waits for the graphics pipeline.
async fn connect(wr: &Compositor, monitors: &[MonitorSpec], rail: Option<RailClient>) -> TestClient {
    let opts = ClientOptions {
        monitors: monitors.to_vec(),
        display_control: true,
        remote_app: rail.is_some(),
        ..Default::default()
    };
    let mut builder = ClientBuilder::new(opts);
    if let Some(rail) = rail {
        builder = builder.with_static_channel(rail);
    }
    connect_gfx(wr, builder, STEP).await
}

/// A compositor (one 1280x800 output until a client says otherwise) and the test client
/// announcing `monitors` (a RemoteApp host with `rail`), once the outputs are `want`.
async fn start(monitors: &[MonitorSpec], rail: Option<RailClient>, want: &[Out]) -> (Compositor, TestClient) {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let mut client = connect(&wr, monitors, rail).await;
    wait_outputs(&wr, &mut client, want).await;
    (wr, client)
}

/// Sends a new monitor layout (DisplayControl) and waits for the outputs to be `want`.
async fn relayout(wr: &Compositor, client: &mut TestClient, monitors: &[MonitorSpec], want: &[Out]) {
    client.send_monitor_layout(monitors).await.unwrap();
    wait_outputs(wr, client, want).await;
}

/// Waits for the compositor window of a probe (pumping the client meanwhile).
async fn probe_window(wr: &Compositor, client: &mut TestClient, probe: &Probe) -> Value {
    let pid = probe.client.pid() as i64;
    let deadline = Instant::now() + MAP_TIMEOUT;
    loop {
        if let Some(w) = wr.windows().into_iter().find(|w| w["kind"] == "toplevel" && w["pid"].as_i64() == Some(pid)) {
            return w;
        }
        assert!(Instant::now() < deadline, "the probe mapped no window: {}\n{}", probe.text(), wr.log_tail(20));
        pump(client, 30).await;
    }
}

fn id_of(w: &Value) -> u64 {
    w["id"].as_u64().unwrap_or_else(|| panic!("no id in {w}"))
}

/// Host pixel → RDP input coordinates (from the top-left of the monitors' bounding box).
fn input_point(monitors: &[MonitorSpec], (x, y): (i32, i32)) -> (u16, u16) {
    let (left, top, _, _) = bounding_box(monitors);
    ((x - left) as u16, (y - top) as u16)
}

async fn move_pointer(client: &mut TestClient, (x, y): (u16, u16), flags: PointerFlags) {
    let event = FastPathInputEvent::MouseEvent(MousePdu {
        flags,
        number_of_wheel_rotation_units: 0,
        x_position: x,
        y_position: y,
    });
    client.send_input(&[event]).await.unwrap_or_else(|e| panic!("{e:#}"));
}

/// The surface-local position of the probe's last pointer enter or motion logged after byte `from`.
fn pointer_after(probe: &Probe, from: usize) -> Option<(f64, f64)> {
    probe.lines_since(from).iter().rev().find_map(|l| {
        let rest = l.strip_prefix("pointer enter ").or_else(|| l.strip_prefix("pointer motion "))?;
        let (x, y) = rest.split_once(' ')?;
        Some((x.parse().ok()?, y.parse().ok()?))
    })
}

/// Makes the probe fullscreen on `output` and waits until it drew for it: `logical` size, and
/// it entered that output.
async fn fullscreen_on(wr: &Compositor, client: &mut TestClient, probe: &Probe, output: &str, logical: (i32, i32)) {
    probe.send(&format!("fullscreen {output}"));
    until_probe(wr, client, probe, &format!("fullscreen on {output} at {logical:?}"), |p| {
        p.last_draw().is_some_and(|(_, _, _, viewport)| viewport == Some(logical)) && p.entered() == [output]
    })
    .await;
}

/// Moves the pointer to each corner pixel of `monitor` and checks where the fullscreen probe
/// (on that monitor's output) says it is: (p - monitor origin) / scale, to the 1/256 pixel of
/// wl_fixed.
async fn check_corners(
    wr: &Compositor,
    client: &mut TestClient,
    probe: &Probe,
    monitors: &[MonitorSpec],
    monitor: &MonitorSpec,
) {
    let s = f64::from(monitor.scale) / 100.0;
    let (w, h) = (monitor.width as i32, monitor.height as i32);
    for (dx, dy) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
        let host = (monitor.x + dx, monitor.y + dy);
        let want = (f64::from(dx) / s, f64::from(dy) / s);
        let from = probe.text().len();
        move_pointer(client, input_point(monitors, host), PointerFlags::MOVE).await;
        let deadline = Instant::now() + STEP;
        loop {
            let got = pointer_after(probe, from);
            if got.is_some_and(|(x, y)| (x - want.0).abs() < 0.01 && (y - want.1).abs() < 0.01) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "host pixel {host:?} on monitor {monitor:?}: the probe got {got:?}, expected {want:?}\n\
                 probe log since:\n{}\noutputs: {}\ncompositor log:\n{}",
                probe.lines_since(from).join("\n"),
                Value::Array(wr.outputs()),
                wr.log_tail(20)
            );
            pump(client, 30).await;
        }
    }
}

/// Whether the host's desktop image shows the probe's one-pixel checkerboard, unscaled, over
/// the host rectangle `rect` (desktop image coordinates): the colour where (x + y) is even
/// counting from the rectangle's corner, black elsewhere. A scaled or shifted mapping mixes
/// or swaps them.
fn checker_mismatches(client: &TestClient, rect: Rect) -> (usize, Vec<String>) {
    let mut bad = 0;
    let mut shown = Vec::new();
    for y in rect.y..rect.y + rect.height {
        for x in rect.x..rect.x + rect.width {
            let [r, g, b, _] = client.pixel(x as u16, y as u16);
            let want = if (x - rect.x + y - rect.y) % 2 == 0 { BLUE } else { BLACK };
            if [r, g, b] != want {
                bad += 1;
                if shown.len() < 8 {
                    shown.push(format!("({x},{y}): {:02x?} not {want:02x?}", [r, g, b]));
                }
            }
        }
    }
    (bad, shown)
}

/// Pumps until the host shows the checkerboard over `rect` exactly; fails with where it does not.
async fn wait_checker(wr: &Compositor, client: &mut TestClient, rect: Rect) {
    let deadline = Instant::now() + STEP;
    loop {
        let (bad, shown) = checker_mismatches(client, rect);
        if bad == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the host does not show the probe's pixels unscaled in {rect:?}: {bad} pixels differ, e.g.\n{}\n\
             outputs: {}\ncompositor log:\n{}",
            shown.join("\n"),
            Value::Array(wr.outputs()),
            wr.log_tail(20)
        );
        pump(client, 50).await;
    }
}

/// ResetGraphics' monitor list as (left, top, right, bottom, primary), right and bottom
/// inclusive as on the wire.
fn reset_monitors(client: &TestClient) -> Option<Vec<WireMonitor>> {
    let reset = client.gfx_tap().resets.last()?;
    Some(reset.monitors.iter().map(|m| (m.left, m.top, m.right, m.bottom, m.flags.bits() & 1 == 1)).collect())
}

fn wire_monitors(monitors: &[MonitorSpec]) -> Vec<WireMonitor> {
    monitors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let primary = if monitors.iter().any(|m| m.primary) { m.primary } else { i == 0 };
            (m.x, m.y, m.x + m.width as i32 - 1, m.y + m.height as i32 - 1, primary)
        })
        .collect()
}

/// The test client's tap on the graphics channel follows the real server's traffic: it sees
/// the ResetGraphics of the desktop it asked for, and nothing it could not follow.
#[tokio::test(flavor = "current_thread")]
async fn the_graphics_tap_sees_reset_graphics() {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let addr = format!("127.0.0.1:{}", wr.rdp_port().unwrap());
    let opts = ClientOptions { size: (1024, 768), ..Default::default() };
    let mut client = ClientBuilder::new(opts).connect(&addr).await.unwrap();
    until(&wr, &mut client, "a ResetGraphics seen by the tap", |c| !c.gfx_tap().resets.is_empty()).await;
    // Some frames after it, so the tap has followed more than one message.
    until(&wr, &mut client, "a frame", |c| c.frames_received() > 0).await;
    let tap = client.gfx_tap();
    let reset = tap.resets.last().unwrap();
    assert_eq!((reset.width, reset.height), (1024, 768), "{reset:?}");
    assert_eq!(client.gfx().resets.last(), Some(&(1024, 768)), "the pipeline client saw the same");
    assert!(tap.errors.is_empty(), "{:?}", tap.errors);
    client.disconnect().await.unwrap();
}

/// One monitor at 125, 150, 175, 200 and 500 %: the output's scale and logical size; an aware
/// probe is told scale × 120, draws at exactly the monitor's pixels and is shown unscaled (its
/// one-pixel checkerboard arrives intact); a non-aware probe is told the scale rounded up as its
/// buffer scale. The monitor's size divides by the scale.
async fn one_monitor_at(percent: u32, (width, height): (u32, u32)) {
    let monitor = MonitorSpec::new(0, 0, width, height, percent);
    let s = f64::from(percent) / 100.0;
    let logical = ((f64::from(width) / s) as i32, (f64::from(height) / s) as i32);
    assert_eq!((f64::from(logical.0) * s, f64::from(logical.1) * s), (f64::from(width), f64::from(height)));
    let physical = (0, 0, width as i32, height as i32);
    let (wr, mut client) =
        start(&[monitor], None, &[out("WR-1", physical, (0, 0, logical.0, logical.1), s).primary()]).await;

    let aware = Probe::spawn(&wr, "aware", &["--aware", "--checker", "--size", "100x50"]);
    probe_window(&wr, &mut client, &aware).await;
    let want = format!("fractional_scale {}", percent * 120 / 100);
    until_probe(&wr, &mut client, &aware, &want, |p| p.text().lines().any(|l| l == want)).await;
    fullscreen_on(&wr, &mut client, &aware, "WR-1", logical).await;
    let draw = aware.last_draw().unwrap();
    assert_eq!(draw, (width as i32, height as i32, 1, Some(logical)), "the aware probe's buffer is the monitor's size");
    wait_checker(&wr, &mut client, Rect { x: 0, y: 0, width: width as i32, height: height as i32 }).await;

    let buffer_scale = percent.div_ceil(100) as i32;
    let plain = Probe::spawn(&wr, "plain", &["--size", "100x50"]);
    probe_window(&wr, &mut client, &plain).await;
    let want = format!("buffer_scale {buffer_scale}");
    until_probe(&wr, &mut client, &plain, &format!("{want} and a buffer at that scale"), |p| {
        p.text().lines().any(|l| l == want)
            && p.last_draw() == Some((100 * buffer_scale, 50 * buffer_scale, buffer_scale, None))
    })
    .await;
    assert!(!plain.text().contains("fractional_scale"), "{}", plain.text());
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn one_monitor_at_125_percent() {
    one_monitor_at(125, (1200, 750)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn one_monitor_at_150_percent() {
    one_monitor_at(150, (1200, 750)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn one_monitor_at_175_percent() {
    one_monitor_at(175, (1400, 875)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn one_monitor_at_200_percent() {
    one_monitor_at(200, (1200, 750)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn one_monitor_at_500_percent() {
    one_monitor_at(500, (1500, 1000)).await;
}

/// Client Core Data's desktopScaleFactor alone (no monitor data) sets the scale of the one output.
#[tokio::test(flavor = "current_thread")]
async fn core_data_scale_alone_scales_the_output() {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let addr = format!("127.0.0.1:{}", wr.rdp_port().unwrap());
    let opts = ClientOptions { size: (1200, 750), desktop_scale: 150, ..Default::default() };
    let mut client = ClientBuilder::new(opts).connect(&addr).await.unwrap();
    wait_outputs(&wr, &mut client, &[out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary()]).await;
    client.disconnect().await.unwrap();
}

/// Two monitors side by side at 150 % and 200 %, the second one lower: two outputs with the
/// logical layout kept adjacent, ResetGraphics carries both monitors, a probe moved onto the
/// second output enters it and is told 240 there and 180 back on the first, and a click on the
/// second monitor lands on the intended surface pixel.
#[tokio::test(flavor = "current_thread")]
async fn mixed_scales_side_by_side() {
    let monitors = [MonitorSpec::new(0, 0, 1200, 750, 150), MonitorSpec::new(1200, 150, 1280, 800, 200)];
    let (wr, mut client) = start(
        &monitors,
        None,
        &[
            out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
            // Right of the first: starts at its logical right edge, 150 / 1.5 lower.
            out("WR-2", (1200, 150, 1280, 800), (800, 100, 640, 400), 2.0),
        ],
    )
    .await;
    until(&wr, &mut client, "a ResetGraphics with both monitors", |c| {
        reset_monitors(c) == Some(wire_monitors(&monitors))
    })
    .await;
    assert!(client.gfx_tap().errors.is_empty(), "{:?}", client.gfx_tap().errors);
    let layout = client
        .monitor_layouts()
        .last()
        .map(|l| l.iter().map(|m| (m.left, m.top, m.right, m.bottom, m.flags.bits() & 1 == 1)).collect::<Vec<_>>());
    assert_eq!(layout, Some(wire_monitors(&monitors)), "the Monitor Layout PDU: {:?}", client.monitor_layouts());

    let probe = Probe::spawn(&wr, "probe", &["--aware", "--size", "200x100"]);
    let window = probe_window(&wr, &mut client, &probe).await;
    let id = id_of(&window);
    until_probe(&wr, &mut client, &probe, "fractional_scale 180 on WR-1", |p| {
        p.entered() == ["WR-1"] && p.text().lines().any(|l| l == "fractional_scale 180")
    })
    .await;

    wr.window_op(id, &["move", "900", "150"]);
    until_probe(&wr, &mut client, &probe, "WR-2 only, at 240, drawn at 400x200", |p| {
        p.entered() == ["WR-2"]
            && p.text().lines().rev().find(|l| l.starts_with("fractional_scale")) == Some("fractional_scale 240")
            && p.last_draw() == Some((400, 200, 1, Some((200, 100))))
    })
    .await;

    // Surface-local (37, 23) is logical (937, 173): host (1200 + 137 * 2, 150 + 73 * 2).
    let host = (1200 + 137 * 2, 150 + 73 * 2);
    let from = probe.text().len();
    let point = input_point(&monitors, host);
    move_pointer(&mut client, point, PointerFlags::MOVE).await;
    move_pointer(&mut client, point, PointerFlags::LEFT_BUTTON | PointerFlags::DOWN).await;
    move_pointer(&mut client, point, PointerFlags::LEFT_BUTTON).await;
    until_probe(&wr, &mut client, &probe, "a click at 37,23", |p| {
        p.lines_since(from).iter().any(|l| l == "pointer button 272 pressed 37.000 23.000")
    })
    .await;

    wr.window_op(id, &["move", "100", "100"]);
    until_probe(&wr, &mut client, &probe, "WR-1 again at 180", |p| {
        p.entered() == ["WR-1"]
            && p.text().lines().rev().find(|l| l.starts_with("fractional_scale")) == Some("fractional_scale 180")
    })
    .await;
    client.disconnect().await.unwrap();
}

/// Vertically stacked with a horizontal offset, and an L of three monitors reaching into
/// negative coordinates: scaling stays on for every monitor, and the pointer at each
/// monitor's four corner pixels lands where it should on a probe fullscreen on that monitor.
async fn corners_of(monitors: &[MonitorSpec], want: &[Out]) {
    let (wr, mut client) = start(monitors, None, want).await;
    check_every_monitor(&wr, &mut client, monitors, want).await;
    client.disconnect().await.unwrap();
}

/// For each monitor: a probe fullscreen on its output is told its scale, and the pointer at its
/// four corner pixels lands where it should.
async fn check_every_monitor(wr: &Compositor, client: &mut TestClient, monitors: &[MonitorSpec], outputs: &[Out]) {
    let probe = Probe::spawn(wr, "probe", &["--aware", "--size", "200x100"]);
    probe_window(wr, client, &probe).await;
    for (monitor, output) in monitors.iter().zip(outputs) {
        let logical = (output.logical.width, output.logical.height);
        fullscreen_on(wr, client, &probe, &output.name, logical).await;
        let scale120 = format!("fractional_scale {}", monitor.scale * 120 / 100);
        until_probe(wr, client, &probe, &scale120, |p| {
            p.text().lines().rev().find(|l| l.starts_with("fractional_scale")) == Some(scale120.as_str())
        })
        .await;
        check_corners(wr, client, &probe, monitors, monitor).await;
        probe.send("unfullscreen");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn stacked_with_an_offset_maps_every_corner() {
    let monitors = [MonitorSpec::new(0, 0, 1200, 750, 150), MonitorSpec::new(300, 750, 1280, 800, 200)];
    corners_of(
        &monitors,
        &[
            out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
            // Below the first: starts at its logical bottom edge, 300 / 1.5 to the right.
            out("WR-2", (300, 750, 1280, 800), (200, 500, 640, 400), 2.0),
        ],
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_l_shape_with_negative_coordinates_maps_every_corner() {
    let monitors = [
        MonitorSpec::new(0, 0, 1200, 750, 150),
        MonitorSpec::new(1200, 0, 1280, 800, 200),
        MonitorSpec::new(-300, 750, 1000, 600, 125),
    ];
    corners_of(
        &monitors,
        &[
            out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
            out("WR-2", (1200, 0, 1280, 800), (800, 0, 640, 400), 2.0),
            // Below the first, 300 / 1.5 to its left.
            out("WR-3", (-300, 750, 1000, 600), (-200, 500, 800, 480), 1.25),
        ],
    )
    .await;
}

/// The primary monitor second in the client's list, another one left of it: output order
/// follows the client's list, the primary's logical origin is (0,0), the other one lies at
/// negative logical coordinates, and every corner maps exactly.
#[tokio::test(flavor = "current_thread")]
async fn a_primary_second_with_a_monitor_left_of_it() {
    let monitors = [MonitorSpec::new(-1024, 0, 1024, 768, 100), MonitorSpec::new(0, 0, 1200, 750, 150).primary()];
    corners_of(
        &monitors,
        &[
            // Left of the primary: ends at its logical left edge.
            out("WR-1", (-1024, 0, 1024, 768), (-1024, 0, 1024, 768), 1.0),
            out("WR-2", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
        ],
    )
    .await;
}

/// The cursor goes to the host at the physical size of the monitor the pointer is on: the
/// theme's 24-pixel arrow at 100 %, its 48-pixel one at 200 %.
#[tokio::test(flavor = "current_thread")]
async fn the_cursor_has_the_size_of_the_monitor_it_is_on() {
    use wayrail_rdp_testclient::PointerEvent;
    // The compositor's default theme falls back to Adwaita, which has both sizes.
    if !std::path::Path::new("/usr/share/icons/Adwaita/cursors/left_ptr").is_file() {
        wayrail_e2e::skip_unless_ci("no Adwaita cursor theme (adwaita-icon-theme)");
        return;
    }
    let monitors = [MonitorSpec::new(0, 0, 1280, 800, 100), MonitorSpec::new(1280, 0, 1280, 800, 200)];
    let (wr, mut client) = start(
        &monitors,
        None,
        &[
            out("WR-1", (0, 0, 1280, 800), (0, 0, 1280, 800), 1.0).primary(),
            out("WR-2", (1280, 0, 1280, 800), (1280, 0, 640, 400), 2.0),
        ],
    )
    .await;
    let last_bitmap = |c: &TestClient| {
        c.pointer_events().iter().rev().find_map(|p| match p {
            PointerEvent::Bitmap { width, height, .. } => Some((*width, *height)),
            _ => None,
        })
    };
    for (host, size) in [((1280 + 300, 200), (48, 48)), ((300, 200), (24, 24)), ((1280 + 600, 300), (48, 48))] {
        move_pointer(&mut client, input_point(&monitors, host), PointerFlags::MOVE).await;
        let ok = client.pump_until(STEP, |c| last_bitmap(c) == Some(size)).await;
        assert!(
            ok.is_ok(),
            "no {size:?} cursor at host {host:?}; pointer updates: {:?}\n{}",
            client.pointer_events(),
            wr.log_tail(20)
        );
    }
    client.disconnect().await.unwrap();
}

/// RemoteApp maximize fills the host's work area of the monitor the window is on (each
/// monitor has its own taskbar), in that monitor's scale.
#[tokio::test(flavor = "current_thread")]
async fn maximize_fills_the_work_area_of_its_monitor() {
    use wayrail_rdp_testclient::ironrdp_pdu::window::ShowState;
    let monitors = [MonitorSpec::new(0, 0, 1200, 750, 150), MonitorSpec::new(1200, 0, 1280, 800, 200)];
    let mut rail = RailClient::new(None);
    // Taskbars: 60 host pixels at the bottom of the first monitor, 40 on the second.
    rail.monitor_work_areas = vec![(0, 0, 1200, 690), (1200, 0, 2480, 760)];
    let (wr, mut client) = start(
        &monitors,
        Some(rail),
        &[
            out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
            out("WR-2", (1200, 0, 1280, 800), (800, 0, 640, 400), 2.0),
        ],
    )
    .await;
    let probe = Probe::spawn(&wr, "probe", &["--aware", "--size", "200x100"]);
    let id = id_of(&probe_window(&wr, &mut client, &probe).await);
    let wid = id as u32;
    // (The order of the cases matters not; both monitors are checked from a normal window.)
    for (at, logical, host_offset, host_size) in
        [((900, 50), (800, 0, 640, 380), (1200, 0), (1280, 760)), ((100, 60), (0, 0, 800, 460), (0, 0), (1200, 690))]
    {
        wr.window_op(id, &["move", &at.0.to_string(), &at.1.to_string()]);
        until(&wr, &mut client, &format!("the window at logical {at:?}"), |_| {
            wr.window(id).is_some_and(|w| (Rect::of(&w).x, Rect::of(&w).y) == at)
        })
        .await;
        wr.window_op(id, &["maximize"]);
        let want = Rect { x: logical.0, y: logical.1, width: logical.2, height: logical.3 };
        until(&wr, &mut client, &format!("maximized into {want:?}"), |_| {
            wr.window(id).is_some_and(|w| w["state"] == "maximized" && Rect::of(&w) == want)
        })
        .await;
        until(&wr, &mut client, &format!("the host window maximized at {host_offset:?} {host_size:?}"), |c| {
            c.host_windows().windows.get(&wid).is_some_and(|w| {
                w.show_state == Some(ShowState::Maximized)
                    && w.window_offset == host_offset
                    && w.window_size == host_size
            })
        })
        .await;
        wr.window_op(id, &["unmaximize"]);
        until(&wr, &mut client, "unmaximized", |_| wr.window(id).is_some_and(|w| w["state"] == "normal")).await;
    }
    client.disconnect().await.unwrap();
}

/// Apps already running when a host connects and whose output changes scale under them are
/// told the new scale (an aware one the fractional scale, the other the buffer scale) and draw
/// again at it.
#[tokio::test(flavor = "current_thread")]
async fn running_apps_follow_a_scale_change_of_their_output() {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let aware = Probe::spawn(&wr, "aware", &["--aware", "--size", "200x100"]);
    let plain = Probe::spawn(&wr, "plain", &["--size", "200x100"]);
    for probe in [&aware, &plain] {
        wr.wait_for_toplevel_of(&probe.client, MAP_TIMEOUT);
        let on = wait_until(STEP, || probe.entered() == ["WR-1"] && probe.last_draw().is_some());
        assert!(on, "{}", probe.text());
    }
    let mut client = connect(&wr, &[MonitorSpec::new(0, 0, 1200, 750, 150)], None).await;
    wait_outputs(&wr, &mut client, &[out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary()]).await;
    until_probe(&wr, &mut client, &aware, "fractional_scale 180 and a 300x150 buffer", |p| {
        p.text().lines().any(|l| l == "fractional_scale 180") && p.last_draw() == Some((300, 150, 1, Some((200, 100))))
    })
    .await;
    until_probe(&wr, &mut client, &plain, "buffer_scale 2 and a 400x200 buffer", |p| {
        p.text().lines().any(|l| l == "buffer_scale 2") && p.last_draw() == Some((400, 200, 2, None))
    })
    .await;
    client.disconnect().await.unwrap();
}

/// An app whose toplevel exists (configured, no buffer yet) when the host's layout changes
/// the scale, and which maps only afterwards, is told the new scale: apps starting while a host
/// connects must not stay at the old one.
#[tokio::test(flavor = "current_thread")]
async fn an_app_mapping_after_a_scale_change_is_told_the_new_scale() {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let late = Probe::spawn(&wr, "late", &["--size", "200x100", "--hold"]);
    let configured = wait_until(STEP, || late.text().lines().any(|l| l.starts_with("configure ")));
    assert!(configured, "{}", late.text());
    let mut client = connect(&wr, &[MonitorSpec::new(0, 0, 1200, 750, 150)], None).await;
    wait_outputs(&wr, &mut client, &[out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary()]).await;
    late.send("map");
    until_probe(&wr, &mut client, &late, "buffer_scale 2 and a 400x200 buffer once mapped", |p| {
        p.entered() == ["WR-1"]
            && p.text().lines().any(|l| l == "buffer_scale 2")
            && p.last_draw() == Some((400, 200, 2, None))
    })
    .await;
    client.disconnect().await.unwrap();
}

/// Mixed scales that cannot all touch in logical space (a wide 100 % monitor under a 150 % one
/// and the 100 % one right of it): whatever the compositor does to the layout, outputs never
/// overlap, each has its monitor's size divided by its scale and the primary sits at (0,0),
/// and every monitor's corners still map exactly.
#[tokio::test(flavor = "current_thread")]
async fn an_arrangement_that_cannot_touch_everywhere_still_maps_exactly() {
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let monitors = [
        MonitorSpec::new(0, 0, 1200, 750, 150),
        MonitorSpec::new(1200, 0, 1280, 800, 100),
        MonitorSpec::new(0, 800, 2480, 600, 100),
    ];
    let mut client = connect(&wr, &monitors, None).await;
    let deadline = Instant::now() + STEP;
    let outputs = loop {
        let got = outputs_of(&wr);
        if got.len() == 3
            && got
                .iter()
                .zip(&monitors)
                .all(|(o, m)| o.physical == Rect { x: m.x, y: m.y, width: m.width as i32, height: m.height as i32 })
        {
            break got;
        }
        assert!(Instant::now() < deadline, "outputs: {got:#?}\n{}", wr.log_tail(20));
        pump(&mut client, 30).await;
    };
    for (o, m) in outputs.iter().zip(&monitors) {
        let s = f64::from(m.scale) / 100.0;
        assert!((o.scale - s).abs() < 1e-6, "{o:?}");
        assert_eq!(
            (o.logical.width, o.logical.height),
            ((f64::from(m.width) / s) as i32, (f64::from(m.height) / s) as i32),
            "{o:?}"
        );
    }
    assert_eq!((outputs[0].logical.x, outputs[0].logical.y, outputs[0].primary), (0, 0, true), "{outputs:#?}");
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[i + 1..] {
            let overlap = a.logical.x < b.logical.x + b.logical.width
                && b.logical.x < a.logical.x + a.logical.width
                && a.logical.y < b.logical.y + b.logical.height
                && b.logical.y < a.logical.y + a.logical.height;
            assert!(!overlap, "{} and {} overlap in logical space: {outputs:#?}", a.name, b.name);
        }
    }
    check_every_monitor(&wr, &mut client, &monitors, &outputs).await;
    client.disconnect().await.unwrap();
}

/// A new layout keeps windows where they were on their monitor, in host pixels: the first
/// monitor going from 100 % to 150 % (same origin) and the second moving left.
#[tokio::test(flavor = "current_thread")]
async fn a_new_layout_keeps_windows_at_their_place_on_their_monitor() {
    let before = [MonitorSpec::new(0, 0, 1280, 800, 100), MonitorSpec::new(1280, 0, 1024, 768, 100)];
    let (wr, mut client) = start(
        &before,
        None,
        &[
            out("WR-1", (0, 0, 1280, 800), (0, 0, 1280, 800), 1.0).primary(),
            out("WR-2", (1280, 0, 1024, 768), (1280, 0, 1024, 768), 1.0),
        ],
    )
    .await;
    client.wait_display_control(STEP).await.unwrap_or_else(|e| panic!("{e:#}"));
    let first = Probe::spawn(&wr, "first", &["--aware", "--size", "200x100"]);
    let second = Probe::spawn(&wr, "second", &["--aware", "--size", "200x100"]);
    let ids =
        [id_of(&probe_window(&wr, &mut client, &first).await), id_of(&probe_window(&wr, &mut client, &second).await)];
    wr.window_op(ids[0], &["move", "300", "150"]);
    wr.window_op(ids[1], &["move", "1500", "300"]);
    let at = |id: u64| wr.window(id).map(|w| (Rect::of(&w).x, Rect::of(&w).y));
    let placed = wait_until(STEP, || at(ids[0]) == Some((300, 150)) && at(ids[1]) == Some((1500, 300)));
    assert!(placed, "{:?} {:?}", at(ids[0]), at(ids[1]));

    let after = [MonitorSpec::new(0, 0, 1200, 750, 150), MonitorSpec::new(1200, 0, 1024, 768, 100)];
    relayout(
        &wr,
        &mut client,
        &after,
        &[
            out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
            out("WR-2", (1200, 0, 1024, 768), (800, 0, 1024, 768), 1.0),
        ],
    )
    .await;
    // Host (300, 150) on the first monitor is logical (200, 100) now; host offset (220, 300) on
    // the second is logical (800 + 220, 300).
    let deadline = Instant::now() + STEP;
    while (at(ids[0]), at(ids[1])) != (Some((200, 100)), Some((1020, 300))) {
        assert!(Instant::now() < deadline, "windows at {:?} and {:?}\n{}", at(ids[0]), at(ids[1]), wr.log_tail(20));
        pump(&mut client, 30).await;
    }
    client.disconnect().await.unwrap();
}

/// DisplayControl layouts at run time, on one connection: a second monitor comes (a new output,
/// the first keeps its name), a window moved onto it enters it; the scale of the first changes
/// (an aware app is told at once); the second goes away and its window comes back inside the
/// desktop, still shown.
#[tokio::test(flavor = "current_thread")]
async fn display_control_changes_outputs_without_reconnecting() {
    let one = [MonitorSpec::new(0, 0, 1280, 800, 100)];
    let (wr, mut client) = start(&one, None, &[out("WR-1", (0, 0, 1280, 800), (0, 0, 1280, 800), 1.0).primary()]).await;
    let caps = client.wait_display_control(STEP).await.unwrap_or_else(|e| panic!("{e:#}\n{}", wr.log_tail(20)));
    assert!(caps.max_num_monitors() >= 16, "the server takes up to 16 monitors: {caps:?}");

    let probe = Probe::spawn(&wr, "probe", &["--aware", "--size", "200x100"]);
    let id = id_of(&probe_window(&wr, &mut client, &probe).await);

    let two = [MonitorSpec::new(0, 0, 1280, 800, 100), MonitorSpec::new(1280, 0, 1024, 768, 100)];
    relayout(
        &wr,
        &mut client,
        &two,
        &[
            out("WR-1", (0, 0, 1280, 800), (0, 0, 1280, 800), 1.0).primary(),
            out("WR-2", (1280, 0, 1024, 768), (1280, 0, 1024, 768), 1.0),
        ],
    )
    .await;
    until(&wr, &mut client, "a ResetGraphics with both monitors", |c| reset_monitors(c) == Some(wire_monitors(&two)))
        .await;
    until(&wr, &mut client, "a 2304x800 desktop", |c| c.desktop_size() == (2304, 800)).await;
    wr.window_op(id, &["move", "1500", "300"]);
    until_probe(&wr, &mut client, &probe, "WR-2", |p| p.entered() == ["WR-2"]).await;

    // The first monitor goes to 150 % (same pixels): the app is told without a reconnect.
    let scaled = [MonitorSpec::new(0, 0, 1200, 750, 150), MonitorSpec::new(1200, 0, 1024, 768, 100)];
    relayout(
        &wr,
        &mut client,
        &scaled,
        &[
            out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
            out("WR-2", (1200, 0, 1024, 768), (800, 0, 1024, 768), 1.0),
        ],
    )
    .await;
    wr.window_op(id, &["move", "100", "100"]);
    until_probe(&wr, &mut client, &probe, "180 on WR-1", |p| {
        p.entered() == ["WR-1"]
            && p.text().lines().rev().find(|l| l.starts_with("fractional_scale")) == Some("fractional_scale 180")
            && p.last_draw() == Some((300, 150, 1, Some((200, 100))))
    })
    .await;

    // Back onto the second, which then goes away: the window comes back to the primary.
    wr.window_op(id, &["move", "1000", "300"]);
    until_probe(&wr, &mut client, &probe, "WR-2 again", |p| p.entered() == ["WR-2"]).await;
    let single = [MonitorSpec::new(0, 0, 1200, 750, 150)];
    relayout(&wr, &mut client, &single, &[out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary()]).await;
    let inside = wait_until(STEP, || {
        wr.window(id).is_some_and(|w| Rect { x: 0, y: 0, width: 800, height: 500 }.contains_rect(&Rect::of(&w)))
    });
    assert!(inside, "the window is not inside the remaining output: {:?}", wr.window(id));
    until_probe(&wr, &mut client, &probe, "WR-1 only", |p| p.entered() == ["WR-1"]).await;
    assert!(client.closed().is_none(), "the connection stayed up");
    // Still shown: the host's desktop has the probe's colour at the window's place.
    let w = Rect::of(&wr.window(id).unwrap());
    let centre = (((w.x + w.width / 2) as f64 * 1.5) as u16, ((w.y + w.height / 2) as f64 * 1.5) as u16);
    until(&wr, &mut client, "the window shown after the change", |c| {
        let [r, g, b, _] = c.pixel(centre.0, centre.1);
        [r, g, b] == BLUE
    })
    .await;
    client.disconnect().await.unwrap();
}

/// RemoteApp across two monitors at 150 % and 200 %: window rectangles on the wire are host
/// pixels of the monitor the window is on, a host WindowMove onto the second monitor maps back
/// to its logical place (and the app is told that monitor's scale), and a non-aware app's
/// window is sent at its integer buffer scale with the host's target size logical × scale.
#[tokio::test(flavor = "current_thread")]
async fn remote_app_rects_and_scaled_window_targets() {
    let monitors = [MonitorSpec::new(0, 0, 1200, 750, 150), MonitorSpec::new(1200, 0, 1280, 800, 200)];
    let (wr, mut client) = start(
        &monitors,
        Some(RailClient::new(None)),
        &[
            out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
            out("WR-2", (1200, 0, 1280, 800), (800, 0, 640, 400), 2.0),
        ],
    )
    .await;
    // Started once the layout is in place (apps that raced the host's layout are tested in
    // `running_apps_follow_a_scale_change_of_their_output`).
    let plain = Probe::spawn(&wr, "plain", &["--size", "200x100"]);
    let aware = Probe::spawn(&wr, "aware", &["--aware", "--size", "200x100"]);
    let plain_id = id_of(&probe_window(&wr, &mut client, &plain).await);
    let aware_id = id_of(&probe_window(&wr, &mut client, &aware).await);

    // The non-aware window at logical (100, 60) on WR-1: host (150, 90), 300x150; its surface
    // holds the buffer at scale 2 (400x200) and is scaled to 300x150 by the host.
    wr.window_op(plain_id, &["move", "100", "60"]);
    until_probe(&wr, &mut client, &plain, "buffer scale 2", |p| p.last_draw() == Some((400, 200, 2, None))).await;
    let wid = plain_id as u32;
    until(&wr, &mut client, "the plain window at host (150, 90) 300x150", |c| {
        c.host_windows().windows.get(&wid).is_some_and(|w| w.window_offset == (150, 90) && w.window_size == (300, 150))
    })
    .await;
    until(&wr, &mut client, "a scaled mapping 400x200 → 300x150", |c| {
        c.gfx()
            .scaled_mapping_of(plain_id)
            .is_some_and(|m| (m.mapped_width, m.mapped_height, m.target_width, m.target_height) == (400, 200, 300, 150))
    })
    .await;

    // The host drags the aware window onto the second monitor: host (1400, 100) 400x200 is
    // logical (800 + 200 / 2, 100 / 2) = (900, 50), 200x100.
    let rect = Rectangle { left: 1400, top: 100, right: 1800, bottom: 300 };
    client.send_rail(RailPdu::WindowMove(WindowMovePdu { window_id: aware_id as u32, rectangle: rect })).await.unwrap();
    let deadline = Instant::now() + STEP;
    loop {
        let w = wr.window(aware_id).map(|w| Rect::of(&w));
        if w == Some(Rect { x: 900, y: 50, width: 200, height: 100 }) {
            break;
        }
        assert!(Instant::now() < deadline, "after the host's move the window is at {w:?}\n{}", wr.log_tail(20));
        pump(&mut client, 30).await;
    }
    until_probe(&wr, &mut client, &aware, "WR-2 at 240, drawn at 400x200", |p| {
        p.entered() == ["WR-2"]
            && p.text().lines().rev().find(|l| l.starts_with("fractional_scale")) == Some("fractional_scale 240")
            && p.last_draw() == Some((400, 200, 1, Some((200, 100))))
    })
    .await;
    let wid = aware_id as u32;
    until(&wr, &mut client, "the aware window at host (1400, 100) 400x200", |c| {
        c.host_windows()
            .windows
            .get(&wid)
            .is_some_and(|w| w.window_offset == (1400, 100) && w.window_size == (400, 200))
    })
    .await;
    let h = client.host_windows();
    assert!(h.inconsistencies.is_empty(), "{:?}", h.inconsistencies);
    client.disconnect().await.unwrap();
}

/// RemoteApp at 150 %: a fractional-scale-aware app's window goes to the host pixel for pixel
/// (its surface is the window's host size, mapped unscaled) and its one-pixel checkerboard
/// arrives intact in the host's window.
#[tokio::test(flavor = "current_thread")]
async fn remote_app_aware_windows_go_out_pixel_for_pixel() {
    let monitors = [MonitorSpec::new(0, 0, 1200, 750, 150)];
    let (wr, mut client) = start(
        &monitors,
        Some(RailClient::new(None)),
        &[out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary()],
    )
    .await;
    let probe = Probe::spawn(&wr, "aware", &["--aware", "--checker", "--size", "200x100"]);
    let id = id_of(&probe_window(&wr, &mut client, &probe).await);
    wr.window_op(id, &["move", "100", "60"]);
    until_probe(&wr, &mut client, &probe, "a 300x150 buffer", |p| {
        p.last_draw() == Some((300, 150, 1, Some((200, 100))))
    })
    .await;
    let wid = id as u32;
    until(&wr, &mut client, "the window at host (150, 90) 300x150", |c| {
        c.host_windows().windows.get(&wid).is_some_and(|w| w.window_offset == (150, 90) && w.window_size == (300, 150))
    })
    .await;
    until(&wr, &mut client, "the checkerboard in the host's window, unscaled", |c| {
        c.window_image(wid).is_some_and(|img| {
            (img.width, img.height) == (300, 150)
                && (0..150u16).all(|y| {
                    (0..300u16).all(|x| {
                        let [r, g, b, _] = img.pixel(x, y);
                        [r, g, b] == if (x + y) % 2 == 0 { BLUE } else { BLACK }
                    })
                })
        })
    })
    .await;
    // Mapped 1:1: a plain mapping of the 300x150 surface, or a scaled one whose target is the same.
    let gfx = client.gfx();
    let plain =
        gfx.mapped_to_window.iter().rev().find(|m| m.window_id == id).map(|m| (m.mapped_width, m.mapped_height));
    let scaled = gfx.scaled_mapping_of(id).map(|m| (m.mapped_width, m.mapped_height, m.target_width, m.target_height));
    assert!(
        plain == Some((300, 150)) || scaled == Some((300, 150, 300, 150)),
        "the window's surface is not mapped 1:1 at 300x150: {plain:?} / {scaled:?}"
    );
    client.disconnect().await.unwrap();
}

/// A window across two monitors of different scales enters both, and its preferred scale is
/// the one of the monitor it is mostly on.
#[tokio::test(flavor = "current_thread")]
async fn the_preferred_scale_follows_where_most_of_the_window_is() {
    let monitors = [MonitorSpec::new(0, 0, 1280, 800, 100), MonitorSpec::new(1280, 0, 1280, 800, 200)];
    let (wr, mut client) = start(
        &monitors,
        None,
        &[
            out("WR-1", (0, 0, 1280, 800), (0, 0, 1280, 800), 1.0).primary(),
            out("WR-2", (1280, 0, 1280, 800), (1280, 0, 640, 400), 2.0),
        ],
    )
    .await;
    let aware = Probe::spawn(&wr, "aware", &["--aware", "--size", "200x100"]);
    let plain = Probe::spawn(&wr, "plain", &["--size", "200x100"]);
    let ids =
        [id_of(&probe_window(&wr, &mut client, &aware).await), id_of(&probe_window(&wr, &mut client, &plain).await)];
    let last = |p: &Probe, what: &str| p.text().lines().rev().find(|l| l.starts_with(what)).map(str::to_string);
    // 150 of its 200 logical pixels on WR-2 (x 1230..1430), then 150 on WR-1 (x 1130..1330).
    for (x, aware_scale, plain_scale) in
        [(1230, "fractional_scale 240", "buffer_scale 2"), (1130, "fractional_scale 120", "buffer_scale 1")]
    {
        for id in ids {
            wr.window_op(id, &["move", &x.to_string(), "100"]);
        }
        until_probe(&wr, &mut client, &aware, &format!("both outputs and {aware_scale} at x {x}"), |p| {
            let mut on = p.entered();
            on.sort();
            on == ["WR-1", "WR-2"] && last(p, "fractional_scale").as_deref() == Some(aware_scale)
        })
        .await;
        until_probe(&wr, &mut client, &plain, &format!("{plain_scale} at x {x}"), |p| {
            p.entered().len() == 2 && last(p, "buffer_scale").as_deref() == Some(plain_scale)
        })
        .await;
    }
    client.disconnect().await.unwrap();
}

/// A layout of three monitors becomes one of two: the outputs are reused in order (names
/// kept), the third is removed, and the window that was on it comes back to the primary.
#[tokio::test(flavor = "current_thread")]
async fn a_removed_monitor_takes_its_output_and_leaves_its_windows_on_the_primary() {
    let three = [
        MonitorSpec::new(0, 0, 1280, 800, 100),
        MonitorSpec::new(1280, 0, 1024, 768, 100),
        MonitorSpec::new(2304, 0, 1200, 750, 150),
    ];
    let (wr, mut client) = start(
        &three,
        None,
        &[
            out("WR-1", (0, 0, 1280, 800), (0, 0, 1280, 800), 1.0).primary(),
            out("WR-2", (1280, 0, 1024, 768), (1280, 0, 1024, 768), 1.0),
            out("WR-3", (2304, 0, 1200, 750), (2304, 0, 800, 500), 1.5),
        ],
    )
    .await;
    client.wait_display_control(STEP).await.unwrap_or_else(|e| panic!("{e:#}"));
    let probe = Probe::spawn(&wr, "probe", &["--aware", "--size", "200x100"]);
    let id = id_of(&probe_window(&wr, &mut client, &probe).await);
    wr.window_op(id, &["move", "2500", "200"]);
    until_probe(&wr, &mut client, &probe, "WR-3 at 180", |p| {
        p.entered() == ["WR-3"]
            && p.text().lines().rev().find(|l| l.starts_with("fractional_scale")) == Some("fractional_scale 180")
    })
    .await;
    // The second monitor changes size, the third goes.
    let two = [MonitorSpec::new(0, 0, 1280, 800, 100), MonitorSpec::new(1280, 0, 1280, 800, 200)];
    relayout(
        &wr,
        &mut client,
        &two,
        &[
            out("WR-1", (0, 0, 1280, 800), (0, 0, 1280, 800), 1.0).primary(),
            out("WR-2", (1280, 0, 1280, 800), (1280, 0, 640, 400), 2.0),
        ],
    )
    .await;
    until(&wr, &mut client, "a ResetGraphics with the two monitors", |c| {
        reset_monitors(c) == Some(wire_monitors(&two))
    })
    .await;
    until_probe(&wr, &mut client, &probe, "WR-1 at 120", |p| {
        p.entered() == ["WR-1"]
            && p.text().lines().rev().find(|l| l.starts_with("fractional_scale")) == Some("fractional_scale 120")
    })
    .await;
    let w = Rect::of(&wr.window(id).unwrap());
    assert!(Rect { x: 0, y: 0, width: 1280, height: 800 }.contains_rect(&w), "the window is not on the primary: {w:?}");
    client.disconnect().await.unwrap();
}

/// `xfreerdp3 /multimon` in a two-head Xorg: two outputs with the heads' rectangles; a window
/// moved onto the second head enters the second output, and a click there (through the real
/// client, xdotool in the X display) lands on the intended surface pixel.
#[test]
fn freerdp_multimon_in_a_two_head_xorg() {
    require_programs!("Xorg", "xdotool", "xfreerdp3");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start_dummy_heads(wr.runtime_dir(), &[(1280, 800), (1024, 768)]);
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (0, 0), &["/multimon"]);
    let want = [
        out("WR-1", (0, 0, 1280, 800), (0, 0, 1280, 800), 1.0).primary(),
        out("WR-2", (1280, 0, 1024, 768), (1280, 0, 1024, 768), 1.0),
    ];
    let same = wait_until(STEP, || same_outputs(&outputs_of(&wr), &want));
    assert!(
        same,
        "outputs {:#?}, expected {want:#?}\nxfreerdp3 log:\n{}\ncompositor log:\n{}",
        outputs_of(&wr),
        rdp.client.log_tail(20),
        wr.log_tail(30)
    );

    let probe = Probe::spawn(&wr, "probe", &["--size", "200x100"]);
    let window = wr.wait_for_toplevel_of(&probe.client, MAP_TIMEOUT);
    let id = id_of(&window);
    wr.window_op(id, &["move", "1500", "300"]);
    let entered = wait_until(STEP, || probe.entered() == ["WR-2"]);
    assert!(entered, "the probe did not enter WR-2 only:\n{}", probe.text());

    // Surface-local (37, 23) is X root (1537, 323): the client's window spans both heads.
    let from = probe.text().len();
    let xid = rdp.window().to_string();
    x.xdotool(&["windowfocus", "--sync", &xid]);
    x.xdotool(&["mousemove", "1537", "323", "click", "1"]);
    let clicked =
        wait_until(STEP, || probe.lines_since(from).iter().any(|l| l == "pointer button 272 pressed 37.000 23.000"));
    assert!(
        clicked,
        "the click did not land at 37,23:\n{}\nX client window geometry: {}",
        probe.lines_since(from).join("\n"),
        x.xdotool(&["getwindowgeometry", &xid])
    );
}

/// `xfreerdp3 /scale-desktop:150`: the output gets scale 1.5; an aware app is told 180 and
/// draws at the physical size, shown unscaled in the real client's window; a non-aware app is
/// told buffer scale 2.
#[test]
fn freerdp_scale_desktop_150() {
    require_programs!("Xvfb", "xdotool", "xfreerdp3", "import");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start(wr.runtime_dir());
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1200, 750), &["/scale-desktop:150"]);
    let want = [out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary()];
    let same = wait_until(STEP, || same_outputs(&outputs_of(&wr), &want));
    assert!(same, "outputs {:#?}, expected {want:#?}\n{}", outputs_of(&wr), wr.log_tail(30));

    let aware = Probe::spawn(&wr, "aware", &["--aware", "--checker", "--size", "200x100"]);
    let id = id_of(&wr.wait_for_toplevel_of(&aware.client, MAP_TIMEOUT));
    let told = wait_until(STEP, || aware.text().lines().any(|l| l == "fractional_scale 180"));
    assert!(told, "{}", aware.text());
    // Logical (100, 60) is host (150, 90); the buffer 300x150.
    wr.window_op(id, &["move", "100", "60"]);
    let drawn = wait_until(STEP, || {
        aware.last_draw() == Some((300, 150, 1, Some((200, 100))))
            && wr.window(id).is_some_and(|w| (Rect::of(&w).x, Rect::of(&w).y) == (100, 60))
    });
    assert!(drawn, "{}\n{:?}", aware.text(), wr.window(id));
    let shot = wr.path("freerdp-150.png");
    let area = Rect { x: 150, y: 90, width: 300, height: 150 };
    let mut last = String::new();
    let crisp = wait_until(STEP, || {
        let Ok(img) = rdp.capture(&x, &shot) else { return false };
        let mut bad = 0;
        for yy in area.y..area.y + area.height {
            for xx in area.x..area.x + area.width {
                let want = if (xx - area.x + yy - area.y) % 2 == 0 { BLUE } else { BLACK };
                if img.rgb(xx as u32, yy as u32) != want {
                    bad += 1;
                }
            }
        }
        last = format!("{bad} pixels differ");
        bad == 0
    });
    assert!(crisp, "the client does not show the aware probe unscaled at {area:?}: {last} ({})", shot.display());

    // Fullscreen, its 1200x750 buffer is the output pixel for pixel: it goes uncomposed, crisp.
    assert_eq!(wr.desktop_direct_frames(), 0, "a window that does not fill the output went direct");
    aware.send("fullscreen WR-1");
    let filled = wait_until(STEP, || aware.last_draw() == Some((1200, 750, 1, Some((800, 500)))));
    assert!(filled, "{}", aware.text());
    let direct = wait_until(STEP, || wr.desktop_direct_frames() > 0);
    assert!(direct, "the fullscreen aware probe was composed, not copied from its buffer\n{}", wr.log_tail(20));
    let desktop = Rect { x: 0, y: 0, width: 1200, height: 750 };
    wait_client_shows_output(&wr, &x, &rdp, desktop, STEP, "fullscreen-150").unwrap_or_else(|e| panic!("{e}"));
    let img = wr.screenshot_output(&wr.path("fullscreen-150-check.png"));
    assert_eq!((img.rgb(0, 0), img.rgb(1, 0), img.rgb(1199, 749)), (BLUE, BLACK, BLUE), "not the probe's checkerboard");
    aware.send("unfullscreen");

    let plain = Probe::spawn(&wr, "plain", &["--size", "200x100"]);
    wr.wait_for_toplevel_of(&plain.client, MAP_TIMEOUT);
    let told = wait_until(STEP, || {
        plain.text().lines().any(|l| l == "buffer_scale 2") && plain.last_draw() == Some((400, 200, 2, None))
    });
    assert!(told, "{}", plain.text());
}

/// `xfreerdp3 /multimon /scale-desktop:150` in a two-head Xorg: both monitors at 150 %, laid
/// out side by side in logical space, and pointer input exact at the second head's corners of
/// a probe fullscreen there (through the real client: xdotool in the X display).
#[test]
fn freerdp_multimon_at_150_percent() {
    require_programs!("Xorg", "xdotool", "xfreerdp3");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start_dummy_heads(wr.runtime_dir(), &[(1200, 750), (1200, 750)]);
    let rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (0, 0), &["/multimon", "/scale-desktop:150"]);
    let want = [
        out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
        out("WR-2", (1200, 0, 1200, 750), (800, 0, 800, 500), 1.5),
    ];
    let same = wait_until(STEP, || same_outputs(&outputs_of(&wr), &want));
    assert!(
        same,
        "outputs {:#?}, expected {want:#?}\nxfreerdp3 log:\n{}\ncompositor log:\n{}",
        outputs_of(&wr),
        rdp.client.log_tail(20),
        wr.log_tail(30)
    );
    let probe = Probe::spawn(&wr, "probe", &["--aware", "--size", "200x100"]);
    wr.wait_for_toplevel_of(&probe.client, MAP_TIMEOUT);
    probe.send("fullscreen WR-2");
    let full =
        wait_until(STEP, || probe.entered() == ["WR-2"] && probe.last_draw() == Some((1200, 750, 1, Some((800, 500)))));
    assert!(full, "the probe did not go fullscreen on WR-2 at 1200x750:\n{}", probe.text());
    let xid = rdp.window().to_string();
    x.xdotool(&["windowfocus", "--sync", &xid]);
    for (dx, dy) in [(0, 0), (1199, 0), (0, 749), (1199, 749)] {
        let from = probe.text().len();
        x.xdotool(&["mousemove", &(1200 + dx).to_string(), &dy.to_string()]);
        let want = (f64::from(dx) / 1.5, f64::from(dy) / 1.5);
        let ok = wait_until(STEP, || {
            pointer_after(&probe, from).is_some_and(|(px, py)| (px - want.0).abs() < 0.01 && (py - want.1).abs() < 0.01)
        });
        assert!(
            ok,
            "X root ({}, {dy}): the probe got {:?}, expected {want:?}\n{}",
            1200 + dx,
            pointer_after(&probe, from),
            probe.lines_since(from).join("\n")
        );
    }
}

/// RemoteApp with `xfreerdp3 /multimon /scale-desktop:150 /app` in a two-head Xorg: a window
/// moved onto the second head becomes an X window at that head's host pixels and size, and a
/// click into it lands on the intended surface pixel.
#[test]
fn freerdp_remote_app_on_the_second_head_at_150_percent() {
    use wayrail_e2e::rail::{RailDesk, RAIL_TIMEOUT};
    require_programs!("Xorg", "xdotool", "xfreerdp3");
    let wr = Compositor::start_rdp(&["--output", "1280x800"]);
    let x = Xvfb::start_dummy_heads(wr.runtime_dir(), &[(1200, 750), (1200, 750)]);
    let log = wr.path("probe.log");
    let app = format!("{SCALE_PROBE},cmd:{} --aware --size 200x100", log.display());
    let mut desk = RailDesk::start_in(&wr, x, FreeRdpVersion::V3, (0, 0), &["/multimon", "/scale-desktop:150"], &app);
    let want = [
        out("WR-1", (0, 0, 1200, 750), (0, 0, 800, 500), 1.5).primary(),
        out("WR-2", (1200, 0, 1200, 750), (800, 0, 800, 500), 1.5),
    ];
    let same = wait_until(STEP, || same_outputs(&outputs_of(&wr), &want));
    assert!(same, "outputs {:#?}, expected {want:#?}\n{}", outputs_of(&wr), desk.rdp.client.log_tail(20));
    let window = wr.wait_for_window(MAP_TIMEOUT, "of the probe", |w| w["title"] == "scale-probe");
    let id = id_of(&window);
    // Logical (900, 100) on WR-2 is host (1200 + 100 * 1.5, 100 * 1.5): 300x150 there.
    wr.window_op(id, &["move", "900", "100"]);
    let rail = desk.wait_window(RAIL_TIMEOUT, "at host (1350, 150) 300x150", |r| {
        u64::from(r.rail_id) == id && (r.x, r.y, r.width, r.height) == (1350, 150, 300, 150)
    });
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    let entered =
        wait_until(STEP, || text().lines().rev().find(|l| l.starts_with("surface ")) == Some("surface enter WR-2"));
    assert!(entered, "the probe did not enter WR-2:\n{}", text());
    // Surface-local (40, 20) is host (1350 + 60, 150 + 30).
    let from = text().len();
    desk.focus(&rail);
    desk.x.xdotool(&["mousemove", "1410", "180", "click", "1"]);
    let clicked = wait_until(STEP, || {
        text().get(from..).unwrap_or("").lines().any(|l| l == "pointer button 272 pressed 40.000 20.000")
    });
    assert!(clicked, "the click did not land at 40,20:\n{}", text().get(from..).unwrap_or(""));
}
