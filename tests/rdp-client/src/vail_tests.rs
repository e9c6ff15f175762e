//! The test host against wayrail's own gfxredir state machine, in process: PDUs pass as
//! bytes, pools as real files in a temporary folder.

use wayrail_vail::channel::ERROR_UNSUPPORTED_VERSION;
use wayrail_vail::{VailChannel, VailEvent};

use super::*;

struct Pair {
    dir: tempfile::TempDir,
    server: VailChannel,
    host: GfxRedirHost,
    state: SharedVailHost,
}

impl Pair {
    fn new(host: impl FnOnce(&mut GfxRedirHost)) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let server = VailChannel::new(dir.path().to_owned());
        let mut h = GfxRedirHost::new(dir.path());
        host(&mut h);
        let state = h.state();
        let mut pair = Pair { dir, server, host: h, state };
        for hello in pair.host.hello() {
            pair.server.receive(&hello);
        }
        pair.exchange();
        pair
    }

    /// Delivers what the server queued and the host's answers, until both are quiet.
    fn exchange(&mut self) {
        loop {
            let out = self.server.take_output();
            if out.is_empty() {
                return;
            }
            for pdu in out {
                for answer in self.host.receive(&pdu.encode().unwrap()) {
                    self.server.receive(&answer);
                }
            }
        }
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

/// A BGRA picture whose pixels say where they are and which picture they belong to.
fn source(w: u32, h: u32, stride: usize, tag: u8) -> Vec<u8> {
    let mut src = vec![0x11; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let i = y * stride + x * 4;
            src[i..i + 4].copy_from_slice(&[x as u8, y as u8, tag, 0xFF]);
        }
    }
    src
}

fn rows(src: &[u8], stride: usize, r: Rect) -> Vec<u8> {
    let mut out = Vec::new();
    for y in r.y as usize..(r.y + r.height) as usize {
        let start = y * stride + r.x as usize * 4;
        out.extend_from_slice(&src[start..start + r.width as usize * 4]);
    }
    out
}

#[test]
fn the_host_shows_the_presented_pixels() {
    let mut p = Pair::new(|_| {});
    assert_eq!(p.state.lock().confirmed, Some(CapsSet::v2(0)));
    assert_eq!(p.server.take_events(), vec![VailEvent::Ready { version: codec::CAPS_VERSION_2_0 }]);

    p.server.open_window(7, 40, 30).unwrap();
    p.exchange();
    assert_eq!(p.state.lock().mapped(), p.files(), "the host maps the pool by its name in the folder");

    let stride = 44 * 4; // a client buffer with wider rows than the window
    let src = source(40, 30, stride, 1);
    let dirty = Rect::new(5, 6, 10, 4);
    let sent = p.server.copy_and_present(7, &src, stride, &[dirty], (80, 60), true).unwrap();
    p.exchange();
    assert_eq!(
        p.server.take_events(),
        vec![VailEvent::PresentDone { window_id: 7, present_id: sent.present_id, acked: true }]
    );
    {
        let state = p.state.lock();
        let image = &state.images[&7];
        assert_eq!((image.width, image.height, image.target), (40, 30, (80, 60)));
        assert_eq!(image.region(dirty), rows(&src, stride, dirty), "the dirty rect's pixels");
        assert_eq!(image.bgra_at(4, 6), [0; 4], "nothing outside it");
        assert_eq!(image.rgba_at(5, 6), [1, 6, 5, 0xFF]);
        assert_eq!(state.bytes_copied, 10 * 4 * 4);
        assert_eq!(state.presents.len(), 1);
        assert!(state.problems.is_empty(), "{:?}", state.problems);
    }

    // A second present adds its rectangle; the first stays.
    let src2 = source(40, 30, stride, 2);
    let second = Rect::new(30, 20, 10, 10);
    p.server.copy_and_present(7, &src2, stride, &[second], (80, 60), false).unwrap();
    p.exchange();
    let state = p.state.lock();
    let image = &state.images[&7];
    assert_eq!(image.region(second), rows(&src2, stride, second));
    assert_eq!(image.region(dirty), rows(&src, stride, dirty));
    assert_eq!(image.presents, 2);
    assert!(state.presents[1].opaque.is_empty());
}

#[test]
fn resize_and_close_replace_and_remove_the_files() {
    let mut p = Pair::new(|_| {});
    p.server.open_window(3, 16, 16).unwrap();
    p.exchange();
    let first = p.files();
    assert_eq!(first.len(), 1);
    p.server.copy_and_present(3, &source(16, 16, 64, 1), 64, &[Rect::new(0, 0, 16, 16)], (16, 16), true).unwrap();
    p.exchange();

    p.server.resize(3, 24, 8).unwrap();
    p.exchange();
    let second = p.files();
    assert_eq!(second.len(), 1);
    assert_ne!(second, first, "a new name");
    assert_eq!(p.state.lock().mapped(), second, "the host let the old pool go and mapped the new one");
    let full = Rect::new(0, 0, 24, 8);
    let src = source(24, 8, 96, 9);
    p.server.copy_and_present(3, &src, 96, &[full], (48, 16), true).unwrap();
    p.exchange();
    {
        let state = p.state.lock();
        assert_eq!((state.images[&3].width, state.images[&3].height), (24, 8));
        assert_eq!(state.images[&3].region(full), src);
        assert_eq!((state.closed_pools.len(), state.destroyed_buffers.len()), (1, 1));
    }

    p.server.close_window(3);
    p.exchange();
    assert!(p.files().is_empty(), "the pool's file is gone");
    let state = p.state.lock();
    assert!(state.mapped().is_empty());
    assert_eq!((state.closed_pools.len(), state.destroyed_buffers.len()), (2, 2));
    assert!(state.problems.is_empty(), "{:?}", state.problems);
}

#[test]
fn lies_and_stray_acks_are_skipped_and_the_real_ack_counts() {
    let mut p = Pair::new(|h| {
        h.state().lock().misbehave = Misbehave { lying_lengths: true, acks_for_nothing: true, ..Default::default() }
    });
    p.server.take_events();
    p.server.open_window(1, 8, 8).unwrap();
    let id = p.server.present(1, Rect::new(0, 0, 8, 8), (8, 8), true).unwrap();
    p.exchange();
    assert_eq!(p.server.take_events(), vec![VailEvent::PresentDone { window_id: 1, present_id: id, acked: true }]);
    let stats = p.server.stats();
    assert_eq!((stats.malformed, stats.stray_acks, stats.acks), (1, 2, 1));
    assert_eq!(p.state.lock().acks_sent, 4);
}

#[test]
fn a_host_that_never_acks_holds_up_only_its_window() {
    let mut p = Pair::new(|_| {});
    p.server.take_events();
    p.server.open_window(1, 8, 8).unwrap();
    p.server.open_window(2, 8, 8).unwrap();
    p.exchange();
    p.state.lock().misbehave.unknown_ids = true;
    p.server.present(1, Rect::new(0, 0, 8, 8), (8, 8), true).unwrap();
    p.exchange();
    assert!(p.server.take_events().is_empty());
    assert_eq!(p.server.stats().stray_acks, 1);
    assert!(p.server.present(1, Rect::new(0, 0, 1, 1), (8, 8), true).is_err(), "window 1 waits");

    p.state.lock().misbehave = Misbehave { withhold_acks: true, ..Default::default() };
    let id2 = p.server.present(2, Rect::new(0, 0, 8, 8), (8, 8), true).unwrap();
    p.exchange();
    assert!(p.server.in_flight(2) == Some(id2));
    p.state.lock().misbehave = Misbehave::default();
    // Closing the stuck window releases its frame; nothing else changed.
    p.server.close_window(1);
    p.exchange();
    assert!(matches!(&p.server.take_events()[..], [VailEvent::PresentDone { window_id: 1, acked: false, .. }]));
    assert_eq!(p.files().len(), 1);
}

#[test]
fn held_acks_of_one_window_wait_until_the_test_sends_them() {
    let mut p = Pair::new(|_| {});
    p.server.take_events();
    p.server.open_window(1, 8, 8).unwrap();
    p.server.open_window(2, 8, 8).unwrap();
    p.exchange();
    p.state.lock().hold_acks_of = Some(1);
    let held = p.server.present(1, Rect::new(0, 0, 8, 8), (8, 8), true).unwrap();
    let other = p.server.present(2, Rect::new(0, 0, 8, 8), (8, 8), true).unwrap();
    p.exchange();
    assert_eq!(p.server.take_events(), vec![VailEvent::PresentDone { window_id: 2, present_id: other, acked: true }]);
    assert_eq!(p.server.in_flight(1), Some(held));
    assert_eq!(p.state.lock().held_acks, vec![(1, held)]);
    let acks_before = p.state.lock().acks_sent;

    let acks = p.state.lock().take_held_acks();
    for ack in acks {
        p.server.receive(&ack);
    }
    assert_eq!(p.server.take_events(), vec![VailEvent::PresentDone { window_id: 1, present_id: held, acked: true }]);
    assert_eq!(p.state.lock().acks_sent, acks_before + 1);
    assert!(p.state.lock().take_held_acks().is_empty(), "each held ack goes once");
}

#[test]
fn a_legacy_host_is_told_no() {
    let mut p = Pair::new(|h| {
        h.legacy = true;
        h.advertise.clear();
    });
    assert_eq!(p.state.lock().errors, vec![ERROR_UNSUPPORTED_VERSION]);
    assert!(matches!(&p.server.take_events()[..], [VailEvent::Unusable { .. }]));
    assert!(p.server.open_window(1, 4, 4).is_err());
    assert!(p.files().is_empty());
}

#[test]
fn server_mistakes_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = GfxRedirHost::new(dir.path());
    let state = host.state();
    let send = |host: &mut GfxRedirHost, pdu: Pdu| host.receive(&pdu.encode().unwrap());
    send(&mut host, Pdu::OpenPool { pool_id: 1, pool_size: 4096, section_name: "{missing}".into() });
    send(&mut host, Pdu::OpenPool { pool_id: 2, pool_size: 4096, section_name: "../escape".into() });
    send(&mut host, Pdu::DestroyBuffer { buffer_id: 5 });
    send(&mut host, Pdu::PresentBufferAck { window_id: 1, present_id: 1 });
    let answers = send(
        &mut host,
        Pdu::PresentBuffer(PresentBuffer {
            timestamp: 0,
            present_id: 1,
            window_id: 1,
            buffer_id: 77,
            orientation: 0,
            target_width: 1,
            target_height: 1,
            dirty: Rect::new(0, 0, 1, 1),
            opaque: vec![],
        }),
    );
    assert_eq!(answers.len(), 1, "a present is acked even when it cannot be shown");
    assert!(host.receive(&[1, 2, 3]).is_empty());
    let problems = state.lock().problems.clone();
    assert_eq!(problems.len(), 6, "{problems:?}");
}

#[test]
fn the_channel_opens_with_the_hello() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = GfxRedirHost::new(dir.path());
    host.legacy = true;
    assert_eq!(host.channel_name(), "Microsoft::Windows::RDS::RemoteAppGraphicsRedirection");
    let sent: Vec<Vec<u8>> =
        host.start(5).unwrap().iter().map(|m| ironrdp_core::encode_vec(m.as_ref()).unwrap()).collect();
    assert_eq!(sent, host.hello());
    assert_eq!(codec::decode(&sent[0]).unwrap(), Pdu::LegacyCaps { version: 1 });
    assert!(matches!(codec::decode(&sent[1]).unwrap(), Pdu::CapsAdvertise(_)));
}
