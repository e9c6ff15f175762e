//! The server's side of the app-list channel as a state machine, without I/O: caps first,
//! the host's caps (its language) back, then the list — a full resync the first time
//! (SYNC_START … SYNC_END, after which the host drops whatever was not named), changes one by
//! one after that — window associations, and the provider's removal at shutdown. What it
//! decides to send waits in [`AppListChannel::take_output`].

use std::collections::{BTreeMap, HashMap};

use crate::codec::{
    self, field, AssociateWindowId, ClientPdu, DeleteAppList, IconData, ServerCaps, ServerPdu, UpdateAppList,
};
use crate::entries::{self, App};

/// An entry as the host is (to be) told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub app: App,
    pub icon: IconData,
}

/// What the channel tells the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppListEvent {
    /// The host answered the caps: the list may go, in its language (`de_DE`).
    HostReady { language: String },
    /// The host closed the channel.
    Closed,
}

/// The channel's state.
#[derive(Debug)]
pub struct AppListChannel {
    caps: ServerCaps,
    language: Option<String>,
    /// What the host has, by ID.
    sent: BTreeMap<String, Listed>,
    synced: bool,
    /// RemoteApp windows by id: their app id, and the entry they were associated with.
    windows: HashMap<u32, (String, Option<String>)>,
    output: Vec<ServerPdu>,
    events: Vec<AppListEvent>,
    /// Client PDUs that did not decode (skipped).
    pub malformed: u64,
}

/// Whether a provider name is one the host can use: it goes on a command line
/// (`wslg.exe -d <provider>`) and names a start-menu folder.
pub fn valid_provider_name(name: &str) -> bool {
    !name.is_empty()
        && codec::fits(name)
        && !name.contains("..")
        && !name.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'`/\\:*?<>|".contains(c))
}

impl AppListChannel {
    /// A channel for provider `name` (see [`valid_provider_name`]) with unique id `id` (a GUID
    /// without braces).
    pub fn new(name: &str, id: &str) -> Result<AppListChannel, String> {
        if !valid_provider_name(name) {
            return Err(format!("{name:?} cannot be a provider name (no spaces, quotes, `..` or path characters)"));
        }
        let guid = id.len() == 36
            && id
                .char_indices()
                .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
        if !guid {
            return Err(format!("{id:?} is not a GUID without braces"));
        }
        Ok(AppListChannel {
            caps: ServerCaps { version: codec::VERSION, provider_name: name.into(), provider_id: id.into() },
            language: None,
            sent: BTreeMap::new(),
            synced: false,
            windows: HashMap::new(),
            output: Vec::new(),
            events: Vec::new(),
            malformed: 0,
        })
    }

    pub fn provider_name(&self) -> &str {
        &self.caps.provider_name
    }

    /// The host's language, once it answered the caps.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// What the host has been sent and not told to drop, by ID.
    pub fn sent(&self) -> impl Iterator<Item = &Listed> {
        self.sent.values()
    }

    /// The channel opened: the server speaks first.
    pub fn opened(&mut self) {
        self.language = None;
        self.synced = false;
        self.sent.clear();
        for (_, entry) in self.windows.values_mut() {
            *entry = None;
        }
        self.output.push(ServerPdu::Caps(self.caps.clone()));
    }

    pub fn closed(&mut self) {
        self.language = None;
        self.synced = false;
        self.events.push(AppListEvent::Closed);
    }

    /// One message from the host. Malformed ones are logged and skipped, never fatal.
    pub fn receive(&mut self, bytes: &[u8]) {
        match ClientPdu::decode(bytes) {
            Ok(ClientPdu::Caps(caps)) if caps.version >= codec::VERSION => {
                let language = caps.language.trim().to_string();
                tracing::info!(version = caps.version, %language, "app list: the host answered");
                self.language = Some(language.clone());
                self.events.push(AppListEvent::HostReady { language });
            }
            Ok(ClientPdu::Caps(caps)) => {
                tracing::warn!(version = caps.version, "app list: the host's version is older than 4; no list");
            }
            Err(e) => {
                self.malformed += 1;
                tracing::warn!(bytes = bytes.len(), "app list: a malformed PDU from the host skipped: {e}");
            }
        }
    }

    /// Brings the host to `list`: the first time (after the host's caps) as one resync, then
    /// only what changed. Entries the wire cannot carry are left out with a log line.
    pub fn publish(&mut self, list: Vec<Listed>) {
        if self.language.is_none() {
            return;
        }
        let mut wanted = BTreeMap::new();
        for item in list {
            let a = &item.app;
            if !codec::fits(&a.id) || !codec::fits(&a.exec) || a.working_dir.as_deref().is_some_and(|w| !codec::fits(w))
            {
                tracing::warn!(id = %a.id, "app list: an ID, command or folder too long for the channel; left out");
                continue;
            }
            wanted.insert(a.id.clone(), item);
        }
        if !self.synced {
            self.synced = true;
            if wanted.is_empty() {
                self.output.push(ServerPdu::DeleteAppListProvider { name: self.caps.provider_name.clone() });
            }
            let last = wanted.len().saturating_sub(1);
            for (i, item) in wanted.values().enumerate() {
                let mut hints = field::HINT_NEWID | field::HINT_SYNC;
                if i == 0 {
                    hints |= field::HINT_SYNC_START;
                }
                if i == last {
                    hints |= field::HINT_SYNC_END;
                }
                self.output.push(update(item, hints));
            }
        } else {
            for id in self.sent.keys().filter(|id| !wanted.contains_key(*id)) {
                self.output.push(ServerPdu::DeleteAppList(DeleteAppList { id: id.clone(), group: None }));
            }
            for (id, item) in &wanted {
                match self.sent.get(id) {
                    None => self.output.push(update(item, field::HINT_NEWID)),
                    Some(old) if old != item => self.output.push(update(item, 0)),
                    Some(_) => {}
                }
            }
        }
        self.sent = wanted;
        // Windows whose entry changed or came go with their (new) entry.
        let ids: Vec<u32> = self.windows.keys().copied().collect();
        for window in ids {
            self.try_associate(window);
        }
    }

    /// A RemoteApp window with `app_id` is on the host (new, or its app id changed): it is
    /// associated with its entry, once per entry.
    pub fn window(&mut self, window: u32, app_id: &str) {
        let known = self.windows.entry(window).or_insert_with(|| (app_id.to_string(), None));
        if known.0 != app_id {
            *known = (app_id.to_string(), None);
        }
        self.try_associate(window);
    }

    pub fn window_gone(&mut self, window: u32) {
        self.windows.remove(&window);
    }

    fn try_associate(&mut self, window: u32) {
        if !self.synced {
            return;
        }
        let Some((app_id, done)) = self.windows.get(&window) else { return };
        let Some(item) = self.sent.values().find(|l| entries::window_matches(&l.app, app_id)) else { return };
        if done.as_deref() == Some(item.app.id.as_str()) {
            return;
        }
        let pdu = ServerPdu::AssociateWindowId(AssociateWindowId {
            window_id: window,
            id: item.app.id.clone(),
            group: None,
            exec_path: Some(item.app.exec.clone()),
            desc: Some(codec::truncate_to_fit(&item.app.name)),
        });
        let id = item.app.id.clone();
        tracing::info!(window, id = %id, "app list: window associated with its entry");
        self.output.push(pdu);
        if let Some(w) = self.windows.get_mut(&window) {
            w.1 = Some(id);
        }
    }

    /// The server goes away: the host removes the provider's entries.
    pub fn goodbye(&mut self) {
        if self.language.is_some() {
            self.output.push(ServerPdu::DeleteAppListProvider { name: self.caps.provider_name.clone() });
            self.sent.clear();
            self.synced = false;
        }
    }

    pub fn take_output(&mut self) -> Vec<ServerPdu> {
        std::mem::take(&mut self.output)
    }

    pub fn take_events(&mut self) -> Vec<AppListEvent> {
        std::mem::take(&mut self.events)
    }
}

fn update(item: &Listed, hints: u32) -> ServerPdu {
    let a = &item.app;
    ServerPdu::UpdateAppList(UpdateAppList {
        hints,
        id: a.id.clone(),
        group: None,
        exec_path: a.exec.clone(),
        working_dir: a.working_dir.clone(),
        desc: codec::truncate_to_fit(&a.name),
        icon: Some(item.icon.clone()),
    })
}

#[cfg(test)]
#[path = "channel_tests.rs"]
mod tests;
