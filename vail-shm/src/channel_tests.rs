//! The state machine fed host PDUs as bytes, with pools in a temporary folder.

use super::*;
use crate::codec::CAPS_VERSION_1;

fn bytes(pdu: Pdu) -> Vec<u8> {
    pdu.encode().unwrap()
}

fn ready(dir: &std::path::Path) -> VailChannel {
    let mut c = VailChannel::new(dir.to_owned());
    c.receive(&bytes(Pdu::CapsAdvertise(vec![CapsSet::v2(0)])));
    assert_eq!(c.take_events(), vec![VailEvent::Ready { version: CAPS_VERSION_2_0 }]);
    c.take_output();
    c
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn confirms_the_highest_advertised_version_with_its_data() {
    let d = tempfile::tempdir().unwrap();
    let mut c = VailChannel::new(d.path().to_owned());
    let newer = CapsSet { version: 0x2100, data: vec![1, 2, 3, 4, 5, 6] };
    c.receive(&bytes(Pdu::CapsAdvertise(vec![
        CapsSet { version: CAPS_VERSION_1, data: vec![] },
        newer.clone(),
        CapsSet::v2(0),
    ])));
    assert_eq!(c.take_output(), vec![Pdu::CapsConfirm(newer)]);
    assert_eq!(c.take_events(), vec![VailEvent::Ready { version: 0x2100 }]);
    assert_eq!(c.caps(), &CapsState::Ready(0x2100));
}

#[test]
fn legacy_caps_alone_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut c = VailChannel::new(d.path().to_owned());
    c.receive(&bytes(Pdu::LegacyCaps { version: 1 }));
    assert_eq!(c.take_output(), vec![Pdu::Error { code: ERROR_UNSUPPORTED_VERSION }]);
    assert!(matches!(&c.take_events()[..], [VailEvent::Unusable { .. }]));
    assert!(matches!(c.open_window(1, 10, 10), Err(VailError::Unusable(_))));
    assert!(files(d.path()).is_empty());

    // A v1-only advertise is confirmed (the host hears an answer) but unusable too.
    let mut c = VailChannel::new(d.path().to_owned());
    c.receive(&bytes(Pdu::CapsAdvertise(vec![CapsSet { version: CAPS_VERSION_1, data: vec![] }])));
    assert!(matches!(&c.take_output()[..], [Pdu::CapsConfirm(CapsSet { version: CAPS_VERSION_1, .. })]));
    assert!(matches!(&c.take_events()[..], [VailEvent::Unusable { .. }]));

    // Legacy caps after v2 was agreed change nothing.
    let mut c = ready(d.path());
    c.receive(&bytes(Pdu::LegacyCaps { version: 1 }));
    assert!(c.take_output().is_empty());
    assert!(c.is_ready());
}

#[test]
fn nothing_before_caps() {
    let d = tempfile::tempdir().unwrap();
    let mut c = VailChannel::new(d.path().to_owned());
    assert!(matches!(c.open_window(1, 10, 10), Err(VailError::NotReady)));
    assert!(matches!(c.present(1, Rect::new(0, 0, 1, 1), (1, 1), true), Err(VailError::NotReady)));
    assert!(c.take_output().is_empty());
}

#[test]
fn a_window_lives_opened_resized_and_closed() {
    let d = tempfile::tempdir().unwrap();
    let mut c = ready(d.path());
    c.open_window(7, 100, 50).unwrap();
    let out = c.take_output();
    let [Pdu::OpenPool { pool_id, pool_size, section_name }, Pdu::CreateBuffer {
        pool_id: p2,
        buffer_id,
        offset: 0,
        stride: 400,
        width: 100,
        height: 50,
        format: PixelFormat::Argb8888,
    }] = &out[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!(pool_id, p2);
    assert_eq!(*pool_size, c.pool(7).unwrap().size());
    assert_eq!(files(d.path()), vec![section_name.clone()]);
    assert!(matches!(c.open_window(7, 1, 1), Err(VailError::WindowExists(7))));

    c.resize(7, 120, 60).unwrap();
    let out = c.take_output();
    assert_eq!(out[0], Pdu::DestroyBuffer { buffer_id: *buffer_id });
    assert_eq!(out[1], Pdu::ClosePool { pool_id: *pool_id });
    let Pdu::OpenPool { pool_id: new_pool, section_name: new_name, .. } = &out[2] else { panic!("{out:?}") };
    assert!(matches!(&out[3], Pdu::CreateBuffer { pool_id, width: 120, height: 60, .. } if pool_id == new_pool));
    assert_eq!(out.len(), 4);
    assert_ne!(new_name, section_name, "a new name: the host may still hold the old one");
    assert_ne!(new_pool, pool_id);
    assert_eq!(files(d.path()), vec![new_name.clone()]);
    assert!(matches!(c.resize(8, 1, 1), Err(VailError::UnknownWindow(8))));
    assert!(matches!(c.resize(7, 0, 1), Err(VailError::Pool(_))));
    assert_eq!(files(d.path()), vec![new_name.clone()], "a failed resize keeps the window as it was");

    assert!(c.close_window(7));
    let out = c.take_output();
    assert!(matches!(&out[..], [Pdu::DestroyBuffer { .. }, Pdu::ClosePool { pool_id }] if pool_id == new_pool));
    assert!(files(d.path()).is_empty());
    assert!(!c.close_window(7));
    assert!(c.take_output().is_empty());
}

#[test]
fn one_present_in_flight_per_window() {
    let d = tempfile::tempdir().unwrap();
    let mut c = ready(d.path());
    c.open_window(1, 10, 10).unwrap();
    c.open_window(2, 10, 10).unwrap();
    c.take_output();

    let first = c.present(1, Rect::new(0, 0, 4, 4), (20, 20), true).unwrap();
    let out = c.take_output();
    let [Pdu::PresentBuffer(p)] = &out[..] else { panic!("{out:?}") };
    assert_eq!((p.present_id, p.window_id, p.target_width, p.target_height), (first, 1, 20, 20));
    assert_eq!(p.opaque, vec![p.dirty], "opaque: the dirty rect");
    assert!(matches!(c.present(1, Rect::new(0, 0, 1, 1), (20, 20), true), Err(VailError::Busy(1))));
    assert!(matches!(c.pool_for_writing(1), Err(VailError::Busy(1))));
    // Another window is not held up, and ids count per connection.
    let second = c.present(2, Rect::new(0, 0, 50, 50), (10, 10), false).unwrap();
    assert_eq!(second, first + 1);
    let out = c.take_output();
    let [Pdu::PresentBuffer(p)] = &out[..] else { panic!("{out:?}") };
    assert_eq!(p.dirty, Rect::new(0, 0, 10, 10), "clipped to the buffer");
    assert!(p.opaque.is_empty(), "a window with alpha has no opaque rect");

    // Acks: the wrong id, an unknown window, then the right one.
    c.receive(&bytes(Pdu::PresentBufferAck { window_id: 1, present_id: second }));
    c.receive(&bytes(Pdu::PresentBufferAck { window_id: 99, present_id: first }));
    assert!(c.take_events().is_empty());
    assert_eq!(c.stats().stray_acks, 2);
    c.receive(&bytes(Pdu::PresentBufferAck { window_id: 1, present_id: first }));
    assert_eq!(c.take_events(), vec![VailEvent::PresentDone { window_id: 1, present_id: first, acked: true }]);
    assert_eq!(c.in_flight(1), None);
    // The same ack again is stray.
    c.receive(&bytes(Pdu::PresentBufferAck { window_id: 1, present_id: first }));
    assert!(c.take_events().is_empty());
    assert_eq!(c.stats().stray_acks, 3);
    assert!(c.present(1, Rect::new(0, 0, 1, 1), (20, 20), true).unwrap() > second);
}

#[test]
fn resize_close_and_channel_end_release_presents_in_flight() {
    let d = tempfile::tempdir().unwrap();
    let mut c = ready(d.path());
    c.open_window(1, 8, 8).unwrap();
    c.open_window(2, 8, 8).unwrap();
    c.open_window(3, 8, 8).unwrap();
    let p1 = c.present(1, Rect::new(0, 0, 8, 8), (8, 8), true).unwrap();
    let p2 = c.present(2, Rect::new(0, 0, 8, 8), (8, 8), true).unwrap();
    let p3 = c.present(3, Rect::new(0, 0, 8, 8), (8, 8), true).unwrap();
    c.resize(1, 9, 9).unwrap();
    assert_eq!(c.take_events(), vec![VailEvent::PresentDone { window_id: 1, present_id: p1, acked: false }]);
    assert!(c.pool_for_writing(1).is_ok(), "the new pool is free");
    c.close_window(2);
    assert_eq!(c.take_events(), vec![VailEvent::PresentDone { window_id: 2, present_id: p2, acked: false }]);
    // The late ack of a resized window's old present is stray, not a release of the new one.
    c.receive(&bytes(Pdu::PresentBufferAck { window_id: 1, present_id: p1 }));
    assert!(c.take_events().is_empty());

    c.closed();
    assert_eq!(c.take_events(), vec![VailEvent::PresentDone { window_id: 3, present_id: p3, acked: false }]);
    assert!(c.take_output().is_empty(), "nothing is said on a closed channel");
    assert!(files(d.path()).is_empty());
    assert_eq!(c.caps(), &CapsState::Waiting);
}

#[test]
fn copy_and_present_copies_the_damage_and_presents_its_union() {
    let d = tempfile::tempdir().unwrap();
    let mut c = ready(d.path());
    c.open_window(5, 16, 16).unwrap();
    let src: Vec<u8> = (0..16 * 16 * 4).map(|i| (i % 251) as u8).collect();
    let damage = [Rect::new(1, 1, 2, 2), Rect::new(10, 12, 3, 1), Rect::new(15, 15, 9, 9)];
    let done = c.copy_and_present(5, &src, 64, &damage, (32, 32), true).unwrap();
    assert_eq!(done.bytes_copied, (4 + 3 + 1) * 4);
    assert_eq!(done.dirty, Rect::new(1, 1, 15, 15));
    assert_eq!(c.stats().bytes_copied, 32);
    let pool = c.pool(5).unwrap();
    assert_eq!(&pool.bytes()[64 + 4..64 + 12], &src[64 + 4..64 + 12]);
    assert_eq!(&pool.bytes()[0..4], &[0; 4], "undamaged pixels stay");
    assert!(matches!(c.copy_and_present(5, &src, 64, &damage, (32, 32), true), Err(VailError::Busy(5))));
    assert_eq!(c.stats().bytes_copied, 32, "a busy window takes no pixels");
}

#[test]
fn malformed_and_misdirected_pdus_are_counted_and_skipped() {
    let d = tempfile::tempdir().unwrap();
    let mut c = ready(d.path());
    c.open_window(1, 4, 4).unwrap();
    c.take_output();
    let mut lying = bytes(Pdu::PresentBufferAck { window_id: 1, present_id: 1 });
    lying[4] = 200;
    c.receive(&lying);
    c.receive(&[0xff; 3]);
    c.receive(&bytes(Pdu::ClosePool { pool_id: 1 })); // only a server sends it
    c.receive(&bytes(Pdu::Error { code: 1 }));
    assert_eq!(c.stats().malformed, 4);
    assert!(c.take_output().is_empty());
    assert!(c.take_events().is_empty());
    assert!(c.pool(1).is_some(), "the window is untouched");
    // Several PDUs in one message: each counts.
    let two =
        [bytes(Pdu::PresentBufferAck { window_id: 9, present_id: 9 }), bytes(Pdu::LegacyCaps { version: 1 })].concat();
    c.receive(&two);
    assert_eq!(c.stats().stray_acks, 1);
}

#[test]
fn a_direct_write_lands_in_the_pool_and_waits_for_the_ack_of_its_present() {
    let d = tempfile::tempdir().unwrap();
    let mut c = ready(d.path());
    let pools = DirectPools::default();
    c.set_direct_pools(pools.clone());
    c.open_window(5, 16, 16).unwrap();
    let writer = pools.get(5).expect("the window's pool is registered");
    assert_eq!(writer.size(), (16, 16));
    let src: Vec<u8> = (0..16 * 16 * 4).map(|i| (i % 251) as u8).collect();
    let damage = [Rect::new(1, 1, 2, 2), Rect::new(15, 15, 9, 9)];
    assert_eq!(writer.write(&src, 64, false, &damage, (0, 0)), Some((4 + 1) * 4));
    let pool = c.pool(5).unwrap();
    assert_eq!(&pool.bytes()[64 + 4..64 + 12], &src[64 + 4..64 + 12], "written through the other mapping");
    assert_eq!(&pool.bytes()[0..4], &[0; 4], "undamaged pixels stay");
    let done = c.present_written(5, &damage, (16, 16), false, writer.serial()).unwrap();
    assert_eq!(done.dirty, Rect::new(1, 1, 15, 15));
    assert_eq!(c.stats().direct_presents, 1);
    // The host may be reading now: nothing is written until its ack.
    assert_eq!(writer.write(&src, 64, false, &damage, (0, 0)), None);
    c.receive(&bytes(Pdu::PresentBufferAck { window_id: 5, present_id: done.present_id }));
    assert_eq!(writer.write(&src, 64, false, &damage, (0, 0)), Some(20));

    // XRGB8888: the padding byte becomes opaque alpha, as a renderer draws it.
    let c2 = c.present_written(5, &damage, (16, 16), false, writer.serial()).unwrap();
    c.receive(&bytes(Pdu::PresentBufferAck { window_id: 5, present_id: c2.present_id }));
    let xrgb = vec![0x10u8; 16 * 16 * 4];
    assert_eq!(writer.write(&xrgb, 64, true, &[Rect::new(0, 0, 1, 1)], (0, 0)), Some(4));
    assert_eq!(&c.pool(5).unwrap().bytes()[0..4], &[0x10, 0x10, 0x10, 0xff]);
    // Written at an offset (a title bar above the buffer), clipped to the pool.
    let c3 = c.present_written(5, &damage, (16, 16), false, writer.serial()).unwrap();
    c.receive(&bytes(Pdu::PresentBufferAck { window_id: 5, present_id: c3.present_id }));
    assert_eq!(writer.write(&src, 64, false, &[Rect::new(0, 0, 4, 4)], (14, 2)), Some(2 * 4 * 4));
    assert_eq!(&c.pool(5).unwrap().bytes()[2 * 64 + 14 * 4..2 * 64 + 16 * 4], &src[0..8]);
    assert_eq!(&c.pool(5).unwrap().bytes()[5 * 64 + 14 * 4..5 * 64 + 16 * 4], &src[3 * 64..3 * 64 + 8]);

    // A resize: the old writer is refused, a present of what it wrote names another pool, and
    // the registry holds the new pool.
    c.resize(5, 20, 20).unwrap();
    assert_eq!(writer.write(&src, 64, false, &damage, (0, 0)), None);
    assert!(matches!(c.present_written(5, &damage, (20, 20), false, writer.serial()), Err(VailError::OtherPool(5))));
    let new = pools.get(5).unwrap();
    assert_ne!(new.serial(), writer.serial());
    assert_eq!(new.size(), (20, 20));
    c.close_window(5);
    assert!(pools.get(5).is_none());
    assert_eq!(new.write(&src, 64, false, &damage, (0, 0)), None, "a closed pool takes nothing");
}

#[test]
fn a_dropped_channel_takes_its_pools_out_of_the_registry() {
    let d = tempfile::tempdir().unwrap();
    let pools = DirectPools::default();
    let mut c = ready(d.path());
    c.set_direct_pools(pools.clone());
    c.open_window(1, 8, 8).unwrap();
    c.open_window(2, 8, 8).unwrap();
    let writer = pools.get(1).unwrap();
    drop(c);
    assert!(pools.get(1).is_none() && pools.get(2).is_none());
    assert_eq!(writer.write(&[0; 256], 32, false, &[Rect::new(0, 0, 8, 8)], (0, 0)), None, "its pool is gone");
    assert!(files(d.path()).is_empty());
}
