//! The thread that reads the sink's FIFO. It blocks on `read` and on nothing else: not on
//! the compositor, not on a session (the hub never waits), so the sound server can always
//! write and apps never stall. It reads at the pace the sink plays (the sink times itself by
//! the system clock), and not at all once the sink suspends after a second of idleness.
//!
//! It also keeps the FIFO drained: after each read it asks how much is still waiting in the
//! pipe, and sound that waited longer than [`MAX_BACKLOG`] (the thread was not scheduled for a
//! while on a loaded machine) is skipped, whole packets at a time and counted, so that what
//! goes to the host is never further behind the apps than that.

use std::io::Read;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{AudioHub, Packet, PcmFormat, PACKET_DURATION};

/// How much sound may wait in the FIFO before the reader skips it: far more than the sink
/// writes at once (about 23 ms) and than a thread on a busy machine waits for the CPU (at most
/// 20 ms waited, measured under a load of 3 to 6 on 2 cores), about half the 64 KiB (370 ms)
/// the pipe holds.
pub const MAX_BACKLOG: Duration = Duration::from_millis(200);

/// Bytes waiting in the pipe behind `fd`.
fn pending(fd: &std::fs::File) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    match unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) } {
        0 => n.max(0) as usize,
        _ => 0,
    }
}

/// How many bytes of a backlog of `pending` to skip so that at most `max` remain: whole
/// packets of `packet` bytes (the stream stays cut where it was), none below the limit.
pub fn backlog_to_skip(pending: usize, max: usize, packet: usize) -> usize {
    if pending <= max {
        return 0;
    }
    (pending - max).div_ceil(packet) * packet
}

/// Cuts a byte stream into packets of a fixed size (whole frames).
#[derive(Debug)]
pub struct Packetizer {
    size: usize,
    pending: Vec<u8>,
}

impl Packetizer {
    pub fn new(size: usize) -> Packetizer {
        Packetizer { size, pending: Vec::with_capacity(size) }
    }

    /// Takes `bytes`; returns the packets they complete.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let take = (self.size - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == self.size {
                out.push(std::mem::replace(&mut self.pending, Vec::with_capacity(self.size)));
            }
        }
        out
    }
}

/// Whether PCM is all zeros: what an idle sink writes. Such packets are never sent.
pub fn is_silent(pcm: &[u8]) -> bool {
    pcm.iter().all(|&b| b == 0)
}

pub(crate) fn spawn(mut fifo: std::fs::File, format: PcmFormat, hub: Arc<AudioHub>) -> std::io::Result<()> {
    std::thread::Builder::new().name("wayrail-audio".into()).spawn(move || {
        let packet_size = format.bytes_for(PACKET_DURATION);
        let max_backlog = format.bytes_for(MAX_BACKLOG);
        let mut packets = Packetizer::new(packet_size);
        let mut buf = vec![0u8; 16 * 1024];
        let mut skip = 0usize;
        loop {
            let want = if skip > 0 { skip.min(buf.len()) } else { buf.len() };
            match fifo.read(&mut buf[..want]) {
                Ok(0) => {
                    tracing::warn!("the sound server closed its sink: no more sound to the host");
                    return;
                }
                Ok(n) if skip > 0 => {
                    skip -= n;
                    hub.stats.backlog_skipped_bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Ok(n) => {
                    let read_at = Instant::now();
                    for pcm in packets.push(&buf[..n]) {
                        hub.deliver(Packet { pcm, read_at });
                    }
                    let waiting = pending(&fifo);
                    hub.stats.note_backlog(waiting);
                    skip = backlog_to_skip(waiting, max_backlog, packet_size);
                    if skip > 0 {
                        hub.stats.backlog_skips.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(waiting, skip, "the sink's FIFO fell behind: skipping");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("reading the sound server's sink: {e}: no more sound to the host");
                    return;
                }
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO named `sink` in `dir`, as the sound server's sink writes into.
    fn fifo_in(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("sink");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        path
    }
    use std::os::unix::fs::OpenOptionsExt as _;

    #[test]
    fn packets_are_cut_at_their_size_whatever_the_reads() {
        let mut p = Packetizer::new(8);
        assert!(p.push(&[1, 2, 3]).is_empty());
        assert_eq!(p.push(&[4, 5, 6, 7, 8, 9]), vec![vec![1, 2, 3, 4, 5, 6, 7, 8]]);
        let out = p.push(&[10; 20]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], vec![9, 10, 10, 10, 10, 10, 10, 10]);
        assert_eq!(out[1], vec![10; 8]);
        assert_eq!(p.push(&[11; 3]), vec![vec![10, 10, 10, 10, 10, 11, 11, 11]]);
    }

    #[test]
    fn a_backlog_beyond_the_limit_is_skipped_in_whole_packets() {
        assert_eq!(backlog_to_skip(0, 100, 10), 0);
        assert_eq!(backlog_to_skip(100, 100, 10), 0, "up to the limit, everything is kept");
        assert_eq!(backlog_to_skip(101, 100, 10), 10);
        assert_eq!(backlog_to_skip(135, 100, 10), 40);
        let f = PcmFormat::default();
        let max = f.bytes_for(MAX_BACKLOG);
        let packet = f.bytes_for(PACKET_DURATION);
        // A full pipe (64 KiB) keeps at most MAX_BACKLOG behind.
        let skip = backlog_to_skip(65_536, max, packet);
        assert!(65_536 - skip <= max && 65_536 - skip + packet > max, "{skip}");
    }

    #[test]
    fn the_reader_skips_what_waited_too_long_in_the_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo_in(dir.path());
        let f = PcmFormat::default();
        let packet = f.bytes_for(PACKET_DURATION);
        // The writer and the reader both open it; the writer fills 300 ms before the reader
        // thread starts: a reader that was not scheduled for that long. Its first read takes
        // 16 KiB (93 ms), which leaves more than MAX_BACKLOG waiting.
        let reader_end = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&path).unwrap();
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        {
            use std::io::Write;
            w.write_all(&vec![5u8; packet * 15]).unwrap();
        }
        // Blocking again for the thread.
        // SAFETY: fcntl on our descriptor.
        unsafe { libc::fcntl(reader_end.as_raw_fd(), libc::F_SETFL, 0) };
        let hub = AudioHub::new(f);
        let (tx, mut rx) = AudioHub::queue();
        hub.attach(1, tx, "PCM".into());
        spawn(reader_end, f, hub.clone()).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let expected_kept = 15 - backlog_to_skip(packet * 15 - 16 * 1024, f.bytes_for(MAX_BACKLOG), packet) / packet;
        let mut got = 0;
        while Instant::now() < deadline && hub.status()["packets_read"].as_u64() < Some(expected_kept as u64) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        while rx.try_recv().is_ok() {
            got += 1;
        }
        let status = hub.status();
        let skipped = status["backlog_skipped_ms"].as_f64().unwrap();
        assert!(
            got < 15 && got as usize == expected_kept,
            "{got} of 15 packets sent on, {expected_kept} expected: {status}"
        );
        assert!(skipped >= 20.0, "at least a packet: {status}");
        assert_eq!(status["backlog_skips"], 1, "{status}");
        drop(w);
    }

    #[test]
    fn silence_is_all_zeros() {
        assert!(is_silent(&[0; 3528]));
        assert!(is_silent(&[]));
        let mut quiet = vec![0; 3528];
        quiet[3527] = 1;
        assert!(!is_silent(&quiet), "even the faintest sample is sound");
    }

    #[test]
    fn the_reader_packets_what_the_fifo_carries() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo_in(dir.path());
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut w = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                w.write_all(&[0u8; 3528]).unwrap();
                w.write_all(&[5u8; 3528 * 2]).unwrap();
            })
        };
        let hub = AudioHub::new(PcmFormat::default());
        let (tx, mut rx) = AudioHub::queue();
        hub.attach(1, tx, "PCM".into());
        spawn(std::fs::File::open(&path).unwrap(), PcmFormat::default(), hub.clone()).unwrap();
        writer.join().unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < 2 && Instant::now() < deadline {
            match rx.try_recv() {
                Ok(p) => got.push(p.pcm),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        assert_eq!(got, vec![vec![5u8; 3528], vec![5u8; 3528]], "two packets of sound, the silent one dropped");
        assert_eq!(hub.status()["silent_packets"], 1);
    }
}
