//! RemoteApp in a session: the rail channel's events, the compositor's window changes as
//! windowing orders, and one EGFX surface per window with that window's frames.

use tokio::sync::mpsc;
use wayrail_rail::RailChannel;

use super::egfx::egfx_frame;
use super::{Session, SessionCmd};
use crate::egfx::DesktopSurface;
use crate::remoteapp::{Actions, Mapping, RailState};
use crate::{HostEvent, RailCommand, WindowFrame};
use ironrdp_egfx::server::GraphicsPipelineServer;

/// The RemoteApp side of a session (set in RemoteApp sessions only).
pub(super) struct RemoteApp {
    pub state: RailState<DesktopSurface>,
    /// How window surfaces reach the host's windows (known once EGFX is up).
    pub mapping: Mapping,
}

impl RemoteApp {
    pub fn new() -> RemoteApp {
        RemoteApp { state: RailState::default(), mapping: Mapping::ScaledWindow }
    }
}

/// Window frames a session takes together, at most.
const MAX_BATCH: usize = 32;

/// `first` and the window frames queued right behind it (the compositor hands a round's
/// frames over together), and the other command that ended them, if one did.
pub(super) fn take_window_frames(
    first: WindowFrame,
    cmds: &mut mpsc::Receiver<SessionCmd>,
) -> (Vec<WindowFrame>, Option<SessionCmd>) {
    let mut frames = vec![first];
    while frames.len() < MAX_BATCH {
        match cmds.try_recv() {
            Ok(SessionCmd::WindowFrame(frame)) => frames.push(frame),
            Ok(other) => return (frames, Some(other)),
            Err(_) => break,
        }
    }
    (frames, None)
}

/// An i32 coordinate as the i16 of RAIL PDUs.
fn clamp16(v: i32) -> i16 {
    v.clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// Rounds whose merged frames wait for the client's acknowledgement, at most.
const MAX_MERGED_ROUNDS: usize = 256;

impl Session {
    async fn send_rail_messages(&mut self, messages: Vec<ironrdp_svc::SvcMessage>) -> anyhow::Result<()> {
        self.conn.send_svc::<RailChannel>(messages).await
    }

    /// What the rail channel decoded: answered here, or handed to the compositor.
    pub(super) async fn handle_rail_events(&mut self) -> anyhow::Result<()> {
        let events = self.conn.channel_mut::<RailChannel>().map(|c| c.take_events()).unwrap_or_default();
        for event in events {
            match event.clone() {
                wayrail_rail::RailEvent::Ready { .. } => {
                    let mut actions = Actions::default();
                    if let Some(rail) = self.rail.as_mut() {
                        rail.state.on_ready(&mut actions);
                    }
                    self.perform(actions).await?;
                    self.send_host(HostEvent::Rail(event));
                }
                wayrail_rail::RailEvent::Exec { flags, executable, working_directory, arguments } => {
                    // The rail channel is there in every session: a full-desktop client may
                    // join it too, and is refused here.
                    let remote_app = self.rail.is_some();
                    let result = self.exec.exec(self.id, remote_app, &executable, &working_directory, &arguments);
                    let message = RailChannel::exec_result(flags, &executable, result);
                    self.send_rail_messages(vec![message]).await?;
                }
                wayrail_rail::RailEvent::WindowMove { window, rect } => {
                    // The end of a host-side move/size: tell the host we saw it.
                    if self.rail.as_mut().is_some_and(|r| r.state.moving.remove(&window)) {
                        let message = RailChannel::local_move_size(
                            window,
                            false,
                            ironrdp_rail::MoveSizeType::Move,
                            clamp16(rect.x),
                            clamp16(rect.y),
                        );
                        self.send_rail_messages(vec![message]).await?;
                    }
                    self.host_placed(window, rect);
                }
                wayrail_rail::RailEvent::SnapArrange { window, rect } => self.host_placed(window, rect),
                other => self.send_host(HostEvent::Rail(other)),
            }
        }
        Ok(())
    }

    /// The host put a window's image at `rect`: the compositor learns where the window
    /// proper is, from what the host was told of the window.
    fn host_placed(&mut self, window: u32, rect: wayrail_rail::HostRect) {
        let Some(shown) = self.rail.as_ref().and_then(|r| r.state.known.get(&window)) else {
            tracing::debug!(window, "the host placed a window it was never shown; ignored");
            return;
        };
        let placed = wayrail_rail::place::after_host_move(shown, rect);
        self.send_host(HostEvent::WindowPlaced { window, client: placed.client, resized: placed.resized });
    }

    pub(super) async fn apply_rail(&mut self, command: RailCommand) -> anyhow::Result<()> {
        if let RailCommand::Remove(id) = &command {
            self.close_vail_window(*id).await?;
        }
        let mut actions = Actions::default();
        match self.rail.as_mut() {
            Some(rail) => rail.state.apply(command, &mut actions),
            None => return Ok(()),
        }
        self.perform(actions).await
    }

    /// Writes orders, then (re)creates and maps the surfaces the changes need.
    async fn perform(&mut self, actions: Actions) -> anyhow::Result<()> {
        let bytes = crate::remoteapp::orders_bytes(&actions.orders)?;
        if !bytes.is_empty() {
            self.conn.write(&bytes).await?;
        }
        self.send_rail_messages(actions.rail_messages).await?;
        if let Some((window, edges, x, y)) = actions.local_move_size {
            let (w, h) = (clamp16(self.desktop.width as i32), clamp16(self.desktop.height as i32));
            let messages = vec![
                RailChannel::min_max_info(window, (w, h), (0, 0), (1, 1), (clamp16(8192), clamp16(8192))),
                RailChannel::local_move_size(
                    window,
                    true,
                    crate::remoteapp::move_size_type(edges),
                    clamp16(x),
                    clamp16(y),
                ),
            ];
            self.send_rail_messages(messages).await?;
        }
        if !self.graphics.ready {
            return Ok(());
        }
        let deleted = actions.deleted_surfaces;
        if !deleted.is_empty() {
            self.conn
                .with_gfx(|gfx| {
                    for id in deleted {
                        gfx.delete_surface(id);
                    }
                })
                .await?;
        }
        for id in actions.surfaces {
            self.create_window_surface(id).await?;
        }
        if self.rail.as_ref().is_some_and(|r| r.mapping == Mapping::Output) {
            for id in actions.remap {
                let pdu = self.rail.as_ref().and_then(|r| {
                    let s = r.state.surfaces.get(&id)?;
                    r.state.map_pdu(id, s.surface_id, r.mapping)
                });
                if let Some(pdu) = pdu {
                    self.conn.send_raw_gfx(vec![pdu]).await?;
                    self.send_host(HostEvent::RefreshWindow { window: id });
                }
            }
        }
        Ok(())
    }

    /// A fresh surface for a window, mapped to it (or, with VAIL, a shared-memory pool); the
    /// compositor then repaints the window.
    pub(super) async fn create_window_surface(&mut self, id: u32) -> anyhow::Result<()> {
        if self.vail.ready && self.open_vail_window(id).await? {
            return Ok(());
        }
        let clear = self.graphics.clear.clone();
        let Some(rail) = self.rail.as_mut() else { return Ok(()) };
        let Some(size) = rail.state.known.get(&id).map(|w| w.surface_size()) else {
            return Ok(());
        };
        let (w, h) = (size.0.clamp(1, 8192) as u16, size.1.clamp(1, 8192) as u16);
        let old = rail.state.surfaces.remove(&id).map(|s| s.surface_id);
        let created = self
            .conn
            .with_gfx(|gfx| {
                if let Some(old) = old {
                    gfx.delete_surface(old);
                }
                crate::egfx::DesktopSurface::for_window(gfx, &clear, w, h)
            })
            .await?
            .flatten();
        let Some(surface) = created else {
            tracing::warn!(session = self.id, window = id, "no surface for the window");
            return Ok(());
        };
        let Some(rail) = self.rail.as_mut() else { return Ok(()) };
        let map = rail.state.map_pdu(id, surface.surface_id, rail.mapping);
        rail.state.surfaces.insert(id, surface);
        if let Some(pdu) = map {
            self.conn.send_raw_gfx(vec![pdu]).await?;
        }
        self.send_host(HostEvent::RefreshWindow { window: id });
        Ok(())
    }

    /// After EGFX comes up or the desktop changes size: ResetGraphics, then a surface per window.
    pub(super) async fn reset_window_surfaces(&mut self) -> anyhow::Result<()> {
        let (w, h) = (self.desktop.width, self.desktop.height);
        let layout = crate::monitors::to_gcc(&self.desktop.monitors);
        let negotiated = self
            .conn
            .with_gfx(|gfx| {
                gfx.resize_with_monitors(w, h, layout);
                gfx.negotiated_capabilities().cloned()
            })
            .await?
            .flatten();
        let mapping =
            if self.graphics.scaled_map_disabled { Mapping::Output } else { Mapping::for_caps(negotiated.as_ref()) };
        tracing::info!(session = self.id, ?mapping, "RemoteApp surfaces");
        self.send_host(HostEvent::WindowMapping { scaled: mapping == Mapping::ScaledWindow });
        let Some(rail) = self.rail.as_mut() else { return Ok(()) };
        rail.mapping = mapping;
        rail.state.surfaces.clear();
        let ids: Vec<u32> = rail.state.known.keys().copied().collect();
        for id in ids {
            self.create_window_surface(id).await?;
        }
        Ok(())
    }

    pub(super) async fn send_window_frame(&mut self, frame: WindowFrame) -> anyhow::Result<()> {
        if self.vail.ready && !self.desktop.suppressed && self.present_vail(&frame).await? {
            return Ok(());
        }
        let window = frame.window;
        if frame.written.is_some() {
            // Pixels written into a pool this window no longer has (VAIL ended): it goes whole
            // with its next frame. With output suppressed, the end of that brings a refresh.
            self.frames.done_now(frame.frame);
            if !self.desktop.suppressed {
                self.send_host(HostEvent::RefreshWindow { window });
            }
            return Ok(());
        }
        let surface = self.rail.as_mut().and_then(|r| r.state.surfaces.get_mut(&window));
        let Some(surface) = surface.filter(|_| !self.desktop.suppressed) else {
            // No surface to show it on, or no output wanted: the apps must not wait for it.
            self.frames.done_now(frame.frame);
            return Ok(());
        };
        let timestamp = self.graphics.timestamp();
        let queued = self.conn.with_gfx(|gfx| surface.queue_tiles(gfx, &frame.tiles, timestamp)).await;
        let sent = egfx_frame(&queued);
        if sent.is_some() {
            crate::frame_times::written(crate::frame_times::Transport::Egfx, frame.committed);
        }
        self.frames.sent(frame.frame, sent);
        queued.map(drop)
    }

    /// Window frames that came together, in order; the H.264 pictures among them are encoded
    /// side by side (`egfx::queue_frames`). A window's second frame waits for its first.
    pub(super) async fn send_window_frames(&mut self, frames: Vec<WindowFrame>) -> anyhow::Result<()> {
        if frames.len() == 1 || self.vail.ready {
            for frame in frames {
                self.send_window_frame(frame).await?;
            }
            return Ok(());
        }
        let mut group: Vec<WindowFrame> = Vec::with_capacity(frames.len());
        for frame in frames {
            if group.iter().any(|f| f.window == frame.window) {
                self.send_window_group(std::mem::take(&mut group)).await?;
            }
            group.push(frame);
        }
        self.send_window_group(group).await
    }

    /// Frames of different windows, in one write (no VAIL in this session).
    async fn send_window_group(&mut self, frames: Vec<WindowFrame>) -> anyhow::Result<()> {
        let mut shown = Vec::with_capacity(frames.len());
        for frame in frames {
            let surface = self.rail.as_ref().is_some_and(|r| r.state.surfaces.contains_key(&frame.window));
            if surface && frame.written.is_none() && !self.desktop.suppressed {
                shown.push(frame);
            } else {
                // Nothing goes out for it (see there).
                self.send_window_frame(frame).await?;
            }
        }
        if shown.len() <= 1 {
            for frame in shown {
                self.send_window_frame(frame).await?;
            }
            return Ok(());
        }
        tracing::trace!(session = self.id, windows = shown.len(), "window frames queued together");
        let timestamp = self.graphics.timestamp();
        let Some(rail) = self.rail.as_mut() else { return Ok(()) };
        let mut surfaces: std::collections::HashMap<u32, &mut DesktopSurface> =
            rail.state.surfaces.iter_mut().map(|(id, s)| (*id, s)).collect();
        let batch: Vec<(&mut DesktopSurface, &[crate::Tile])> =
            shown.iter().filter_map(|f| Some((surfaces.remove(&f.window)?, &f.tiles[..]))).collect();
        drop(surfaces);
        // One EGFX frame for the round (`egfx::merge_frames`).
        let queued = self
            .conn
            .with_dvc(|gfx: &mut GraphicsPipelineServer| {
                let ids = crate::egfx::queue_frames(gfx, batch, timestamp);
                let (messages, merged) = crate::egfx::merge_frames(gfx.drain_output());
                ((ids, merged), messages)
            })
            .await;
        let (ids, merged) = match &queued {
            Ok(Some((ids, merged))) => (ids.clone(), merged.clone()),
            _ => (Vec::new(), Vec::new()),
        };
        // What the client acknowledges: the last frame, which the others went into.
        let last = if merged.is_empty() { None } else { ids.iter().rev().flatten().next().copied() };
        for (i, frame) in shown.iter().enumerate() {
            let id = ids.get(i).copied().flatten();
            self.frames.sent(frame.frame, id.map(|id| last.unwrap_or(id)));
        }
        if let Some(last) = last {
            // Acknowledgements the client suspended or lost: bounded all the same.
            if self.graphics.merged.len() >= MAX_MERGED_ROUNDS {
                self.graphics.merged.clear();
            }
            crate::codec::count_merged(merged.len());
            self.graphics.merged.insert(last, merged);
        }
        queued.map(drop)
    }
}
