//! Round trips over generated inputs: what crosses to the host and back comes back the same.

use super::*;
use proptest::prelude::*;

fn image() -> impl Strategy<Value = Rgba> {
    (1u32..=20, 1u32..=20).prop_flat_map(|(width, height)| {
        proptest::collection::vec(any::<u8>(), (width * height * 4) as usize).prop_map(move |pixels| Rgba {
            width,
            height,
            pixels,
        })
    })
}

/// The header fields of a CF_HTML block wayrail built.
fn cf_html_offsets(cf: &[u8]) -> [usize; 4] {
    let text = std::str::from_utf8(&cf[..cf.iter().position(|&b| b == b'<').unwrap()]).unwrap();
    let field = |name: &str| -> usize {
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).unwrap().parse().unwrap()
    };
    [field("StartHTML"), field("EndHTML"), field("StartFragment"), field("EndFragment")]
}

/// Any text without NUL, or text made mostly of line ends in every mix.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[^\0]*", "[\r\na ä😀]*"]
}

proptest! {
    #[test]
    fn unicode_text_survives_the_host(text in text()) {
        let host = linux_to_host(FormatKind::UnicodeText, text.as_bytes(), "text/plain;charset=utf-8").unwrap();
        prop_assert_eq!(host.len() % 2, 0);
        prop_assert_eq!(&host[host.len() - 2..], &[0u8, 0][..]);
        let on_host = utf16_to_string(&host);
        prop_assert!(!on_host.replace("\r\n", "").contains('\n'), "every line ends in CRLF: {:?}", on_host);
        let back = host_to_linux(FormatKind::UnicodeText, &host, "text/plain;charset=utf-8").unwrap();
        prop_assert_eq!(String::from_utf8(back).unwrap(), text.replace("\r\n", "\n"));
    }

    #[test]
    fn latin1_text_survives_the_host(text in prop_oneof!["[\u{1}-\u{ff}]*", "[\r\na ä]*"]) {
        let host = linux_to_host(FormatKind::Text, text.as_bytes(), "STRING").unwrap();
        prop_assert_eq!(host.last(), Some(&0));
        let back = host_to_linux(FormatKind::Text, &host, "STRING").unwrap();
        prop_assert_eq!(String::from_utf8(back).unwrap(), text.replace("\r\n", "\n"));
    }

    #[test]
    fn images_with_alpha_survive_every_path(image in image()) {
        // A bitmap whose alpha is zero everywhere reads as opaque (the next property).
        prop_assume!(image.pixels.chunks_exact(4).any(|p| p[3] != 0));
        let png = encode_png(&image).unwrap();
        for kind in [FormatKind::DibV5, FormatKind::Dib] {
            let dib = linux_to_host(kind, &png, PNG_MIME).unwrap();
            prop_assert_eq!(&decode_dib(&dib).unwrap(), &image);
            let back = host_to_linux(kind, &dib, PNG_MIME).unwrap();
            prop_assert_eq!(&decode_png(&back).unwrap(), &image);
            let bmp = host_to_linux(kind, &dib, BMP_MIME).unwrap();
            prop_assert_eq!(&decode_bmp_file(&bmp).unwrap(), &image);
            let from_bmp = linux_to_host(kind, &bmp, BMP_MIME).unwrap();
            prop_assert_eq!(&decode_dib(&from_bmp).unwrap(), &image);
        }
        // A PNG crosses untouched; a BMP becomes one.
        prop_assert_eq!(&linux_to_host(FormatKind::Png, &png, PNG_MIME).unwrap(), &png);
        prop_assert_eq!(&host_to_linux(FormatKind::Png, &png, PNG_MIME).unwrap(), &png);
        let bmp = host_to_linux(FormatKind::Png, &png, BMP_MIME).unwrap();
        prop_assert_eq!(&decode_bmp_file(&bmp).unwrap(), &image);
        let from_bmp = linux_to_host(FormatKind::Png, &bmp, BMP_MIME).unwrap();
        prop_assert_eq!(&decode_png(&from_bmp).unwrap(), &image);
    }

    #[test]
    fn bitmaps_without_alpha_are_opaque(image in image()) {
        let mut clear = image;
        clear.pixels.chunks_exact_mut(4).for_each(|p| p[3] = 0);
        let mut opaque = clear.clone();
        opaque.pixels.chunks_exact_mut(4).for_each(|p| p[3] = 255);
        for v5 in [true, false] {
            let dib = encode_dib(&clear, v5);
            prop_assert_eq!(&decode_dib(&dib).unwrap(), &opaque);
            let kind = if v5 { FormatKind::DibV5 } else { FormatKind::Dib };
            let png = host_to_linux(kind, &dib, PNG_MIME).unwrap();
            prop_assert_eq!(&decode_png(&png).unwrap(), &opaque);
        }
    }

    #[test]
    fn cf_html_offsets_point_at_the_fragment(html in "[^\0]*") {
        prop_assume!(!html.contains(START_FRAGMENT) && !html.contains(END_FRAGMENT));
        let cf = linux_to_host(FormatKind::Html, html.as_bytes(), HTML_MIME).unwrap();
        prop_assert_eq!(cf.last(), Some(&0));
        let [start_html, end_html, start_fragment, end_fragment] = cf_html_offsets(&cf);
        prop_assert_eq!(&cf[start_fragment..end_fragment], html.as_bytes());
        prop_assert_eq!(start_html, cf.iter().position(|&b| b == b'<').unwrap());
        prop_assert_eq!(end_html, cf.len() - 1);
        prop_assert!(start_html <= start_fragment && end_fragment <= end_html);
        prop_assert!(cf[start_html..end_html].starts_with(b"<html>"));
        prop_assert!(cf[start_html..end_html].ends_with(b"</html>"));
        prop_assert_eq!(host_to_linux(FormatKind::Html, &cf, HTML_MIME).unwrap(), html.as_bytes());
    }

    #[test]
    fn cf_html_keeps_a_marked_fragment(
        before in "[^\0]*", fragment in "[^\0]*", after in "[^\0]*",
    ) {
        let markers = |s: &str| s.contains(START_FRAGMENT) || s.contains(END_FRAGMENT);
        prop_assume!(!markers(&before) && !markers(&fragment) && !markers(&after));
        let html = format!("{before}{START_FRAGMENT}{fragment}{END_FRAGMENT}{after}");
        let cf = build_cf_html(&html);
        let [start_html, end_html, start_fragment, end_fragment] = cf_html_offsets(&cf);
        prop_assert_eq!(&cf[start_html..end_html], html.as_bytes());
        prop_assert_eq!(&cf[start_fragment..end_fragment], fragment.as_bytes());
        prop_assert_eq!(strip_cf_html(&cf).unwrap(), fragment.as_bytes());
    }

    #[test]
    fn rtf_passes_through(rtf in proptest::collection::vec(1u8..=255, 0..4096)) {
        let host = linux_to_host(FormatKind::Rtf, &rtf, "text/rtf").unwrap();
        prop_assert_eq!(&host[..rtf.len()], &rtf[..]);
        prop_assert_eq!(&host[rtf.len()..], &[0u8][..]);
        prop_assert_eq!(host_to_linux(FormatKind::Rtf, &host, "application/rtf").unwrap(), rtf);
    }
}
