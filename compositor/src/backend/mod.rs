//! Backends of the compositor core. `headless` has no display at all: virtual outputs and a
//! frame clock (see `server::FrameClock`). `nested` shows the desktop in a window of an
//! existing Wayland/X11 session, for developers.

#[cfg(feature = "nested")]
pub mod nested;
pub mod rdp;

pub enum Backend {
    Headless,
    Rdp(Box<rdp::Rdp>),
    #[cfg(feature = "nested")]
    Nested(Box<nested::Nested>),
}

/// Called after every round of client requests.
pub fn after_dispatch(state: &mut crate::state::State) {
    if let Some(Backend::Rdp(mut r)) = state.backend.take() {
        rdp::after_dispatch(&mut r, state);
        state.backend = Some(Backend::Rdp(r));
    }
}

/// Called by the frame clock; returns whether frame callbacks go out now.
pub fn on_frame(state: &mut crate::state::State) -> bool {
    let mut callbacks = true;
    match state.backend.take() {
        Some(Backend::Rdp(mut r)) => {
            callbacks = rdp::on_frame(&mut r, state);
            state.backend = Some(Backend::Rdp(r));
        }
        #[cfg(feature = "nested")]
        Some(Backend::Nested(mut nested)) => {
            nested.render(state);
            state.backend = Some(Backend::Nested(nested));
        }
        other => state.backend = other,
    }
    if !callbacks {
        state.frame_blocked = true;
    }
    callbacks
}

#[cfg(not(feature = "nested"))]
pub mod nested {
    pub fn init(
        _: &smithay::reexports::calloop::LoopHandle<'static, crate::state::State>,
        _: &mut crate::state::State,
    ) -> anyhow::Result<super::Backend> {
        anyhow::bail!("this wayrail was built without the nested backend (cargo feature \"nested\")")
    }
}
