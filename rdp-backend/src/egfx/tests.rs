//! The EGFX output's unit tests.

use std::time::Duration;

use ironrdp_dvc::DvcProcessor as _;

use super::side_by_side::queue_frames_at;
use super::*;

/// Implemented twice for a type that is `Send`, which makes `check` ambiguous for it.
trait NotSend<A> {
    fn check() {}
}
impl<T: ?Sized> NotSend<()> for T {}
impl<T: ?Sized + Send> NotSend<u8> for T {}

/// The compositor's thread never encodes: the codecs are made by the session on the RDP
/// thread and cannot leave it (this stops compiling if they can); what goes to worker
/// threads is an `AvcJob` inside a scope of the session's, and `prepare` and
/// `AvcJob::run` check their thread in debug builds.
#[test]
fn the_codecs_cannot_leave_the_rdp_thread() {
    <SharedEncoder as NotSend<_>>::check();
    <DesktopSurface as NotSend<_>>::check();
}

/// Runs `f` on a thread named as the RDP thread is.
fn on_rdp_thread(f: impl FnOnce() + Send + 'static) {
    let thread = std::thread::Builder::new().name(crate::server::RDP_THREAD.into()).spawn(f).unwrap();
    thread.join().unwrap();
}

/// A pipeline whose client decodes AVC420, ready for frames.
fn pipeline() -> GraphicsPipelineServer {
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let mut gfx = GraphicsPipelineServer::new(Box::new(GfxHandler { events }));
    gfx.start(1).unwrap();
    let caps = CapabilitySet::V10_7 { flags: ironrdp_egfx::pdu::CapabilitiesV107Flags::empty() };
    let pdu = ironrdp_egfx::pdu::GfxPdu::CapabilitiesAdvertise(CapabilitiesAdvertisePdu(vec![(&caps).into()]));
    gfx.process(1, &ironrdp_core::encode_vec(&pdu).unwrap()).unwrap();
    assert!(gfx.is_ready() && gfx.supports_avc420());
    gfx.drain_output();
    gfx
}

/// What the pipeline queued, as bytes.
fn output(gfx: &mut GraphicsPipelineServer) -> Vec<Vec<u8>> {
    gfx.drain_output().iter().map(|m| ironrdp_core::encode_vec(m.as_ref()).unwrap()).collect()
}

/// A whole-surface tile, different in every frame.
fn tile(width: u16, height: u16, frame: u32) -> crate::Tile {
    let mut bgra = Vec::with_capacity(usize::from(width) * usize::from(height) * 4);
    for y in 0..u32::from(height) {
        for x in 0..u32::from(width) {
            let v = (x * 3 + y * 5 + frame * 11) as u8;
            bgra.extend_from_slice(&[v, v.wrapping_mul(3), ((x ^ y) + frame) as u8, 255]);
        }
    }
    crate::Tile { x: 0, y: 0, width, height, bgra }
}

/// Frames of several windows encoded side by side go out exactly as one after the other
/// would: the same PDUs in the same order, H.264 pictures and ClearCodec alike.
#[test]
fn frames_encoded_side_by_side_go_out_as_one_after_the_other() {
    on_rdp_thread(|| {
        let sizes = [(160u16, 128u16), (128, 136), (144, 150), (130, 129)];
        let (mut one, mut all) = (pipeline(), pipeline());
        let (codecs_one, codecs_all) = (new_encoder(H264Mode::Auto), new_encoder(H264Mode::Auto));
        let mut surfaces_one: Vec<DesktopSurface> =
            sizes.iter().map(|&(w, h)| DesktopSurface::for_window(&mut one, &codecs_one, w, h).unwrap()).collect();
        let mut surfaces_all: Vec<DesktopSurface> =
            sizes.iter().map(|&(w, h)| DesktopSurface::for_window(&mut all, &codecs_all, w, h).unwrap()).collect();
        // The choice weighs measured encoding times, which differ between the two runs.
        for s in surfaces_one.iter_mut().chain(surfaces_all.iter_mut()) {
            s.adaptive.as_mut().expect("a client with AVC").chooser.ignore_cost();
        }
        assert_eq!(output(&mut one), output(&mut all));
        let start = Instant::now();
        for round in 0..8u32 {
            let now = start + Duration::from_millis(16) * round;
            // The last rounds change one window a little only: it goes back to ClearCodec
            // (with its lossless refresh) while the others stay in AVC420.
            let tiles: Vec<Vec<crate::Tile>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &(w, h))| {
                    if round >= 6 && i == 1 {
                        vec![tile(8, 8, round)]
                    } else {
                        vec![tile(w, h, round * 7 + i as u32)]
                    }
                })
                .collect();
            let ids_one: Vec<Option<u32>> = surfaces_one
                .iter_mut()
                .zip(&tiles)
                .map(|(s, t)| {
                    let prepared = s.prepare(t, now)?;
                    let picture = s.avc_job(&prepared).map(AvcJob::run);
                    s.send(&mut one, prepared, picture, round)
                })
                .collect();
            let frames = surfaces_all.iter_mut().zip(&tiles).map(|(s, t)| (s, &t[..])).collect();
            let ids_all = queue_frames_at(&mut all, frames, round, now);
            assert_eq!(ids_one, ids_all, "round {round}");
            assert!(ids_all.iter().all(Option::is_some), "round {round}");
            assert_eq!(output(&mut one), output(&mut all), "round {round}");
            if round == 5 {
                let avc = surfaces_all.iter().all(|s| s.adaptive.as_ref().is_some_and(|a| a.chooser.in_avc()));
                assert!(avc, "every window went AVC420");
            }
        }
    });
}

/// Thin coloured strokes on white, scrolled by `frame` rows, as a whole-surface tile.
fn strokes(width: u16, height: u16, frame: u32) -> crate::Tile {
    let mut bgra = Vec::with_capacity(usize::from(width) * usize::from(height) * 4);
    for y in 0..u32::from(height) {
        for x in 0..u32::from(width) {
            bgra.extend_from_slice(match (x % 6, (y + frame) % 5) {
                (1, _) => &[0, 0, 220, 255],
                (_, 2) => &[230, 40, 0, 255],
                _ => &[255, 255, 255, 255],
            });
        }
    }
    crate::Tile { x: 0, y: 0, width, height, bgra }
}

/// A smooth shaded picture that moves, as an animation or a video.
fn shaded(width: u16, height: u16, frame: u32) -> crate::Tile {
    let mut bgra = Vec::with_capacity(usize::from(width) * usize::from(height) * 4);
    for y in 0..u32::from(height) {
        for x in 0..u32::from(width) {
            bgra.extend_from_slice(&[(x + frame) as u8, (y * 2) as u8, (x + y + frame) as u8 / 2, 255]);
        }
    }
    crate::Tile { x: 0, y: 0, width, height, bgra }
}

/// A lossy run whose content has colour 4:2:0 loses goes out in AVC444 (both views) to a
/// client that decodes it; shaded animation stays AVC420, and so does everything for a
/// client without AVC444.
#[test]
fn avc444_regions_start_on_the_macroblock_grid() {
    let r = |left, top, right, bottom| ExclusiveRectangle { left, top, right, bottom };
    assert_eq!(macroblock_bounds(&[r(17, 30, 40, 41), r(3, 33, 9, 70)], (100, 60)), r(0, 16, 48, 60));
    assert_eq!(macroblock_bounds(&[r(16, 32, 32, 48)], (100, 60)), r(16, 32, 32, 48));
    assert_eq!(macroblock_bounds(&[], (30, 20)), r(0, 0, 30, 20));
}

#[test]
fn coloured_strokes_go_out_in_avc444_and_shaded_animation_in_avc420() {
    on_rdp_thread(|| {
        let run = |picture: fn(u16, u16, u32) -> crate::Tile, avc444: bool| {
            let mut gfx = pipeline();
            let codecs = new_encoder(H264Mode::Auto);
            let mut surface = DesktopSurface::for_window(&mut gfx, &codecs, 160, 120).unwrap();
            let adaptive = surface.adaptive.as_mut().unwrap();
            adaptive.chooser.ignore_cost();
            adaptive.avc444_allowed &= avc444;
            let before = crate::codec::totals().avc444_frames;
            let start = Instant::now();
            for frame in 0..6u32 {
                let tiles = [picture(160, 120, frame)];
                let prepared = surface.prepare(&tiles, start + Duration::from_millis(16) * frame).unwrap();
                let encoded = surface.avc_job(&prepared).map(AvcJob::run);
                assert!(surface.send(&mut gfx, prepared, encoded, frame).is_some());
            }
            let adaptive = surface.adaptive.as_ref().unwrap();
            assert!(adaptive.chooser.in_avc(), "the animation went lossy");
            (adaptive.full_chroma, crate::codec::totals().avc444_frames - before)
        };
        let (full, sent) = run(strokes, true);
        assert!(full && sent >= 3, "coloured strokes: AVC444 {full}, {sent} frames");
        assert!(!run(shaded, true).0, "shaded animation went AVC444");
        assert!(!run(strokes, false).0, "AVC444 to a client without it");
    });
}

/// A pipeline whose client decodes RemoteFX Progressive but not AVC420.
fn pipeline_without_avc() -> GraphicsPipelineServer {
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let mut gfx = GraphicsPipelineServer::new(Box::new(GfxHandler { events }));
    gfx.start(1).unwrap();
    let caps = CapabilitySet::V10_7 { flags: ironrdp_egfx::pdu::CapabilitiesV107Flags::AVC_DISABLED };
    let pdu = ironrdp_egfx::pdu::GfxPdu::CapabilitiesAdvertise(CapabilitiesAdvertisePdu(vec![(&caps).into()]));
    gfx.process(1, &ironrdp_core::encode_vec(&pdu).unwrap()).unwrap();
    assert!(gfx.is_ready() && !gfx.supports_avc420() && supports_progressive(&gfx));
    gfx.drain_output();
    gfx
}

/// The EGFX PDUs in these messages, as the client reads them.
fn pdus(messages: &[DvcMessage]) -> Vec<GfxPdu> {
    let mut zgfx = ironrdp_graphics::zgfx::Decompressor::new();
    messages
        .iter()
        .map(|m| {
            let wrapped = ironrdp_core::encode_vec(m.as_ref()).unwrap();
            let mut pdu = Vec::new();
            zgfx.decompress(&wrapped, &mut pdu).unwrap();
            ironrdp_core::decode::<GfxPdu>(&pdu).unwrap()
        })
        .collect()
}

/// A PDU in short: its kind and the surface it is for.
fn short(pdu: &GfxPdu) -> String {
    use ironrdp_egfx::pdu::Codec1Type;
    match pdu {
        GfxPdu::StartFrame(_) => "start".into(),
        GfxPdu::EndFrame(_) => "end".into(),
        GfxPdu::CreateSurface(p) => format!("create {} {}x{}", p.surface_id, p.width, p.height),
        GfxPdu::DeleteSurface(p) => format!("delete {}", p.surface_id),
        GfxPdu::WireToSurface1(p) => {
            let codec = match p.codec_id {
                Codec1Type::Avc420 => "avc420",
                Codec1Type::ClearCodec => "clear",
                _ => "other",
            };
            let r = &p.destination_rectangle;
            format!("{codec} {} {},{},{},{}", p.surface_id, r.left, r.top, r.right, r.bottom)
        }
        GfxPdu::WireToSurface2(p) => format!("progressive {}", p.surface_id),
        GfxPdu::SurfaceToSurface(p) => {
            let (r, to) = (&p.source_rectangle, &p.destination_points);
            let to: Vec<(u16, u16)> = to.iter().map(|p| (p.x, p.y)).collect();
            format!(
                "copy {}->{} {},{},{},{} to {to:?}",
                p.source_surface_id, p.destination_surface_id, r.left, r.top, r.right, r.bottom
            )
        }
        other => format!("{other:?}"),
    }
}

/// A small animation on a large desktop: a video region. For a client with AVC420 it
/// goes out into an offscreen surface of its size, copied into the desktop surface in the
/// same frame, the rest of the damage in ClearCodec; settled, it goes again losslessly and
/// the offscreen surface goes. A client without AVC gets it in RemoteFX Progressive on the
/// desktop surface.
#[test]
fn a_video_region_goes_lossy_beside_lossless_text() {
    on_rdp_thread(|| {
        for avc in [true, false] {
            let mut gfx = if avc { pipeline() } else { pipeline_without_avc() };
            let codecs = new_encoder(H264Mode::Auto);
            let monitors = Vec::new();
            let mut desktop = DesktopSurface::create(&mut gfx, &codecs, 640, 480, monitors).unwrap();
            gfx.drain_output();
            let d = desktop.surface_id;
            let start = Instant::now().checked_sub(Duration::from_secs(10)).unwrap();
            // A 150×150 animation at (200, 100), a line of text typed at the bottom.
            let frame = |i: u32| {
                let mut animation = tile(150, 150, i);
                (animation.x, animation.y) = (200, 100);
                let mut tiles = vec![animation];
                if i == 4 {
                    let mut text = tile(40, 16, i);
                    (text.x, text.y) = (10, 400);
                    tiles.push(text);
                }
                tiles
            };
            let mut sent = Vec::new();
            for i in 0..5u32 {
                let mut out = Vec::new();
                let id = desktop.queue_desktop_tiles(
                    &mut gfx,
                    &frame(i),
                    i,
                    start + Duration::from_millis(16) * i,
                    &mut out,
                );
                out.extend(gfx.drain_output());
                assert!(id.is_some(), "frame {i}");
                sent.push(pdus(&out).iter().map(short).collect::<Vec<_>>());
            }
            let clear = |r: &str| format!("clear {d} {r}");
            for (i, frame) in sent.iter().enumerate().take(2) {
                assert_eq!(*frame, ["start".to_string(), clear("200,100,350,250"), "end".into()], "frame {i}");
            }
            let o = d + 1;
            if avc {
                let lossy = |create: bool| {
                    let mut pdus: Vec<String> = create.then(|| format!("create {o} 160x160")).into_iter().collect();
                    pdus.extend([
                        "start".to_string(),
                        format!("avc420 {o} 0,0,150,150"),
                        format!("copy {o}->{d} 0,0,150,150 to [(200, 100)]"),
                        "end".into(),
                    ]);
                    pdus
                };
                assert_eq!(sent[2], lossy(true), "the key frame");
                assert_eq!(sent[3], lossy(false));
                let mut text = lossy(false);
                text.extend(["start".to_string(), clear("10,400,50,416"), "end".into()]);
                assert_eq!(sent[4], text, "the text beside it stays lossless");
            } else {
                let lossy = vec!["start".to_string(), format!("progressive {d}"), "end".into()];
                assert_eq!(sent[2], lossy);
                assert_eq!(sent[3], lossy);
                let mut text = lossy.clone();
                text.extend(["start".to_string(), clear("10,400,50,416"), "end".into()]);
                assert_eq!(sent[4], text, "the text beside it stays lossless");
            }
            // Settled (the frames were long ago): the refresh, and the offscreen surface goes.
            assert!(desktop.refresh_due().is_some_and(|t| t <= Instant::now()));
            assert!(desktop.refresh(&mut gfx, 9).is_some());
            let refresh: Vec<String> = pdus(&gfx.drain_output()).iter().map(short).collect();
            let mut expected: Vec<String> = avc.then(|| format!("delete {o}")).into_iter().collect();
            expected.extend(["start".to_string(), clear("200,100,350,250"), "end".into()]);
            assert_eq!(refresh, expected);
            assert_eq!(desktop.refresh_due(), None);
            let totals = crate::codec::totals();
            assert!(totals.lossless_refreshes >= 1);
        }
    });
}

/// When the whole desktop surface goes AVC420, the video region ends: its offscreen
/// surface goes, and what it showed is part of what the surface refreshes when it settles.
#[test]
fn the_surface_going_avc420_ends_the_video_region() {
    on_rdp_thread(|| {
        let mut gfx = pipeline();
        let codecs = new_encoder(H264Mode::Auto);
        let mut desktop = DesktopSurface::create(&mut gfx, &codecs, 640, 480, Vec::new()).unwrap();
        desktop.adaptive.as_mut().unwrap().chooser.ignore_cost();
        gfx.drain_output();
        let start = Instant::now();
        let mut all = Vec::new();
        for i in 0..8u32 {
            // The animation at (200, 300), then only its top half with a large band at the
            // top of the desktop: enough for the surface's own rule.
            let tiles = if i < 4 {
                let mut animation = tile(150, 150, i);
                (animation.x, animation.y) = (200, 300);
                vec![animation]
            } else {
                let mut half = tile(150, 75, i);
                (half.x, half.y) = (200, 300);
                vec![tile(640, 130, i), half]
            };
            let mut out = Vec::new();
            let now = start + Duration::from_millis(16) * i;
            assert!(desktop.queue_desktop_tiles(&mut gfx, &tiles, i, now, &mut out).is_some());
            out.extend(gfx.drain_output());
            all.extend(pdus(&out).iter().map(short));
            if i == 3 {
                assert!(desktop.region.as_ref().unwrap().offscreen.is_some(), "a video region: {all:?}");
            }
        }
        let region = desktop.region.as_ref().unwrap();
        assert!(region.tracker.active().is_none() && region.offscreen.is_none(), "{all:?}");
        let created = all.iter().filter(|p| p.starts_with("create")).count();
        let deleted = all.iter().filter(|p| p.starts_with("delete")).count();
        assert!(created >= 1 && created == deleted, "every offscreen surface deleted: {all:?}");
        let whole = format!("avc420 {} ", desktop.surface_id);
        assert!(all.last_chunk::<3>().unwrap()[1].starts_with(&whole), "{all:?}");
        let chooser = &mut desktop.adaptive.as_mut().unwrap().chooser;
        assert!(chooser.in_avc());
        // The damage reaches down to 375, the region to 450.
        let lossy = chooser.leave().unwrap();
        assert!(lossy.left == 0 && lossy.top == 0 && lossy.right == 640 && lossy.bottom == 450, "{lossy:?}");
    });
}

/// With lossy codecs off, or in a window of its own (RemoteApp), there is no video region.
#[test]
fn no_video_region_with_lossy_codecs_off_or_for_a_window() {
    on_rdp_thread(|| {
        let mut gfx = pipeline();
        let off = new_encoder(H264Mode::Off);
        let desktop = DesktopSurface::create(&mut gfx, &off, 640, 480, Vec::new()).unwrap();
        assert!(desktop.region.is_none() && desktop.adaptive.is_none());
        let auto = new_encoder(H264Mode::Auto);
        let window = DesktopSurface::for_window(&mut gfx, &auto, 640, 480).unwrap();
        assert!(window.region.is_none() && window.adaptive.is_some());
        let desktop = DesktopSurface::create(&mut gfx, &auto, 640, 480, Vec::new()).unwrap();
        assert!(desktop.region.is_some());
    });
}

/// How long a round of several animated windows takes with their H.264 pictures encoded
/// one after the other and side by side (run with `--release -- --ignored --nocapture`).
#[test]
#[ignore = "a benchmark"]
fn side_by_side_encoding_benchmark() {
    on_rdp_thread(|| {
        for windows in [1usize, 2, 4, 8] {
            let mut timings = Vec::new();
            for side_by_side in [false, true] {
                let mut gfx = pipeline();
                let codecs = new_encoder(H264Mode::Auto);
                let mut surfaces: Vec<DesktopSurface> =
                    (0..windows).map(|_| DesktopSurface::for_window(&mut gfx, &codecs, 320, 240).unwrap()).collect();
                let start = Instant::now();
                let mut busy = Duration::ZERO;
                for round in 0..60u32 {
                    let now = start + Duration::from_millis(16) * round;
                    let tiles: Vec<Vec<crate::Tile>> =
                        (0..windows).map(|i| vec![tile(320, 240, round * 3 + i as u32)]).collect();
                    let began = Instant::now();
                    if side_by_side {
                        let frames = surfaces.iter_mut().zip(&tiles).map(|(s, t)| (s, &t[..])).collect();
                        queue_frames_at(&mut gfx, frames, round, now);
                    } else {
                        for (s, t) in surfaces.iter_mut().zip(&tiles) {
                            let prepared = s.prepare(t, now).unwrap();
                            let picture = s.avc_job(&prepared).map(AvcJob::run);
                            s.send(&mut gfx, prepared, picture, round);
                        }
                    }
                    if round >= 10 {
                        busy += began.elapsed();
                    }
                    output(&mut gfx);
                }
                assert!(surfaces.iter().all(|s| s.adaptive.as_ref().is_some_and(|a| a.chooser.in_avc())));
                timings.push(busy / 50);
            }
            eprintln!(
                "{windows} windows of 320x240: a round takes {:?} one after the other, {:?} side by side",
                timings[0], timings[1]
            );
        }
    });
}

/// A round of several windows' frames goes out as one EGFX frame: the last frame's start, the
/// windows' commands in their order, its end; the pipeline is told the others are
/// acknowledged when the client acknowledges that one, so it counts none of them in flight.
#[test]
fn a_round_of_windows_goes_out_as_one_frame() {
    on_rdp_thread(|| {
        let mut gfx = pipeline();
        let codecs = new_encoder(H264Mode::Auto);
        let mut surfaces: Vec<DesktopSurface> =
            (0..3).map(|_| DesktopSurface::for_window(&mut gfx, &codecs, 64, 48).unwrap()).collect();
        gfx.drain_output();
        let tiles: Vec<Vec<crate::Tile>> = (0..3).map(|i| vec![tile(64, 48, i)]).collect();
        let frames = surfaces.iter_mut().zip(&tiles).map(|(s, t)| (s, &t[..])).collect();
        let ids: Vec<u32> = queue_frames(&mut gfx, frames, 7).into_iter().map(Option::unwrap).collect();
        let (messages, merged) = merge_frames(gfx.drain_output());
        assert_eq!(merged, ids[..2]);
        let sent: Vec<GfxPdu> = pdus(&messages);
        let kinds: Vec<String> = sent.iter().map(short).collect();
        let surface = |i: usize| format!("clear {} 0,0,64,48", surfaces[i].surface_id);
        assert_eq!(kinds, ["start".to_string(), surface(0), surface(1), surface(2), "end".into()]);
        assert!(matches!(&sent[0], GfxPdu::StartFrame(p) if p.frame_id == ids[2]), "{:?}", sent[0]);
        assert!(matches!(&sent[4], GfxPdu::EndFrame(p) if p.frame_id == ids[2]), "{:?}", sent[4]);
        assert_eq!(gfx.frames_in_flight(), 3);
        acknowledge_merged(&mut gfx, &merged);
        assert_eq!(gfx.frames_in_flight(), 1, "the merged frames still count in flight");

        // One frame, or output that is not whole frames (a surface made before them), stays.
        let one = [tile(64, 48, 9)];
        assert!(surfaces[0].queue_tiles(&mut gfx, &one, 8).is_some());
        let (messages, merged) = merge_frames(gfx.drain_output());
        assert!(merged.is_empty());
        assert_eq!(pdus(&messages).iter().map(short).collect::<Vec<_>>().len(), 3);
        DesktopSurface::for_window(&mut gfx, &codecs, 64, 48).unwrap();
        let frames = surfaces.iter_mut().zip(&tiles).map(|(s, t)| (s, &t[..])).collect();
        queue_frames(&mut gfx, frames, 9);
        let (messages, merged) = merge_frames(gfx.drain_output());
        assert!(merged.is_empty());
        assert_eq!(pdus(&messages).len(), 1 + 3 * 3, "left as it was");
    });
}
