//! Commit → last byte on the socket, for any server: the client connects to a relay in this
//! process, which forwards both ways and notes when each read of the server's bytes returned
//! (`CLOCK_MONOTONIC`). The server's writes of one frame come within a millisecond or so of
//! each other; a gap of [`BURST_GAP_NS`] ends a burst. A commit's latency is from the commit to
//! the end of the first burst that started after it; a burst after several commits carries
//! the last of them (the others were superseded) and is counted as coalesced, not timed.
//! The relay reads as the server writes (loopback, a thread blocked in read), so a burst's end
//! is when the server's last write of it went onto the socket, give or take the relay's wakeup.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::apps::{clock_ns, monotonic_ns};

/// Server writes closer together than this are one burst (one frame).
pub(crate) const BURST_GAP_NS: u64 = 2_000_000;

/// Reads of the server's bytes: (when, how many).
type Reads = Arc<Mutex<Vec<(u64, usize)>>>;

pub(crate) struct Relay {
    pub(crate) port: u16,
    reads: Reads,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Listens on a free loopback port and relays every connection to `server_port`.
    pub(crate) fn start(server_port: u16) -> anyhow::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let reads: Reads = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (reads.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) {
                            relay_pair(client, server, r.clone());
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Relay { port, reads, stop })
    }

    /// How many reads so far ([`Relay::bursts`]' `from`).
    pub(crate) fn mark(&self) -> usize {
        self.reads.lock().expect("relay lock").len()
    }

    /// The server's bursts among the reads after `from`: (start ns, end ns, bytes).
    pub(crate) fn bursts(&self, from: usize) -> Vec<(u64, u64, usize)> {
        let reads = self.reads.lock().expect("relay lock");
        bursts(&reads[from.min(reads.len())..])
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The connection threads end when either side closes (the run kills both).
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay_pair(client: TcpStream, server: TcpStream, reads: Reads) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { return };
    std::thread::spawn(move || copy(c2, s2, None));
    std::thread::spawn(move || copy(server, client, Some(reads)));
}

fn copy(mut from: TcpStream, mut to: TcpStream, reads: Option<Reads>) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(reads) = &reads {
            reads.lock().expect("relay lock").push((monotonic_ns(), n));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

pub(crate) fn bursts(reads: &[(u64, usize)]) -> Vec<(u64, u64, usize)> {
    let mut out: Vec<(u64, u64, usize)> = Vec::new();
    for &(at, n) in reads {
        match out.last_mut() {
            Some(last) if at.saturating_sub(last.1) < BURST_GAP_NS => {
                last.1 = at;
                last.2 += n;
            }
            _ => out.push((at, at, n)),
        }
    }
    out
}

/// Commit → burst end, in ms, and the counts around it.
#[derive(Default)]
pub(crate) struct Latency {
    pub(crate) ms: Vec<f64>,
    /// Bursts after several commits (not timed), and the commits they carried.
    pub(crate) coalesced: usize,
    /// Bursts with no commit before them (cursor, acks, the rest of a frame).
    pub(crate) unmatched: usize,
}

impl Latency {
    /// Matches sorted commit times to bursts (both `CLOCK_MONOTONIC` ns).
    pub(crate) fn of(commits: &[u64], bursts: &[(u64, u64, usize)]) -> Latency {
        let mut l = Latency::default();
        let mut next = 0;
        for &(start, end, _) in bursts {
            let first = next;
            while next < commits.len() && commits[next] <= start {
                next += 1;
            }
            match next - first {
                0 => l.unmatched += 1,
                1 => l.ms.push((end - commits[first]) as f64 / 1e6),
                _ => l.coalesced += 1,
            }
        }
        l.ms.sort_by(|a, b| a.total_cmp(b));
        l
    }

    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.ms, q)
    }
}

/// The `q` quantile of sorted values (nearest rank).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * q).round() as usize])
}

/// Commit times (`CLOCK_MONOTONIC` ns) from a `WAYLAND_DEBUG=client` log. libwayland stamps
/// each line with `CLOCK_REALTIME` in µs, cut to 32 bits and printed as ms: `[1234567.890]`;
/// the bench reads both clocks now to put them back on `CLOCK_MONOTONIC`.
pub(crate) fn wayland_debug_commits(log: &[u8]) -> Vec<u64> {
    let (real_ns, mono_ns) = (clock_ns(libc::CLOCK_REALTIME), monotonic_ns());
    let now_us = real_ns / 1000;
    let mut out: Vec<u64> = String::from_utf8_lossy(log)
        .lines()
        .filter(|l| l.contains("-> wl_surface") && l.trim_end().ends_with(".commit()"))
        .filter_map(|l| {
            let stamp = l.trim_start().strip_prefix('[')?.split(']').next()?.trim();
            let (ms, us) = stamp.split_once('.')?;
            let t32 = ms.parse::<u64>().ok()? * 1000 + us.parse::<u64>().ok()?;
            let mut real_us = (now_us & !0xffff_ffff) | (t32 & 0xffff_ffff);
            if real_us > now_us + (1 << 31) {
                real_us -= 1 << 32;
            }
            (real_us * 1000).checked_sub(real_ns - mono_ns)
        })
        .collect();
    out.sort_unstable();
    out
}

/// Commit times from the bench's own apps (`commit SEQ NS` lines).
pub(crate) fn app_commits(log: &[u8]) -> Vec<u64> {
    let mut out: Vec<u64> = String::from_utf8_lossy(log)
        .lines()
        .filter_map(|l| l.strip_prefix("commit ")?.split_whitespace().nth(1)?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_close_together_are_one_burst() {
        let ms = 1_000_000;
        let reads = [(10 * ms, 100), (10 * ms + ms / 2, 50), (20 * ms, 10), (21 * ms, 5), (30 * ms, 1)];
        assert_eq!(bursts(&reads), [(10 * ms, 10 * ms + ms / 2, 150), (20 * ms, 21 * ms, 15), (30 * ms, 30 * ms, 1)]);
    }

    #[test]
    fn each_burst_times_the_one_commit_before_it() {
        let ms = 1_000_000;
        let bursts = [(10 * ms, 11 * ms, 1), (20 * ms, 22 * ms, 1), (30 * ms, 31 * ms, 1), (40 * ms, 40 * ms, 1)];
        // One commit before the first, two before the second, none before the third, one
        // before the fourth.
        let commits = [9 * ms, 15 * ms, 18 * ms, 39 * ms];
        let l = Latency::of(&commits, &bursts);
        assert_eq!(l.ms, [1.0, 2.0]);
        assert_eq!((l.coalesced, l.unmatched), (1, 1));
        assert_eq!(l.quantile(0.5), Some(2.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn commit_lines_give_monotonic_times() {
        let log = b"[1234.567]  -> wl_surface#3.attach(wl_buffer#9, 0, 0)\n[1234.568]  -> wl_surface#3.commit()\n\
            [ 999.000] wl_surface#3.commit()\ncommit 1 500\ncommit 2 400\nkey 7\n";
        assert_eq!(wayland_debug_commits(log).len(), 1);
        assert_eq!(app_commits(log), [400, 500]);
    }
}
