//! The host's microphone as the default source. The sound server's `module-pipe-source`
//! reads PCM (s16 mono) from a FIFO that the RDP session writes what the client captured into.
//! The client's microphone is opened only while an app records: a thread follows the sound
//! server's events (`pactl subscribe`) and counts the recording streams on that source; the
//! session opens the client's `AUDIO_INPUT` channel when there is one and closes it when the
//! last one ends.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use crate::PcmFormat;

/// The source's name in the sound server.
pub const SOURCE_NAME: &str = "wayrail-mic";

/// The microphone side of the sound server: whether an app records, and the FIFO for the
/// client's samples.
#[derive(Debug)]
pub struct Microphone {
    format: PcmFormat,
    fifo: Mutex<std::fs::File>,
    recording: watch::Sender<bool>,
    pub bytes_in: AtomicU64,
    /// Bytes the source did not take in time (the FIFO was full): thrown away.
    pub bytes_dropped: AtomicU64,
    watcher: Mutex<Option<Child>>,
}

/// The recording streams on source `source` in `pactl list short source-outputs` output.
pub fn recording_streams(source_outputs: &str, source: &str) -> usize {
    source_outputs.lines().filter(|l| l.split('\t').nth(1) == Some(source)).count()
}

/// The index of source `name` in `pactl list short sources` output.
pub fn source_index(sources: &str, name: &str) -> Option<String> {
    sources.lines().find(|l| l.split('\t').nth(1) == Some(name)).and_then(|l| l.split('\t').next()).map(str::to_owned)
}

/// Runs `pactl ARGS` against `server`; its standard output.
fn pactl(pactl: &Path, server: &str, args: &[&str]) -> std::io::Result<String> {
    let out = Command::new(pactl).args(args).env("PULSE_SERVER", server).stderr(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!("pactl {} failed ({})", args.join(" "), out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Microphone {
    /// Opens the source's FIFO (the server holds it open already) and starts following the
    /// server's recording streams with `pactl_program`.
    pub fn start(
        pactl_program: &Path,
        server: &str,
        fifo: &Path,
        format: PcmFormat,
    ) -> anyhow::Result<std::sync::Arc<Microphone>> {
        use std::os::unix::fs::OpenOptionsExt as _;
        use std::os::unix::process::CommandExt as _;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", fifo.display()))?;
        let sources = pactl(pactl_program, server, &["list", "short", "sources"])?;
        let source = source_index(&sources, SOURCE_NAME)
            .ok_or_else(|| anyhow::anyhow!("the sound server has no source {SOURCE_NAME}: {sources:?}"))?;
        let mut command = Command::new(pactl_program);
        command.arg("subscribe").env("PULSE_SERVER", server).stdin(Stdio::null()).stdout(Stdio::piped());
        command.stderr(Stdio::null());
        for var in crate::pulse::SUPERVISOR_VARS {
            command.env_remove(var);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe { command.pre_exec(|| crate::pulse::child_setup()) };
        let mut child = command.spawn().map_err(|e| anyhow::anyhow!("starting {}: {e}", pactl_program.display()))?;
        let events = child.stdout.take().expect("piped");
        let mic = std::sync::Arc::new(Microphone {
            format,
            fifo: Mutex::new(file),
            recording: watch::Sender::new(false),
            bytes_in: AtomicU64::new(0),
            bytes_dropped: AtomicU64::new(0),
            watcher: Mutex::new(Some(child)),
        });
        let watched = mic.clone();
        let (program, server): (PathBuf, String) = (pactl_program.into(), server.into());
        std::thread::Builder::new().name("wayrail-mic".into()).spawn(move || {
            // Each event about a recording stream: count them again.
            for line in BufReader::new(events).lines() {
                let Ok(line) = line else { break };
                if !line.contains("source-output") {
                    continue;
                }
                match pactl(&program, &server, &["list", "short", "source-outputs"]) {
                    Ok(list) => watched.set_recording(recording_streams(&list, &source) > 0),
                    Err(e) => tracing::warn!("counting the recording streams: {e}"),
                }
            }
            watched.set_recording(false);
        })?;
        Ok(mic)
    }

    fn set_recording(&self, recording: bool) {
        self.recording.send_if_modified(|now| {
            let changed = *now != recording;
            if changed {
                tracing::info!(recording, "an app records from the host's microphone");
            }
            *now = recording;
            changed
        });
    }

    /// Whether an app records; changes as apps start and stop.
    pub fn recording(&self) -> watch::Receiver<bool> {
        self.recording.subscribe()
    }

    /// The source's format: s16, mono.
    pub fn format(&self) -> PcmFormat {
        self.format
    }

    /// Samples from the client, for the recording apps. Never blocks: what the source has not
    /// taken yet and no longer fits is thrown away.
    pub fn write(&self, pcm: &[u8]) {
        self.bytes_in.fetch_add(pcm.len() as u64, Ordering::Relaxed);
        let mut fifo = self.fifo.lock().unwrap_or_else(|e| e.into_inner());
        match fifo.write(pcm) {
            Ok(n) if n == pcm.len() => {}
            Ok(n) => drop(self.bytes_dropped.fetch_add((pcm.len() - n) as u64, Ordering::Relaxed)),
            Err(_) => drop(self.bytes_dropped.fetch_add(pcm.len() as u64, Ordering::Relaxed)),
        }
    }
}

impl Microphone {
    /// Stops following the sound server (`pactl subscribe` is ended and reaped).
    pub fn stop(&self) {
        if let Some(mut child) = self.watcher.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Microphone {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_streams_are_counted_on_the_microphone_only() {
        let sources = "0\twayrail.monitor\tmodule-pipe-sink.c\ts16le 2ch 44100Hz\tSUSPENDED\n\
                       1\twayrail-mic\tmodule-pipe-source.c\ts16le 1ch 44100Hz\tRUNNING\n";
        assert_eq!(source_index(sources, SOURCE_NAME).as_deref(), Some("1"));
        assert_eq!(source_index(sources, "other"), None);
        let outputs = "0\t1\t2\tprotocol-native.c\ts16le 1ch 44100Hz\n\
                       3\t0\t4\tprotocol-native.c\ts16le 2ch 44100Hz\n\
                       5\t1\t6\tprotocol-native.c\ts16le 1ch 48000Hz\n";
        assert_eq!(recording_streams(outputs, "1"), 2, "the monitor's recorder does not open the microphone");
        assert_eq!(recording_streams(outputs, "0"), 1);
        assert_eq!(recording_streams("", "1"), 0);
    }
}
