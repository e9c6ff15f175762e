//! Connections that never log in, by the hundred, as an attacker opens them (half send
//! nothing, half up to 64 KB of garbage), a real client getting in meanwhile, and the resident
//! memory of a process: for the pre-auth flood test and `wr-reliability`.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, TestClient};

/// The resident memory of process `pid` in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid}"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    line.split_whitespace().nth(1).context("VmRSS without a value")?.parse().context("VmRSS")
}

/// Raises this process's soft limit on open files to at least `want` (up to the hard limit),
/// for tests that hold hundreds of sockets.
pub fn raise_open_files(want: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Deterministic noise; never starts with a TPKT version byte (3).
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    if out.first() == Some(&3) {
        out[0] = 0x47;
    }
    out
}

/// What garbage connection `i` sends: noise (not RDP at all), a TPKT header declaring 64 KiB
/// followed by less noise than that, or a TLS connection request followed by noise where the
/// ClientHello goes. Between 1 and 64 KiB in all.
fn garbage(i: usize) -> Vec<u8> {
    let len = 1024 + (i.wrapping_mul(7919) % (63 * 1024));
    match i % 3 {
        0 => noise(len, i as u32),
        1 => {
            let mut out = vec![3, 0, 0xFF, 0xFF];
            out.extend(noise(len.min(0xFFFF - 5), i as u32));
            out
        }
        _ => {
            // TPKT, X.224 Connection Request with an RDP_NEG_REQ for TLS.
            let mut out = vec![3, 0, 0, 19, 14, 0xE0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 1, 0, 0, 0];
            out.extend(noise(len, i as u32));
            out
        }
    }
}

/// Unauthenticated connections held open until dropped.
pub struct Flood {
    sockets: Vec<TcpStream>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Flood {
    /// Opens `count` connections to `127.0.0.1:port`: the even ones send nothing, the odd ones
    /// garbage (written from a thread, so a server that does not read cannot block the caller).
    pub fn open(port: u16, count: usize) -> Result<Flood> {
        let mut sockets = Vec::with_capacity(count);
        let mut talkers = Vec::new();
        for i in 0..count {
            let socket = TcpStream::connect(("127.0.0.1", port)).with_context(|| format!("connection {i}"))?;
            if i % 2 == 1 {
                socket.set_write_timeout(Some(Duration::from_secs(5)))?;
                talkers.push((i, socket.try_clone()?));
            }
            sockets.push(socket);
        }
        let writer = std::thread::spawn(move || {
            for (i, mut socket) in talkers {
                // The server closes most of them before, or while, they talk.
                let _ = socket.write_all(&garbage(i));
            }
        });
        Ok(Flood { sockets, writer: Some(writer) })
    }

    /// How many connections were opened.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Waits until all the garbage is written (or refused).
    pub fn wait_written(&mut self) {
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.wait_written();
    }
}

/// Connects `opts` to `addr` again and again (a server at its cap of connections still in the
/// connection sequence closes new ones at once) until a connection is served its first
/// graphics frame; gives up after `timeout`. Returns the client and the time from the first
/// try to its first frame.
pub async fn first_frame(addr: &str, opts: &ClientOptions, timeout: Duration) -> Result<(TestClient, Duration)> {
    let started = Instant::now();
    let mut tries = 0;
    let mut last_error = String::new();
    while started.elapsed() < timeout {
        tries += 1;
        let left = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, ClientBuilder::new(opts.clone()).connect(addr)).await {
            Ok(Ok(mut client)) => {
                let left = timeout.saturating_sub(started.elapsed());
                client.keep_window_updates(false);
                client.pump_until(left, |c| c.frames_received() > 0).await.context("waiting for the first frame")?;
                return Ok((client, started.elapsed()));
            }
            Ok(Err(e)) => last_error = format!("{e:#}"),
            Err(_) => last_error = "connecting took the whole time".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("no frame within {timeout:?} after {tries} tries; the last one: {last_error}")
}
