//! Unit tests of the format conversions.

use super::*;

#[test]
fn cf_html_round_trip_of_a_fragment() {
    let html = "<b>héllo</b> 😀";
    let cf = build_cf_html(html);
    let text = std::str::from_utf8(&cf[..cf.len() - 1]).unwrap();
    assert!(text.starts_with("Version:0.9\r\nStartHTML:"));
    assert_eq!(cf.last(), Some(&0));
    // The offsets point where they say.
    let field = |n: &str| -> usize {
        text.lines().find_map(|l| l.strip_prefix(n).and_then(|r| r.strip_prefix(':'))).unwrap().parse().unwrap()
    };
    assert_eq!(&cf[field("StartFragment")..field("EndFragment")], html.as_bytes());
    assert!(cf[field("StartHTML")..field("EndHTML")].starts_with(b"<html>"));
    assert!(cf[..field("EndHTML")].ends_with(b"</html>"));
    assert_eq!(strip_cf_html(&cf).unwrap(), html.as_bytes());
}

#[test]
fn cf_html_keeps_marked_fragments() {
    let html = "<html><body><!--StartFragment--><i>x</i><!--EndFragment--></body></html>";
    let cf = build_cf_html(html);
    assert_eq!(strip_cf_html(&cf).unwrap(), b"<i>x</i>");
}

#[test]
fn cf_html_from_a_windows_host() {
    // What Windows writes: short header with -1 for unused offsets is allowed too.
    let body = "<html><body>\r\n<!--StartFragment--><p>a</p><!--EndFragment-->\r\n</body></html>";
    let head_len = 97;
    let start_f = head_len + body.find("<p>").unwrap();
    let end_f = head_len + body.find("<!--EndF").unwrap();
    let head = format!(
        "Version:1.0\r\nStartHTML:{head_len:08}\r\nEndHTML:{:08}\r\nStartFragment:{start_f:08}\r\nEndFragment:{end_f:08}\r\n",
        head_len + body.len()
    );
    assert_eq!(head.len(), head_len);
    let data = format!("{head}{body}");
    assert_eq!(strip_cf_html(data.as_bytes()).unwrap(), b"<p>a</p>");
}

#[test]
fn cf_html_with_bad_offsets_is_an_error() {
    let data = b"Version:0.9\r\nStartHTML:0000000100\r\nEndHTML:0000009999\r\n<p>";
    assert!(strip_cf_html(data).is_err());
    assert!(strip_cf_html(b"<p>no header</p>").is_err());
    assert!(strip_cf_html(b"").is_err());
}

#[test]
fn text_both_ways() {
    let text = "zwei\nZeilen äöü 😀";
    let host = linux_to_host(FormatKind::UnicodeText, text.as_bytes(), "text/plain").unwrap();
    assert_eq!(&host[host.len() - 2..], &[0, 0]);
    assert_eq!(utf16_to_string(&host), "zwei\r\nZeilen äöü 😀");
    assert_eq!(host_to_linux(FormatKind::UnicodeText, &host, "text/plain").unwrap(), text.as_bytes());
    let ansi = linux_to_host(FormatKind::Text, "a\nä😀".as_bytes(), "STRING").unwrap();
    assert_eq!(ansi, b"a\r\n\xe4?\0");
    assert_eq!(host_to_linux(FormatKind::Text, &ansi, "STRING").unwrap(), "a\nä?".as_bytes());
    // Odd lengths and missing terminators are tolerated.
    assert_eq!(host_to_linux(FormatKind::UnicodeText, &[b'a', 0, b'b'], "text/plain").unwrap(), b"a");
    assert_eq!(host_to_linux(FormatKind::UnicodeText, &[], "text/plain").unwrap(), b"");
}

fn sample() -> Rgba {
    let (width, height) = (5, 3);
    let pixels = (0..width * height)
        .flat_map(|i| [(i * 17) as u8, (i * 5) as u8, 255 - (i * 9) as u8, if i % 2 == 0 { 255 } else { 128 }])
        .collect();
    Rgba { width, height, pixels }
}

#[test]
fn dib_round_trips() {
    let image = sample();
    assert_eq!(decode_dib(&encode_dib(&image, true)).unwrap(), image);
    // A CF_DIB with BI_RGB has no alpha: opaque unless some alpha byte is set.
    let dib = encode_dib(&image, false);
    assert_eq!(decode_dib(&dib).unwrap(), image);
    let png = encode_png(&image).unwrap();
    assert_eq!(decode_png(&png).unwrap(), image);
    let bmp = host_to_linux(FormatKind::DibV5, &encode_dib(&image, true), BMP_MIME).unwrap();
    assert_eq!(decode_bmp_file(&bmp).unwrap(), image);
    let png2 = host_to_linux(FormatKind::Dib, &dib, PNG_MIME).unwrap();
    assert_eq!(decode_png(&png2).unwrap(), image);
    let dib2 = linux_to_host(FormatKind::DibV5, &png, PNG_MIME).unwrap();
    assert_eq!(decode_dib(&dib2).unwrap(), image);
}

#[test]
fn dib_24_bit_bottom_up_with_padding_and_zero_alpha_32() {
    // 2x2, 24 bits: rows padded to 8 bytes, bottom row first.
    let mut d = Vec::new();
    d.extend_from_slice(&40u32.to_le_bytes());
    d.extend_from_slice(&2i32.to_le_bytes());
    d.extend_from_slice(&2i32.to_le_bytes());
    d.extend_from_slice(&1u16.to_le_bytes());
    d.extend_from_slice(&24u16.to_le_bytes());
    d.extend_from_slice(&[0u8; 24]);
    d.extend_from_slice(&[0, 0, 255, 0, 255, 0, 0, 0]); // bottom: red, green
    d.extend_from_slice(&[255, 0, 0, 255, 255, 255, 0, 0]); // top: blue, white
    let image = decode_dib(&d).unwrap();
    assert_eq!(image.pixels, [0, 0, 255, 255, 255, 255, 255, 255, 255, 0, 0, 255, 0, 255, 0, 255]);
    // 32 bits, BI_RGB, alpha all zero: opaque.
    let mut image = sample();
    for px in image.pixels.chunks_exact_mut(4) {
        px[3] = 0;
    }
    let decoded = decode_dib(&encode_dib(&image, false)).unwrap();
    assert!(decoded.pixels.chunks_exact(4).all(|p| p[3] == 255));
}

#[test]
fn broken_bitmaps_are_errors() {
    let good = encode_dib(&sample(), true);
    assert!(decode_dib(&good[..good.len() - 1]).is_err());
    assert!(decode_dib(&good[..30]).is_err());
    assert!(decode_dib(&[]).is_err());
    let mut huge = good.clone();
    huge[4..8].copy_from_slice(&100_000i32.to_le_bytes());
    huge[8..12].copy_from_slice(&100_000i32.to_le_bytes());
    assert!(decode_dib(&huge).is_err());
    assert!(decode_png(b"\x89PNG\r\n\x1a\nnot really").is_err());
    assert!(decode_bmp_file(b"BM").is_err());
}

#[test]
fn format_mapping() {
    assert_eq!(FormatKind::of_host_format(13, None), Some(FormatKind::UnicodeText));
    assert_eq!(FormatKind::of_host_format(0xC123, Some("HTML Format")), Some(FormatKind::Html));
    assert_eq!(FormatKind::of_host_format(0xC123, Some("Something Else")), None);
    assert_eq!(FormatKind::of_host_format(3, None), None);
    let offered = [(8, FormatKind::Dib), (13, FormatKind::UnicodeText), (1, FormatKind::Text)];
    assert_eq!(FormatKind::pick_host_format("UTF8_STRING", &offered), Some((13, FormatKind::UnicodeText)));
    assert_eq!(FormatKind::pick_host_format(PNG_MIME, &offered), Some((8, FormatKind::Dib)));
    assert_eq!(FormatKind::pick_host_format("text/html", &offered), None);
    let linux = vec!["TEXT".to_string(), "text/plain;charset=utf-8".to_string()];
    assert_eq!(FormatKind::UnicodeText.pick_linux_mime(&linux).as_deref(), Some("text/plain;charset=utf-8"));
    assert_eq!(FormatKind::Dib.pick_linux_mime(&linux), None);
}

#[test]
fn every_offered_mime_maps_back_to_itself() {
    let mimes = TEXT_MIMES.iter().chain([HTML_MIME, PNG_MIME, BMP_MIME].iter()).chain(RTF_MIMES);
    for &mime in mimes {
        let formats = FormatKind::host_formats_for_mime(mime);
        assert!(!formats.is_empty(), "{mime}");
        let mut offered = Vec::new();
        for &(id, name) in formats {
            let kind = FormatKind::of_host_format(id, name).unwrap_or_else(|| panic!("{mime}: {id:#x} {name:?}"));
            assert!(kind.linux_mimes().contains(&mime), "{mime} → {kind:?}");
            assert_eq!(kind.pick_linux_mime(&[mime.to_owned()]).as_deref(), Some(mime));
            offered.push((id, kind));
        }
        assert!(FormatKind::pick_host_format(mime, &offered).is_some(), "{mime}");
    }
    assert!(FormatKind::host_formats_for_mime("application/x-unknown").is_empty());
}

#[test]
fn rtf_passes_through_with_a_terminator_on_the_host_side() {
    let rtf = br"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Zwei {\b fette} Worte.\par}";
    let host = linux_to_host(FormatKind::Rtf, rtf, "text/rtf").unwrap();
    assert_eq!(&host[..rtf.len()], rtf);
    assert_eq!(host[rtf.len()..], [0]);
    assert_eq!(host_to_linux(FormatKind::Rtf, &host, "text/rtf").unwrap(), rtf);
    // Hosts may leave out the terminator, or pad behind it.
    assert_eq!(host_to_linux(FormatKind::Rtf, rtf, "application/rtf").unwrap(), rtf);
    let mut padded = host.clone();
    padded.extend_from_slice(b"\0\0junk");
    assert_eq!(host_to_linux(FormatKind::Rtf, &padded, "application/rtf").unwrap(), rtf);
}

/// A 32-bit BI_RGB DIB header that claims `width`x`height` pixels and carries none.
fn bare_dib_header(width: i32, height: i32) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&40u32.to_le_bytes());
    d.extend_from_slice(&width.to_le_bytes());
    d.extend_from_slice(&height.to_le_bytes());
    d.extend_from_slice(&1u16.to_le_bytes());
    d.extend_from_slice(&32u16.to_le_bytes());
    d.extend_from_slice(&[0u8; 24]);
    d
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A valid 1x1 PNG whose IHDR claims `width`x`height` pixels.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let image = Rgba { width: 1, height: 1, pixels: vec![1, 2, 3, 4] };
    let mut png = encode_png(&image).unwrap();
    // Signature (8), IHDR length (4) and type (4), then width and height; the CRC covers
    // type and data and follows the 13 data bytes.
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[test]
fn images_over_the_cap_are_rejected_before_their_pixels_are_read() {
    // 8192x8192 pixels of 4 bytes are exactly the cap.
    let side = 8192;
    assert_eq!(side as usize * side as usize * 4, MAX_CLIPBOARD_BYTES);
    for (w, h) in [(side + 1, side), (side, -(side + 1)), (i32::MAX, 1), (1, i32::MIN)] {
        let err = decode_dib(&bare_dib_header(w, h)).unwrap_err().to_string();
        assert!(err.contains("too large"), "{w}x{h}: {err}");
    }
    // At the cap the size passes, and the missing pixels are what fails.
    let err = decode_dib(&bare_dib_header(side, -side)).unwrap_err().to_string();
    assert!(err.contains("cut short"), "{err}");
    // The conversions a paste runs, both ways.
    let err = host_to_linux(FormatKind::DibV5, &bare_dib_header(side + 1, side), PNG_MIME).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    let (side, more) = (side as u32, side as u32 + 1);
    assert!(decode_png(&png_claiming(1, 1)).is_ok(), "the patched PNG is still valid");
    for png in [png_claiming(more, side), png_claiming(side, more), png_claiming(1 << 16, 1 << 16)] {
        let err = format!("{:#}", decode_png(&png).unwrap_err());
        assert!(err.contains("too large"), "{err}");
        assert!(linux_to_host(FormatKind::DibV5, &png, PNG_MIME).is_err());
        assert!(host_to_linux(FormatKind::Png, &png, BMP_MIME).is_err());
    }
}
