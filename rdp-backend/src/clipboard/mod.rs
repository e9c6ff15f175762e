//! The clipboard (MS-RDPECLIP, static channel `cliprdr`), server side, with delayed
//! rendering: format lists cross at once, data only when someone pastes.
//!
//! - `ClipboardChannel` is the channel processor: it decodes PDUs (skipping malformed ones
//!   with a warning, so a bad clipboard PDU costs the clipboard nothing else) and queues
//!   what the host said.
//! - `ClipboardState` is the session's side of it: who owns the clipboard, the queue of
//!   compositor paste requests (the protocol allows one data request in flight, and a
//!   response names no format), the timeouts, and the size cap.
//!
//! - `files`: FileContents requests both ways and the lock on the host's data.
//!
//! Conversions between host formats and mime types (`formats`) and the commands and events
//! the compositor exchanges with a session live in `wayrail-clipboard`; the conversions run
//! in the compositor's worker threads, never on this thread.

mod files;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ironrdp_cliprdr::pdu::{
    Capabilities, ClipboardFormat, ClipboardFormatId, ClipboardFormatName, ClipboardGeneralCapabilityFlags,
    ClipboardPdu, ClipboardProtocolVersion, FileContentsResponse, FormatDataRequest, FormatDataResponse, FormatList,
    FormatListResponse,
};
use ironrdp_core::{decode, impl_as_any, IntoOwned as _};
use ironrdp_pdu::gcc::ChannelName;
use ironrdp_pdu::PduResult;
use ironrdp_svc::{ChannelFlags, SvcMessage, SvcProcessor, SvcServerProcessor};

pub use wayrail_clipboard::{formats, ClipboardCommand, ClipboardEvent, FormatKind, MAX_CLIPBOARD_BYTES};

use files::{FileTransfers, HostFileResponse};

use crate::SessionId;

/// How long the host may stay silent while wayrail waits for clipboard data it asked for.
/// Every chunk that arrives on the channel restarts the clock, so a large transfer that
/// makes progress never times out.
pub const HOST_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many host data requests wait for Linux data; more are refused at once (a
/// host asks for one format at a time, so only a broken or hostile one gets here).
pub const MAX_HOST_REQUESTS: usize = 64;

/// What a PDU from the host amounts to.
#[derive(Debug)]
enum ChannelEvent {
    FormatList(Vec<ClipboardFormat>),
    DataRequest(u32),
    DataResponse(Result<Vec<u8>, String>),
    FileRequest(ironrdp_cliprdr::pdu::FileContentsRequest),
    FileResponse(HostFileResponse),
    Lock(u32, bool),
}

/// What wayrail can do with the clipboard: long format names, files as streams (with no
/// paths in its lists), locks on clipboard data, and files over 4 GB.
fn server_flags() -> ClipboardGeneralCapabilityFlags {
    ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES
        | ClipboardGeneralCapabilityFlags::STREAM_FILECLIP_ENABLED
        | ClipboardGeneralCapabilityFlags::FILECLIP_NO_FILE_PATHS
        | ClipboardGeneralCapabilityFlags::CAN_LOCK_CLIPDATA
        | ClipboardGeneralCapabilityFlags::HUGE_FILE_SUPPORT_ENABLED
}

/// The `cliprdr` channel processor.
#[derive(Debug, Default)]
pub struct ClipboardChannel {
    long_names: bool,
    /// The client's capability flags (None before its capabilities arrive).
    client_flags: Option<ClipboardGeneralCapabilityFlags>,
    events: VecDeque<ChannelEvent>,
    skipped: u64,
    /// A chunk sequence larger than the cap is being dropped.
    dropping_oversized: bool,
}

impl_as_any!(ClipboardChannel);

/// Clipboard PDUs carry chunked data: the header flag says so (MS-RDPBCGR).
fn message(pdu: ClipboardPdu<'static>) -> SvcMessage {
    SvcMessage::from(pdu).with_flags(ChannelFlags::SHOW_PROTOCOL)
}

impl ClipboardChannel {
    pub const NAME: &'static [u8; 8] = b"cliprdr\0";

    fn format_list(&self, formats: &[ClipboardFormat]) -> Option<SvcMessage> {
        match FormatList::new_unicode(formats, self.long_names) {
            Ok(list) => Some(message(ClipboardPdu::FormatList(list))),
            Err(err) => {
                tracing::warn!("clipboard format list not built: {err}");
                None
            }
        }
    }

    /// Called with every PDU fragment of this channel before the channel reassembles it:
    /// false when the fragment belongs to a sequence that declares more than the cap (it is
    /// dropped whole, and the transfer it carried fails by timeout or by the next response).
    pub fn screen_fragment(&mut self, user_data: &[u8]) -> bool {
        let Ok(header) = decode::<ironrdp_pdu::rdp::vc::ChannelPduHeader>(user_data) else {
            return true;
        };
        use ironrdp_pdu::rdp::vc::ChannelControlFlags as F;
        let first = header.flags.contains(F::FLAG_FIRST);
        let last = header.flags.contains(F::FLAG_LAST);
        if first && header.length as usize > MAX_CLIPBOARD_BYTES + 64 {
            tracing::warn!(
                bytes = header.length,
                cap = MAX_CLIPBOARD_BYTES,
                "clipboard PDU larger than the cap: dropped"
            );
            self.dropping_oversized = !last;
            return false;
        }
        if self.dropping_oversized {
            if last {
                self.dropping_oversized = false;
            }
            return false;
        }
        true
    }
}

impl SvcProcessor for ClipboardChannel {
    fn channel_name(&self) -> ChannelName {
        ChannelName::from_static(Self::NAME)
    }

    fn start(&mut self) -> PduResult<Vec<SvcMessage>> {
        let caps = Capabilities::new(ClipboardProtocolVersion::V2, server_flags());
        Ok(vec![message(ClipboardPdu::Capabilities(caps)), message(ClipboardPdu::MonitorReady)])
    }

    fn process(&mut self, payload: &[u8]) -> PduResult<Vec<SvcMessage>> {
        let pdu = match decode::<ClipboardPdu<'_>>(payload) {
            Ok(pdu) => pdu,
            Err(err) => {
                self.skipped += 1;
                let kind = payload.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
                tracing::warn!(msg_type = ?kind, len = payload.len(), skipped = self.skipped, "clipboard PDU skipped: {err}");
                // A broken data response still ends the request it answers.
                if kind == Some(0x0005) {
                    self.events.push_back(ChannelEvent::DataResponse(Err(format!("malformed data response: {err}"))));
                }
                // So do broken file requests and responses, by their stream id.
                match (kind, files::stream_of(payload)) {
                    (Some(0x0008), Some(stream)) => {
                        let response = FileContentsResponse::new_error(stream);
                        return Ok(vec![message(ClipboardPdu::FileContentsResponse(response))]);
                    }
                    (Some(0x0009), Some(stream)) => {
                        let result = Err(format!("malformed file contents response: {err}"));
                        self.events.push_back(ChannelEvent::FileResponse(HostFileResponse { stream, result }));
                    }
                    _ => {}
                }
                return Ok(Vec::new());
            }
        };
        let mut out = Vec::new();
        match pdu {
            ClipboardPdu::Capabilities(caps) => {
                self.long_names = caps.flags().contains(ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES);
                self.client_flags = Some(caps.flags());
                tracing::debug!(flags = ?caps.flags(), version = ?caps.version(), "clipboard capabilities");
            }
            ClipboardPdu::FormatList(list) => {
                // An unreadable list is still a list: the host copied something.
                let formats = list.get_formats(self.long_names).unwrap_or_else(|err| {
                    tracing::warn!("clipboard format list unreadable: {err}");
                    Vec::new()
                });
                out.push(message(ClipboardPdu::FormatListResponse(FormatListResponse::Ok)));
                self.events.push_back(ChannelEvent::FormatList(formats));
            }
            ClipboardPdu::FormatListResponse(response) => {
                if response == FormatListResponse::Fail {
                    tracing::debug!("the host refused wayrail's clipboard format list");
                }
            }
            ClipboardPdu::FormatDataRequest(request) => {
                self.events.push_back(ChannelEvent::DataRequest(request.format.value()));
            }
            ClipboardPdu::FormatDataResponse(response) => {
                let result = if response.is_error() {
                    Err("the host could not render the data".to_owned())
                } else if response.data().len() > MAX_CLIPBOARD_BYTES {
                    Err(format!("{} bytes is more than the cap of {MAX_CLIPBOARD_BYTES}", response.data().len()))
                } else {
                    Ok(response.into_owned().into_data().into_owned())
                };
                self.events.push_back(ChannelEvent::DataResponse(result));
            }
            ClipboardPdu::FileContentsRequest(request) => {
                self.events.push_back(ChannelEvent::FileRequest(request));
            }
            ClipboardPdu::FileContentsResponse(response) => {
                let stream = response.stream_id();
                let result = if response.is_error() {
                    Err("the host could not read the file".to_owned())
                } else {
                    Ok(response.data().to_vec())
                };
                self.events.push_back(ChannelEvent::FileResponse(HostFileResponse { stream, result }));
            }
            ClipboardPdu::LockData(id) => self.events.push_back(ChannelEvent::Lock(id.0, true)),
            ClipboardPdu::UnlockData(id) => self.events.push_back(ChannelEvent::Lock(id.0, false)),
            ClipboardPdu::MonitorReady | ClipboardPdu::TemporaryDirectory(_) => {
                tracing::trace!("clipboard PDU ignored");
            }
        }
        Ok(out)
    }
}

impl SvcServerProcessor for ClipboardChannel {}

/// A compositor paste request sent to the host and not answered yet.
#[derive(Debug)]
struct InFlight {
    id: u64,
    kind: FormatKind,
    mime: String,
    last_activity: Instant,
}

/// The session's clipboard: ownership, queues and timeouts.
#[derive(Debug)]
pub struct ClipboardState {
    session: SessionId,
    /// The client sent its first format list: the channel is up.
    ready: bool,
    /// The host's current formats that wayrail carries (id, kind); empty when Linux owns.
    host_formats: Vec<(u32, FormatKind)>,
    /// What Linux offers when Linux owns the clipboard.
    linux_mimes: Option<Vec<String>>,
    /// A Linux offer that came before the channel was up.
    pending_offer: Option<Vec<String>>,
    /// Compositor paste requests waiting for their turn.
    queue: VecDeque<(u64, String)>,
    in_flight: Option<InFlight>,
    /// Host data requests (format ids) not answered yet; the front one is with the compositor.
    host_requests: VecDeque<u32>,
    host_request_sent: Option<u64>,
    /// Host data requests refused for `MAX_HOST_REQUESTS` (for the log).
    refused_host_requests: u64,
    next_linux_id: u64,
    timeout: Duration,
    /// File requests both ways, and the lock on the host's data.
    files: FileTransfers,
    /// The client's capability flags, as the channel last said.
    client_flags: ClipboardGeneralCapabilityFlags,
}

impl ClipboardState {
    pub fn new(session: SessionId) -> Self {
        Self {
            session,
            ready: false,
            host_formats: Vec::new(),
            linux_mimes: None,
            pending_offer: None,
            queue: VecDeque::new(),
            in_flight: None,
            host_requests: VecDeque::new(),
            host_request_sent: None,
            refused_host_requests: 0,
            next_linux_id: 1,
            timeout: HOST_IDLE_TIMEOUT,
            files: FileTransfers::default(),
            client_flags: ClipboardGeneralCapabilityFlags::empty(),
        }
    }

    /// Data arrived on the channel: an answer in progress is not idle.
    pub fn touch(&mut self) {
        if let Some(f) = self.in_flight.as_mut() {
            f.last_activity = Instant::now();
        }
        self.files.touch();
    }

    /// When the request in flight (data or file contents) times out, if one is.
    pub fn deadline(&self) -> Option<Instant> {
        let data = self.in_flight.as_ref().map(|f| f.last_activity + self.timeout);
        match (data, self.files.deadline(self.timeout)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn client_streams_files(&self) -> bool {
        self.client_flags.contains(ClipboardGeneralCapabilityFlags::STREAM_FILECLIP_ENABLED)
    }

    /// Handles what the host sent; returns the PDUs to send and the events for the compositor.
    pub fn on_channel(&mut self, channel: &mut ClipboardChannel, out: &mut Vec<SvcMessage>) -> Vec<ClipboardEvent> {
        let mut events = Vec::new();
        self.client_flags = channel.client_flags.unwrap_or(ClipboardGeneralCapabilityFlags::empty());
        while let Some(event) = channel.events.pop_front() {
            match event {
                ChannelEvent::FormatList(formats) => self.on_host_list(channel, formats, out, &mut events),
                ChannelEvent::DataRequest(format) => {
                    if self.host_requests.len() >= MAX_HOST_REQUESTS {
                        self.refused_host_requests += 1;
                        if self.refused_host_requests.is_power_of_two() {
                            tracing::warn!(
                                session = self.session,
                                format,
                                refused = self.refused_host_requests,
                                "{MAX_HOST_REQUESTS} host clipboard data requests wait already: refused"
                            );
                        }
                        out.push(message(ClipboardPdu::FormatDataResponse(FormatDataResponse::new_error())));
                        continue;
                    }
                    self.host_requests.push_back(format);
                    self.pump_host_requests(out, &mut events);
                }
                ChannelEvent::DataResponse(result) => match self.in_flight.take() {
                    Some(f) => {
                        if let Err(err) = &result {
                            tracing::warn!(session = self.session, id = f.id, "host clipboard data: {err}");
                        }
                        events.push(ClipboardEvent::HostData { id: f.id, kind: f.kind, mime: f.mime, result });
                        self.pump_requests(out, &mut events);
                    }
                    None => tracing::debug!(session = self.session, "clipboard data nobody waits for (late?) dropped"),
                },
                ChannelEvent::FileRequest(request) => self.on_host_file_request(request, out, &mut events),
                ChannelEvent::FileResponse(response) => self.on_host_file_response(response, out, &mut events),
                ChannelEvent::Lock(id, locked) => {
                    tracing::debug!(
                        session = self.session,
                        id,
                        locked,
                        "the host locks or unlocks wayrail's clipboard data"
                    );
                    events.push(ClipboardEvent::HostLock { session: self.session, id, locked });
                }
            }
        }
        events
    }

    fn on_host_list(
        &mut self,
        channel: &mut ClipboardChannel,
        formats: Vec<ClipboardFormat>,
        out: &mut Vec<SvcMessage>,
        events: &mut Vec<ClipboardEvent>,
    ) {
        let first = !self.ready;
        self.ready = true;
        if !formats.is_empty() {
            self.files.host_copied();
        }
        let streams = self.client_streams_files();
        let carried: Vec<(u32, FormatKind)> = formats
            .iter()
            .filter_map(|f| {
                let id = f.id().value();
                FormatKind::of_host_format(id, f.name().map(|n| n.value())).map(|k| (id, k))
            })
            .filter(|(_, kind)| *kind != FormatKind::FileList || streams)
            .collect();
        tracing::debug!(
            session = self.session,
            formats = ?formats.iter().map(|f| (f.id().value(), f.name().map(|n| n.value().to_owned()))).collect::<Vec<_>>(),
            carried = carried.len(),
            "host clipboard format list"
        );
        if first {
            // The client's clipboard from before it connected: a Linux selection wins.
            if let Some(mimes) = self.pending_offer.take() {
                self.send_offer(channel, mimes, out);
                return;
            }
        }
        if carried.is_empty() {
            // Nothing wayrail can carry. A Linux selection stays. An earlier host copy goes
            // when the host now lists formats of something else: a paste of the old formats
            // would fail. An empty list changes nothing: xfreerdp 2.11 sends one whenever a
            // read of its X clipboard comes back empty (a large text's first read), while
            // the copy is still there to be pasted.
            if !formats.is_empty() && !self.host_formats.is_empty() {
                self.host_formats.clear();
                events.push(ClipboardEvent::HostOffer { session: self.session, mimes: Vec::new(), initial: first });
            }
            return;
        }
        self.pending_offer = None;
        self.linux_mimes = None;
        let mut mimes: Vec<String> = Vec::new();
        for (_, kind) in &carried {
            for m in kind.linux_mimes() {
                if !mimes.iter().any(|x| x == m) {
                    mimes.push(m.to_string());
                }
            }
        }
        self.host_formats = carried;
        events.push(ClipboardEvent::HostOffer { session: self.session, mimes, initial: first });
    }

    fn send_offer(&mut self, channel: &ClipboardChannel, mimes: Vec<String>, out: &mut Vec<SvcMessage>) {
        let mut formats: Vec<ClipboardFormat> = Vec::new();
        for mime in &mimes {
            for (id, name) in FormatKind::host_formats_for_mime(mime) {
                if formats.iter().any(|f| f.id().value() == *id) {
                    continue;
                }
                if *id == formats::FILE_LIST_FORMAT_ID && !self.client_streams_files() {
                    continue;
                }
                let format = ClipboardFormat::new(ClipboardFormatId::new(*id));
                formats.push(match name {
                    Some(n) => format.with_name(ClipboardFormatName::new_static(n)),
                    None => format,
                });
            }
        }
        tracing::debug!(session = self.session, ?mimes, formats = formats.len(), "Linux clipboard offered to the host");
        self.host_formats.clear();
        self.linux_mimes = Some(mimes);
        out.extend(channel.format_list(&formats));
    }

    /// Handles a command of the compositor.
    pub fn on_command(
        &mut self,
        channel: &mut ClipboardChannel,
        command: ClipboardCommand,
        out: &mut Vec<SvcMessage>,
    ) -> Vec<ClipboardEvent> {
        let mut events = Vec::new();
        self.client_flags = channel.client_flags.unwrap_or(ClipboardGeneralCapabilityFlags::empty());
        match command {
            ClipboardCommand::FileContents { session, stream, result } => {
                self.on_linux_file_data(session, stream, result, out)
            }
            ClipboardCommand::FetchFile { stream, index, request } => {
                self.on_fetch(stream, index, request, out, &mut events)
            }
            ClipboardCommand::FilesDone => self.unlock_host_files(out),
            ClipboardCommand::Offer { mimes } => {
                if self.ready {
                    self.send_offer(channel, mimes, out);
                } else {
                    self.pending_offer = Some(mimes);
                }
            }
            ClipboardCommand::Request { id, mime } => {
                self.queue.push_back((id, mime));
                self.pump_requests(out, &mut events);
            }
            ClipboardCommand::LinuxData { session, id, result } => {
                if session != self.session || self.host_request_sent != Some(id) {
                    tracing::debug!(session = self.session, id, "Linux clipboard data for an old request dropped");
                    return events;
                }
                self.host_request_sent = None;
                self.host_requests.pop_front();
                let response = match result {
                    Ok(data) => FormatDataResponse::new_data(data),
                    Err(err) => {
                        tracing::warn!(session = self.session, id, "the host asked for clipboard data: {err}");
                        FormatDataResponse::new_error()
                    }
                };
                out.push(message(ClipboardPdu::FormatDataResponse(response.into_owned())));
                self.pump_host_requests(out, &mut events);
            }
        }
        events
    }

    /// Sends the next queued paste request to the host if none is in flight.
    fn pump_requests(&mut self, out: &mut Vec<SvcMessage>, events: &mut Vec<ClipboardEvent>) {
        while self.in_flight.is_none() {
            let Some((id, mime)) = self.queue.pop_front() else { return };
            match FormatKind::pick_host_format(&mime, &self.host_formats) {
                Some((format, kind)) => {
                    tracing::debug!(session = self.session, id, %mime, format, ?kind, "clipboard data requested from the host");
                    if kind == FormatKind::FileList {
                        self.lock_host_files(self.client_flags, out);
                    }
                    let request = FormatDataRequest { format: ClipboardFormatId::new(format) };
                    out.push(message(ClipboardPdu::FormatDataRequest(request)));
                    self.in_flight = Some(InFlight { id, kind, mime, last_activity: Instant::now() });
                }
                None => events.push(ClipboardEvent::HostData {
                    id,
                    kind: FormatKind::UnicodeText,
                    mime: mime.clone(),
                    result: Err(format!("the host offers nothing for {mime}")),
                }),
            }
        }
    }

    /// Hands the front host data request to the compositor, or answers it with a failure at
    /// once when Linux has nothing for it.
    fn pump_host_requests(&mut self, out: &mut Vec<SvcMessage>, events: &mut Vec<ClipboardEvent>) {
        while self.host_request_sent.is_none() {
            let Some(&format) = self.host_requests.front() else { return };
            let kind = match format {
                formats::HTML_FORMAT_ID => Some(FormatKind::Html),
                formats::RTF_FORMAT_ID => Some(FormatKind::Rtf),
                formats::PNG_FORMAT_ID => Some(FormatKind::Png),
                formats::FILE_LIST_FORMAT_ID => Some(FormatKind::FileList),
                id => FormatKind::of_host_format(id, None),
            };
            let mime = kind.zip(self.linux_mimes.as_ref()).and_then(|(k, offered)| k.pick_linux_mime(offered));
            match (kind, mime) {
                (Some(kind), Some(mime)) => {
                    let id = self.next_linux_id;
                    self.next_linux_id += 1;
                    self.host_request_sent = Some(id);
                    let huge_files =
                        self.client_flags.contains(ClipboardGeneralCapabilityFlags::HUGE_FILE_SUPPORT_ENABLED);
                    events.push(ClipboardEvent::LinuxRequest { session: self.session, id, kind, mime, huge_files });
                }
                _ => {
                    tracing::debug!(session = self.session, format, "the host asked for a format Linux does not offer");
                    self.host_requests.pop_front();
                    out.push(message(ClipboardPdu::FormatDataResponse(FormatDataResponse::new_error())));
                }
            }
        }
    }

    /// The request in flight timed out: it fails, and the next one goes. With both a data
    /// request and a file request on the wire, the one that is due (the older one) fails.
    pub fn on_timeout(&mut self, out: &mut Vec<SvcMessage>) -> Vec<ClipboardEvent> {
        let mut events = Vec::new();
        let data_due = self.in_flight.as_ref().map(|f| f.last_activity + self.timeout);
        let file_due = self.files.deadline(self.timeout);
        if file_due.is_some_and(|f| data_due.is_none_or(|d| f <= d)) {
            self.fetch_timed_out(out, &mut events);
            return events;
        }
        if let Some(f) = self.in_flight.take() {
            tracing::warn!(session = self.session, id = f.id, mime = %f.mime, "the host did not answer a clipboard data request within {:?}", self.timeout);
            events.push(ClipboardEvent::HostData {
                id: f.id,
                kind: f.kind,
                mime: f.mime,
                result: Err(format!("the host did not answer within {:?}", self.timeout)),
            });
        }
        self.pump_requests(out, &mut events);
        events
    }

    /// The session ends: every paste waiting for the host fails now.
    pub fn on_end(&mut self) -> Vec<ClipboardEvent> {
        let mut events = Vec::new();
        let waiting = self.in_flight.take().map(|f| (f.id, f.kind, f.mime));
        let queued = self.queue.drain(..).map(|(id, mime)| (id, FormatKind::UnicodeText, mime));
        for (id, kind, mime) in waiting.into_iter().chain(queued) {
            events.push(ClipboardEvent::HostData { id, kind, mime, result: Err("the RDP session ended".into()) });
        }
        self.end_fetches(&mut events);
        events
    }
}

#[cfg(test)]
mod tests;
