//! The host's clipboard as a selection of the seat, and the Linux selection as the host's.
//!
//! Ownership: a host copy (a format list) makes the host the owner: the seat gets a
//! compositor-owned selection with the mime types the host's formats convert to, and X11
//! sees it through the window manager. A Linux copy (Wayland or X11) makes Linux the owner
//! and its mime types go to the host as a format list. Neither side echoes the other's
//! list: a compositor-set selection raises no `new_selection`, and RDP clients do not answer
//! a format list with one.
//!
//! Data moves only on paste, and never on the compositor thread: a Linux paste of host data
//! asks the RDP session for it and a worker thread writes it into the client's pipe; a host
//! paste of Linux data opens a pipe to the Linux owner and a worker thread reads it,
//! converts it and hands it to the session. Both sides give up after a time without
//! progress, so a stuck app or host costs one paste, not the clipboard.
//!
//! The primary selection stays on the Linux side unless `clipboard.primary` is set: then a
//! host copy sets PRIMARY too, and a Linux PRIMARY change goes to the host like a copy.
//!
//! Files (`files`): a copy of `file://` URIs crosses as a file list whose contents the
//! host reads range by range, and a host's file list is fetched into a folder on paste.

mod files;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use smithay::wayland::selection::data_device::{
    clear_data_device_selection, request_data_device_client_selection, set_data_device_selection,
};
use smithay::wayland::selection::primary_selection::{
    clear_primary_selection, request_primary_client_selection, set_primary_selection,
};
use smithay::wayland::selection::SelectionTarget;
use wayrail_clipboard::formats::{self, FormatKind, MAX_CLIPBOARD_BYTES};
use wayrail_clipboard::{ClipboardCommand, ClipboardEvent, ClipboardSender, SessionId};

use crate::state::State;

/// How long a Linux app may take without writing (or reading) a byte of a transfer.
pub const LINUX_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bigger pipes move large payloads in fewer wakeups.
const PIPE_SIZE: usize = 1024 * 1024;

#[derive(Default)]
pub struct HostClipboard {
    sender: Option<ClipboardSender>,
    /// Host ↔ PRIMARY as well as CLIPBOARD (config `clipboard.primary`).
    pub primary: bool,
    /// The session whose host owns the clipboard, if the host does.
    host_owner: Option<SessionId>,
    /// The Linux selection the host reads, with its mime types, when Linux owns.
    linux: Option<(SelectionTarget, Vec<String>)>,
    next_id: u64,
    /// Pastes waiting for host data: request id → mime type and the pipes to fill.
    waiting: HashMap<u64, (String, Vec<OwnedFd>)>,
    /// The host's copies, numbered (a fetch of its files is reused for the same copy).
    host_offers: u64,
    files: files::ClipboardFiles,
}

impl HostClipboard {
    pub fn new(primary: bool) -> Self {
        Self { primary, ..Default::default() }
    }

    /// The remoting server is up: commands go to its active session from now on.
    pub fn connect(&mut self, sender: ClipboardSender) {
        self.sender = Some(sender);
    }

    /// Whether reads of this selection are served by the host.
    pub fn host_owns(&self, ty: SelectionTarget) -> bool {
        self.host_owner.is_some() && (ty == SelectionTarget::Clipboard || self.primary)
    }
}

/// A Wayland or X11 client took a selection (`mimes` None: it was cleared).
pub fn linux_selection(state: &mut State, ty: SelectionTarget, mimes: Option<Vec<String>>) {
    let clip = &mut state.clipboard;
    if ty == SelectionTarget::Primary && !clip.primary {
        return;
    }
    let Some(mimes) = mimes else {
        if clip.linux.as_ref().is_some_and(|(t, _)| *t == ty) {
            clip.linux = None;
        }
        return;
    };
    if clip.host_owner.take().is_some() {
        tracing::debug!(?ty, "a Linux app took the selection from the host");
        // With primary sync, the host's offer may still be the other selection.
        let other = match ty {
            SelectionTarget::Clipboard => SelectionTarget::Primary,
            SelectionTarget::Primary => SelectionTarget::Clipboard,
        };
        if clip.primary && !state.x11_selection_owns(other) {
            clear_seat_selection(state, other);
        }
    }
    let clip = &mut state.clipboard;
    clip.files.selection_changed();
    clip.linux = Some((ty, mimes.clone()));
    if let Some(sender) = &clip.sender {
        tracing::debug!(?ty, ?mimes, "Linux selection offered to the host");
        sender.send(ClipboardCommand::Offer { mimes });
    }
}

fn clear_seat_selection(state: &mut State, ty: SelectionTarget) {
    let dh = state.display_handle.clone();
    match ty {
        SelectionTarget::Clipboard => {
            clear_data_device_selection(&dh, &state.seat);
            state.xwl.wayland_clipboard = None;
        }
        SelectionTarget::Primary => {
            clear_primary_selection(&dh, &state.seat);
            state.xwl.wayland_primary = None;
        }
    }
    if let Some(xwm) = state.xwm.as_mut() {
        if let Err(err) = crate::xwayland::offer_selection_to_x11(xwm, ty, None) {
            tracing::debug!(?ty, "clearing an X11 selection: {err}");
        }
    }
}

/// An RDP session became active: it hears the Linux selection if Linux owns one, and the
/// pastes that earlier wayrail processes left behind are removed.
pub fn on_connected(state: &mut State) {
    state.clipboard.files.session_started();
    let clip = &state.clipboard;
    if let (Some((_, mimes)), Some(sender)) = (&clip.linux, &clip.sender) {
        sender.send(ClipboardCommand::Offer { mimes: mimes.clone() });
    }
}

/// A session ended: what its host owned is gone with it.
pub fn on_disconnected(state: &mut State, session: SessionId) {
    state.clipboard.files.session_ended(session);
    if state.clipboard.host_owner == Some(session) {
        tracing::debug!(session, "the host that owned the clipboard is gone");
        withdraw_host_offer(state);
    }
}

/// The seat's selections stop offering what the host had (X11 selections of X11 apps stay).
fn withdraw_host_offer(state: &mut State) {
    state.clipboard.host_owner = None;
    let primary = state.clipboard.primary;
    for ty in [SelectionTarget::Clipboard, SelectionTarget::Primary] {
        if (ty == SelectionTarget::Clipboard || primary) && !state.x11_selection_owns(ty) {
            clear_seat_selection(state, ty);
        }
    }
}

pub fn handle_host_event(state: &mut State, event: ClipboardEvent) {
    match event {
        ClipboardEvent::HostOffer { session, mimes, initial } => {
            if initial && state.clipboard.linux.is_some() {
                // The session heard of the Linux selection too late to drop this list
                // itself: Linux keeps the selection, and the host hears of it again.
                let clip = &state.clipboard;
                if let (Some((_, mimes)), Some(sender)) = (&clip.linux, &clip.sender) {
                    sender.send(ClipboardCommand::Offer { mimes: mimes.clone() });
                }
                return;
            }
            host_offer(state, session, mimes)
        }
        ClipboardEvent::HostData { id, kind, mime, result } => host_data(state, id, kind, mime, result),
        ClipboardEvent::LinuxRequest { session, id, kind, mime, huge_files } => {
            linux_request(state, session, id, kind, mime, huge_files)
        }
        ClipboardEvent::LinuxFileRequest { session, stream, index, request, lock } => {
            let clip = &mut state.clipboard;
            if let Some(sender) = clip.sender.clone() {
                clip.files.serve(&sender, session, stream, (index, request, lock));
            }
        }
        ClipboardEvent::HostLock { session, id, locked } => state.clipboard.files.host_lock(session, id, locked),
        ClipboardEvent::HostFileData { stream, result } => state.clipboard.files.host_answer(stream, result),
    }
}

/// The host copied: its formats become the seat's selection, for Wayland and X11 alike.
fn host_offer(state: &mut State, session: SessionId, mimes: Vec<String>) {
    if mimes.is_empty() {
        if state.clipboard.host_owner == Some(session) {
            tracing::debug!(session, "the host copied what Linux cannot take; its earlier copy is withdrawn");
            withdraw_host_offer(state);
        }
        return;
    }
    tracing::debug!(session, ?mimes, "host clipboard offered to Linux");
    state.clipboard.host_owner = Some(session);
    state.clipboard.host_offers += 1;
    state.clipboard.linux = None;
    let dh = state.display_handle.clone();
    let targets: &[SelectionTarget] = if state.clipboard.primary {
        &[SelectionTarget::Clipboard, SelectionTarget::Primary]
    } else {
        &[SelectionTarget::Clipboard]
    };
    for &ty in targets {
        state.x11_selection_owned(ty, false);
        match ty {
            SelectionTarget::Clipboard => {
                set_data_device_selection(&dh, &state.seat, mimes.clone(), ());
                state.xwl.wayland_clipboard = Some(mimes.clone());
            }
            SelectionTarget::Primary => {
                set_primary_selection(&dh, &state.seat, mimes.clone(), ());
                state.xwl.wayland_primary = Some(mimes.clone());
            }
        }
        if let Some(xwm) = state.xwm.as_mut() {
            if let Err(err) = crate::xwayland::offer_selection_to_x11(xwm, ty, Some(mimes.clone())) {
                tracing::warn!(?ty, "offering the host's selection to X11: {err}");
            }
        }
    }
}

/// A Wayland or X11 client reads a selection the host owns: ask the host, fill `fd` later.
pub fn paste_from_host(state: &mut State, mime: String, fd: OwnedFd) {
    let clip = &mut state.clipboard;
    let Some(sender) = clip.sender.clone() else { return };
    // The host's files were fetched already for this copy: the same URIs again.
    if wayrail_clipboard::files::FILE_MIMES.contains(&mime.as_str()) {
        if let Some(items) = clip.files.fetched_for(clip.host_offers) {
            clip.next_id += 1;
            files::paste_fetched(clip.next_id, items, mime, vec![fd]);
            return;
        }
        // A paste of a newer host copy: the older copies' views go before the host's list
        // is asked for (under a new lock their reads would name).
        clip.files.replace_older(clip.host_offers, &sender);
    }
    // Several readers of the same type share one transfer.
    if let Some((_, fds)) = clip.waiting.values_mut().find(|(m, _)| *m == mime) {
        fds.push(fd);
        return;
    }
    clip.next_id += 1;
    let id = clip.next_id;
    clip.waiting.insert(id, (mime.clone(), vec![fd]));
    tracing::debug!(id, %mime, "a Linux app pastes the host's clipboard");
    sender.send(ClipboardCommand::Request { id, mime });
}

fn host_data(state: &mut State, id: u64, kind: FormatKind, mime: String, result: Result<Vec<u8>, String>) {
    let Some((_, fds)) = state.clipboard.waiting.remove(&id) else { return };
    let data = match result {
        Ok(data) => data,
        Err(err) => {
            // The readers see an empty transfer; the next paste asks again.
            tracing::warn!(id, %mime, "no host clipboard data: {err}");
            if kind == FormatKind::FileList {
                // The host's data was locked for a fetch that will not happen.
                if let Some(sender) = &state.clipboard.sender {
                    sender.send(ClipboardCommand::FilesDone);
                }
            }
            return;
        }
    };
    if kind == FormatKind::FileList {
        let clip = &mut state.clipboard;
        let Some(sender) = clip.sender.clone() else { return };
        let session = clip.host_owner.unwrap_or_default();
        clip.files.fetch(sender, session, clip.host_offers, id, data, mime, fds);
        return;
    }
    let spawned = std::thread::Builder::new().name("wayrail-clip-write".into()).spawn(move || {
        let started = Instant::now();
        let bytes = match formats::host_to_linux(kind, &data, &mime) {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(id, %mime, ?kind, "host clipboard data not converted: {err:#}");
                return;
            }
        };
        drop(data);
        for fd in fds {
            match write_with_timeout(fd, &bytes, LINUX_IDLE_TIMEOUT) {
                Ok(()) => tracing::debug!(id, %mime, bytes = bytes.len(), elapsed = ?started.elapsed(), "host clipboard pasted"),
                Err(err) => tracing::warn!(id, %mime, "writing the host's clipboard to an app: {err}"),
            }
        }
    });
    if let Err(err) = spawned {
        tracing::warn!("no thread for a clipboard transfer: {err}");
    }
}

/// The host pastes: read the Linux selection into a pipe, off this thread.
fn linux_request(state: &mut State, session: SessionId, id: u64, kind: FormatKind, mime: String, huge_files: bool) {
    let Some(sender) = state.clipboard.sender.clone() else { return };
    let answer = move |result: Result<Vec<u8>, String>| ClipboardCommand::LinuxData { session, id, result };
    let Some((ty, _)) = state.clipboard.linux.clone() else {
        sender.send(answer(Err("Linux owns no selection".into())));
        return;
    };
    let (read, write) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
        Ok(pair) => pair,
        Err(err) => {
            sender.send(answer(Err(format!("no pipe: {err}"))));
            return;
        }
    };
    let _ = rustix::pipe::fcntl_setpipe_size(&read, PIPE_SIZE);
    let requested = if state.x11_selection_owns(ty) {
        let handle = state.loop_handle.clone();
        match state.xwm.as_mut() {
            Some(xwm) => xwm.send_selection(ty, mime.clone(), write, handle).map_err(|e| e.to_string()),
            None => Err("Xwayland is gone".into()),
        }
    } else {
        match ty {
            SelectionTarget::Clipboard => {
                request_data_device_client_selection(&state.seat, mime.clone(), write).map_err(|e| e.to_string())
            }
            SelectionTarget::Primary => {
                request_primary_client_selection(&state.seat, mime.clone(), write).map_err(|e| e.to_string())
            }
        }
    };
    if let Err(err) = requested {
        sender.send(answer(Err(format!("reading the Linux selection as {mime}: {err}"))));
        return;
    }
    tracing::debug!(id, %mime, ?kind, "the host pastes the Linux selection");
    let served = state.clipboard.files.served();
    let selection = served.lock().map(|s| s.selection()).unwrap_or_default();
    let spawned = std::thread::Builder::new().name("wayrail-clip-read".into()).spawn(move || {
        let result = read_with_timeout(read, LINUX_IDLE_TIMEOUT, MAX_CLIPBOARD_BYTES).and_then(|data| {
            if kind == FormatKind::FileList {
                files::list_for_host(&data, &served, selection, huge_files)
            } else {
                formats::linux_to_host(kind, &data, &mime).map_err(|e| format!("{e:#}"))
            }
        });
        sender.send(answer(result));
    });
    if let Err(err) = spawned {
        tracing::warn!("no thread for a clipboard transfer: {err}");
    }
}

/// Waits until `fd` is ready for `events` or `timeout` passes; false on timeout.
fn wait_fd(fd: BorrowedFd<'_>, events: libc::c_short, timeout: Duration) -> std::io::Result<bool> {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
    loop {
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd.as_fd())?;
    rustix::fs::fcntl_setfl(fd.as_fd(), flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Writes all of `data` to a client's pipe; gives up when the reader takes no byte for
/// `idle` (a paste nobody reads must not hold a thread forever).
pub fn write_with_timeout(fd: OwnedFd, data: &[u8], idle: Duration) -> Result<(), String> {
    set_nonblocking(&fd).map_err(|e| e.to_string())?;
    let _ = rustix::pipe::fcntl_setpipe_size(&fd, PIPE_SIZE);
    let mut file = std::fs::File::from(fd);
    let mut written = 0;
    while written < data.len() {
        match file.write(&data[written..]) {
            Ok(0) => return Err("the reader is gone".into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if !wait_fd(file.as_fd(), libc::POLLOUT, idle).map_err(|e| e.to_string())? {
                    return Err(format!("the reader took nothing for {idle:?} ({written} of {} bytes)", data.len()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("after {written} of {} bytes: {e}", data.len())),
        }
    }
    Ok(())
}

/// Reads a pipe to its end; gives up when the writer sends nothing for `idle` or more than
/// `cap` bytes.
pub fn read_with_timeout(fd: OwnedFd, idle: Duration, cap: usize) -> Result<Vec<u8>, String> {
    set_nonblocking(&fd).map_err(|e| e.to_string())?;
    let mut file = std::fs::File::from(fd);
    let mut data = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(data),
            Ok(n) => {
                if data.len() + n > cap {
                    return Err(format!("the selection is larger than the cap of {cap} bytes"));
                }
                data.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if !wait_fd(file.as_fd(), libc::POLLIN, idle).map_err(|e| e.to_string())? {
                    return Err(format!("the app wrote nothing for {idle:?} (after {} bytes)", data.len()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("after {} bytes: {e}", data.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
    }

    #[test]
    fn large_transfer_through_a_pipe() {
        let (read, write) = pipe();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = std::thread::spawn(move || write_with_timeout(write, &data, Duration::from_secs(20)));
        let got = read_with_timeout(read, Duration::from_secs(20), MAX_CLIPBOARD_BYTES).unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_silent_writer_times_out() {
        let (read, write) = pipe();
        let started = Instant::now();
        let err = read_with_timeout(read, Duration::from_millis(300), 100).unwrap_err();
        assert!(err.contains("wrote nothing"), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        drop(write);
    }

    #[test]
    fn a_reader_that_never_reads_times_out_and_the_cap_holds() {
        let (read, write) = pipe();
        let err = write_with_timeout(write, &vec![7u8; 8 * 1024 * 1024], Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("took nothing"), "{err}");
        drop(read);
        let (read, write) = pipe();
        let writer = std::thread::spawn(move || write_with_timeout(write, &[1u8; 1000], Duration::from_secs(5)));
        assert!(read_with_timeout(read, Duration::from_secs(5), 999).unwrap_err().contains("cap"));
        let _ = writer.join();
    }
}
