//! The client's input (fast-path, and slow-path on the I/O channel) and the other
//! share-data PDUs of the I/O channel: shutdown, refresh, suppress output.

use ironrdp_core::decode;
use ironrdp_pdu::input::fast_path::FastPathInput;
use ironrdp_pdu::rdp::headers::{ShareControlHeader, ShareControlPdu, ShareDataPdu};

use super::Session;
use crate::HostEvent;

impl Session {
    pub(super) fn handle_fast_path_input(&mut self, frame: &[u8]) -> anyhow::Result<()> {
        let input: FastPathInput = decode(frame).map_err(|e| anyhow::anyhow!("malformed fast-path input: {e}"))?;
        let mut events = Vec::new();
        for event in input.input_events() {
            self.input.fast_path(event, &mut events);
        }
        self.send_all(events);
        Ok(())
    }

    /// Returns Some(reason) when the client ends the session.
    pub(super) fn handle_io_channel(&mut self, data: &[u8]) -> anyhow::Result<Option<String>> {
        let header: ShareControlHeader =
            decode(data).map_err(|e| anyhow::anyhow!("malformed share control PDU: {e}"))?;
        let ShareControlPdu::Data(data) = header.share_control_pdu else {
            tracing::debug!(session = self.id, "share control PDU ignored");
            return Ok(None);
        };
        match data.share_data_pdu {
            ShareDataPdu::Input(input) => {
                let mut events = Vec::new();
                for event in &input.0 {
                    self.input.slow_path(event, &mut events);
                }
                self.send_all(events);
            }
            ShareDataPdu::ShutdownRequest => return Ok(Some("the client asked to shut down".into())),
            ShareDataPdu::RefreshRectangle(_) => self.send_host(HostEvent::Refresh),
            ShareDataPdu::SuppressOutput(pdu) => {
                self.desktop.suppressed = pdu.desktop_rect.is_none();
                tracing::debug!(session = self.id, suppressed = self.desktop.suppressed, "suppress output");
                if !self.desktop.suppressed {
                    self.send_host(HostEvent::Refresh);
                }
            }
            other => tracing::trace!(session = self.id, "share data PDU ignored: {other:?}"),
        }
        Ok(None)
    }

    /// At the session's end: every key and button still held is released.
    pub(super) fn release_input(&mut self) {
        let mut released = Vec::new();
        self.input.release_all(&mut released);
        self.send_all(released);
    }

    fn send_all(&self, events: Vec<HostEvent>) {
        for event in events {
            self.send_host(event);
        }
    }
}
