//! The client's end of the `cliprdr` channel: a scriptable host clipboard.
//!
//! It answers the server's capabilities and Monitor Ready with its own capabilities and an
//! empty format list, records every server format list, and answers the server's data
//! requests from the data of its last copy ([`ClipboardClient::copy`]) — or, for robustness
//! tests, fails them or never answers ([`DataRequests`]). [`ClipboardClient::request`]
//! pastes what the server offers; responses land in [`ClipboardClient::responses`].
//!
//! Files ([`files`]): [`ClipboardClient::copy_files`] copies in-memory files whose contents
//! the client serves range by range, and [`files::FileClipboard`] reads the server's files.

pub mod files;

use std::collections::HashMap;

use ironrdp_cliprdr::pdu::{
    Capabilities, ClipboardFormat, ClipboardFormatId, ClipboardFormatName, ClipboardGeneralCapabilityFlags,
    ClipboardPdu, ClipboardProtocolVersion, FormatDataRequest, FormatDataResponse, FormatList, FormatListResponse,
};
use ironrdp_core::{decode, impl_as_any, IntoOwned as _};
use ironrdp_pdu::gcc::ChannelName;
use ironrdp_pdu::PduResult;
use ironrdp_svc::{ChannelFlags, SvcClientProcessor, SvcMessage, SvcProcessor};

pub use ironrdp_cliprdr;

/// How the client treats the server's Format Data Requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataRequests {
    /// With the data of the last copy (a failure for formats it did not copy).
    #[default]
    Answer,
    /// With a failure response.
    Fail,
    /// Not at all (a host that hangs).
    Ignore,
}

#[derive(Debug, Default)]
pub struct ClipboardClient {
    pub data_requests: DataRequests,
    /// Format lists the server sent: (id, name) of each format.
    pub server_lists: Vec<Vec<(u32, Option<String>)>>,
    /// Format ids the server asked for, in order.
    pub requests_seen: Vec<u32>,
    /// Answers to this client's data requests: Ok(data) or Err(()) for a failure response.
    pub responses: Vec<Result<Vec<u8>, ()>>,
    /// The server's Monitor Ready arrived and was answered.
    pub ready: bool,
    /// Format list responses from the server (true = OK).
    pub list_responses: Vec<bool>,
    /// Server payloads that did not decode.
    pub undecodable: usize,
    copied: HashMap<u32, Vec<u8>>,
    /// Files both ways.
    pub files: files::FileClipboard,
}

impl_as_any!(ClipboardClient);

fn message(pdu: ClipboardPdu<'static>) -> SvcMessage {
    SvcMessage::from(pdu).with_flags(ChannelFlags::SHOW_PROTOCOL)
}

impl ClipboardClient {
    /// A host copy: the formats (id, registered name) with their data, as a format list to
    /// send with `TestClient::send_svc::<ClipboardClient>`.
    pub fn copy(&mut self, formats: Vec<(u32, Option<&'static str>, Vec<u8>)>) -> Vec<SvcMessage> {
        self.copied.clear();
        let mut list = Vec::new();
        for (id, name, data) in formats {
            let format = ClipboardFormat::new(ClipboardFormatId::new(id));
            list.push(match name {
                Some(n) => format.with_name(ClipboardFormatName::new_static(n)),
                None => format,
            });
            self.copied.insert(id, data);
        }
        vec![message(ClipboardPdu::FormatList(FormatList::new_unicode(&list, true).expect("a format list")))]
    }

    /// A host copy of files (and folders): a `FileGroupDescriptorW` list whose contents the
    /// client serves from memory.
    pub fn copy_files(&mut self, copied: Vec<files::HostFile>) -> Vec<SvcMessage> {
        let list = files::FileClipboard::file_list(&copied);
        self.files.copied = copied;
        self.copy(vec![(files::CLIENT_FILE_LIST_ID, Some("FileGroupDescriptorW"), list)])
    }

    /// A paste of the server's clipboard in format `id`.
    pub fn request(id: u32) -> Vec<SvcMessage> {
        vec![message(ClipboardPdu::FormatDataRequest(FormatDataRequest { format: ClipboardFormatId::new(id) }))]
    }

    /// The newest server format list, if any.
    pub fn server_formats(&self) -> Option<&[(u32, Option<String>)]> {
        self.server_lists.last().map(Vec::as_slice)
    }
}

impl SvcProcessor for ClipboardClient {
    fn channel_name(&self) -> ChannelName {
        ChannelName::from_static(b"cliprdr\0")
    }

    fn process(&mut self, payload: &[u8]) -> PduResult<Vec<SvcMessage>> {
        let Ok(pdu) = decode::<ClipboardPdu<'_>>(payload) else {
            self.undecodable += 1;
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        match pdu {
            ClipboardPdu::MonitorReady => {
                let caps = Capabilities::new(
                    ClipboardProtocolVersion::V2,
                    ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES
                        | ClipboardGeneralCapabilityFlags::STREAM_FILECLIP_ENABLED
                        | ClipboardGeneralCapabilityFlags::FILECLIP_NO_FILE_PATHS
                        | ClipboardGeneralCapabilityFlags::CAN_LOCK_CLIPDATA,
                );
                out.push(message(ClipboardPdu::Capabilities(caps)));
                out.push(message(ClipboardPdu::FormatList(FormatList::new_unicode(&[], true).expect("a format list"))));
                self.ready = true;
            }
            ClipboardPdu::FormatList(list) => {
                let formats = list.get_formats(true).unwrap_or_default();
                self.server_lists
                    .push(formats.iter().map(|f| (f.id().value(), f.name().map(|n| n.value().to_owned()))).collect());
                out.push(message(ClipboardPdu::FormatListResponse(FormatListResponse::Ok)));
            }
            ClipboardPdu::FormatListResponse(r) => self.list_responses.push(r == FormatListResponse::Ok),
            ClipboardPdu::FormatDataRequest(request) => {
                let id = request.format.value();
                self.requests_seen.push(id);
                let response = match (self.data_requests, self.copied.get(&id)) {
                    (DataRequests::Ignore, _) => None,
                    (DataRequests::Answer, Some(data)) => Some(FormatDataResponse::new_data(data.clone())),
                    _ => Some(FormatDataResponse::new_error()),
                };
                out.extend(response.map(|r| message(ClipboardPdu::FormatDataResponse(r.into_owned()))));
            }
            ClipboardPdu::FormatDataResponse(response) => {
                self.responses.push(if response.is_error() { Err(()) } else { Ok(response.data().to_vec()) })
            }
            ClipboardPdu::FileContentsRequest(request) => out.push(self.files.answer(request)),
            ClipboardPdu::FileContentsResponse(response) => self.files.response(&response),
            ClipboardPdu::LockData(id) => self.files.locks.push((true, id.0)),
            ClipboardPdu::UnlockData(id) => self.files.locks.push((false, id.0)),
            _ => {}
        }
        Ok(out)
    }
}

impl SvcClientProcessor for ClipboardClient {}
