//! RemoteApp (RAIL) with a real FreeRDP client: [`RailDesk`] is the host side, an Xvfb with a
//! stand-in window manager ([`crate::x11::X11::become_fake_wm`]) and `xfreerdp3 /app:program:CMD`
//! or `xfreerdp /app:CMD` (2.x) connected to a [`Compositor::start_rdp`] compositor. Every
//! compositor window becomes a top-level X window of class `RAIL`; [`RailDesk::windows`] lists
//! them and [`assert_rail_window_shows`] compares what one shows with the compositor's own
//! picture of that window.
//!
//! The host desktop and the compositor's output share their origin and scale here, so X
//! coordinates are compositor coordinates.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::rdp::{FreeRdp, FreeRdpVersion, Xvfb};
use crate::x11::{RailWindow, X11};
use crate::{wait_for, Compositor, Image, Rect, Value};

/// How long a RAIL window may take to appear once its compositor window exists.
pub const RAIL_TIMEOUT: Duration = Duration::from_secs(20);

/// The host side of a RemoteApp session. Dropping it ends xfreerdp, the window manager and the
/// X server, in that order.
pub struct RailDesk {
    pub rdp: FreeRdp,
    pub wm: X11,
    pub x: Xvfb,
}

impl RailDesk {
    /// Starts Xvfb, the stand-in window manager, then the FreeRDP client asking to run `app`
    /// (a command line) as a RemoteApp, with a `size` desktop. Does not wait for windows.
    pub fn start(wr: &Compositor, version: FreeRdpVersion, size: (u32, u32), app: &str) -> RailDesk {
        RailDesk::start_in(wr, Xvfb::start(wr.runtime_dir()), version, size, &[], app)
    }

    /// As [`RailDesk::start`], in a given X server (e.g. [`Xvfb::start_dummy_heads`]) and with
    /// `extra` client options (`/multimon`, `/scale-desktop:N`).
    pub fn start_in(
        wr: &Compositor,
        x: Xvfb,
        version: FreeRdpVersion,
        size: (u32, u32),
        extra_options: &[&str],
        app: &str,
    ) -> RailDesk {
        let wm = X11::connect(&x.name()).unwrap_or_else(|e| panic!("{e:#}"));
        wm.become_fake_wm().unwrap_or_else(|e| panic!("{e:#}"));
        let app_arg = match version {
            FreeRdpVersion::V3 => format!("/app:program:{app}"),
            FreeRdpVersion::V2 => format!("/app:{app}"),
        };
        // RAIL needs the graphics pipeline; 2.x does not ask for it on its own.
        let mut extra = vec![app_arg.as_str()];
        extra.extend_from_slice(extra_options);
        if version == FreeRdpVersion::V2 {
            extra.push("/gfx");
        }
        // FreeRDP sometimes fails in its own pre-connect stage (before any network traffic, so
        // no app was launched yet) on a busy machine: such a start is retried.
        let mut attempt = 1;
        loop {
            let mut rdp = FreeRdp::start(wr, &x, version, size, &extra);
            let early_exit = wait_for(Duration::from_secs(2), || rdp.client.try_status().map(|_| ()));
            let log = rdp.client.log_tail(30);
            if early_exit.is_some() && log.contains("ERRCONNECT_PRE_CONNECT_FAILED") && attempt < 3 {
                eprintln!("{} failed before connecting (attempt {attempt}), retrying:\n{log}", version.program());
                attempt += 1;
                continue;
            }
            return RailDesk { rdp, wm, x };
        }
    }

    /// The viewable RAIL windows now.
    pub fn windows(&self) -> Vec<RailWindow> {
        self.wm.rail_windows().unwrap_or_default().into_iter().filter(|w| w.viewable).collect()
    }

    /// The viewable RAIL window for compositor window `id`, if there is one.
    pub fn window(&self, id: u64) -> Option<RailWindow> {
        self.windows().into_iter().find(|w| u64::from(w.rail_id) == id)
    }

    /// Waits for a viewable RAIL window matching `pred`; fails the test with what there is (and
    /// the client's log) if none comes or the client exits.
    pub fn wait_window(&mut self, timeout: Duration, what: &str, pred: impl Fn(&RailWindow) -> bool) -> RailWindow {
        let mut exited = None;
        let found = wait_for(timeout, || {
            if let Some(status) = self.rdp.client.try_status() {
                exited = Some(status);
                return Some(None);
            }
            self.windows().into_iter().find(|w| pred(w)).map(Some)
        });
        match (found, exited) {
            (Some(Some(w)), _) => w,
            (_, Some(status)) => panic!(
                "{} exited ({status}) while waiting for the RAIL window {what}:\n{}",
                self.rdp.client.name,
                self.rdp.client.log_tail(30)
            ),
            _ => panic!(
                "no RAIL window {what} after {timeout:?}; RAIL windows: {:?}\n{} log:\n{}",
                self.wm.rail_windows().unwrap_or_default(),
                self.rdp.client.name,
                self.rdp.client.log_tail(20)
            ),
        }
    }

    /// Waits until no viewable RAIL window matches `pred`.
    pub fn wait_no_window(&self, timeout: Duration, what: &str, pred: impl Fn(&RailWindow) -> bool) {
        let gone = crate::wait_until(timeout, || !self.windows().iter().any(&pred));
        assert!(gone, "the RAIL window {what} is still there after {timeout:?}: {:?}", self.windows());
    }

    /// What a RAIL window shows (`import -window`).
    pub fn capture(&self, w: &RailWindow, path: &Path) -> anyhow::Result<Image> {
        self.x.capture(w.xid.into(), path)
    }

    /// Gives a RAIL window the X input focus (there is no window manager to do it), which
    /// FreeRDP turns into a RAIL Activate.
    pub fn focus(&self, w: &RailWindow) {
        self.x.xdotool(&["windowfocus", "--sync", &w.xid.to_string()]);
    }
}

/// The compositor window with this id, or a failure with the list.
pub fn compositor_window(wr: &Compositor, id: u64) -> Value {
    wr.window(id).unwrap_or_else(|| panic!("no compositor window {id}: {}", Value::Array(wr.windows())))
}

/// How a RAIL window's pixels compare with the compositor's picture of the window.
#[derive(Debug)]
pub struct Comparison {
    /// Opaque pixels of the window proper compared.
    pub compared: usize,
    /// Of those, how many differ.
    pub differing: usize,
    /// Up to 8 of them, described.
    pub samples: Vec<String>,
}

/// Compares what RAIL window `rail` shows with `wayrail msg screenshot --window` of compositor
/// window `window` (a `msg windows` entry), fairly:
///
/// - the per-window picture is the whole surface tree, client-side shadows included; the RAIL
///   window has exactly that size and sits where that picture's corner is, and is shaped to the
///   window proper (`msg windows` x/y/width/height). So the window proper's rectangle is at the
///   same offset in both, and only it is compared;
/// - pixels that are not opaque in the compositor's picture (rounded corners) are skipped: the
///   host gets colour without alpha;
/// - the codec is lossless: every compared pixel must be equal.
///
/// Panics when the geometry disagrees (size, or the window proper outside the RAIL window).
pub fn compare_rail_window(
    wr: &Compositor,
    desk: &RailDesk,
    rail: &RailWindow,
    window: &Value,
    tag: &str,
) -> anyhow::Result<Comparison> {
    let id = window["id"].as_u64().expect("a window id");
    let (own, _origin) = wr.screenshot_window(id, &wr.path(&format!("{tag}-compositor.png")));
    let host = desk.capture(rail, &wr.path(&format!("{tag}-host.png")))?;
    let proper = Rect::of(window);
    assert_eq!(
        (host.width, host.height),
        (own.width, own.height),
        "{tag}: the RAIL window {rail:?} is not the size of the window's picture {}x{} ({window})",
        own.width,
        own.height
    );
    let (dx, dy) = (proper.x - rail.x, proper.y - rail.y);
    let inside = Rect { x: 0, y: 0, width: own.width as i32, height: own.height as i32 };
    assert!(
        inside.contains_rect(&Rect { x: dx, y: dy, width: proper.width, height: proper.height }),
        "{tag}: the window proper {proper:?} is not inside the RAIL window {rail:?}"
    );
    let mut comparison = Comparison { compared: 0, differing: 0, samples: Vec::new() };
    for y in dy..dy + proper.height {
        for x in dx..dx + proper.width {
            let [r, g, b, a] = own.pixel(x as u32, y as u32);
            if a != 255 {
                continue;
            }
            comparison.compared += 1;
            let shown = host.rgb(x as u32, y as u32);
            if shown != [r, g, b] {
                comparison.differing += 1;
                if comparison.samples.len() < 8 {
                    comparison.samples.push(format!("({x},{y}): host {shown:?}, compositor {:?}", [r, g, b]));
                }
            }
        }
    }
    Ok(comparison)
}

/// Polls until RAIL window `rail` shows exactly the compositor's picture of `window` (most of
/// the window proper opaque, every opaque pixel equal); the app must hold still for that.
/// Returns how long it took.
pub fn assert_rail_window_shows(
    wr: &Compositor,
    desk: &RailDesk,
    rail: &RailWindow,
    window: &Value,
    timeout: Duration,
    tag: &str,
) -> Duration {
    let started = Instant::now();
    loop {
        // Geometry may still settle (a first configure): look the windows up again.
        let id = window["id"].as_u64().expect("a window id");
        let window = compositor_window(wr, id);
        let rail = desk.window(id).unwrap_or_else(|| rail.clone());
        let area = (Rect::of(&window).width * Rect::of(&window).height) as usize;
        let last = match compare_rail_window(wr, desk, &rail, &window, tag) {
            Ok(c) if c.differing == 0 && c.compared * 10 >= area * 9 => return started.elapsed(),
            Ok(c) => {
                format!("{} of {} opaque pixels differ (of {area}), e.g. {:?}", c.differing, c.compared, c.samples)
            }
            Err(e) => format!("{e:#}"),
        };
        assert!(
            started.elapsed() < timeout,
            "{tag}: RAIL window {rail:?} does not show window {id}'s pixels after {timeout:?}: {last}\n\
             (images: {} and {}; WAYRAIL_E2E_KEEP=1 keeps them)\nclient log:\n{}",
            wr.path(&format!("{tag}-host.png")).display(),
            wr.path(&format!("{tag}-compositor.png")).display(),
            desk.rdp.client.log_tail(15)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Programs the tests' RemoteApp hosts ask wayrail to start that have no desktop entry of
/// their own (the probes of this crate are found by their `wr-` names).
const EXEC_WITHOUT_ENTRIES: &[&str] = &["true", "xeyes", "xclock", "weston-terminal", "weston-simple-shm"];

/// Writes desktop entries for the programs the tests' hosts start into `data_home`'s
/// `applications` and returns `data_home`, the compositor's `XDG_DATA_HOME`: wayrail's default
/// Exec policy (programs with a desktop entry) then lets them in, and every such test goes
/// through it. foot and xterm bring entries of their own.
pub fn exec_data_home(data_home: &Path) -> std::path::PathBuf {
    let apps = data_home.join("applications");
    std::fs::create_dir_all(&apps).unwrap_or_else(|e| panic!("creating {}: {e}", apps.display()));
    let mut programs: Vec<String> = EXEC_WITHOUT_ENTRIES.iter().map(|p| p.to_string()).collect();
    // Next to wayrail, and next to this test's own binaries (Cargo's CARGO_BIN_EXE_*).
    let test_bins = std::env::current_exe().ok().and_then(|e| e.parent()?.parent().map(Path::to_path_buf));
    let mut dirs: Vec<std::path::PathBuf> = crate::wayrail_bin().parent().map(Path::to_path_buf).into_iter().collect();
    dirs.extend(test_bins);
    dirs.dedup();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let probe =
                path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("wr-") && !n.contains('.'));
            if probe && path.is_file() {
                programs.push(path.to_string_lossy().into_owned());
            }
        }
    }
    for (i, program) in programs.iter().enumerate() {
        // TryExec is a plain string; Exec only when the path needs no quoting.
        let plain = program.chars().all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c));
        let exec = if plain { format!("Exec={program}\n") } else { String::new() };
        let text = format!(
            "[Desktop Entry]\nType=Application\nName=wayrail e2e {i}\n{exec}TryExec={}\nNoDisplay=true\n",
            program.replace('\\', "\\\\")
        );
        let file = apps.join(format!("wayrail-e2e-{i}.desktop"));
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
    }
    data_home.to_path_buf()
}
