//! The host's microphone on the `AUDIO_INPUT` dynamic channel ([MS-RDPEAI]), open only while
//! an app records: when the sound hub says one does, the active session creates the channel,
//! offers PCM in the source's format (s16 mono), and once the client took it asks it to open
//! its microphone (10 ms packets); the samples go into the source's FIFO. When the last app
//! stops recording the session closes the channel, and the client its microphone.

use std::sync::Arc;

use ironrdp_dvc::encode_dvc_messages;
use ironrdp_pdu::PduError;
use ironrdp_rdpeai::server::{RdpeaiServer, RdpeaiServerBackend};
use ironrdp_rdpsnd::pdu::AudioFormat;
use ironrdp_svc::ChannelFlags;
use tokio::sync::{mpsc, watch};
use wayrail_audio::Microphone;

use super::Session;
use crate::reassembly::CappedDrdynvc;

/// What the channel's processor tells the session, with the id of the channel it belongs to.
#[derive(Debug)]
pub(super) struct MicEvent {
    channel: u32,
    /// The formats both sides have, in the client's order (what Open indexes).
    negotiated: Vec<AudioFormat>,
}

struct MicBackend {
    channel: u32,
    formats: Vec<AudioFormat>,
    mic: Arc<Microphone>,
    events: mpsc::UnboundedSender<MicEvent>,
}

impl RdpeaiServerBackend for MicBackend {
    fn supported_formats(&self) -> &[AudioFormat] {
        &self.formats
    }

    fn on_formats_negotiated(&mut self, negotiated: &[AudioFormat]) {
        let _ = self.events.send(MicEvent { channel: self.channel, negotiated: negotiated.to_vec() });
    }

    fn on_open_reply(&mut self, result: i32) {
        match result {
            0.. => tracing::info!(channel = self.channel, "the client opened its microphone"),
            _ => tracing::warn!(channel = self.channel, result, "the client could not open its microphone"),
        }
    }

    fn on_audio_data(&mut self, _format: &AudioFormat, data: &[u8]) {
        // The one format offered: the source's own PCM, passed on as it is.
        self.mic.write(data);
    }
}

/// A session's side of the microphone.
pub(super) struct MicInput {
    mic: Arc<Microphone>,
    recording: watch::Receiver<bool>,
    /// The `AUDIO_INPUT` channel while it is open.
    channel: Option<u32>,
    events_tx: mpsc::UnboundedSender<MicEvent>,
    events: mpsc::UnboundedReceiver<MicEvent>,
}

/// What woke the session about the microphone.
pub(super) enum MicWake {
    Recording(bool),
    Event(MicEvent),
}

impl MicInput {
    pub(super) fn new(mic: Arc<Microphone>) -> MicInput {
        let mut recording = mic.recording();
        // An app that records already gets the new client's microphone at once.
        recording.mark_changed();
        let (events_tx, events) = mpsc::unbounded_channel();
        MicInput { mic, recording, channel: None, events_tx, events }
    }
}

/// The next thing about the microphone; pending for ever without one.
pub(super) async fn next(input: &mut Option<MicInput>) -> Option<MicWake> {
    let Some(input) = input else { return std::future::pending().await };
    tokio::select! {
        changed = input.recording.changed() => match changed {
            Ok(()) => Some(MicWake::Recording(*input.recording.borrow_and_update())),
            Err(_) => std::future::pending().await,
        },
        Some(event) = input.events.recv() => Some(MicWake::Event(event)),
    }
}

/// The source's PCM as [MS-RDPEA] 2.2.2.1.1 spells it.
fn pcm_format(mic: &Microphone) -> AudioFormat {
    super::audio::pcm_format(mic.format())
}

impl Session {
    pub(super) async fn on_mic(&mut self, wake: MicWake) -> anyhow::Result<()> {
        let Some(drdynvc_id) = self.conn.channel_id::<CappedDrdynvc>() else { return Ok(()) };
        let active = self.active.get() == Some(self.id);
        let Some(input) = &mut self.mic else { return Ok(()) };
        let Some(drdynvc) = self.conn.channel_mut::<CappedDrdynvc>().map(|c| &mut c.inner) else {
            return Ok(());
        };
        let message = match wake {
            MicWake::Recording(true) if input.channel.is_none() && active => {
                let formats = vec![pcm_format(&input.mic)];
                let (mic, events) = (input.mic.clone(), input.events_tx.clone());
                let mut id = 0;
                let request = drdynvc.create_channel_with(|channel| {
                    id = channel;
                    let backend = MicBackend { channel, formats, mic, events };
                    Ok::<_, PduError>(RdpeaiServer::new(Box::new(backend)))
                })?;
                tracing::info!(session = self.id, channel = id, "opening the client's microphone channel");
                input.channel = Some(id);
                vec![request]
            }
            MicWake::Recording(false) => match input.channel.take().and_then(|id| drdynvc.close_channel(id)) {
                Some(close) => {
                    tracing::info!(session = self.id, "nobody records: closing the client's microphone channel");
                    vec![close]
                }
                None => return Ok(()),
            },
            MicWake::Recording(_) => return Ok(()),
            MicWake::Event(event) if Some(event.channel) != input.channel => return Ok(()),
            MicWake::Event(MicEvent { channel, negotiated }) => {
                let ours = pcm_format(&input.mic);
                let Some(index) = negotiated.iter().position(|f| f.matches_for_negotiation(&ours)) else {
                    tracing::warn!(session = self.id, "the client's microphone has no PCM in the source's format");
                    return Ok(());
                };
                let Some(mut dvc) = drdynvc.dvc_by_id_mut::<RdpeaiServer>(channel) else { return Ok(()) };
                // 10 ms a packet.
                let frames = input.mic.format().rate / 100;
                let open = dvc.processor_mut().open(frames, index as u32, ours)?;
                encode_dvc_messages(channel, open, ChannelFlags::SHOW_PROTOCOL)?
            }
        };
        self.conn.send_on(drdynvc_id, message).await
    }
}
