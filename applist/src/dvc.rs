//! The app-list state machine as an IronRDP dynamic channel on the session's
//! `DrdynvcServer` (the way `wayrail_vail::GfxRedirServer` plugs in gfxredir). Host PDUs
//! arrive inside the drdynvc channel, out of the session's sight: what they cause reaches the
//! session through the event sink. What the session starts (a new list, a window) it does on
//! [`AppListServer::channel_mut`], then sends [`AppListServer::drain_output`].

use ironrdp_core::impl_as_any;
use ironrdp_dvc::{DvcMessage, DvcProcessor, DvcServerProcessor};
use ironrdp_pdu::PduResult;

use crate::channel::{AppListChannel, AppListEvent};
use crate::codec::{ServerPdu, CHANNEL_NAME};
pub use wayrail_dvc::EncodedPdu;

/// The name app-list PDUs carry in IronRDP's logs.
pub const PDU_NAME: &str = "RDPAPPLIST_PDU";

/// Where events go; called on the session's thread, inside DVC processing.
pub type EventSink = Box<dyn FnMut(AppListEvent) + Send>;

/// The server's `Microsoft::Windows::RDS::RemoteApplicationList` channel.
pub struct AppListServer {
    channel: AppListChannel,
    events: EventSink,
}

impl_as_any!(AppListServer);

impl AppListServer {
    pub fn new(channel: AppListChannel, events: EventSink) -> AppListServer {
        AppListServer { channel, events }
    }

    pub fn channel(&self) -> &AppListChannel {
        &self.channel
    }

    /// For lists, windows and the goodbye; send [`Self::drain_output`] afterwards.
    pub fn channel_mut(&mut self) -> &mut AppListChannel {
        &mut self.channel
    }

    /// The PDUs queued since the last call, as DVC messages (events go to the sink first).
    pub fn drain_output(&mut self) -> Vec<DvcMessage> {
        for event in self.channel.take_events() {
            (self.events)(event);
        }
        EncodedPdu::encode_all(PDU_NAME, "app list", self.channel.take_output(), |pdu| {
            pdu.encode().map_err(|e| format!("{}: {e}", ServerPdu::name(pdu)))
        })
    }
}

impl DvcProcessor for AppListServer {
    fn channel_name(&self) -> &str {
        CHANNEL_NAME
    }

    /// The server speaks first: its caps.
    fn start(&mut self, _channel_id: u32) -> PduResult<Vec<DvcMessage>> {
        self.channel.opened();
        Ok(self.drain_output())
    }

    /// Never an error: a malformed PDU is logged and skipped.
    fn process(&mut self, _channel_id: u32, payload: &[u8]) -> PduResult<Vec<DvcMessage>> {
        let malformed = self.channel.malformed;
        self.channel.receive(payload);
        if self.channel.malformed != malformed {
            crate::report::record(&self.channel);
        }
        Ok(self.drain_output())
    }

    fn close(&mut self, _channel_id: u32) {
        self.channel.closed();
        let _ = self.drain_output();
    }
}

impl DvcServerProcessor for AppListServer {}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::codec::{ClientCaps, ClientPdu};

    #[test]
    fn caps_on_open_and_events_to_the_sink() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let channel = AppListChannel::new("wayrail", "8e1b2a7c-0f3d-4c7a-9d2e-5b6a7c8d9e0f").unwrap();
        let mut server = AppListServer::new(channel, Box::new(move |e| sink.lock().unwrap().push(e)));
        assert_eq!(server.channel_name(), "Microsoft::Windows::RDS::RemoteApplicationList");
        let hello = server.start(5).unwrap();
        assert_eq!(hello.len(), 1, "the server's caps");
        let caps = ClientPdu::Caps(ClientCaps { version: 4, language: "en_US".into() }).encode().unwrap();
        assert!(server.process(5, &caps).unwrap().is_empty());
        assert!(server.process(5, b"garbage").unwrap().is_empty(), "malformed input is no error");
        server.close(5);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![AppListEvent::HostReady { language: "en_US".into() }, AppListEvent::Closed]
        );
    }
}
