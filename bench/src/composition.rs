//! The first section, composition in process: one 1920x1080 window of an in-process Wayland
//! client, composed on its own and as part of the output, with full damage, a 64x64 damage
//! and no change.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use smithay::reexports::calloop::EventLoop;
use smithay::reexports::wayland_server::Display;
use wayrail_compositor::config::{Config, XwaylandMode};
use wayrail_compositor::state::State;
use wayrail_compositor::window::{DamageRect, WindowId};
use wayrail_testclient::wayland_client::{Connection, EventQueue};

use crate::check_interrupt;
use crate::client::{BenchClient, Window};

pub(crate) const WIDTH: i32 = 1920;
pub(crate) const HEIGHT: i32 = 1080;
/// Where the small damage goes.
const SMALL: (i32, i32, i32, i32) = (800, 500, 64, 64);

/// The compositor core and a client of it, both driven from this thread.
struct InProcess {
    // Fields drop in this order: the client's objects first, then the compositor.
    window: Option<Window>,
    queue: EventQueue<BenchClient>,
    conn: Connection,
    client: BenchClient,
    state: State,
    display: Display<State>,
    _event_loop: EventLoop<'static, State>,
    /// Frames drawn so far; picks the color of the next one.
    drawn: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Full,
    Small,
    None,
}

impl Change {
    fn label(self) -> &'static str {
        match self {
            Change::Full => "full damage",
            Change::Small => "64x64 damage",
            Change::None => "no change",
        }
    }

    /// A pixel (window-relative) that this kind of frame changes, or that stays put.
    fn probe(self) -> (i32, i32) {
        match self {
            Change::Full => (10, 10),
            Change::Small | Change::None => (SMALL.0 + 10, SMALL.1 + 10),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Window,
    Output,
}

/// Alternating opaque colors, so every frame really changes the pixels it damages.
fn color(frame: u64) -> u32 {
    if frame & 1 == 0 {
        0xffc0_3020
    } else {
        0xff20_a040
    }
}

impl InProcess {
    fn new() -> anyhow::Result<Self> {
        let event_loop: EventLoop<'static, State> = EventLoop::try_new()?;
        let display: Display<State> = Display::new()?;
        let config = Config {
            outputs: vec![format!("{WIDTH}x{HEIGHT}").parse()?],
            xwayland: XwaylandMode::Off,
            ..Default::default()
        };
        let mut state = State::new(display.handle(), event_loop.handle(), config)?;
        let (client_end, server_end) = UnixStream::pair()?;
        state.insert_client(server_end, None);
        let conn = Connection::from_socket(client_end)?;
        let queue = wayrail_testclient::io::with_registry(&conn);
        let mut this = Self {
            window: None,
            queue,
            conn,
            client: BenchClient::default(),
            state,
            display,
            _event_loop: event_loop,
            drawn: 0,
        };
        this.roundtrip()?;
        let qh = this.queue.handle();
        let window = Window::new(&mut this.client, &qh, "wayrail-bench", WIDTH, HEIGHT)?;
        this.window = Some(window);
        this.roundtrip()?;
        if this.client.configures == 0 {
            bail!("the toplevel got no configure");
        }
        let window = this.window.as_ref().unwrap();
        window.buffer.fill(color(0));
        window.attach_and_commit((0, 0, WIDTH, HEIGHT));
        this.roundtrip()?;
        Ok(this)
    }

    /// The server handles what the client sent; returns how long that took.
    fn serve(&mut self) -> anyhow::Result<Duration> {
        self.queue.flush()?;
        let t = Instant::now();
        self.display.dispatch_clients(&mut self.state)?;
        wayrail_compositor::server::after_dispatch(&mut self.state);
        Ok(t.elapsed())
    }

    /// The client reads and handles what the server sent.
    fn receive(&mut self) -> anyhow::Result<()> {
        wayrail_testclient::read_and_dispatch(&self.conn, &mut self.queue, &mut self.client).context("client read")
    }

    fn roundtrip(&mut self) -> anyhow::Result<()> {
        let token = self.client.base.sync(&self.conn, &self.queue.handle());
        for _ in 0..100 {
            self.serve()?;
            self.receive()?;
            if self.client.base.sync_done(token) {
                return Ok(());
            }
        }
        bail!("no answer to wl_display.sync");
    }

    fn window_id(&self) -> anyhow::Result<WindowId> {
        let ids: Vec<WindowId> = self.state.windows.iter().map(|w| w.id).collect();
        match ids.as_slice() {
            [id] => Ok(*id),
            _ => bail!("expected one mapped window, the compositor has {}", ids.len()),
        }
    }

    /// The client draws and commits one frame and the server takes it in. Returns the
    /// server's time for the commit, None when nothing was committed.
    fn client_frame(&mut self, change: Change) -> anyhow::Result<Option<Duration>> {
        let window = self.window.as_ref().context("no window")?;
        let c = color(self.drawn + 1);
        let rect = match change {
            Change::Full => (0, 0, WIDTH, HEIGHT),
            Change::Small => SMALL,
            Change::None => return Ok(None),
        };
        self.drawn += 1;
        window.buffer.fill_rect(rect.0, rect.1, rect.2, rect.3, c);
        window.attach_and_commit(rect);
        let took = self.serve()?;
        self.receive()?;
        Ok(Some(took))
    }

    /// The color the client last drew at a window-relative pixel.
    fn expected(&self, (x, y): (i32, i32)) -> u32 {
        self.window.as_ref().unwrap().buffer.pixel(x, y)
    }
}

struct Stats {
    frames: usize,
    mean: f64,
    p50: f64,
    p99: f64,
    commit_p50: Option<f64>,
    rects_per_frame: f64,
    area_per_frame: f64,
    check: String,
}

/// Nearest-rank percentile of sorted microsecond values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn area(rects: &[DamageRect]) -> i64 {
    rects.iter().map(|r| r.width as i64 * r.height as i64).sum()
}

fn measure(
    bench: &mut InProcess,
    change: Change,
    target: Target,
    warmup: usize,
    frames: usize,
) -> anyhow::Result<Stats> {
    let id = bench.window_id()?;
    let output = bench.state.outputs.first().context("no output")?.name.clone();
    let (wx, wy) = bench.state.windows.get(id).map(|w| (w.x, w.y)).context("window vanished")?;
    let probe = change.probe();
    let mut times = Vec::with_capacity(frames);
    let mut commits = Vec::with_capacity(frames);
    let (mut rects, mut damaged, mut max_area, mut wrong) = (0usize, 0i64, 0i64, 0usize);
    for i in 0..warmup + frames {
        check_interrupt()?;
        let commit = bench.client_frame(change)?;
        let expected = bench.expected(probe);
        let t = Instant::now();
        // The compositor's own composer: commits tell it what changed.
        let State { core, composer, .. } = &mut bench.state;
        let (took, damage, pixel) = match target {
            Target::Window => {
                let (frame, origin) = composer.render_window(core, id, 1.0)?.context("render_window: no content")?;
                let took = t.elapsed();
                let pixel = frame.pixel((origin.x + probe.0) as usize, (origin.y + probe.1) as usize);
                (took, frame.damage, pixel)
            }
            Target::Output => {
                let frame = composer.render_output(core, &output)?;
                let took = t.elapsed();
                let pixel = frame.pixel((wx + probe.0) as usize, (wy + probe.1) as usize);
                (took, frame.damage, pixel)
            }
        };
        if i < warmup {
            continue;
        }
        times.push(took.as_secs_f64() * 1e6);
        if let Some(c) = commit {
            commits.push(c.as_secs_f64() * 1e6);
        }
        rects += damage.len();
        let a = area(&damage);
        damaged += a;
        max_area = max_area.max(a);
        if pixel != expected {
            wrong += 1;
        }
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    times.sort_by(f64::total_cmp);
    commits.sort_by(f64::total_cmp);
    let n = frames.max(1) as f64;
    let full = WIDTH as i64 * HEIGHT as i64;
    let small = SMALL.2 as i64 * SMALL.3 as i64;
    let check = match change {
        _ if wrong > 0 => format!("WRONG PIXELS in {wrong} frames"),
        Change::Full if damaged == full * frames as i64 => "ok: whole window".into(),
        Change::Full => format!("UNEXPECTED: damage {damaged} px over {frames} frames, not the whole window"),
        Change::Small if max_area == small && rects == frames => "ok: one 64x64 rect".into(),
        Change::Small if max_area <= 4 * small => format!("ok-ish: at most {max_area} px"),
        Change::Small => format!("UNEXPECTED: up to {max_area} px for a 64x64 change"),
        Change::None if rects == 0 => "ok: no damage".into(),
        Change::None => format!("UNEXPECTED: {rects} rects without a change"),
    };
    Ok(Stats {
        frames,
        mean,
        p50: percentile(&times, 50.0),
        p99: percentile(&times, 99.0),
        commit_p50: (!commits.is_empty()).then(|| percentile(&commits, 50.0)),
        rects_per_frame: rects as f64 / n,
        area_per_frame: damaged as f64 / n,
        check,
    })
}

pub(crate) fn composition_section() -> anyhow::Result<()> {
    println!();
    println!("== Composition of one {WIDTH}x{HEIGHT} window (in process, pixman, scale 1) ==");
    println!("The client draws an ARGB8888 wl_shm buffer (no opaque region, so it is blended), attaches");
    println!("it with damage_buffer and commits; the server takes the commit in; then one render is timed.");
    println!("\"commit p50\" is the server's handling of the client's commit (dispatch + after_dispatch).");
    println!("The rendered pixel under the change is compared with what the client drew, every frame.");
    let mut bench = InProcess::new().context("setting up the in-process compositor and client")?;
    println!();
    println!(
        "{:<7} {:<13} {:>6} {:>10} {:>10} {:>10} {:>10} {:>7} {:>10}  check",
        "target", "change", "frames", "mean µs", "p50 µs", "p99 µs", "commit p50", "rects", "px/frame"
    );
    let cases = [(Change::Full, 20, 150), (Change::Small, 50, 1000), (Change::None, 50, 1000)];
    for target in [Target::Window, Target::Output] {
        for (change, warmup, frames) in cases {
            let name = match target {
                Target::Window => "window",
                Target::Output => "output",
            };
            let s = measure(&mut bench, change, target, warmup, frames)
                .with_context(|| format!("measuring {name} / {}", change.label()))?;
            println!(
                "{:<7} {:<13} {:>6} {:>10.1} {:>10.1} {:>10.1} {:>10} {:>7.2} {:>10.0}  {}",
                name,
                change.label(),
                s.frames,
                s.mean,
                s.p50,
                s.p99,
                s.commit_p50.map_or("-".into(), |c| format!("{c:.1}")),
                s.rects_per_frame,
                s.area_per_frame,
                s.check,
            );
        }
    }
    println!("(rects and px/frame: the damage the render reported, per frame on average)");
    Ok(())
}
