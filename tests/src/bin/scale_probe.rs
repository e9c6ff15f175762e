//! `wr-scale-probe LOG [--aware] [--size WxH] [--color RRGGBB] [--checker] [--title T]
//! [--commands FILE] [--hold]`: one toplevel that follows the compositor's scale hints the way a real
//! app does, and appends what it was told and what it did to LOG, one line each, written at once.
//!
//! With `--aware` it is fractional-scale aware: it binds wp_fractional_scale_manager_v1 and
//! wp_viewporter, draws its buffer at round(logical × preferred / 120) and sets the viewport's
//! destination to the logical size (buffer scale 1). Without, it follows
//! wl_surface.preferred_buffer_scale: buffer = logical × scale, set_buffer_scale(scale).
//! `--checker` draws a one-pixel checkerboard of the colour and black (tells an unscaled mapping
//! from a scaled one); otherwise the window is one colour (default 2060c0).
//!
//! Lines:
//! - `output NAME` when a wl_output (version 4) names itself;
//! - `surface enter NAME`, `surface leave NAME` (wl_surface.enter / leave);
//! - `fractional_scale N` (wp_fractional_scale_v1.preferred_scale, 120ths);
//! - `buffer_scale N` (wl_surface.preferred_buffer_scale);
//! - `configure W H STATES` (xdg_toplevel.configure: logical size, states comma-separated);
//! - `draw BW BH scale S viewport VW VH` after each commit of a new buffer (viewport `- -`
//!   when there is none);
//! - `pointer enter X Y`, `pointer motion X Y`, `pointer button CODE pressed|released X Y`,
//!   `pointer leave`: surface-local coordinates with three decimals.
//!
//! Commands, one a line appended to FILE: `fullscreen NAME` (on that output), `unfullscreen`,
//! `maximize`, `unmaximize`, `map` (draws the first buffer of a `--hold` probe, which until then
//! has a toplevel that is configured but not mapped), `quit`. Exits when the compositor closes the window or the
//! connection.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd};

use anyhow::{bail, Context};
use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{
    wl_buffer, wl_compositor, wl_output, wl_pointer, wl_registry, wl_seat, wl_shm, wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, WEnum};
use wayland_protocols::wp::fractional_scale::v1::client::{wp_fractional_scale_manager_v1, wp_fractional_scale_v1};
use wayland_protocols::wp::viewporter::client::{wp_viewport, wp_viewporter};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

struct Probe {
    log: File,
    /// Output names by wl_output object id.
    outputs: HashMap<u32, (wl_output::WlOutput, Option<String>)>,
    /// The registry names of the wl_output globals bound.
    bound: std::collections::HashSet<u32>,
    pointer: Option<wl_pointer::WlPointer>,
    position: (f64, f64),
    /// The logical size asked for by the last configure (0 = ours).
    pending_size: (i32, i32),
    /// 120ths, from wp_fractional_scale_v1 (aware mode).
    fractional_scale: u32,
    /// From wl_surface.preferred_buffer_scale.
    buffer_scale: i32,
    needs_draw: bool,
    configured: bool,
    closed: bool,
}

impl Probe {
    fn record(&mut self, line: String) {
        // One write a line, so a reader never sees half of one.
        let _ = self.log.write_all(format!("{line}\n").as_bytes());
        let _ = self.log.flush();
    }

    fn output_name(&self, output: &wl_output::WlOutput) -> String {
        match self.outputs.get(&output.id().protocol_id()) {
            Some((_, Some(name))) => name.clone(),
            _ => format!("unnamed@{}", output.id().protocol_id()),
        }
    }

    fn output_named(&self, name: &str) -> Option<wl_output::WlOutput> {
        self.outputs.values().find(|(_, n)| n.as_deref() == Some(name)).map(|(o, _)| o.clone())
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
    wl_shm::WlShm,
    wl_shm_pool::WlShmPool,
    wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1,
    wp_viewporter::WpViewporter,
    wp_viewport::WpViewport
);

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for Probe {
    fn event(
        state: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        // Outputs come and go with the host's monitors.
        if let wl_registry::Event::Global { name, interface, version } = event {
            if interface == "wl_output" && version >= 4 && state.bound.insert(name) {
                let output: wl_output::WlOutput = registry.bind(name, 4, qh, ());
                state.outputs.insert(output.id().protocol_id(), (output, None));
            }
        }
    }
}

impl Dispatch<wl_output::WlOutput, ()> for Probe {
    fn event(
        state: &mut Self,
        output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_output::Event::Name { name } = event {
            state.record(format!("output {name}"));
            if let Some(entry) = state.outputs.get_mut(&output.id().protocol_id()) {
                entry.1 = Some(name);
            }
        }
    }
}

impl Dispatch<wl_buffer::WlBuffer, ()> for Probe {
    fn event(
        _: &mut Self,
        buffer: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            buffer.destroy();
        }
    }
}

impl Dispatch<wl_surface::WlSurface, ()> for Probe {
    fn event(
        state: &mut Self,
        _: &wl_surface::WlSurface,
        event: wl_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_surface::Event::Enter { output } => {
                let name = state.output_name(&output);
                state.record(format!("surface enter {name}"));
            }
            wl_surface::Event::Leave { output } => {
                let name = state.output_name(&output);
                state.record(format!("surface leave {name}"));
            }
            wl_surface::Event::PreferredBufferScale { factor } => {
                state.record(format!("buffer_scale {factor}"));
                if factor != state.buffer_scale && factor > 0 {
                    state.buffer_scale = factor;
                    state.needs_draw = true;
                }
            }
            _ => {}
        }
    }
}

impl Dispatch<wp_fractional_scale_v1::WpFractionalScaleV1, ()> for Probe {
    fn event(
        state: &mut Self,
        _: &wp_fractional_scale_v1::WpFractionalScaleV1,
        event: wp_fractional_scale_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wp_fractional_scale_v1::Event::PreferredScale { scale } = event {
            state.record(format!("fractional_scale {scale}"));
            if scale != state.fractional_scale && scale > 0 {
                state.fractional_scale = scale;
                state.needs_draw = true;
            }
        }
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
            state.needs_draw = true;
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
        match event {
            xdg_toplevel::Event::Configure { width, height, states } => {
                let names: Vec<String> = states
                    .chunks_exact(4)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .map(|s| match xdg_toplevel::State::try_from(s) {
                        Ok(xdg_toplevel::State::Maximized) => "maximized".to_string(),
                        Ok(xdg_toplevel::State::Fullscreen) => "fullscreen".to_string(),
                        Ok(xdg_toplevel::State::Activated) => "activated".to_string(),
                        Ok(xdg_toplevel::State::Resizing) => "resizing".to_string(),
                        _ => format!("state{s}"),
                    })
                    .collect();
                state.record(format!("configure {width} {height} {}", names.join(",")));
                state.pending_size = (width, height);
            }
            xdg_toplevel::Event::Close => state.closed = true,
            _ => {}
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
            if caps.contains(wl_seat::Capability::Pointer) && state.pointer.is_none() {
                state.pointer = Some(seat.get_pointer(qh, ()));
            }
        }
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
        let line = match event {
            wl_pointer::Event::Enter { surface_x, surface_y, .. } => {
                state.position = (surface_x, surface_y);
                format!("pointer enter {surface_x:.3} {surface_y:.3}")
            }
            wl_pointer::Event::Leave { .. } => "pointer leave".into(),
            wl_pointer::Event::Motion { surface_x, surface_y, .. } => {
                state.position = (surface_x, surface_y);
                format!("pointer motion {surface_x:.3} {surface_y:.3}")
            }
            wl_pointer::Event::Button { button, state: pressed, .. } => {
                let what = match pressed {
                    WEnum::Value(wl_pointer::ButtonState::Pressed) => "pressed",
                    _ => "released",
                };
                let (x, y) = state.position;
                format!("pointer button {button} {what} {x:.3} {y:.3}")
            }
            _ => return,
        };
        state.record(line);
    }
}

/// A buffer of `width`×`height` ARGB pixels in a memfd, filled by `pixel(x, y)`.
fn make_buffer(
    shm: &wl_shm::WlShm,
    qh: &QueueHandle<Probe>,
    (width, height): (i32, i32),
    pixel: impl Fn(i32, i32) -> u32,
) -> anyhow::Result<wl_buffer::WlBuffer> {
    let stride = width * 4;
    let size = (stride * height) as usize;
    // SAFETY: memfd_create with a static NUL-terminated name; we own the new descriptor.
    let fd = unsafe { libc::memfd_create(c"wr-scale-probe".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        bail!("memfd_create: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let mut file = unsafe { File::from_raw_fd(fd) };
    let mut bytes = Vec::with_capacity(size);
    for y in 0..height {
        for x in 0..width {
            bytes.extend_from_slice(&pixel(x, y).to_le_bytes());
        }
    }
    file.write_all(&bytes).context("filling the buffer")?;
    let pool = shm.create_pool(file.as_fd(), size as i32, qh, ());
    let buffer = pool.create_buffer(0, width, height, stride, wl_shm::Format::Argb8888, qh, ());
    pool.destroy();
    Ok(buffer)
}

fn parse_size(arg: &str) -> anyhow::Result<(i32, i32)> {
    let (w, h) = arg.split_once('x').context("size is WIDTHxHEIGHT")?;
    let (w, h): (i32, i32) = (w.parse()?, h.parse()?);
    if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
        bail!("size {w}x{h} out of range");
    }
    Ok((w, h))
}

fn parse_color(hex: &str) -> anyhow::Result<u32> {
    if hex.len() != 6 {
        bail!("colour is RRGGBB, got {hex:?}");
    }
    Ok(0xff00_0000 | u32::from_str_radix(hex, 16).context("colour is RRGGBB")?)
}

/// The buffer size for a logical size at a scale in 120ths: rounded to the nearest pixel,
/// halves up, as wp_fractional_scale_v1 asks.
fn scaled(logical: i32, scale120: u32) -> i32 {
    ((i64::from(logical) * i64::from(scale120) + 60) / 120) as i32
}

/// Lines appended to a file, read as they come (the file need not exist yet).
struct Commands {
    path: Option<String>,
    offset: u64,
    partial: String,
}

impl Commands {
    fn poll(&mut self) -> Vec<String> {
        let Some(path) = &self.path else { return Vec::new() };
        let Ok(mut file) = File::open(path) else { return Vec::new() };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut text = String::new();
        if file.read_to_string(&mut text).is_err() {
            return Vec::new();
        }
        self.offset += text.len() as u64;
        self.partial.push_str(&text);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            lines.push(line.trim().to_string());
        }
        lines
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: wr-scale-probe LOG [--aware] [--size WxH] ...")?;
    let mut aware = false;
    let mut checker = false;
    let mut own_size = (400, 300);
    let mut color = parse_color("2060c0")?;
    let mut title = "scale-probe".to_string();
    let mut commands = Commands { path: None, offset: 0, partial: String::new() };
    let mut hold = false;
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--aware" => aware = true,
            "--checker" => checker = true,
            "--size" => own_size = parse_size(&value()?)?,
            "--color" => color = parse_color(&value()?)?,
            "--title" => title = value()?,
            "--commands" => commands.path = Some(value()?),
            "--hold" => hold = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let log = OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {path}"))?;

    let conn = Connection::connect_to_env().context("connecting to WAYLAND_DISPLAY")?;
    let (globals, mut queue) = registry_queue_init::<Probe>(&conn).context("registry")?;
    let qh = queue.handle();
    // Version 6 for wl_surface.preferred_buffer_scale.
    let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 6..=6, ()).context("wl_compositor 6")?;
    let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ()).context("wl_shm")?;
    let wm_base: xdg_wm_base::XdgWmBase = globals.bind(&qh, 1..=6, ()).context("xdg_wm_base")?;
    let _seat: wl_seat::WlSeat = globals.bind(&qh, 5..=9, ()).context("wl_seat")?;
    let mut probe = Probe {
        log,
        outputs: HashMap::new(),
        bound: Default::default(),
        pointer: None,
        position: (0.0, 0.0),
        pending_size: (0, 0),
        fractional_scale: 120,
        buffer_scale: 1,
        needs_draw: false,
        configured: false,
        closed: false,
    };
    for global in globals.contents().clone_list() {
        if global.interface == "wl_output" && global.version >= 4 && probe.bound.insert(global.name) {
            let output: wl_output::WlOutput = globals.registry().bind(global.name, 4, &qh, ());
            probe.outputs.insert(output.id().protocol_id(), (output, None));
        }
    }

    let surface = compositor.create_surface(&qh, ());
    let viewport = if aware {
        let manager: wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1 =
            globals.bind(&qh, 1..=1, ()).context("wp_fractional_scale_manager_v1")?;
        let viewporter: wp_viewporter::WpViewporter = globals.bind(&qh, 1..=1, ()).context("wp_viewporter")?;
        manager.get_fractional_scale(&surface, &qh, ());
        Some(viewporter.get_viewport(&surface, &qh, ()))
    } else {
        None
    };
    let xdg_surface = wm_base.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg_surface.get_toplevel(&qh, ());
    toplevel.set_title(title);
    toplevel.set_app_id("org.wayrail.e2e.scale-probe".into());
    surface.commit();
    while !probe.configured {
        queue.blocking_dispatch(&mut probe).context("waiting for the first configure")?;
    }

    let dark = 0xff00_0000;
    loop {
        for line in commands.poll() {
            let mut words = line.split_whitespace();
            match (words.next().unwrap_or(""), words.next()) {
                ("fullscreen", Some(name)) => match probe.output_named(name) {
                    Some(output) => toplevel.set_fullscreen(Some(&output)),
                    None => probe.record(format!("error no output {name}")),
                },
                ("unfullscreen", _) => toplevel.unset_fullscreen(),
                ("maximize", _) => toplevel.set_maximized(),
                ("unmaximize", _) => toplevel.unset_maximized(),
                ("map", _) => {
                    hold = false;
                    probe.needs_draw = true;
                }
                ("quit", _) => return Ok(()),
                ("", _) => {}
                (other, _) => probe.record(format!("error unknown command {other}")),
            }
        }
        if probe.needs_draw && !hold {
            probe.needs_draw = false;
            let logical = match probe.pending_size {
                (w, h) if w > 0 && h > 0 => (w.min(4096), h.min(4096)),
                _ => own_size,
            };
            let (buffer_size, scale) = match &viewport {
                Some(_) => ((scaled(logical.0, probe.fractional_scale), scaled(logical.1, probe.fractional_scale)), 1),
                None => ((logical.0 * probe.buffer_scale, logical.1 * probe.buffer_scale), probe.buffer_scale),
            };
            let fill = |x: i32, y: i32| if checker && (x + y) % 2 == 1 { dark } else { color };
            let buffer = make_buffer(&shm, &qh, buffer_size, fill)?;
            surface.set_buffer_scale(scale);
            if let Some(viewport) = &viewport {
                viewport.set_destination(logical.0, logical.1);
            }
            surface.attach(Some(&buffer), 0, 0);
            surface.damage_buffer(0, 0, buffer_size.0, buffer_size.1);
            surface.commit();
            let shown = if viewport.is_some() { format!("{} {}", logical.0, logical.1) } else { "- -".into() };
            probe.record(format!("draw {} {} scale {scale} viewport {shown}", buffer_size.0, buffer_size.1));
        }
        if probe.closed {
            return Ok(());
        }

        // Wait for Wayland events or the next look at the command file.
        conn.flush().context("flushing")?;
        if let Some(guard) = queue.prepare_read() {
            let mut pfd = libc::pollfd { fd: guard.connection_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let timeout = if commands.path.is_some() { 40 } else { -1 };
            // SAFETY: one valid pollfd for the length given.
            let n = unsafe { libc::poll(&mut pfd, 1, timeout) };
            if n > 0 {
                if let Err(err) = guard.read() {
                    if !matches!(err, wayland_client::backend::WaylandError::Io(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
                    {
                        return Err(err).context("reading events");
                    }
                }
            } else {
                drop(guard);
            }
        }
        queue.dispatch_pending(&mut probe).context("dispatching")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_sizes_round_to_the_nearest_pixel() {
        assert_eq!(scaled(853, 180), 1280);
        assert_eq!(scaled(533, 180), 800);
        assert_eq!(scaled(101, 150), 126);
        assert_eq!(scaled(400, 120), 400);
        assert_eq!(scaled(3, 180), 5);
    }

    #[test]
    fn parses_arguments() {
        assert_eq!(parse_color("2060c0").unwrap(), 0xff20_60c0);
        assert!(parse_color("2060c").is_err());
        assert_eq!(parse_size("8x9").unwrap(), (8, 9));
        assert!(parse_size("0x9").is_err());
    }
}
