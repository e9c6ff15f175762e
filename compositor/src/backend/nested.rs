//! `--backend nested`: the whole desktop in a window of the session wayrail runs in (winit),
//! with its keyboard and pointer, for watching the compositor while working on it.

use smithay::backend::input::{
    AbsolutePositionEvent, Axis, AxisSource, ButtonState, InputEvent as BackendInput, KeyState, KeyboardKeyEvent,
    PointerAxisEvent, PointerButtonEvent,
};
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::surface::WaylandSurfaceRenderElement;
use smithay::backend::renderer::gles::GlesRenderer;
use smithay::backend::winit::{self, WinitEvent, WinitGraphicsBackend};
use smithay::reexports::calloop::LoopHandle;
use smithay::utils::Transform;

use crate::config::OutputSpec;
use crate::input::InputEvent;
use crate::state::{Core, State};

pub struct Nested {
    backend: WinitGraphicsBackend<GlesRenderer>,
    tracker: OutputDamageTracker,
    output_name: String,
}

pub fn init(handle: &LoopHandle<'static, State>, state: &mut State) -> anyhow::Result<super::Backend> {
    let (backend, events) = winit::init::<GlesRenderer>()
        .map_err(|e| anyhow::anyhow!("nested backend needs a Wayland or X11 session: {e}"))?;
    let size = backend.window_size();
    // The window is the one output.
    for name in state.outputs.iter().map(|o| o.name.clone()).collect::<Vec<_>>() {
        state.remove_output(&name);
    }
    state.add_output(&OutputSpec {
        name: Some("NESTED-1".into()),
        width: size.w.max(1),
        height: size.h.max(1),
        position: Some((0, 0)),
        ..Default::default()
    });
    let tracker = window_tracker(size.w.max(1), size.h.max(1));
    handle
        .insert_source(events, |event, _, state: &mut State| handle_event(state, event))
        .map_err(|e| anyhow::anyhow!("winit events: {e}"))?;
    state.frame_requested = true;
    Ok(super::Backend::Nested(Box::new(Nested { backend, tracker, output_name: "NESTED-1".into() })))
}

/// The damage tracker that draws the output into the window. GL framebuffers have their
/// origin at the bottom left, so the desktop is drawn flipped to come out upright; the output
/// itself stays untransformed for its clients.
fn window_tracker(width: i32, height: i32) -> OutputDamageTracker {
    OutputDamageTracker::new((width, height), 1.0, Transform::Flipped180)
}

fn handle_event(state: &mut State, event: WinitEvent) {
    match event {
        WinitEvent::Resized { size, .. } => {
            let name = match &state.backend {
                super::Backend::Nested(n) => n.output_name.clone(),
                _ => return,
            };
            state.resize_output(&name, size.w, size.h);
            if let super::Backend::Nested(n) = &mut state.backend {
                n.tracker = window_tracker(size.w.max(1), size.h.max(1));
            }
            state.frame_requested = true;
        }
        WinitEvent::Redraw | WinitEvent::Focus(_) => state.frame_requested = true,
        WinitEvent::CloseRequested => {
            tracing::info!("nested window closed; exiting");
            std::process::exit(0);
        }
        WinitEvent::Input(input) => handle_input(state, input),
    }
}

fn handle_input(state: &mut State, input: BackendInput<winit::WinitInput>) {
    let Some(out) = state.outputs.first().map(|o| o.logical_rect()) else { return };
    let event = match input {
        BackendInput::Keyboard { event } => InputEvent::Key {
            code: event.key_code().raw().saturating_sub(8),
            pressed: event.state() == KeyState::Pressed,
        },
        BackendInput::PointerMotionAbsolute { event } => {
            let pos = event.position_transformed((out.width, out.height).into());
            InputEvent::PointerMotion { x: pos.x + out.x as f64, y: pos.y + out.y as f64 }
        }
        BackendInput::PointerButton { event } => {
            InputEvent::PointerButton { button: event.button_code(), pressed: event.state() == ButtonState::Pressed }
        }
        BackendInput::PointerAxis { event } => {
            let v120 = |axis| {
                event.amount_v120(axis).unwrap_or_else(|| event.amount(axis).unwrap_or(0.0) * 120.0 / 15.0) as i32
            };
            if event.source() != AxisSource::Wheel && event.source() != AxisSource::Finger {
                return;
            }
            InputEvent::PointerAxis { vertical_v120: v120(Axis::Vertical), horizontal_v120: v120(Axis::Horizontal) }
        }
        _ => return,
    };
    state.handle_input(event);
}

impl Nested {
    pub fn render(&mut self, state: &Core) {
        let Some(output) = state.output_by_name(&self.output_name).map(|o| o.output.clone()) else { return };
        let age = self.backend.buffer_age().unwrap_or(0);
        let damage = {
            let (renderer, mut fb) = match self.backend.bind() {
                Ok(b) => b,
                Err(err) => {
                    tracing::warn!("nested: bind failed: {err}");
                    return;
                }
            };
            match smithay::desktop::space::render_output::<_, WaylandSurfaceRenderElement<GlesRenderer>, _, _>(
                &output,
                renderer,
                &mut fb,
                1.0,
                age,
                [&state.space],
                &[],
                &mut self.tracker,
                [0.1, 0.1, 0.12, 1.0],
            ) {
                Ok(result) => result.damage.cloned(),
                Err(err) => {
                    tracing::warn!("nested: render failed: {err:?}");
                    return;
                }
            }
        };
        if let Some(damage) = damage {
            if let Err(err) = self.backend.submit(Some(&damage)) {
                tracing::warn!("nested: submit failed: {err}");
            }
        }
        self.backend.window().request_redraw();
    }
}
