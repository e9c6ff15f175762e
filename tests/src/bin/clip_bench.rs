//! `wr-clip-bench [--runs N]`: clipboard paste latency against a real `wayrail --backend rdp`
//! (the `wayrail` next to this binary, or `$WAYRAIL_BIN`) with the IronRDP test client as the
//! host. Prints, for 1 KB and 20 MB of text:
//!
//! - host → Linux: a host copy (format list answered), then the time from starting
//!   `wl-paste` until it has all the bytes and exits: the data request to the host, the
//!   host's answer (UTF-16 on the wire), the conversion, and the pipe;
//! - Linux → host: a `wl-copy` (format list seen), then the time from the host's Format
//!   Data Request until its Format Data Response has arrived whole;
//! - as a baseline, `wl-paste` of a Wayland client's own 1 KB selection (no RDP at all): the
//!   cost of starting `wl-paste`, which the host → Linux figures include.
//!
//! Not a test: it asserts only that the bytes arrived. `scripts/bench.sh` runs it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use wayrail_e2e::{sample_text, Client, Compositor};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, ClipboardClient, TestClient};
use wayrail_testclient::report;

const STEP: Duration = Duration::from_secs(180);

fn main() -> anyhow::Result<()> {
    let usage = "usage: wr-clip-bench [--runs N]   (N pastes of 1 KB; 20 MB gets N/3, at least 2)";
    let Some(runs) = report::count_arg("--runs", 10, usage)? else { return Ok(()) };
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(bench(runs.max(1)))
}

fn utf16(text: &str) -> Vec<u8> {
    let mut out: Vec<u8> = text.replace('\n', "\r\n").encode_utf16().flat_map(u16::to_le_bytes).collect();
    out.extend_from_slice(&[0, 0]);
    out
}

fn clip(client: &mut TestClient) -> &mut ClipboardClient {
    client.clipboard().expect("the clipboard channel")
}

async fn until(
    client: &mut TestClient,
    what: &str,
    mut cond: impl FnMut(&ClipboardClient) -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while !cond(clip(client)) {
        if started.elapsed() > STEP {
            bail!("{what}: not within {STEP:?}");
        }
        if let Some(why) = client.closed() {
            bail!("{what}: the session ended: {why}");
        }
        client.pump(Duration::from_millis(1)).await?;
    }
    Ok(())
}

/// Runs `wl-paste` to its end while pumping the client; returns the time and the byte count.
async fn timed_paste(wr: &Compositor, client: Option<&mut TestClient>, out: &Path) -> anyhow::Result<(Duration, u64)> {
    let mut cmd = wr.command("wl-paste");
    cmd.args(["-n", "-t", "text/plain;charset=utf-8"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out)?)
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = cmd.spawn().context("starting wl-paste")?;
    let mut client = client;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if started.elapsed() > STEP {
            let _ = child.kill();
            let _ = child.wait();
            bail!("wl-paste took longer than {STEP:?}");
        }
        match client.as_deref_mut() {
            Some(c) => {
                c.pump(Duration::from_micros(200)).await?;
            }
            None => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    Ok((started.elapsed(), std::fs::metadata(out)?.len()))
}

fn wl_copy(wr: &Compositor, file: &Path) -> Client {
    let mut cmd = wr.command("sh");
    cmd.args(["-c", &format!("exec wl-copy --foreground -t text/plain\\;charset=utf-8 < '{}'", file.display())]);
    wr.spawn("wl-copy", cmd)
}

fn write(wr: &Compositor, name: &str, data: &[u8]) -> anyhow::Result<PathBuf> {
    let path = wr.path(name);
    std::fs::File::create(&path)?.write_all(data)?;
    Ok(path)
}

struct Stats(Vec<Duration>);

impl Stats {
    fn line(&mut self, what: &str) -> String {
        self.0.sort();
        let n = self.0.len();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{what:<34} runs {n:>3}   min {:>9.2} ms   p50 {:>9.2} ms   max {:>9.2} ms",
            ms(self.0[0]),
            ms(self.0[n / 2]),
            ms(self.0[n - 1])
        )
    }
}

async fn bench(runs: usize) -> anyhow::Result<()> {
    header();
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let addr = format!("127.0.0.1:{}", wr.rdp_port().context("no RDP port")?);
    let mut client = ClientBuilder::new(ClientOptions { size: (1024, 768), ..Default::default() })
        .with_static_channel(ClipboardClient::default())
        .connect(&addr)
        .await?;
    until(&mut client, "the clipboard channel", |c| c.ready && !c.list_responses.is_empty()).await?;
    let out = wr.path("bench-paste.out");

    // Baseline: wl-paste of a Wayland client's selection.
    let small = sample_text(1024, 7);
    let _copy = wl_copy(&wr, &write(&wr, "baseline.txt", small.as_bytes())?);
    let lists = clip(&mut client).server_lists.len();
    until(&mut client, "the Linux format list", |c| c.server_lists.len() > lists).await?;
    let mut baseline = Stats(Vec::new());
    for _ in 0..runs {
        let (took, bytes) = timed_paste(&wr, Some(&mut client), &out).await?;
        if bytes != small.len() as u64 {
            bail!("baseline paste got {bytes} of {} bytes", small.len());
        }
        baseline.0.push(took);
    }

    let mut lines = vec![baseline.line("wl-paste of a Wayland selection, 1 KB")];
    for (label, len, n) in [("1 KB", 1024, runs), ("20 MB", 20 * 1024 * 1024, (runs / 3).max(2))] {
        // Host → Linux.
        let mut stats = Stats(Vec::new());
        for i in 0..n {
            let body = sample_text(len, 100 + i as u32);
            let answered = clip(&mut client).list_responses.len();
            let messages = clip(&mut client).copy(vec![(13, None, utf16(&body))]);
            client.send_svc::<ClipboardClient>(messages).await?;
            until(&mut client, "a format list response", |c| c.list_responses.len() > answered).await?;
            let (took, bytes) = timed_paste(&wr, Some(&mut client), &out).await?;
            if bytes != body.len() as u64 {
                bail!("host → Linux {label}: wl-paste got {bytes} of {} bytes", body.len());
            }
            stats.0.push(took);
        }
        lines.push(stats.line(&format!("host → Linux paste, {label}")));

        // Linux → host.
        let body = sample_text(len, 900);
        let lists = clip(&mut client).server_lists.len();
        let _copy = wl_copy(&wr, &write(&wr, "linux.txt", body.as_bytes())?);
        until(&mut client, "the Linux format list", |c| c.server_lists.len() > lists).await?;
        let mut stats = Stats(Vec::new());
        for _ in 0..n {
            let before = clip(&mut client).responses.len();
            let started = Instant::now();
            client.send_svc::<ClipboardClient>(ClipboardClient::request(13)).await?;
            until(&mut client, "a data response", |c| c.responses.len() > before).await?;
            stats.0.push(started.elapsed());
            let got =
                clip(&mut client).responses[before].clone().map_err(|()| anyhow::anyhow!("a failure response"))?;
            let units: Vec<u16> =
                got.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
            if String::from_utf16(&units).map(|t| t.replace("\r\n", "\n")).ok().as_deref() != Some(body.as_str()) {
                bail!("Linux → host {label}: the text changed on its way ({} bytes of UTF-16)", got.len());
            }
        }
        lines.push(stats.line(&format!("Linux → host paste, {label}")));
    }
    println!();
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn header() {
    let bin = wayrail_e2e::wayrail_bin();
    let wayrail_profile =
        if bin.components().any(|c| c.as_os_str() == "release") { "release" } else { "debug (NOT representative)" };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("wr-clip-bench (clipboard paste latency over RDP, IronRDP test client as the host)");
    report::print_date_and_revision();
    println!("machine:      {cpus} CPUs; load average {}", report::load_average());
    println!("wayrail:      {} ({wayrail_profile})", bin.display());
}
