//! The clipboard between Linux apps and a remote host, apart from any one remoting protocol.
//!
//! - [`formats`]: which Windows clipboard format stands for which Linux mime type, and the
//!   conversions between the two. Pure functions, run on the compositor's worker threads.
//! - [`files`]: files on the clipboard: a Linux copy of `file://` URIs as the host's file
//!   list with its contents served range by range, and a host's file list fetched into a
//!   folder for Linux apps. Blocking file I/O, run on the compositor's worker threads.
//! - [`mount`]: a host's file list as a read-only FUSE file system whose reads are
//!   FileContents requests (where FUSE is available; else a paste fetches the files).
//! - [`seam`]: what the compositor and a remote session tell each other about the clipboard
//!   (commands one way, events the other, a sender the compositor's threads can own). The
//!   compositor speaks only this; the RDP crate's `cliprdr` channel turns it into PDUs.

pub mod files;
pub mod formats;
pub mod mount;
pub mod seam;

pub use files::{FileData, FileRequest};
pub use formats::{FormatKind, MAX_CLIPBOARD_BYTES};
pub use seam::{ClipboardCommand, ClipboardEvent, ClipboardSender, SessionId};
