//! Files on the `cliprdr` channel: FileContents requests and responses both ways, and the
//! lock that keeps the host's files stable while wayrail fetches them ([MS-RDPECLIP]
//! 2.2.5.3, 2.2.5.4, 2.2.4.6).
//!
//! - The host reads Linux files: each FileContents request goes to the compositor, which
//!   reads the file on a worker thread and answers with the same stream id; a request that
//!   cannot be served fails alone. At most `MAX_HOST_REQUESTS` wait; more fail at once.
//! - Linux reads host files: the compositor's fetch sends one SIZE or RANGE request at a
//!   time; the one on the wire times out like a data request. When the client can lock its
//!   clipboard data, the file list is requested under a lock, released when the compositor
//!   says the fetch is done (one lock per fetch: two pastes at once each keep theirs).

use std::collections::VecDeque;
use std::time::Instant;

use ironrdp_cliprdr::pdu::{
    ClipboardGeneralCapabilityFlags, ClipboardPdu, FileContentsFlags, FileContentsRequest, FileContentsResponse,
    LockDataId,
};
use ironrdp_svc::SvcMessage;
use wayrail_clipboard::files::{FILE_MIMES, MAX_RANGE_BYTES};
use wayrail_clipboard::{FileData, FileRequest};

use super::{message, ClipboardState, MAX_HOST_REQUESTS};
use crate::ClipboardEvent;

/// The file side of the channel state.
#[derive(Debug, Default)]
pub(super) struct FileTransfers {
    /// Host requests for Linux files with the compositor: stream id, in arrival order.
    host_requests: VecDeque<u32>,
    refused: u64,
    /// Compositor fetches waiting for their turn: stream id, file index, what.
    fetches: VecDeque<(u32, u32, FileRequest)>,
    in_flight: Option<(u32, FileRequest, Instant)>,
    /// The locks wayrail holds on the host's clipboard data, one per fetch, oldest first;
    /// requests name the newest.
    locks: VecDeque<u32>,
    next_lock: u32,
    /// Host copies so far (format lists that list something), and the one whose file list
    /// was asked for last: a client that cannot lock serves the indices of its newest copy,
    /// so a read for an older copy's files must fail rather than read another file.
    host_copies: u64,
    listed_copy: u64,
}

/// What the host answered to a FileContents request, as the channel decoded it.
#[derive(Debug)]
pub(super) struct HostFileResponse {
    pub stream: u32,
    pub result: Result<Vec<u8>, String>,
}

impl FileTransfers {
    /// When the fetch on the wire times out, if one is.
    pub(super) fn deadline(&self, timeout: std::time::Duration) -> Option<Instant> {
        self.in_flight.map(|(_, _, at)| at + timeout)
    }

    /// The host copied something (a format list with formats).
    pub(super) fn host_copied(&mut self) {
        self.host_copies += 1;
    }

    pub(super) fn touch(&mut self) {
        if let Some((_, _, at)) = self.in_flight.as_mut() {
            *at = Instant::now();
        }
    }
}

impl ClipboardState {
    /// Whether the host was offered a Linux file list.
    fn linux_offers_files(&self) -> bool {
        self.client_streams_files()
            && self.linux_mimes.as_ref().is_some_and(|m| m.iter().any(|m| FILE_MIMES.contains(&m.as_str())))
    }

    /// The host reads part of a Linux file.
    pub(super) fn on_host_file_request(
        &mut self,
        request: FileContentsRequest,
        out: &mut Vec<SvcMessage>,
        events: &mut Vec<ClipboardEvent>,
    ) {
        let stream = request.stream_id;
        let refuse = |out: &mut Vec<SvcMessage>| {
            out.push(message(ClipboardPdu::FileContentsResponse(FileContentsResponse::new_error(stream))));
        };
        // A request under a lock reads the list the host locked, whatever Linux offers now.
        if !self.client_streams_files() || (request.data_id.is_none() && !self.linux_offers_files()) {
            tracing::debug!(session = self.session, stream, "a file request while Linux offers no files: failed");
            return refuse(out);
        }
        if self.files.host_requests.len() >= MAX_HOST_REQUESTS {
            self.files.refused += 1;
            if self.files.refused.is_power_of_two() {
                tracing::warn!(
                    session = self.session,
                    refused = self.files.refused,
                    "{MAX_HOST_REQUESTS} host file requests wait already: refused"
                );
            }
            return refuse(out);
        }
        let what = if request.flags.contains(FileContentsFlags::SIZE) {
            FileRequest::Size
        } else {
            FileRequest::Range { offset: request.position, len: request.requested_size.min(MAX_RANGE_BYTES) }
        };
        let index = request.index as u32;
        tracing::trace!(session = self.session, stream, index, ?what, "the host reads a Linux file");
        self.files.host_requests.push_back(stream);
        let lock = request.data_id;
        events.push(ClipboardEvent::LinuxFileRequest { session: self.session, stream, index, request: what, lock });
    }

    /// The compositor's answer to a host file request.
    pub(super) fn on_linux_file_data(
        &mut self,
        session: crate::SessionId,
        stream: u32,
        result: Result<FileData, String>,
        out: &mut Vec<SvcMessage>,
    ) {
        let waiting = self.files.host_requests.iter().position(|s| *s == stream);
        let (true, Some(at)) = (session == self.session, waiting) else {
            tracing::debug!(session = self.session, stream, "Linux file data for an old request dropped");
            return;
        };
        self.files.host_requests.remove(at);
        let response = match result {
            Ok(FileData::Size(size)) => FileContentsResponse::new_size_response(stream, size),
            Ok(FileData::Bytes(data)) => FileContentsResponse::new_data_response(stream, data),
            Err(err) => {
                // The compositor logged it, with the file's path.
                tracing::debug!(session = self.session, stream, "a host file request failed: {err}");
                FileContentsResponse::new_error(stream)
            }
        };
        out.push(message(ClipboardPdu::FileContentsResponse(response)));
    }

    /// A Linux paste fetches part of a host file.
    pub(super) fn on_fetch(
        &mut self,
        stream: u32,
        index: u32,
        request: FileRequest,
        out: &mut Vec<SvcMessage>,
        events: &mut Vec<ClipboardEvent>,
    ) {
        self.files.fetches.push_back((stream, index, request));
        self.pump_fetches(out, events);
    }

    fn pump_fetches(&mut self, out: &mut Vec<SvcMessage>, events: &mut Vec<ClipboardEvent>) {
        while self.files.in_flight.is_none() {
            let Some((stream, index, what)) = self.files.fetches.pop_front() else { return };
            if self.files.locks.is_empty() && self.files.listed_copy != self.files.host_copies {
                tracing::warn!(
                    session = self.session,
                    stream,
                    index,
                    "a read of host files the host replaced with a newer copy (the client cannot lock them): failed"
                );
                let result = Err("the host copied something else, and its client cannot keep older files".into());
                events.push(ClipboardEvent::HostFileData { stream, result });
                continue;
            }
            let Ok(lindex) = i32::try_from(index) else {
                events.push(ClipboardEvent::HostFileData { stream, result: Err(format!("no file {index}")) });
                continue;
            };
            let (flags, position, requested_size) = match what {
                FileRequest::Size => (FileContentsFlags::SIZE, 0, 8),
                FileRequest::Range { offset, len } => (FileContentsFlags::RANGE, offset, len),
            };
            let request = FileContentsRequest {
                stream_id: stream,
                index: lindex,
                flags,
                position,
                requested_size,
                data_id: self.files.locks.back().copied(),
            };
            out.push(message(ClipboardPdu::FileContentsRequest(request)));
            self.files.in_flight = Some((stream, what, Instant::now()));
        }
    }

    /// The host answered a fetch.
    pub(super) fn on_host_file_response(
        &mut self,
        response: HostFileResponse,
        out: &mut Vec<SvcMessage>,
        events: &mut Vec<ClipboardEvent>,
    ) {
        let Some((stream, what, _)) = self.files.in_flight.filter(|(s, _, _)| *s == response.stream) else {
            tracing::debug!(session = self.session, stream = response.stream, "file contents nobody waits for dropped");
            return;
        };
        self.files.in_flight = None;
        let result = response.result.and_then(|data| match what {
            FileRequest::Size => match <[u8; 8]>::try_from(data.as_slice()) {
                Ok(bytes) => Ok(FileData::Size(u64::from_le_bytes(bytes))),
                Err(_) => Err(format!("a SIZE answer of {} bytes, not 8", data.len())),
            },
            FileRequest::Range { .. } => Ok(FileData::Bytes(data)),
        });
        if let Err(err) = &result {
            tracing::warn!(session = self.session, stream, ?what, "host file contents: {err}");
        }
        events.push(ClipboardEvent::HostFileData { stream, result });
        self.pump_fetches(out, events);
    }

    /// The fetch on the wire timed out.
    pub(super) fn fetch_timed_out(&mut self, out: &mut Vec<SvcMessage>, events: &mut Vec<ClipboardEvent>) {
        if let Some((stream, what, _)) = self.files.in_flight.take() {
            tracing::warn!(
                session = self.session,
                stream,
                ?what,
                "the host did not answer a file request within {:?}",
                self.timeout
            );
            let result = Err(format!("the host did not answer within {:?}", self.timeout));
            events.push(ClipboardEvent::HostFileData { stream, result });
        }
        self.pump_fetches(out, events);
    }

    /// Before the host's file list is requested: lock the host's data where the client can.
    /// A fetch that never says it is done (its thread died) holds one of at most
    /// `MAX_LOCKS`; past that the oldest goes.
    pub(super) fn lock_host_files(&mut self, client: ClipboardGeneralCapabilityFlags, out: &mut Vec<SvcMessage>) {
        const MAX_LOCKS: usize = 8;
        self.files.listed_copy = self.files.host_copies;
        if !client.contains(ClipboardGeneralCapabilityFlags::CAN_LOCK_CLIPDATA) {
            return;
        }
        if self.files.locks.len() >= MAX_LOCKS {
            self.unlock_host_files(out);
        }
        self.files.next_lock = self.files.next_lock.wrapping_add(1);
        let id = self.files.next_lock;
        tracing::debug!(session = self.session, id, "host clipboard data locked");
        out.push(message(ClipboardPdu::LockData(LockDataId(id))));
        self.files.locks.push_back(id);
    }

    /// A fetch is over: the oldest lock goes.
    pub(super) fn unlock_host_files(&mut self, out: &mut Vec<SvcMessage>) {
        if let Some(id) = self.files.locks.pop_front() {
            tracing::debug!(session = self.session, id, "host clipboard data unlocked");
            out.push(message(ClipboardPdu::UnlockData(LockDataId(id))));
        }
    }

    /// The session ends: every fetch fails now.
    pub(super) fn end_fetches(&mut self, events: &mut Vec<ClipboardEvent>) {
        let waiting = self.files.in_flight.take().map(|(stream, _, _)| stream);
        let queued = self.files.fetches.drain(..).map(|(stream, _, _)| stream);
        for stream in waiting.into_iter().chain(queued).collect::<Vec<_>>() {
            events.push(ClipboardEvent::HostFileData { stream, result: Err("the RDP session ended".into()) });
        }
    }
}

/// The stream id of a FileContents PDU that did not decode (after the 8-byte header).
pub(super) fn stream_of(payload: &[u8]) -> Option<u32> {
    payload.get(8..12).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use ironrdp_cliprdr::pdu::{
        Capabilities, ClipboardFormat, ClipboardFormatId, ClipboardFormatName, ClipboardProtocolVersion,
        FormatDataResponse, FormatList,
    };
    use ironrdp_core::{decode, encode_vec};
    use ironrdp_svc::SvcProcessor as _;
    use wayrail_clipboard::formats::{FILE_LIST_FORMAT_ID, FILE_LIST_FORMAT_NAME};
    use wayrail_clipboard::ClipboardCommand;

    use super::*;
    use crate::clipboard::{ClipboardChannel, FormatKind};

    fn feed(channel: &mut ClipboardChannel, pdu: ClipboardPdu<'_>) -> Vec<SvcMessage> {
        channel.process(&encode_vec(&pdu).unwrap()).unwrap()
    }

    /// What went out, encoded (decode with `pdus`).
    fn sent(out: &mut Vec<SvcMessage>) -> Vec<Vec<u8>> {
        out.drain(..).map(|m| m.encode_unframed_pdu().unwrap()).collect()
    }

    fn pdus(sent: &[Vec<u8>]) -> Vec<ClipboardPdu<'_>> {
        sent.iter().map(|b| decode::<ClipboardPdu<'_>>(b).unwrap()).collect()
    }

    /// A channel whose client sent `flags` and a first (empty) format list.
    fn ready(flags: ClipboardGeneralCapabilityFlags) -> (ClipboardChannel, ClipboardState) {
        let mut channel = ClipboardChannel::default();
        feed(&mut channel, ClipboardPdu::Capabilities(Capabilities::new(ClipboardProtocolVersion::V2, flags)));
        feed(&mut channel, ClipboardPdu::FormatList(FormatList::new_unicode(&[], true).unwrap()));
        let mut state = ClipboardState::new(3);
        state.on_channel(&mut channel, &mut Vec::new());
        (channel, state)
    }

    fn all_flags() -> ClipboardGeneralCapabilityFlags {
        ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES
            | ClipboardGeneralCapabilityFlags::STREAM_FILECLIP_ENABLED
            | ClipboardGeneralCapabilityFlags::CAN_LOCK_CLIPDATA
    }

    fn file_request(
        stream: u32,
        index: i32,
        flags: FileContentsFlags,
        position: u64,
        size: u32,
    ) -> ClipboardPdu<'static> {
        ClipboardPdu::FileContentsRequest(FileContentsRequest {
            stream_id: stream,
            index,
            flags,
            position,
            requested_size: size,
            data_id: None,
        })
    }

    #[test]
    fn the_host_reads_linux_files_and_a_failure_fails_one_request() {
        let (mut channel, mut state) = ready(all_flags());
        let mut out = Vec::new();
        let offer = ClipboardCommand::Offer { mimes: vec!["text/uri-list".into(), "text/plain".into()] };
        state.on_command(&mut channel, offer, &mut out);
        let bytes = sent(&mut out);
        let got = pdus(&bytes);
        let [ClipboardPdu::FormatList(list)] = got.as_slice() else { panic!("{got:?}") };
        let formats = list.get_formats(true).unwrap();
        assert!(formats.iter().any(
            |f| f.id().value() == FILE_LIST_FORMAT_ID && f.name().map(|n| n.value()) == Some(FILE_LIST_FORMAT_NAME)
        ));

        feed(&mut channel, file_request(5, 0, FileContentsFlags::SIZE, 0, 8));
        feed(&mut channel, file_request(6, 1, FileContentsFlags::RANGE, 12_345, u32::MAX));
        feed(&mut channel, file_request(7, 2, FileContentsFlags::RANGE, 1, 10));
        let events = state.on_channel(&mut channel, &mut out);
        assert_eq!(
            events,
            [
                ClipboardEvent::LinuxFileRequest {
                    session: 3,
                    stream: 5,
                    index: 0,
                    request: FileRequest::Size,
                    lock: None
                },
                ClipboardEvent::LinuxFileRequest {
                    session: 3,
                    stream: 6,
                    index: 1,
                    request: FileRequest::Range { offset: 12_345, len: MAX_RANGE_BYTES },
                    lock: None,
                },
                ClipboardEvent::LinuxFileRequest {
                    session: 3,
                    stream: 7,
                    index: 2,
                    request: FileRequest::Range { offset: 1, len: 10 },
                    lock: None,
                },
            ]
        );
        assert!(out.is_empty(), "nothing answered before the compositor does");
        let answer = |stream, result| ClipboardCommand::FileContents { session: 3, stream, result };
        state.on_command(&mut channel, answer(6, Err("gone".into())), &mut out);
        state.on_command(&mut channel, answer(5, Ok(FileData::Size(42))), &mut out);
        state.on_command(&mut channel, answer(99, Ok(FileData::Size(1))), &mut out);
        state.on_command(&mut channel, answer(7, Ok(FileData::Bytes(b"abc".to_vec()))), &mut out);
        let bytes = sent(&mut out);
        let got = pdus(&bytes);
        assert_eq!(
            got,
            [
                ClipboardPdu::FileContentsResponse(FileContentsResponse::new_error(6)),
                ClipboardPdu::FileContentsResponse(FileContentsResponse::new_size_response(5, 42)),
                ClipboardPdu::FileContentsResponse(FileContentsResponse::new_data_response(7, b"abc".to_vec())),
            ]
        );
        // A request that does not decode (a SIZE request for 4 bytes) fails by its stream id.
        let mut bad = encode_vec(&file_request(8, 0, FileContentsFlags::SIZE, 0, 8)).unwrap();
        bad[8 + 20] = 4;
        let replies = channel.process(&bad).unwrap();
        let bytes = sent(&mut replies.into_iter().collect());
        let got = pdus(&bytes);
        assert_eq!(got, [ClipboardPdu::FileContentsResponse(FileContentsResponse::new_error(8))]);
        // A host lock goes to the compositor, and so does the lock a request names.
        feed(&mut channel, ClipboardPdu::LockData(LockDataId(9)));
        let mut locked = FileContentsRequest {
            data_id: Some(9),
            ..match file_request(10, 0, FileContentsFlags::SIZE, 0, 8) {
                ClipboardPdu::FileContentsRequest(r) => r,
                _ => unreachable!(),
            }
        };
        locked.stream_id = 10;
        feed(&mut channel, ClipboardPdu::FileContentsRequest(locked.clone()));
        feed(&mut channel, ClipboardPdu::UnlockData(LockDataId(9)));
        let events = state.on_channel(&mut channel, &mut out);
        assert_eq!(
            events,
            [
                ClipboardEvent::HostLock { session: 3, id: 9, locked: true },
                ClipboardEvent::LinuxFileRequest {
                    session: 3,
                    stream: 10,
                    index: 0,
                    request: FileRequest::Size,
                    lock: Some(9)
                },
                ClipboardEvent::HostLock { session: 3, id: 9, locked: false },
            ]
        );
        // Linux copies text: a request without a lock fails at once, one under a lock goes on.
        state.on_command(&mut channel, ClipboardCommand::Offer { mimes: vec!["text/plain".into()] }, &mut out);
        out.clear();
        let mut request = locked.clone();
        request.data_id = None;
        request.stream_id = 11;
        feed(&mut channel, ClipboardPdu::FileContentsRequest(request));
        locked.stream_id = 12;
        feed(&mut channel, ClipboardPdu::FileContentsRequest(locked));
        let events = state.on_channel(&mut channel, &mut out);
        assert!(
            matches!(&events[..], [ClipboardEvent::LinuxFileRequest { stream: 12, lock: Some(9), .. }]),
            "{events:?}"
        );
        assert_eq!(pdus(&sent(&mut out)), [ClipboardPdu::FileContentsResponse(FileContentsResponse::new_error(11))]);
    }

    /// A client that cannot lock: reads of its files work until it copies something else,
    /// then fail without reaching it (its indices name the newer copy's files now), until a
    /// paste asks for the newer copy's list.
    #[test]
    fn without_locks_a_newer_host_copy_fails_reads_of_the_older_one() {
        let flags = ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES
            | ClipboardGeneralCapabilityFlags::STREAM_FILECLIP_ENABLED;
        let (mut channel, mut state) = ready(flags);
        let mut out = Vec::new();
        let list = [ClipboardFormat::new(ClipboardFormatId::new(0xC123))
            .with_name(ClipboardFormatName::new_static(FILE_LIST_FORMAT_NAME))];
        let copy = |channel: &mut ClipboardChannel| {
            feed(channel, ClipboardPdu::FormatList(FormatList::new_unicode(&list, true).unwrap()));
        };
        copy(&mut channel);
        state.on_channel(&mut channel, &mut out);
        state.on_command(&mut channel, ClipboardCommand::Request { id: 1, mime: "text/uri-list".into() }, &mut out);
        feed(&mut channel, ClipboardPdu::FormatDataResponse(FormatDataResponse::new_data(vec![0, 0, 0, 0])));
        state.on_channel(&mut channel, &mut out);
        out.clear();
        let fetch = |stream| ClipboardCommand::FetchFile { stream, index: 0, request: FileRequest::Size };
        state.on_command(&mut channel, fetch(1), &mut out);
        assert!(matches!(&pdus(&sent(&mut out))[..], [ClipboardPdu::FileContentsRequest(r)] if r.data_id.is_none()));
        feed(&mut channel, ClipboardPdu::FileContentsResponse(FileContentsResponse::new_size_response(1, 5)));
        state.on_channel(&mut channel, &mut out);
        // An empty list is no copy (xfreerdp 2.11 sends them while its copy stays).
        feed(&mut channel, ClipboardPdu::FormatList(FormatList::new_unicode(&[], true).unwrap()));
        state.on_channel(&mut channel, &mut out);
        let events = state.on_command(&mut channel, fetch(2), &mut out);
        assert!(events.is_empty() && pdus(&sent(&mut out)).len() == 1, "{events:?}");
        feed(&mut channel, ClipboardPdu::FileContentsResponse(FileContentsResponse::new_size_response(2, 5)));
        state.on_channel(&mut channel, &mut out);
        copy(&mut channel);
        state.on_channel(&mut channel, &mut out);
        out.clear();
        let events = state.on_command(&mut channel, fetch(3), &mut out);
        assert!(matches!(&events[..], [ClipboardEvent::HostFileData { stream: 3, result: Err(_) }]), "{events:?}");
        assert!(sent(&mut out).is_empty(), "a stale read reached the host");
        state.on_command(&mut channel, ClipboardCommand::Request { id: 2, mime: "text/uri-list".into() }, &mut out);
        feed(&mut channel, ClipboardPdu::FormatDataResponse(FormatDataResponse::new_data(vec![0, 0, 0, 0])));
        state.on_channel(&mut channel, &mut out);
        out.clear();
        let events = state.on_command(&mut channel, fetch(4), &mut out);
        assert!(events.is_empty(), "{events:?}");
        assert!(matches!(&pdus(&sent(&mut out))[..], [ClipboardPdu::FileContentsRequest(r)] if r.stream_id == 4));
    }

    /// The host asks for a Linux file list: the compositor hears whether the client takes
    /// files of 4 GB and more, and wayrail's own capabilities say it does.
    #[test]
    fn a_file_list_request_says_whether_the_client_takes_huge_files() {
        use ironrdp_cliprdr::pdu::FormatDataRequest;
        let huge = ClipboardGeneralCapabilityFlags::HUGE_FILE_SUPPORT_ENABLED;
        for (flags, expected) in [(all_flags(), false), (all_flags() | huge, true)] {
            let (mut channel, mut state) = ready(flags);
            let mut out = Vec::new();
            state.on_command(&mut channel, ClipboardCommand::Offer { mimes: vec!["text/uri-list".into()] }, &mut out);
            let request = FormatDataRequest { format: ClipboardFormatId::new(FILE_LIST_FORMAT_ID) };
            feed(&mut channel, ClipboardPdu::FormatDataRequest(request));
            let events = state.on_channel(&mut channel, &mut out);
            assert!(
                matches!(&events[..], [ClipboardEvent::LinuxRequest { kind: FormatKind::FileList, huge_files, .. }] if *huge_files == expected),
                "{flags:?}: {events:?}"
            );
        }
        let mut channel = ClipboardChannel::default();
        let bytes = sent(&mut channel.start().unwrap());
        let got = pdus(&bytes);
        let ClipboardPdu::Capabilities(caps) = &got[0] else { panic!("{got:?}") };
        assert!(caps.flags().contains(huge), "{:?}", caps.flags());
    }

    #[test]
    fn without_file_streams_no_file_list_is_offered_and_requests_fail() {
        let flags = ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES;
        let (mut channel, mut state) = ready(flags);
        let mut out = Vec::new();
        state.on_command(&mut channel, ClipboardCommand::Offer { mimes: vec!["text/uri-list".into()] }, &mut out);
        let bytes = sent(&mut out);
        let got = pdus(&bytes);
        let [ClipboardPdu::FormatList(list)] = got.as_slice() else { panic!("{got:?}") };
        assert!(list.get_formats(true).unwrap().is_empty());
        feed(&mut channel, file_request(5, 0, FileContentsFlags::SIZE, 0, 8));
        assert!(state.on_channel(&mut channel, &mut out).is_empty());
        assert_eq!(pdus(&sent(&mut out)), [ClipboardPdu::FileContentsResponse(FileContentsResponse::new_error(5))]);
    }

    /// A Linux paste of host files: the list is asked for under a lock, one file request is
    /// on the wire at a time with the lock's id, one that times out fails alone, and the
    /// lock goes when the compositor is done.
    #[test]
    fn linux_fetches_host_files_under_a_lock() {
        let (mut channel, mut state) = ready(all_flags());
        let mut out = Vec::new();
        let list = [ClipboardFormat::new(ClipboardFormatId::new(0xC123))
            .with_name(ClipboardFormatName::new_static(FILE_LIST_FORMAT_NAME))];
        feed(&mut channel, ClipboardPdu::FormatList(FormatList::new_unicode(&list, true).unwrap()));
        let events = state.on_channel(&mut channel, &mut out);
        assert!(
            matches!(&events[..], [ClipboardEvent::HostOffer { mimes, .. }] if mimes.iter().any(|m| m == "text/uri-list")
                && mimes.iter().any(|m| m == "x-special/gnome-copied-files")),
            "{events:?}"
        );
        out.clear();
        state.on_command(&mut channel, ClipboardCommand::Request { id: 1, mime: "text/uri-list".into() }, &mut out);
        let bytes = sent(&mut out);
        let got = pdus(&bytes);
        let [ClipboardPdu::LockData(LockDataId(lock)), ClipboardPdu::FormatDataRequest(request)] = got.as_slice()
        else {
            panic!("{got:?}")
        };
        let lock = *lock;
        assert_eq!(request.format.value(), 0xC123);
        feed(&mut channel, ClipboardPdu::FormatDataResponse(FormatDataResponse::new_data(vec![0, 0, 0, 0])));
        let events = state.on_channel(&mut channel, &mut out);
        assert!(matches!(
            &events[..],
            [ClipboardEvent::HostData { id: 1, kind: FormatKind::FileList, result: Ok(_), .. }]
        ));

        let fetch = |stream, request| ClipboardCommand::FetchFile { stream, index: 0, request };
        state.on_command(&mut channel, fetch(10, FileRequest::Size), &mut out);
        state.on_command(&mut channel, fetch(11, FileRequest::Range { offset: 4, len: 100 }), &mut out);
        state.on_command(&mut channel, fetch(12, FileRequest::Range { offset: 104, len: 100 }), &mut out);
        let bytes = sent(&mut out);
        let got = pdus(&bytes);
        let [ClipboardPdu::FileContentsRequest(first)] = got.as_slice() else { panic!("{got:?}") };
        assert_eq!(
            (first.stream_id, first.flags, first.requested_size, first.data_id),
            (10, FileContentsFlags::SIZE, 8, Some(lock))
        );
        feed(&mut channel, ClipboardPdu::FileContentsResponse(FileContentsResponse::new_size_response(10, 204)));
        let events = state.on_channel(&mut channel, &mut out);
        assert_eq!(events, [ClipboardEvent::HostFileData { stream: 10, result: Ok(FileData::Size(204)) }]);
        let bytes = sent(&mut out);
        let got = pdus(&bytes);
        let [ClipboardPdu::FileContentsRequest(second)] = got.as_slice() else { panic!("{got:?}") };
        assert_eq!((second.stream_id, second.position, second.requested_size), (11, 4, 100));
        // The host never answers: that request fails, the next goes out.
        assert!(state.deadline().is_some());
        let events = state.on_timeout(&mut out);
        assert!(matches!(&events[..], [ClipboardEvent::HostFileData { stream: 11, result: Err(_) }]), "{events:?}");
        let bytes = sent(&mut out);
        let got = pdus(&bytes);
        assert!(matches!(got.as_slice(), [ClipboardPdu::FileContentsRequest(r)] if r.stream_id == 12));
        // A late answer to the timed-out request changes nothing; the right one is taken.
        feed(&mut channel, ClipboardPdu::FileContentsResponse(FileContentsResponse::new_data_response(11, vec![1])));
        feed(
            &mut channel,
            ClipboardPdu::FileContentsResponse(FileContentsResponse::new_data_response(12, vec![2; 100])),
        );
        let events = state.on_channel(&mut channel, &mut out);
        assert_eq!(events, [ClipboardEvent::HostFileData { stream: 12, result: Ok(FileData::Bytes(vec![2; 100])) }]);
        state.on_command(&mut channel, ClipboardCommand::FilesDone, &mut out);
        assert_eq!(pdus(&sent(&mut out)), [ClipboardPdu::UnlockData(LockDataId(lock))]);
        // Two pastes at once: each list request takes a lock of its own, each end lets one go.
        let request = |id| ClipboardCommand::Request { id, mime: "text/uri-list".into() };
        state.on_command(&mut channel, request(2), &mut out);
        feed(&mut channel, ClipboardPdu::FormatDataResponse(FormatDataResponse::new_data(vec![0, 0, 0, 0])));
        state.on_channel(&mut channel, &mut out);
        state.on_command(&mut channel, request(3), &mut out);
        let bytes = sent(&mut out);
        let locks: Vec<u32> = pdus(&bytes)
            .iter()
            .filter_map(|p| match p {
                ClipboardPdu::LockData(LockDataId(id)) => Some(*id),
                ClipboardPdu::UnlockData(_) => panic!("an unlock while both fetch"),
                _ => None,
            })
            .collect();
        assert_eq!(locks.len(), 2);
        state.on_command(&mut channel, ClipboardCommand::FilesDone, &mut out);
        state.on_command(&mut channel, ClipboardCommand::FilesDone, &mut out);
        state.on_command(&mut channel, ClipboardCommand::FilesDone, &mut out);
        assert_eq!(
            pdus(&sent(&mut out)),
            [ClipboardPdu::UnlockData(LockDataId(locks[0])), ClipboardPdu::UnlockData(LockDataId(locks[1]))]
        );
        // The session ends with a fetch queued (and the second list request unanswered):
        // both fail.
        state.on_command(&mut channel, fetch(13, FileRequest::Size), &mut out);
        let events = state.on_end();
        assert!(
            matches!(
                &events[..],
                [
                    ClipboardEvent::HostData { id: 3, result: Err(_), .. },
                    ClipboardEvent::HostFileData { stream: 13, result: Err(_) }
                ]
            ),
            "{events:?}"
        );
    }
}
