//! `wr-bad-client MODE`: breaks the Wayland protocol on purpose and reports what the compositor
//! did about it.
//!
//! Modes:
//! - `shm-out-of-bounds`: a wl_shm buffer larger than its 4 KiB pool;
//! - `double-toplevel`: two xdg_toplevel roles for one xdg_surface.
//!
//! Prints `protocol error: INTERFACE CODE MESSAGE` and exits 0 when the compositor answered
//! with a protocol error; exits 2 when it did not (the compositor accepted the request), 1 on
//! any other failure.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use anyhow::{bail, Context};
use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{wl_buffer, wl_compositor, wl_registry, wl_shm, wl_shm_pool, wl_surface};
use wayland_client::{Connection, Dispatch, DispatchError, QueueHandle};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

struct Bad;

macro_rules! ignore_events {
    ($($iface:ty),*) => {$(
        impl Dispatch<$iface, ()> for Bad {
            fn event(_: &mut Self, _: &$iface, _: <$iface as wayland_client::Proxy>::Event, _: &(), _: &Connection, _: &QueueHandle<Self>) {}
        }
    )*};
}

ignore_events!(
    wl_compositor::WlCompositor,
    wl_surface::WlSurface,
    wl_shm::WlShm,
    wl_shm_pool::WlShmPool,
    wl_buffer::WlBuffer,
    xdg_surface::XdgSurface,
    xdg_toplevel::XdgToplevel
);

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for Bad {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for Bad {
    fn event(
        _: &mut Self,
        wm_base: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

fn main() {
    match run() {
        Ok(()) => {
            println!("no protocol error");
            std::process::exit(2);
        }
        Err(err) => {
            if let Some(DispatchError::Backend(wayland_client::backend::WaylandError::Protocol(e))) =
                err.downcast_ref::<DispatchError>()
            {
                println!("protocol error: {} {} {}", e.object_interface, e.code, e.message);
                std::process::exit(0);
            }
            eprintln!("wr-bad-client: {err:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mode = std::env::args().nth(1).context("usage: wr-bad-client shm-out-of-bounds|double-toplevel")?;
    let conn = Connection::connect_to_env().context("connecting to WAYLAND_DISPLAY")?;
    let (globals, mut queue) = registry_queue_init::<Bad>(&conn).context("registry")?;
    let qh = queue.handle();
    let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 1..=6, ())?;
    let surface = compositor.create_surface(&qh, ());
    match mode.as_str() {
        "shm-out-of-bounds" => {
            let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ())?;
            let fd = memfd(4096)?;
            let pool = shm.create_pool(fd.as_fd(), 4096, &qh, ());
            // 64x64 ARGB needs 16 KiB: the pool has 4.
            let buffer = pool.create_buffer(0, 64, 64, 256, wl_shm::Format::Argb8888, &qh, ());
            surface.attach(Some(&buffer), 0, 0);
            surface.commit();
        }
        "double-toplevel" => {
            let wm_base: xdg_wm_base::XdgWmBase = globals.bind(&qh, 1..=5, ())?;
            let xdg = wm_base.get_xdg_surface(&surface, &qh, ());
            let _first = xdg.get_toplevel(&qh, ());
            let _second = xdg.get_toplevel(&qh, ());
            surface.commit();
        }
        other => bail!("unknown mode {other:?}"),
    }
    // The error (if any) comes back before the answer to this round trip.
    queue.roundtrip(&mut Bad)?;
    queue.roundtrip(&mut Bad)?;
    Ok(())
}

fn memfd(size: i64) -> anyhow::Result<OwnedFd> {
    // SAFETY: memfd_create with a valid C string; the descriptor is ours.
    let fd = unsafe { libc::memfd_create(c"wr-bad-client".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        bail!("memfd_create: {}", std::io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate on our own descriptor.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
        bail!("ftruncate: {}", std::io::Error::last_os_error());
    }
    Ok(fd)
}
