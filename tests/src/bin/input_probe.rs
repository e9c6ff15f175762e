//! `wr-input-probe FILE [WIDTHxHEIGHT [RRGGBB]]`: maps one toplevel (title `input-probe`) filled
//! with a solid colour (default e04010) and appends every pointer event it gets to FILE, one
//! line each, written at once:
//!
//! - `seat VERSION` once the seat is bound (version 8 or later, so wheel steps come as
//!   `axis_value120`);
//! - `enter X Y`, `leave`, `motion X Y` (surface-local, rounded to whole pixels);
//! - `button CODE pressed|released X Y` (evdev code, where the pointer was);
//! - `axis vertical|horizontal VALUE` (continuous scroll distance);
//! - `value120 vertical|horizontal VALUE` (wheel steps: 120 a notch, positive down / right);
//! - `source wheel|finger|continuous|wheel_tilt`, `stop vertical|horizontal`, `frame`.
//!
//! Exits when the compositor closes the window or the connection.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;

use anyhow::{bail, Context};
use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{
    wl_buffer, wl_compositor, wl_pointer, wl_registry, wl_seat, wl_shm, wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, WEnum};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

/// The default fill colour, ARGB: a pure, opaque orange-red that no background uses.
const COLOR: u32 = 0xffe0_4010;

struct Probe {
    log: File,
    seat_version: u32,
    pointer: Option<wl_pointer::WlPointer>,
    /// Where the pointer is on the surface.
    position: (f64, f64),
    configured: bool,
    closed: bool,
}

impl Probe {
    fn record(&mut self, line: String) {
        // One write a line, so a reader never sees half of one.
        let _ = self.log.write_all(format!("{line}\n").as_bytes());
        let _ = self.log.flush();
    }
}

macro_rules! ignore_events {
    ($($iface:ty),*) => {$(
        impl Dispatch<$iface, ()> for Probe {
            fn event(_: &mut Self, _: &$iface, _: <$iface as wayland_client::Proxy>::Event, _: &(), _: &Connection, _: &QueueHandle<Self>) {}
        }
    )*};
}

ignore_events!(
    wl_compositor::WlCompositor,
    wl_surface::WlSurface,
    wl_shm::WlShm,
    wl_shm_pool::WlShmPool,
    wl_buffer::WlBuffer
);

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for Probe {
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

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for Probe {
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

impl Dispatch<xdg_surface::XdgSurface, ()> for Probe {
    fn event(
        state: &mut Self,
        surface: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            surface.ack_configure(serial);
            state.configured = true;
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for Probe {
    fn event(
        state: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_toplevel::Event::Close = event {
            state.closed = true;
        }
    }
}

impl Dispatch<wl_seat::WlSeat, ()> for Probe {
    fn event(
        state: &mut Self,
        seat: &wl_seat::WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_seat::Event::Capabilities { capabilities: WEnum::Value(caps) } = event {
            let has_pointer = caps.contains(wl_seat::Capability::Pointer);
            if has_pointer && state.pointer.is_none() {
                state.pointer = Some(seat.get_pointer(qh, ()));
                let version = state.seat_version;
                state.record(format!("seat {version}"));
            } else if !has_pointer {
                if let Some(pointer) = state.pointer.take() {
                    pointer.release();
                }
            }
        }
    }
}

fn axis_name(axis: WEnum<wl_pointer::Axis>) -> String {
    match axis {
        WEnum::Value(wl_pointer::Axis::VerticalScroll) => "vertical".into(),
        WEnum::Value(wl_pointer::Axis::HorizontalScroll) => "horizontal".into(),
        other => format!("{other:?}"),
    }
}

impl Dispatch<wl_pointer::WlPointer, ()> for Probe {
    fn event(
        state: &mut Self,
        _: &wl_pointer::WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use wl_pointer::Event;
        let line = match event {
            Event::Enter { surface_x, surface_y, .. } => {
                state.position = (surface_x, surface_y);
                format!("enter {} {}", surface_x.round(), surface_y.round())
            }
            Event::Leave { .. } => "leave".into(),
            Event::Motion { surface_x, surface_y, .. } => {
                state.position = (surface_x, surface_y);
                format!("motion {} {}", surface_x.round(), surface_y.round())
            }
            Event::Button { button, state: button_state, .. } => {
                let what = match button_state {
                    WEnum::Value(wl_pointer::ButtonState::Pressed) => "pressed".to_string(),
                    WEnum::Value(wl_pointer::ButtonState::Released) => "released".to_string(),
                    other => format!("{other:?}"),
                };
                let (x, y) = state.position;
                format!("button {button} {what} {} {}", x.round(), y.round())
            }
            Event::Axis { axis, value, .. } => format!("axis {} {value}", axis_name(axis)),
            Event::AxisValue120 { axis, value120 } => format!("value120 {} {value120}", axis_name(axis)),
            Event::AxisDiscrete { axis, discrete } => format!("discrete {} {discrete}", axis_name(axis)),
            Event::AxisSource { axis_source } => match axis_source {
                WEnum::Value(wl_pointer::AxisSource::Wheel) => "source wheel".into(),
                WEnum::Value(wl_pointer::AxisSource::Finger) => "source finger".into(),
                WEnum::Value(wl_pointer::AxisSource::Continuous) => "source continuous".into(),
                WEnum::Value(wl_pointer::AxisSource::WheelTilt) => "source wheel_tilt".into(),
                other => format!("source {other:?}"),
            },
            Event::AxisStop { axis, .. } => format!("stop {}", axis_name(axis)),
            Event::Frame => "frame".into(),
            _ => return,
        };
        state.record(line);
    }
}

fn parse_size(arg: Option<&str>) -> anyhow::Result<(i32, i32)> {
    let Some(arg) = arg else { return Ok((400, 300)) };
    let (w, h) = arg.split_once('x').context("size is WIDTHxHEIGHT")?;
    let (w, h): (i32, i32) = (w.parse()?, h.parse()?);
    if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
        bail!("size {w}x{h} out of range");
    }
    Ok((w, h))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: wr-input-probe FILE [WIDTHxHEIGHT [RRGGBB]]")?;
    let (width, height) = parse_size(args.next().as_deref())?;
    let color = match args.next() {
        Some(hex) => 0xff00_0000 | u32::from_str_radix(&hex, 16).context("colour is RRGGBB")? & 0x00ff_ffff,
        None => COLOR,
    };
    let log = OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {path}"))?;

    let conn = Connection::connect_to_env().context("connecting to WAYLAND_DISPLAY")?;
    let (globals, mut queue) = registry_queue_init::<Probe>(&conn).context("registry")?;
    let qh = queue.handle();
    let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 1..=6, ()).context("wl_compositor")?;
    let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ()).context("wl_shm")?;
    let wm_base: xdg_wm_base::XdgWmBase = globals.bind(&qh, 1..=6, ()).context("xdg_wm_base")?;
    let seat: wl_seat::WlSeat = globals.bind(&qh, 8..=9, ()).context("wl_seat version 8 or later")?;
    let mut probe = Probe {
        log,
        seat_version: seat.version(),
        pointer: None,
        position: (0.0, 0.0),
        configured: false,
        closed: false,
    };

    // The buffer: one solid colour, in a memfd.
    let stride = width * 4;
    let size = (stride * height) as usize;
    // SAFETY: memfd_create with a static NUL-terminated name; we own the new descriptor.
    let fd = unsafe { libc::memfd_create(c"wr-input-probe".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        bail!("memfd_create: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let mut file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let pixels: Vec<u8> = color.to_le_bytes().iter().copied().cycle().take(size).collect();
    file.write_all(&pixels).context("filling the buffer")?;
    let pool = shm.create_pool(file.as_fd(), size as i32, &qh, ());
    let buffer = pool.create_buffer(0, width, height, stride, wl_shm::Format::Argb8888, &qh, ());

    let surface = compositor.create_surface(&qh, ());
    let xdg_surface = wm_base.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg_surface.get_toplevel(&qh, ());
    toplevel.set_title("input-probe".into());
    toplevel.set_app_id("org.wayrail.e2e.input-probe".into());
    surface.commit();
    while !probe.configured {
        queue.blocking_dispatch(&mut probe).context("waiting for the first configure")?;
    }
    surface.attach(Some(&buffer), 0, 0);
    surface.damage_buffer(0, 0, width, height);
    surface.commit();
    while !probe.closed {
        queue.blocking_dispatch(&mut probe).context("dispatching")?;
    }
    Ok(())
}
