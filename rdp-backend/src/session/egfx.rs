//! The graphics pipeline (EGFX) of a session: the desktop surface, desktop frames (with
//! bitmap updates for clients without EGFX), and what the pipeline reports.

use std::time::{Duration, Instant};

use ironrdp_dvc::{encode_dvc_messages, DrdynvcServer, DvcMessage, DvcServerProcessor};
use ironrdp_egfx::server::GraphicsPipelineServer;
use ironrdp_svc::{server_encode_svc_messages, ChannelFlags};

use super::connection::Connection;
use super::Session;
use crate::egfx::{DesktopSurface, GfxEvent, SharedEncoder};
use crate::reassembly::CappedDrdynvc;
use crate::{monitors, DesktopFrame, HostEvent};

/// How long after activation a client may take to open EGFX before it gets bitmap updates.
const EGFX_GRACE: Duration = Duration::from_secs(2);

pub(super) struct Graphics {
    /// The codecs of this connection (its one ClearCodec encoder).
    pub clear: SharedEncoder,
    /// The desktop surface (full-desktop sessions).
    pub surface: Option<DesktopSurface>,
    /// The client opened the pipeline.
    pub ready: bool,
    /// The client never opened the pipeline: desktop frames go out as bitmap updates.
    pub bitmap_mode: bool,
    /// The client advertised SCALEDMAP_DISABLE.
    pub scaled_map_disabled: bool,
    /// The activation, for EGFX timestamps and the grace period.
    pub started: Instant,
    /// EGFX frame id → the ids of the frames merged into it (`egfx::merge_frames`), which
    /// the pipeline is told are acknowledged when the client acknowledges it.
    pub merged: std::collections::HashMap<u32, Vec<u32>>,
}

impl Graphics {
    pub fn new(h264: crate::H264Mode) -> Graphics {
        Graphics {
            clear: crate::egfx::new_encoder(h264),
            surface: None,
            ready: false,
            bitmap_mode: false,
            scaled_map_disabled: false,
            started: Instant::now(),
            merged: std::collections::HashMap::new(),
        }
    }

    /// The timestamp of an EGFX frame sent now.
    pub fn timestamp(&self) -> u32 {
        self.started.elapsed().as_millis() as u32
    }
}

impl Connection {
    fn drdynvc(&mut self) -> Option<&mut DrdynvcServer> {
        self.channel_mut::<CappedDrdynvc>().map(|c| &mut c.inner)
    }

    /// Runs `f` on the graphics pipeline and writes what it queued; None when the client has
    /// no pipeline.
    pub(super) async fn with_gfx<T>(
        &mut self,
        f: impl FnOnce(&mut GraphicsPipelineServer) -> T,
    ) -> anyhow::Result<Option<T>> {
        self.with_dvc(|gfx: &mut GraphicsPipelineServer| {
            let value = f(gfx);
            (value, gfx.drain_output())
        })
        .await
    }

    /// Runs `f` on the dynamic channel of type `P` and writes the messages it returns; None
    /// when the client has not opened that channel.
    pub(super) async fn with_dvc<P: DvcServerProcessor + 'static, T>(
        &mut self,
        f: impl FnOnce(&mut P) -> (T, Vec<DvcMessage>),
    ) -> anyhow::Result<Option<T>> {
        let user = self.result.user_channel_id;
        let Some(drdynvc_id) = self.channel_id::<CappedDrdynvc>() else {
            return Ok(None);
        };
        let Some(drdynvc) = self.drdynvc() else { return Ok(None) };
        let Some(dvc_id) = drdynvc.get_channel_id_by_type::<P>() else {
            return Ok(None);
        };
        let Some(mut channel) = drdynvc.dvc_by_id_mut::<P>(dvc_id) else {
            return Ok(None);
        };
        let (value, messages) = f(channel.processor_mut());
        if !messages.is_empty() {
            let svc = encode_dvc_messages(dvc_id, messages, ChannelFlags::SHOW_PROTOCOL)?;
            let bytes = server_encode_svc_messages(svc, drdynvc_id, user)?;
            self.write(&bytes).await?;
        }
        Ok(Some(value))
    }

    /// Sends EGFX PDUs that the pipeline server has no call for (window mappings).
    pub(super) async fn send_raw_gfx(&mut self, pdus: Vec<ironrdp_egfx::pdu::GfxPdu>) -> anyhow::Result<()> {
        let Some(drdynvc_id) = self.channel_id::<CappedDrdynvc>() else {
            return Ok(());
        };
        let Some(gfx_id) = self.drdynvc().and_then(|d| d.get_channel_id_by_type::<GraphicsPipelineServer>()) else {
            return Ok(());
        };
        let mut messages: Vec<ironrdp_dvc::DvcMessage> = Vec::new();
        for pdu in &pdus {
            let bytes = ironrdp_core::encode_vec(pdu)?;
            // Already encoded and ZGFX-wrapped here.
            messages
                .push(wayrail_dvc::EncodedPdu::message("RawGfx", ironrdp_graphics::zgfx::wrap_uncompressed(&bytes)));
        }
        let svc = encode_dvc_messages(gfx_id, messages, ChannelFlags::SHOW_PROTOCOL)?;
        self.send_on(drdynvc_id, svc).await
    }
}

impl Session {
    pub(super) async fn handle_gfx(&mut self, event: GfxEvent) -> anyhow::Result<()> {
        match event {
            GfxEvent::Ready => {
                self.graphics.ready = true;
                // A new pipeline generation: the frames merged into older ones are gone with it.
                self.graphics.merged.clear();
                if self.rail.is_some() {
                    self.reset_window_surfaces().await?
                } else {
                    self.recreate_surface().await?
                }
            }
            GfxEvent::FrameAck { frame_id, suspended } => {
                if self.frames.acked(frame_id, suspended) {
                    tracing::debug!(session = self.id, suspended, "client frame acknowledgements");
                }
                if suspended {
                    // No acks come: the pipeline tracks no frames while they are suspended.
                    self.graphics.merged.clear();
                } else if let Some(merged) = self.graphics.merged.remove(&frame_id) {
                    self.conn.with_gfx(|gfx| crate::egfx::acknowledge_merged(gfx, &merged)).await?;
                }
            }
            GfxEvent::Advertised { scaled_map_disabled } => {
                self.graphics.scaled_map_disabled = scaled_map_disabled;
            }
            GfxEvent::Closed => {
                tracing::warn!(session = self.id, "the client closed the graphics channel");
                self.graphics.surface = None;
                // No acks come on a closed channel.
                self.frames.release_all();
                self.graphics.merged.clear();
            }
        }
        Ok(())
    }

    /// (Re)creates the desktop surface at the desktop's size; the compositor then repaints.
    pub(super) async fn recreate_surface(&mut self) -> anyhow::Result<()> {
        let clear = self.graphics.clear.clone();
        let (w, h) = (self.desktop.width, self.desktop.height);
        let layout = monitors::to_gcc(&self.desktop.monitors);
        let surface = &mut self.graphics.surface;
        let created = self.conn.with_gfx(|gfx| {
            *surface = DesktopSurface::create(gfx, &clear, w, h, layout);
            surface.is_some()
        });
        match created.await? {
            Some(true) => {
                tracing::debug!(session = self.id, w, h, "desktop surface ready");
                self.send_host(HostEvent::Refresh);
            }
            _ => tracing::warn!(session = self.id, "could not create the desktop surface"),
        }
        Ok(())
    }

    pub(super) async fn send_frame(&mut self, frame: DesktopFrame) -> anyhow::Result<()> {
        if self.desktop.suppressed || (frame.width, frame.height) != (self.desktop.width, self.desktop.height) {
            // Nothing can show it now; the apps must not wait for it.
            self.frames.done_now(frame.frame);
            return Ok(());
        }
        if self.graphics.surface.is_none() {
            // EGFX normally comes up right after activation; a client that has not opened
            // it by now gets plain bitmap updates.
            let result = self.send_bitmap_frame(&frame).await;
            self.frames.done_now(frame.frame);
            return result;
        }
        let timestamp = self.graphics.timestamp();
        let surface = &mut self.graphics.surface;
        let queued = self
            .conn
            .with_dvc(|gfx: &mut GraphicsPipelineServer| match surface.as_mut() {
                Some(s) => s.queue_frame(gfx, &frame, timestamp),
                None => (None, gfx.drain_output()),
            })
            .await;
        self.frames.sent(frame.frame, egfx_frame(&queued));
        queued.map(drop)
    }

    /// When the next surface that went out in H.264 is due for its lossless refresh.
    pub(super) fn refresh_deadline(&self) -> Option<Instant> {
        let desktop = self.graphics.surface.as_ref().and_then(|s| s.refresh_due());
        let windows = self.rail.iter().flat_map(|r| r.state.surfaces.values()).filter_map(|s| s.refresh_due());
        desktop.into_iter().chain(windows).min()
    }

    /// Sends the lossless refresh of every surface that settled (no frame since its last
    /// H.264 one for `codec::SETTLE`).
    pub(super) async fn refresh_surfaces(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        let timestamp = self.graphics.timestamp();
        let due = |s: &DesktopSurface| s.refresh_due().is_some_and(|t| t <= now);
        let desktop = &mut self.graphics.surface;
        let mut windows = self.rail.as_mut().map(|r| &mut r.state.surfaces);
        let sent = self
            .conn
            .with_gfx(|gfx| {
                let surfaces = desktop.iter_mut().chain(windows.iter_mut().flat_map(|w| w.values_mut()));
                for surface in surfaces.filter(|s| due(s)) {
                    surface.refresh(gfx, timestamp);
                }
            })
            .await?;
        if sent.is_none() {
            // No pipeline to send on: nothing is due any more.
            let surfaces = desktop.iter_mut().chain(windows.iter_mut().flat_map(|w| w.values_mut()));
            for surface in surfaces {
                surface.forget_lossy();
            }
        }
        Ok(())
    }

    /// Bitmap updates for a client that has not opened EGFX within the grace period; nothing
    /// before.
    async fn send_bitmap_frame(&mut self, frame: &DesktopFrame) -> anyhow::Result<()> {
        if self.graphics.started.elapsed() <= EGFX_GRACE || self.graphics.ready {
            return Ok(());
        }
        self.start_bitmap_mode();
        let bytes = crate::bitmap::encode_frame(frame)?;
        self.conn.write(&bytes).await
    }

    /// When a full-desktop client that has not opened EGFX gets bitmap updates instead: at
    /// the end of the grace period, unless that is decided already.
    pub(super) fn bitmap_deadline(&self) -> Option<Instant> {
        let undecided = !self.graphics.ready && !self.graphics.bitmap_mode && self.rail.is_none();
        undecided.then(|| self.graphics.started + EGFX_GRACE)
    }

    /// From now on desktop frames go out as bitmap updates; the whole desktop is painted
    /// again, as what came while waiting for EGFX was dropped (and a desktop where nothing
    /// changes would send nothing at all).
    pub(super) fn start_bitmap_mode(&mut self) {
        if self.graphics.bitmap_mode {
            return;
        }
        tracing::info!(session = self.id, "no EGFX from this client: sending bitmap updates");
        self.graphics.bitmap_mode = true;
        self.send_host(HostEvent::Refresh);
    }
}

/// The EGFX frame id of a frame queued with `with_gfx`; None when nothing went out.
pub(super) fn egfx_frame(queued: &anyhow::Result<Option<Option<u32>>>) -> Option<u32> {
    match queued {
        Ok(Some(id)) => *id,
        _ => None,
    }
}
