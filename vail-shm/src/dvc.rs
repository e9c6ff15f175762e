//! The gfxredir state machine as an IronRDP dynamic channel, registered on the session's
//! `DrdynvcServer` beside EGFX and display control.
//!
//! Host PDUs arrive through `DvcProcessor::process` inside the drdynvc channel, out of the
//! session's sight, so what they cause reaches the session through the event sink given to
//! [`GfxRedirServer::new`] (the session's style: EGFX's handler sends into an unbounded
//! channel the session loop selects on). What the session starts (windows, presents) it does
//! on [`GfxRedirServer::channel_mut`] and then sends [`GfxRedirServer::drain_output`] on the
//! channel, as it does with the graphics pipeline's `drain_output`.

use std::path::PathBuf;

use ironrdp_core::impl_as_any;
use ironrdp_dvc::{DvcMessage, DvcProcessor, DvcServerProcessor};
use ironrdp_pdu::PduResult;

use crate::channel::{VailChannel, VailEvent};
use crate::codec::{Pdu, CHANNEL_NAME};
pub use wayrail_dvc::EncodedPdu;

/// The name gfxredir PDUs carry in IronRDP's logs.
pub const PDU_NAME: &str = "GFXREDIR_PDU";

/// Where events go; called on the session's thread, inside DVC processing.
pub type EventSink = Box<dyn FnMut(VailEvent) + Send>;

/// The server's `Microsoft::Windows::RDS::RemoteAppGraphicsRedirection` channel.
pub struct GfxRedirServer {
    channel: VailChannel,
    events: EventSink,
}

impl_as_any!(GfxRedirServer);

impl GfxRedirServer {
    /// A channel whose pools go to `dir` and whose events go to `events`.
    pub fn new(dir: PathBuf, events: EventSink) -> GfxRedirServer {
        GfxRedirServer { channel: VailChannel::new(dir), events }
    }

    /// Registers the windows' pools in `pools` for the compositor's direct writes.
    pub fn with_direct_pools(mut self, pools: crate::channel::DirectPools) -> GfxRedirServer {
        self.channel.set_direct_pools(pools);
        self
    }

    pub fn channel(&self) -> &VailChannel {
        &self.channel
    }

    /// For windows and presents; send [`Self::drain_output`] afterwards.
    pub fn channel_mut(&mut self) -> &mut VailChannel {
        &mut self.channel
    }

    /// The PDUs queued since the last call, as DVC messages; events the calls caused (a
    /// present ended by a resize, say) go to the sink first.
    pub fn drain_output(&mut self) -> Vec<DvcMessage> {
        self.flush_events();
        encode_all(self.channel.take_output())
    }

    fn flush_events(&mut self) {
        for event in self.channel.take_events() {
            (self.events)(event);
        }
    }
}

/// PDUs the codec cannot encode are our own bug; they are logged and left out rather than
/// ending the session.
fn encode_all(pdus: Vec<Pdu>) -> Vec<DvcMessage> {
    EncodedPdu::encode_all(PDU_NAME, "gfxredir", pdus, |pdu| pdu.encode().map_err(|e| format!("{}: {e}", pdu.name())))
}

impl DvcProcessor for GfxRedirServer {
    fn channel_name(&self) -> &str {
        CHANNEL_NAME
    }

    /// The host speaks first (its caps).
    fn start(&mut self, _channel_id: u32) -> PduResult<Vec<DvcMessage>> {
        Ok(Vec::new())
    }

    /// Never an error: a malformed PDU is counted and skipped, so a host cannot end the session
    /// or hurt other windows through this channel.
    fn process(&mut self, _channel_id: u32, payload: &[u8]) -> PduResult<Vec<DvcMessage>> {
        self.channel.receive(payload);
        Ok(self.drain_output())
    }

    fn close(&mut self, _channel_id: u32) {
        self.channel.closed();
        self.flush_events();
    }
}

impl DvcServerProcessor for GfxRedirServer {}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::codec::CapsSet;

    fn encoded(messages: &[DvcMessage]) -> Vec<Vec<u8>> {
        messages.iter().map(|m| ironrdp_core::encode_vec(m.as_ref()).unwrap()).collect()
    }

    #[test]
    fn answers_caps_and_hands_events_to_the_sink() {
        let d = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let mut server = GfxRedirServer::new(d.path().to_owned(), Box::new(move |e| sink.lock().unwrap().push(e)));
        assert_eq!(server.channel_name(), "Microsoft::Windows::RDS::RemoteAppGraphicsRedirection");
        assert!(server.start(3).unwrap().is_empty(), "the host speaks first");

        let advertise = Pdu::CapsAdvertise(vec![CapsSet::v2(0)]).encode().unwrap();
        let out = server.process(3, &advertise).unwrap();
        assert_eq!(encoded(&out), vec![Pdu::CapsConfirm(CapsSet::v2(0)).encode().unwrap()]);
        assert_eq!(*seen.lock().unwrap(), vec![VailEvent::Ready { version: 0x2000 }]);

        server.channel_mut().open_window(1, 4, 4).unwrap();
        let id = server.channel_mut().present(1, crate::Rect::new(0, 0, 4, 4), (4, 4), true).unwrap();
        assert_eq!(server.drain_output().len(), 3, "OpenPool, CreateBuffer, PresentBuffer");
        assert!(server.process(3, b"garbage").unwrap().is_empty(), "malformed input is no error");

        server.close(3);
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&VailEvent::PresentDone { window_id: 1, present_id: id, acked: false })
        );
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "the pools are gone");
    }
}
