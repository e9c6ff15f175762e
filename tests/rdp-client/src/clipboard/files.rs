//! The file side of the test client's clipboard: a host that copies in-memory files (a
//! `FileGroupDescriptorW` list whose FileContents SIZE and RANGE requests it answers from
//! memory), and that reads the server's files with requests of its own.

use ironrdp_cliprdr::pdu::{
    ClipboardFileAttributes, ClipboardPdu, FileContentsFlags, FileContentsRequest, FileContentsResponse,
    FileDescriptor, LockDataId, PackedFileList,
};
use ironrdp_svc::SvcMessage;

use super::message;

/// The id the test client gives its file list format.
pub const CLIENT_FILE_LIST_ID: u32 = 0xC0F0;

/// A file (or folder) the test client copies; `name` as on the wire (`\` between folders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFile {
    pub name: String,
    pub dir: bool,
    pub data: Vec<u8>,
}

impl HostFile {
    pub fn file(name: &str, data: Vec<u8>) -> Self {
        Self { name: name.to_owned(), dir: false, data }
    }

    pub fn dir(name: &str) -> Self {
        Self { name: name.to_owned(), dir: true, data: Vec::new() }
    }
}

#[derive(Debug, Default)]
pub struct FileClipboard {
    /// What the last file copy holds, in list order.
    pub copied: Vec<HostFile>,
    /// The server's FileContents requests, in order.
    pub requests_seen: Vec<FileContentsRequest>,
    /// Lock (true) and Unlock (false) PDUs from the server, with their ids.
    pub locks: Vec<(bool, u32)>,
    /// Answers to this client's FileContents requests: stream id and Ok(data) or Err(()).
    pub responses: Vec<(u32, Result<Vec<u8>, ()>)>,
}

impl FileClipboard {
    /// The `FileGroupDescriptorW` data of `files`.
    pub fn file_list(files: &[HostFile]) -> Vec<u8> {
        let files = files
            .iter()
            .map(|f| {
                let attributes =
                    if f.dir { ClipboardFileAttributes::DIRECTORY } else { ClipboardFileAttributes::ARCHIVE };
                FileDescriptor::new(f.name.clone())
                    .with_attributes(attributes)
                    .with_file_size(f.data.len() as u64)
                    .with_last_write_time(133_000_000_000_000_000)
            })
            .collect();
        ironrdp_core::encode_vec(&PackedFileList { files }).expect("a file list")
    }

    /// Answers a server's FileContents request from the copied files; a file index past the
    /// list, a folder, or a range past the end is a failure.
    pub(super) fn answer(&mut self, request: FileContentsRequest) -> SvcMessage {
        let stream = request.stream_id;
        let file = self.copied.get(request.index as usize).filter(|f| !f.dir);
        let response = match file {
            Some(f) if request.flags.contains(FileContentsFlags::SIZE) => {
                FileContentsResponse::new_size_response(stream, f.data.len() as u64)
            }
            Some(f) if request.position <= f.data.len() as u64 => {
                let start = request.position as usize;
                let end = (start + request.requested_size as usize).min(f.data.len());
                FileContentsResponse::new_data_response(stream, f.data[start..end].to_vec())
            }
            _ => FileContentsResponse::new_error(stream),
        };
        self.requests_seen.push(request);
        message(ClipboardPdu::FileContentsResponse(response))
    }

    pub(super) fn response(&mut self, response: &FileContentsResponse<'_>) {
        let result = if response.is_error() { Err(()) } else { Ok(response.data().to_vec()) };
        self.responses.push((response.stream_id(), result));
    }

    /// A FileContents SIZE request for file `index` of the server's list.
    pub fn size_request(stream: u32, index: u32) -> Vec<SvcMessage> {
        Self::request(stream, index, FileContentsFlags::SIZE, 0, 8)
    }

    /// A FileContents RANGE request: `len` bytes of file `index` from `offset`.
    pub fn range_request(stream: u32, index: u32, offset: u64, len: u32) -> Vec<SvcMessage> {
        Self::request(stream, index, FileContentsFlags::RANGE, offset, len)
    }

    /// A RANGE request on the data the client locked with `lock`.
    pub fn locked_range_request(stream: u32, index: u32, offset: u64, len: u32, lock: u32) -> Vec<SvcMessage> {
        let mut messages = Self::range_request(stream, index, offset, len);
        let request = FileContentsRequest {
            stream_id: stream,
            index: index as i32,
            flags: FileContentsFlags::RANGE,
            position: offset,
            requested_size: len,
            data_id: Some(lock),
        };
        messages[0] = message(ClipboardPdu::FileContentsRequest(request));
        messages
    }

    /// A Lock (or Unlock) of the server's clipboard data.
    pub fn lock(id: u32, locked: bool) -> Vec<SvcMessage> {
        let id = LockDataId(id);
        vec![message(if locked { ClipboardPdu::LockData(id) } else { ClipboardPdu::UnlockData(id) })]
    }

    fn request(stream: u32, index: u32, flags: FileContentsFlags, position: u64, size: u32) -> Vec<SvcMessage> {
        let request = FileContentsRequest {
            stream_id: stream,
            index: index as i32,
            flags,
            position,
            requested_size: size,
            data_id: None,
        };
        vec![message(ClipboardPdu::FileContentsRequest(request))]
    }

    /// The answer to this client's request `stream`, if it came.
    pub fn response_to(&self, stream: u32) -> Option<&Result<Vec<u8>, ()>> {
        self.responses.iter().rev().find(|(s, _)| *s == stream).map(|(_, r)| r)
    }
}
