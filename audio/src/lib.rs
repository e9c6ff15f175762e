//! Sound from Linux apps to the RDP host.
//!
//! wayrail runs a private PulseAudio (`pulse`) whose only sink, the default one, writes PCM
//! into a FIFO; apps find it through `PULSE_SERVER`. A thread of its own (`reader`) reads the
//! FIFO, cuts it into packets of 20 ms, drops the silent ones, and hands the rest to the
//! [`AudioHub`], which gives them to the RDP session that plays sound (or throws them away
//! when none does, so apps never wait for a host). Nothing here knows RDP: the session
//! subscribes to the hub with a queue and reports what it sent.

mod mic;
mod pulse;
mod reader;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

pub use mic::Microphone;
pub use pulse::{dir_for, socket_in, sweep_stale, PulseServer};
pub use reader::{is_silent, Packetizer, MAX_BACKLOG};

/// Which wave format the host gets (`[audio] codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SoundCodec {
    /// PCM to a client on this machine (loopback TCP, a unix or vsock socket), where bytes
    /// cost nothing; IMA ADPCM, a quarter of the bytes, to a client across a network that
    /// takes it, else PCM.
    #[default]
    Auto,
    /// PCM, the sink's samples unchanged.
    Pcm,
    /// IMA ADPCM when the client takes it, else PCM.
    Adpcm,
}

impl SoundCodec {
    pub fn name(self) -> &'static str {
        match self {
            SoundCodec::Auto => "auto",
            SoundCodec::Pcm => "pcm",
            SoundCodec::Adpcm => "adpcm",
        }
    }

    /// Whether a client, local or not, is offered IMA ADPCM before PCM.
    pub fn prefers_adpcm(self, local_client: bool) -> bool {
        match self {
            SoundCodec::Auto => !local_client,
            SoundCodec::Pcm => false,
            SoundCodec::Adpcm => true,
        }
    }
}

/// The PCM the sink writes: signed 16-bit little-endian samples, interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    pub rate: u32,
    pub channels: u16,
}

impl PcmFormat {
    /// The rates an RDP client is sure to take as PCM, and the one wayrail uses unless told.
    pub const RATES: [u32; 2] = [44_100, 48_000];

    pub fn new(rate: u32, channels: u16) -> PcmFormat {
        PcmFormat { rate, channels }
    }

    pub fn bytes_per_frame(&self) -> usize {
        usize::from(self.channels) * 2
    }

    pub fn bytes_per_second(&self) -> usize {
        self.rate as usize * self.bytes_per_frame()
    }

    /// Whole frames for `duration`.
    pub fn bytes_for(&self, duration: Duration) -> usize {
        let frames = (u128::from(self.rate) * duration.as_micros() / 1_000_000) as usize;
        frames.max(1) * self.bytes_per_frame()
    }
}

impl Default for PcmFormat {
    fn default() -> Self {
        PcmFormat { rate: 44_100, channels: 2 }
    }
}

/// How much sound one packet carries: short enough for little latency, long enough that
/// one PDU of about 3.5 KB carries it.
pub const PACKET_DURATION: Duration = Duration::from_millis(20);

/// A packet of PCM in the hub's format, and when the reader had it.
#[derive(Debug)]
pub struct Packet {
    pub pcm: Vec<u8>,
    pub read_at: Instant,
}

/// How many packets a session's queue holds: one second. A session whose client reads so
/// slowly that it fills up loses packets instead of making the reader (and so the apps) wait.
pub const SESSION_QUEUE: usize = 50;

/// How long a packet may have waited since the reader had it before the session sends it: a
/// session that fell behind (its thread was busy, its socket full) skips what is older rather
/// than play everything later and later.
pub const MAX_SEND_LAG: Duration = Duration::from_millis(250);

/// Who gets the sound: at most one session, the one that negotiated a format last.
#[derive(Debug)]
pub struct AudioHub {
    format: PcmFormat,
    codec: Mutex<SoundCodec>,
    listener: Mutex<Option<Listener>>,
    pub stats: AudioStats,
    /// The host's microphone as the default source, when the sound server has one.
    pub mic: Option<Arc<Microphone>>,
}

#[derive(Debug)]
struct Listener {
    session: u64,
    queue: mpsc::Sender<Packet>,
}

/// What happened to a packet the reader handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    Silent,
    NoClient,
    /// The session's queue is full: its client reads too slowly.
    Dropped,
}

impl AudioHub {
    pub fn new(format: PcmFormat) -> Arc<AudioHub> {
        AudioHub::with_microphone(format, None)
    }

    pub fn with_microphone(format: PcmFormat, mic: Option<Arc<Microphone>>) -> Arc<AudioHub> {
        let codec = Mutex::new(SoundCodec::default());
        Arc::new(AudioHub { format, codec, listener: Mutex::new(None), stats: AudioStats::default(), mic })
    }

    pub fn format(&self) -> PcmFormat {
        self.format
    }

    /// The wave format sessions offer their clients (`[audio] codec`).
    pub fn codec(&self) -> SoundCodec {
        *self.codec.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_codec(&self, codec: SoundCodec) {
        *self.codec.lock().unwrap_or_else(|e| e.into_inner()) = codec;
    }

    /// A queue for a session; its packets start once it [`attach`](Self::attach)es it.
    pub fn queue() -> (mpsc::Sender<Packet>, mpsc::Receiver<Packet>) {
        mpsc::channel(SESSION_QUEUE)
    }

    /// From now on `session` gets the sound (a takeover's new session replaces the old one).
    pub fn attach(&self, session: u64, queue: mpsc::Sender<Packet>, client_format: String) {
        *self.lock() = Some(Listener { session, queue });
        *self.stats.client_format.lock().unwrap_or_else(|e| e.into_inner()) = Some(client_format);
        self.stats.session.store(session, Ordering::Relaxed);
        tracing::info!(session, "sound goes to this session");
    }

    /// `session` stops getting sound, unless another one took it over already.
    pub fn detach(&self, session: u64) {
        let mut listener = self.lock();
        if listener.as_ref().is_some_and(|l| l.session == session) {
            *listener = None;
            *self.stats.client_format.lock().unwrap_or_else(|e| e.into_inner()) = None;
            self.stats.session.store(0, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Listener>> {
        self.listener.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A packet from the reader: counted, and queued for the listening session unless it is
    /// silent. Never blocks.
    pub fn deliver(&self, packet: Packet) -> Delivery {
        let stats = &self.stats;
        stats.packets_read.fetch_add(1, Ordering::Relaxed);
        stats.bytes_read.fetch_add(packet.pcm.len() as u64, Ordering::Relaxed);
        if is_silent(&packet.pcm) {
            stats.silent_packets.fetch_add(1, Ordering::Relaxed);
            return Delivery::Silent;
        }
        let mut listener = self.lock();
        let Some(l) = listener.as_ref() else {
            stats.no_client_packets.fetch_add(1, Ordering::Relaxed);
            return Delivery::NoClient;
        };
        match l.queue.try_send(packet) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                stats.dropped_packets.fetch_add(1, Ordering::Relaxed);
                Delivery::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                *listener = None;
                stats.no_client_packets.fetch_add(1, Ordering::Relaxed);
                Delivery::NoClient
            }
        }
    }

    /// The session sent a packet of `bytes` to its client, `latency` after the reader had it.
    pub fn sent(&self, bytes: usize, latency: Duration) {
        let stats = &self.stats;
        stats.packets_sent.fetch_add(1, Ordering::Relaxed);
        stats.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        let us = latency.as_micros() as u64;
        stats.last_latency_us.store(us, Ordering::Relaxed);
        stats.max_latency_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The session skipped a packet that waited longer than [`MAX_SEND_LAG`].
    pub fn late(&self) {
        self.stats.late_packets.fetch_add(1, Ordering::Relaxed);
    }

    /// The client confirmed a wave.
    pub fn confirmed(&self) {
        self.stats.wave_confirms.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures for `wayrail msg audio`.
    pub fn status(&self) -> Value {
        let s = &self.stats;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let session = n(&s.session);
        let ms_of = |bytes: u64| (bytes as f64 * 1000.0 / self.format.bytes_per_second() as f64 * 10.0).round() / 10.0;
        json!({
            "enabled": true,
            "sink": {"format": "s16le", "rate": self.format.rate, "channels": self.format.channels},
            "codec": self.codec().name(),
            "session": (session != 0).then_some(session),
            "client_format": s.client_format.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "packets_read": n(&s.packets_read),
            "bytes_read": n(&s.bytes_read),
            "silent_packets": n(&s.silent_packets),
            "no_client_packets": n(&s.no_client_packets),
            "dropped_packets": n(&s.dropped_packets),
            "late_packets": n(&s.late_packets),
            "backlog_skips": n(&s.backlog_skips),
            "backlog_skipped_ms": ms_of(n(&s.backlog_skipped_bytes)),
            "fifo_backlog_ms": ms_of(n(&s.fifo_backlog_bytes)),
            "max_fifo_backlog_ms": ms_of(n(&s.max_fifo_backlog_bytes)),
            "packets_sent": n(&s.packets_sent),
            "bytes_sent": n(&s.bytes_sent),
            "wave_confirms": n(&s.wave_confirms),
            "last_latency_ms": n(&s.last_latency_us) as f64 / 1000.0,
            "max_latency_ms": n(&s.max_latency_us) as f64 / 1000.0,
            "microphone": self.mic.as_ref().map(|m| json!({
                "source": mic::SOURCE_NAME,
                "rate": m.format().rate,
                "channels": m.format().channels,
                "recording": *m.recording().borrow(),
                "bytes_in": n(&m.bytes_in),
                "bytes_dropped": n(&m.bytes_dropped),
            })),
        })
    }
}

/// Counters since wayrail started.
#[derive(Debug, Default)]
pub struct AudioStats {
    /// The session that gets the sound, 0 for none.
    pub session: AtomicU64,
    /// The format the client chose, as text.
    pub client_format: Mutex<Option<String>>,
    pub packets_read: AtomicU64,
    pub bytes_read: AtomicU64,
    /// Packets of all zeros, never sent (an idle sink until it suspends, the tail of a sound).
    pub silent_packets: AtomicU64,
    /// Packets read while no client took sound, thrown away.
    pub no_client_packets: AtomicU64,
    /// Packets lost because the session's queue was full (the client reads too slowly).
    pub dropped_packets: AtomicU64,
    /// Packets the session skipped because they waited longer than [`MAX_SEND_LAG`].
    pub late_packets: AtomicU64,
    /// How often the reader found more than [`reader::MAX_BACKLOG`] waiting in the FIFO, and
    /// how much it skipped then.
    pub backlog_skips: AtomicU64,
    pub backlog_skipped_bytes: AtomicU64,
    /// What waited in the FIFO after the last read, and the most ever.
    pub fifo_backlog_bytes: AtomicU64,
    pub max_fifo_backlog_bytes: AtomicU64,
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub wave_confirms: AtomicU64,
    /// From the reader having a packet to its PDU written, in microseconds.
    pub last_latency_us: AtomicU64,
    pub max_latency_us: AtomicU64,
}

impl AudioStats {
    fn note_backlog(&self, bytes: usize) {
        self.fifo_backlog_bytes.store(bytes as u64, Ordering::Relaxed);
        self.max_fifo_backlog_bytes.fetch_max(bytes as u64, Ordering::Relaxed);
    }
}

/// Sound to RDP clients, running: the sound server, the reader thread, and the hub.
pub struct Audio {
    pub hub: Arc<AudioHub>,
    server: PulseServer,
}

impl Audio {
    /// Starts the sound server in `dir` (made here, removed again when this is dropped) and
    /// the thread that reads its sink; with `pactl`, the host's microphone as its source.
    pub fn start(
        program: &std::path::Path,
        pactl: Option<&std::path::Path>,
        dir: std::path::PathBuf,
        format: PcmFormat,
    ) -> anyhow::Result<Audio> {
        let server = PulseServer::start(program, dir, format)?;
        let pulse_server = format!("unix:{}", server.socket().display());
        let mic_format = PcmFormat::new(format.rate, 1);
        let mic = match pactl {
            Some(pactl) => match Microphone::start(pactl, &pulse_server, &server.source_fifo(), mic_format) {
                Ok(mic) => Some(mic),
                Err(e) => {
                    tracing::warn!("no microphone from the host: {e:#}");
                    None
                }
            },
            None => None,
        };
        let hub = AudioHub::with_microphone(format, mic);
        reader::spawn(server.open_sink()?, format, hub.clone())?;
        Ok(Audio { hub, server })
    }

    /// The sound server's process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// What apps set `PULSE_SERVER` to.
    pub fn pulse_server(&self) -> String {
        format!("unix:{}", self.server.socket().display())
    }
}

impl Drop for Audio {
    /// The microphone's watcher first (sessions may hold the hub a while longer), then the
    /// sound server: both reaped before wayrail exits.
    fn drop(&mut self) {
        if let Some(mic) = &self.hub.mic {
            mic.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(byte: u8) -> Packet {
        Packet { pcm: vec![byte; 16], read_at: Instant::now() }
    }

    #[test]
    fn packets_go_to_the_attached_session_only_and_never_wait() {
        let hub = AudioHub::new(PcmFormat::default());
        assert_eq!(hub.deliver(packet(1)), Delivery::NoClient, "nobody listens: thrown away");
        assert_eq!(hub.deliver(packet(0)), Delivery::Silent, "silence is never sent");
        let (tx, mut rx) = AudioHub::queue();
        hub.attach(7, tx, "PCM".into());
        assert_eq!(hub.deliver(packet(1)), Delivery::Queued);
        assert_eq!(rx.try_recv().unwrap().pcm, vec![1; 16]);
        for _ in 0..SESSION_QUEUE {
            assert_eq!(hub.deliver(packet(2)), Delivery::Queued);
        }
        assert_eq!(hub.deliver(packet(2)), Delivery::Dropped, "a full queue loses the packet");
        // A takeover: the new session gets the sound; the old one's end changes nothing.
        let (tx2, mut rx2) = AudioHub::queue();
        hub.attach(8, tx2, "PCM".into());
        hub.detach(7);
        assert_eq!(hub.deliver(packet(3)), Delivery::Queued);
        assert_eq!(rx2.try_recv().unwrap().pcm, vec![3; 16]);
        hub.detach(8);
        assert_eq!(hub.deliver(packet(3)), Delivery::NoClient);
        let status = hub.status();
        assert_eq!(status["packets_read"], 56);
        assert_eq!(status["silent_packets"], 1);
        assert_eq!(status["no_client_packets"], 2);
        assert_eq!(status["dropped_packets"], 1);
        assert_eq!(status["session"], Value::Null);
    }

    #[test]
    fn a_closed_queue_counts_as_no_client() {
        let hub = AudioHub::new(PcmFormat::default());
        let (tx, rx) = AudioHub::queue();
        hub.attach(1, tx, "PCM".into());
        drop(rx);
        assert_eq!(hub.deliver(packet(1)), Delivery::NoClient);
    }

    #[test]
    fn packet_sizes_are_whole_frames() {
        let f = PcmFormat::new(44_100, 2);
        assert_eq!(f.bytes_for(PACKET_DURATION), 882 * 4);
        assert_eq!(PcmFormat::new(48_000, 2).bytes_for(PACKET_DURATION), 960 * 4);
        assert_eq!(f.bytes_per_second(), 176_400);
    }
}
