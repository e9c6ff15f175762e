//! `wr-reliability [--quick] [--only PHASE]`: what an attacker or an unlucky day does to a real `wayrail
//! --backend rdp` (the `wayrail` next to this binary, or `$WAYRAIL_BIN`), with the figures:
//!
//! - a pre-auth flood: 200 connections that never log in (half silent, half up to 64 KB of
//!   garbage) held open while the IronRDP test client connects: the time to its first frame,
//!   wayrail's RSS before, at that frame and after;
//! - a RemoteApp client that reads nothing for 60 s while a window repaints and windows come
//!   and go: whether and when the server dropped it, a second client's time to its first
//!   frame after the 60 s, RSS before and after;
//! - 50 RemoteApp connections with 5 apps open, each dropped without a goodbye (as when the
//!   client is killed with SIGKILL): windows lost, RSS before and after;
//! - 100 Wayland clients that map a window and are killed: windows left, RSS;
//! - a Wayland client that shrinks its shm pool under a committed buffer (the SIGBUS path):
//!   how it ended, and whether the compositor, a bystander window and the RDP client lived on.
//!
//! `--quick` runs each with a tenth of the counts and 5 s instead of 60 (a smoke run); `--only`
//! runs one of `flood`, `stall`, `reconnect`, `churn`, `shm`. Not a
//! test: it asserts nothing but prints `reliability: ...` lines; `scripts/reliability.sh`
//! runs it (and the fuzz targets). With `--shm-shrink-client` it is the shrinking client.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use wayrail_e2e::flood::{first_frame, raise_open_files, rss_kb, Flood};
use wayrail_e2e::{Client, Compositor, MAP_TIMEOUT};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, RailClient, TestClient};

const STEP: Duration = Duration::from_secs(15);
const SIZE: (u16, u16) = (1024, 768);

struct Counts {
    flood: usize,
    stall: Duration,
    cycles: usize,
    apps: usize,
    churn: usize,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--shm-shrink-client") {
        return shrink::run();
    }
    let usage = "usage: wr-reliability [--quick] [--only flood|stall|reconnect|churn|shm]";
    let mut counts = Counts { flood: 200, stall: Duration::from_secs(60), cycles: 50, apps: 5, churn: 100 };
    let mut only = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => counts = Counts { flood: 20, stall: Duration::from_secs(5), cycles: 5, apps: 5, churn: 10 },
            "--only" => only = Some(args.next().context(usage)?.clone()),
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    }
    let run = |phase: &str| only.as_deref().is_none_or(|o| o == phase);
    raise_open_files(4096);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        if run("flood") {
            flood(counts.flood).await.context("the pre-auth flood")?;
        }
        if run("stall") {
            stalled_reader(counts.stall).await.context("the stalled reader")?;
        }
        if run("reconnect") {
            reconnects(counts.cycles, counts.apps).await.context("the reconnect cycles")?;
        }
        anyhow::Ok(())
    })?;
    if run("churn") {
        churn(counts.churn).context("the Wayland client churn")?;
    }
    if run("shm") {
        runtime.block_on(shm_shrink()).context("the shrinking shm pool")?;
    }
    Ok(())
}

fn sibling(name: &str) -> Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    anyhow::ensure!(path.is_file(), "{} is not built", path.display());
    Ok(path)
}

fn start() -> Compositor {
    Compositor::start_rdp(&["--output", &format!("{}x{}", SIZE.0, SIZE.1)])
}

fn addr(wr: &Compositor) -> String {
    format!("127.0.0.1:{}", wr.rdp_port().expect("an RDP compositor"))
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn desktop() -> ClientOptions {
    ClientOptions { size: SIZE, ..Default::default() }
}

async fn remote_app(wr: &Compositor) -> Result<TestClient> {
    let opts = ClientOptions { size: SIZE, remote_app: true, ..Default::default() };
    let mut client = ClientBuilder::new(opts).with_static_channel(RailClient::new(None)).connect(&addr(wr)).await?;
    client.keep_window_updates(false);
    Ok(client)
}

/// A probe window titled `title`, mapped.
fn probe(wr: &Compositor, title: &str, commands: Option<&std::path::Path>) -> Result<Client> {
    let exe = sibling("wr-rail-probe")?;
    let mut args = vec!["--title", title, "--size", "320x240"];
    let commands = commands.map(|c| c.to_string_lossy().into_owned());
    if let Some(file) = &commands {
        args.extend(["--commands", file]);
    }
    let client = wr.spawn_client(exe.to_str().context("path")?, &args, &[]);
    wr.wait_for_toplevel_of(&client, MAP_TIMEOUT);
    Ok(client)
}

async fn flood(sockets: usize) -> Result<()> {
    let mut wr = start();
    let pid = wr.pid();
    let before = rss_kb(pid)?;
    let mut flood = Flood::open(wr.rdp_port().context("port")?, sockets)?;
    let (client, took) = first_frame(&addr(&wr), &desktop(), Duration::from_secs(90)).await?;
    flood.wait_written();
    let during = rss_kb(pid)?;
    drop(flood);
    client.disconnect().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kb(pid)?;
    println!(
        "reliability: pre-auth flood of {sockets} connections (half silent, half up to 64 KB of garbage): a real \
         client's first frame {:.2} s after its first try; wayrail RSS {} before, {} at that frame, {} after; \
         compositor alive: {}",
        took.as_secs_f64(),
        mb(before),
        mb(during),
        mb(after),
        wr.is_running()
    );
    Ok(())
}

async fn stalled_reader(stall: Duration) -> Result<()> {
    let mut wr = start();
    let pid = wr.pid();
    let commands = wr.path("repaint.txt");
    let _painter = probe(&wr, "painter", Some(&commands))?;
    let mut stalled = remote_app(&wr).await?;
    stalled.pump_until(STEP, |c| !c.host_windows().windows.is_empty()).await.context("the first window")?;
    let before = rss_kb(pid)?;
    // From here on the client reads nothing: the window repaints every 50 ms, and windows
    // come and go every 2 s (orders and icons, not only frames).
    let started = Instant::now();
    let mut file = std::fs::OpenOptions::new().append(true).create(true).open(&commands)?;
    let mut churned = Vec::new();
    let mut n = 0u32;
    while started.elapsed() < stall {
        n += 1;
        writeln!(file, "color {:06x}", n.wrapping_mul(0x9E3779) & 0xFF_FFFF)?;
        if n.is_multiple_of(40) {
            churned.push(probe(&wr, &format!("come and go {n}"), None)?);
            if churned.len() > 3 {
                let mut gone = churned.remove(0);
                gone.signal(libc::SIGKILL);
                let _ = gone.wait_exit(Duration::from_secs(5));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_end = rss_kb(pid)?;
    let dropped = wr
        .log_text()
        .lines()
        .find(|l| l.contains("dropping the client") || l.contains("reads too slowly"))
        .map(|l| l.trim().to_owned());
    let (second, took) = first_frame(&addr(&wr), &desktop(), Duration::from_secs(60)).await?;
    let after = rss_kb(pid)?;
    println!(
        "reliability: a RemoteApp client that read nothing for {} s (a window repainting every 50 ms, windows \
         coming and going): {}; a second client's first frame {:.2} s after its first try; wayrail RSS {} before \
         the stall, {} at its end, {} after the second client; compositor alive: {}",
        stall.as_secs(),
        match &dropped {
            Some(line) => format!("the server dropped it ({line})"),
            None => "the server kept it (nothing piled up past the limits)".to_owned(),
        },
        took.as_secs_f64(),
        mb(before),
        mb(at_end),
        mb(after),
        wr.is_running()
    );
    drop(stalled);
    second.disconnect().await?;
    Ok(())
}

async fn reconnects(cycles: usize, apps: usize) -> Result<()> {
    let mut wr = start();
    let pid = wr.pid();
    let _apps: Vec<Client> = (0..apps).map(|i| probe(&wr, &format!("app {i}"), None)).collect::<Result<_>>()?;
    // One connection first, so that RSS counts what a session needs once.
    let mut client = remote_app(&wr).await?;
    client.pump_until(STEP, |c| c.host_windows().windows.len() >= apps).await?;
    drop(client);
    let before = rss_kb(pid)?;
    let started = Instant::now();
    let mut fewest = usize::MAX;
    for cycle in 0..cycles {
        let mut client = remote_app(&wr).await.with_context(|| format!("cycle {cycle}"))?;
        let _ = client.pump_until(STEP, |c| c.host_windows().windows.len() >= apps).await;
        fewest = fewest.min(client.host_windows().windows.len());
        // Gone without a goodbye, as when the client is killed: the socket just closes.
        drop(client);
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kb(pid)?;
    let left = wr.windows().len();
    println!(
        "reliability: {cycles} RemoteApp connections with {apps} apps, each dropped without a goodbye: windows lost \
         {} (the compositor has {left}; every connection was shown at least {fewest}); {:.1} s in all; wayrail RSS {} \
         before, {} after; compositor alive: {}",
        apps.saturating_sub(left),
        took.as_secs_f64(),
        mb(before),
        mb(after),
        wr.is_running()
    );
    Ok(())
}

fn churn(clients: usize) -> Result<()> {
    let mut wr = start();
    let pid = wr.pid();
    let before = rss_kb(pid)?;
    let started = Instant::now();
    for i in 0..clients {
        let mut client = probe(&wr, &format!("churn {i}"), None)?;
        client.signal(libc::SIGKILL);
        client.wait_exit(Duration::from_secs(5)).context("a killed client did not exit")?;
    }
    let took = started.elapsed();
    let gone = wayrail_e2e::wait_until(Duration::from_secs(5), || wr.windows().is_empty());
    let after = rss_kb(pid)?;
    println!(
        "reliability: {clients} Wayland clients mapped a window and were killed (SIGKILL) one after another in \
         {:.1} s: windows left {}; wayrail RSS {} before, {} after; compositor alive: {}",
        took.as_secs_f64(),
        if gone { 0 } else { wr.windows().len() },
        mb(before),
        mb(after),
        wr.is_running()
    );
    Ok(())
}

async fn shm_shrink() -> Result<()> {
    let mut wr = start();
    let bystander = probe(&wr, "bystander", None)?;
    let (mut viewer, _) = first_frame(&addr(&wr), &desktop(), STEP).await?;
    let exe = std::env::current_exe()?;
    let mut bad = wr.spawn_client(exe.to_str().context("path")?, &["--shm-shrink-client"], &[]);
    // The viewer keeps showing frames meanwhile, so the compositor keeps drawing (and so
    // reading) the shrunk buffer: it has no other reason to touch it.
    let frames = viewer.frames_received();
    let deadline = Instant::now() + STEP;
    let mut status = None;
    while status.is_none() && Instant::now() < deadline {
        viewer.pump(Duration::from_millis(100)).await?;
        status = bad.wait_exit(Duration::ZERO);
    }
    let said = bad.log_text();
    let said = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("nothing").trim().to_owned();
    // The viewer keeps being served.
    viewer.pump(Duration::from_secs(1)).await?;
    let bystander_mapped = wr.windows().iter().any(|w| w["title"] == "bystander");
    println!(
        "reliability: a Wayland client that shrank its shm pool under a committed buffer: it ended ({}), saying \
         {said:?}; compositor alive: {}, the bystander window still mapped: {bystander_mapped}, the RDP client \
         still connected: {} ({} frames before, {} after)",
        match status {
            Some(s) => format!("{s}"),
            None => "it did not end within 15 s".into(),
        },
        wr.is_running(),
        viewer.closed().is_none(),
        frames,
        viewer.frames_received(),
    );
    drop(bystander);
    Ok(())
}

/// The client that shrinks its pool: maps a 256x256 window from a pool in a memfd, then cuts
/// the memfd to nothing and commits the same buffer again, so that reading it faults.
mod shrink {
    use std::os::fd::{AsFd as _, AsRawFd as _};
    use std::time::Duration;

    use anyhow::{Context as _, Result};
    use wayrail_testclient::wayland_client::protocol::wl_shm;
    use wayrail_testclient::{delegate_client, dispatch_timeout, Base, Client};

    #[derive(Default)]
    struct Shrinker {
        base: Base,
    }

    impl Client for Shrinker {
        fn base(&mut self) -> &mut Base {
            &mut self.base
        }
    }

    delegate_client!(Shrinker);

    pub fn run() -> Result<()> {
        let result = shrink();
        match &result {
            Ok(()) => println!("still connected 3 s after the shrink"),
            Err(e) => println!("ended: {e:#}"),
        }
        // Exits 0 either way: the caller reads what happened from the output.
        Ok(())
    }

    fn shrink() -> Result<()> {
        let mut app = Shrinker::default();
        let (conn, mut queue) = wayrail_testclient::connect(&mut app)?;
        let qh = queue.handle();
        let top = app.base.create_toplevel(&qh)?;
        top.xdg_toplevel.set_title("shrinker".into());
        top.surface.commit();
        while !app.base.is_configured(top.shell) {
            dispatch_timeout(&conn, &mut queue, &mut app, Some(Duration::from_secs(5)))?;
        }
        let (width, height) = (256, 256);
        let len = (width * height * 4) as usize;
        let fd = wayrail_testclient::shm::memfd(len)?;
        let pool = app.base.shm()?.create_pool(fd.as_fd(), len as i32, &qh, ());
        let buffer = pool.create_buffer(0, width, height, width * 4, wl_shm::Format::Argb8888, &qh, ());
        top.surface.attach(Some(&buffer), 0, 0);
        top.surface.damage_buffer(0, 0, width, height);
        top.surface.commit();
        queue.roundtrip(&mut app).context("the first commit")?;
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: ftruncate on a file descriptor this function owns.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), 0) } != 0 {
            return Err(std::io::Error::last_os_error()).context("shrinking the memfd");
        }
        println!("shrank the pool under the committed buffer");
        top.surface.attach(Some(&buffer), 0, 0);
        top.surface.damage_buffer(0, 0, width, height);
        top.surface.commit();
        for _ in 0..30 {
            queue.roundtrip(&mut app).context("after the shrink")?;
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}
