//! The shared parts of wayrail's Wayland test clients (the e2e probes, the in-process fixture's
//! client, the benchmark's clients): binding globals as they are announced, shm buffers in
//! memfds, xdg toplevels and popups with their configures recorded, fractional scale and
//! viewports, frame callbacks, outputs and their names, and dispatching with timeouts; and
//! ([`report`]) the header lines the benchmarks print.
//!
//! It is a library, not a framework. An app keeps its own state struct with a [`Base`] in it,
//! implements [`Client`] (where the `Base` is, plus the hooks it cares about) and calls
//! [`delegate_client!`] once; every event handler then records into the `Base` first and calls
//! the app's hook after. The app drives its own loop with the [`io`] helpers.
//!
//! ```
//! use wayrail_testclient::{Base, Client};
//!
//! struct Probe { base: Base, closed: bool }
//! impl Client for Probe {
//!     fn base(&mut self) -> &mut Base { &mut self.base }
//!     fn close_requested(&mut self, _shell: usize) { self.closed = true }
//! }
//! wayrail_testclient::delegate_client!(Probe);
//! ```

mod dispatch;
pub mod io;
pub mod parse;
pub mod report;
pub mod shm;
pub mod xdg;

use std::collections::{HashMap, HashSet};

pub use wayland_client;
pub use wayland_protocols;

use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_keyboard, wl_output, wl_pointer, wl_registry, wl_seat, wl_shm,
    wl_shm_pool, wl_subcompositor, wl_subsurface, wl_surface,
};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle};
use wayland_protocols::wp::fractional_scale::v1::client::{wp_fractional_scale_manager_v1, wp_fractional_scale_v1};
use wayland_protocols::wp::viewporter::client::{wp_viewport, wp_viewporter};
use wayland_protocols::xdg::decoration::zv1::client::{zxdg_decoration_manager_v1, zxdg_toplevel_decoration_v1};
use wayland_protocols::xdg::shell::client::{xdg_popup, xdg_positioner, xdg_surface, xdg_toplevel, xdg_wm_base};

pub use io::{connect, dispatch_timeout, read_and_dispatch, roundtrip, CommandFile, EventLog};
pub use shm::{OneShotBuffer, ShmBuffer};
pub use xdg::{Configure, Popup, PopupPlacement, ShellRecord, Toplevel};

/// The globals bound so far (each as it is announced, at the highest version this crate knows).
#[derive(Default)]
pub struct Globals {
    pub compositor: Option<wl_compositor::WlCompositor>,
    pub subcompositor: Option<wl_subcompositor::WlSubcompositor>,
    pub shm: Option<wl_shm::WlShm>,
    pub wm_base: Option<xdg_wm_base::XdgWmBase>,
    pub seat: Option<wl_seat::WlSeat>,
    pub fractional_scale: Option<wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1>,
    pub viewporter: Option<wp_viewporter::WpViewporter>,
    pub decoration_manager: Option<zxdg_decoration_manager_v1::ZxdgDecorationManagerV1>,
    pub outputs: Vec<Output>,
}

/// A bound wl_output and what it said about itself.
#[derive(Debug, Clone)]
pub struct Output {
    pub wl_output: wl_output::WlOutput,
    /// The registry name of its global.
    pub global: u32,
    /// wl_output.name (version 4).
    pub name: Option<String>,
    pub scale: i32,
    /// Its global went away (the object stays, so late events still find its name).
    pub removed: bool,
}

/// What the compositor told one wl_surface.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SurfaceRecord {
    pub preferred_buffer_scale: Option<i32>,
    /// wp_fractional_scale_v1.preferred_scale, in 120ths.
    pub fractional_scale: Option<u32>,
    pub outputs_entered: usize,
    /// Frame callbacks done so far.
    pub frames_done: u32,
}

/// The protocol id of a surface: the key of [`Base::surfaces`] and how logs name it (`@3`).
pub fn sid(surface: &wl_surface::WlSurface) -> u32 {
    surface.id().protocol_id()
}

/// The state every test client has; apps hold one and reach it through [`Client::base`].
pub struct Base {
    pub globals: Globals,
    /// Every global announced so far: (name, interface, version).
    pub advertised: Vec<(u32, String, u32)>,
    /// One record per xdg_surface made with [`Base::create_toplevel`] or [`Base::create_popup`].
    pub shells: Vec<ShellRecord>,
    pub surfaces: HashMap<u32, SurfaceRecord>,
    pub shm_formats: Vec<u32>,
    pub pointer: Option<wl_pointer::WlPointer>,
    pub keyboard: Option<wl_keyboard::WlKeyboard>,
    /// Get a wl_pointer / wl_keyboard as soon as the seat has one (default: no).
    pub want_pointer: bool,
    pub want_keyboard: bool,
    /// Put a wp_fractional_scale_v1 on every surface made here (default: no). The compositor
    /// treats a client that asks for one as drawing at fractional scales.
    pub want_fractional_scale: bool,
    /// Ack every xdg_surface.configure on arrival (default: yes; tests of acks turn it off).
    pub auto_ack: bool,
    /// Bind wl_output globals only from this version on (default 1).
    pub min_output_version: u32,
    /// The last zxdg_toplevel_decoration_v1.configure mode, by shell (see
    /// [`Base::create_decoration`]).
    pub decoration_modes: HashMap<usize, zxdg_toplevel_decoration_v1::Mode>,
    next_sync: u64,
    syncs_done: HashSet<u64>,
}

impl Default for Base {
    fn default() -> Self {
        Self {
            globals: Globals::default(),
            advertised: Vec::new(),
            shells: Vec::new(),
            surfaces: HashMap::new(),
            shm_formats: Vec::new(),
            pointer: None,
            keyboard: None,
            want_pointer: false,
            want_keyboard: false,
            want_fractional_scale: false,
            auto_ack: true,
            min_output_version: 1,
            decoration_modes: HashMap::new(),
            next_sync: 0,
            syncs_done: HashSet::new(),
        }
    }
}

/// An app's state: where its [`Base`] is, and hooks called after the `Base` recorded an event.
/// Every hook does nothing by default.
pub trait Client:
    Sized
    + 'static
    + Dispatch<wl_registry::WlRegistry, ()>
    + Dispatch<wl_callback::WlCallback, SyncToken>
    + Dispatch<wl_callback::WlCallback, FrameToken>
    + Dispatch<wl_compositor::WlCompositor, ()>
    + Dispatch<wl_subcompositor::WlSubcompositor, ()>
    + Dispatch<wl_subsurface::WlSubsurface, ()>
    + Dispatch<wl_surface::WlSurface, ()>
    + Dispatch<wl_shm::WlShm, ()>
    + Dispatch<wl_shm_pool::WlShmPool, ()>
    + Dispatch<wl_buffer::WlBuffer, ()>
    + Dispatch<wl_buffer::WlBuffer, OneShotBuffer>
    + Dispatch<wl_seat::WlSeat, ()>
    + Dispatch<wl_pointer::WlPointer, ()>
    + Dispatch<wl_keyboard::WlKeyboard, ()>
    + Dispatch<wl_output::WlOutput, ()>
    + Dispatch<xdg_wm_base::XdgWmBase, ()>
    + Dispatch<xdg_positioner::XdgPositioner, ()>
    + Dispatch<xdg_surface::XdgSurface, usize>
    + Dispatch<xdg_toplevel::XdgToplevel, usize>
    + Dispatch<xdg_popup::XdgPopup, usize>
    + Dispatch<wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1, ()>
    + Dispatch<wp_fractional_scale_v1::WpFractionalScaleV1, u32>
    + Dispatch<wp_viewporter::WpViewporter, ()>
    + Dispatch<wp_viewport::WpViewport, ()>
    + Dispatch<zxdg_decoration_manager_v1::ZxdgDecorationManagerV1, ()>
    + Dispatch<zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1, usize>
{
    fn base(&mut self) -> &mut Base;

    /// wl_surface events: enter, leave, preferred buffer scale.
    fn surface_event(&mut self, _surface: &wl_surface::WlSurface, _event: &wl_surface::Event) {}
    /// wp_fractional_scale_v1.preferred_scale (120ths) of the surface with this protocol id.
    fn fractional_scale(&mut self, _surface: u32, _scale: u32) {}
    /// xdg_toplevel.configure of a shell, as it arrives (before its xdg_surface.configure).
    fn toplevel_configure(&mut self, _shell: usize, _width: i32, _height: i32, _states: &[xdg_toplevel::State]) {}
    /// xdg_surface.configure of a shell, after it was recorded (and acked, with `auto_ack`).
    fn configured(&mut self, _shell: usize, _serial: u32) {}
    /// xdg_toplevel.close.
    fn close_requested(&mut self, _shell: usize) {}
    fn output_event(&mut self, _output: &wl_output::WlOutput, _event: &wl_output::Event) {}
    /// wl_seat events, after the `Base` took the pointer and keyboard it wants.
    fn seat_event(&mut self, _seat: &wl_seat::WlSeat, _event: &wl_seat::Event, _qh: &QueueHandle<Self>) {}
    fn pointer_event(&mut self, _event: &wl_pointer::Event) {}
    fn keyboard_event(&mut self, _event: &wl_keyboard::Event) {}
    /// A frame callback of the surface with this protocol id is done.
    fn frame_done(&mut self, _surface: u32, _time: u32) {}
}

/// The user data of a wl_display.sync callback.
pub struct SyncToken(pub u64);

/// The user data of a wl_surface.frame callback: the surface's protocol id.
pub struct FrameToken(pub u32);

impl Base {
    /// Asks the compositor for a sync; [`Base::sync_done`] tells when it answered.
    pub fn sync<C: Client>(&mut self, conn: &Connection, qh: &QueueHandle<C>) -> u64 {
        self.next_sync += 1;
        conn.display().sync(qh, SyncToken(self.next_sync));
        self.next_sync
    }

    pub fn sync_done(&self, token: u64) -> bool {
        self.syncs_done.contains(&token)
    }

    pub fn compositor(&self) -> anyhow::Result<&wl_compositor::WlCompositor> {
        bound(&self.globals.compositor, "wl_compositor (version 4 or later)")
    }

    pub fn shm(&self) -> anyhow::Result<&wl_shm::WlShm> {
        bound(&self.globals.shm, "wl_shm")
    }

    pub fn wm_base(&self) -> anyhow::Result<&xdg_wm_base::XdgWmBase> {
        bound(&self.globals.wm_base, "xdg_wm_base")
    }

    /// A wl_surface, with a wp_fractional_scale_v1 on it with `want_fractional_scale` (and a
    /// compositor that has the manager).
    pub fn create_surface<C: Client>(&mut self, qh: &QueueHandle<C>) -> anyhow::Result<wl_surface::WlSurface> {
        let surface = self.compositor()?.create_surface(qh, ());
        if let Some(manager) = self.globals.fractional_scale.as_ref().filter(|_| self.want_fractional_scale) {
            manager.get_fractional_scale(&surface, qh, sid(&surface));
        }
        self.surfaces.insert(sid(&surface), SurfaceRecord::default());
        Ok(surface)
    }

    /// Asks for a frame callback; [`SurfaceRecord::frames_done`] counts the answers.
    pub fn request_frame<C: Client>(&self, surface: &wl_surface::WlSurface, qh: &QueueHandle<C>) {
        surface.frame(qh, FrameToken(sid(surface)));
    }

    pub fn create_viewport<C: Client>(
        &self,
        surface: &wl_surface::WlSurface,
        qh: &QueueHandle<C>,
    ) -> anyhow::Result<wp_viewport::WpViewport> {
        Ok(bound(&self.globals.viewporter, "wp_viewporter")?.get_viewport(surface, qh, ()))
    }

    pub fn create_subsurface<C: Client>(
        &self,
        surface: &wl_surface::WlSurface,
        parent: &wl_surface::WlSurface,
        qh: &QueueHandle<C>,
    ) -> anyhow::Result<wl_subsurface::WlSubsurface> {
        Ok(bound(&self.globals.subcompositor, "wl_subcompositor")?.get_subsurface(surface, parent, qh, ()))
    }

    /// An xdg-decoration object for a toplevel; its configures land in
    /// [`Base::decoration_modes`] under the toplevel's shell index.
    pub fn create_decoration<C: Client>(
        &self,
        toplevel: &Toplevel,
        qh: &QueueHandle<C>,
    ) -> anyhow::Result<zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1> {
        let manager = bound(&self.globals.decoration_manager, "zxdg_decoration_manager_v1")?;
        Ok(manager.get_toplevel_decoration(&toplevel.xdg_toplevel, qh, toplevel.shell))
    }

    /// What the compositor told a surface so far.
    pub fn surface(&self, surface: &wl_surface::WlSurface) -> SurfaceRecord {
        self.surfaces.get(&sid(surface)).cloned().unwrap_or_default()
    }

    /// The output the compositor calls `name` (among those still there).
    pub fn output_named(&self, name: &str) -> Option<&Output> {
        self.globals.outputs.iter().find(|o| !o.removed && o.name.as_deref() == Some(name))
    }

    /// The name of a bound output, `unnamed@ID` before it said one.
    pub fn output_name(&self, output: &wl_output::WlOutput) -> String {
        match self.globals.outputs.iter().find(|o| &o.wl_output == output).and_then(|o| o.name.clone()) {
            Some(name) => name,
            None => format!("unnamed@{}", output.id().protocol_id()),
        }
    }

    /// Whether the compositor asked any toplevel to close.
    pub fn close_requested(&self) -> bool {
        self.shells.iter().any(|s| s.close_requests > 0)
    }
}

/// A global, or an error naming it when the compositor did not announce it.
fn bound<'a, T>(global: &'a Option<T>, name: &str) -> anyhow::Result<&'a T> {
    global.as_ref().ok_or_else(|| anyhow::anyhow!("no {name}"))
}

/// Implements every `Dispatch` a [`Client`] needs by handing the events to [`Base`].
#[macro_export]
macro_rules! delegate_client {
    ($app:ty) => {
        $crate::delegate_client!(@each $app;
            [$crate::wayland_client::protocol::wl_registry::WlRegistry: ()],
            [$crate::wayland_client::protocol::wl_callback::WlCallback: $crate::SyncToken],
            [$crate::wayland_client::protocol::wl_callback::WlCallback: $crate::FrameToken],
            [$crate::wayland_client::protocol::wl_compositor::WlCompositor: ()],
            [$crate::wayland_client::protocol::wl_subcompositor::WlSubcompositor: ()],
            [$crate::wayland_client::protocol::wl_subsurface::WlSubsurface: ()],
            [$crate::wayland_client::protocol::wl_surface::WlSurface: ()],
            [$crate::wayland_client::protocol::wl_shm::WlShm: ()],
            [$crate::wayland_client::protocol::wl_shm_pool::WlShmPool: ()],
            [$crate::wayland_client::protocol::wl_buffer::WlBuffer: ()],
            [$crate::wayland_client::protocol::wl_buffer::WlBuffer: $crate::OneShotBuffer],
            [$crate::wayland_client::protocol::wl_seat::WlSeat: ()],
            [$crate::wayland_client::protocol::wl_pointer::WlPointer: ()],
            [$crate::wayland_client::protocol::wl_keyboard::WlKeyboard: ()],
            [$crate::wayland_client::protocol::wl_output::WlOutput: ()],
            [$crate::wayland_protocols::xdg::shell::client::xdg_wm_base::XdgWmBase: ()],
            [$crate::wayland_protocols::xdg::shell::client::xdg_positioner::XdgPositioner: ()],
            [$crate::wayland_protocols::xdg::shell::client::xdg_surface::XdgSurface: usize],
            [$crate::wayland_protocols::xdg::shell::client::xdg_toplevel::XdgToplevel: usize],
            [$crate::wayland_protocols::xdg::shell::client::xdg_popup::XdgPopup: usize],
            [$crate::wayland_protocols::wp::fractional_scale::v1::client::wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1: ()],
            [$crate::wayland_protocols::wp::fractional_scale::v1::client::wp_fractional_scale_v1::WpFractionalScaleV1: u32],
            [$crate::wayland_protocols::wp::viewporter::client::wp_viewporter::WpViewporter: ()],
            [$crate::wayland_protocols::wp::viewporter::client::wp_viewport::WpViewport: ()],
            [$crate::wayland_protocols::xdg::decoration::zv1::client::zxdg_decoration_manager_v1::ZxdgDecorationManagerV1: ()],
            [$crate::wayland_protocols::xdg::decoration::zv1::client::zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1: usize]
        );
    };
    (@each $app:ty; $([$iface:ty: $udata:ty]),*) => {
        $($crate::wayland_client::delegate_dispatch!($app: [$iface: $udata] => $crate::Base);)*
    };
}
