//! `wr-rail-probe [--title T] [--app-id ID] [--color RRGGBB] [--size WxH] [--commands FILE]`:
//! one toplevel filled with one opaque colour (default 30a050, 320x240), for RemoteApp tests
//! that need exact pixels and a window they can script.
//!
//! It follows configures: a maximized or fullscreen configure with a size makes it draw at that
//! size, an empty one brings back its own size. With `--commands FILE` it reads commands, one a
//! line, from FILE as lines are appended (the file need not exist yet):
//!
//! - `title TEXT`: sets the title;
//! - `color RRGGBB`: repaints with another colour (all of the window is damaged);
//! - `dot X Y RRGGBB`: paints one pixel (only it is damaged);
//! - `maximize`, `unmaximize`, `minimize`: asks the compositor (xdg_toplevel requests);
//! - `quit`: exits.
//!
//! Prints `configure WIDTHxHEIGHT` on stdout for each toplevel configure (the size asked for) and
//! `configured WIDTHxHEIGHT STATES` after each one it drew for (at most 4096x4096), and exits
//! when the compositor closes the window or the connection.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd};

use anyhow::{bail, Context};
use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{wl_buffer, wl_compositor, wl_registry, wl_shm, wl_shm_pool, wl_surface};
use wayland_client::{Connection, Dispatch, QueueHandle};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

struct Probe {
    /// The size asked for by the last configure (0 = ours).
    pending_size: (i32, i32),
    pending_states: Vec<String>,
    /// A configure came that was not drawn for yet.
    needs_draw: bool,
    configured: bool,
    closed: bool,
}

macro_rules! ignore_events {
    ($($iface:ty),*) => {$(
        impl Dispatch<$iface, ()> for Probe {
            fn event(_: &mut Self, _: &$iface, _: <$iface as wayland_client::Proxy>::Event, _: &(), _: &Connection, _: &QueueHandle<Self>) {}
        }
    )*};
}

ignore_events!(wl_compositor::WlCompositor, wl_surface::WlSurface, wl_shm::WlShm, wl_shm_pool::WlShmPool);

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
                println!("configure {width}x{height}");
                state.pending_size = (width, height);
                state.pending_states = states
                    .chunks_exact(4)
                    .map(|c| match u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) {
                        1 => "maximized".to_string(),
                        2 => "fullscreen".to_string(),
                        3 => "resizing".to_string(),
                        4 => "activated".to_string(),
                        n => format!("state{n}"),
                    })
                    .collect();
            }
            xdg_toplevel::Event::Close => state.closed = true,
            _ => {}
        }
    }
}

/// `RRGGBB` as opaque ARGB.
fn parse_color(s: &str) -> anyhow::Result<u32> {
    let rgb = u32::from_str_radix(s.trim_start_matches('#'), 16).with_context(|| format!("colour {s:?}"))?;
    if s.trim_start_matches('#').len() != 6 {
        bail!("colour {s:?} is not RRGGBB");
    }
    Ok(0xff00_0000 | rgb)
}

fn parse_size(s: &str) -> anyhow::Result<(i32, i32)> {
    let (w, h) = s.split_once('x').context("size is WIDTHxHEIGHT")?;
    let (w, h): (i32, i32) = (w.parse()?, h.parse()?);
    if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
        bail!("size {w}x{h} out of range");
    }
    Ok((w, h))
}

/// One window's worth of pixels in a memfd, as a wl_buffer.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u32>,
}

impl Canvas {
    fn filled(width: i32, height: i32, color: u32) -> Canvas {
        Canvas { width, height, pixels: vec![color; (width * height) as usize] }
    }

    fn buffer(&self, shm: &wl_shm::WlShm, qh: &QueueHandle<Probe>) -> anyhow::Result<wl_buffer::WlBuffer> {
        let size = self.pixels.len() * 4;
        // SAFETY: memfd_create with a static NUL-terminated name; we own the new descriptor.
        let fd = unsafe { libc::memfd_create(c"wr-rail-probe".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            bail!("memfd_create: {}", std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let mut file = unsafe { File::from_raw_fd(fd) };
        let bytes: Vec<u8> = self.pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
        file.write_all(&bytes).context("filling the buffer")?;
        let pool = shm.create_pool(file.as_fd(), size as i32, qh, ());
        let buffer = pool.create_buffer(0, self.width, self.height, self.width * 4, wl_shm::Format::Argb8888, qh, ());
        pool.destroy();
        Ok(buffer)
    }
}

/// Reads the lines appended to a command file since the last call.
struct Commands {
    path: Option<String>,
    offset: u64,
    partial: String,
}

impl Commands {
    fn poll(&mut self) -> Vec<String> {
        let Some(path) = &self.path else { return Vec::new() };
        let Ok(mut file) = File::open(path) else { return Vec::new() };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_string(&mut text).is_err() {
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
    let mut title = "rail-probe".to_string();
    let mut app_id = "org.wayrail.e2e.rail-probe".to_string();
    let mut color = parse_color("30a050")?;
    let mut own_size = (320, 240);
    let mut commands = Commands { path: None, offset: 0, partial: String::new() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--title" => title = value()?,
            "--app-id" => app_id = value()?,
            "--color" => color = parse_color(&value()?)?,
            "--size" => own_size = parse_size(&value()?)?,
            "--commands" => commands.path = Some(value()?),
            other => bail!("unknown argument {other:?}"),
        }
    }

    let conn = Connection::connect_to_env().context("connecting to WAYLAND_DISPLAY")?;
    let (globals, mut queue) = registry_queue_init::<Probe>(&conn).context("registry")?;
    let qh = queue.handle();
    let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 1..=6, ()).context("wl_compositor")?;
    let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ()).context("wl_shm")?;
    let wm_base: xdg_wm_base::XdgWmBase = globals.bind(&qh, 1..=6, ()).context("xdg_wm_base")?;
    let mut probe =
        Probe { pending_size: (0, 0), pending_states: Vec::new(), needs_draw: false, configured: false, closed: false };

    let surface = compositor.create_surface(&qh, ());
    let xdg_surface = wm_base.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg_surface.get_toplevel(&qh, ());
    toplevel.set_title(title.clone());
    toplevel.set_app_id(app_id);
    surface.commit();
    while !probe.configured {
        queue.blocking_dispatch(&mut probe).context("waiting for the first configure")?;
    }

    let mut canvas = Canvas::filled(own_size.0, own_size.1, color);
    let stdout = std::io::stdout();
    loop {
        let mut damage: Option<(i32, i32, i32, i32)> = None;
        if probe.needs_draw {
            probe.needs_draw = false;
            let (w, h) = match probe.pending_size {
                (w, h) if w > 0 && h > 0 => (w.min(4096), h.min(4096)),
                _ => own_size,
            };
            if (w, h) != (canvas.width, canvas.height) {
                canvas = Canvas::filled(w, h, color);
            }
            damage = Some((0, 0, w, h));
            let _ = writeln!(stdout.lock(), "configured {w}x{h} {}", probe.pending_states.join(","));
        }
        for line in commands.poll() {
            let mut words = line.splitn(2, ' ');
            let (verb, rest) = (words.next().unwrap_or(""), words.next().unwrap_or("").trim());
            match verb {
                "title" => {
                    title = rest.to_string();
                    toplevel.set_title(title.clone());
                }
                "color" => {
                    color = parse_color(rest)?;
                    canvas.pixels.fill(color);
                    damage = Some((0, 0, canvas.width, canvas.height));
                }
                "dot" => {
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    let [x, y, c] = parts[..] else { bail!("dot X Y RRGGBB, got {rest:?}") };
                    let (x, y): (i32, i32) = (x.parse()?, y.parse()?);
                    if (0..canvas.width).contains(&x) && (0..canvas.height).contains(&y) {
                        canvas.pixels[(y * canvas.width + x) as usize] = parse_color(c)?;
                        let d = damage.unwrap_or((x, y, 1, 1));
                        let (l, t) = (d.0.min(x), d.1.min(y));
                        let (r, b) = ((d.0 + d.2).max(x + 1), (d.1 + d.3).max(y + 1));
                        damage = Some((l, t, r - l, b - t));
                    }
                }
                "maximize" => toplevel.set_maximized(),
                "unmaximize" => toplevel.unset_maximized(),
                "minimize" => toplevel.set_minimized(),
                "quit" => return Ok(()),
                "" => {}
                other => eprintln!("wr-rail-probe: unknown command {other:?}"),
            }
        }
        if let Some((x, y, w, h)) = damage {
            let buffer = canvas.buffer(&shm, &qh)?;
            surface.attach(Some(&buffer), 0, 0);
            surface.damage_buffer(x, y, w, h);
            surface.commit();
        }
        let _ = stdout.lock().flush();
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
    fn parses_arguments() {
        assert_eq!(parse_color("30a050").unwrap(), 0xff30_a050);
        assert!(parse_color("30a05").is_err());
        assert_eq!(parse_size("8x9").unwrap(), (8, 9));
        assert!(parse_size("0x9").is_err());
    }
}
