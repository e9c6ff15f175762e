//! wayrail's compositor: a Smithay compositor whose windows are remoted one by one.

pub mod backend;
pub mod clipboard;
pub mod config;
pub mod cursor;
pub mod decorations;
pub mod frame_clock;
pub mod gpu;
pub mod grabs;
pub mod handlers;
pub mod icons;
pub mod input;
pub mod invariants;
pub mod ipc;
pub mod keymap;
pub mod layout;
pub mod login;
pub mod notify;
pub mod remote;
pub mod render;
pub mod server;
pub mod state;
pub mod window;
pub mod window_image;
pub mod xwayland;

pub use server::{Server, ServerOptions};
