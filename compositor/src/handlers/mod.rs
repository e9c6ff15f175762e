//! Thin protocol handlers, one file per protocol family; the logic they share is in `state.rs`.

mod compositor;
pub use compositor::is_fractional_aware;
mod seat;
mod selection;
mod xdg_shell;
mod xwayland;
