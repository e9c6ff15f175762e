//! Round trips of every PDU, the exact bytes FreeRDP's layout gives, and each way bytes can
//! be wrong.

use super::*;

fn present(opaque: Vec<Rect>) -> PresentBuffer {
    PresentBuffer {
        timestamp: 0,
        present_id: 42,
        window_id: 0x1_0000_0007,
        buffer_id: 9,
        orientation: 90,
        target_width: 1280,
        target_height: 720,
        dirty: Rect::new(1, 2, 3, 4),
        opaque,
    }
}

fn every_pdu() -> Vec<Pdu> {
    vec![
        Pdu::LegacyCaps { version: 1 },
        Pdu::Error { code: 0x8000_4005 },
        Pdu::CapsAdvertise(vec![CapsSet { version: CAPS_VERSION_1, data: vec![] }, CapsSet::v2(0)]),
        Pdu::CapsConfirm(CapsSet::v2(7)),
        Pdu::OpenPool {
            pool_id: 3,
            pool_size: 4096 * 3,
            section_name: "{0f9c7f4e-3b7a-4f0e-9a55-6d2d7c1e8b11}".into(),
        },
        Pdu::ClosePool { pool_id: 3 },
        Pdu::CreateBuffer {
            pool_id: 3,
            buffer_id: 4,
            offset: 0,
            stride: 400,
            width: 100,
            height: 30,
            format: PixelFormat::Argb8888,
        },
        Pdu::CreateBuffer {
            pool_id: 3,
            buffer_id: 5,
            offset: 64,
            stride: 8,
            width: 2,
            height: 2,
            format: PixelFormat::Xrgb8888,
        },
        Pdu::DestroyBuffer { buffer_id: 4 },
        Pdu::PresentBuffer(present(vec![])),
        Pdu::PresentBuffer(present(vec![Rect::new(0, 0, 5, 5); 16])),
        Pdu::PresentBufferAck { window_id: 7, present_id: 42 },
    ]
}

#[test]
fn every_pdu_round_trips() {
    for pdu in every_pdu() {
        let bytes = pdu.encode().unwrap();
        assert_eq!(peek_header(&bytes).unwrap(), (pdu.cmd_id(), bytes.len() as u32), "{}", pdu.name());
        assert_eq!(decode(&bytes).unwrap(), pdu, "{}", pdu.name());
    }
}

#[test]
fn present_without_opaque_rects_keeps_one_zeroed_slot() {
    let bytes = Pdu::PresentBuffer(present(vec![])).encode().unwrap();
    assert_eq!(bytes.len(), 8 + 64 + 16);
    assert_eq!(&bytes[8 + 60..8 + 64], &[0, 0, 0, 0], "numOpaqueRects");
    assert!(bytes[8 + 64..].iter().all(|&b| b == 0));
    let one = Pdu::PresentBuffer(present(vec![Rect::new(1, 2, 3, 4)])).encode().unwrap();
    assert_eq!(one.len(), 8 + 64 + 16);
    assert_eq!(Pdu::PresentBuffer(present(vec![Rect::default(); 3])).encode().unwrap().len(), 8 + 64 + 48);
}

#[test]
fn bytes_follow_freerdps_layout() {
    let ack = Pdu::PresentBufferAck { window_id: 0x0102, present_id: 0x0304 }.encode().unwrap();
    assert_eq!(ack, [15, 0, 0, 0, 24, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 4, 3, 0, 0, 0, 0, 0, 0]);

    let confirm = Pdu::CapsConfirm(CapsSet::v2(0)).encode().unwrap();
    #[rustfmt::skip]
    assert_eq!(confirm, [
        9, 0, 0, 0, 24, 0, 0, 0,
        0x43, 0x41, 0x50, 0x53, // 'SPAC' read as a little-endian u32
        0x00, 0x20, 0, 0,       // 2.0
        16, 0, 0, 0,            // the caps set's length, header included
        0, 0, 0, 0,             // supportedFeatures
    ]);

    let open = Pdu::OpenPool { pool_id: 1, pool_size: 2, section_name: "{ab}".into() }.encode().unwrap();
    assert_eq!(open.len(), 8 + 20 + 5 * 2);
    assert_eq!(&open[24..28], &[5, 0, 0, 0], "sectionNameLength counts the NUL");
    assert_eq!(&open[28..], &[b'{', 0, b'a', 0, b'b', 0, b'}', 0, 0, 0]);

    let legacy = Pdu::LegacyCaps { version: 1 }.encode().unwrap();
    assert_eq!(legacy, [1, 0, 0, 0, 10, 0, 0, 0, 1, 0]);
}

#[test]
fn a_uuid_section_name_is_39_units() {
    let name = "{0f9c7f4e-3b7a-4f0e-9a55-6d2d7c1e8b11}";
    assert_eq!(name.len(), 38);
    let bytes = Pdu::OpenPool { pool_id: 1, pool_size: 4096, section_name: name.into() }.encode().unwrap();
    assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 39);
}

fn with_len(mut bytes: Vec<u8>, len: u32) -> Vec<u8> {
    bytes[4..8].copy_from_slice(&len.to_le_bytes());
    bytes
}

#[test]
fn the_declared_length_must_be_the_length_given() {
    for pdu in every_pdu() {
        let bytes = pdu.encode().unwrap();
        let n = bytes.len();
        for (declared, actual) in [(n + 1, n), (n - 1, n)] {
            let err = decode(&with_len(bytes.clone(), declared as u32)[..actual]).unwrap_err();
            assert_eq!(err, CodecError::LengthMismatch { declared: declared as u32, actual }, "{}", pdu.name());
        }
        // Truncated but honest about it: the body is too short for the PDU.
        let mut short = bytes[..n - 1].to_vec();
        short[4..8].copy_from_slice(&((n - 1) as u32).to_le_bytes());
        assert!(decode(&short).is_err(), "{} one byte short", pdu.name());
        // One byte too many, declared: refused too.
        let mut long = bytes.clone();
        long.push(0);
        let long = with_len(long, n as u32 + 1);
        assert!(decode(&long).is_err(), "{} one byte long", pdu.name());
    }
}

#[test]
fn short_and_unknown_headers() {
    assert_eq!(decode(&[]), Err(CodecError::ShortHeader(0)));
    assert_eq!(decode(&[1, 0, 0, 0, 8, 0, 0]), Err(CodecError::ShortHeader(7)));
    assert_eq!(decode(&[0x10, 0, 0, 0, 8, 0, 0, 0]), Err(CodecError::UnknownCommand(0x10)));
    assert_eq!(decode(&[1, 0, 0, 0, 0, 0, 0, 0]), Err(CodecError::LengthMismatch { declared: 0, actual: 8 }));
}

#[test]
fn caps_sets_are_checked() {
    let good = Pdu::CapsAdvertise(vec![CapsSet::v2(0)]).encode().unwrap();

    let mut bad_sig = good.clone();
    bad_sig[8] = b'X';
    assert!(matches!(decode(&bad_sig), Err(CodecError::CapsSignature { pdu: "CapsAdvertise", .. })));

    for length in [0u32, 11, 17, u32::MAX] {
        let mut bad = good.clone();
        bad[16..20].copy_from_slice(&length.to_le_bytes());
        assert!(
            matches!(decode(&bad), Err(CodecError::CapsLength { length: l, .. }) if l == length),
            "caps length {length}"
        );
    }

    let empty = [8, 0, 0, 0, 8, 0, 0, 0];
    assert_eq!(decode(&empty), Err(CodecError::NoCapsSets));
    assert_eq!(Pdu::CapsAdvertise(vec![]).encode(), Err(CodecError::NoCapsSets));

    let many = Pdu::CapsAdvertise(vec![CapsSet::v2(0); MAX_CAPS_SETS]).encode().unwrap();
    assert!(decode(&many).is_ok());
    let mut too_many = many.clone();
    too_many.extend_from_slice(&good[8..]);
    let n = too_many.len() as u32;
    assert_eq!(decode(&with_len(too_many, n)), Err(CodecError::TooManyCapsSets));
    assert_eq!(Pdu::CapsAdvertise(vec![CapsSet::v2(0); MAX_CAPS_SETS + 1]).encode(), Err(CodecError::TooManyCapsSets));

    let big = CapsSet { version: 0x2000, data: vec![0; MAX_CAPS_DATA + 1] };
    assert_eq!(Pdu::CapsConfirm(big.clone()).encode(), Err(CodecError::CapsDataTooLong(MAX_CAPS_DATA + 1)));
    let mut raw = vec![9, 0, 0, 0, 0, 0, 0, 0];
    raw.extend_from_slice(&CAPS_SIGNATURE.to_le_bytes());
    raw.extend_from_slice(&0x2000u32.to_le_bytes());
    raw.extend_from_slice(&((CAPS_HEADER_SIZE + MAX_CAPS_DATA + 1) as u32).to_le_bytes());
    raw.extend(std::iter::repeat_n(0, MAX_CAPS_DATA + 1));
    let n = raw.len() as u32;
    assert_eq!(decode(&with_len(raw, n)), Err(CodecError::CapsDataTooLong(MAX_CAPS_DATA + 1)));

    // A confirm holds exactly one set.
    let mut two = Pdu::CapsConfirm(CapsSet::v2(0)).encode().unwrap();
    two.extend_from_slice(&good[8..]);
    let n = two.len() as u32;
    assert!(matches!(decode(&with_len(two, n)), Err(CodecError::BodyLength { pdu: "CapsConfirm", .. })));
}

fn open_pool_raw(units: u32, name: &[u16]) -> Vec<u8> {
    let mut raw = vec![0xA, 0, 0, 0, 0, 0, 0, 0];
    raw.extend_from_slice(&1u64.to_le_bytes());
    raw.extend_from_slice(&4096u64.to_le_bytes());
    raw.extend_from_slice(&units.to_le_bytes());
    for u in name {
        raw.extend_from_slice(&u.to_le_bytes());
    }
    let n = raw.len() as u32;
    with_len(raw, n)
}

#[test]
fn section_names_are_checked() {
    let ab = [u16::from(b'a'), u16::from(b'b')];
    assert!(decode(&open_pool_raw(3, &[ab[0], ab[1], 0])).is_ok());
    assert_eq!(decode(&open_pool_raw(2, &ab)), Err(CodecError::SectionName("not NUL-terminated")));
    assert_eq!(decode(&open_pool_raw(0, &[])), Err(CodecError::SectionName("empty (not even the NUL)")));
    assert_eq!(decode(&open_pool_raw(3, &[ab[0], 0, 0])), Err(CodecError::SectionName("a NUL inside the name")));
    assert_eq!(decode(&open_pool_raw(2, &[0xD800, 0])), Err(CodecError::SectionName("not UTF-16")));
    let long = vec![u16::from(b'x'); MAX_SECTION_NAME_UNITS + 1];
    assert_eq!(
        decode(&open_pool_raw(long.len() as u32, &long)),
        Err(CodecError::SectionName("longer than 260 UTF-16 units"))
    );
    // The count says more units than the PDU holds.
    assert!(matches!(decode(&open_pool_raw(10, &[ab[0], 0])), Err(CodecError::BodyLength { pdu: "OpenPool", .. })));
    assert!(matches!(decode(&open_pool_raw(u32::MAX, &[0])), Err(CodecError::SectionName(_))));
    let nul_inside = Pdu::OpenPool { pool_id: 1, pool_size: 1, section_name: "a\0b".into() };
    assert_eq!(nul_inside.encode(), Err(CodecError::SectionName("a NUL inside the name")));
}

#[test]
fn present_buffer_fields_are_checked() {
    let base = Pdu::PresentBuffer(present(vec![])).encode().unwrap();

    let mut orientation = base.clone();
    orientation[8 + 32..8 + 36].copy_from_slice(&45u32.to_le_bytes());
    assert_eq!(decode(&orientation), Err(CodecError::Orientation(45)));
    assert_eq!(
        Pdu::PresentBuffer(PresentBuffer { orientation: 1, ..present(vec![]) }).encode(),
        Err(CodecError::Orientation(1))
    );

    let mut count = base.clone();
    count[8 + 60..8 + 64].copy_from_slice(&17u32.to_le_bytes());
    assert_eq!(decode(&count), Err(CodecError::TooManyOpaqueRects(17)));
    assert_eq!(
        Pdu::PresentBuffer(present(vec![Rect::default(); 17])).encode(),
        Err(CodecError::TooManyOpaqueRects(17))
    );

    // Two rects claimed, one slot there.
    let mut claims_two = base.clone();
    claims_two[8 + 60..8 + 64].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(
        decode(&claims_two),
        Err(CodecError::BodyLength { pdu: "PresentBuffer", expected: 64 + 32, actual: 64 + 16 })
    );

    // Without the zeroed slot that zero rects still carry.
    let bare = with_len(base[..8 + 64].to_vec(), 8 + 64);
    assert_eq!(decode(&bare), Err(CodecError::BodyLength { pdu: "PresentBuffer", expected: 80, actual: 64 }));
}

#[test]
fn fixed_bodies_are_checked() {
    let mut format = Pdu::CreateBuffer {
        pool_id: 1,
        buffer_id: 2,
        offset: 0,
        stride: 4,
        width: 1,
        height: 1,
        format: PixelFormat::Argb8888,
    }
    .encode()
    .unwrap();
    format[8 + 36..8 + 40].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(decode(&format), Err(CodecError::PixelFormat(3)));

    let legacy = [1, 0, 0, 0, 10, 0, 0, 0, 2, 0];
    assert_eq!(decode(&legacy), Err(CodecError::LegacyVersion(2)));

    let ack = [15, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(decode(&ack), Err(CodecError::BodyLength { pdu: "PresentBufferAck", expected: 16, actual: 8 }));
}

#[test]
fn split_follows_the_headers() {
    let a = Pdu::PresentBufferAck { window_id: 1, present_id: 2 }.encode().unwrap();
    let b = Pdu::LegacyCaps { version: 1 }.encode().unwrap();
    let both = [a.clone(), b.clone()].concat();
    assert_eq!(split(&both), vec![&a[..], &b[..]]);
    // An overrunning length leaves the rest as one piece, which decode refuses.
    let lying = [a.clone(), with_len(b.clone(), 99)].concat();
    let pieces = split(&lying);
    assert_eq!(pieces.len(), 2);
    assert!(decode(pieces[1]).is_err());
    assert_eq!(split(&[1, 2, 3]), vec![&[1u8, 2, 3][..]]);
    assert!(split(&[]).is_empty());
}

#[test]
fn rects_clip_and_unite() {
    assert_eq!(Rect::new(5, 5, 10, 10).clip(8, 12), Rect::new(5, 5, 3, 7));
    assert!(Rect::new(20, 0, 5, 5).clip(10, 10).is_empty());
    assert_eq!(Rect::new(u32::MAX, 1, u32::MAX, 1).clip(10, 10), Rect::new(10, 1, 0, 1));
    assert_eq!(Rect::new(0, 0, 2, 2).union(&Rect::new(5, 1, 1, 4)), Rect::new(0, 0, 6, 5));
    assert_eq!(Rect::default().union(&Rect::new(3, 3, 1, 1)), Rect::new(3, 3, 1, 1));
}
