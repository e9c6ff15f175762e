//! Files on the clipboard: a Linux copy of `file://` URIs as the host's file list
//! (`FileGroupDescriptorW`, [MS-RDPECLIP] 2.2.5.2.3), and a host's file list fetched into a
//! folder Linux apps get URIs of.
//!
//! Linux → host: [`LinuxFileList::collect`] walks the copied paths (folders included) into
//! descriptors with relative names, sizes, attributes and write times, and
//! [`LinuxFileList::serve`] answers the host's FileContents SIZE and RANGE requests with
//! bounded reads. Host → Linux: [`decode_host_list`] reads the host's list and refuses the
//! names that could leave the destination folder, and [`fetch_host_files`] fetches every
//! file through a caller-given request function into that folder.
//!
//! Everything here blocks on the file system: the compositor runs it on worker threads.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ironrdp_cliprdr::pdu::{ClipboardFileAttributes, FileDescriptor, PackedFileList};
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The mime types a file copy travels as on Linux.
pub const URI_LIST_MIME: &str = "text/uri-list";
pub const GNOME_COPIED_FILES_MIME: &str = "x-special/gnome-copied-files";
pub const FILE_MIMES: &[&str] = &[URI_LIST_MIME, GNOME_COPIED_FILES_MIME];

/// The most one RANGE request is served with. `cbRequested` is a 32-bit count; clients ask
/// for far less (Windows 64 KB to a few MB), so more than this is only a hostile request,
/// and the answer is cut to it (a short answer is allowed: the host asks again from there).
pub const MAX_RANGE_BYTES: u32 = 8 * 1024 * 1024;

/// The size of the RANGE requests wayrail sends when it fetches the host's files.
pub const FETCH_CHUNK_BYTES: u32 = 4 * 1024 * 1024;

/// The most entries a file list carries (IronRDP's decoder refuses more).
pub const MAX_FILE_ENTRIES: usize = ironrdp_cliprdr::pdu::MAX_FILE_COUNT;

/// Files this size or larger need a client that said `HUGE_FILE_SUPPORT_ENABLED`
/// ([MS-RDPECLIP] 2.2.2.1.1.1): others take sizes and offsets as 32-bit numbers.
pub const HUGE_FILE_BYTES: u64 = 1 << 32;

/// `cFileName` holds 260 UTF-16 units, the terminating NUL included.
const MAX_NAME_UNITS: usize = 259;

/// What the host asks of one file of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRequest {
    /// Its size.
    Size,
    /// Up to `len` bytes from `offset`.
    Range { offset: u64, len: u32 },
}

/// The answer to a [`FileRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileData {
    Size(u64),
    Bytes(Vec<u8>),
}

// ------------------------------------------------------------------ FILETIME

/// 100 ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// A time as a Windows FILETIME (100 ns intervals since 1601); times before 1601 are 0.
pub fn filetime(t: SystemTime) -> u64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => FILETIME_UNIX_EPOCH.saturating_add((d.as_nanos() / 100).min(u128::from(u64::MAX)) as u64),
        Err(e) => FILETIME_UNIX_EPOCH.saturating_sub((e.duration().as_nanos() / 100).min(u128::from(u64::MAX)) as u64),
    }
}

/// A FILETIME as a time (None for 0, "not set").
pub fn from_filetime(ft: u64) -> Option<SystemTime> {
    if ft == 0 {
        return None;
    }
    let hundreds = |n: u64| Duration::from_nanos(n.saturating_mul(100));
    if ft >= FILETIME_UNIX_EPOCH {
        UNIX_EPOCH.checked_add(hundreds(ft - FILETIME_UNIX_EPOCH))
    } else {
        UNIX_EPOCH.checked_sub(hundreds(FILETIME_UNIX_EPOCH - ft))
    }
}

// ------------------------------------------------------------------ URI lists

/// What RFC 3986 leaves unescaped in a path: unreserved characters and `/`.
const PATH_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// The local paths of a `text/uri-list` or `x-special/gnome-copied-files` selection, each
/// URI as a path or as the reason it is not one (not `file:`, another host, not absolute).
pub fn parse_uri_list(data: &[u8]) -> Vec<Result<PathBuf, String>> {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).peekable();
    // x-special/gnome-copied-files opens with the action.
    if lines.peek().is_some_and(|l| *l == "copy" || *l == "cut") {
        lines.next();
    }
    lines.map(path_of_uri).collect()
}

fn path_of_uri(uri: &str) -> Result<PathBuf, String> {
    let rest = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("FILE://"))
        .ok_or_else(|| format!("{uri}: not a file:// URI"))?;
    let (host, path) = match rest.find('/') {
        Some(n) => rest.split_at(n),
        None => return Err(format!("{uri}: no path")),
    };
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
        return Err(format!("{uri}: a file on another host"));
    }
    let bytes: Vec<u8> = percent_decode(path.as_bytes()).collect();
    if bytes.contains(&0) {
        return Err(format!("{uri}: a NUL in the path"));
    }
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
    if !path.is_absolute() {
        return Err(format!("{uri}: not an absolute path"));
    }
    Ok(path)
}

/// `file://` URI of an absolute path, escaped as RFC 3986 asks.
pub fn uri_of_path(path: &Path) -> String {
    format!("file://{}", percent_encode(path.as_os_str().as_bytes(), PATH_ESCAPES))
}

/// The selection data for `mime` (`text/uri-list`, CRLF after each URI as RFC 2483 says, or
/// `x-special/gnome-copied-files`, a copy).
pub fn uri_list(paths: &[PathBuf], mime: &str) -> Vec<u8> {
    let uris: Vec<String> = paths.iter().map(|p| uri_of_path(p)).collect();
    if mime == GNOME_COPIED_FILES_MIME {
        let mut out = String::from("copy");
        for uri in uris {
            out.push('\n');
            out.push_str(&uri);
        }
        out.into_bytes()
    } else {
        uris.iter().map(|u| format!("{u}\r\n")).collect::<String>().into_bytes()
    }
}

// ------------------------------------------------------------------ Linux → host

/// One entry of a Linux copy as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxEntry {
    /// Where it is.
    pub path: PathBuf,
    /// Its name in the list: relative to the copied item's folder, `\` between folders.
    pub name: String,
    pub dir: bool,
    pub size: u64,
    pub write_time: u64,
    pub readonly: bool,
}

/// The file list of a Linux copy: what the host was told, in the order it was told (the
/// host names files by their index in it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxFileList {
    pub entries: Vec<LinuxEntry>,
    /// Paths left out, and why (unreadable, a link to a folder, a name Windows cannot take).
    pub skipped: Vec<String>,
}

impl LinuxFileList {
    /// Walks the copied paths: each one, and inside a folder everything under it, folders
    /// before their contents and names sorted. Links to files count as the file; links to
    /// folders inside a copied folder are left out (they could loop).
    pub fn collect(paths: &[PathBuf]) -> Self {
        let mut list = Self::default();
        let mut top_names: Vec<String> = Vec::new();
        for path in paths {
            let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                list.skipped.push(format!("{}: no file name", path.display()));
                continue;
            };
            if top_names.contains(&name) {
                list.skipped.push(format!("{}: a second item named {name}", path.display()));
                continue;
            }
            top_names.push(name.clone());
            match fs::metadata(path) {
                Ok(meta) => list.add(path, &name, &meta),
                Err(err) => list.skipped.push(format!("{}: {err}", path.display())),
            }
        }
        list
    }

    fn add(&mut self, path: &Path, name: &str, meta: &fs::Metadata) {
        if self.entries.len() >= MAX_FILE_ENTRIES {
            self.skipped.push(format!("{}: more than {MAX_FILE_ENTRIES} entries", path.display()));
            return;
        }
        let leaf = path.file_name().unwrap_or_default();
        if std::str::from_utf8(leaf.as_bytes()).is_err() {
            self.skipped.push(format!("{}: the name is not UTF-8", path.display()));
            return;
        }
        if leaf.as_bytes().contains(&b'\\') {
            self.skipped.push(format!("{}: a \\ in the name", path.display()));
            return;
        }
        if name.encode_utf16().count() > MAX_NAME_UNITS {
            self.skipped.push(format!("{}: the name is longer than {MAX_NAME_UNITS} UTF-16 units", path.display()));
            return;
        }
        let dir = meta.is_dir();
        self.entries.push(LinuxEntry {
            path: path.to_owned(),
            name: name.to_owned(),
            dir,
            size: if dir { 0 } else { meta.len() },
            write_time: meta.modified().map(filetime).unwrap_or(0),
            readonly: meta.permissions().mode() & 0o200 == 0,
        });
        if !dir {
            return;
        }
        let mut children: Vec<(std::ffi::OsString, PathBuf)> = match fs::read_dir(path) {
            Ok(entries) => entries.filter_map(Result::ok).map(|e| (e.file_name(), e.path())).collect(),
            Err(err) => {
                self.skipped.push(format!("{}: {err}", path.display()));
                return;
            }
        };
        children.sort();
        for (child_name, child) in children {
            let meta = match child_metadata(&child) {
                Ok(meta) => meta,
                Err(why) => {
                    self.skipped.push(format!("{}: {why}", child.display()));
                    continue;
                }
            };
            let child_name = format!("{name}\\{}", child_name.to_string_lossy());
            self.add(&child, &child_name, &meta);
        }
    }

    /// Leaves out the files of [`HUGE_FILE_BYTES`] or more (for a client that cannot take
    /// them: it would get a wrong size), each with why in `skipped`. Before the list is
    /// given to the host: the host names files by their index in what it got.
    pub fn without_huge_files(&mut self) {
        let (huge, kept): (Vec<LinuxEntry>, Vec<LinuxEntry>) =
            std::mem::take(&mut self.entries).into_iter().partition(|e| !e.dir && e.size >= HUGE_FILE_BYTES);
        self.entries = kept;
        for e in huge {
            self.skipped.push(format!(
                "{}: {} bytes, 4 GB or more, and the host's client cannot take files that large",
                e.path.display(),
                e.size
            ));
        }
    }

    /// The list as `FileGroupDescriptorW` data (CLIPRDR_FILELIST).
    pub fn encode(&self) -> anyhow::Result<Vec<u8>> {
        let files = self
            .entries
            .iter()
            .map(|e| {
                let mut attributes =
                    if e.dir { ClipboardFileAttributes::DIRECTORY } else { ClipboardFileAttributes::ARCHIVE };
                if e.readonly {
                    attributes |= ClipboardFileAttributes::READONLY;
                }
                FileDescriptor::new(e.name.clone())
                    .with_attributes(attributes)
                    .with_last_write_time(e.write_time)
                    .with_file_size(e.size)
            })
            .collect();
        ironrdp_core::encode_vec(&PackedFileList { files }).map_err(|e| anyhow::anyhow!("encoding a file list: {e}"))
    }

    /// Answers a host's request for file `index` of the list from the file as it is now: a
    /// file that vanished or cannot be read fails this request alone.
    pub fn serve(&self, index: u32, request: FileRequest) -> Result<FileData, String> {
        let entry = self
            .entries
            .get(index as usize)
            .ok_or_else(|| format!("no file {index} in a list of {}", self.entries.len()))?;
        if entry.dir {
            return Err(format!("{} is a folder", entry.path.display()));
        }
        let fail = |e: std::io::Error| format!("{}: {e}", entry.path.display());
        match request {
            FileRequest::Size => fs::metadata(&entry.path).map(|m| FileData::Size(m.len())).map_err(fail),
            FileRequest::Range { offset, len } => {
                read_range(&entry.path, offset, len).map(FileData::Bytes).map_err(fail)
            }
        }
    }
}

/// Up to `len` bytes (at most [`MAX_RANGE_BYTES`]) of a file from `offset`; fewer at its end,
/// none past it.
pub fn read_range(path: &Path, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    file.seek(SeekFrom::Start(offset))?;
    let len = len.min(MAX_RANGE_BYTES);
    let mut out = Vec::with_capacity(len as usize);
    file.take(u64::from(len)).read_to_end(&mut out)?;
    Ok(out)
}

// ------------------------------------------------------------------ host → Linux

/// One entry of a host's file list that may be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Its index in the host's list (what FileContents requests name).
    pub index: u32,
    /// Where it goes, relative to the destination folder: plain names only.
    pub relative: PathBuf,
    pub dir: bool,
    pub size: Option<u64>,
    pub write_time: Option<u64>,
}

/// A host's `FileGroupDescriptorW` data: the entries that may be written, and the names
/// refused (with the reason).
pub fn decode_host_list(data: &[u8]) -> anyhow::Result<(Vec<HostEntry>, Vec<String>)> {
    let list: PackedFileList =
        ironrdp_core::decode(data).map_err(|e| anyhow::anyhow!("{e}")).context("decoding the host's file list")?;
    let mut entries = Vec::new();
    let mut refused = Vec::new();
    for (index, file) in list.files.into_iter().enumerate() {
        let wire = match &file.relative_path {
            Some(dir) if !dir.is_empty() => format!("{dir}\\{}", file.name),
            _ => file.name.clone(),
        };
        match sanitize_host_name(&wire) {
            Ok(relative) => entries.push(HostEntry {
                index: index as u32,
                relative,
                dir: file.attributes.is_some_and(|a| a.contains(ClipboardFileAttributes::DIRECTORY)),
                size: file.file_size,
                write_time: file.last_write_time,
            }),
            Err(why) => refused.push(format!("{wire:?}: {why}")),
        }
    }
    Ok((entries, refused))
}

/// A host's file name as a relative path of plain names, or why it is refused: empty names
/// and components, `.` and `..`, absolute names (`\x`, `/x`, `\\server`), drive letters and
/// other colons (`C:x`, streams), NUL and other control characters.
pub fn sanitize_host_name(name: &str) -> Result<PathBuf, String> {
    if name.is_empty() {
        return Err("an empty name".into());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("a control character (NUL included) in the name".into());
    }
    if name.starts_with(['\\', '/']) {
        return Err("an absolute name".into());
    }
    if name.contains(':') {
        return Err("a drive letter or stream (`:`) in the name".into());
    }
    let mut out = PathBuf::new();
    for part in name.split(['\\', '/']) {
        match part {
            "" => return Err("an empty folder name".into()),
            "." | ".." => return Err(format!("a `{part}` in the name")),
            _ => out.push(part),
        }
    }
    // Belt and braces: nothing but plain names came through.
    if !out.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("not a plain relative name".into());
    }
    Ok(out)
}

/// The copied items (first name of each entry, in list order): what Linux gets URIs of.
pub fn top_level(entries: &[HostEntry]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for e in entries {
        if let Some(Component::Normal(first)) = e.relative.components().next() {
            let first = PathBuf::from(first);
            if !out.contains(&first) {
                out.push(first);
            }
        }
    }
    out
}

/// How a fetch went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// The copied items, under the destination folder.
    pub items: Vec<PathBuf>,
    pub files: usize,
    pub bytes: u64,
    /// Entries that failed (their partial files removed), and why.
    pub failed: Vec<String>,
    /// The fetch was stopped before its end (`stop` said so); `items` is empty then.
    pub stopped: bool,
}

/// Fetches the host's files into `dest` (which must exist): folders are made, each file is
/// sized with a SIZE request and read with RANGE requests of [`FETCH_CHUNK_BYTES`] through
/// `request(index, what)`. A failed file is removed and reported; the others go on.
/// `progress(done_bytes, total_bytes, name)` is called after each chunk; `stop()` before
/// each request, and when it says so (the pasting app is gone) the fetch ends there.
pub fn fetch_host_files(
    entries: &[HostEntry],
    dest: &Path,
    mut request: impl FnMut(u32, FileRequest) -> Result<FileData, String>,
    mut progress: impl FnMut(u64, u64, &Path),
    mut stop: impl FnMut() -> bool,
) -> FetchReport {
    let mut report = FetchReport::default();
    let total: u64 = entries.iter().filter(|e| !e.dir).filter_map(|e| e.size).sum();
    let mut done = 0u64;
    let stopped = std::cell::Cell::new(false);
    let mut checked = |index: u32, what: FileRequest| {
        if stop() {
            stopped.set(true);
            return Err("stopped".to_owned());
        }
        request(index, what)
    };
    for entry in entries {
        let target = dest.join(&entry.relative);
        let result = if entry.dir {
            fs::create_dir_all(&target).map(|()| 0).map_err(|e| format!("making {}: {e}", target.display()))
        } else {
            fetch_one(entry, &target, &mut checked, |n| {
                done += n;
                progress(done, total, &entry.relative);
            })
        };
        if stopped.get() {
            let _ = fs::remove_file(&target);
            report.stopped = true;
            return report;
        }
        match result {
            Ok(bytes) => {
                if !entry.dir {
                    report.files += 1;
                    report.bytes += bytes;
                }
                if let Some(t) = entry.write_time.and_then(from_filetime) {
                    if let Ok(f) = File::options().write(!entry.dir).read(entry.dir).open(&target) {
                        let _ = f.set_modified(t);
                    }
                }
            }
            Err(why) => {
                if !entry.dir {
                    let _ = fs::remove_file(&target);
                }
                report.failed.push(format!("{}: {why}", entry.relative.display()));
            }
        }
    }
    report.items = top_level(entries).into_iter().map(|p| dest.join(p)).filter(|p| p.exists()).collect();
    report
}

fn fetch_one(
    entry: &HostEntry,
    target: &Path,
    request: &mut impl FnMut(u32, FileRequest) -> Result<FileData, String>,
    mut advanced: impl FnMut(u64),
) -> Result<u64, String> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("making {}: {e}", parent.display()))?;
    }
    let size = match request(entry.index, FileRequest::Size)? {
        FileData::Size(n) => n,
        FileData::Bytes(b) => return Err(format!("a SIZE request answered with {} bytes of data", b.len())),
    };
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(target)
        .map_err(|e| format!("creating {}: {e}", target.display()))?;
    let mut offset = 0u64;
    while offset < size {
        let len = (size - offset).min(u64::from(FETCH_CHUNK_BYTES)) as u32;
        let data = match request(entry.index, FileRequest::Range { offset, len })? {
            FileData::Bytes(b) => b,
            FileData::Size(_) => return Err("a RANGE request answered with a size".into()),
        };
        if data.is_empty() {
            return Err(format!("the host sent no data at offset {offset} of {size}"));
        }
        // More than asked for is the host's error; take what was asked.
        let take = data.len().min(len as usize);
        file.write_all(&data[..take]).map_err(|e| format!("writing {}: {e}", target.display()))?;
        offset += take as u64;
        advanced(take as u64);
    }
    Ok(size)
}

/// What a copied folder's entry is taken as: a file or folder as it is, a link to a file as
/// that file; a link to a folder (which could loop) or anything else is left out, with why.
fn child_metadata(child: &Path) -> Result<fs::Metadata, String> {
    let meta = fs::symlink_metadata(child).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        let target = fs::metadata(child).map_err(|e| e.to_string())?;
        return if target.is_file() { Ok(target) } else { Err("a link to a folder".into()) };
    }
    if meta.is_file() || meta.is_dir() {
        Ok(meta)
    } else {
        Err("neither a file nor a folder".into())
    }
}

#[cfg(test)]
mod tests;
