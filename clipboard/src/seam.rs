//! The clipboard seam between the compositor and a remote session: the commands the
//! compositor sends, the events it gets back, and the handle it sends with.
//!
//! Data crosses in the host's own format (`FormatKind`); converting it is the compositor's
//! job, on its worker threads (see `formats`), so the session thread never does it.

use std::fmt;
use std::sync::Arc;

use crate::files::{FileData, FileRequest};
use crate::formats::FormatKind;

/// A remote session's identity, for logs and to tell sessions apart (the RDP server numbers
/// its connections with it).
pub type SessionId = u64;

/// What the host's clipboard did, for the compositor.
#[derive(Debug, Clone, PartialEq)]
pub enum ClipboardEvent {
    /// The host copied: these mime types are on offer (delayed: nothing fetched yet).
    /// `initial`: the list every client sends when it connects, which describes whatever
    /// its clipboard held before; a Linux selection that exists wins over it (so a reconnect
    /// loses nothing), by answering with `ClipboardCommand::Offer`. No mime types: the host
    /// copied something Linux cannot take, so its earlier offer is withdrawn.
    HostOffer { session: SessionId, mimes: Vec<String>, initial: bool },
    /// The answer to `ClipboardCommand::Request`: the host's data in its own format.
    HostData { id: u64, kind: FormatKind, mime: String, result: Result<Vec<u8>, String> },
    /// The host pastes: read the Linux selection as `mime`, convert to `kind`, and answer
    /// with `ClipboardCommand::LinuxData` carrying the same id. `huge_files`: the host's
    /// client takes files of 4 GB and more in a file list (`HUGE_FILE_SUPPORT_ENABLED`);
    /// without it they are left out of the list.
    LinuxRequest { session: SessionId, id: u64, kind: FormatKind, mime: String, huge_files: bool },
    /// The host reads a file of the Linux file list it was last given (by its index there),
    /// or of the list it locked with `lock`: answer with `ClipboardCommand::FileContents`
    /// carrying the same stream id.
    LinuxFileRequest { session: SessionId, stream: u32, index: u32, request: FileRequest, lock: Option<u32> },
    /// The host locks (or unlocks) the Linux clipboard data it was offered: the file list of
    /// the Linux copy it saw stays readable under `id` until it unlocks.
    HostLock { session: SessionId, id: u32, locked: bool },
    /// The answer to `ClipboardCommand::FetchFile`.
    HostFileData { stream: u32, result: Result<FileData, String> },
}

/// What the compositor tells the clipboard of the active session.
#[derive(Debug, Clone, PartialEq)]
pub enum ClipboardCommand {
    /// A Linux app copied (or a session needs to hear the current Linux selection).
    Offer { mimes: Vec<String> },
    /// A Linux app pastes what the host owns, as `mime`.
    Request { id: u64, mime: String },
    /// The data for a `ClipboardEvent::LinuxRequest`, already in the host's format.
    LinuxData { session: SessionId, id: u64, result: Result<Vec<u8>, String> },
    /// The answer to a `ClipboardEvent::LinuxFileRequest`.
    FileContents { session: SessionId, stream: u32, result: Result<FileData, String> },
    /// Read part of file `index` of the host's file list (fetched before with a `Request`
    /// for a file mime type); the answer is a `ClipboardEvent::HostFileData` with the same
    /// stream id. The session keeps the host's data locked, where the host can, until
    /// `FilesDone`.
    FetchFile { stream: u32, index: u32, request: FileRequest },
    /// The fetch of the host's files is over: the host may let go of them.
    FilesDone,
}

/// Clipboard commands to the active session, from any thread. Sending must never block:
/// the compositor sends from its event loop.
#[derive(Clone)]
pub struct ClipboardSender(Arc<dyn Fn(ClipboardCommand) + Send + Sync>);

impl ClipboardSender {
    /// A sender that hands every command to `deliver` (a channel's non-blocking send; a
    /// command nobody can take any more is dropped there).
    pub fn new(deliver: impl Fn(ClipboardCommand) + Send + Sync + 'static) -> Self {
        Self(Arc::new(deliver))
    }

    pub fn send(&self, command: ClipboardCommand) {
        (self.0)(command);
    }
}

impl fmt::Debug for ClipboardSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClipboardSender").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_and_its_clones_deliver_in_order_from_any_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sender = ClipboardSender::new(move |c| {
            let _ = tx.send(c);
        });
        sender.send(ClipboardCommand::Offer { mimes: vec!["text/plain".into()] });
        let clone = sender.clone();
        std::thread::spawn(move || clone.send(ClipboardCommand::Request { id: 1, mime: "text/html".into() }))
            .join()
            .unwrap();
        drop(sender);
        let got: Vec<ClipboardCommand> = rx.iter().collect();
        assert_eq!(
            got,
            [
                ClipboardCommand::Offer { mimes: vec!["text/plain".into()] },
                ClipboardCommand::Request { id: 1, mime: "text/html".into() },
            ]
        );
    }
}
