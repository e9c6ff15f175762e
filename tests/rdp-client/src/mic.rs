//! The host's end of `AUDIO_INPUT` (its microphone): IronRDP's rdpeai client with a capture
//! handler whose "device" is the test: it injects PCM, which goes out as Data PDUs the next
//! time the test sends the queued messages ([`SharedMic::take_outgoing`]).

use ironrdp_rdpeai::client::{AudioPacketSink, RdpeaiCaptureHandler, RdpeaiClient};
use ironrdp_rdpsnd::pdu::AudioFormat;
use ironrdp_svc::SvcMessage;

/// What happened to the microphone.
#[derive(Default)]
pub struct MicState {
    /// The format and packet size of the open capture, while open.
    pub opened: Option<(AudioFormat, usize)>,
    pub opens: u32,
    pub closes: u32,
    sink: Option<AudioPacketSink>,
    /// Messages for the `drdynvc` channel, not sent yet.
    outgoing: Vec<SvcMessage>,
}

impl std::fmt::Debug for MicState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicState")
            .field("opened", &self.opened)
            .field("opens", &self.opens)
            .field("closes", &self.closes)
            .field("outgoing", &self.outgoing.len())
            .finish()
    }
}

/// The microphone's state, shared between the test and the client.
pub type SharedMic = crate::Shared<MicState>;

impl SharedMic {
    /// "Captures" `pcm`: whole packets of the open capture's size go out (queued for
    /// [`Self::take_outgoing`]); false while the microphone is closed.
    pub fn inject(&self, pcm: &[u8]) -> bool {
        let mut state = self.lock();
        let Some((_, size)) = state.opened.clone() else { return false };
        let Some(mut sink) = state.sink.take() else { return false };
        // The sink queues through the uplink, which takes the lock.
        drop(state);
        for packet in pcm.chunks(size) {
            sink(packet.to_vec());
        }
        let mut state = self.lock();
        if state.opened.is_some() {
            state.sink = Some(sink);
        }
        true
    }

    /// The queued messages for the `drdynvc` channel: send them with
    /// `TestClient::send_svc::<DrdynvcClient>`.
    pub fn take_outgoing(&self) -> Vec<SvcMessage> {
        std::mem::take(&mut self.lock().outgoing)
    }
}

struct Capture {
    formats: Vec<AudioFormat>,
    state: SharedMic,
}

impl RdpeaiCaptureHandler for Capture {
    fn supported_formats(&self) -> &[AudioFormat] {
        &self.formats
    }

    fn open(
        &mut self,
        _capture_format: &AudioFormat,
        encode_format: &AudioFormat,
        packet_size: usize,
        sink: AudioPacketSink,
    ) -> i32 {
        let mut state = self.state.lock();
        state.opened = Some((encode_format.clone(), packet_size));
        state.opens += 1;
        state.sink = Some(sink);
        0
    }

    fn set_format(&mut self, encode_format: &AudioFormat, packet_size: usize) -> bool {
        self.state.lock().opened = Some((encode_format.clone(), packet_size));
        true
    }

    fn close(&mut self) {
        let mut state = self.state.lock();
        state.opened = None;
        state.sink = None;
        state.closes += 1;
    }
}

/// The `AUDIO_INPUT` channel of a client whose microphone takes `formats`, and its state.
/// Attach it with `ClientBuilder::with_dynamic_channel`.
pub fn mic_client(formats: Vec<AudioFormat>) -> (RdpeaiClient, SharedMic) {
    let state = SharedMic::default();
    let outgoing = state.clone();
    let uplink = Box::new(move |_channel: u32, messages: Vec<SvcMessage>| {
        outgoing.lock().outgoing.extend(messages);
        Ok(())
    });
    (RdpeaiClient::new(Box::new(Capture { formats, state: state.clone() }), uplink), state)
}
