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
        let started = crate::codec::CpuStopwatch::start();
        let picture = if a.full_chroma {
            let encoder = match a.avc444.as_mut() {
                Some(e) => e,
                None => a.avc444.insert(Avc444::new()?),
            };
            encoder.encode(&a.shadow, self.key_frame).map(Picture::Avc444)
        } else {
            // The chooser moves a run whose frames cost too much to camera mode (with a key
            // frame): a new encoder then.
            let camera = a.chooser.cheapest();
            if a.encoder.as_ref().is_some_and(|e| e.camera() != camera) {
                a.encoder = None;
            }
            let encoder = match a.encoder.as_mut() {
                Some(e) => e,
                None => a.encoder.insert(H264::for_surface(a.shadow.width, a.shadow.height, camera)?),
            };
            encoder.encode(&mut a.shadow, self.key_frame).map(Picture::Avc420)
        };
        // A key frame (and the encoder's start with it) costs several times the frames after
        // it: the rule weighs what the run costs from then on.
        if !self.key_frame {
            a.chooser.note_cost(true, started.elapsed());
        }
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

/// RDPGFX_CMDID_STARTFRAME and RDPGFX_CMDID_ENDFRAME.
const START_FRAME: u16 = 0x000B;
const END_FRAME: u16 = 0x000C;

/// The frame marker a message of the pipeline's output is, if it is one: StartFrame or
/// EndFrame and its frame id. The pipeline never compresses (ZGFX `Never`): a message is one
/// uncompressed single segment (0xE0, then RDP8 without the compressed flag) around one PDU.
fn frame_marker(message: &DvcMessage) -> Option<(u16, u32)> {
    // A StartFrame is 16 bytes and an EndFrame 12, after the 2 of the segment: nothing
    // larger is encoded to be looked at.
    if message.size() > 24 {
        return None;
    }
    let bytes = ironrdp_core::encode_vec(message.as_ref()).ok()?;
    let (&[0xE0, 0x04], pdu) = bytes.split_first_chunk::<2>()? else { return None };
    let word = |at: usize| Some(u32::from_le_bytes(pdu.get(at..at + 4)?.try_into().ok()?));
    match u16::from_le_bytes(pdu.get(..2)?.try_into().ok()?) {
        START_FRAME => Some((START_FRAME, word(12)?)),
        END_FRAME => Some((END_FRAME, word(8)?)),
        _ => None,
    }
}

/// The frames of a round, one after the other in the pipeline's output, made one EGFX frame:
/// the last frame's StartFrame first, every frame's commands in their order, its EndFrame
/// last. The client then decodes the round's windows and acknowledges them once, as one
/// frame (ten animating windows: each waited for the client to take the frames before it,
/// each with its own end and acknowledgement). Returns the messages and the ids of the
/// frames merged into the last, which the client never acknowledges (the pipeline's own
/// count of frames in flight needs them acknowledged: `acknowledge_merged`). Output that is
/// not whole frames one after the other is left as it is.
pub fn merge_frames(messages: Vec<DvcMessage>) -> (Vec<DvcMessage>, Vec<u32>) {
    let markers: Vec<Option<(u16, u32)>> = messages.iter().map(frame_marker).collect();
    let starts: Vec<u32> = markers.iter().flatten().filter(|(c, _)| *c == START_FRAME).map(|(_, id)| *id).collect();
    // Whole frames, one after the other: start, commands, end, start, ...
    let mut inside = false;
    let mut whole = true;
    for (i, marker) in markers.iter().enumerate() {
        match marker {
            Some((START_FRAME, _)) if !inside => inside = true,
            Some((END_FRAME, _)) if inside => inside = false,
            None if inside => {}
            _ => whole = false,
        }
        if !whole {
            tracing::trace!(message = i, "output that is not whole frames: not merged");
            break;
        }
    }
    if !whole || inside || starts.len() < 2 {
        return (messages, Vec::new());
    }
    let last_start = markers.iter().rposition(|m| matches!(m, Some((START_FRAME, _))));
    let last_end = markers.iter().rposition(|m| matches!(m, Some((END_FRAME, _))));
    let (Some(last_start), Some(last_end)) = (last_start, last_end) else { return (messages, Vec::new()) };
    let mut start = None;
    let mut end = None;
    let mut commands = Vec::with_capacity(messages.len());
    for (i, (message, marker)) in messages.into_iter().zip(&markers).enumerate() {
        match marker {
            None => commands.push(message),
            Some(_) if i == last_start => start = Some(message),
            Some(_) if i == last_end => end = Some(message),
            Some(_) => {}
        }
    }
    let merged = starts[..starts.len() - 1].to_vec();
    (start.into_iter().chain(commands).chain(end).collect(), merged)
}

/// Acknowledges to the pipeline the frames `merge_frames` merged into one the client
/// acknowledged: the client never will, and the pipeline counts them in flight until then.
pub fn acknowledge_merged(gfx: &mut GraphicsPipelineServer, merged: &[u32]) {
    use ironrdp_dvc::DvcProcessor as _;
    use ironrdp_egfx::pdu::{FrameAcknowledgePdu, QueueDepth};
    let channel = gfx.channel_id().unwrap_or_default();
    for &frame_id in merged {
        let ack = GfxPdu::FrameAcknowledge(FrameAcknowledgePdu {
            queue_depth: QueueDepth::Unavailable,
            frame_id,
            total_frames_decoded: 0,
        });
        let processed = ironrdp_core::encode_vec(&ack)
            .map_err(|e| format!("{e}"))
            .and_then(|bytes| gfx.process(channel, &bytes).map_err(|e| format!("{e}")));
        if let Err(err) = processed {
            tracing::warn!(frame_id, "acknowledging a merged frame to the pipeline: {err}");
        }
    }
}
