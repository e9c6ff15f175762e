//! The rdpapplist v4 wire format, both directions, with no I/O and no decisions.
//!
//! No Microsoft document describes this channel; the de-facto specification is WSLg's
//! (`rdpapplist/rdpapplist_protocol.h`, its FreeRDP server and the Windows plugin that reads
//! it). Every PDU is a header (u32 cmdId, u32 length of the whole PDU, little endian) and a
//! body. Strings are a u16 byte length and UTF-16LE text whose terminating NUL is counted in
//! the length, 510 bytes at most. Decoding is strict: the header's length must be the
//! message's, every field must fit, nothing may follow the last one.

use std::fmt;

/// The dynamic channel's name.
pub const CHANNEL_NAME: &str = "Microsoft::Windows::RDS::RemoteApplicationList";
/// The protocol version spoken: 4 added the provider's unique id and AssociateWindowId.
pub const VERSION: u16 = 4;
/// The client language field of the client's caps, bytes (`en_US`, NUL padded).
pub const LANGUAGE_SIZE: usize = 32;
/// The longest string in bytes, its NUL included.
pub const MAX_STRING_BYTES: usize = 510;
/// The largest icon bitmap accepted (1024×1024 at 32 bpp).
pub const MAX_ICON_BYTES: usize = 1024 * 1024 * 4;

const HEADER: usize = 8;

/// Command ids of the header.
pub mod cmd {
    pub const CAPS: u32 = 1;
    pub const UPDATE_APPLIST: u32 = 2;
    pub const DELETE_APPLIST: u32 = 3;
    pub const DELETE_APPLIST_PROVIDER: u32 = 4;
    pub const ASSOCIATE_WINDOW_ID: u32 = 5;
}

/// The flags word of the list PDUs: which fields follow, and the sync hints.
pub mod field {
    pub const ID: u32 = 0x1;
    pub const GROUP: u32 = 0x2;
    pub const EXECPATH: u32 = 0x4;
    pub const DESC: u32 = 0x8;
    pub const ICON: u32 = 0x10;
    pub const PROVIDER: u32 = 0x20;
    pub const WORKINGDIR: u32 = 0x40;
    pub const WINDOW_ID: u32 = 0x80;
    /// A new app id rather than an update of one the host has.
    pub const HINT_NEWID: u32 = 0x1_0000;
    /// Part of a full resync.
    pub const HINT_SYNC: u32 = 0x10_0000;
    /// The first entry of a resync.
    pub const HINT_SYNC_START: u32 = 0x20_0000;
    /// The last entry of a resync: the host drops every entry the resync did not name.
    pub const HINT_SYNC_END: u32 = 0x40_0000;
    pub const HINTS: u32 = HINT_NEWID | HINT_SYNC | HINT_SYNC_START | HINT_SYNC_END;
}

/// Icon formats of the icon block.
pub mod icon_format {
    pub const PNG: u32 = 1;
    /// Raw bitmap rows, bottom-up; what WSLg sends and what the Windows plugin expects.
    pub const BMP: u32 = 2;
    pub const SVG: u32 = 3;
}

/// What was wrong with a PDU, naming the PDU and its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{pdu}: {field} needs {need} bytes, {have} left")]
    Short { pdu: &'static str, field: &'static str, need: usize, have: usize },
    #[error("{pdu}: the header says {header} bytes, the message has {actual}")]
    Length { pdu: &'static str, header: u32, actual: usize },
    #[error("{pdu}: {field}: {why}")]
    Invalid { pdu: &'static str, field: &'static str, why: String },
    #[error("{pdu}: {extra} bytes after the last field")]
    Trailing { pdu: &'static str, extra: usize },
    #[error("unknown cmdId {0:#x}")]
    UnknownCmd(u32),
}

fn invalid(pdu: &'static str, field: &'static str, why: impl fmt::Display) -> CodecError {
    CodecError::Invalid { pdu, field, why: why.to_string() }
}

/// The server's caps, the first PDU on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCaps {
    pub version: u16,
    /// The host names its start-menu folder after it and passes it back on launch
    /// (`wslg.exe -d <provider>`): no `..`, quotes or spaces.
    pub provider_name: String,
    /// A GUID without braces.
    pub provider_id: String,
}

/// The client's answer to the caps (only to a server of version 4 or more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCaps {
    pub version: u16,
    /// ISO 639 language and ISO 3166 country joined by `_`, like `en_US`; at most 31 bytes.
    pub language: String,
}

/// An icon: the block that follows the ICON flag.
#[derive(Clone, PartialEq, Eq)]
pub struct IconData {
    pub flags: u32,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub bpp: u32,
    pub format: u32,
    pub bits: Vec<u8>,
}

impl fmt::Debug for IconData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IconData")
            .field("flags", &self.flags)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride", &self.stride)
            .field("bpp", &self.bpp)
            .field("format", &self.format)
            .field("bits", &format_args!("{} bytes", self.bits.len()))
            .finish()
    }
}

impl IconData {
    /// A 32-bit bottom-up BGRA bitmap (format BMP) of `width`×`height` from rows given
    /// top-down, as hosts want it.
    pub fn bgra_bottom_up(width: u32, height: u32, top_down_bgra: &[u8]) -> IconData {
        let stride = width as usize * 4;
        let mut bits = Vec::with_capacity(top_down_bgra.len());
        for row in top_down_bgra.chunks_exact(stride.max(1)).rev() {
            bits.extend_from_slice(row);
        }
        IconData { flags: 0, width, height, stride: width * 4, bpp: 32, format: icon_format::BMP, bits }
    }

    /// The pixel at (x, y), y counted from the top, as [b, g, r, a] (32-bit BMP icons only).
    pub fn bgra_at(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if self.format != icon_format::BMP || self.bpp != 32 || x >= self.width || y >= self.height {
            return None;
        }
        let row = (self.height - 1 - y) as usize;
        let i = row * self.stride as usize + x as usize * 4;
        self.bits.get(i..i + 4).map(|p| [p[0], p[1], p[2], p[3]])
    }
}

/// Adds or changes a start-menu entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAppList {
    /// NEWID / SYNC / SYNC_START / SYNC_END; the field flags follow from the fields.
    pub hints: u32,
    /// The link's file name on the host.
    pub id: String,
    pub group: Option<String>,
    /// What the host asks to run.
    pub exec_path: String,
    pub working_dir: Option<String>,
    /// The name shown.
    pub desc: String,
    pub icon: Option<IconData>,
}

/// Removes an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAppList {
    pub id: String,
    pub group: Option<String>,
}

/// Tells the host which entry a window belongs to (taskbar grouping and pinning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociateWindowId {
    pub window_id: u32,
    pub id: String,
    pub group: Option<String>,
    pub exec_path: Option<String>,
    pub desc: Option<String>,
}

/// Server → client PDUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerPdu {
    Caps(ServerCaps),
    UpdateAppList(UpdateAppList),
    DeleteAppList(DeleteAppList),
    /// Removes every entry of the provider (the server goes away).
    DeleteAppListProvider {
        name: String,
    },
    AssociateWindowId(AssociateWindowId),
}

/// Client → server PDUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientPdu {
    Caps(ClientCaps),
}

impl ServerPdu {
    pub fn name(&self) -> &'static str {
        match self {
            ServerPdu::Caps(_) => "ServerCaps",
            ServerPdu::UpdateAppList(_) => "UpdateAppList",
            ServerPdu::DeleteAppList(_) => "DeleteAppList",
            ServerPdu::DeleteAppListProvider { .. } => "DeleteAppListProvider",
            ServerPdu::AssociateWindowId(_) => "AssociateWindowId",
        }
    }

    fn cmd(&self) -> u32 {
        match self {
            ServerPdu::Caps(_) => cmd::CAPS,
            ServerPdu::UpdateAppList(_) => cmd::UPDATE_APPLIST,
            ServerPdu::DeleteAppList(_) => cmd::DELETE_APPLIST,
            ServerPdu::DeleteAppListProvider { .. } => cmd::DELETE_APPLIST_PROVIDER,
            ServerPdu::AssociateWindowId(_) => cmd::ASSOCIATE_WINDOW_ID,
        }
    }

    /// The PDU's bytes; an error for what the wire cannot carry (a string over 510 bytes, an
    /// icon whose bits do not match its size).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let pdu = self.name();
        let mut w = Writer::new(pdu, self.cmd());
        match self {
            ServerPdu::Caps(c) => {
                w.u16(c.version);
                w.string("appListProviderName", &c.provider_name)?;
                w.string("appListProviderUniqueId", &c.provider_id)?;
            }
            ServerPdu::UpdateAppList(u) => {
                if u.hints & !field::HINTS != 0 {
                    return Err(invalid(pdu, "flags", format!("{:#x} are not hints", u.hints & !field::HINTS)));
                }
                let mut flags = u.hints | field::ID | field::EXECPATH | field::DESC;
                flags |= opt_flag(&u.group, field::GROUP) | opt_flag(&u.working_dir, field::WORKINGDIR);
                flags |= opt_flag(&u.icon, field::ICON);
                w.u32(flags);
                w.string("appId", &u.id)?;
                w.opt_string("appGroup", &u.group)?;
                w.string("appExecPath", &u.exec_path)?;
                w.opt_string("appWorkingDir", &u.working_dir)?;
                w.string("appDesc", &u.desc)?;
                if let Some(icon) = &u.icon {
                    check_icon(pdu, icon)?;
                    for v in [icon.flags, icon.width, icon.height, icon.stride, icon.bpp, icon.format] {
                        w.u32(v);
                    }
                    w.u32(icon.bits.len() as u32);
                    w.bytes(&icon.bits);
                }
            }
            ServerPdu::DeleteAppList(d) => {
                w.u32(field::ID | opt_flag(&d.group, field::GROUP));
                w.string("appId", &d.id)?;
                w.opt_string("appGroup", &d.group)?;
            }
            ServerPdu::DeleteAppListProvider { name } => {
                w.u32(field::PROVIDER);
                w.string("appListProviderName", name)?;
            }
            ServerPdu::AssociateWindowId(a) => {
                let flags = field::ID
                    | field::WINDOW_ID
                    | opt_flag(&a.group, field::GROUP)
                    | opt_flag(&a.exec_path, field::EXECPATH)
                    | opt_flag(&a.desc, field::DESC);
                w.u32(flags);
                w.u32(a.window_id);
                w.string("appId", &a.id)?;
                w.opt_string("appGroup", &a.group)?;
                w.opt_string("appExecPath", &a.exec_path)?;
                w.opt_string("appDesc", &a.desc)?;
            }
        }
        Ok(w.finish())
    }

    /// One server PDU: the whole message.
    pub fn decode(bytes: &[u8]) -> Result<ServerPdu, CodecError> {
        let (cmd_id, mut r) = Reader::header(bytes, server_pdu_name)?;
        let pdu = r.pdu;
        let out = match cmd_id {
            cmd::CAPS => ServerPdu::Caps(ServerCaps {
                version: r.u16("version")?,
                provider_name: r.string("appListProviderName")?,
                provider_id: r.string("appListProviderUniqueId")?,
            }),
            cmd::UPDATE_APPLIST => {
                let flags = r.u32("flags")?;
                let required = field::ID | field::EXECPATH | field::DESC;
                if flags & required != required {
                    return Err(invalid(pdu, "flags", format!("{flags:#x} lacks ID | EXECPATH | DESC")));
                }
                let known = required | field::GROUP | field::WORKINGDIR | field::ICON | field::HINTS;
                if flags & !known != 0 {
                    return Err(invalid(pdu, "flags", format!("unknown bits {:#x}", flags & !known)));
                }
                let id = r.string("appId")?;
                let group = r.opt_string(flags, field::GROUP, "appGroup")?;
                let exec_path = r.string("appExecPath")?;
                let working_dir = r.opt_string(flags, field::WORKINGDIR, "appWorkingDir")?;
                let desc = r.string("appDesc")?;
                let icon = if flags & field::ICON != 0 { Some(r.icon()?) } else { None };
                ServerPdu::UpdateAppList(UpdateAppList {
                    hints: flags & field::HINTS,
                    id,
                    group,
                    exec_path,
                    working_dir,
                    desc,
                    icon,
                })
            }
            cmd::DELETE_APPLIST => {
                let flags = r.u32("flags")?;
                if flags & field::ID == 0 || flags & !(field::ID | field::GROUP) != 0 {
                    return Err(invalid(pdu, "flags", format!("{flags:#x}: ID and at most GROUP")));
                }
                let id = r.string("appId")?;
                let group = r.opt_string(flags, field::GROUP, "appGroup")?;
                ServerPdu::DeleteAppList(DeleteAppList { id, group })
            }
            cmd::DELETE_APPLIST_PROVIDER => {
                let flags = r.u32("flags")?;
                if flags != field::PROVIDER {
                    return Err(invalid(pdu, "flags", format!("{flags:#x}, not PROVIDER")));
                }
                ServerPdu::DeleteAppListProvider { name: r.string("appListProviderName")? }
            }
            cmd::ASSOCIATE_WINDOW_ID => {
                let flags = r.u32("flags")?;
                let required = field::ID | field::WINDOW_ID;
                let known = required | field::GROUP | field::EXECPATH | field::DESC;
                if flags & required != required || flags & !known != 0 {
                    return Err(invalid(pdu, "flags", format!("{flags:#x}: ID | WINDOW_ID, GROUP, EXECPATH, DESC")));
                }
                let window_id = r.u32("appWindowId")?;
                let id = r.string("appId")?;
                let group = r.opt_string(flags, field::GROUP, "appGroup")?;
                let exec_path = r.opt_string(flags, field::EXECPATH, "appExecPath")?;
                let desc = r.opt_string(flags, field::DESC, "appDesc")?;
                ServerPdu::AssociateWindowId(AssociateWindowId { window_id, id, group, exec_path, desc })
            }
            other => return Err(CodecError::UnknownCmd(other)),
        };
        r.end()?;
        Ok(out)
    }
}

impl ClientPdu {
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let ClientPdu::Caps(c) = self;
        let pdu = "ClientCaps";
        let mut w = Writer::new(pdu, cmd::CAPS);
        w.u16(c.version);
        let lang = c.language.as_bytes();
        if lang.len() >= LANGUAGE_SIZE || lang.contains(&0) {
            return Err(invalid(pdu, "clientLanguageId", format!("{:?}: at most 31 bytes, no NUL", c.language)));
        }
        let mut field = [0u8; LANGUAGE_SIZE];
        field[..lang.len()].copy_from_slice(lang);
        w.bytes(&field);
        Ok(w.finish())
    }

    /// One client PDU: the whole message.
    pub fn decode(bytes: &[u8]) -> Result<ClientPdu, CodecError> {
        let (cmd_id, mut r) = Reader::header(bytes, |c| if c == cmd::CAPS { "ClientCaps" } else { "client PDU" })?;
        if cmd_id != cmd::CAPS {
            return Err(CodecError::UnknownCmd(cmd_id));
        }
        let version = r.u16("version")?;
        let raw = r.take("clientLanguageId", LANGUAGE_SIZE)?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(LANGUAGE_SIZE);
        let language = std::str::from_utf8(&raw[..end]).map_err(|e| invalid(r.pdu, "clientLanguageId", e))?.to_string();
        r.end()?;
        Ok(ClientPdu::Caps(ClientCaps { version, language }))
    }
}

fn server_pdu_name(cmd_id: u32) -> &'static str {
    match cmd_id {
        cmd::CAPS => "ServerCaps",
        cmd::UPDATE_APPLIST => "UpdateAppList",
        cmd::DELETE_APPLIST => "DeleteAppList",
        cmd::DELETE_APPLIST_PROVIDER => "DeleteAppListProvider",
        cmd::ASSOCIATE_WINDOW_ID => "AssociateWindowId",
        _ => "server PDU",
    }
}

fn opt_flag<T>(v: &Option<T>, flag: u32) -> u32 {
    if v.is_some() {
        flag
    } else {
        0
    }
}

/// A BMP icon's bits must be its rows; every icon's bits within the cap.
fn check_icon(pdu: &'static str, icon: &IconData) -> Result<(), CodecError> {
    if icon.bits.len() > MAX_ICON_BYTES {
        return Err(invalid(pdu, "iconBitsLength", format!("{} bytes, over {MAX_ICON_BYTES}", icon.bits.len())));
    }
    if icon.format == icon_format::BMP {
        let row = (u64::from(icon.width) * u64::from(icon.bpp)).div_ceil(8);
        if icon.bpp == 0 || u64::from(icon.stride) < row {
            return Err(invalid(
                pdu,
                "iconStride",
                format!("{} for {} pixels at {} bpp", icon.stride, icon.width, icon.bpp),
            ));
        }
        let need = u64::from(icon.stride) * u64::from(icon.height);
        if need != icon.bits.len() as u64 {
            return Err(invalid(
                pdu,
                "iconBitsLength",
                format!("{} bytes, stride × height is {need}", icon.bits.len()),
            ));
        }
    }
    Ok(())
}

/// Whether `s` fits a wire string (UTF-16, NUL included, ≤ 510 bytes, no NUL inside).
pub fn fits(s: &str) -> bool {
    !s.contains('\0') && (s.encode_utf16().count() + 1) * 2 <= MAX_STRING_BYTES
}

/// `s` without NULs, cut (at a character boundary) to what a wire string holds.
pub fn truncate_to_fit(s: &str) -> String {
    let mut units = 0;
    let mut out = String::new();
    for c in s.chars().filter(|&c| c != '\0') {
        units += c.len_utf16();
        if (units + 1) * 2 > MAX_STRING_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

struct Writer {
    pdu: &'static str,
    buf: Vec<u8>,
}

impl Writer {
    fn new(pdu: &'static str, cmd_id: u32) -> Writer {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&cmd_id.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        Writer { pdu, buf }
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn string(&mut self, field: &'static str, s: &str) -> Result<(), CodecError> {
        if s.contains('\0') {
            return Err(invalid(self.pdu, field, "contains a NUL"));
        }
        let units: Vec<u16> = s.encode_utf16().chain([0]).collect();
        let len = units.len() * 2;
        if len > MAX_STRING_BYTES {
            return Err(invalid(self.pdu, field, format!("{len} bytes, over {MAX_STRING_BYTES}")));
        }
        self.u16(len as u16);
        for u in units {
            self.u16(u);
        }
        Ok(())
    }
    fn opt_string(&mut self, field: &'static str, s: &Option<String>) -> Result<(), CodecError> {
        match s {
            Some(s) => self.string(field, s),
            None => Ok(()),
        }
    }
    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[4..8].copy_from_slice(&len.to_le_bytes());
        self.buf
    }
}

struct Reader<'a> {
    pdu: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The header's cmdId and a reader of the body; the header's length must be the message's.
    fn header(bytes: &'a [u8], name: impl Fn(u32) -> &'static str) -> Result<(u32, Reader<'a>), CodecError> {
        if bytes.len() < HEADER {
            return Err(CodecError::Short { pdu: "header", field: "cmdId, length", need: HEADER, have: bytes.len() });
        }
        let cmd_id = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
        let length = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        let pdu = name(cmd_id);
        if length as usize != bytes.len() {
            return Err(CodecError::Length { pdu, header: length, actual: bytes.len() });
        }
        Ok((cmd_id, Reader { pdu, rest: &bytes[HEADER..] }))
    }
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], CodecError> {
        if self.rest.len() < n {
            return Err(CodecError::Short { pdu: self.pdu, field, need: n, have: self.rest.len() });
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.take(field, 2)?.try_into().unwrap()))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.take(field, 4)?.try_into().unwrap()))
    }
    fn string(&mut self, field: &'static str) -> Result<String, CodecError> {
        let len = self.u16(field)? as usize;
        if len < 2 || !len.is_multiple_of(2) || len > MAX_STRING_BYTES {
            return Err(invalid(self.pdu, field, format!("length {len}: even, 2 to {MAX_STRING_BYTES} bytes")));
        }
        let raw = self.take(field, len)?;
        let units: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let (last, text) = units.split_last().expect("at least one unit");
        if *last != 0 {
            return Err(invalid(self.pdu, field, "no terminating NUL"));
        }
        if text.contains(&0) {
            return Err(invalid(self.pdu, field, "a NUL inside the text"));
        }
        String::from_utf16(text).map_err(|e| invalid(self.pdu, field, e))
    }
    fn opt_string(&mut self, flags: u32, flag: u32, field: &'static str) -> Result<Option<String>, CodecError> {
        if flags & flag == 0 {
            return Ok(None);
        }
        self.string(field).map(Some)
    }
    fn icon(&mut self) -> Result<IconData, CodecError> {
        let flags = self.u32("icon flags")?;
        let width = self.u32("iconWidth")?;
        let height = self.u32("iconHeight")?;
        let stride = self.u32("iconStride")?;
        let bpp = self.u32("iconBpp")?;
        let format = self.u32("iconFormat")?;
        let len = self.u32("iconBitsLength")? as usize;
        if len > MAX_ICON_BYTES {
            return Err(invalid(self.pdu, "iconBitsLength", format!("{len} bytes, over {MAX_ICON_BYTES}")));
        }
        let bits = self.take("iconBits", len)?.to_vec();
        let icon = IconData { flags, width, height, stride, bpp, format, bits };
        check_icon(self.pdu, &icon)?;
        Ok(icon)
    }
    fn end(&self) -> Result<(), CodecError> {
        if !self.rest.is_empty() {
            return Err(CodecError::Trailing { pdu: self.pdu, extra: self.rest.len() });
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
