//! A session's queue as the server loop sees it: handing a command over never waits. What
//! the session's channel has no room for waits in a backlog that a forwarder task of the
//! session feeds into the channel as the session takes them; in the backlog, a newer window
//! state replaces an older one (the latest Upsert or icon of a window, the latest z-order),
//! and a backlog over `Limits::max_queued_bytes` ends the session (its client reads too slowly to
//! be served; the next session is told everything again).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use tokio::sync::{mpsc, watch, Notify};

use super::{FrameSink as _, SessionCmd};
use crate::clipboard::{ClipboardCommand, ClipboardEvent, FormatKind};
use crate::{HostEvent, RailCommand, SessionId};

/// The room of a session's channel; more waits in the backlog.
pub(crate) const CHANNEL_ROOM: usize = 64;

pub(crate) struct SessionQueue {
    id: SessionId,
    tx: mpsc::Sender<SessionCmd>,
    backlog: Rc<Backlog>,
    /// A backlog that weighs more ends the session.
    max_bytes: usize,
    stop: watch::Sender<Option<String>>,
}

#[derive(Default)]
struct Backlog {
    items: RefCell<VecDeque<SessionCmd>>,
    /// What `items` weigh together (see [`weight`]).
    bytes: Cell<usize>,
    wake: Notify,
}

impl SessionQueue {
    /// A queue for session `id`: the receiver of its channel and its stop signal go to the
    /// session; the forwarder runs on the current `LocalSet`.
    pub fn new(
        id: SessionId,
        max_bytes: usize,
        host: calloop::channel::Sender<HostEvent>,
    ) -> (SessionQueue, mpsc::Receiver<SessionCmd>, watch::Receiver<Option<String>>) {
        let (tx, rx) = mpsc::channel(CHANNEL_ROOM);
        let (stop, stop_rx) = watch::channel(None);
        let backlog = Rc::new(Backlog::default());
        tokio::task::spawn_local(forward(tx.clone(), backlog.clone(), host));
        (SessionQueue { id, tx, backlog, max_bytes, stop }, rx, stop_rx)
    }

    /// Hands `cmd` to the session without waiting; gives it back when the session is over
    /// (or being ended).
    pub fn deliver(&self, cmd: SessionCmd) -> Result<(), SessionCmd> {
        if self.tx.is_closed() || self.stop.borrow().is_some() {
            return Err(cmd);
        }
        let frame = matches!(cmd, SessionCmd::Frame(_) | SessionCmd::WindowFrame(_));
        let cmd = if self.backlog.items.borrow().is_empty() {
            match self.tx.try_send(cmd) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Closed(cmd)) => return Err(cmd),
                Err(mpsc::error::TrySendError::Full(cmd)) => cmd,
            }
        } else {
            cmd
        };
        if frame {
            // A frame for a session that is behind is done at once: the next one the
            // compositor sends carries its damage again.
            return Err(cmd);
        }
        self.backlog.push(cmd);
        self.backlog.wake.notify_one();
        let bytes = self.backlog.bytes.get();
        if bytes > self.max_bytes {
            let why = format!(
                "the client reads too slowly: {} commands ({bytes} bytes) wait for it, over the limit of {}",
                self.backlog.items.borrow().len(),
                self.max_bytes
            );
            tracing::warn!(session = self.id, "ending the session: {why}");
            self.stop(why);
        }
        Ok(())
    }

    /// Ends the session at once, even in the middle of a write.
    pub fn stop(&self, why: String) {
        self.stop.send_replace(Some(why));
    }
}

impl Backlog {
    /// Appends `cmd`, or puts it in the place of the older state it replaces.
    fn push(&self, cmd: SessionCmd) {
        let mut items = self.items.borrow_mut();
        let weight = weight(&cmd);
        let replaced = match &cmd {
            SessionCmd::Rail(RailCommand::Stacking { .. }) => {
                // Only the latest z-order matters; it goes last, after the windows it names.
                let mut freed = 0;
                items.retain(|c| {
                    let old = matches!(c, SessionCmd::Rail(RailCommand::Stacking { .. }));
                    if old {
                        freed += self::weight(c);
                    }
                    !old
                });
                self.bytes.set(self.bytes.get() - freed);
                None
            }
            SessionCmd::Rail(RailCommand::Upsert(w)) => {
                // The window's latest Upsert, unless it was removed after it.
                latest(&items, |c| match c {
                    SessionCmd::Rail(RailCommand::Upsert(o)) if o.id == w.id => Some(true),
                    SessionCmd::Rail(RailCommand::Remove(id)) if *id == w.id => Some(false),
                    _ => None,
                })
            }
            SessionCmd::Rail(RailCommand::Icon { window, big, .. }) => latest(&items, |c| match c {
                SessionCmd::Rail(RailCommand::Icon { window: w, big: b, .. }) if w == window && b == big => Some(true),
                SessionCmd::Rail(RailCommand::Remove(id)) if id == window => Some(false),
                _ => None,
            }),
            _ => None,
        };
        match replaced {
            Some(i) => {
                let old = std::mem::replace(&mut items[i], cmd);
                self.bytes.set(self.bytes.get() - self::weight(&old) + weight);
            }
            None => {
                items.push_back(cmd);
                self.bytes.set(self.bytes.get() + weight);
            }
        }
    }

    fn pop(&self) -> Option<SessionCmd> {
        let cmd = self.items.borrow_mut().pop_front()?;
        self.bytes.set(self.bytes.get() - weight(&cmd));
        Some(cmd)
    }
}

/// The index of the last command `judge` has a say on, when it says it may be replaced.
fn latest(items: &VecDeque<SessionCmd>, judge: impl Fn(&SessionCmd) -> Option<bool>) -> Option<usize> {
    items
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, c)| judge(c).map(|replace| (i, replace)))
        .and_then(|(i, r)| r.then_some(i))
}

/// About what a command holds in memory.
fn weight(cmd: &SessionCmd) -> usize {
    let tiles = |tiles: &[crate::Tile]| tiles.iter().map(|t| t.bgra.len() + 16).sum::<usize>();
    128 + match cmd {
        SessionCmd::Frame(f) => tiles(&f.tiles),
        SessionCmd::WindowFrame(f) => tiles(&f.tiles),
        SessionCmd::Rail(RailCommand::Icon { bgra, .. }) => bgra.len(),
        SessionCmd::Rail(RailCommand::Upsert(w)) => w.title.len(),
        SessionCmd::Rail(RailCommand::Stacking { top_first, .. }) => top_first.len() * 4,
        SessionCmd::Rail(RailCommand::AppId { app_id, executable, .. }) => app_id.len() + executable.len(),
        SessionCmd::Clipboard(ClipboardCommand::LinuxData { result: Ok(data), .. }) => data.len(),
        SessionCmd::Clipboard(ClipboardCommand::Offer { mimes }) => mimes.iter().map(String::len).sum(),
        _ => 0,
    }
}

/// Feeds the backlog into the session's channel, one command as the session takes one;
/// when the session is over, what is left is undone.
async fn forward(tx: mpsc::Sender<SessionCmd>, backlog: Rc<Backlog>, host: calloop::channel::Sender<HostEvent>) {
    loop {
        let Some(cmd) = backlog.pop() else {
            tokio::select! {
                () = backlog.wake.notified() => continue,
                () = tx.closed() => break,
            }
        };
        if let Err(mpsc::error::SendError(cmd)) = tx.send(cmd).await {
            undeliverable(cmd, &host);
            break;
        }
    }
    while let Some(cmd) = backlog.pop() {
        undeliverable(cmd, &host);
    }
}

/// A command no session takes: a frame is done at once (so the apps never wait for it), a
/// paste fails now instead of waiting; window changes need nothing, as a new session is
/// told every window.
pub(crate) fn undeliverable(cmd: SessionCmd, host: &calloop::channel::Sender<HostEvent>) {
    match cmd {
        SessionCmd::Frame(f) => host.frame_done(f.frame),
        SessionCmd::WindowFrame(f) => host.frame_done(f.frame),
        SessionCmd::Clipboard(ClipboardCommand::Request { id, mime }) => {
            let result = Err("no RDP session".to_owned());
            let _ = host.send(HostEvent::Clipboard(ClipboardEvent::HostData {
                id,
                kind: FormatKind::UnicodeText,
                mime,
                result,
            }));
        }
        SessionCmd::Rail(_) | SessionCmd::Clipboard(_) | SessionCmd::Stop(_) | SessionCmd::Shutdown => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RemoteWindow;

    fn upsert(id: u32, title: &str) -> SessionCmd {
        SessionCmd::Rail(RailCommand::Upsert(RemoteWindow { id, title: title.into(), ..RemoteWindow::default() }))
    }

    fn icon(window: u32, byte: u8) -> SessionCmd {
        SessionCmd::Rail(RailCommand::Icon { window, big: true, size: 2, bgra: vec![byte; 16] })
    }

    fn stacking(top_first: Vec<u32>) -> SessionCmd {
        SessionCmd::Rail(RailCommand::Stacking { top_first, active: None })
    }

    fn drain(backlog: &Backlog) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(cmd) = backlog.pop() {
            out.push(match cmd {
                SessionCmd::Rail(RailCommand::Upsert(w)) => format!("upsert {} {}", w.id, w.title),
                SessionCmd::Rail(RailCommand::Remove(id)) => format!("remove {id}"),
                SessionCmd::Rail(RailCommand::Icon { window, bgra, .. }) => format!("icon {window} {}", bgra[0]),
                SessionCmd::Rail(RailCommand::Stacking { top_first, .. }) => format!("stacking {top_first:?}"),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(backlog.bytes.get(), 0, "the weights add up");
        out
    }

    #[test]
    fn the_latest_state_of_a_window_replaces_the_older_in_its_place() {
        let backlog = Backlog::default();
        backlog.push(upsert(1, "a"));
        backlog.push(icon(1, 1));
        backlog.push(upsert(2, "b"));
        backlog.push(stacking(vec![2, 1]));
        backlog.push(upsert(1, "a2"));
        backlog.push(icon(1, 2));
        backlog.push(stacking(vec![1, 2]));
        assert_eq!(drain(&backlog), ["upsert 1 a2", "icon 1 2", "upsert 2 b", "stacking [1, 2]"]);
    }

    #[test]
    fn a_window_removed_in_between_is_not_merged_across_its_removal() {
        let backlog = Backlog::default();
        backlog.push(upsert(1, "a"));
        backlog.push(icon(1, 1));
        backlog.push(SessionCmd::Rail(RailCommand::Remove(1)));
        backlog.push(upsert(1, "again"));
        backlog.push(icon(1, 2));
        assert_eq!(drain(&backlog), ["upsert 1 a", "icon 1 1", "remove 1", "upsert 1 again", "icon 1 2"]);
    }
}
