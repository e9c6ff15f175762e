//! What the RDP figures read from logs: the codecs the client decoded and the
//! EGFX version the server settled on.

/// What the client's gdi log says it decoded: one line per surface command, with the codec
/// and the payload length.
#[derive(Default)]
pub(crate) struct Decoded {
    pub(crate) commands: u64,
    pub(crate) payload: u64,
    /// Codec name → surface commands, in order of first use.
    pub(crate) codecs: Vec<(String, u64)>,
}

/// The word after `key` in `line`, up to a space or a comma.
pub(crate) fn word_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split([' ', ',']).next()
}

pub(crate) fn decoded(log: &[u8]) -> Decoded {
    let mut d = Decoded::default();
    for line in String::from_utf8_lossy(log).lines() {
        let (codec, length) = if let Some((_, rest)) = line.split_once("gdi_SurfaceCommand]:") {
            // EGFX: "surfaceId=0, codec=RDPGFX_CODECID_CLEARCODEC [8], ... length=102484, ..."
            let codec = match word_after(rest, "codec=").unwrap_or("?").trim_start_matches("RDPGFX_CODECID_") {
                "UNCOMPRESSED" => "uncompressed".to_string(),
                "CAVIDEO" => "RemoteFX".to_string(),
                "CLEARCODEC" => "ClearCodec".to_string(),
                "PLANAR" => "Planar".to_string(),
                "CAPROGRESSIVE" => "RemoteFX Progressive".to_string(),
                other => other.to_string(),
            };
            (format!("EGFX {codec}"), word_after(rest, " length="))
        } else if let Some((_, rest)) = line.split_once("gdi_surface_bits]:") {
            // Surface Bits: "destLeft 0 ... bpp 32 flags 0 codecID 3 width 1280 height 800 length 164657"
            let codec = match word_after(rest, " codecID ") {
                Some("0") => "raw".to_string(),
                Some("1") => "NSCodec".to_string(),
                Some("3") => "RemoteFX".to_string(),
                Some("4") => "RemoteFX image".to_string(),
                other => format!("codec id {}", other.unwrap_or("?")),
            };
            (format!("Surface Bits {codec}"), word_after(rest, " length "))
        } else {
            continue;
        };
        d.commands += 1;
        d.payload += length.and_then(|l| l.parse::<u64>().ok()).unwrap_or(0);
        match d.codecs.iter_mut().find(|(name, _)| *name == codec) {
            Some((_, n)) => *n += 1,
            None => d.codecs.push((codec, 1)),
        }
    }
    d
}

impl Decoded {
    pub(crate) fn summary(&self) -> String {
        match &self.codecs[..] {
            [] => "none seen".into(),
            [(name, _)] => name.clone(),
            many => many
                .iter()
                .map(|(name, n)| format!("{name} {:.0}%", *n as f64 * 100.0 / self.commands.max(1) as f64))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The EGFX version the server logged ("EGFX ready version=0xa0701"; wayrail only).
pub(crate) fn egfx_version(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("EGFX ready"))?;
    let hex = &line[line.find("0x")? + 2..];
    let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
    let v = u32::from_str_radix(&hex, 16).ok()?;
    let name = match v {
        0x8_0004 => "8.0",
        0x8_0105 => "8.1",
        0xa_0002 => "10.0",
        0xa_0100 => "10.1",
        0xa_0200 => "10.2",
        0xa_0301 => "10.3",
        0xa_0400 => "10.4",
        0xa_0502 => "10.5",
        0xa_0600 | 0xa_0601 => "10.6",
        0xa_0701 => "10.7",
        _ => "?",
    };
    Some(format!("EGFX {name} ({v:#x})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_log_gives_codecs_and_payloads() {
        let log = b"[gdi_SurfaceCommand]: surfaceId=0, codec=RDPGFX_CODECID_CLEARCODEC [8], x=0, length=100, y=0\n\
            noise line\n\
            [gdi_SurfaceCommand]: surfaceId=0, codec=RDPGFX_CODECID_PLANAR [10], length=50, y=0\n\
            [gdi_SurfaceCommand]: surfaceId=0, codec=RDPGFX_CODECID_CLEARCODEC [8], length=30, y=0\n\
            [gdi_surface_bits]: destLeft 0 bpp 32 flags 0 codecID 3 width 1280 height 800 length 20\n";
        let d = decoded(log);
        assert_eq!((d.commands, d.payload), (4, 200));
        assert_eq!(
            d.codecs,
            [
                ("EGFX ClearCodec".to_string(), 2),
                ("EGFX Planar".to_string(), 1),
                ("Surface Bits RemoteFX".to_string(), 1)
            ]
        );
        assert_eq!(d.summary(), "EGFX ClearCodec 50%, EGFX Planar 25%, Surface Bits RemoteFX 25%");
        assert_eq!(Decoded::default().summary(), "none seen");
    }

    #[test]
    fn commits_and_the_egfx_version_come_from_the_logs() {
        let app = b"[1.0] -> wl_surface#3.attach(wl_buffer#9, 0, 0)\n[1.1] -> wl_surface#3.commit()\n\
            [2.0] wl_surface#3.commit()\n[2.1] -> wl_surface#3.commit()  \n";
        assert_eq!(crate::relay::wayland_debug_commits(app).len(), 2);
        assert_eq!(egfx_version("x\nINFO EGFX ready version=0xa0701 flags\n").as_deref(), Some("EGFX 10.7 (0xa0701)"));
        assert_eq!(egfx_version("INFO EGFX ready version=0x123").as_deref(), Some("EGFX ? (0x123)"));
        assert_eq!(egfx_version("no such line"), None);
    }
}
