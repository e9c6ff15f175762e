//! Sound to the host on the static `rdpsnd` channel ([MS-RDPEA]). The server offers PCM in
//! the sink's own format (s16, its rate, stereo), so samples pass unchanged; once the client
//! accepted it, the session takes the sound hub's packets and sends each as a Wave2 PDU.
//! Only a session that negotiated a format subscribes, and only the active one gets that
//! far, so a takeover moves the sound to the new client.

use std::sync::Arc;
use std::time::Instant;

use ironrdp_rdpsnd::pdu::{AudioFormat, WaveFormat};
use ironrdp_rdpsnd::server::{NegotiatedFormat, RdpsndError, RdpsndServer, RdpsndServerHandler};
use tokio::sync::mpsc;
use wayrail_audio::{AudioHub, Packet, PcmFormat};

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

/// Of the formats both sides have, the sink's own PCM; None when the client lacks it.
pub(crate) fn choose<'a>(common: &'a [NegotiatedFormat], sink: &AudioFormat) -> Option<&'a NegotiatedFormat> {
    common.iter().find(|f| f.format().matches_for_negotiation(sink))
}

/// The `rdpsnd` channel's side of the session: offers the format, subscribes to the hub
/// when the client took it, counts confirms.
#[derive(Debug)]
pub(super) struct SoundHandler {
    hub: Arc<AudioHub>,
    session: SessionId,
    formats: Vec<AudioFormat>,
    queue: mpsc::Sender<Packet>,
}

impl SoundHandler {
    /// The channel for the acceptor, and the queue the session reads the sound from.
    pub(super) fn channel(hub: Arc<AudioHub>, session: SessionId) -> (RdpsndServer, mpsc::Receiver<Packet>) {
        let (queue, packets) = AudioHub::queue();
        let formats = vec![pcm_format(hub.format())];
        (RdpsndServer::new(Box::new(SoundHandler { hub, session, formats, queue })), packets)
    }
}

impl RdpsndServerHandler for SoundHandler {
    fn get_formats(&self) -> &[AudioFormat] {
        &self.formats
    }

    fn choose_format<'a>(&mut self, common: &'a [NegotiatedFormat]) -> Option<&'a NegotiatedFormat> {
        choose(common, &self.formats[0])
    }

    fn start(&mut self, format: &NegotiatedFormat) -> Result<(), Box<dyn RdpsndError>> {
        let f = format.format();
        let described = format!("PCM {} Hz {} ch {} bit", f.n_samples_per_sec, f.n_channels, f.bits_per_sample);
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

/// The session's sound: the hub (for the figures) and when the stream's clock started.
pub(super) struct Sound {
    pub hub: Arc<AudioHub>,
    pub started: Instant,
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
        let hub = sound.hub.clone();
        let Some(channel) = self.conn.channel_mut::<RdpsndServer>() else { return Ok(()) };
        if !channel.is_ready() {
            return Ok(());
        }
        let bytes = packet.pcm.len();
        let messages = match channel.wave(packet.pcm, ts) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(session = self.id, "a sound packet was not sent: {e}");
                return Ok(());
            }
        };
        self.conn.send_svc::<RdpsndServer>(messages.into()).await?;
        hub.sent(bytes, packet.read_at.elapsed());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_svc::SvcProcessor as _;
    use wayrail_rdp_testclient::sound::{pcm, sound_client};
    use wayrail_rdp_testclient::SharedSoundLog;

    /// The rdpsnd channel of a session against IronRDP's client that takes `formats`, the
    /// PDUs passed back and forth until neither side has more to say.
    struct Pair {
        hub: Arc<AudioHub>,
        server: RdpsndServer,
        client: ironrdp_rdpsnd::client::Rdpsnd,
        log: SharedSoundLog,
    }

    impl Pair {
        fn new(formats: Vec<AudioFormat>) -> Pair {
            let hub = AudioHub::new(PcmFormat::new(44_100, 2));
            let (server, _packets) = SoundHandler::channel(hub.clone(), 9);
            let (client, log) = sound_client(formats);
            let mut pair = Pair { hub, server, client, log };
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
}
