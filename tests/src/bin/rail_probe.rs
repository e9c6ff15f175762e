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
//! - `stripes`: animates thin red, green and blue strokes on white (like syntax-coloured text)
//!   scrolling by a row every 16 ms, all of the window damaged each time; `still` stops it (the
//!   last picture stays);
//! - `maximize`, `unmaximize`, `minimize`: asks the compositor (xdg_toplevel requests);
//! - `quit`: exits.
//!
//! Prints `configure WIDTHxHEIGHT` on stdout for each toplevel configure (the size asked for) and
//! `configured WIDTHxHEIGHT STATES` after each one it drew for (at most 4096x4096), and exits
//! when the compositor closes the window or the connection.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use wayrail_testclient::parse::{configured_size, parse_color, parse_size};
use wayrail_testclient::shm::{fill_rect, union};
use wayrail_testclient::wayland_protocols::xdg::shell::client::xdg_toplevel;
use wayrail_testclient::{delegate_client, dispatch_timeout, Base, Client, CommandFile};

struct Probe {
    base: Base,
    /// The size asked for by the last configure (0 = ours).
    pending_size: (i32, i32),
    pending_states: Vec<String>,
    /// A configure came that was not drawn for yet.
    needs_draw: bool,
    configured: bool,
}

impl Client for Probe {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }

    fn toplevel_configure(&mut self, _: usize, width: i32, height: i32, states: &[xdg_toplevel::State]) {
        println!("configure {width}x{height}");
        self.pending_size = (width, height);
        self.pending_states = states
            .iter()
            .map(|&s| match u32::from(s) {
                1 => "maximized".to_string(),
                2 => "fullscreen".to_string(),
                3 => "resizing".to_string(),
                4 => "activated".to_string(),
                n => format!("state{n}"),
            })
            .collect();
    }

    fn configured(&mut self, _: usize, _: u32) {
        self.configured = true;
        self.needs_draw = true;
    }
}

delegate_client!(Probe);

/// One window's worth of pixels.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u32>,
}

impl Canvas {
    fn filled(width: i32, height: i32, color: u32) -> Canvas {
        Canvas { width, height, pixels: vec![color; (width * height) as usize] }
    }

    /// The `stripes` picture scrolled by `offset` rows: one-pixel coloured strokes, which
    /// 4:2:0 chroma turns grey or smears.
    fn stripes(&mut self, offset: i32) {
        let width = self.width.max(1);
        for (i, px) in self.pixels.iter_mut().enumerate() {
            let (x, y) = (i as i32 % width, i as i32 / width + offset);
            *px = match (x % 6, y % 5) {
                (1, _) => 0xffdc_0000,
                (_, 2) => 0xff00_28e6,
                (4, 3) => 0xff00_b400,
                _ => 0xffff_ffff,
            };
        }
    }
}

/// How often `stripes` draws.
const STRIPES_INTERVAL: Duration = Duration::from_millis(16);

fn main() -> anyhow::Result<()> {
    let mut title = "rail-probe".to_string();
    let mut app_id = "org.wayrail.e2e.rail-probe".to_string();
    let mut color = parse_color("30a050")?;
    let mut own_size = (320, 240);
    let mut commands = CommandFile::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--title" => title = value()?,
            "--app-id" => app_id = value()?,
            "--color" => color = parse_color(&value()?)?,
            "--size" => own_size = parse_size(&value()?)?,
            "--commands" => commands = CommandFile::new(Some(PathBuf::from(value()?))),
            other => bail!("unknown argument {other:?}"),
        }
    }

    let mut probe = Probe {
        base: Base::default(),
        pending_size: (0, 0),
        pending_states: Vec::new(),
        needs_draw: false,
        configured: false,
    };
    let (conn, mut queue) = wayrail_testclient::connect(&mut probe)?;
    let qh = queue.handle();
    let window = probe.base.create_titled_toplevel(&qh, &title, &app_id)?;
    let (surface, toplevel) = (&window.surface, &window.xdg_toplevel);
    while !probe.configured {
        queue.blocking_dispatch(&mut probe).context("waiting for the first configure")?;
    }

    let mut canvas = Canvas::filled(own_size.0, own_size.1, color);
    let stdout = std::io::stdout();
    // The animation's next row offset, while `stripes` runs.
    let mut stripes: Option<i32> = None;
    let mut drawn = std::time::Instant::now();
    loop {
        let mut damage: Option<(i32, i32, i32, i32)> = None;
        if probe.needs_draw {
            probe.needs_draw = false;
            let (w, h) = configured_size(probe.pending_size, own_size);
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
                        let dot = fill_rect(&mut canvas.pixels, canvas.width, (x, y, 1, 1), parse_color(c)?);
                        damage = Some(damage.map_or(dot, |d| union(d, dot)));
                    }
                }
                "stripes" => stripes = Some(stripes.unwrap_or(0)),
                "still" => stripes = None,
                "maximize" => toplevel.set_maximized(),
                "unmaximize" => toplevel.unset_maximized(),
                "minimize" => toplevel.set_minimized(),
                "quit" => return Ok(()),
                "" => {}
                other => eprintln!("wr-rail-probe: unknown command {other:?}"),
            }
        }
        if let Some(offset) = stripes.as_mut().filter(|_| drawn.elapsed() >= STRIPES_INTERVAL) {
            drawn = std::time::Instant::now();
            canvas.stripes(*offset);
            *offset = (*offset + 1) % 30;
            damage = Some((0, 0, canvas.width, canvas.height));
        }
        if let Some((x, y, w, h)) = damage {
            let buffer = probe.base.one_shot_buffer(&qh, canvas.width, canvas.height, &canvas.pixels)?;
            surface.attach(Some(&buffer), 0, 0);
            surface.damage_buffer(x, y, w, h);
            surface.commit();
        }
        let _ = stdout.lock().flush();
        if probe.base.close_requested() {
            return Ok(());
        }

        // Wait for Wayland events or the next look at the command file.
        let timeout = if stripes.is_some() {
            Some(STRIPES_INTERVAL)
        } else {
            commands.is_set().then_some(Duration::from_millis(40))
        };
        dispatch_timeout(&conn, &mut queue, &mut probe, timeout)?;
    }
}
