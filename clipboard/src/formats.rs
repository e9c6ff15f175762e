//! Clipboard formats: which Windows clipboard format stands for which Linux mime type, and
//! the conversions between the two (UTF-16 text, CF_HTML, device-independent bitmaps).
//!
//! Pure functions without I/O, so the compositor runs them on its worker threads and the
//! tests pin them down byte by byte.

use anyhow::{bail, Context};

use crate::files::FILE_MIMES;

/// The largest clipboard payload wayrail moves in either direction.
pub const MAX_CLIPBOARD_BYTES: usize = 256 * 1024 * 1024;

/// Registered format names the host and wayrail exchange.
pub const HTML_FORMAT_NAME: &str = "HTML Format";
pub const RTF_FORMAT_NAME: &str = "Rich Text Format";
pub const PNG_FORMAT_NAME: &str = "PNG";
/// A list of files ([MS-RDPECLIP] 1.3.1.2: CLIPRDR_FILELIST); their contents travel apart.
pub const FILE_LIST_FORMAT_NAME: &str = "FileGroupDescriptorW";

/// Ids wayrail gives its registered formats in the lists it sends (any id of 0xC000 or more
/// is a registered one; the name is what counts).
pub const HTML_FORMAT_ID: u32 = 0xC0A0;
pub const RTF_FORMAT_ID: u32 = 0xC0A1;
pub const PNG_FORMAT_ID: u32 = 0xC0A2;
pub const FILE_LIST_FORMAT_ID: u32 = 0xC0A3;

pub const CF_TEXT: u32 = 1;
pub const CF_OEMTEXT: u32 = 7;
pub const CF_DIB: u32 = 8;
pub const CF_UNICODETEXT: u32 = 13;
pub const CF_DIBV5: u32 = 17;

/// The text mime types (and X11 target names) Linux apps ask for; all carry UTF-8 here,
/// the same set `wl-copy` offers.
pub const TEXT_MIMES: &[&str] = &["text/plain;charset=utf-8", "text/plain", "UTF8_STRING", "STRING", "TEXT"];
pub const HTML_MIME: &str = "text/html";
pub const RTF_MIMES: &[&str] = &["text/rtf", "application/rtf"];
pub const PNG_MIME: &str = "image/png";
pub const BMP_MIME: &str = "image/bmp";

/// The kinds of clipboard data wayrail converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatKind {
    /// CF_UNICODETEXT: UTF-16LE, NUL-terminated, CRLF line ends.
    UnicodeText,
    /// CF_TEXT / CF_OEMTEXT: 8-bit text (taken as Latin-1), NUL-terminated, CRLF line ends.
    Text,
    /// "HTML Format": UTF-8 HTML behind a header of byte offsets.
    Html,
    /// "Rich Text Format": RTF bytes.
    Rtf,
    /// CF_DIB: BITMAPINFO + pixels, no file header.
    Dib,
    /// CF_DIBV5: BITMAPV5HEADER + pixels.
    DibV5,
    /// "PNG" (or "image/png"): a PNG file.
    Png,
    /// "FileGroupDescriptorW": a list of files whose contents are fetched one range at a
    /// time (see `files`); not converted like the others.
    FileList,
}

impl FormatKind {
    /// What a host format is, by id and (for registered formats) name; None for formats
    /// wayrail does not carry.
    pub fn of_host_format(id: u32, name: Option<&str>) -> Option<FormatKind> {
        match id {
            CF_UNICODETEXT => return Some(FormatKind::UnicodeText),
            CF_TEXT | CF_OEMTEXT => return Some(FormatKind::Text),
            CF_DIB => return Some(FormatKind::Dib),
            CF_DIBV5 => return Some(FormatKind::DibV5),
            _ => {}
        }
        if id < 0xC000 {
            return None;
        }
        match name? {
            HTML_FORMAT_NAME => Some(FormatKind::Html),
            RTF_FORMAT_NAME => Some(FormatKind::Rtf),
            PNG_FORMAT_NAME | PNG_MIME => Some(FormatKind::Png),
            FILE_LIST_FORMAT_NAME => Some(FormatKind::FileList),
            _ => None,
        }
    }

    /// The mime types Linux apps get offered for this host format.
    pub fn linux_mimes(self) -> &'static [&'static str] {
        match self {
            FormatKind::UnicodeText | FormatKind::Text => TEXT_MIMES,
            FormatKind::Html => &[HTML_MIME],
            FormatKind::Rtf => RTF_MIMES,
            FormatKind::Dib | FormatKind::DibV5 | FormatKind::Png => &[PNG_MIME, BMP_MIME],
            FormatKind::FileList => FILE_MIMES,
        }
    }

    /// The host formats (id, registered name) wayrail offers for a Linux mime type.
    pub fn host_formats_for_mime(mime: &str) -> &'static [(u32, Option<&'static str>)] {
        if TEXT_MIMES.contains(&mime) {
            &[(CF_UNICODETEXT, None), (CF_TEXT, None)]
        } else if mime == HTML_MIME {
            &[(HTML_FORMAT_ID, Some(HTML_FORMAT_NAME))]
        } else if RTF_MIMES.contains(&mime) {
            &[(RTF_FORMAT_ID, Some(RTF_FORMAT_NAME))]
        } else if mime == PNG_MIME || mime == BMP_MIME {
            &[(CF_DIBV5, None), (CF_DIB, None), (PNG_FORMAT_ID, Some(PNG_FORMAT_NAME))]
        } else if FILE_MIMES.contains(&mime) {
            &[(FILE_LIST_FORMAT_ID, Some(FILE_LIST_FORMAT_NAME))]
        } else {
            &[]
        }
    }

    /// Which of the Linux selection's mime types to read for this host format, best first.
    pub fn pick_linux_mime(self, offered: &[String]) -> Option<String> {
        let preference: &[&str] = match self {
            FormatKind::UnicodeText | FormatKind::Text => TEXT_MIMES,
            FormatKind::Html => &[HTML_MIME],
            FormatKind::Rtf => RTF_MIMES,
            FormatKind::Dib | FormatKind::DibV5 | FormatKind::Png => &[PNG_MIME, BMP_MIME],
            FormatKind::FileList => FILE_MIMES,
        };
        preference.iter().find(|p| offered.iter().any(|o| o == *p)).map(|p| p.to_string())
    }

    /// Which host format to fetch for a Linux mime type, given what the host offers.
    pub fn pick_host_format(mime: &str, offered: &[(u32, FormatKind)]) -> Option<(u32, FormatKind)> {
        let preference: &[FormatKind] = if TEXT_MIMES.contains(&mime) {
            &[FormatKind::UnicodeText, FormatKind::Text]
        } else if mime == HTML_MIME {
            &[FormatKind::Html]
        } else if RTF_MIMES.contains(&mime) {
            &[FormatKind::Rtf]
        } else if mime == PNG_MIME {
            &[FormatKind::Png, FormatKind::DibV5, FormatKind::Dib]
        } else if mime == BMP_MIME {
            &[FormatKind::Dib, FormatKind::DibV5, FormatKind::Png]
        } else if FILE_MIMES.contains(&mime) {
            &[FormatKind::FileList]
        } else {
            &[]
        };
        preference.iter().find_map(|kind| offered.iter().find(|(_, k)| k == kind).copied())
    }
}

/// Host clipboard data → what a Linux app asked for with `mime`.
pub fn host_to_linux(kind: FormatKind, data: &[u8], mime: &str) -> anyhow::Result<Vec<u8>> {
    match kind {
        FormatKind::UnicodeText => Ok(crlf_to_lf(&utf16_to_string(data)).into_bytes()),
        FormatKind::Text => {
            let text: String = until_nul(data).iter().map(|&b| b as char).collect();
            Ok(crlf_to_lf(&text).into_bytes())
        }
        FormatKind::Html => strip_cf_html(data),
        FormatKind::Rtf => Ok(until_nul(data).to_vec()),
        FormatKind::Dib | FormatKind::DibV5 => {
            if mime == BMP_MIME {
                bmp_file_from_dib(data)
            } else {
                let image = decode_dib(data)?;
                encode_png(&image)
            }
        }
        FormatKind::Png => {
            if mime == BMP_MIME {
                let image = decode_png(data)?;
                bmp_file_from_dib(&encode_dib(&image, false))
            } else {
                Ok(data.to_vec())
            }
        }
        FormatKind::FileList => bail!("a file list is fetched file by file (see `files`), not converted"),
    }
}

/// Linux selection data of type `mime` → the host format `kind`.
pub fn linux_to_host(kind: FormatKind, data: &[u8], mime: &str) -> anyhow::Result<Vec<u8>> {
    match kind {
        FormatKind::UnicodeText => {
            let text = lf_to_crlf(&String::from_utf8_lossy(data));
            let mut out = Vec::with_capacity(text.len() * 2 + 2);
            for unit in text.encode_utf16() {
                out.extend_from_slice(&unit.to_le_bytes());
            }
            out.extend_from_slice(&[0, 0]);
            Ok(out)
        }
        FormatKind::Text => {
            let text = lf_to_crlf(&String::from_utf8_lossy(data));
            let mut out: Vec<u8> = text.chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }).collect();
            out.push(0);
            Ok(out)
        }
        FormatKind::Html => Ok(build_cf_html(&String::from_utf8_lossy(data))),
        FormatKind::Rtf => {
            let mut out = data.to_vec();
            out.push(0);
            Ok(out)
        }
        FormatKind::Dib | FormatKind::DibV5 | FormatKind::Png => {
            let image = if mime == BMP_MIME { decode_bmp_file(data)? } else { decode_png(data)? };
            match kind {
                FormatKind::Png if mime != BMP_MIME => Ok(data.to_vec()),
                FormatKind::Png => encode_png(&image),
                FormatKind::Dib => Ok(encode_dib(&image, false)),
                _ => Ok(encode_dib(&image, true)),
            }
        }
        FormatKind::FileList => bail!("a file list is built from the files themselves (see `files`), not converted"),
    }
}

fn until_nul(data: &[u8]) -> &[u8] {
    data.iter().position(|&b| b == 0).map_or(data, |n| &data[..n])
}

/// UTF-16LE up to the first NUL (an odd trailing byte is dropped; bad surrogates become U+FFFD).
pub fn utf16_to_string(data: &[u8]) -> String {
    let units = data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0);
    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
}

fn crlf_to_lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

fn lf_to_crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

// ------------------------------------------------------------------ CF_HTML

const START_FRAGMENT: &str = "<!--StartFragment-->";
const END_FRAGMENT: &str = "<!--EndFragment-->";

/// Wraps HTML in the CF_HTML header. The offsets count bytes from the start of the header;
/// the fragment is the whole input unless it marks one itself.
pub fn build_cf_html(html: &str) -> Vec<u8> {
    // Every number is ten digits, so the header length is known before the numbers are.
    let header_len = header(0, 0, 0, 0).len();
    let (body, fragment_start, fragment_end) = match (html.find(START_FRAGMENT), html.find(END_FRAGMENT)) {
        (Some(s), Some(e)) if s + START_FRAGMENT.len() <= e => (html.to_owned(), s + START_FRAGMENT.len(), e),
        _ => {
            let prefix = format!("<html><body>\r\n{START_FRAGMENT}");
            let body = format!("{prefix}{html}{END_FRAGMENT}\r\n</body></html>");
            (body, prefix.len(), prefix.len() + html.len())
        }
    };
    let start_html = header_len;
    let end_html = header_len + body.len();
    let mut out = header(start_html, end_html, header_len + fragment_start, header_len + fragment_end).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out.push(0);
    out
}

fn header(start_html: usize, end_html: usize, start_fragment: usize, end_fragment: usize) -> String {
    format!(
        "Version:0.9\r\nStartHTML:{start_html:010}\r\nEndHTML:{end_html:010}\r\n\
         StartFragment:{start_fragment:010}\r\nEndFragment:{end_fragment:010}\r\n"
    )
}

/// The HTML inside a CF_HTML block: the fragment when the header marks one, else the
/// StartHTML..EndHTML range. Offsets that do not fit the data are an error, not a panic.
pub fn strip_cf_html(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let data = until_nul(data);
    let head_end = data.iter().position(|&b| b == b'<').unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..head_end.min(1024)]);
    let field = |name: &str| -> Option<i64> {
        head.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
    };
    let range = |start: Option<i64>, end: Option<i64>| -> Option<(usize, usize)> {
        let (s, e) = (usize::try_from(start?).ok()?, usize::try_from(end?).ok()?);
        (s <= e && e <= data.len()).then_some((s, e))
    };
    if !head.starts_with("Version:") {
        bail!("not CF_HTML: no Version field");
    }
    let (start, end) = range(field("StartFragment"), field("EndFragment"))
        .or_else(|| range(field("StartHTML"), field("EndHTML")))
        .context("CF_HTML without usable StartFragment/EndFragment or StartHTML/EndHTML offsets")?;
    Ok(data[start..end].to_vec())
}

// ------------------------------------------------------------------ images

/// An RGBA image, 4 bytes a pixel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

const MAX_PIXELS: u64 = (MAX_CLIPBOARD_BYTES / 4) as u64;

fn le_u16(d: &[u8], at: usize) -> anyhow::Result<u16> {
    d.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).context("bitmap header cut short")
}

fn le_u32(d: &[u8], at: usize) -> anyhow::Result<u32> {
    d.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).context("bitmap header cut short")
}

/// A packed DIB (BITMAPINFOHEADER, V4 or V5 header, masks, palette, pixels) → RGBA.
/// Handles 1/4/8-bit palettes and 16/24/32-bit RGB or bit fields; not RLE or JPEG/PNG payloads.
pub fn decode_dib(d: &[u8]) -> anyhow::Result<Rgba> {
    let header_size = le_u32(d, 0)? as usize;
    if !(40..=d.len()).contains(&header_size) {
        bail!("bitmap header size {header_size} does not fit {} bytes", d.len());
    }
    let width = le_u32(d, 4)? as i32;
    let height = le_u32(d, 8)? as i32;
    let bits = le_u16(d, 14)?;
    let compression = le_u32(d, 16)?;
    let colors_used = le_u32(d, 32)?;
    if width <= 0 || height == 0 {
        bail!("bitmap of {width}x{height} pixels");
    }
    let top_down = height < 0;
    let (w, h) = (width as u32, height.unsigned_abs());
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        bail!("bitmap of {w}x{h} pixels is too large");
    }
    const BI_RGB: u32 = 0;
    const BI_BITFIELDS: u32 = 3;
    const BI_ALPHABITFIELDS: u32 = 6;
    let mut offset = header_size;
    let masks = match compression {
        BI_RGB => match bits {
            16 => Some([0x7C00, 0x03E0, 0x001F, 0]),
            24 => Some([0x00FF_0000, 0x0000_FF00, 0x0000_00FF, 0]),
            // The fourth byte is alpha when any pixel sets it (see below).
            32 => Some([0x00FF_0000, 0x0000_FF00, 0x0000_00FF, 0xFF00_0000]),
            _ => None,
        },
        BI_BITFIELDS | BI_ALPHABITFIELDS => {
            let alpha_in_header = header_size >= 56;
            let m = if header_size >= 52 {
                [le_u32(d, 40)?, le_u32(d, 44)?, le_u32(d, 48)?, if alpha_in_header { le_u32(d, 52)? } else { 0 }]
            } else {
                let n = if compression == BI_ALPHABITFIELDS { 4 } else { 3 };
                let m = [
                    le_u32(d, offset)?,
                    le_u32(d, offset + 4)?,
                    le_u32(d, offset + 8)?,
                    if n == 4 { le_u32(d, offset + 12)? } else { 0 },
                ];
                offset += 4 * n;
                m
            };
            Some(m)
        }
        other => bail!("bitmap compression {other} is not supported"),
    };
    if !matches!(bits, 1 | 4 | 8 | 16 | 24 | 32) {
        bail!("{bits} bits a pixel is not supported");
    }
    let palette: Vec<[u8; 4]> = if bits <= 8 {
        let n = if colors_used == 0 { 1usize << bits } else { (colors_used as usize).min(1 << bits) };
        let table = d.get(offset..offset + 4 * n).context("bitmap palette cut short")?;
        offset += 4 * n;
        table.chunks_exact(4).map(|c| [c[2], c[1], c[0], 255]).collect()
    } else {
        Vec::new()
    };
    let stride = (w as usize * bits as usize).div_ceil(32) * 4;
    let need = stride * h as usize;
    let data = d.get(offset..offset + need).with_context(|| {
        format!("bitmap pixels cut short: {} bytes for {w}x{h} at {bits} bits", d.len().saturating_sub(offset))
    })?;
    let mut pixels = vec![0u8; w as usize * h as usize * 4];
    let mut any_alpha = false;
    for row in 0..h as usize {
        let src = &data[row * stride..(row + 1) * stride];
        let dst_row = if top_down { row } else { h as usize - 1 - row };
        let dst = &mut pixels[dst_row * w as usize * 4..(dst_row + 1) * w as usize * 4];
        for x in 0..w as usize {
            let px: [u8; 4] = match bits {
                1 | 4 | 8 => {
                    let bit = x * bits as usize;
                    let byte = src[bit / 8];
                    let shift = 8 - bits as usize - (bit % 8);
                    let index = (byte >> shift) & ((1u16 << bits) - 1) as u8;
                    *palette.get(index as usize).unwrap_or(&[0, 0, 0, 255])
                }
                _ => {
                    let bytes = bits as usize / 8;
                    let mut v = 0u32;
                    for i in 0..bytes {
                        v |= u32::from(src[x * bytes + i]) << (8 * i);
                    }
                    let m = masks.expect("masks exist for 16/24/32 bits");
                    let a = if m[3] != 0 { channel(v, m[3]) } else { 0 };
                    any_alpha |= a != 0;
                    [channel(v, m[0]), channel(v, m[1]), channel(v, m[2]), a]
                }
            };
            dst[x * 4..x * 4 + 4].copy_from_slice(&px);
        }
    }
    // Windows apps leave the alpha of 32-bit bitmaps at zero more often than not: a bitmap
    // whose alpha is zero everywhere is opaque.
    let has_alpha_mask = masks.is_some_and(|m| m[3] != 0);
    if bits > 8 && (!has_alpha_mask || !any_alpha) {
        for px in pixels.chunks_exact_mut(4) {
            px[3] = 255;
        }
    }
    Ok(Rgba { width: w, height: h, pixels })
}

/// The value of the bits under `mask`, scaled to 0..=255.
fn channel(value: u32, mask: u32) -> u8 {
    if mask == 0 {
        return 0;
    }
    let shift = mask.trailing_zeros();
    let max = mask >> shift;
    let v = (value & mask) >> shift;
    ((u64::from(v) * 255 + u64::from(max) / 2) / u64::from(max)) as u8
}

/// RGBA → a packed 32-bit DIB, bottom-up: BITMAPINFOHEADER with BI_RGB (CF_DIB), or
/// BITMAPV5HEADER with an alpha mask and sRGB (CF_DIBV5).
pub fn encode_dib(image: &Rgba, v5: bool) -> Vec<u8> {
    let header_size: u32 = if v5 { 124 } else { 40 };
    let image_size = image.width * image.height * 4;
    let mut out = Vec::with_capacity(header_size as usize + image_size as usize);
    out.extend_from_slice(&header_size.to_le_bytes());
    out.extend_from_slice(&(image.width as i32).to_le_bytes());
    out.extend_from_slice(&(image.height as i32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes());
    out.extend_from_slice(&(if v5 { 3u32 } else { 0u32 }).to_le_bytes());
    out.extend_from_slice(&image_size.to_le_bytes());
    out.extend_from_slice(&2835i32.to_le_bytes()); // 72 dpi
    out.extend_from_slice(&2835i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    if v5 {
        for mask in [0x00FF_0000u32, 0x0000_FF00, 0x0000_00FF, 0xFF00_0000] {
            out.extend_from_slice(&mask.to_le_bytes());
        }
        out.extend_from_slice(&0x7352_4742u32.to_le_bytes()); // LCS_sRGB
        out.extend_from_slice(&[0u8; 36]); // endpoints
        out.extend_from_slice(&[0u8; 12]); // gamma
        out.extend_from_slice(&4u32.to_le_bytes()); // LCS_GM_IMAGES
        out.extend_from_slice(&[0u8; 12]); // profile data, size, reserved
    }
    let row_bytes = image.width as usize * 4;
    for row in (0..image.height as usize).rev() {
        for px in image.pixels[row * row_bytes..(row + 1) * row_bytes].chunks_exact(4) {
            out.extend_from_slice(&[px[2], px[1], px[0], px[3]]);
        }
    }
    out
}

/// A packed DIB with a BITMAPFILEHEADER in front: a .bmp file.
pub fn bmp_file_from_dib(dib: &[u8]) -> anyhow::Result<Vec<u8>> {
    let header_size = le_u32(dib, 0)? as usize;
    let bits = le_u16(dib, 14)?;
    let compression = le_u32(dib, 16)?;
    let colors_used = le_u32(dib, 32)? as usize;
    let masks = if compression == 3 && header_size == 40 {
        12
    } else if compression == 6 && header_size == 40 {
        16
    } else {
        0
    };
    let palette = if bits <= 8 { 4 * if colors_used == 0 { 1usize << bits } else { colors_used } } else { 0 };
    let pixel_offset = 14 + header_size + masks + palette;
    let total = 14 + dib.len();
    let total32 = u32::try_from(total).context("bitmap too large for a .bmp file")?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&total32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(pixel_offset as u32).to_le_bytes());
    out.extend_from_slice(dib);
    Ok(out)
}

/// A .bmp file → RGBA (the file header is dropped, the rest is a packed DIB unless the
/// pixels do not follow the header directly).
pub fn decode_bmp_file(data: &[u8]) -> anyhow::Result<Rgba> {
    if data.len() < 14 || &data[..2] != b"BM" {
        bail!("not a BMP file");
    }
    let pixel_offset = le_u32(data, 10)? as usize;
    let dib = &data[14..];
    let image = decode_dib(dib);
    if image.is_ok() || pixel_offset < 14 {
        return image;
    }
    // Some writers leave a gap before the pixels: rebuild a packed DIB.
    let header_size = le_u32(dib, 0)? as usize;
    let mut packed = dib.get(..header_size).context("BMP header cut short")?.to_vec();
    packed.extend_from_slice(data.get(pixel_offset..).context("BMP pixel offset past the end")?);
    decode_dib(&packed)
}

pub fn decode_png(data: &[u8]) -> anyhow::Result<Rgba> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
    decoder.set_transformations(png::Transformations::normalize_to_color8() | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().context("reading a PNG header")?;
    let (w, h) = (reader.info().width, reader.info().height);
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        bail!("PNG of {w}x{h} pixels is too large");
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).context("decoding a PNG")?;
    buf.truncate(info.buffer_size());
    let pixels = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|c| [c[0], c[0], c[0], c[1]]).collect(),
        png::ColorType::Rgb => buf.chunks_exact(3).flat_map(|c| [c[0], c[1], c[2], 255]).collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        other => bail!("PNG colour type {other:?} after expansion"),
    };
    Ok(Rgba { width: info.width, height: info.height, pixels })
}

pub fn encode_png(image: &Rgba) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().context("writing a PNG header")?;
        writer.write_image_data(&image.pixels).context("writing PNG pixels")?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

/// Round trips over generated inputs: what crosses to the host and back comes back the same.
#[cfg(test)]
mod round_trips;
