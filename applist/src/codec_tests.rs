use super::*;

fn icon(w: u32, h: u32) -> IconData {
    let top_down: Vec<u8> = (0..w * h).flat_map(|i| [i as u8, (i >> 8) as u8, 7, 255]).collect();
    IconData::bgra_bottom_up(w, h, &top_down)
}

fn every_server_pdu() -> Vec<ServerPdu> {
    vec![
        ServerPdu::Caps(ServerCaps {
            version: VERSION,
            provider_name: "wayrail".into(),
            provider_id: "8e1b2a7c-0f3d-4c7a-9d2e-5b6a7c8d9e0f".into(),
        }),
        ServerPdu::UpdateAppList(UpdateAppList {
            hints: field::HINT_NEWID | field::HINT_SYNC | field::HINT_SYNC_START,
            id: "org.example.Äpp".into(),
            group: Some("wayrail".into()),
            exec_path: "\"/usr/bin/my app\" --new-window".into(),
            working_dir: Some("/home/ü".into()),
            desc: "Äpp 😀".into(),
            icon: Some(icon(3, 2)),
        }),
        ServerPdu::UpdateAppList(UpdateAppList {
            hints: 0,
            id: "foot".into(),
            group: None,
            exec_path: "foot".into(),
            working_dir: None,
            desc: String::new(),
            icon: None,
        }),
        ServerPdu::DeleteAppList(DeleteAppList { id: "foot".into(), group: Some("g".into()) }),
        ServerPdu::DeleteAppList(DeleteAppList { id: "foot".into(), group: None }),
        ServerPdu::DeleteAppListProvider { name: "wayrail".into() },
        ServerPdu::AssociateWindowId(AssociateWindowId {
            window_id: 0x1234,
            id: "foot".into(),
            group: Some("wayrail".into()),
            exec_path: Some("foot".into()),
            desc: Some("Foot".into()),
        }),
        ServerPdu::AssociateWindowId(AssociateWindowId {
            window_id: 7,
            id: "x".into(),
            group: None,
            exec_path: None,
            desc: None,
        }),
    ]
}

#[test]
fn every_server_pdu_round_trips() {
    for pdu in every_server_pdu() {
        let bytes = pdu.encode().unwrap();
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize, bytes.len());
        assert_eq!(ServerPdu::decode(&bytes).unwrap(), pdu, "{}", pdu.name());
    }
}

#[test]
fn client_caps_round_trip() {
    let caps = ClientPdu::Caps(ClientCaps { version: 4, language: "de_DE".into() });
    let bytes = caps.encode().unwrap();
    assert_eq!(bytes.len(), 8 + 2 + 32);
    assert_eq!(&bytes[..4], &cmd::CAPS.to_le_bytes());
    assert_eq!(&bytes[10..16], b"de_DE\0");
    assert_eq!(ClientPdu::decode(&bytes).unwrap(), caps);
    let long = ClientPdu::Caps(ClientCaps { version: 4, language: "x".repeat(32) });
    assert!(long.encode().is_err());
}

/// The layout, byte for byte, of an UpdateAppList as WSLg's plugin reads it.
#[test]
fn update_applist_field_order() {
    let pdu = ServerPdu::UpdateAppList(UpdateAppList {
        hints: field::HINT_NEWID,
        id: "a".into(),
        group: Some("g".into()),
        exec_path: "e".into(),
        working_dir: Some("w".into()),
        desc: "d".into(),
        icon: Some(IconData::bgra_bottom_up(1, 1, &[1, 2, 3, 4])),
    });
    let bytes = pdu.encode().unwrap();
    let mut want = Vec::new();
    want.extend_from_slice(&cmd::UPDATE_APPLIST.to_le_bytes());
    want.extend_from_slice(&(8u32 + 4 + 5 * 6 + 7 * 4 + 4).to_le_bytes());
    want.extend_from_slice(&(0x1_0000u32 | 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x40).to_le_bytes());
    for c in ["a", "g", "e", "w", "d"] {
        want.extend_from_slice(&4u16.to_le_bytes());
        want.extend_from_slice(&[c.as_bytes()[0], 0, 0, 0]);
    }
    for v in [0u32, 1, 1, 4, 32, 2, 4] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    want.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(bytes, want);
}

#[test]
fn bitmaps_go_bottom_up() {
    // Top row red, bottom row blue (BGRA).
    let top_down = [[0, 0, 255, 255], [0, 0, 255, 255], [255, 0, 0, 255], [255, 0, 0, 255]].concat();
    let icon = IconData::bgra_bottom_up(2, 2, &top_down);
    assert_eq!(&icon.bits[..4], &[255, 0, 0, 255], "the first row on the wire is the bottom one");
    assert_eq!(icon.bgra_at(0, 0), Some([0, 0, 255, 255]));
    assert_eq!(icon.bgra_at(1, 1), Some([255, 0, 0, 255]));
    assert_eq!(icon.bgra_at(2, 0), None);
}

#[test]
fn strings_are_limited_to_510_bytes() {
    let ok = "x".repeat(254);
    let over = "x".repeat(255);
    assert!(fits(&ok) && !fits(&over));
    let pdu = |s: &str| ServerPdu::DeleteAppListProvider { name: s.into() };
    assert!(pdu(&ok).encode().is_ok());
    let err = pdu(&over).encode().unwrap_err();
    assert!(err.to_string().contains("appListProviderName"), "{err}");
    assert_eq!(truncate_to_fit(&"ü".repeat(300)).chars().count(), 254);
    assert_eq!(truncate_to_fit(&"😀".repeat(200)).chars().count(), 127, "surrogate pairs are not split");
    assert!(pdu("a\0b").encode().is_err());
}

#[test]
fn malformed_input_names_what_is_wrong() {
    let good = every_server_pdu()[1].encode().unwrap();
    // Every truncation fails (the header's length no longer matches).
    for n in 0..good.len() {
        assert!(ServerPdu::decode(&good[..n]).is_err(), "{n} bytes decoded");
    }
    // Header length fixed up to a truncated body: a field is short.
    let mut cut = good[..good.len() - 3].to_vec();
    let len = cut.len() as u32;
    cut[4..8].copy_from_slice(&len.to_le_bytes());
    assert!(
        matches!(ServerPdu::decode(&cut), Err(CodecError::Short { field: "iconBits", .. })),
        "{:?}",
        ServerPdu::decode(&cut)
    );
    // Trailing bytes.
    let mut long = good.clone();
    long.extend_from_slice(&[0, 0]);
    let len = long.len() as u32;
    long[4..8].copy_from_slice(&len.to_le_bytes());
    assert_eq!(ServerPdu::decode(&long), Err(CodecError::Trailing { pdu: "UpdateAppList", extra: 2 }));
    // Required fields missing.
    let mut no_desc = good.clone();
    no_desc[8] &= !(field::DESC as u8);
    assert!(matches!(ServerPdu::decode(&no_desc), Err(CodecError::Invalid { field: "flags", .. })));
    // An odd string length; a string without its NUL.
    let del = ServerPdu::DeleteAppList(DeleteAppList { id: "ab".into(), group: None }).encode().unwrap();
    let mut odd = del.clone();
    odd[12] = 5;
    assert!(matches!(ServerPdu::decode(&odd), Err(CodecError::Invalid { field: "appId", .. })));
    let mut no_nul = del.clone();
    no_nul[18] = b'c';
    assert!(matches!(ServerPdu::decode(&no_nul), Err(CodecError::Invalid { field: "appId", .. })));
    // Unknown command; a client PDU that is not caps; short client caps.
    let mut unknown = del.clone();
    unknown[0] = 9;
    assert_eq!(ServerPdu::decode(&unknown), Err(CodecError::UnknownCmd(9)));
    assert_eq!(ClientPdu::decode(&del), Err(CodecError::UnknownCmd(cmd::DELETE_APPLIST)));
    let caps = ClientPdu::Caps(ClientCaps { version: 4, language: "en_US".into() }).encode().unwrap();
    let mut short = caps[..20].to_vec();
    short[4..8].copy_from_slice(&20u32.to_le_bytes());
    assert!(matches!(ClientPdu::decode(&short), Err(CodecError::Short { field: "clientLanguageId", .. })));
    // A BMP icon whose bits do not fill its rows.
    let mut bad_icon = IconData::bgra_bottom_up(2, 2, &[0; 16]);
    bad_icon.height = 3;
    let update = ServerPdu::UpdateAppList(UpdateAppList {
        hints: 0,
        id: "a".into(),
        group: None,
        exec_path: "a".into(),
        working_dir: None,
        desc: "a".into(),
        icon: Some(bad_icon),
    });
    assert!(matches!(update.encode(), Err(CodecError::Invalid { field: "iconBitsLength", .. })));
}

#[test]
fn a_string_with_a_nul_does_not_fit_and_loses_it_when_cut_to_fit() {
    // The wire string ends at its NUL: one inside cannot be sent (the fuzz target found an
    // Exec of NULs that the channel queued and the encoder refused).
    assert!(!fits("a\0b"));
    assert!(fits("ab"));
    assert_eq!(truncate_to_fit("a\0b\0"), "ab");
    assert_eq!(truncate_to_fit(&"é".repeat(300)).encode_utf16().count(), MAX_STRING_BYTES / 2 - 1);
}
