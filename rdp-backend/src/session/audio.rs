//! Sound to the host on the static `rdpsnd` channel ([MS-RDPEA]). The server offers PCM in
//! the sink's own format (s16, its rate, stereo), so samples pass unchanged, and IMA ADPCM at
//! the same rate, a quarter of the bytes, preferred for clients across a network (`[audio]
//! codec`); once the client accepted one, the session takes the sound hub's packets and sends
//! each as a Wave2 PDU, encoded when the format is ADPCM.
//! Only a session that negotiated a format subscribes, and only the active one gets that
//! far, so a takeover moves the sound to the new client.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use ironrdp_rdpsnd::codec::{ima_adpcm_format, AudioEncoder};
use ironrdp_rdpsnd::pdu::{AudioFormat, WaveFormat};
use ironrdp_rdpsnd::server::{NegotiatedFormat, RdpsndError, RdpsndServer, RdpsndServerHandler};
use tokio::sync::mpsc;
use wayrail_audio::{AudioHub, Packet, PcmFormat, PACKET_DURATION};

use super::Session;
use crate::SessionId;

/// The PCM format of `pcm` as [MS-RDPEA] 2.2.2.1.1 spells it.
pub(crate) fn pcm_format(pcm: PcmFormat) -> AudioFormat {
    let block_align = pcm.channels * 2;
    AudioFormat {
        format: WaveFormat::PCM,
        n_channels: pcm.channels,
        n_samples_per_sec: pcm.rate,
        n_avg_bytes_per_sec: pcm.rate * u32::from(block_align),
        n_block_align: block_align,
        bits_per_sample: 16,
        data: None,
    }
}

/// IMA ADPCM at the sink's rate and channels, in blocks of about half a packet: a block is
/// 4 header bytes per channel and then 4 bytes per channel for each 8 frames, so it holds
/// 1 + 8k frames. At 44.1 kHz stereo a 20 ms packet is exactly two blocks of 441 frames;
/// short blocks keep what waits in the encoder for a whole block small.
pub(crate) fn adpcm_format(pcm: PcmFormat) -> AudioFormat {
    let channels = pcm.channels.max(1);
    let packet_frames = pcm.bytes_for(PACKET_DURATION) / pcm.bytes_per_frame();
    let target = (packet_frames / 2).max(9);
    let words = (target - 1).div_ceil(8);
    let block_align = 4 * channels * (1 + words as u16);
    ima_adpcm_format(channels, pcm.rate, block_align)
}

/// What the session offers, best first: PCM in the sink's format, and IMA ADPCM before or
/// after it as `[audio] codec` says for a client that is `local` or not.
pub(crate) fn offered_formats(hub: &AudioHub, local: bool) -> Vec<AudioFormat> {
    let (pcm, adpcm) = (pcm_format(hub.format()), adpcm_format(hub.format()));
    match hub.codec() {
        wayrail_audio::SoundCodec::Pcm => vec![pcm],
        codec if codec.prefers_adpcm(local) => vec![adpcm, pcm],
        _ => vec![pcm, adpcm],
    }
}

/// Of the formats both sides have, the first of `ours` (best first); None when the client
/// takes none of them.
pub(crate) fn choose<'a>(common: &'a [NegotiatedFormat], ours: &[AudioFormat]) -> Option<&'a NegotiatedFormat> {
    ours.iter().find_map(|o| common.iter().find(|f| f.format().matches_for_negotiation(o)))
}

/// How a format reads in the log and in `wayrail msg audio`.
fn describe(f: &AudioFormat) -> String {
    let name = match f.format {
        WaveFormat::PCM => "PCM",
        WaveFormat::DVI_ADPCM => "IMA ADPCM",
        _ => "other",
    };
    format!("{name} {} Hz {} ch {} bit", f.n_samples_per_sec, f.n_channels, f.bits_per_sample)
}

/// The encoder of the format the client took; None for PCM, which goes as it is.
pub(super) type SharedEncoder = Arc<Mutex<Option<BlockEncoder>>>;

/// How long the encoder may hold the start of a block with no sound coming after it before
/// the block is completed with silence and sent: three packets' time, so a reader that is a
/// little late never gets silence put into the middle of its sound.
pub(crate) const TAIL_FLUSH_AFTER: std::time::Duration = PACKET_DURATION.saturating_mul(3);

/// An ADPCM encoder and how many samples it holds back, waiting for a whole block. A packet
/// of 20 ms is not a whole number of blocks at every rate (at 48 kHz a block holds 481
/// frames), so the end of a sound can wait there; when no sound follows, [`Self::flush`] ends
/// that block with silence so it plays now, not before the next sound.
#[derive(Debug)]
pub(crate) struct BlockEncoder {
    encoder: AudioEncoder,
    /// Samples (frames × channels) of one block.
    block: usize,
    held: usize,
}

impl BlockEncoder {
    pub(crate) fn new(format: &AudioFormat) -> anyhow::Result<BlockEncoder> {
        let encoder = AudioEncoder::new(format).map_err(|e| anyhow::anyhow!("{e}"))?;
        let block = encoder.frames_per_block() * usize::from(format.n_channels.max(1));
        Ok(BlockEncoder { encoder, block, held: 0 })
    }

    /// Appends the blocks `samples` complete to `out`.
    pub(crate) fn encode(&mut self, samples: &[i16], out: &mut Vec<u8>) {
        self.encoder.encode(samples, out);
        self.held = (self.held + samples.len()) % self.block;
    }

    /// Whether the start of a block waits for more samples.
    pub(crate) fn holds_samples(&self) -> bool {
        self.held > 0
    }

    /// The held samples as a whole block, padded with silence; nothing when none are held.
    pub(crate) fn flush(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.held > 0 {
            self.encode(&vec![0; self.block - self.held], &mut out);
        }
        out
    }
}

/// The `rdpsnd` channel's side of the session: offers the formats, subscribes to the hub
/// when the client took one, counts confirms.
#[derive(Debug)]
pub(super) struct SoundHandler {
    hub: Arc<AudioHub>,
    session: SessionId,
    formats: Vec<AudioFormat>,
    queue: mpsc::Sender<Packet>,
    encoder: SharedEncoder,
}

impl SoundHandler {
    /// The channel for the acceptor, the queue the session reads the sound from, and the
    /// encoder the session sends it through. `local`: the client is on this machine.
    pub(super) fn channel(
        hub: Arc<AudioHub>,
        session: SessionId,
        local: bool,
    ) -> (RdpsndServer, mpsc::Receiver<Packet>, SharedEncoder) {
        let (queue, packets) = AudioHub::queue();
        let formats = offered_formats(&hub, local);
        let encoder = SharedEncoder::default();
        let handler = SoundHandler { hub, session, formats, queue, encoder: encoder.clone() };
        (RdpsndServer::new(Box::new(handler)), packets, encoder)
    }
}

impl RdpsndServerHandler for SoundHandler {
    fn get_formats(&self) -> &[AudioFormat] {
        &self.formats
    }

    fn choose_format<'a>(&mut self, common: &'a [NegotiatedFormat]) -> Option<&'a NegotiatedFormat> {
        choose(common, &self.formats)
    }

    fn start(&mut self, format: &NegotiatedFormat) -> Result<(), Box<dyn RdpsndError>> {
        let f = format.format();
        let described = describe(f);
        let encoder = match f.format {
            WaveFormat::PCM => None,
            // Only formats we offered get here, and we offer only what the encoder takes.
            _ => match BlockEncoder::new(f) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(session = self.session, format = described, "no encoder: {e}");
                    return Ok(());
                }
            },
        };
        *self.encoder.lock().unwrap_or_else(|e| e.into_inner()) = encoder;
        tracing::info!(session = self.session, format = described, "the client plays sound");
        self.hub.attach(self.session, self.queue.clone(), described);
        Ok(())
    }

    fn stop(&mut self) {
        self.hub.detach(self.session);
    }

    fn wave_confirm(&mut self, _block_no: u8, _timestamp: u16) {
        self.hub.confirmed();
    }
}

/// The session's sound: the hub (for the figures), when the stream's clock started, the
/// encoder of the client's format, and when the samples it holds back are due to be flushed.
pub(super) struct Sound {
    pub hub: Arc<AudioHub>,
    pub started: Instant,
    pub encoder: SharedEncoder,
    pub flush_at: Option<Instant>,
}

/// When the session's encoder should flush what it holds back; never without sound.
pub(super) fn flush_deadline(sound: &Option<Sound>) -> Option<Instant> {
    sound.as_ref().and_then(|s| s.flush_at)
}

/// The next packet for the session; pending for ever without sound.
pub(super) async fn next(packets: &mut Option<mpsc::Receiver<Packet>>) -> Option<Packet> {
    match packets {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// Sends a packet as one wave; a client that has not negotiated (yet) gets nothing.
    pub(super) async fn send_sound(&mut self, packet: Packet) -> anyhow::Result<()> {
        let Some(sound) = &self.sound else { return Ok(()) };
        // Fell behind (this thread was busy, or the socket was full): what is that old is
        // skipped, so that the host's sound keeps up with the apps instead of lagging more.
        if packet.read_at.elapsed() > wayrail_audio::MAX_SEND_LAG {
            sound.hub.late();
            return Ok(());
        }
        // The wave's timestamp: milliseconds on the stream's clock (it wraps, as the field does).
        let ts = sound.started.elapsed().as_millis() as u32;
        if !self.conn.channel_mut::<RdpsndServer>().is_some_and(|c| c.is_ready()) {
            return Ok(());
        }
        let bytes = packet.pcm.len();
        let (data, holds) = {
            let mut encoder = sound.encoder.lock().unwrap_or_else(|e| e.into_inner());
            match encoder.as_mut() {
                None => (packet.pcm, false),
                Some(encoder) => {
                    let samples: Vec<i16> =
                        packet.pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                    let mut out = Vec::with_capacity(bytes / 3);
                    encoder.encode(&samples, &mut out);
                    (out, encoder.holds_samples())
                }
            }
        };
        let sound = self.sound.as_mut().expect("checked above");
        sound.flush_at = holds.then(|| Instant::now() + TAIL_FLUSH_AFTER);
        if data.is_empty() {
            // Not a whole block yet: it goes with the next packet, or with silence after it.
            return Ok(());
        }
        self.send_wave(data, ts, packet.read_at).await
    }

    /// No sound followed what the encoder holds back: it goes now, as a block ended with silence.
    pub(super) async fn flush_sound(&mut self) -> anyhow::Result<()> {
        let Some(sound) = self.sound.as_mut() else { return Ok(()) };
        sound.flush_at = None;
        let ts = sound.started.elapsed().as_millis() as u32;
        let data = match sound.encoder.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(encoder) => encoder.flush(),
            None => Vec::new(),
        };
        if data.is_empty() {
            return Ok(());
        }
        tracing::trace!(session = self.id, bytes = data.len(), "the end of a sound, completed with silence");
        self.send_wave(data, ts, Instant::now()).await
    }

    /// Sends one wave of encoded (or PCM) data; `read_at`: when its first samples were read.
    async fn send_wave(&mut self, data: Vec<u8>, ts: u32, read_at: Instant) -> anyhow::Result<()> {
        let Some(sound) = &self.sound else { return Ok(()) };
        let hub = sound.hub.clone();
        let Some(channel) = self.conn.channel_mut::<RdpsndServer>() else { return Ok(()) };
        if !channel.is_ready() {
            return Ok(());
        }
        let wire = data.len();
        let messages = match channel.wave(data, ts) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(session = self.id, "a sound packet was not sent: {e}");
                return Ok(());
            }
        };
        self.conn.send_svc::<RdpsndServer>(messages.into()).await?;
        hub.sent(wire, read_at.elapsed());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_svc::SvcProcessor as _;
    use wayrail_audio::SoundCodec;
    use wayrail_rdp_testclient::sound::{channel, ima_adpcm, pcm, sound_client, zero_crossing_frequency};
    use wayrail_rdp_testclient::SharedSoundLog;

    /// The rdpsnd channel of a session against IronRDP's client that takes `formats`, the
    /// PDUs passed back and forth until neither side has more to say.
    struct Pair {
        hub: Arc<AudioHub>,
        server: RdpsndServer,
        client: ironrdp_rdpsnd::client::Rdpsnd,
        log: SharedSoundLog,
        encoder: SharedEncoder,
    }

    impl Pair {
        fn new(formats: Vec<AudioFormat>) -> Pair {
            Pair::with(formats, SoundCodec::Auto, true)
        }

        /// As `new`, with `[audio] codec` and a client that is on this machine or not.
        fn with(formats: Vec<AudioFormat>, codec: SoundCodec, local: bool) -> Pair {
            let hub = AudioHub::new(PcmFormat::new(44_100, 2));
            hub.set_codec(codec);
            let (server, _packets, encoder) = SoundHandler::channel(hub.clone(), 9, local);
            let (client, log) = sound_client(formats);
            let mut pair = Pair { hub, server, client, log, encoder };
            let start = pair.server.start().unwrap();
            pair.exchange(start);
            pair
        }

        fn exchange(&mut self, mut to_client: Vec<ironrdp_svc::SvcMessage>) {
            while !to_client.is_empty() {
                let mut to_server = Vec::new();
                for m in to_client {
                    to_server.extend(self.client.process(&m.encode_unframed_pdu().unwrap()).unwrap());
                }
                to_client = Vec::new();
                for m in to_server {
                    to_client.extend(self.server.process(&m.encode_unframed_pdu().unwrap()).unwrap());
                }
            }
        }
    }

    #[test]
    fn the_sinks_pcm_is_chosen_whatever_the_client_prefers_and_waves_are_confirmed() {
        let mut pair = Pair::new(vec![pcm(48_000, 2), pcm(22_050, 1), pcm(44_100, 2)]);
        assert!(pair.server.is_ready());
        let status = pair.hub.status();
        assert_eq!(status["session"], 9, "the session gets the sound once it negotiated");
        assert_eq!(status["client_format"], "PCM 44100 Hz 2 ch 16 bit");
        let wave = pair.server.wave(vec![7; 3528], 20).unwrap();
        pair.exchange(wave.into());
        let log = pair.log.lock();
        assert_eq!((log.waves, log.pcm.len(), log.timestamps.as_slice()), (1, 3528, &[20][..]));
        assert_eq!(log.format.as_ref().map(|f| f.n_samples_per_sec), Some(44_100));
        drop(log);
        assert_eq!(pair.hub.status()["wave_confirms"], 1);
        drop(pair.server);
        assert!(pair.hub.status()["session"].is_null(), "the channel's end ends the sound");
    }

    #[test]
    fn a_client_without_the_sinks_pcm_gets_no_sound() {
        let pair = Pair::new(vec![pcm(48_000, 2), pcm(44_100, 1)]);
        assert!(!pair.server.is_ready());
        assert!(pair.hub.status()["session"].is_null());
    }

    #[test]
    fn the_offer_is_the_sinks_pcm() {
        let f = pcm_format(PcmFormat::new(44_100, 2));
        assert_eq!(f.format, WaveFormat::PCM);
        assert_eq!((f.n_samples_per_sec, f.n_channels, f.bits_per_sample), (44_100, 2, 16));
        assert_eq!((f.n_block_align, f.n_avg_bytes_per_sec), (4, 176_400));
        let f = pcm_format(PcmFormat::new(48_000, 2));
        assert_eq!(f.n_avg_bytes_per_sec, 192_000);
    }

    /// A 20 ms packet of a 1 kHz tone at 44.1 kHz stereo, starting at frame `n`.
    fn tone_packet(n: usize) -> Vec<u8> {
        (n..n + 882)
            .flat_map(|i| {
                let v = (8_000.0 * (2.0 * std::f64::consts::PI * 1_000.0 * i as f64 / 44_100.0).sin()) as i16;
                let [a, b] = v.to_le_bytes();
                [a, b, a, b]
            })
            .collect()
    }

    #[test]
    fn a_client_across_a_network_gets_ima_adpcm_a_local_one_pcm() {
        let both = vec![pcm(44_100, 2), ima_adpcm(44_100, 2)];
        let remote = Pair::with(both.clone(), SoundCodec::Auto, false);
        assert_eq!(remote.hub.status()["client_format"], "IMA ADPCM 44100 Hz 2 ch 4 bit");
        assert!(remote.encoder.lock().unwrap().is_some());
        let local = Pair::with(both.clone(), SoundCodec::Auto, true);
        assert_eq!(local.hub.status()["client_format"], "PCM 44100 Hz 2 ch 16 bit");
        assert!(local.encoder.lock().unwrap().is_none());
        // Asked for: ADPCM for a local client too; never with `pcm`.
        let forced = Pair::with(both.clone(), SoundCodec::Adpcm, true);
        assert_eq!(forced.hub.status()["client_format"], "IMA ADPCM 44100 Hz 2 ch 4 bit");
        let plain = Pair::with(both, SoundCodec::Pcm, false);
        assert_eq!(plain.hub.status()["client_format"], "PCM 44100 Hz 2 ch 16 bit");
        // A client without ADPCM gets PCM whatever the setting.
        let pcm_only = Pair::with(vec![pcm(44_100, 2)], SoundCodec::Adpcm, false);
        assert_eq!(pcm_only.hub.status()["client_format"], "PCM 44100 Hz 2 ch 16 bit");
    }

    #[test]
    fn adpcm_waves_are_whole_blocks_a_quarter_of_the_bytes_and_decode_to_the_tone() {
        let format = adpcm_format(PcmFormat::new(44_100, 2));
        // Two blocks of 441 frames make one 20 ms packet at 44.1 kHz.
        assert_eq!(format.n_block_align, 448);
        let mut pair = Pair::with(vec![ima_adpcm(44_100, 2)], SoundCodec::Adpcm, false);
        let mut sent = 0;
        for k in 0..25 {
            let mut data = Vec::new();
            pair.encoder.lock().unwrap().as_mut().expect("an encoder").encode(
                &tone_packet(k * 882).chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect::<Vec<_>>(),
                &mut data,
            );
            assert_eq!(data.len(), 2 * 448, "packet {k}: whole blocks, nothing left waiting");
            sent += data.len();
            let wave = pair.server.wave(data, 20 * k as u32).unwrap();
            pair.exchange(wave.into());
        }
        assert_eq!(pair.log.lock().wire_bytes, sent as u64);
        assert!(sent * 3 < 25 * 882 * 4, "{sent} bytes for {} of PCM", 25 * 882 * 4);
        let left = channel(&pair.log.samples(), 2, 0);
        assert_eq!(left.len(), 25 * 882);
        let f = zero_crossing_frequency(&left, 44_100).unwrap();
        assert!((f - 1_000.0).abs() < 10.0, "{f} Hz");
        // Close to the original, sample by sample.
        let original: Vec<i16> = (0..25)
            .flat_map(|k| {
                channel(
                    &tone_packet(k * 882).chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect::<Vec<_>>(),
                    2,
                    0,
                )
            })
            .collect();
        // The encoder's step size starts small and takes a few milliseconds to reach the
        // tone's; from the second packet on, the error stays small.
        let error = |from: usize| {
            left[from..]
                .iter()
                .zip(&original[from..])
                .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
                .max()
                .unwrap()
        };
        eprintln!("largest error: {} overall, {} after the first packet", error(0), error(882));
        assert!(error(882) < 400, "largest error {} of 8000 after the first packet", error(882));
    }

    #[test]
    fn at_48_khz_the_end_of_a_sound_is_flushed_as_a_block_ended_with_silence() {
        // 960 frames a packet do not divide into blocks of 481: one block goes out, 479
        // frames wait for the next packet, and with none coming they go out padded.
        let format = adpcm_format(PcmFormat::new(48_000, 2));
        let mut encoder = BlockEncoder::new(&format).unwrap();
        let tone: Vec<i16> = (0..960)
            .flat_map(|i| {
                let v = (8_000.0 * (2.0 * std::f64::consts::PI * 1_000.0 * f64::from(i) / 48_000.0).sin()) as i16;
                [v, v]
            })
            .collect();
        let mut first = Vec::new();
        encoder.encode(&tone, &mut first);
        assert_eq!(first.len(), usize::from(format.n_block_align), "one whole block");
        assert!(encoder.holds_samples());
        let tail = encoder.flush();
        assert_eq!(tail.len(), usize::from(format.n_block_align), "the rest, as one block");
        assert!(!encoder.holds_samples());
        assert!(encoder.flush().is_empty(), "nothing twice");

        let mut decoder = ironrdp_rdpsnd::codec::AudioDecoder::new(&format).unwrap();
        let mut decoded = Vec::new();
        decoder.decode(&first, &mut decoded).unwrap();
        decoder.decode(&tail, &mut decoded).unwrap();
        assert_eq!(decoded.len(), 2 * 481 * 2, "two blocks of 481 stereo frames");
        let error = (200..960).map(|i| (i32::from(decoded[2 * i]) - i32::from(tone[2 * i])).abs()).max().unwrap();
        assert!(error < 400, "the whole sound arrives, the held frames too: largest error {error}");
    }

    #[test]
    fn which_peers_are_on_this_machine() {
        use super::super::connection::peer_is_local;
        for local in ["127.0.0.1:50000", "[::1]:3389", "[::ffff:127.0.0.1]:3389", "unix", "vsock:3:1234"] {
            assert!(peer_is_local(local), "{local}");
        }
        for remote in ["10.0.0.7:51234", "[2001:db8::1]:3389", "192.168.1.2:1"] {
            assert!(!peer_is_local(remote), "{remote}");
        }
    }
}
