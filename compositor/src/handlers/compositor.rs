//! wl_compositor, wl_subcompositor, wl_shm, wl_output, viewporter, fractional scale,
//! presentation time, single-pixel buffers and security contexts.

use smithay::backend::renderer::utils::on_commit_buffer_handler;
use smithay::reexports::wayland_server::protocol::{wl_buffer::WlBuffer, wl_surface::WlSurface};
use smithay::reexports::wayland_server::Client;
use smithay::wayland::buffer::BufferHandler;
use smithay::wayland::compositor::{
    get_parent, is_sync_subsurface, with_states, CompositorClientState, CompositorHandler, CompositorState,
    SurfaceAttributes,
};
use smithay::wayland::fractional_scale::FractionalScaleHandler;
use smithay::wayland::output::OutputHandler;
use smithay::wayland::security_context::{SecurityContext, SecurityContextHandler, SecurityContextListenerSource};
use smithay::wayland::shm::{ShmHandler, ShmState};
use smithay::xwayland::XWaylandClientData;
use smithay::{
    delegate_compositor, delegate_fractional_scale, delegate_output, delegate_presentation, delegate_security_context,
    delegate_shm, delegate_single_pixel_buffer, delegate_viewporter,
};

use crate::state::{ClientState, State};

impl CompositorHandler for State {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.compositor_state
    }

    fn client_compositor_state<'a>(&self, client: &'a Client) -> &'a CompositorClientState {
        if let Some(data) = client.get_data::<XWaylandClientData>() {
            return &data.compositor_state;
        }
        &client.get_data::<ClientState>().expect("client without wayrail client data").compositor_state
    }

    fn commit(&mut self, surface: &WlSurface) {
        on_commit_buffer_handler::<Self>(surface);
        self.popups.commit(surface);
        let wants_frame = with_states(surface, |states| {
            !states.cached_state.get::<SurfaceAttributes>().current().frame_callbacks.is_empty()
        });
        if wants_frame {
            self.frame_requested = true;
        }
        if matches!(&self.cursor_status, smithay::input::pointer::CursorImageStatus::Surface(s) if s == surface) {
            self.cursor_dirty = true;
        }
        if is_sync_subsurface(surface) {
            // Applied (and reported) when the parent commits.
            return;
        }
        let mut root = surface.clone();
        while let Some(parent) = get_parent(&root) {
            root = parent;
        }
        if let Some(index) = self.toplevel_index(&root) {
            self.toplevel_committed(index);
        } else if self.popups.find_popup(&root).is_some() {
            self.popup_committed(&root);
        }
        if let Some(id) = self.window_id_for_surface(&root) {
            self.frame_clock.committed(id);
            let scale = self.windows.get(id).map_or(1.0, |w| w.scale);
            let mut rects = crate::render::take_window_damage(&root, scale);
            if !rects.is_empty() && self.config.vail.whole_window {
                // The benchmark's WSLg-style comparison: every change redraws the window whole.
                rects = vec![crate::window::DamageRect::EVERYTHING];
            }
            if !rects.is_empty() {
                self.composer.window_damaged(id, scale, &rects);
                self.output_damaged = true;
                self.frame_requested = true;
                self.windows.damaged(id, rects);
            }
        }
    }
}

impl BufferHandler for State {
    fn buffer_destroyed(&mut self, _buffer: &WlBuffer) {}
}

impl ShmHandler for State {
    fn shm_state(&self) -> &ShmState {
        &self.shm_state
    }
}

impl OutputHandler for State {}
impl FractionalScaleHandler for State {
    fn new_fractional_scale(&mut self, surface: WlSurface) {
        // Its buffers will come at the output's exact scale: RemoteApp sends them unscaled.
        smithay::wayland::compositor::with_states(&surface, |states| {
            states.data_map.insert_if_missing_threadsafe(|| FractionalAware);
        });
    }
}

/// Marks a surface whose client asked for wp_fractional_scale.
struct FractionalAware;

/// Whether the client of a surface draws at fractional scales (it asked for
/// wp_fractional_scale on it).
pub fn is_fractional_aware(surface: &WlSurface) -> bool {
    smithay::wayland::compositor::with_states(surface, |states| states.data_map.get::<FractionalAware>().is_some())
}

impl SecurityContextHandler for State {
    fn context_created(&mut self, source: SecurityContextListenerSource, context: SecurityContext) {
        tracing::info!(engine = ?context.sandbox_engine, app_id = ?context.app_id, "security context created");
        let result = self.loop_handle.insert_source(source, move |stream, _, state: &mut State| {
            state.insert_client(stream, Some(context.clone()));
        });
        if let Err(err) = result {
            tracing::warn!("could not listen for a security context: {err}");
        }
    }
}

delegate_compositor!(State);
delegate_shm!(State);
delegate_output!(State);
delegate_viewporter!(State);
delegate_fractional_scale!(State);
delegate_presentation!(State);
delegate_single_pixel_buffer!(State);
delegate_security_context!(State);
