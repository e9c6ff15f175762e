//! VAIL in a RemoteApp session. Once the host confirmed gfxredir, each window gets a pool in
//! shared memory instead of an EGFX surface: its changed tiles are copied into the pool (or
//! the compositor wrote them there itself, straight from a client's buffer: `WindowFrame::
//! written`) and the host is told which rectangle to take (PresentBuffer); no pixel crosses
//! the socket. The
//! host's ack of a present is the frame's end, as an EGFX frame ack is. Pools are made,
//! renamed on resize and removed by `wayrail_vail`; they go with the window, the channel and
//! the session.

use wayrail_vail::{GfxRedirServer, Rect, VailChannel, VailError, VailEvent};

use super::connection::Connection;
use super::Session;
use crate::{HostEvent, WindowFrame};

/// A session's VAIL state beside its channel.
#[derive(Debug, Default)]
pub(super) struct Vail {
    /// The host confirmed gfxredir: windows go through shared memory.
    pub ready: bool,
}

impl Connection {
    /// Runs `f` on the gfxredir channel and writes the PDUs it queued; None when the host has
    /// not opened the channel.
    async fn with_vail<T>(&mut self, f: impl FnOnce(&mut VailChannel) -> T) -> anyhow::Result<Option<T>> {
        self.with_dvc(|server: &mut GfxRedirServer| {
            let value = f(server.channel_mut());
            (value, server.drain_output())
        })
        .await
    }
}

impl Session {
    pub(super) async fn handle_vail(&mut self, event: VailEvent) -> anyhow::Result<()> {
        match event {
            VailEvent::Ready { version } => {
                if self.rail.is_none() {
                    // A full desktop is one EGFX surface; gfxredir is for RemoteApp windows.
                    return Ok(());
                }
                tracing::info!(
                    session = self.id,
                    version = format!("{version:#x}"),
                    "RemoteApp windows go through shared memory (VAIL)"
                );
                self.vail.ready = true;
                self.send_host(HostEvent::WindowTransport { shared_memory: true });
                if self.graphics.ready {
                    let ids: Vec<u32> =
                        self.rail.as_ref().map_or(Vec::new(), |r| r.state.known.keys().copied().collect());
                    for id in ids {
                        self.create_window_surface(id).await?;
                    }
                }
            }
            VailEvent::Unusable { reason } => {
                tracing::info!(session = self.id, "VAIL cannot be used ({reason}); windows go over EGFX");
                self.send_host(HostEvent::WindowTransport { shared_memory: false });
                if std::mem::take(&mut self.vail.ready) && self.graphics.ready && self.rail.is_some() {
                    self.reset_window_surfaces().await?;
                }
            }
            VailEvent::PresentDone { present_id, .. } => self.frames.present_done(present_id),
        }
        Ok(())
    }

    /// Gives a window a pool of its surface size (a new one, under a new name, when the size
    /// changed) in place of any EGFX surface; the compositor then repaints it. False when the
    /// window cannot have one (no channel, no pool could be made): it stays on EGFX.
    pub(super) async fn open_vail_window(&mut self, id: u32) -> anyhow::Result<bool> {
        let Some(rail) = self.rail.as_mut() else { return Ok(false) };
        let Some((w, h)) = rail.state.known.get(&id).map(|w| w.surface_size()) else {
            return Ok(false);
        };
        let (w, h) = (w.clamp(1, 8192), h.clamp(1, 8192));
        let opened = self
            .conn
            .with_vail(|channel| match channel.pool(id.into()).map(|p| (p.width(), p.height())) {
                Some(size) if size == (w, h) => Ok(()),
                Some(_) => channel.resize(id.into(), w, h),
                None => channel.open_window(id.into(), w, h),
            })
            .await?;
        match opened {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                tracing::warn!(session = self.id, window = id, "no VAIL pool, the window goes over EGFX: {e}");
                return Ok(false);
            }
            None => return Ok(false),
        }
        if let Some(old) = self.rail.as_mut().and_then(|r| r.state.surfaces.remove(&id)) {
            self.conn.with_gfx(|gfx| gfx.delete_surface(old.surface_id)).await?;
        }
        self.send_host(HostEvent::RefreshWindow { window: id });
        Ok(true)
    }

    /// The window's pool and buffer go (DestroyBuffer, ClosePool, the file).
    pub(super) async fn close_vail_window(&mut self, id: u32) -> anyhow::Result<()> {
        if self.vail.ready {
            self.conn.with_vail(|channel| channel.close_window(id.into())).await?;
        }
        Ok(())
    }

    /// Copies a window frame's tiles into its pool and presents them (or only presents what
    /// the compositor wrote into the pool itself, `frame.written`); false when the window has
    /// no pool (its frame goes over EGFX).
    pub(super) async fn present_vail(&mut self, frame: &WindowFrame) -> anyhow::Result<bool> {
        let window = frame.window;
        let Some(target) =
            self.rail.as_ref().and_then(|r| r.state.known.get(&window)).map(|w| (w.window.width, w.window.height))
        else {
            return Ok(false);
        };
        let tiles = frame
            .tiles
            .iter()
            .map(|t| (Rect::new(t.x.into(), t.y.into(), t.width.into(), t.height.into()), t.bgra.as_slice()));
        let presented = self
            .conn
            .with_vail(|channel| {
                channel.pool(window.into())?;
                // Window images carry alpha (shadows, rounded corners): no opaque rectangle.
                Some(match &frame.written {
                    Some(written) => {
                        let rects: Vec<Rect> =
                            written.rects.iter().map(|r| Rect::new(r.x, r.y, r.width, r.height)).collect();
                        channel.present_written(window.into(), &rects, target, false, written.pool)
                    }
                    None => channel.write_tiles_and_present(window.into(), tiles, target, false),
                })
            })
            .await?
            .flatten();
        match presented {
            None => return Ok(false),
            Some(Ok(p)) => {
                crate::frame_times::written(crate::frame_times::Transport::Vail, frame.committed);
                tracing::trace!(
                    session = self.id,
                    window,
                    present = p.present_id,
                    bytes = p.bytes_copied,
                    "VAIL present"
                );
                self.frames.presented(frame.frame, p.present_id);
            }
            Some(Err(e)) => {
                // The tiles are lost to the pool: the whole window goes again.
                if !matches!(e, VailError::Busy(_)) {
                    tracing::warn!(session = self.id, window, "VAIL present: {e}");
                }
                self.frames.done_now(frame.frame);
                self.send_host(HostEvent::RefreshWindow { window });
            }
        }
        Ok(true)
    }
}
