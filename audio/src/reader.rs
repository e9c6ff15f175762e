//! The thread that reads the sink's FIFO. It blocks on `read` and on nothing else: not on
//! the compositor, not on a session (the hub never waits), so the sound server can always
//! write and apps never stall. It reads at the pace the sink plays (the sink times itself by
//! the system clock), and not at all once the sink suspends after a second of idleness.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use crate::{AudioHub, Packet, PcmFormat, PACKET_DURATION};

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
        let mut packets = Packetizer::new(format.bytes_for(PACKET_DURATION));
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match fifo.read(&mut buf) {
                Ok(0) => {
                    tracing::warn!("the sound server closed its sink: no more sound to the host");
                    return;
                }
                Ok(n) => {
                    let read_at = Instant::now();
                    for pcm in packets.push(&buf[..n]) {
                        hub.deliver(Packet { pcm, read_at });
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
        let path = dir.path().join("sink");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
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
