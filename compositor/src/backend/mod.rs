//! Backends of the compositor core. `headless` has no display at all: virtual outputs and a
//! frame clock (see `server::FrameClock`). `nested` shows the desktop in a window of an
//! existing Wayland/X11 session, for developers.

#[cfg(feature = "nested")]
pub mod nested;

pub enum Backend {
    Headless,
    #[cfg(feature = "nested")]
    Nested(Box<nested::Nested>),
}

/// Called by the frame clock before frame callbacks go out.
pub fn on_frame(state: &mut crate::state::State) {
    match state.backend.take() {
        #[cfg(feature = "nested")]
        Some(Backend::Nested(mut nested)) => {
            nested.render(state);
            state.backend = Some(Backend::Nested(nested));
        }
        other => state.backend = other,
    }
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
