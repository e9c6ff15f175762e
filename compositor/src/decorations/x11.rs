//! `_GTK_FRAME_EXTENTS`: an X11 window that draws its own frame (client-side decorations with
//! their shadows) says so with this property, and gets no bar of wayrail's. Read when the
//! window maps, on a connection of its own and off the compositor's thread, as icons are.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use smithay::reexports::calloop::channel;
use smithay::xwayland::X11Surface;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _};

use crate::state::State;

/// On an X11 window: whether it carried `_GTK_FRAME_EXTENTS` when it last mapped.
#[derive(Default)]
pub struct ClientFrame(AtomicBool);

/// Whether an X11 window draws its own frame (see [`ClientFrame`]).
pub fn has_client_frame(x: &X11Surface) -> bool {
    x.user_data().get::<ClientFrame>().is_some_and(|f| f.0.load(Ordering::Relaxed))
}

/// Whether `window` on display `:display` has `_GTK_FRAME_EXTENTS` (four CARDINALs).
fn read_frame_extents(display: u32, window: u32) -> anyhow::Result<bool> {
    let (conn, _) =
        x11rb::connect(Some(&format!(":{display}"))).with_context(|| format!("connecting to :{display}"))?;
    let atom = conn.intern_atom(true, b"_GTK_FRAME_EXTENTS")?.reply()?.atom;
    if atom == x11rb::NONE {
        return Ok(false);
    }
    let reply = conn.get_property(false, window, atom, AtomEnum::CARDINAL, 0, 4)?.reply()?;
    Ok(reply.format == 32 && reply.value_len == 4)
}

impl State {
    /// Reads (on a thread) whether an X11 window draws its own frame; when it does, its bar
    /// goes as soon as the answer is in.
    pub fn check_x11_client_frame(&mut self, x: &X11Surface) {
        let Some(display) = self.xwl.display.filter(|_| self.xwm.is_some()) else { return };
        x.user_data().insert_if_missing_threadsafe(ClientFrame::default);
        let window = x.window_id();
        let (tx, rx) = channel::channel::<bool>();
        // The source goes once the thread is done (after this dispatch, not inside it).
        let token = Rc::new(Cell::new(None));
        let own = token.clone();
        let inserted = self.loop_handle.insert_source(rx, move |event, _, state| match event {
            channel::Event::Msg(has) => state.x11_client_frame_read(window, has),
            channel::Event::Closed => {
                if let Some(t) = own.take() {
                    state.loop_handle.insert_idle(move |state| state.loop_handle.remove(t));
                }
            }
        });
        match inserted {
            Ok(t) => token.set(Some(t)),
            Err(err) => return tracing::warn!("_GTK_FRAME_EXTENTS source: {}", err.error),
        }
        let spawned = std::thread::Builder::new().name("x11-frame".into()).spawn(move || {
            let has = read_frame_extents(display, window).unwrap_or_else(|err| {
                tracing::debug!(window, "reading _GTK_FRAME_EXTENTS: {err:#}");
                false
            });
            let _ = tx.send(has);
        });
        if let Err(err) = spawned {
            tracing::warn!("no thread to read _GTK_FRAME_EXTENTS: {err}");
        }
    }

    fn x11_client_frame_read(&mut self, window: u32, has: bool) {
        let found = self.toplevels.iter().find_map(|t| t.window.x11_surface().filter(|x| x.window_id() == window));
        let Some(frame) = found.and_then(|x| x.user_data().get::<ClientFrame>()) else { return };
        if frame.0.swap(has, Ordering::Relaxed) != has {
            tracing::debug!(window, has, "X11 window draws its own frame");
            self.output_damaged = true;
        }
    }
}
