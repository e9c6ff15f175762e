//! The app list in a session: the `RemoteApplicationList` channel (`wayrail_applist`) on the
//! dynamic channels, a scanner thread started once the host answered its caps (in the host's
//! language), each list the scanner reads handed to the channel, RemoteApp windows associated
//! with their entries, and the provider removed from the host when wayrail shuts down.

use tokio::sync::mpsc;
use wayrail_applist::{AppListChannel, AppListConfig, AppListEvent, AppListServer, Listed, Scanner};

use super::Session;
use crate::RailCommand;

/// What reaches the session about the app list: the channel's events and the scanner's lists.
#[derive(Debug)]
pub(super) enum AppListMsg {
    Channel(AppListEvent),
    List(Vec<Listed>),
}

/// A session's app-list state beside its channel.
pub(super) struct AppList {
    config: Option<AppListConfig>,
    tx: mpsc::UnboundedSender<AppListMsg>,
    scanner: Option<Scanner>,
}

/// Registers the channel on the session's dynamic channels when the app list is on; returns
/// the session's state and where its messages arrive.
pub(super) fn register(
    dvcs: ironrdp_dvc::DrdynvcServer,
    config: Option<&AppListConfig>,
    session: crate::SessionId,
) -> (ironrdp_dvc::DrdynvcServer, AppList, mpsc::UnboundedReceiver<AppListMsg>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut state = AppList { config: None, tx: tx.clone(), scanner: None };
    let Some(config) = config else { return (dvcs, state, rx) };
    let channel = match AppListChannel::new(&config.provider, &wayrail_applist::provider_id(&config.provider)) {
        Ok(c) => c,
        Err(why) => {
            tracing::warn!(session, "no app list: {why}");
            return (dvcs, state, rx);
        }
    };
    state.config = Some(config.clone());
    let events = Box::new(move |event| drop(tx.send(AppListMsg::Channel(event))));
    (dvcs.with_dynamic_channel(AppListServer::new(channel, events)), state, rx)
}

impl Session {
    pub(super) async fn handle_applist(&mut self, msg: AppListMsg) -> anyhow::Result<()> {
        match msg {
            AppListMsg::Channel(AppListEvent::HostReady { language }) => {
                let Some(config) = self.applist.config.clone() else { return Ok(()) };
                if self.applist.scanner.is_none() {
                    let tx = self.applist.tx.clone();
                    match Scanner::spawn(config, Box::new(move |list| tx.send(AppListMsg::List(list)).is_ok())) {
                        Ok(s) => self.applist.scanner = Some(s),
                        Err(e) => {
                            tracing::warn!(session = self.id, "no app list: cannot start its thread: {e}");
                            return Ok(());
                        }
                    }
                }
                if let Some(scanner) = &self.applist.scanner {
                    scanner.set_language(&language);
                }
            }
            AppListMsg::Channel(AppListEvent::Closed) => self.applist.scanner = None,
            AppListMsg::List(list) => {
                let count = list.len();
                let sent = self
                    .conn
                    .with_dvc(|server: &mut AppListServer| {
                        server.channel_mut().publish(list);
                        wayrail_applist::report::record(server.channel());
                        let out = server.drain_output();
                        (out.len(), out)
                    })
                    .await?;
                if let Some(pdus) = sent.filter(|n| *n > 0) {
                    tracing::info!(session = self.id, entries = count, pdus, "app list sent to the host");
                }
            }
        }
        Ok(())
    }

    /// What a rail command means for the app list: a window with an app id (it came or
    /// changed), or one gone.
    pub(super) fn applist_window_of(&self, command: &RailCommand) -> Option<(u32, Option<String>)> {
        self.applist.config.as_ref()?;
        match command {
            RailCommand::Upsert(w) if !w.app_id.is_empty() => Some((w.id, Some(w.app_id.clone()))),
            RailCommand::Remove(id) => Some((*id, None)),
            _ => None,
        }
    }

    /// The host learns which entry a RemoteApp window belongs to.
    pub(super) async fn applist_window(&mut self, (window, app_id): (u32, Option<String>)) -> anyhow::Result<()> {
        self.conn
            .with_dvc(|server: &mut AppListServer| {
                match &app_id {
                    Some(app_id) => server.channel_mut().window(window, app_id),
                    None => server.channel_mut().window_gone(window),
                }
                ((), server.drain_output())
            })
            .await?;
        Ok(())
    }

    /// wayrail shuts down: the host drops this machine's entries.
    pub(super) async fn applist_goodbye(&mut self) {
        self.applist.scanner = None;
        let result = self
            .conn
            .with_dvc(|server: &mut AppListServer| {
                server.channel_mut().goodbye();
                wayrail_applist::report::record(server.channel());
                ((), server.drain_output())
            })
            .await;
        if let Err(e) = result {
            tracing::debug!(session = self.id, "app list goodbye not sent: {e:#}");
        }
    }
}
