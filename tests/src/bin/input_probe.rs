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

use anyhow::Context;
use wayrail_testclient::parse::parse_size;
use wayrail_testclient::wayland_client::protocol::{wl_pointer, wl_seat};
use wayrail_testclient::wayland_client::{Proxy, QueueHandle, WEnum};
use wayrail_testclient::{delegate_client, Base, Client, EventLog};

/// The default fill colour, ARGB: a pure, opaque orange-red that no background uses.
const COLOR: u32 = 0xffe0_4010;

struct Probe {
    base: Base,
    log: EventLog,
    /// Where the pointer is on the surface.
    position: (f64, f64),
}

impl Client for Probe {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }

    fn seat_event(&mut self, seat: &wl_seat::WlSeat, event: &wl_seat::Event, qh: &QueueHandle<Self>) {
        if let wl_seat::Event::Capabilities { capabilities: WEnum::Value(caps) } = event {
            let has_pointer = caps.contains(wl_seat::Capability::Pointer);
            if has_pointer && self.base.pointer.is_none() {
                self.base.pointer = Some(seat.get_pointer(qh, ()));
                self.log.record(&format!("seat {}", seat.version()));
            } else if !has_pointer {
                if let Some(pointer) = self.base.pointer.take() {
                    pointer.release();
                }
            }
        }
    }

    fn pointer_event(&mut self, event: &wl_pointer::Event) {
        use wl_pointer::Event;
        let line = match *event {
            Event::Enter { surface_x, surface_y, .. } => {
                self.position = (surface_x, surface_y);
                format!("enter {} {}", surface_x.round(), surface_y.round())
            }
            Event::Leave { .. } => "leave".into(),
            Event::Motion { surface_x, surface_y, .. } => {
                self.position = (surface_x, surface_y);
                format!("motion {} {}", surface_x.round(), surface_y.round())
            }
            Event::Button { button, state: button_state, .. } => {
                let what = match button_state {
                    WEnum::Value(wl_pointer::ButtonState::Pressed) => "pressed".to_string(),
                    WEnum::Value(wl_pointer::ButtonState::Released) => "released".to_string(),
                    other => format!("{other:?}"),
                };
                let (x, y) = self.position;
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
        self.log.record(&line);
    }
}

delegate_client!(Probe);

fn axis_name(axis: WEnum<wl_pointer::Axis>) -> String {
    match axis {
        WEnum::Value(wl_pointer::Axis::VerticalScroll) => "vertical".into(),
        WEnum::Value(wl_pointer::Axis::HorizontalScroll) => "horizontal".into(),
        other => format!("{other:?}"),
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: wr-input-probe FILE [WIDTHxHEIGHT [RRGGBB]]")?;
    let (width, height) = args.next().map_or(Ok((400, 300)), |s| parse_size(&s))?;
    let color = match args.next() {
        Some(hex) => 0xff00_0000 | u32::from_str_radix(&hex, 16).context("colour is RRGGBB")? & 0x00ff_ffff,
        None => COLOR,
    };
    let log = EventLog::append(&path)?;

    let mut probe = Probe { base: Base::default(), log, position: (0.0, 0.0) };
    let (_conn, mut queue) = wayrail_testclient::connect(&mut probe)?;
    let qh = queue.handle();
    probe.base.globals.seat.as_ref().filter(|s| s.version() >= 8).context("wl_seat version 8 or later")?;

    // The buffer: one solid colour, kept for the window's life.
    let buffer = probe.base.create_buffer(&qh, width, height, color)?;
    let window = probe.base.create_titled_toplevel(&qh, "input-probe", "org.wayrail.e2e.input-probe")?;
    while !probe.base.is_configured(window.shell) {
        queue.blocking_dispatch(&mut probe).context("waiting for the first configure")?;
    }
    let surface = &window.surface;
    surface.attach(Some(&buffer.wl_buffer), 0, 0);
    surface.damage_buffer(0, 0, width, height);
    surface.commit();
    while !probe.base.close_requested() {
        queue.blocking_dispatch(&mut probe).context("dispatching")?;
    }
    Ok(())
}
