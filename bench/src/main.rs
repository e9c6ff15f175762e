//! `wayrail-bench`: measures what wayrail costs and prints a table (run it with
//! `scripts/bench.sh`). It is a measuring tool, not a test: nothing here passes or fails.
//!
//! 1. Composition, in process: one 1920x1080 window of an in-process Wayland client, composed
//!    on its own (`Composer::render_window`) and as part of the output (`render_output`), with
//!    full damage, a 64x64 damage, and no change between frames.
//! 2. Wakeups, out of process: the release `wayrail` binary with idle windows (and one
//!    animating client for contrast), its context switches and CPU time read from /proc.
//! 3. RDP, side by side with Weston 14's RDP backend (`wayrail-bench rdp` alone), in
//!    scenarios (weston-simple-shm, a terminal flood, a full-HD animation, typing, ten windows):
//!    each server with its own Xvfb, the same xfreerdp3 command and the same apps; server CPU
//!    per frame, frames/s seen by the client (XDamage on the xfreerdp3 window, through a
//!    python3-xlib helper), bytes per frame on the client's TCP connection (`ss`), commit → last
//!    byte on the socket (a relay between client and server times the server's bytes), the
//!    codec the client decodes (its own log); wayrail in RemoteApp next to WSLg's compositor
//!    where it is built.
//!
//! `wayrail-bench idle-client` is one of those idle windows: it maps a window and then only
//! answers the compositor. `anim-client` and `key-client` are the scenarios' own apps.
//!
//! Modules: `client` (the Wayland client), `composition` (1), `wakeups` and `procs` (2, and the
//! process bookkeeping 3 shares), `rdp` (3's tables), `scenarios`, `servers`, `measure`,
//! `relay`, `apps`, `rdp_log` and `xdamage` (3).

mod apps;
mod client;
mod composition;
mod measure;
mod procs;
mod rdp;
mod rdp_log;
mod relay;
mod scenarios;
mod servers;
mod wakeups;
mod xdamage;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Parser, Subcommand};
use wayrail_testclient::report::{self, load_average};

use crate::scenarios::Scenario;
use crate::servers::RdpServer;

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
    /// Seconds to measure each server in each scenario.
    #[arg(long, global = true, default_value_t = 5.0)]
    rdp_secs: f64,
    /// Seconds the apps run before the measurement starts.
    #[arg(long, global = true, default_value_t = 2.0)]
    rdp_warmup_secs: f64,
    /// Seconds to measure each server with only an idle foot window (simple-shm scenario).
    #[arg(long, global = true, default_value_t = 3.0)]
    rdp_idle_secs: f64,
    /// The desktop every server serves and the client asks for (the full-HD scenario: 1920x1080).
    #[arg(long, global = true, default_value = "1280x800")]
    rdp_size: String,
    /// The RDP servers to measure, in order. RemoteApp servers (wayrail-remoteapp, wslg) run
    /// only the scenarios whose app the host starts by name; wslg only where it is built.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_values = ["wayrail", "wayrail-h264-off", "wayrail-no-avc", "weston", "wayrail-remoteapp", "wslg"]
    )]
    rdp_servers: Vec<RdpServer>,
    /// The scenarios, in order.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_values = ["simple-shm", "terminal", "full-hd", "typing", "ten-windows"]
    )]
    rdp_scenarios: Vec<Scenario>,
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
    /// Only the RDP comparison: wayrail and Weston 14's RDP backend (and WSLg), the same client
    /// (xfreerdp3 in Xvfb) and the same apps, scenario by scenario.
    Rdp,
    /// (Used by the benchmark.) One window redrawn whole at every frame callback.
    AnimClient {
        #[arg(long, default_value = "wayrail-bench anim")]
        title: String,
        #[arg(long, default_value_t = 1920)]
        width: i32,
        #[arg(long, default_value_t = 1080)]
        height: i32,
        /// Ask to be fullscreen (and draw at the size the compositor configures).
        #[arg(long)]
        fullscreen: bool,
    },
    /// (Used by the benchmark.) One window that draws a character cell per key press.
    KeyClient {
        #[arg(long, default_value = "wayrail-bench keys")]
        title: String,
        #[arg(long, default_value_t = 640)]
        width: i32,
        #[arg(long, default_value_t = 400)]
        height: i32,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Cmd::IdleClient { title, width, height }) => client::idle_client(title, *width, *height),
        Some(Cmd::Rdp) => bench_rdp_only(&cli),
        Some(Cmd::AnimClient { title, width, height, fullscreen }) => {
            apps::anim_client(title, *width, *height, *fullscreen)
        }
        Some(Cmd::KeyClient { title, width, height }) => apps::key_client(title, *width, *height),
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
        composition::composition_section()?;
    }
    if !cli.skip_wakeups {
        wakeups::wakeup_section(cli)?;
    }
    if !cli.skip_rdp {
        rdp::rdp_section(cli)?;
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
    rdp::rdp_section(cli)?;
    println!();
    println!("load average at the end: {}", load_average());
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn print_header() {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let profile =
        if cfg!(debug_assertions) { "debug (NOT representative: build with scripts/bench.sh)" } else { "release" };
    println!("wayrail-bench {}", env!("CARGO_PKG_VERSION"));
    report::print_date_and_revision();
    println!("machine:      {} CPUs, {}, Linux {}", report::cpus(), report::cpu_model(), kernel.trim());
    println!("build:        {profile}");
    println!("load average: {} (other work on the machine skews every figure)", load_average());
}
