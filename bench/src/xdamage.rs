//! The XDamage counter of the RDP figures: a python3-xlib helper that counts the frames the
//! RDP client draws into its X11 window.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::check_interrupt;
use crate::procs::{log_tail, which, Procs};
/// The XDamage counter (python3-xlib): finds the xfreerdp window on a display and counts the
/// damage the client draws into it. Answers "mark" on stdin with "count EVENTS BURSTS AREA LATE".
pub(crate) const XDAMAGE_PY: &str = r#"# wayrail-bench's XDamage counter, written and run by wayrail-bench.
# A frame the client displays is a burst of DamageNotify events (raw rectangles): the client
# puts one frame's rectangles on screen within a millisecond or two, and frames are >= GAP_MS
# apart (X server timestamps, ms). A frame more than LATE_MS after the previous one is late
# (a 60 Hz tick went by without a frame).
# Commands on stdin: "mark" (answers the counts), "key" (an 'a' pressed and released through
# XTEST into the window, answers "key NS" with CLOCK_MONOTONIC at the press), "unshape" (resets
# the window's X Shape: WSLg's visibility rects leave a FreeRDP RAIL window empty otherwise).
import select, sys, time
from Xlib import X, XK, display
from Xlib.ext import damage, shape, xtest

GAP_MS = 3
LATE_MS = 25


def find_window(disp, timeout):
    root = disp.screen().root
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for child in root.query_tree().children:
            try:
                cls = child.get_wm_class()
                viewable = child.get_attributes().map_state == X.IsViewable
                size = child.get_geometry()
            except Exception:
                continue
            # The desktop window of the client, or one of its RemoteApp windows (WM_CLASS
            # instance "RAIL"); the largest RAIL window is the app's.
            if cls and viewable and ("freerdp" in cls[1].lower() or cls[0] == "RAIL"):
                found.append((size.width * size.height, child))
        if found:
            return max(found, key=lambda f: f[0])[1]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def main():
    disp = display.Display(sys.argv[1])
    if not disp.has_extension("DAMAGE"):
        print("error: the X server has no DAMAGE extension", flush=True)
        return 1
    disp.damage_query_version()
    win = find_window(disp, float(sys.argv[2]))
    if win is None:
        print("error: no mapped xfreerdp window on %s after %s s" % (sys.argv[1], sys.argv[2]), flush=True)
        return 1
    win.damage_create(damage.DamageReportRawRectangles)
    disp.sync()
    geometry = win.get_geometry()
    print("ready 0x%x %dx%d" % (win.id, geometry.width, geometry.height), flush=True)
    notify = disp.extension_event.DamageNotify
    events = bursts = area = late = 0
    keycode = disp.keysym_to_keycode(XK.string_to_keysym("a"))
    focused = False
    last = last_burst = None
    while True:
        readable, _, _ = select.select([disp, sys.stdin], [], [], 0.5)
        while disp.pending_events():
            event = disp.next_event()
            if event.type != notify:
                continue
            events += 1
            area += event.area.width * event.area.height
            if last is None or (event.timestamp - last) % (1 << 32) >= GAP_MS:
                bursts += 1
                if last_burst is not None and (event.timestamp - last_burst) % (1 << 32) > LATE_MS:
                    late += 1
                last_burst = event.timestamp
            last = event.timestamp
        if sys.stdin in readable:
            command = sys.stdin.readline()
            if not command:
                return 0
            if command.startswith("key"):
                if not focused:
                    win.set_input_focus(X.RevertToParent, X.CurrentTime)
                    disp.sync()
                    focused = True
                at = time.monotonic_ns()
                xtest.fake_input(disp, X.KeyPress, keycode)
                xtest.fake_input(disp, X.KeyRelease, keycode)
                disp.flush()
                print("key %d" % at, flush=True)
            elif command.startswith("unshape"):
                win.shape_mask(shape.SO.Set, shape.SK.Bounding, 0, 0, X.NONE)
                disp.sync()
                print("unshaped", flush=True)
            else:
                print("count %d %d %d %d" % (events, bursts, area, late), flush=True)


sys.exit(main())
"#;

#[derive(Clone, Copy, Default)]
pub(crate) struct DamageCount {
    pub(crate) events: u64,
    pub(crate) bursts: u64,
    pub(crate) area: u64,
    /// Bursts more than 25 ms after the previous one.
    pub(crate) late: u64,
}

pub(crate) struct DamageCounter {
    pub(crate) stdin: std::process::ChildStdin,
    pub(crate) lines: std::sync::mpsc::Receiver<String>,
    pub(crate) log: PathBuf,
}

impl DamageCounter {
    pub(crate) fn start(procs: &mut Procs, display: &str, timeout: Duration) -> anyhow::Result<DamageCounter> {
        let script = procs.dir.join("xdamage.py");
        std::fs::write(&script, XDAMAGE_PY)?;
        // Debian's python3-xlib is in the system python, whatever python3 comes first in PATH.
        let python = Some(PathBuf::from("/usr/bin/python3"))
            .filter(|p| p.is_file())
            .or_else(|| which("python3"))
            .context("no python3 (the XDamage counter needs python3 with python3-xlib)")?;
        let log = procs.log_path("xdamage");
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .arg(display)
            .arg(format!("{}", timeout.as_secs()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?);
        let child = procs.spawn_as_is("xdamage", cmd)?;
        let stdin = child.stdin.take().context("the XDamage helper's stdin")?;
        let stdout = child.stdout.take().context("the XDamage helper's stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        // Ends when the helper's stdout closes (it exits or is killed with the run).
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(DamageCounter { stdin, lines, log })
    }

    pub(crate) fn line(&self, timeout: Duration) -> anyhow::Result<String> {
        use std::sync::mpsc::RecvTimeoutError;
        let deadline = Instant::now() + timeout;
        loop {
            check_interrupt()?;
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => return Ok(line),
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(RecvTimeoutError::Timeout) => {
                    bail!("the XDamage helper said nothing for {} s", timeout.as_secs())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bail!("the XDamage helper exited: {}", log_tail(&self.log))
                }
            }
        }
    }

    /// Waits for the helper to find the client's window; returns its id and size.
    pub(crate) fn ready(&self, timeout: Duration) -> anyhow::Result<String> {
        let line = self.line(timeout)?;
        match line.strip_prefix("ready ") {
            Some(window) => Ok(window.to_string()),
            None => bail!("XDamage helper: {line}"),
        }
    }

    /// Sends a command, returns the helper's answer.
    fn ask(&mut self, command: &str) -> anyhow::Result<String> {
        use std::io::Write;
        writeln!(self.stdin, "{command}").context("writing to the XDamage helper")?;
        self.stdin.flush()?;
        self.line(Duration::from_secs(5))
    }

    /// Presses and releases a key in the client's window (XTEST); returns when the press went
    /// to the X server (`CLOCK_MONOTONIC` ns).
    pub(crate) fn key(&mut self) -> anyhow::Result<u64> {
        let line = self.ask("key")?;
        line.strip_prefix("key ").and_then(|v| v.trim().parse().ok()).with_context(|| format!("XDamage helper: {line}"))
    }

    /// Resets the window's X Shape (see the helper).
    pub(crate) fn unshape(&mut self) -> anyhow::Result<()> {
        let line = self.ask("unshape")?;
        if line != "unshaped" {
            bail!("XDamage helper: {line}");
        }
        Ok(())
    }

    pub(crate) fn mark(&mut self) -> anyhow::Result<DamageCount> {
        let line = self.ask("mark")?;
        let numbers: Vec<u64> = line
            .strip_prefix("count ")
            .with_context(|| format!("XDamage helper: {line}"))?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("XDamage helper: {line}"))?;
        match numbers[..] {
            [events, bursts, area, late] => Ok(DamageCount { events, bursts, area, late }),
            _ => bail!("XDamage helper: {line}"),
        }
    }
}
