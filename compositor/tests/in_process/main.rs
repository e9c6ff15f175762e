//! In-process compositor tests: the real compositor state with real wayland-client clients
//! over socket pairs, both sides dispatched by hand in the test's thread (niri's `Fixture`
//! model). Each module pins one area of protocol behaviour.

mod fixture;

mod configure;
mod damage;
mod decorations;
mod host_layouts;
mod input;
mod layout_props;
mod limits;
mod misbehaving;
mod placement_props;
mod popups;
mod subsurfaces;
mod window_model;
