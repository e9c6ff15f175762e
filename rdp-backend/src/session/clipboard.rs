//! The clipboard channel in a session: its data from the client, the compositor's
//! commands, and the timeout of a paste the host has not answered.

use std::time::Instant;

use super::Session;
use crate::clipboard::{ClipboardChannel, ClipboardState};
use crate::{ClipboardEvent, HostEvent};

impl Session {
    /// Called with every fragment of the clipboard channel before the channel reassembles
    /// it: false when the fragment is dropped (an oversized transfer).
    pub(super) fn screen_clipboard_fragment(&mut self, data: &[u8]) -> bool {
        self.clipboard.touch();
        self.conn.channel_mut::<ClipboardChannel>().is_some_and(|c| c.screen_fragment(data))
    }

    /// Runs a step of the clipboard state, then writes its PDUs and hands its events on.
    pub(super) async fn with_clipboard(
        &mut self,
        f: impl FnOnce(&mut ClipboardState, &mut ClipboardChannel, &mut Vec<ironrdp_svc::SvcMessage>) -> Vec<ClipboardEvent>,
    ) -> anyhow::Result<()> {
        let Some(id) = self.conn.channel_id::<ClipboardChannel>() else {
            return Ok(());
        };
        let mut out = Vec::new();
        let events = match self.conn.channel_mut::<ClipboardChannel>() {
            Some(channel) => f(&mut self.clipboard, channel, &mut out),
            None => Vec::new(),
        };
        for event in events {
            self.send_host(HostEvent::Clipboard(event));
        }
        self.conn.send_on(id, out).await
    }
}

/// Resolves when the clipboard request in flight times out; never when none is.
pub(super) async fn deadline(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
