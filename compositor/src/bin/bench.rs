//! `wayrail-bench`: measures what wayrail costs and prints a table (run it with
//! `scripts/bench.sh`). It is a measuring tool, not a test: nothing here passes or fails.
//!
//! 1. Composition, in process: one 1920x1080 window of an in-process Wayland client, composed
//!    on its own (`Composer::render_window`) and as part of the output (`render_output`), with
//!    full damage, a 64x64 damage, and no change between frames.
//! 2. Wakeups, out of process: the release `wayrail` binary with idle windows (and one
//!    animating client for contrast), its context switches and CPU time read from /proc.
//! 3. RDP, side by side with Weston 14's RDP backend (`wayrail-bench rdp` alone): each server
//!    with its own Xvfb, the same xfreerdp3 command and the same app (weston-simple-shm);
//!    server CPU per frame, frames/s seen by the client (XDamage on the xfreerdp3 window,
//!    through a python3-xlib helper), bytes per frame on the client's TCP connection (`ss`),
//!    the codec the client decodes (its own log), and the idle cost with one foot window.
//!
//! `wayrail-bench idle-client` is one of those idle windows: it maps a window and then only
//! answers the compositor.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use wayland_client::protocol::{
    wl_buffer::WlBuffer, wl_callback::WlCallback, wl_compositor::WlCompositor, wl_registry::WlRegistry, wl_shm::WlShm,
    wl_shm_pool::WlShmPool, wl_surface::WlSurface,
};
use wayland_client::{delegate_noop, Connection, Dispatch, EventQueue, QueueHandle};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::XdgSurface, xdg_toplevel::XdgToplevel, xdg_wm_base::XdgWmBase,
};

use smithay::reexports::calloop::EventLoop;
use smithay::reexports::wayland_server::Display;
use wayrail_compositor::config::{Config, XwaylandMode};
use wayrail_compositor::ipc::{self, Request};
use wayrail_compositor::render::Composer;
use wayrail_compositor::state::State;
use wayrail_compositor::window::{DamageRect, WindowId};

#[derive(Parser)]
#[command(
    name = "wayrail-bench",
    about = "Measures wayrail's composition cost, idle wakeups and RDP cost next to Weston's"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Seconds to count wakeups of the compositor with idle windows.
    #[arg(long, default_value_t = 10.0)]
    idle_secs: f64,
    /// Seconds to count wakeups of the compositor with an animating client.
    #[arg(long, default_value_t = 5.0)]
    anim_secs: f64,
    /// Seconds to let things settle before counting.
    #[arg(long, default_value_t = 2.0)]
    settle_secs: f64,
    /// Idle windows to open.
    #[arg(long, default_value_t = 10)]
    windows: usize,
    /// The wayrail binary to measure (default: `wayrail` beside this program).
    #[arg(long, global = true)]
    wayrail: Option<PathBuf>,
    /// Skip the wakeup figures.
    #[arg(long)]
    skip_wakeups: bool,
    /// Skip the in-process composition figures.
    #[arg(long)]
    skip_composition: bool,
    /// Skip the RDP comparison with Weston.
    #[arg(long)]
    skip_rdp: bool,
    #[command(flatten)]
    rdp: RdpArgs,
}

/// Settings of the RDP comparison (`wayrail-bench rdp`, and the last section of the full run).
#[derive(clap::Args, Clone)]
struct RdpArgs {
    /// Seconds to measure each RDP server with the animating client.
    #[arg(long, global = true, default_value_t = 20.0)]
    rdp_secs: f64,
    /// Seconds the animating client runs before the RDP measurement starts.
    #[arg(long, global = true, default_value_t = 3.0)]
    rdp_warmup_secs: f64,
    /// Seconds to measure each RDP server with only an idle foot window.
    #[arg(long, global = true, default_value_t = 5.0)]
    rdp_idle_secs: f64,
    /// The RDP servers to measure, in order.
    #[arg(long, global = true, value_delimiter = ',', default_values = ["wayrail", "weston"])]
    rdp_servers: Vec<RdpServer>,
}

#[derive(Subcommand)]
enum Cmd {
    /// (Used by the benchmark.) Map one window, draw it once, then sit idle until closed.
    IdleClient {
        #[arg(long, default_value = "wayrail-bench idle")]
        title: String,
        #[arg(long, default_value_t = 640)]
        width: i32,
        #[arg(long, default_value_t = 400)]
        height: i32,
    },
    /// Only the RDP comparison: wayrail and Weston 14's RDP backend, the same client (xfreerdp3
    /// in Xvfb) and the same app (weston-simple-shm), one after the other.
    Rdp,
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Cmd::IdleClient { title, width, height }) => idle_client(title, *width, *height),
        Some(Cmd::Rdp) => bench_rdp_only(&cli),
        None => bench(&cli),
    };
    if let Err(err) = result {
        eprintln!("wayrail-bench: {err:#}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------------------------------
// Interrupts: Ctrl-C ends the run through the normal error path, so every process we started
// is killed and the temporary directory removed.

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_interrupts() {
    let handler = on_sigint as extern "C" fn(libc::c_int);
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

fn check_interrupt() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps in small steps so an interrupt is noticed.
fn sleep(d: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + d;
    loop {
        check_interrupt()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

// ------------------------------------------------------------------------------------------
// The run

fn bench(cli: &Cli) -> anyhow::Result<()> {
    catch_interrupts();
    let started = Instant::now();
    print_header();
    if !cli.skip_composition {
        composition_section()?;
    }
    if !cli.skip_wakeups {
        wakeup_section(cli)?;
    }
    if !cli.skip_rdp {
        rdp_section(cli)?;
    }
    println!();
    println!("load average at the end: {}", load_average());
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn bench_rdp_only(cli: &Cli) -> anyhow::Result<()> {
    catch_interrupts();
    let started = Instant::now();
    print_header();
    rdp_section(cli)?;
    println!();
    println!("load average at the end: {}", load_average());
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn print_header() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown (no model name in /proc/cpuinfo)".into());
    let nproc = std::thread::available_parallelism().map_or_else(|e| format!("unknown ({e})"), |n| n.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let profile =
        if cfg!(debug_assertions) { "debug (NOT representative: build with scripts/bench.sh)" } else { "release" };
    println!("wayrail-bench {}", env!("CARGO_PKG_VERSION"));
    println!("date:         {}", utc_now());
    if let Some(rev) = std::env::var("WAYRAIL_BENCH_REV").ok().filter(|r| !r.is_empty()) {
        println!("revision:     {rev}");
    }
    println!("machine:      {nproc} CPUs, {model}, Linux {}", kernel.trim());
    println!("build:        {profile}");
    println!("load average: {} (other work on the machine skews every figure)", load_average());
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The current time as `YYYY-MM-DD hh:mm:ss UTC` (civil-from-days, proleptic Gregorian).
fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

// ------------------------------------------------------------------------------------------
// A minimal Wayland client: one xdg toplevel with one wl_shm buffer. Used in process (both
// ends of a socket pair driven from this thread) and as the `idle-client` process.

#[derive(Default)]
struct Client {
    compositor: Option<WlCompositor>,
    shm: Option<WlShm>,
    wm_base: Option<XdgWmBase>,
    /// Sync callbacks answered so far.
    syncs: u64,
    /// Configures received (each acked on arrival).
    configures: u64,
    closed: bool,
}

impl Dispatch<WlRegistry, ()> for Client {
    fn event(
        state: &mut Self,
        registry: &WlRegistry,
        event: wayland_client::protocol::wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wayland_client::protocol::wl_registry::Event::Global { name, interface, version } = event {
            match interface.as_str() {
                // damage_buffer needs version 4.
                "wl_compositor" if version >= 4 => {
                    state.compositor = Some(registry.bind(name, version.min(6), qh, ()));
                }
                "wl_shm" => state.shm = Some(registry.bind(name, 1, qh, ())),
                "xdg_wm_base" => state.wm_base = Some(registry.bind(name, version.min(5), qh, ())),
                _ => {}
            }
        }
    }
}

impl Dispatch<WlCallback, ()> for Client {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        _: wayland_client::protocol::wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        state.syncs += 1;
    }
}

impl Dispatch<XdgWmBase, ()> for Client {
    fn event(
        _: &mut Self,
        wm_base: &XdgWmBase,
        event: wayland_protocols::xdg::shell::client::xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wayland_protocols::xdg::shell::client::xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<XdgSurface, ()> for Client {
    fn event(
        state: &mut Self,
        xdg_surface: &XdgSurface,
        event: wayland_protocols::xdg::shell::client::xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wayland_protocols::xdg::shell::client::xdg_surface::Event::Configure { serial } = event {
            xdg_surface.ack_configure(serial);
            state.configures += 1;
        }
    }
}

impl Dispatch<XdgToplevel, ()> for Client {
    fn event(
        state: &mut Self,
        _: &XdgToplevel,
        event: wayland_protocols::xdg::shell::client::xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wayland_protocols::xdg::shell::client::xdg_toplevel::Event::Close = event {
            state.closed = true;
        }
    }
}

impl Dispatch<WlShm, ()> for Client {
    fn event(
        _: &mut Self,
        _: &WlShm,
        _: wayland_client::protocol::wl_shm::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(Client: ignore WlCompositor);
delegate_noop!(Client: ignore WlShmPool);
delegate_noop!(Client: ignore WlBuffer);
delegate_noop!(Client: ignore WlSurface);

/// A memfd-backed ARGB8888 wl_shm buffer, mapped for drawing.
struct ShmBuffer {
    buffer: WlBuffer,
    pool: WlShmPool,
    map: *mut u32,
    width: i32,
    height: i32,
    _fd: OwnedFd,
}

impl ShmBuffer {
    fn new(shm: &WlShm, qh: &QueueHandle<Client>, width: i32, height: i32) -> anyhow::Result<Self> {
        use rustix::mm::{MapFlags, ProtFlags};
        let len = width as usize * height as usize * 4;
        let fd = rustix::fs::memfd_create("wayrail-bench", rustix::fs::MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        // SAFETY: a fresh shared mapping of a file we own, unmapped in Drop.
        let map = unsafe {
            rustix::mm::mmap(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd, 0)?
        };
        let pool = shm.create_pool(fd.as_fd(), len as i32, qh, ());
        let buffer =
            pool.create_buffer(0, width, height, width * 4, wayland_client::protocol::wl_shm::Format::Argb8888, qh, ());
        Ok(Self { buffer, pool, map: map.cast(), width, height, _fd: fd })
    }

    fn pixels(&mut self) -> &mut [u32] {
        // SAFETY: the mapping holds width*height pixels, is 4-aligned (page-aligned) and lives
        // as long as self; the compositor only reads it.
        unsafe { std::slice::from_raw_parts_mut(self.map, self.width as usize * self.height as usize) }
    }

    /// Fills a rectangle with one opaque color (0xAARRGGBB).
    fn fill(&mut self, x: i32, y: i32, w: i32, h: i32, color: u32) {
        let stride = self.width as usize;
        let pixels = self.pixels();
        for row in y as usize..(y + h) as usize {
            pixels[row * stride + x as usize..row * stride + (x + w) as usize].fill(color);
        }
    }
}

impl Drop for ShmBuffer {
    fn drop(&mut self) {
        self.buffer.destroy();
        self.pool.destroy();
        let len = self.width as usize * self.height as usize * 4;
        // SAFETY: the mapping made in new(), not used after this.
        let _ = unsafe { rustix::mm::munmap(self.map.cast(), len) };
    }
}

/// An xdg toplevel with its buffer.
struct Toplevel {
    surface: WlSurface,
    xdg_surface: XdgSurface,
    toplevel: XdgToplevel,
    buffer: ShmBuffer,
}

impl Toplevel {
    /// Creates the role objects and the buffer; the caller commits and waits for the configure.
    fn new(client: &Client, qh: &QueueHandle<Client>, title: &str, width: i32, height: i32) -> anyhow::Result<Self> {
        let compositor = client.compositor.as_ref().context("no wl_compositor (version 4 or later)")?;
        let shm = client.shm.as_ref().context("no wl_shm")?;
        let wm_base = client.wm_base.as_ref().context("no xdg_wm_base")?;
        let surface = compositor.create_surface(qh, ());
        let xdg_surface = wm_base.get_xdg_surface(&surface, qh, ());
        let toplevel = xdg_surface.get_toplevel(qh, ());
        toplevel.set_title(title.to_string());
        toplevel.set_app_id("wayrail-bench".to_string());
        let buffer = ShmBuffer::new(shm, qh, width, height)?;
        Ok(Self { surface, xdg_surface, toplevel, buffer })
    }

    fn attach_and_commit(&self, damage: (i32, i32, i32, i32)) {
        self.surface.attach(Some(&self.buffer.buffer), 0, 0);
        self.surface.damage_buffer(damage.0, damage.1, damage.2, damage.3);
        self.surface.commit();
    }
}

impl Drop for Toplevel {
    fn drop(&mut self) {
        self.toplevel.destroy();
        self.xdg_surface.destroy();
        self.surface.destroy();
    }
}

/// `wayrail-bench idle-client`: map, then block in dispatch (no timers, no redraws).
fn idle_client(title: &str, width: i32, height: i32) -> anyhow::Result<()> {
    let conn = Connection::connect_to_env().context("connecting to WAYLAND_DISPLAY")?;
    let mut queue: EventQueue<Client> = conn.new_event_queue();
    let qh = queue.handle();
    let mut client = Client::default();
    conn.display().get_registry(&qh, ());
    queue.roundtrip(&mut client)?;
    let mut window = Toplevel::new(&client, &qh, title, width, height)?;
    window.surface.commit();
    while client.configures == 0 {
        queue.blocking_dispatch(&mut client)?;
    }
    window.buffer.fill(0, 0, width, height, 0xff30_6090);
    window.attach_and_commit((0, 0, width, height));
    let mut seen = client.configures;
    while !client.closed {
        queue.blocking_dispatch(&mut client)?;
        if client.configures != seen {
            // Acked in the handler; a commit applies it (same content, no damage).
            seen = client.configures;
            window.surface.commit();
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// 1. Composition, in process

const WIDTH: i32 = 1920;
const HEIGHT: i32 = 1080;
/// Where the small damage goes.
const SMALL: (i32, i32, i32, i32) = (800, 500, 64, 64);

/// The compositor core and a client of it, both driven from this thread.
struct InProcess {
    // Fields drop in this order: the client's objects first, then the compositor.
    window: Option<Toplevel>,
    queue: EventQueue<Client>,
    conn: Connection,
    client: Client,
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
        let queue = conn.new_event_queue();
        let mut this = Self {
            window: None,
            queue,
            conn,
            client: Client::default(),
            state,
            display,
            _event_loop: event_loop,
            drawn: 0,
        };
        let qh = this.queue.handle();
        this.conn.display().get_registry(&qh, ());
        this.roundtrip()?;
        let window = Toplevel::new(&this.client, &qh, "wayrail-bench", WIDTH, HEIGHT)?;
        window.surface.commit();
        this.window = Some(window);
        this.roundtrip()?;
        if this.client.configures == 0 {
            bail!("the toplevel got no configure");
        }
        let window = this.window.as_mut().unwrap();
        window.buffer.fill(0, 0, WIDTH, HEIGHT, color(0));
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
        if let Some(guard) = self.queue.prepare_read() {
            match guard.read() {
                Ok(_) => {}
                Err(wayland_client::backend::WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => bail!("client read: {e}"),
            }
        }
        self.queue.dispatch_pending(&mut self.client)?;
        Ok(())
    }

    fn roundtrip(&mut self) -> anyhow::Result<()> {
        let want = self.client.syncs + 1;
        self.conn.display().sync(&self.queue.handle(), ());
        for _ in 0..100 {
            self.serve()?;
            self.receive()?;
            if self.client.syncs >= want {
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
        let window = self.window.as_mut().context("no window")?;
        let c = color(self.drawn + 1);
        let rect = match change {
            Change::Full => (0, 0, WIDTH, HEIGHT),
            Change::Small => SMALL,
            Change::None => return Ok(None),
        };
        self.drawn += 1;
        window.buffer.fill(rect.0, rect.1, rect.2, rect.3, c);
        window.attach_and_commit(rect);
        let took = self.serve()?;
        self.receive()?;
        Ok(Some(took))
    }

    /// The color the client last drew at a window-relative pixel.
    fn expected(&self, (x, y): (i32, i32)) -> u32 {
        let window = self.window.as_ref().unwrap();
        // SAFETY: as in ShmBuffer::pixels, read-only here.
        let pixels = unsafe {
            std::slice::from_raw_parts(window.buffer.map, window.buffer.width as usize * window.buffer.height as usize)
        };
        pixels[y as usize * WIDTH as usize + x as usize]
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
    composer: &mut Composer,
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
        let (took, damage, pixel) = match target {
            Target::Window => {
                let (frame, origin) =
                    composer.render_window(&bench.state, id, 1.0)?.context("render_window: no content")?;
                let took = t.elapsed();
                let pixel = frame.pixel((origin.x + probe.0) as usize, (origin.y + probe.1) as usize);
                (took, frame.damage, pixel)
            }
            Target::Output => {
                let frame = composer.render_output(&bench.state, &output)?;
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

fn composition_section() -> anyhow::Result<()> {
    println!();
    println!("== Composition of one {WIDTH}x{HEIGHT} window (in process, pixman, scale 1) ==");
    println!("The client draws an ARGB8888 wl_shm buffer (no opaque region, so it is blended), attaches");
    println!("it with damage_buffer and commits; the server takes the commit in; then one render is timed.");
    println!("\"commit p50\" is the server's handling of the client's commit (dispatch + after_dispatch).");
    println!("The rendered pixel under the change is compared with what the client drew, every frame.");
    let mut bench = InProcess::new().context("setting up the in-process compositor and client")?;
    let mut composer = Composer::new()?;
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
            let s = measure(&mut bench, &mut composer, change, target, warmup, frames)
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

// ------------------------------------------------------------------------------------------
// 2. Wakeups of the real compositor

/// CPU and scheduling counters of a process, all threads together.
#[derive(Clone, Copy, Default)]
struct Usage {
    /// Voluntary + involuntary context switches of the live threads.
    switches: u64,
    /// utime + stime from /proc/PID/stat, in clock ticks (exited threads included).
    ticks: u64,
    /// Time on CPU from /proc/PID/task/*/schedstat, in ns (live threads).
    run_ns: u64,
}

fn usage(pid: u32) -> anyhow::Result<Usage> {
    let mut u = Usage::default();
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid} is gone"))?;
    // Fields after the command name "(...)": state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("odd /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).context("odd /proc/PID/stat");
    u.ticks = field(14)? + field(15)?;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        // A thread may end between listing and reading.
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else { continue };
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                u.switches += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
        if let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) {
            u.run_ns += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    Ok(u)
}

fn usage_sum(pids: &[u32]) -> anyhow::Result<Usage> {
    let mut total = Usage::default();
    for pid in pids {
        let u = usage(*pid)?;
        total.switches += u.switches;
        total.ticks += u.ticks;
        total.run_ns += u.run_ns;
    }
    Ok(total)
}

/// What happened between two samples.
struct Rates {
    wakeups_per_s: f64,
    cpu_percent: f64,
    cpu_ms: f64,
}

fn rates(before: Usage, after: Usage, secs: f64) -> Rates {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Rates {
        wakeups_per_s: after.switches.saturating_sub(before.switches) as f64 / secs,
        cpu_percent: after.ticks.saturating_sub(before.ticks) as f64 / hz / secs * 100.0,
        cpu_ms: after.run_ns.saturating_sub(before.run_ns) as f64 / 1e6,
    }
}

/// Whether a process we started (and have not reaped) is still running.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next().map(|st| st != "Z" && st != "X"))
        })
        .unwrap_or(false)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}

/// A wayrail process with a private runtime dir, and the clients started in it. Dropping it
/// kills all of them (each in its own process group) and removes the directory.
struct Session {
    dir: PathBuf,
    socket: String,
    ipc_path: PathBuf,
    compositor: Option<Child>,
    clients: Vec<Child>,
}

static SESSIONS: AtomicU32 = AtomicU32::new(0);

impl Session {
    fn start(wayrail: &Path) -> anyhow::Result<Session> {
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wayrail-bench-{}-{n}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let socket = format!("wayrail-bench-{}-{n}", std::process::id());
        let ipc_path = ipc::socket_path(&dir, &socket);
        let mut session = Session { dir, socket, ipc_path, compositor: None, clients: Vec::new() };
        let log = session.log("wayrail")?;
        let child = Command::new(wayrail)
            .args(["--backend", "headless", "--socket", &session.socket, "--xwayland", "off"])
            .args(["--output", &format!("{WIDTH}x{HEIGHT}")])
            .envs(session.env())
            .env("RUST_LOG", "warn")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", wayrail.display()))?;
        session.compositor = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            check_interrupt()?;
            if ipc::send(&session.ipc_path, &Request::Version).is_ok() {
                break;
            }
            if !alive(session.compositor_pid()) {
                bail!("wayrail exited at startup: {}", session.log_tail("wayrail"));
            }
            if Instant::now() > deadline {
                bail!("wayrail did not answer on {} within 10 s", session.ipc_path.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(session)
    }

    /// The environment of the compositor; clients get WAYLAND_DISPLAY on top.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("XDG_RUNTIME_DIR", self.dir.display().to_string()),
            // No user config for the compositor or the clients.
            ("XDG_CONFIG_HOME", self.dir.join("config").display().to_string()),
        ]
    }

    fn log(&self, name: &str) -> anyhow::Result<std::fs::File> {
        Ok(std::fs::File::create(self.dir.join(format!("{name}.log")))?)
    }

    fn log_tail(&self, name: &str) -> String {
        log_tail(&self.dir.join(format!("{name}.log")))
    }

    fn compositor_pid(&self) -> u32 {
        self.compositor.as_ref().map_or(0, Child::id)
    }

    fn client_pids(&self) -> Vec<u32> {
        self.clients.iter().map(Child::id).collect()
    }

    fn spawn_client(&mut self, program: &Path, args: &[&str]) -> anyhow::Result<()> {
        let name = format!("client-{}", self.clients.len());
        let log = self.log(&name)?;
        let child = Command::new(program)
            .args(args)
            .envs(self.env())
            .env("WAYLAND_DISPLAY", &self.socket)
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        self.clients.push(child);
        Ok(())
    }

    /// Waits until the compositor reports `count` windows.
    fn wait_windows(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            check_interrupt()?;
            let windows = ipc::send(&self.ipc_path, &Request::Windows)?;
            let mapped = windows.as_array().map_or(0, Vec::len);
            if mapped >= count {
                return Ok(());
            }
            if let Some(i) = self.clients.iter().position(|c| !alive(c.id())) {
                bail!("client {i} exited: {}", self.log_tail(&format!("client-{i}")));
            }
            if Instant::now() > deadline {
                bail!("only {mapped} of {count} windows mapped within {} s", timeout.as_secs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        let children = self.clients.iter_mut().chain(self.compositor.as_mut());
        for child in children {
            kill_group(child);
        }
        self.clients.clear();
        self.compositor = None;
        if self.dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                eprintln!("wayrail-bench: could not remove {}: {e}", self.dir.display());
            }
        }
    }
}

/// The last lines of a log file, on one line.
fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "(no output)".into()
    } else {
        tail
    }
}

/// Kills a child we started in its own process group (`process_group(0)`), with everything
/// in that group, and reaps it.
fn kill_group(child: &mut Child) {
    // Not reaped yet, so the id is still ours; the group holds its descendants.
    let pid = child.id() as libc::pid_t;
    // SAFETY: plain syscalls on processes we started.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
    let _ = child.wait();
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Scenario {
    label: String,
    program: PathBuf,
    args: Vec<String>,
    count: usize,
    secs: f64,
}

struct Measured {
    windows: usize,
    secs: f64,
    compositor: Rates,
    clients: Rates,
    note: String,
}

fn run_scenario(wayrail: &Path, scenario: &Scenario, settle: f64) -> anyhow::Result<Measured> {
    let mut session = Session::start(wayrail)?;
    for _ in 0..scenario.count {
        let args: Vec<&str> = scenario.args.iter().map(String::as_str).collect();
        session.spawn_client(&scenario.program, &args)?;
    }
    session.wait_windows(scenario.count, Duration::from_secs(20))?;
    let windows = ipc::send(&session.ipc_path, &Request::Windows)?.as_array().map_or(0, Vec::len);
    // Let start-up work (configures, first frames, IPC threads) finish; no IPC from here on.
    sleep(Duration::from_secs_f64(settle))?;
    let compositor = session.compositor_pid();
    let clients = session.client_pids();
    let (c0, k0, t0) = (usage(compositor)?, usage_sum(&clients)?, Instant::now());
    sleep(Duration::from_secs_f64(scenario.secs))?;
    let (c1, k1, secs) = (usage(compositor)?, usage_sum(&clients)?, t0.elapsed().as_secs_f64());
    let dead = clients.iter().filter(|p| !alive(**p)).count();
    let note = if !alive(compositor) {
        "wayrail DIED during the measurement".to_string()
    } else if dead > 0 {
        format!("{dead} clients exited during the measurement")
    } else {
        String::new()
    };
    let measured = Measured { windows, secs, compositor: rates(c0, c1, secs), clients: rates(k0, k1, secs), note };
    session.stop();
    Ok(measured)
}

fn wakeup_section(cli: &Cli) -> anyhow::Result<()> {
    println!();
    println!("== Wakeups of the wayrail process (release binary, headless, {WIDTH}x{HEIGHT}@60) ==");
    let wayrail = match &cli.wayrail {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("wayrail"),
    };
    if !wayrail.is_file() {
        println!("not measured: {} does not exist (scripts/bench.sh builds it)", wayrail.display());
        return Ok(());
    }
    println!("binary: {}", wayrail.display());
    println!("wakeups = voluntary + involuntary context switches of all its threads (/proc/PID/task/*/status);");
    println!("CPU % = utime+stime (/proc/PID/stat) over the wall time, of one CPU; CPU ms from schedstat.");
    println!(
        "Counting starts {:.0} s after every window mapped; nothing talks to wayrail while counting.",
        cli.settle_secs
    );
    let me = std::env::current_exe()?;
    let mut scenarios = vec![(
        Some(Scenario {
            label: format!("{} idle windows (wayrail-bench idle-client)", cli.windows),
            program: me,
            args: vec!["idle-client".into()],
            count: cli.windows,
            secs: cli.idle_secs,
        }),
        String::new(),
    )];
    let foot = which("foot").map(|program| Scenario {
        label: format!("{} idle foot terminals (foot sleep 3600)", cli.windows),
        program,
        args: vec!["sleep".into(), "3600".into()],
        count: cli.windows,
        secs: cli.idle_secs,
    });
    scenarios.push((foot, format!("{} idle foot terminals: foot not in PATH", cli.windows)));
    let shm = which("weston-simple-shm").map(|program| Scenario {
        label: "1 animating weston-simple-shm".into(),
        program,
        args: vec![],
        count: 1,
        secs: cli.anim_secs,
    });
    scenarios.push((shm, "1 animating weston-simple-shm: not in PATH".into()));
    println!();
    println!(
        "{:<46} {:>7} {:>5} | {:>10} {:>7} {:>8} | {:>10} {:>7}  note",
        "scenario", "windows", "secs", "wakeups/s", "CPU %", "CPU ms", "clients/s", "CPU %"
    );
    for (scenario, missing) in scenarios {
        let Some(scenario) = scenario else {
            println!("{missing} — not measured (scripts/setup-debian.sh test installs it)");
            continue;
        };
        check_interrupt()?;
        match run_scenario(&wayrail, &scenario, cli.settle_secs) {
            Ok(m) => println!(
                "{:<46} {:>7} {:>5.1} | {:>10.1} {:>7.2} {:>8.1} | {:>10.1} {:>7.2}  {}",
                scenario.label,
                m.windows,
                m.secs,
                m.compositor.wakeups_per_s,
                m.compositor.cpu_percent,
                m.compositor.cpu_ms,
                m.clients.wakeups_per_s,
                m.clients.cpu_percent,
                m.note,
            ),
            Err(e) if INTERRUPTED.load(Ordering::SeqCst) => return Err(e),
            Err(e) => println!("{} — not measured: {e:#}", scenario.label),
        }
    }
    println!("(\"clients/s\": wakeups of the clients together. Frame rates are inferred, not counted: an");
    println!(" animating client costs wayrail ~2 wakeups per frame (frame timer, client commit) and the");
    println!(" client ~2 (frame callback, buffer release), so ~120/s on both sides means ~60 frames/s.)");
    Ok(())
}

// ------------------------------------------------------------------------------------------
// 3. RDP, side by side with Weston's RDP backend

/// The desktop both servers serve and the client asks for.
const RDP_SIZE: &str = "1280x800";
/// Time for the client's first picture and foot's first frame before the idle count.
const RDP_SETTLE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RdpServer {
    Wayrail,
    Weston,
}

impl RdpServer {
    fn label(self) -> &'static str {
        match self {
            RdpServer::Wayrail => "wayrail",
            RdpServer::Weston => "weston",
        }
    }
}

/// The client's command line, the same for both servers. The gdi log filter makes the client
/// log one line per surface command it decodes (codec, payload length): that is how the
/// codec is read, and it costs the client one short write per command.
fn rdp_client_args(port: &str) -> Vec<String> {
    vec![
        format!("/v:127.0.0.1:{port}"),
        "/cert:ignore".into(),
        "/sec:tls".into(),
        "/u:test".into(),
        "/p:test".into(),
        format!("/size:{RDP_SIZE}"),
        "/log-level:ERROR".into(),
        "/log-filters:com.freerdp.gdi:TRACE".into(),
    ]
}

/// The processes of one RDP run, each in its own process group, and their temporary
/// directory (logs, runtime dir, certificate). Dropping it kills every group and removes the
/// directory: on success, on error and on interrupt alike.
struct Procs {
    dir: PathBuf,
    children: Vec<(String, Child)>,
}

impl Procs {
    fn new(label: &str) -> anyhow::Result<Procs> {
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wayrail-bench-{}-{label}-{n}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Procs { dir, children: Vec::new() })
    }

    fn subdir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.dir.join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Starts `cmd` as `name`: stdin from /dev/null, stdout and stderr to `name.log`.
    fn spawn(&mut self, name: &str, mut cmd: Command) -> anyhow::Result<&mut Child> {
        let log = std::fs::File::create(self.log_path(name))?;
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        self.spawn_as_is(name, cmd)
    }

    /// Starts `cmd` as `name` in its own process group, its stdio as the caller set it.
    fn spawn_as_is(&mut self, name: &str, mut cmd: Command) -> anyhow::Result<&mut Child> {
        let child = cmd
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", cmd.get_program().to_string_lossy()))?;
        self.children.push((name.to_string(), child));
        Ok(&mut self.children.last_mut().expect("just pushed").1)
    }

    fn pid(&self, name: &str) -> Option<u32> {
        self.children.iter().find(|(n, _)| n == name).map(|(_, c)| c.id())
    }

    fn kill(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _)| n == name) {
            let (_, mut child) = self.children.remove(i);
            kill_group(&mut child);
        }
    }

    /// Fails, with the end of its log, when one of these processes is no longer running.
    fn check_alive(&self, names: &[&str]) -> anyhow::Result<()> {
        for name in names {
            if !self.pid(name).is_some_and(alive) {
                bail!("{name} exited: {}", log_tail(&self.log_path(name)));
            }
        }
        Ok(())
    }

    fn log_len(&self, name: &str) -> u64 {
        std::fs::metadata(self.log_path(name)).map_or(0, |m| m.len())
    }

    /// The whole lines of a log between byte offsets `from` and `to` (file lengths taken at
    /// two moments; a line cut by either offset is left out, as the writer may buffer).
    fn log_range(&self, name: &str, from: u64, to: u64) -> Vec<u8> {
        let data = std::fs::read(self.log_path(name)).unwrap_or_default();
        let to = (to as usize).min(data.len());
        let end = data[..to].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let from = (from as usize).min(end);
        let start = if from == 0 || data[from - 1] == b'\n' {
            from
        } else {
            data[from..end].iter().position(|&b| b == b'\n').map_or(end, |i| from + i + 1)
        };
        data[start..end].to_vec()
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        // Clients first, the servers (started first) last.
        while let Some((_, mut child)) = self.children.pop() {
            kill_group(&mut child);
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("wayrail-bench: could not remove {}: {e}", self.dir.display());
        }
    }
}

/// Polls `ready` until it holds, while the `watch`ed processes keep running.
fn wait_for(
    procs: &Procs,
    watch: &[&str],
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        check_interrupt()?;
        if ready() {
            return Ok(());
        }
        procs.check_alive(watch)?;
        if Instant::now() > deadline {
            bail!("{what} within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP port nobody listens on right now (the kernel's pick; released before use).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether something listens on `port` (from /proc/net/tcp and tcp6: state 0A).
fn tcp_listening(port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).unwrap_or_default().lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&want) && fields[3] == "0A"
        })
    })
}

/// Bytes sent and acknowledged so far on the established TCP connections from local `port`:
/// the server's side of the client's connection, from `ss -tin` (tcp_info).
fn tcp_bytes(port: u16) -> anyhow::Result<(u64, u64)> {
    let out = Command::new("ss")
        .args(["-tinH", "state", "established", &format!("( sport = :{port} )")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("running ss")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let connections = text.lines().filter(|l| !l.starts_with(char::is_whitespace) && !l.is_empty()).count();
    if connections == 0 {
        bail!("no client connection on port {port} (ss -tin)");
    }
    let (mut sent, mut acked) = (0, 0);
    for word in text.split_whitespace() {
        if let Some(v) = word.strip_prefix("bytes_sent:") {
            sent += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = word.strip_prefix("bytes_acked:") {
            acked += v.parse::<u64>().unwrap_or(0);
        }
    }
    Ok((sent, acked))
}

/// The XDamage counter (python3-xlib): finds the xfreerdp window on a display and counts the
/// damage the client draws into it. Answers "mark" on stdin with "count EVENTS BURSTS AREA LATE".
const XDAMAGE_PY: &str = r#"# wayrail-bench's XDamage counter, written and run by wayrail-bench.
# A frame the client displays is a burst of DamageNotify events (raw rectangles): the client
# puts one frame's rectangles on screen within a millisecond or two, and frames are >= GAP_MS
# apart (X server timestamps, ms). A frame more than LATE_MS after the previous one is late
# (a 60 Hz tick went by without a frame).
import select, sys, time
from Xlib import X, display
from Xlib.ext import damage

GAP_MS = 3
LATE_MS = 25


def find_window(disp, timeout):
    root = disp.screen().root
    deadline = time.monotonic() + timeout
    while True:
        for child in root.query_tree().children:
            try:
                cls = child.get_wm_class()
                viewable = child.get_attributes().map_state == X.IsViewable
            except Exception:
                continue
            if cls and "freerdp" in cls[1].lower() and viewable:
                return child
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
            if not sys.stdin.readline():
                return 0
            print("count %d %d %d %d" % (events, bursts, area, late), flush=True)


sys.exit(main())
"#;

#[derive(Clone, Copy, Default)]
struct DamageCount {
    events: u64,
    bursts: u64,
    area: u64,
    /// Bursts more than 25 ms after the previous one.
    late: u64,
}

struct DamageCounter {
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    log: PathBuf,
}

impl DamageCounter {
    fn start(procs: &mut Procs, display: &str, timeout: Duration) -> anyhow::Result<DamageCounter> {
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

    fn line(&self, timeout: Duration) -> anyhow::Result<String> {
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
    fn ready(&self, timeout: Duration) -> anyhow::Result<String> {
        let line = self.line(timeout)?;
        match line.strip_prefix("ready ") {
            Some(window) => Ok(window.to_string()),
            None => bail!("XDamage helper: {line}"),
        }
    }

    fn mark(&mut self) -> anyhow::Result<DamageCount> {
        use std::io::Write;
        writeln!(self.stdin, "mark").context("writing to the XDamage helper")?;
        self.stdin.flush()?;
        let line = self.line(Duration::from_secs(5))?;
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

/// Every counter at one moment.
struct Sample {
    at: Instant,
    usage: Usage,
    client_usage: Usage,
    sent: u64,
    acked: u64,
    damage: DamageCount,
    client_log: u64,
    app_log: u64,
}

fn take_sample(procs: &Procs, counter: &mut DamageCounter, server_pid: u32, port: u16) -> anyhow::Result<Sample> {
    let damage = counter.mark()?;
    let at = Instant::now();
    let server_usage = usage(server_pid)?;
    let client_usage = match procs.pid("xfreerdp3") {
        Some(pid) => usage(pid)?,
        None => Usage::default(),
    };
    let (sent, acked) = tcp_bytes(port)?;
    Ok(Sample {
        at,
        usage: server_usage,
        client_usage,
        sent,
        acked,
        damage,
        client_log: procs.log_len("xfreerdp3"),
        app_log: procs.log_len("simple-shm"),
    })
}

/// What the client's gdi log says it decoded: one line per surface command, with the codec
/// and the payload length.
#[derive(Default)]
struct Decoded {
    commands: u64,
    payload: u64,
    /// Codec name → surface commands, in order of first use.
    codecs: Vec<(String, u64)>,
}

/// The word after `key` in `line`, up to a space or a comma.
fn word_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split([' ', ',']).next()
}

fn decoded(log: &[u8]) -> Decoded {
    let mut d = Decoded::default();
    for line in String::from_utf8_lossy(log).lines() {
        let (codec, length) = if let Some((_, rest)) = line.split_once("gdi_SurfaceCommand]:") {
            // EGFX: "surfaceId=0, codec=RDPGFX_CODECID_CLEARCODEC [8], ... length=102484, ..."
            let codec = match word_after(rest, "codec=").unwrap_or("?").trim_start_matches("RDPGFX_CODECID_") {
                "UNCOMPRESSED" => "uncompressed".to_string(),
                "CAVIDEO" => "RemoteFX".to_string(),
                "CLEARCODEC" => "ClearCodec".to_string(),
                "PLANAR" => "Planar".to_string(),
                "CAPROGRESSIVE" => "RemoteFX Progressive".to_string(),
                other => other.to_string(),
            };
            (format!("EGFX {codec}"), word_after(rest, " length="))
        } else if let Some((_, rest)) = line.split_once("gdi_surface_bits]:") {
            // Surface Bits: "destLeft 0 ... bpp 32 flags 0 codecID 3 width 1280 height 800 length 164657"
            let codec = match word_after(rest, " codecID ") {
                Some("0") => "raw".to_string(),
                Some("1") => "NSCodec".to_string(),
                Some("3") => "RemoteFX".to_string(),
                Some("4") => "RemoteFX image".to_string(),
                other => format!("codec id {}", other.unwrap_or("?")),
            };
            (format!("Surface Bits {codec}"), word_after(rest, " length "))
        } else {
            continue;
        };
        d.commands += 1;
        d.payload += length.and_then(|l| l.parse::<u64>().ok()).unwrap_or(0);
        match d.codecs.iter_mut().find(|(name, _)| *name == codec) {
            Some((_, n)) => *n += 1,
            None => d.codecs.push((codec, 1)),
        }
    }
    d
}

impl Decoded {
    fn summary(&self) -> String {
        match &self.codecs[..] {
            [] => "none seen".into(),
            [(name, _)] => name.clone(),
            many => many
                .iter()
                .map(|(name, n)| format!("{name} {:.0}%", *n as f64 * 100.0 / self.commands.max(1) as f64))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The app's commits (WAYLAND_DEBUG=client lines `-> wl_surface#N.commit()`).
fn commits(log: &[u8]) -> u64 {
    String::from_utf8_lossy(log)
        .lines()
        .filter(|l| l.contains("-> wl_surface") && l.trim_end().ends_with(".commit()"))
        .count() as u64
}

/// What happened between two samples.
struct Span {
    secs: f64,
    /// From utime+stime (/proc/PID/stat), % of one CPU.
    cpu_percent: f64,
    /// From schedstat (ms precision); from utime+stime when schedstat is missing.
    cpu_ms: f64,
    /// Client CPU (xfreerdp3, all threads), % of one CPU.
    client_cpu_percent: f64,
    frames: u64,
    late: u64,
    damage_events: u64,
    damage_area: u64,
    sent: u64,
    acked: u64,
    decoded: Decoded,
    app_commits: u64,
}

impl Span {
    fn new(procs: &Procs, a: &Sample, b: &Sample) -> Span {
        let secs = (b.at - a.at).as_secs_f64();
        let r = rates(a.usage, b.usage, secs);
        Span {
            secs,
            cpu_percent: r.cpu_percent,
            cpu_ms: if r.cpu_ms > 0.0 { r.cpu_ms } else { r.cpu_percent * secs * 10.0 },
            client_cpu_percent: rates(a.client_usage, b.client_usage, secs).cpu_percent,
            frames: b.damage.bursts - a.damage.bursts,
            late: b.damage.late - a.damage.late,
            damage_events: b.damage.events - a.damage.events,
            damage_area: b.damage.area - a.damage.area,
            sent: b.sent.saturating_sub(a.sent),
            acked: b.acked.saturating_sub(a.acked),
            decoded: decoded(&procs.log_range("xfreerdp3", a.client_log, b.client_log)),
            app_commits: commits(&procs.log_range("simple-shm", a.app_log, b.app_log)),
        }
    }

    fn fps(&self) -> f64 {
        self.frames as f64 / self.secs
    }

    fn per_frame(&self, v: f64) -> Option<f64> {
        (self.frames > 0).then(|| v / self.frames as f64)
    }
}

struct RdpRun {
    /// The graphics path: EGFX with its version, or none (Surface Bits).
    graphics: String,
    window: String,
    /// From before foot started to the idle count.
    foot_start: Span,
    idle: Span,
    anim: Span,
    took: f64,
}

/// The EGFX version the server logged ("EGFX ready version=0xa0701"; wayrail only).
fn egfx_version(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("EGFX ready"))?;
    let hex = &line[line.find("0x")? + 2..];
    let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
    let v = u32::from_str_radix(&hex, 16).ok()?;
    let name = match v {
        0x8_0004 => "8.0",
        0x8_0105 => "8.1",
        0xa_0002 => "10.0",
        0xa_0100 => "10.1",
        0xa_0200 => "10.2",
        0xa_0301 => "10.3",
        0xa_0400 => "10.4",
        0xa_0502 => "10.5",
        0xa_0600 | 0xa_0601 => "10.6",
        0xa_0701 => "10.7",
        _ => "?",
    };
    Some(format!("EGFX {name} ({v:#x})"))
}

fn rdp_run(server: RdpServer, wayrail: &Path, args: &RdpArgs) -> anyhow::Result<RdpRun> {
    let started = Instant::now();
    let mut procs = Procs::new(server.label())?;
    let run_dir = procs.subdir("run")?;
    let config_dir = procs.subdir("config")?;
    let port = free_port()?;
    let socket = format!("wayrail-bench-{}", std::process::id());

    let mut cmd = match server {
        RdpServer::Wayrail => {
            let mut cmd = Command::new(wayrail);
            cmd.args(["--backend", "rdp", "--socket", &socket, "--listen", &format!("tcp:127.0.0.1:{port}")])
                .args(["--output", RDP_SIZE])
                .env("XDG_STATE_HOME", procs.subdir("state")?)
                // For the "EGFX ready" line.
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1");
            cmd
        }
        RdpServer::Weston => {
            let (cert, key) = (procs.dir.join("tls.crt"), procs.dir.join("tls.key"));
            let status = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .args(["-days", "365", "-subj", "/CN=localhost"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(procs.log_path("openssl"))?)
                .status()
                .context("running openssl")?;
            if !status.success() {
                bail!("openssl could not make a certificate: {}", log_tail(&procs.log_path("openssl")));
            }
            let (w, h) = RDP_SIZE.split_once('x').expect("WxH");
            let mut cmd = Command::new("weston");
            cmd.arg("--backend=rdp-backend.so")
                .arg(format!("--rdp-tls-cert={}", cert.display()))
                .arg(format!("--rdp-tls-key={}", key.display()))
                .arg(format!("--port={port}"))
                .arg("--address=127.0.0.1")
                .arg(format!("--socket={socket}"))
                .args(["--no-config", &format!("--width={w}"), &format!("--height={h}")]);
            cmd
        }
    };
    cmd.env("XDG_RUNTIME_DIR", &run_dir)
        .env("XDG_CONFIG_HOME", &config_dir)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .env_remove("DISPLAY");
    procs.spawn("server", cmd)?;
    let server_pid = procs.pid("server").expect("just started");
    let what = format!("the server was not listening on 127.0.0.1:{port} and {socket}");
    wait_for(&procs, &["server"], &what, Duration::from_secs(20), || {
        tcp_listening(port) && run_dir.join(&socket).exists()
    })?;

    // Xvfb picks a free display and writes its number to fd 1.
    let display_file = procs.dir.join("xvfb.display");
    let mut cmd = Command::new("Xvfb");
    cmd.args(["-displayfd", "1", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&display_file)?)
        .stderr(std::fs::File::create(procs.log_path("xvfb"))?);
    procs.spawn_as_is("xvfb", cmd)?;
    let mut number = String::new();
    wait_for(&procs, &["xvfb"], "Xvfb gave no display number", Duration::from_secs(15), || {
        number = std::fs::read_to_string(&display_file).unwrap_or_default();
        number.ends_with('\n')
    })?;
    let display = format!(":{}", number.trim());

    let mut cmd = Command::new("xfreerdp3");
    cmd.args(rdp_client_args(&port.to_string()))
        .env("DISPLAY", &display)
        .env("XDG_CONFIG_HOME", &config_dir)
        .env_remove("WAYLAND_DISPLAY");
    procs.spawn("xfreerdp3", cmd)?;
    let mut counter = DamageCounter::start(&mut procs, &display, Duration::from_secs(20))?;
    let window = counter.ready(Duration::from_secs(25)).map_err(|e| {
        let why = procs.check_alive(&["server", "xfreerdp3"]).err().map_or(String::new(), |e| format!(" ({e:#})"));
        e.context(format!("the client's window did not show{why}"))
    })?;

    let wayland_client = |program: &str| {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", &run_dir)
            .env("XDG_CONFIG_HOME", &config_dir)
            .env("WAYLAND_DISPLAY", &socket)
            .env_remove("WAYLAND_SOCKET")
            .env_remove("DISPLAY");
        cmd
    };

    // Idle: one foot window that does nothing (its start is counted too, to show it drew).
    let mut watch = vec!["server", "xfreerdp3"];
    let before_foot = take_sample(&procs, &mut counter, server_pid, port)?;
    if which("foot").is_some() {
        let mut cmd = wayland_client("foot");
        cmd.args(["sleep", "3600"]);
        procs.spawn("foot", cmd)?;
        watch.push("foot");
    }
    sleep(RDP_SETTLE)?;
    procs.check_alive(&watch)?;
    let a = take_sample(&procs, &mut counter, server_pid, port)?;
    sleep(Duration::from_secs_f64(args.rdp_idle_secs))?;
    let b = take_sample(&procs, &mut counter, server_pid, port)?;
    procs.check_alive(&watch)?;
    let idle = Span::new(&procs, &a, &b);
    let foot_start = Span::new(&procs, &before_foot, &a);
    procs.kill("foot");

    // Animating: weston-simple-shm, its requests logged to count its frames.
    let mut cmd = wayland_client("weston-simple-shm");
    cmd.env("WAYLAND_DEBUG", "client");
    procs.spawn("simple-shm", cmd)?;
    let watch = ["server", "xfreerdp3", "simple-shm"];
    sleep(Duration::from_secs_f64(args.rdp_warmup_secs))?;
    procs.check_alive(&watch)?;
    let a = take_sample(&procs, &mut counter, server_pid, port)?;
    sleep(Duration::from_secs_f64(args.rdp_secs))?;
    let b = take_sample(&procs, &mut counter, server_pid, port)?;
    procs.check_alive(&watch)?;
    let anim = Span::new(&procs, &a, &b);

    let server_log = String::from_utf8_lossy(&procs.log_range("server", 0, u64::MAX)).into_owned();
    let whole = decoded(&procs.log_range("xfreerdp3", 0, u64::MAX));
    let graphics = match egfx_version(&server_log) {
        Some(v) => v,
        None if whole.codecs.iter().any(|(c, _)| c.starts_with("EGFX")) => "EGFX".into(),
        None => "no EGFX: Surface Bits".into(),
    };
    Ok(RdpRun { graphics, window, foot_start, idle, anim, took: started.elapsed().as_secs_f64() })
}

fn first_line(program: &str, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown version".into())
}

fn kb(bytes: f64) -> String {
    format!("{:.1} kB", bytes / 1000.0)
}

fn rdp_section(cli: &Cli) -> anyhow::Result<()> {
    let args = &cli.rdp;
    println!();
    println!("== RDP: wayrail next to Weston's RDP backend, same client, same app, {RDP_SIZE} ==");
    let wayrail = match &cli.wayrail {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("wayrail"),
    };
    let mut needed = vec!["Xvfb", "xfreerdp3", "weston-simple-shm", "ss"];
    if args.rdp_servers.contains(&RdpServer::Weston) {
        needed.extend(["weston", "openssl"]);
    }
    let missing: Vec<&str> = needed.into_iter().filter(|p| which(p).is_none()).collect();
    if !missing.is_empty() {
        println!("not measured: {} not in PATH (scripts/setup-debian.sh test installs them)", missing.join(", "));
        return Ok(());
    }
    if args.rdp_servers.contains(&RdpServer::Wayrail) && !wayrail.is_file() {
        println!("not measured: {} does not exist (scripts/setup-debian.sh builds it)", wayrail.display());
        return Ok(());
    }
    println!("wayrail: {} --backend rdp --socket S --listen tcp:127.0.0.1:PORT --output {RDP_SIZE}", wayrail.display());
    println!(
        "weston:  {}: weston --backend=rdp-backend.so --rdp-tls-cert=.. --rdp-tls-key=..",
        first_line("weston", "--version")
    );
    println!("         --port=PORT --address=127.0.0.1 --socket=S --no-config --width=.. --height=.. (desktop-shell)");
    let freerdp = first_line("xfreerdp3", "--version");
    println!("client:  xfreerdp3 {}", rdp_client_args("PORT").join(" "));
    println!("         ({}) in its own Xvfb (1920x1080x24);", freerdp.trim_start_matches("This is "));
    println!("         each server has its own runtime dir, Xvfb and client.");
    println!("app:     weston-simple-shm (WAYLAND_DEBUG=client, to count its commits), {:.0} s after a", args.rdp_secs);
    println!(
        "         {:.0} s warm-up; idle: one foot window (foot sleep 3600), {:.0} s.",
        args.rdp_warmup_secs, args.rdp_idle_secs
    );
    println!("Server CPU: the server process, all threads (Weston's desktop-shell and keyboard helper");
    println!("  processes are not counted): % from utime+stime in /proc/PID/stat, ms from schedstat.");
    println!("Frames at the client: the client's drawing into its window, seen through XDamage (raw");
    println!("  rectangles, python3-xlib); a burst of damage events (< 3 ms apart) is one frame shown.");
    println!("Bytes on the wire: bytes_sent of the server's side of the client's TCP connection (ss -tin),");
    println!("  TLS and RDP framing included; codec payload: the lengths in the client's gdi log.");
    let mut runs: Vec<(RdpServer, Result<RdpRun, String>)> = Vec::new();
    for &server in &args.rdp_servers {
        check_interrupt()?;
        match rdp_run(server, &wayrail, args) {
            Ok(run) => runs.push((server, Ok(run))),
            Err(e) if INTERRUPTED.load(Ordering::SeqCst) => return Err(e),
            Err(e) => runs.push((server, Err(format!("{e:#}")))),
        }
    }
    println!();
    let row = |label: &str, value: &dyn Fn(&RdpRun) -> String| {
        let mut line = format!("{label:<44}");
        for (_, run) in &runs {
            let v = match run {
                Ok(run) => value(run),
                Err(_) => "NOT MEASURED".into(),
            };
            line.push_str(&format!(" {v:>24}"));
        }
        println!("{}", line.trim_end());
    };
    let heading = |label: &str| {
        let mut line = format!("{label:<44}");
        for (server, _) in &runs {
            line.push_str(&format!(" {:>24}", server.label()));
        }
        println!("{line}");
    };
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".into(), f);
    heading("");
    row("graphics path", &|r| r.graphics.clone());
    row("codec the client decoded (animating)", &|r| r.anim.decoded.summary());
    row("client window (XDamage)", &|r| r.window.clone());
    row("measured in", &|r| format!("{:.1} s", r.took));
    println!("-- weston-simple-shm animating --");
    row("seconds counted", &|r| format!("{:.1}", r.anim.secs));
    row("server CPU, % of one core", &|r| format!("{:.1} %", r.anim.cpu_percent));
    row("server CPU per client frame", &|r| opt(r.anim.per_frame(r.anim.cpu_ms), &|v| format!("{v:.3} ms")));
    row("frames/s at the client (XDamage bursts)", &|r| format!("{:.1}", r.anim.fps()));
    row("mean frame interval at the client", &|r| {
        opt(r.anim.per_frame(r.anim.secs * 1000.0), &|v| format!("{v:.2} ms"))
    });
    row("frames > 25 ms after the previous one", &|r| format!("{}", r.anim.late));
    row("app frames/s (its wl_surface.commit)", &|r| format!("{:.1}", r.anim.app_commits as f64 / r.anim.secs));
    row("bytes per frame on the wire", &|r| opt(r.anim.per_frame(r.anim.sent as f64), &kb));
    row("wire, MB/s", &|r| format!("{:.2}", r.anim.sent as f64 / r.anim.secs / 1e6));
    row("codec payload per frame", &|r| opt(r.anim.per_frame(r.anim.decoded.payload as f64), &kb));
    row("surface commands per frame", &|r| {
        opt(r.anim.per_frame(r.anim.decoded.commands as f64), &|v| format!("{v:.2}"))
    });
    row("client (xfreerdp3) CPU, % of one core", &|r| format!("{:.1} %", r.anim.client_cpu_percent));
    row("damage per frame at the client", &|r| {
        let rects = r.anim.per_frame(r.anim.damage_events as f64).unwrap_or(0.0);
        opt(r.anim.per_frame(r.anim.damage_area as f64), &|v| format!("{v:.0} px in {rects:.1} rects"))
    });
    println!("-- idle: one foot window, nothing animating --");
    row("frames at the client as foot started", &|r| {
        format!("{} in {:.1} s, {:.1} MB", r.foot_start.frames, r.foot_start.secs, r.foot_start.sent as f64 / 1e6)
    });
    row("seconds counted", &|r| format!("{:.1}", r.idle.secs));
    row("server CPU, % of one core", &|r| format!("{:.2} %", r.idle.cpu_percent));
    row("server CPU time", &|r| format!("{:.1} ms", r.idle.cpu_ms));
    row("frames/s at the client", &|r| format!("{:.1}", r.idle.fps()));
    row("bytes/s on the wire", &|r| format!("{:.0}", r.idle.sent as f64 / r.idle.secs));
    for (server, run) in &runs {
        match run {
            Err(e) => println!("{}: not measured: {e}", server.label()),
            Ok(r) => {
                for (what, span) in [("animating", &r.anim), ("idle", &r.idle)] {
                    if span.sent.abs_diff(span.acked) * 100 > span.sent.max(1) {
                        println!(
                            "{}, {what}: bytes acked ({}) differ from bytes sent ({})",
                            server.label(),
                            span.acked,
                            span.sent
                        );
                    }
                }
            }
        }
    }
    let find = |s: RdpServer| runs.iter().find(|(k, _)| *k == s).and_then(|(_, r)| r.as_ref().ok());
    let verdict = match (find(RdpServer::Wayrail), find(RdpServer::Weston)) {
        (Some(w), Some(p)) => match (w.anim.per_frame(w.anim.cpu_ms), p.anim.per_frame(p.anim.cpu_ms)) {
            (Some(wc), Some(pc)) => {
                let (wf, pf) = (w.anim.fps(), p.anim.fps());
                // Frame counts over a run differ by a frame or two between identical runs.
                let fps_ok = wf >= pf * 0.98;
                let yes = wc <= pc && fps_ok;
                format!(
                    "{} ({wc:.3} vs {pc:.3} ms/frame; {wf:.1} vs {pf:.1} frames/s{})",
                    if yes { "yes" } else { "no" },
                    if fps_ok && wf < pf { ", within the 2 % counting noise" } else { "" }
                )
            }
            _ => "n/a (no frames counted)".into(),
        },
        _ => "n/a (both servers must be measured)".into(),
    };
    println!();
    println!("wayrail CPU/frame ≤ Weston's at ≥ Weston's frames/s: {verdict}");
    Ok(())
}
