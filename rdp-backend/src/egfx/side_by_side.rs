//! Several surfaces' frames at once (a RemoteApp round): their H.264 pictures encoded side by
//! side on the session's worker threads, ClearCodec in order on the session's thread.

use super::*;

/// Encoding one surface's H.264 picture: all it touches is that surface's encoder and copy.
pub(super) struct AvcJob<'a> {
    pub(super) adaptive: &'a mut Adaptive,
    pub(super) key_frame: bool,
}

impl AvcJob<'_> {
    pub(super) fn run(self) -> anyhow::Result<Picture> {
        let thread = std::thread::current();
        debug_assert!(matches!(thread.name(), Some(crate::server::RDP_THREAD | AVC_THREAD)), "{ON_THE_RDP_THREAD}");
        let a = self.adaptive;
        let started = Instant::now();
        let picture = if a.full_chroma {
            let encoder = match a.avc444.as_mut() {
                Some(e) => e,
                None => a.avc444.insert(Avc444::new()?),
            };
            encoder.encode(&a.shadow, self.key_frame).map(Picture::Avc444)
        } else {
            let encoder = match a.encoder.as_mut() {
                Some(e) => e,
                None => a.encoder.insert(H264::new()?),
            };
            encoder.encode(&mut a.shadow, self.key_frame).map(Picture::Avc420)
        };
        a.chooser.note_cost(true, started.elapsed());
        picture
    }

    /// About how much work it is (the pixels of the picture).
    fn size(&self) -> usize {
        usize::from(self.adaptive.shadow.width) * usize::from(self.adaptive.shadow.height)
    }
}

/// Queues one frame for each of several surfaces (each surface once), in this order: the
/// same frames as `queue_tiles` one after the other. The H.264 pictures among them are
/// encoded side by side, on as many threads as there are cores (this one among them);
/// ClearCodec runs here, frame after frame, as its state is the connection's.
pub fn queue_frames(
    gfx: &mut GraphicsPipelineServer,
    frames: Vec<(&mut DesktopSurface, &[crate::Tile])>,
    timestamp_ms: u32,
) -> Vec<Option<u32>> {
    queue_frames_at(gfx, frames, timestamp_ms, Instant::now())
}

pub(super) fn queue_frames_at(
    gfx: &mut GraphicsPipelineServer,
    mut frames: Vec<(&mut DesktopSurface, &[crate::Tile])>,
    timestamp_ms: u32,
    now: Instant,
) -> Vec<Option<u32>> {
    let prepared: Vec<Option<Prepared<'_>>> = frames.iter_mut().map(|(s, tiles)| s.prepare(tiles, now)).collect();
    let mut pictures: Vec<Option<anyhow::Result<Picture>>> = prepared.iter().map(|_| None).collect();
    let jobs: Vec<(usize, AvcJob<'_>)> = frames
        .iter_mut()
        .zip(&prepared)
        .enumerate()
        .filter_map(|(i, ((surface, _), p))| Some((i, surface.avc_job(p.as_ref()?)?)))
        .collect();
    for (i, picture) in encode_side_by_side(jobs) {
        pictures[i] = Some(picture);
    }
    frames
        .into_iter()
        .zip(prepared)
        .zip(pictures)
        .map(|(((surface, _), p), picture)| surface.send(gfx, p?, picture, timestamp_ms))
        .collect()
}

/// Runs the jobs on up to as many threads as there are cores, this one included; the results
/// with their indexes, in no order.
fn encode_side_by_side(mut jobs: Vec<(usize, AvcJob<'_>)>) -> Vec<(usize, anyhow::Result<Picture>)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len());
    if threads <= 1 {
        return jobs.into_iter().map(|(i, job)| (i, job.run())).collect();
    }
    // The largest first (taken from the end), so that one big picture does not come last.
    jobs.sort_by_key(|(_, job)| job.size());
    let queue = std::sync::Mutex::new(jobs);
    let work = || {
        let mut done = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((i, job)) = next else { return done };
            done.push((i, job.run()));
        }
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().name(AVC_THREAD.into()).spawn_scoped(scope, work).ok())
            .collect();
        let mut done = work();
        for helper in helpers {
            done.extend(helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        done
    })
}

/// The name of the threads that encode H.264 pictures for a session.
pub(super) const AVC_THREAD: &str = "wayrail-avc";
