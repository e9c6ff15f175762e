//! Backends of the compositor core. `headless` has no display at all: virtual outputs and a
//! frame clock (see `frame_clock::FrameClock`). `nested` shows the desktop in a window of an
//! existing Wayland/X11 session, for developers. `remote` serves it to
//! hosts through a remoting server (RDP).
//!
//! The backend is a sibling of the core in [`State`]: backend code borrows both at once.

#[cfg(feature = "nested")]
pub mod nested;
pub mod remote;

use crate::state::State;

pub enum Backend {
    Headless,
    Remote(Box<remote::Remote>),
    #[cfg(feature = "nested")]
    Nested(Box<nested::Nested>),
}

impl Backend {
    pub fn remote_mut(&mut self) -> Option<&mut remote::Remote> {
        match self {
            Backend::Remote(remote) => Some(remote),
            _ => None,
        }
    }

    /// How window pixels reach the connected host (see `Remote::transport`).
    pub fn transport(&self) -> Option<&'static str> {
        match self {
            Backend::Remote(remote) => remote.transport(),
            _ => None,
        }
    }

    /// A remote backend's counters (None for the others).
    pub fn stats(&self) -> Option<wayrail_link::LinkStats> {
        match self {
            Backend::Remote(remote) => Some(remote.stats()),
            _ => None,
        }
    }

    /// The addresses a remote backend listens on (nothing for the others).
    pub fn listening(&self) -> &[String] {
        match self {
            Backend::Remote(remote) => remote.listening(),
            _ => &[],
        }
    }
}

/// Called after every round of client requests.
pub fn after_dispatch(state: &mut State) {
    let State { core, backend, composer } = state;
    if let Backend::Remote(remote) = backend {
        remote::after_dispatch(remote, core, composer);
    }
}

/// Called by the frame clock; returns whether frame callbacks go out now.
pub fn on_frame(state: &mut State) -> bool {
    let State { core, backend, composer } = state;
    let callbacks = match backend {
        Backend::Headless => true,
        Backend::Remote(remote) => remote::on_frame(remote, core, composer),
        #[cfg(feature = "nested")]
        Backend::Nested(nested) => {
            nested.render(core);
            true
        }
    };
    if !callbacks {
        core.frame_blocked = true;
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
