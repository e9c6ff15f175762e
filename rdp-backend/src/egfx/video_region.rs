//! The desktop surface's video region: a part that keeps changing while the rest stays still
//! (an animating window on a larger desktop) goes out lossy on its own, AVC420 into an
//! offscreen surface of its size copied into the desktop surface (SurfaceToSurface), or
//! RemoteFX Progressive on the desktop surface for a client without AVC; the rest of the
//! damage stays ClearCodec (`codec::region` finds the region).

use super::*;

/// The video region of the desktop surface and, for a client that decodes AVC420, the
/// offscreen surface it is encoded into.
pub(super) struct Region {
    pub(super) tracker: RegionTracker,
    pub(super) offscreen: Option<Offscreen>,
    /// Kept from region to region (it follows the picture's size; each region starts with a
    /// key frame).
    pub(super) encoder: Option<H264>,
}

/// An offscreen surface (not mapped to the output) the size of the video region, rounded up
/// to whole macroblocks: FreeRDP decodes an AVC420 picture at the size of the surface it is
/// sent to and copies its regions at the surface's origin, so a picture of the region alone
/// needs a surface of its own; SurfaceToSurface then copies it into the desktop surface.
pub(super) struct Offscreen {
    surface_id: u16,
    /// The region's pixels.
    shadow: Shadow,
}

impl DesktopSurface {
    /// Queues the EGFX frames of `frame`: one, or with a video region two (its lossy part,
    /// then the ClearCodec rest). Returns the id of the last, and the pipeline's output to
    /// write (with the SurfaceToSurface copy of the region in its place, which the pipeline
    /// has no call for).
    pub fn queue_frame(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        frame: &DesktopFrame,
        timestamp_ms: u32,
    ) -> (Option<u32>, Vec<DvcMessage>) {
        let mut out = Vec::new();
        let id = self.queue_desktop_tiles(gfx, &frame.tiles, timestamp_ms, Instant::now(), &mut out);
        out.extend(gfx.drain_output());
        (id, out)
    }

    /// `queue_frame`'s work; what the pipeline queued before the last frame is drained into
    /// `out`.
    pub(super) fn queue_desktop_tiles(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        tiles: &[crate::Tile],
        timestamp_ms: u32,
        now: Instant,
        out: &mut Vec<DvcMessage>,
    ) -> Option<u32> {
        let mut prepared = self.prepare(tiles, now)?;
        let step = match (self.region.as_mut(), self.adaptive.as_ref()) {
            (Some(region), Some(adaptive)) => {
                let damage: Vec<ExclusiveRectangle> = prepared.clipped.iter().map(|(r, _)| r.clone()).collect();
                // The surface's own lossy run (or its refresh, or its hold-off) comes first.
                let allowed = !adaptive.failed
                    && matches!(prepared.choice, Choice::Clear { refresh: None })
                    && !adaptive.chooser.held_off(now);
                region.tracker.step(&damage, allowed, now)
            }
            _ => RegionStep::default(),
        };
        if let Some(left) = step.leave.clone() {
            self.drop_offscreen(gfx);
            match &mut prepared.choice {
                // The whole surface went lossy: the region is part of what it refreshes.
                Choice::Avc420 { .. } => {
                    if let Some(a) = self.adaptive.as_mut() {
                        a.chooser.add_lossy(&[left]);
                    }
                }
                Choice::Clear { refresh } if step.video.is_none() => {
                    *refresh = Some(refresh.as_ref().map_or(left.clone(), |r| union(r, &left)));
                }
                Choice::Clear { .. } => {}
            }
        }
        let Some((rect, key_frame)) = step.video else {
            let picture = self.avc_job(&prepared).map(AvcJob::run);
            return self.send(gfx, prepared, picture, timestamp_ms);
        };
        let mut inside = Vec::new();
        let mut outside = Vec::new();
        for (r, _) in &prepared.clipped {
            inside.extend(intersect(r, &rect));
            outside.extend(subtract(r, &rect));
        }
        // What the region that ended had outside the new one goes again, losslessly.
        let refresh: Vec<ExclusiveRectangle> = step.leave.iter().flat_map(|l| subtract(l, &rect)).collect();
        let lossy_id = self.send_region(gfx, &rect, key_frame, &prepared.clipped, &inside, timestamp_ms, out);
        let lossy_id = match lossy_id {
            Ok(id) => id,
            Err(()) => {
                // The lossy part failed: lossless from now on, the region included.
                outside.push(rect.clone());
                None
            }
        };
        outside.extend(refresh.iter().cloned());
        if outside.is_empty() {
            return lossy_id;
        }
        let started = crate::codec::CpuStopwatch::start();
        let mut tiles = Vec::with_capacity(outside.len());
        let mut bytes = 0;
        for r in &outside {
            if let Some(tile) = self.refresh_tile(r) {
                if let MixedTilePayload::ClearCodec { bitmap_data, .. } = &tile {
                    bytes += bitmap_data.len();
                }
                tiles.push(tile);
            }
        }
        if let Some(region) = self.region.as_mut() {
            region.tracker.note_cost(false, started.elapsed());
        }
        let id = gfx.send_mixed_frame(self.surface_id, tiles, timestamp_ms);
        if id.is_some() {
            crate::codec::count_clear(bytes, !refresh.is_empty());
        }
        id.or(lossy_id)
    }

    /// Sends the video region's lossy frame: AVC420 into its offscreen surface (made on a key
    /// frame) and the copy into the desktop surface, or RemoteFX Progressive on the desktop
    /// surface itself. `clipped`: the frame's tiles; `inside`: the damage inside the region.
    /// Err when the codec failed (the region is over then, and the surface lossless from now on).
    #[allow(clippy::too_many_arguments)]
    fn send_region(
        &mut self,
        gfx: &mut GraphicsPipelineServer,
        rect: &ExclusiveRectangle,
        key_frame: bool,
        clipped: &[(ExclusiveRectangle, &crate::Tile)],
        inside: &[ExclusiveRectangle],
        timestamp_ms: u32,
        out: &mut Vec<DvcMessage>,
    ) -> Result<Option<u32>, ()> {
        let (Some(adaptive), Some(region)) = (self.adaptive.as_mut(), self.region.as_mut()) else { return Err(()) };
        let started = Instant::now();
        if let Some(progressive) = adaptive.progressive.as_mut() {
            // Progressive is tiled: it goes on the desktop surface where the damage is.
            let encoded = progressive.encode(&adaptive.shadow, inside);
            region.tracker.note_cost(true, started.elapsed());
            let failed = match encoded {
                Ok(None) => return Ok(None),
                Ok(Some(progressive_data)) => {
                    let bytes = progressive_data.len();
                    let tile = MixedTilePayload::RemoteFxProgressive { codec_context_id: 0, progressive_data };
                    if let Some(id) = gfx.send_mixed_frame(self.surface_id, vec![tile], timestamp_ms) {
                        crate::codec::count_progressive(bytes);
                        return Ok(Some(id));
                    }
                    "refused".to_string()
                }
                Err(err) => format!("{err:#}"),
            };
            tracing::warn!(surface = self.surface_id, "RemoteFX Progressive of the video region failed: {failed}");
            adaptive.failed = true;
            region.tracker.leave();
            return Err(());
        }
        let encoding = crate::codec::CpuStopwatch::start();
        let (w, h) = (rect.right - rect.left, rect.bottom - rect.top);
        // A new offscreen surface holds nothing yet: the whole region goes into it.
        let key_frame = key_frame || region.offscreen.is_none();
        if key_frame {
            if let Some(old) = region.offscreen.take() {
                gfx.delete_surface(old.surface_id);
            }
            let padded = (w.div_ceil(16) * 16, h.div_ceil(16) * 16);
            let Some(surface_id) = gfx.create_surface(padded.0, padded.1) else {
                region.tracker.leave();
                return Err(());
            };
            let mut shadow = Shadow::new(w, h);
            let all = ExclusiveRectangle { left: 0, top: 0, right: w, bottom: h };
            shadow.blit(&all, &adaptive.shadow.crop(rect), usize::from(w) * 4);
            region.offscreen = Some(Offscreen { surface_id, shadow });
        } else if inside.is_empty() {
            return Ok(None);
        }
        let offscreen = region.offscreen.as_mut().expect("made above");
        let local = |r: &ExclusiveRectangle| ExclusiveRectangle {
            left: r.left - rect.left,
            top: r.top - rect.top,
            right: r.right - rect.left,
            bottom: r.bottom - rect.top,
        };
        // Straight from the tiles (a crop of the desktop's copy would be one more copy, and an
        // allocation the size of the region each frame).
        for (r, t) in clipped {
            let Some(part) = intersect(r, rect) else { continue };
            let stride = usize::from(t.width) * 4;
            let start = usize::from(part.top - t.y) * stride + usize::from(part.left - t.x) * 4;
            offscreen.shadow.blit(&local(&part), &t.bgra[start..], stride);
        }
        let encoder = match region.encoder.as_mut() {
            Some(e) => Ok(e),
            None => H264::for_video().map(|e| region.encoder.insert(e)),
        };
        let picture = encoder.and_then(|e| e.encode(&mut offscreen.shadow, key_frame));
        // Not a key frame's, as for a whole surface (`AvcJob::run`).
        if !key_frame {
            region.tracker.note_cost(true, encoding.elapsed());
        }
        let regions: Vec<Avc420Region> = if key_frame {
            vec![Avc420Region::new(0, 0, w, h, AVC_QP, 100)]
        } else {
            inside.iter().map(local).map(|r| Avc420Region::new(r.left, r.top, r.right, r.bottom, AVC_QP, 100)).collect()
        };
        let sent = picture.map_err(|e| format!("{e:#}")).and_then(|h264_data| {
            let bytes = h264_data.len();
            let tile = MixedTilePayload::Avc420 { regions, h264_data };
            let id = gfx.send_mixed_frame(offscreen.surface_id, vec![tile], timestamp_ms).ok_or("refused")?;
            Ok((id, bytes))
        });
        match sent {
            Ok((id, bytes)) => {
                // The copy into the desktop surface goes in the same frame, after the picture
                // (the pipeline queued StartFrame, the picture, EndFrame: it goes before the end).
                let copy = GfxPdu::SurfaceToSurface(SurfaceToSurfacePdu {
                    source_surface_id: offscreen.surface_id,
                    destination_surface_id: self.surface_id,
                    source_rectangle: ExclusiveRectangle { left: 0, top: 0, right: w, bottom: h },
                    destination_points: vec![Point { x: rect.left, y: rect.top }],
                });
                let mut queued = gfx.drain_output();
                let end = queued.pop();
                queued.push(raw_gfx(&copy));
                queued.extend(end);
                out.extend(queued);
                if key_frame {
                    tracing::debug!(surface = self.surface_id, ?rect, "video region in AVC420");
                }
                crate::codec::count_avc420(bytes);
                Ok(Some(id))
            }
            Err(err) => {
                tracing::warn!(surface = self.surface_id, "AVC420 of the video region failed: {err}");
                adaptive.failed = true;
                region.encoder = None;
                region.tracker.leave();
                self.drop_offscreen(gfx);
                Err(())
            }
        }
    }

    /// Deletes the video region's offscreen surface, if there is one.
    pub(super) fn drop_offscreen(&mut self, gfx: &mut GraphicsPipelineServer) {
        if let Some(old) = self.region.as_mut().and_then(|r| r.offscreen.take()) {
            gfx.delete_surface(old.surface_id);
        }
    }
}

/// An EGFX PDU the pipeline server has no call for, as a message of its channel (the
/// pipeline's output is never ZGFX-compressed, so an uncompressed segment of it is in step).
fn raw_gfx(pdu: &GfxPdu) -> DvcMessage {
    let bytes = ironrdp_core::encode_vec(pdu).expect("an EGFX PDU encodes");
    wayrail_dvc::EncodedPdu::message("RawGfx", ironrdp_graphics::zgfx::wrap_uncompressed(&bytes))
}
