//! Files on the clipboard, the compositor's side: the threads that touch the files.
//!
//! Linux → host: when the host asks for the file list of a Linux copy, the URIs are read
//! and walked on the transfer's worker thread; the list the host got is kept (a snapshot:
//! a later Linux copy does not renumber it, and a list the host locked stays readable under
//! its lock id until it unlocks, see [`ServedLists`]) and one server thread reads the files
//! for the host's FileContents requests, in order, so the compositor and the session never
//! block on a disk. Files of 4 GB and more are left out for a client without huge-file
//! support.
//!
//! Host → Linux: a Linux paste of `text/uri-list` or `x-special/gnome-copied-files` makes the
//! host's files appear under `$XDG_RUNTIME_DIR/wayrail-files/<pid>-<session>/<n>/`, on a
//! worker thread, and the pasting app gets URIs of the copied items there:
//! - where FUSE is available ([`mount::fuse_available`]), as a read-only FUSE view at once,
//!   each read a RANGE request through the session (fuser's thread serves it; a read the
//!   host fails or leaves unanswered is EIO). The host's data stays locked while it is
//!   mounted.
//! - else (or when the mount fails) fetched there, one SIZE or RANGE request at a time,
//!   with progress in the log. A copy larger than the free space there is refused, and a
//!   fetch whose pasting apps are all gone stops.
//!
//! A second paste of the same host copy reuses its folder. A paste of a newer host copy
//! removes the older copies' folders (unmounting them); a session's end removes its own, and
//! a session's start those that wayrail processes no longer running left behind; wayrail's
//! exit removes all of its own.
//!
//! `application/vnd.portal.filetransfer` is not offered: its data is a key that only
//! xdg-desktop-portal's FileTransfer (over D-Bus, with the document portal) can redeem, and
//! wayrail neither speaks D-Bus nor starts a portal.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use wayrail_clipboard::files::{self, HostEntry, LinuxFileList};
use wayrail_clipboard::mount::{self, HostFs, HostMount, HostRequest, HostTree};
use wayrail_clipboard::{ClipboardCommand, ClipboardSender, FileData, FileRequest, SessionId};

use super::{write_with_timeout, LINUX_IDLE_TIMEOUT};

mod served;
pub use served::ServedLists;

/// How long a fetch waits for one answer of the host. The session fails a request the host
/// leaves unanswered sooner; this is for an answer that is lost on the way (no session).
const FETCH_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a read of the FUSE view waits for the host's answer, likewise: the session
/// fails an unanswered request after its idle timeout, so a vanished host is EIO soon.
const READ_ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

type Answer = (u32, Result<FileData, String>);
/// A host copy (its offer number) whose files were fetched, and the copied items.
type Fetched = Option<(u64, Vec<PathBuf>)>;

/// A host's FileContents request for a Linux file.
struct ServeJob {
    session: SessionId,
    stream: u32,
    index: u32,
    request: FileRequest,
    list: Option<Arc<LinuxFileList>>,
}

#[derive(Default)]
pub struct ClipboardFiles {
    /// The Linux file lists the host can read.
    served: Arc<Mutex<ServedLists>>,
    /// The thread that reads Linux files for the host, started on first use.
    server: Option<mpsc::Sender<ServeJob>>,
    /// Fetches of host files waiting for the host: stream id → the fetching thread.
    fetches: Arc<Mutex<HashMap<u32, mpsc::Sender<Answer>>>>,
    next_stream: Arc<AtomicU32>,
    next_paste: u64,
    /// The host copy whose files were fetched (its offer number) and the copied items.
    fetched: Arc<Mutex<Fetched>>,
    /// The pastes' folders (and FUSE views) that exist.
    pastes: Arc<Mutex<Pastes>>,
}

/// One paste's folder: fetched files, or the FUSE view mounted on it.
struct Paste {
    /// The host copy it holds.
    offer: u64,
    session: SessionId,
    dir: PathBuf,
    mount: Option<HostMount>,
}

#[derive(Default)]
struct Pastes {
    list: Vec<Paste>,
    /// Sessions that ended: a paste that registers after its session ended goes at once.
    ended: Vec<SessionId>,
}

/// What a thread needs to ask the host for part of a file and wait for the answer.
#[derive(Clone)]
struct HostLink {
    sender: ClipboardSender,
    fetches: Arc<Mutex<HashMap<u32, mpsc::Sender<Answer>>>>,
    next_stream: Arc<AtomicU32>,
}

impl HostLink {
    /// One SIZE or RANGE request through the session; its answer, or why none came within
    /// `timeout`.
    fn request(&self, index: u32, what: FileRequest, timeout: Duration) -> Result<FileData, String> {
        let (tx, rx) = mpsc::channel::<Answer>();
        let stream = self.next_stream.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.fetches.lock() {
            f.insert(stream, tx);
        }
        self.sender.send(ClipboardCommand::FetchFile { stream, index, request: what });
        match rx.recv_timeout(timeout) {
            Ok((_, result)) => result,
            Err(_) => {
                if let Ok(mut f) = self.fetches.lock() {
                    f.remove(&stream);
                }
                Err(format!("no answer from the host within {timeout:?}"))
            }
        }
    }
}

impl ClipboardFiles {
    /// A handle for the transfer thread that builds the list the host asked for.
    pub fn served(&self) -> Arc<Mutex<ServedLists>> {
        self.served.clone()
    }

    /// A Linux app copied.
    pub fn selection_changed(&mut self) {
        if let Ok(mut s) = self.served.lock() {
            s.selection_changed();
        }
    }

    /// The host locked or unlocked the Linux data it was offered.
    pub fn host_lock(&mut self, session: SessionId, id: u32, locked: bool) {
        if let Ok(mut s) = self.served.lock() {
            if locked {
                s.lock(session, id);
            } else {
                s.unlock(session, id);
            }
        }
    }

    /// A session ended: its locks go, and so do its pastes' folders (the views closed at
    /// once: a read would reach the next session's host otherwise).
    pub fn session_ended(&mut self, session: SessionId) {
        if let Ok(mut s) = self.served.lock() {
            s.session_ended(session);
        }
        if let Ok(mut p) = self.pastes.lock() {
            p.ended.push(session);
        }
        let old = take_pastes(&self.pastes, |p| p.session == session);
        if let Ok(mut f) = self.fetched.lock() {
            if f.as_ref().is_some_and(|(o, _)| old.iter().any(|p| p.offer == *o)) {
                *f = None;
            }
        }
        if !old.is_empty() {
            tracing::info!(session, pastes = old.len(), "the session ended: its pastes' files are removed");
            remove_pastes(old, None);
        }
    }

    /// The host reads part of a Linux file: queued for the server thread.
    pub fn serve(
        &mut self,
        sender: &ClipboardSender,
        session: SessionId,
        stream: u32,
        (index, request, lock): (u32, FileRequest, Option<u32>),
    ) {
        let list = self.served.lock().ok().and_then(|s| s.list_for(session, lock));
        let job = ServeJob { session, stream, index, request, list };
        let job = match &self.server {
            Some(server) => match server.send(job) {
                Ok(()) => return,
                // The thread is gone (it panicked): a new one takes over.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::channel::<ServeJob>();
        let thread_sender = sender.clone();
        let spawned = std::thread::Builder::new().name("wayrail-clip-files".into()).spawn(move || {
            for job in rx {
                let result = match &job.list {
                    Some(list) => list.serve(job.index, job.request),
                    None => Err("Linux gave the host no file list".to_owned()),
                };
                if let Err(err) = &result {
                    tracing::warn!(session = job.session, stream = job.stream, index = job.index, request = ?job.request, "a host file request failed: {err}");
                }
                thread_sender.send(ClipboardCommand::FileContents { session: job.session, stream: job.stream, result });
            }
        });
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                self.server = Some(tx);
            }
            Err(err) => {
                tracing::warn!("no thread to read files for the host: {err}");
                let result = Err("no thread to read the file".to_owned());
                sender.send(ClipboardCommand::FileContents { session: job.session, stream: job.stream, result });
            }
        }
    }

    /// The host answered a fetch: to the thread that waits for it.
    pub fn host_answer(&mut self, stream: u32, result: Result<FileData, String>) {
        let waiting = self.fetches.lock().ok().and_then(|mut f| f.remove(&stream));
        match waiting {
            Some(tx) => {
                let _ = tx.send((stream, result));
            }
            None => tracing::debug!(stream, "host file data nobody waits for dropped"),
        }
    }

    /// URIs of the files already fetched for host copy `offer`, if they were.
    pub fn fetched_for(&self, offer: u64) -> Option<Vec<PathBuf>> {
        let fetched = self.fetched.lock().ok()?;
        fetched.as_ref().filter(|(o, _)| *o == offer).map(|(_, items)| items.clone())
    }

    /// A Linux paste of the host's file list `data` (from host copy `offer` of `session`):
    /// mounts or fetches the files on a worker thread, then hands `fds` the URIs as `mime`.
    #[allow(clippy::too_many_arguments)]
    pub fn fetch(
        &mut self,
        sender: ClipboardSender,
        session: SessionId,
        offer: u64,
        id: u64,
        data: Vec<u8>,
        mime: String,
        fds: Vec<OwnedFd>,
    ) {
        self.replace_older(offer, &sender);
        self.next_paste += 1;
        let dest = destination(session, self.next_paste);
        let link =
            HostLink { sender: sender.clone(), fetches: self.fetches.clone(), next_stream: self.next_stream.clone() };
        let fetched = self.fetched.clone();
        let pastes = self.pastes.clone();
        let spawned = std::thread::Builder::new().name("wayrail-clip-fetch".into()).spawn(move || {
            let Some((items, mount)) = paste_into(&link, &data, &dest, id, &fds) else {
                sender.send(ClipboardCommand::FilesDone);
                return;
            };
            // A mount keeps the host's data locked until it goes; fetched files are done.
            let mounted = mount.is_some();
            if !mounted {
                sender.send(ClipboardCommand::FilesDone);
            }
            let paste = Paste { offer, session, dir: dest, mount };
            if let Err(stale) = register(&pastes, paste) {
                let (paste, why) = *stale;
                tracing::info!(id, "{why}: the paste's files are removed");
                let session_alive = why == Stale::NewerCopy;
                remove_paste(paste, session_alive.then_some(&sender));
                return;
            }
            if let Ok(mut f) = fetched.lock() {
                *f = Some((offer, items.clone()));
            }
            write_uris(id, &items, &mime, fds);
        });
        if let Err(err) = spawned {
            tracing::warn!("no thread to fetch the host's files: {err}");
        }
    }

    /// A paste of host copy `offer` starts: the folders of older copies go (their mounts
    /// unmounted, the host's lock on them let go).
    pub fn replace_older(&mut self, offer: u64, sender: &ClipboardSender) {
        let old = take_pastes(&self.pastes, |p| p.offer != offer);
        if old.is_empty() {
            return;
        }
        if let Ok(mut f) = self.fetched.lock() {
            if f.as_ref().is_some_and(|(o, _)| *o != offer) {
                *f = None;
            }
        }
        tracing::info!(pastes = old.len(), "a newer host copy is pasted: the older pastes' files are removed");
        let sender = sender.clone();
        remove_pastes(old, Some(sender));
    }

    /// A session started: the paste folders that wayrail processes no longer running left
    /// behind go (unmounted first).
    pub fn session_started(&mut self) {
        let spawned =
            std::thread::Builder::new().name("wayrail-clip-clean".into()).spawn(|| clean_stale(&paste_base()));
        if let Err(err) = spawned {
            tracing::warn!("no thread to clean up old pastes: {err}");
        }
    }
}

impl Drop for ClipboardFiles {
    /// wayrail exits: every paste's folder goes, its mount first.
    fn drop(&mut self) {
        let all = take_pastes(&self.pastes, |_| true);
        for paste in all {
            remove_paste(paste, None);
        }
    }
}

/// Takes the pastes `which` picks out of the list, their views closed at once (reads fail
/// from now on).
fn take_pastes(pastes: &Mutex<Pastes>, which: impl Fn(&Paste) -> bool) -> Vec<Paste> {
    let Ok(mut p) = pastes.lock() else { return Vec::new() };
    let (taken, kept): (Vec<Paste>, Vec<Paste>) = std::mem::take(&mut p.list).into_iter().partition(which);
    p.list = kept;
    for paste in &taken {
        if let Some(m) = &paste.mount {
            m.close();
        }
    }
    taken
}

/// Why a paste that became ready is not kept.
#[derive(Debug, PartialEq, Eq)]
enum Stale {
    SessionEnded,
    NewerCopy,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stale::SessionEnded => "the session ended before the paste was ready",
            Stale::NewerCopy => "a newer host copy was pasted before this paste was ready",
        })
    }
}

/// Adds a paste that is ready, unless its session ended or a newer copy's paste replaced
/// it meanwhile (then it comes back, its view closed, for the caller to remove).
fn register(pastes: &Mutex<Pastes>, paste: Paste) -> Result<(), Box<(Paste, Stale)>> {
    let why = match pastes.lock() {
        Ok(p) if p.ended.contains(&paste.session) => Stale::SessionEnded,
        Ok(p) if p.list.iter().any(|other| other.offer > paste.offer) => Stale::NewerCopy,
        Ok(mut p) => {
            p.list.push(paste);
            return Ok(());
        }
        Err(_) => Stale::SessionEnded,
    };
    if let Some(m) = &paste.mount {
        m.close();
    }
    Err(Box::new((paste, why)))
}

/// Removes pastes on a thread of their own (an unmount may wait for `fusermount3`).
fn remove_pastes(old: Vec<Paste>, sender: Option<ClipboardSender>) {
    let spawned = std::thread::Builder::new().name("wayrail-clip-clean".into()).spawn(move || {
        for paste in old {
            remove_paste(paste, sender.as_ref());
        }
    });
    if let Err(err) = spawned {
        tracing::warn!("no thread to remove old pastes: {err}");
    }
}

/// Unmounts a paste's view (and lets go of the host's lock on it through `sender`, when its
/// session is still there), then removes its folder.
fn remove_paste(paste: Paste, sender: Option<&ClipboardSender>) {
    if let Some(m) = paste.mount {
        m.unmount();
        if let Some(sender) = sender {
            sender.send(ClipboardCommand::FilesDone);
        }
        tracing::info!(dir = %paste.dir.display(), "the host's files unmounted");
    }
    match std::fs::remove_dir_all(&paste.dir) {
        Ok(()) => tracing::debug!(dir = %paste.dir.display(), "a paste's folder removed"),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => tracing::warn!(dir = %paste.dir.display(), "removing a paste's folder: {err}"),
    }
    if let Some(parent) = paste.dir.parent() {
        // The session's folder, once its last paste is gone.
        let _ = std::fs::remove_dir(parent);
    }
}

/// The paste folders under `base` of wayrail processes that are no longer running (and of
/// an older layout), unmounted and removed.
fn clean_stale(base: &Path) {
    let Ok(dirs) = std::fs::read_dir(base) else { return };
    let ours = std::process::id();
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        let pid = name.split_once('-').and_then(|(pid, _)| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| pid == ours || process_alive(pid)) {
            continue;
        }
        let path = dir.path();
        // Deepest first: a mount inside a mount.
        let mut mounts: Vec<PathBuf> = mount::mount_points().into_iter().filter(|m| m.starts_with(&path)).collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in &mounts {
            if let Err(why) = mount::detach(m) {
                tracing::warn!(mount = %m.display(), "a left-over mount of host files: {why}");
            }
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(dir = %path.display(), mounts = mounts.len(), "host files left by an earlier wayrail removed")
            }
            Err(err) => tracing::warn!(dir = %path.display(), "removing host files left by an earlier wayrail: {err}"),
        }
    }
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The URIs of the fetched items to every pasting app, from a thread of their own.
pub fn write_uris(id: u64, items: &[PathBuf], mime: &str, fds: Vec<OwnedFd>) {
    let bytes = files::uri_list(items, mime);
    for fd in fds {
        match write_with_timeout(fd, &bytes, LINUX_IDLE_TIMEOUT) {
            Ok(()) => tracing::debug!(id, %mime, items = items.len(), "host files pasted"),
            Err(err) => tracing::warn!(id, %mime, "writing the host's file URIs to an app: {err}"),
        }
    }
}

/// Spawns a thread that hands `fds` URIs of files fetched before.
pub fn paste_fetched(id: u64, items: Vec<PathBuf>, mime: String, fds: Vec<OwnedFd>) {
    let spawned =
        std::thread::Builder::new().name("wayrail-clip-write".into()).spawn(move || write_uris(id, &items, &mime, fds));
    if let Err(err) = spawned {
        tracing::warn!("no thread for a clipboard transfer: {err}");
    }
}

/// Where the pastes' folders are: `$XDG_RUNTIME_DIR/wayrail-files`.
fn paste_base() -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    runtime.join("wayrail-files")
}

/// The folder a paste's files go to: `<paste_base>/<pid>-<session>/<n>/` (the process id
/// tells a later wayrail whose folders it may remove).
fn destination(session: SessionId, paste: u64) -> PathBuf {
    paste_base().join(format!("{}-{session}", std::process::id())).join(paste.to_string())
}

/// Whether every app that pastes has closed its end of the pipe (a cancelled paste).
fn readers_gone(fds: &[OwnedFd]) -> bool {
    use std::os::fd::AsRawFd;
    !fds.is_empty()
        && fds.iter().all(|fd| {
            let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: 0, revents: 0 };
            // SAFETY: one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, 0) };
            n > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0
        })
}

fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Whether pastes use the FUSE view: checked once, and said in the log.
fn fuse_mode() -> Result<(), String> {
    static MODE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    MODE.get_or_init(|| {
        let mode = mount::fuse_available();
        match &mode {
            Ok(()) => tracing::info!("host files are pasted as a FUSE view, read on demand"),
            Err(why) => tracing::info!("host files are pasted by fetching them whole: no FUSE ({why})"),
        }
        mode
    })
    .clone()
}

/// The paste itself: the host's list decoded, then mounted as a FUSE view where FUSE is
/// available (the mount returned), else fetched. None when nothing could be had (the paste
/// gets no data).
fn paste_into(
    link: &HostLink,
    data: &[u8],
    dest: &Path,
    id: u64,
    readers: &[OwnedFd],
) -> Option<(Vec<PathBuf>, Option<HostMount>)> {
    let (entries, refused) = match files::decode_host_list(data) {
        Ok(decoded) => decoded,
        Err(err) => {
            tracing::warn!(id, "the host's file list: {err:#}");
            return None;
        }
    };
    for why in &refused {
        tracing::warn!(id, "a host file refused: {why}");
    }
    if let Err(err) = make_private_dir(dest) {
        tracing::warn!(id, "making {}: {err}", dest.display());
        return None;
    }
    if fuse_mode().is_ok() {
        match mount_into(link, &entries, dest, id) {
            Ok((items, mount)) => return Some((items, Some(mount))),
            Err(why) => tracing::warn!(id, "the host's files cannot be mounted ({why}): fetching them instead"),
        }
    }
    fetch_into(link, &entries, dest, id, readers).map(|items| (items, None))
}

/// Mounts the FUSE view of the host's list on `dest`: the copied items under it.
fn mount_into(
    link: &HostLink,
    entries: &[HostEntry],
    dest: &Path,
    id: u64,
) -> Result<(Vec<PathBuf>, HostMount), String> {
    let started = Instant::now();
    let size_of = |e: &HostEntry| match link.request(e.index, FileRequest::Size, FETCH_ANSWER_TIMEOUT)? {
        FileData::Size(n) => Ok(n),
        FileData::Bytes(b) => Err(format!("a SIZE request answered with {} bytes of data", b.len())),
    };
    let (tree, left_out) = HostTree::build(entries, size_of);
    for why in &left_out {
        tracing::warn!(id, "a host file left out: {why}");
    }
    let items: Vec<PathBuf> = tree.top_level().into_iter().map(|p| dest.join(p)).collect();
    let (files, bytes) = tree.totals();
    let reads = link.clone();
    let request: HostRequest = Box::new(move |index, what| reads.request(index, what, READ_ANSWER_TIMEOUT));
    let mount = HostMount::mount(HostFs::new(tree, request, id.to_string()), dest).map_err(|e| {
        let _ = std::fs::remove_dir(dest);
        format!("mounting on {}: {e}", dest.display())
    })?;
    tracing::info!(id, files, bytes, dest = %dest.display(), elapsed = ?started.elapsed(), "the host's files are mounted: read on demand");
    Ok((items, mount))
}

/// The fetch; None when nothing could be fetched (the paste gets no data).
fn fetch_into(
    link: &HostLink,
    entries: &[HostEntry],
    dest: &Path,
    id: u64,
    readers: &[OwnedFd],
) -> Option<Vec<PathBuf>> {
    let total: u64 = entries.iter().filter_map(|e| e.size).sum();
    // The runtime directory is usually a small tmpfs: a copy that cannot fit is refused
    // before a byte is fetched.
    if let Ok(fs) = rustix::fs::statvfs(dest) {
        let free = fs.f_bavail.saturating_mul(fs.f_frsize);
        if total > free {
            tracing::warn!(id, bytes = total, free, dest = %dest.display(), "the host's files do not fit: not fetched");
            let _ = std::fs::remove_dir(dest);
            return None;
        }
    }
    tracing::info!(id, entries = entries.len(), bytes = total, dest = %dest.display(), "fetching the host's files");
    let started = Instant::now();
    let request = |index: u32, what: FileRequest| link.request(index, what, FETCH_ANSWER_TIMEOUT);
    let mut logged_tenth = 0;
    let progress = |done: u64, total: u64, name: &Path| {
        let tenth = done.saturating_mul(10).checked_div(total).unwrap_or(10);
        if tenth > logged_tenth {
            logged_tenth = tenth;
            tracing::info!(id, done, total, file = %name.display(), "fetching the host's files: {}%", tenth * 10);
        }
    };
    let report = files::fetch_host_files(entries, dest, request, progress, || readers_gone(readers));
    if report.stopped {
        tracing::warn!(id, files = report.files, "the pasting app is gone: the fetch of the host's files stops");
        return None;
    }
    for why in &report.failed {
        tracing::warn!(id, "a host file not fetched: {why}");
    }
    let elapsed = started.elapsed();
    let rate = report.bytes as f64 / elapsed.as_secs_f64().max(1e-6) / 1_048_576.0;
    tracing::info!(
        id,
        files = report.files,
        bytes = report.bytes,
        failed = report.failed.len(),
        ?elapsed,
        "host files fetched ({rate:.1} MB/s)"
    );
    Some(report.items)
}

/// The host asked for the file list of a Linux copy (`data`: its URIs): the files are
/// walked into the list, which is kept for the host's FileContents requests.
/// `selection`: the Linux copy the request was for.
/// `huge_files`: the host's client takes files of 4 GB and more; without it they are left
/// out (a wrong size would reach the host otherwise).
pub fn list_for_host(
    data: &[u8],
    served: &Mutex<ServedLists>,
    selection: u64,
    huge_files: bool,
) -> Result<Vec<u8>, String> {
    let mut paths = Vec::new();
    for uri in files::parse_uri_list(data) {
        match uri {
            Ok(path) => paths.push(path),
            Err(why) => tracing::warn!("a copied URI left out of the host's file list: {why}"),
        }
    }
    let mut list = LinuxFileList::collect(&paths);
    if !huge_files {
        list.without_huge_files();
    }
    for why in &list.skipped {
        tracing::warn!("left out of the host's file list: {why}");
    }
    if list.entries.is_empty() {
        return Err("the copy holds no local file wayrail can pass on".into());
    }
    let encoded = list.encode().map_err(|e| format!("{e:#}"))?;
    tracing::debug!(entries = list.entries.len(), "Linux files offered to the host");
    if let Ok(mut s) = served.lock() {
        s.built(selection, Arc::new(list));
    }
    Ok(encoded)
}

#[cfg(test)]
mod tests;
