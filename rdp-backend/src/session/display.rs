//! The desktop the client shows: its size and monitors, changed over the display control
//! channel, and whether the client wants output at all.

use ironrdp_displaycontrol::pdu::{DisplayControlCapabilities, DisplayControlMonitorLayout};
use ironrdp_displaycontrol::server::DisplayControlHandler;
use tokio::sync::mpsc;

use super::Session;
use crate::monitors::{self, HostMonitor};
use crate::HostEvent;

/// Forwards the client's monitor layouts into the session loop.
pub(super) struct DisplayHandler {
    pub tx: mpsc::UnboundedSender<DisplayControlMonitorLayout>,
}

impl DisplayControlHandler for DisplayHandler {
    /// Up to 16 monitors of up to 8K each, so clients send their true multi-monitor layouts
    /// (the default, one 3840x2400 monitor, makes them send one monitor or none).
    fn capabilities(&self) -> ironrdp_pdu::PduResult<DisplayControlCapabilities> {
        // Constant and within the encoding's limits; the fallback is never taken.
        Ok(DisplayControlCapabilities::new(monitors::MAX_MONITORS as u32, 7680, 4320)
            .unwrap_or_else(|_| DisplayControlCapabilities::single_monitor()))
    }

    fn monitor_layout(&self, layout: DisplayControlMonitorLayout) {
        let _ = self.tx.send(layout);
    }
}

pub(super) struct Desktop {
    /// The bounding box of `monitors`.
    pub width: u16,
    pub height: u16,
    /// The client's monitors.
    pub monitors: Vec<HostMonitor>,
    /// The client asked for no output (minimized, say): frames are done unseen.
    pub suppressed: bool,
}

impl Session {
    pub(super) async fn handle_layout(&mut self, layout: DisplayControlMonitorLayout) -> anyhow::Result<()> {
        let list = match monitors::validate(monitors::from_display_control(&layout)) {
            Ok(list) => list,
            Err(why) => {
                // A layout we cannot show changes nothing; the session goes on as it was.
                tracing::warn!(session = self.id, "monitor layout refused: {why}");
                return Ok(());
            }
        };
        tracing::info!(session = self.id, monitors = ?list, "client monitor layout");
        if list == self.desktop.monitors {
            return Ok(());
        }
        let (_, _, w, h) = monitors::bounding_box(&list);
        let same_rects = monitors::to_gcc(&list) == monitors::to_gcc(&self.desktop.monitors);
        self.desktop.monitors = list.clone();
        self.send_host(HostEvent::Layout { monitors: list });
        if same_rects {
            // Only scales changed: the compositor sends new pixels, the graphics stay.
            return Ok(());
        }
        self.desktop.width = w as u16;
        self.desktop.height = h as u16;
        // The graphics are made anew: what was sent on the old ones is not waited for.
        self.frames.release_all();
        if self.rail.is_some() && self.graphics.ready {
            self.reset_window_surfaces().await?;
        } else if self.graphics.surface.is_some() {
            self.recreate_surface().await?;
        }
        Ok(())
    }
}
