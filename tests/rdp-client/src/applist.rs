//! The host's end of the app list (`Microsoft::Windows::RDS::RemoteApplicationList`), as
//! WSL's Windows plugin plays it: it answers the server's caps with its language (only to
//! version 4 or more), keeps the start menu the server describes (a resync drops what it did
//! not name), and records every PDU with the time it came, so tests can assert on entries,
//! icons, associations and latencies. No open-source client speaks this channel.

use std::collections::BTreeMap;
use wayrail_dvc::EncodedPdu;

const PDU: &str = wayrail_applist::dvc::PDU_NAME;

use std::time::Instant;

use ironrdp_core::impl_as_any;
use ironrdp_dvc::{DvcClientProcessor, DvcMessage, DvcProcessor};
use ironrdp_pdu::PduResult;
use wayrail_applist::codec::{
    self, field, AssociateWindowId, ClientCaps, ClientPdu, ServerCaps, ServerPdu, UpdateAppList,
};

/// What the host saw; shared between the channel and the test.
#[derive(Debug, Default)]
pub struct AppListHostState {
    /// The server's caps.
    pub caps: Option<ServerCaps>,
    /// The start menu now, by id.
    pub menu: BTreeMap<String, UpdateAppList>,
    /// Every PDU, with when it came.
    pub log: Vec<(Instant, ServerPdu)>,
    pub associations: Vec<AssociateWindowId>,
    /// Resyncs completed (SYNC_END seen).
    pub syncs: u32,
    /// The provider was deleted (the server went away).
    pub provider_deleted: bool,
    /// What the server got wrong.
    pub problems: Vec<String>,
    /// Ids named in the resync going on.
    syncing: Option<Vec<String>>,
}

impl AppListHostState {
    fn handle(&mut self, pdu: ServerPdu, language: &str) -> Vec<Vec<u8>> {
        self.log.push((Instant::now(), pdu.clone()));
        match pdu {
            ServerPdu::Caps(caps) => {
                let answer = caps.version >= codec::VERSION;
                self.caps = Some(caps);
                if answer {
                    let reply = ClientPdu::Caps(ClientCaps { version: codec::VERSION, language: language.into() });
                    return vec![reply.encode().expect("the client's caps encode")];
                }
            }
            ServerPdu::UpdateAppList(u) => {
                if u.hints & field::HINT_SYNC_START != 0 {
                    self.syncing = Some(Vec::new());
                }
                if u.hints & field::HINT_SYNC != 0 {
                    match self.syncing.as_mut() {
                        Some(ids) => ids.push(u.id.clone()),
                        None => self.problems.push(format!("{}: SYNC outside a resync", u.id)),
                    }
                }
                let end = u.hints & field::HINT_SYNC_END != 0;
                self.menu.insert(u.id.clone(), u);
                if end {
                    let named = self.syncing.take().unwrap_or_default();
                    self.menu.retain(|id, _| named.contains(id));
                    self.syncs += 1;
                }
            }
            ServerPdu::DeleteAppList(d) => {
                if self.menu.remove(&d.id).is_none() {
                    self.problems.push(format!("delete of {}, which the host does not have", d.id));
                }
            }
            ServerPdu::DeleteAppListProvider { .. } => {
                self.menu.clear();
                self.provider_deleted = true;
            }
            ServerPdu::AssociateWindowId(a) => self.associations.push(a),
        }
        Vec::new()
    }
}

pub type SharedAppListHost = crate::Shared<AppListHostState>;

/// The host's `RemoteApplicationList` channel.
pub struct AppListHost {
    /// Sent in the caps answer (`en_US`, `de_DE`).
    pub language: String,
    state: SharedAppListHost,
}

impl_as_any!(AppListHost);

impl AppListHost {
    pub fn new(language: &str) -> AppListHost {
        AppListHost { language: language.into(), state: SharedAppListHost::default() }
    }

    pub fn state(&self) -> SharedAppListHost {
        self.state.clone()
    }
}

impl DvcProcessor for AppListHost {
    fn channel_name(&self) -> &str {
        codec::CHANNEL_NAME
    }

    /// The server speaks first.
    fn start(&mut self, _channel_id: u32) -> PduResult<Vec<DvcMessage>> {
        Ok(Vec::new())
    }

    fn process(&mut self, _channel_id: u32, payload: &[u8]) -> PduResult<Vec<DvcMessage>> {
        let mut state = self.state.lock();
        match ServerPdu::decode(payload) {
            Ok(pdu) => Ok(EncodedPdu::messages(PDU, state.handle(pdu, &self.language))),
            Err(e) => {
                state.problems.push(format!("undecodable PDU from the server: {e}"));
                Ok(Vec::new())
            }
        }
    }
}

impl DvcClientProcessor for AppListHost {}

impl crate::TestClient {
    /// Sends `payloads` as they are on the app-list channel, one DVC message each.
    pub async fn send_applist(&mut self, payloads: Vec<Vec<u8>>) -> anyhow::Result<()> {
        self.send_dvc::<AppListHost>(PDU, payloads).await
    }
}
