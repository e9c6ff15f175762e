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

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use wayrail_testclient::parse::{configured_size, parse_color, parse_size, scaled};
use wayrail_testclient::shm::{checker, pattern};
use wayrail_testclient::wayland_client::protocol::{wl_output, wl_pointer, wl_surface};
use wayrail_testclient::wayland_client::{Proxy, WEnum};
use wayrail_testclient::wayland_protocols::xdg::shell::client::xdg_toplevel;
use wayrail_testclient::{delegate_client, dispatch_timeout, Base, Client, CommandFile, EventLog};

struct Probe {
    base: Base,
    log: EventLog,
    position: (f64, f64),
    /// The logical size asked for by the last configure (0 = ours).
    pending_size: (i32, i32),
    /// 120ths, from wp_fractional_scale_v1 (aware mode).
    fractional_scale: u32,
    /// From wl_surface.preferred_buffer_scale.
    buffer_scale: i32,
    needs_draw: bool,
    configured: bool,
}

impl Client for Probe {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }

    fn output_event(&mut self, _: &wl_output::WlOutput, event: &wl_output::Event) {
        if let wl_output::Event::Name { name } = event {
            self.log.record(&format!("output {name}"));
        }
    }

    fn surface_event(&mut self, _: &wl_surface::WlSurface, event: &wl_surface::Event) {
        match event {
            wl_surface::Event::Enter { output } => {
                let name = self.base.output_name(output);
                self.log.record(&format!("surface enter {name}"));
            }
            wl_surface::Event::Leave { output } => {
                let name = self.base.output_name(output);
                self.log.record(&format!("surface leave {name}"));
            }
            &wl_surface::Event::PreferredBufferScale { factor } => {
                self.log.record(&format!("buffer_scale {factor}"));
                if factor != self.buffer_scale && factor > 0 {
                    self.buffer_scale = factor;
                    self.needs_draw = true;
                }
            }
            _ => {}
        }
    }

    fn fractional_scale(&mut self, _: u32, scale: u32) {
        self.log.record(&format!("fractional_scale {scale}"));
        if scale != self.fractional_scale && scale > 0 {
            self.fractional_scale = scale;
            self.needs_draw = true;
        }
    }

    fn toplevel_configure(&mut self, _: usize, width: i32, height: i32, states: &[xdg_toplevel::State]) {
        let names: Vec<String> = states
            .iter()
            .map(|&s| match s {
                xdg_toplevel::State::Maximized => "maximized".to_string(),
                xdg_toplevel::State::Fullscreen => "fullscreen".to_string(),
                xdg_toplevel::State::Activated => "activated".to_string(),
                xdg_toplevel::State::Resizing => "resizing".to_string(),
                other => format!("state{}", u32::from(other)),
            })
            .collect();
        self.log.record(&format!("configure {width} {height} {}", names.join(",")));
        self.pending_size = (width, height);
    }

    fn configured(&mut self, _: usize, _: u32) {
        self.configured = true;
        self.needs_draw = true;
    }

    fn pointer_event(&mut self, event: &wl_pointer::Event) {
        let line = match *event {
            wl_pointer::Event::Enter { surface_x, surface_y, .. } => {
                self.position = (surface_x, surface_y);
                format!("pointer enter {surface_x:.3} {surface_y:.3}")
            }
            wl_pointer::Event::Leave { .. } => "pointer leave".into(),
            wl_pointer::Event::Motion { surface_x, surface_y, .. } => {
                self.position = (surface_x, surface_y);
                format!("pointer motion {surface_x:.3} {surface_y:.3}")
            }
            wl_pointer::Event::Button { button, state: pressed, .. } => {
                let what = match pressed {
                    WEnum::Value(wl_pointer::ButtonState::Pressed) => "pressed",
                    _ => "released",
                };
                let (x, y) = self.position;
                format!("pointer button {button} {what} {x:.3} {y:.3}")
            }
            _ => return,
        };
        self.log.record(&line);
    }
}

delegate_client!(Probe);

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: wr-scale-probe LOG [--aware] [--size WxH] ...")?;
    let mut aware = false;
    let mut checker_board = false;
    let mut own_size = (400, 300);
    let mut color = parse_color("2060c0")?;
    let mut title = "scale-probe".to_string();
    let mut commands = CommandFile::default();
    let mut hold = false;
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--aware" => aware = true,
            "--checker" => checker_board = true,
            "--size" => own_size = parse_size(&value()?)?,
            "--color" => color = parse_color(&value()?)?,
            "--title" => title = value()?,
            "--commands" => commands = CommandFile::new(Some(PathBuf::from(value()?))),
            "--hold" => hold = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let log = EventLog::append(&path)?;

    let mut probe = Probe {
        base: Base::default(),
        log,
        position: (0.0, 0.0),
        pending_size: (0, 0),
        fractional_scale: 120,
        buffer_scale: 1,
        needs_draw: false,
        configured: false,
    };
    probe.base.want_pointer = true;
    probe.base.want_fractional_scale = aware;
    // wl_output.name needs version 4.
    probe.base.min_output_version = 4;
    let (conn, mut queue) = wayrail_testclient::connect(&mut probe)?;
    let qh = queue.handle();
    // Version 6 for wl_surface.preferred_buffer_scale.
    if probe.base.compositor()?.version() < 6 {
        bail!("wl_compositor 6");
    }
    probe.base.globals.seat.as_ref().filter(|s| s.version() >= 5).context("wl_seat")?;
    if aware {
        probe.base.globals.fractional_scale.as_ref().context("wp_fractional_scale_manager_v1")?;
    }
    let window = probe.base.create_toplevel(&qh)?;
    let viewport = if aware { Some(probe.base.create_viewport(&window.surface, &qh)?) } else { None };
    let (surface, toplevel) = (&window.surface, &window.xdg_toplevel);
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
                ("fullscreen", Some(name)) => match probe.base.output_named(name) {
                    Some(output) => toplevel.set_fullscreen(Some(&output.wl_output)),
                    None => probe.log.record(&format!("error no output {name}")),
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
                (other, _) => probe.log.record(&format!("error unknown command {other}")),
            }
        }
        if probe.needs_draw && !hold {
            probe.needs_draw = false;
            let logical = configured_size(probe.pending_size, own_size);
            let (buffer_size, scale) = match &viewport {
                Some(_) => ((scaled(logical.0, probe.fractional_scale), scaled(logical.1, probe.fractional_scale)), 1),
                None => ((logical.0 * probe.buffer_scale, logical.1 * probe.buffer_scale), probe.buffer_scale),
            };
            let pixels = match checker_board {
                true => pattern(buffer_size.0, buffer_size.1, checker(color, dark)),
                false => vec![color; (buffer_size.0 * buffer_size.1) as usize],
            };
            let buffer = probe.base.one_shot_buffer(&qh, buffer_size.0, buffer_size.1, &pixels)?;
            surface.set_buffer_scale(scale);
            if let Some(viewport) = &viewport {
                viewport.set_destination(logical.0, logical.1);
            }
            surface.attach(Some(&buffer), 0, 0);
            surface.damage_buffer(0, 0, buffer_size.0, buffer_size.1);
            surface.commit();
            let shown = if viewport.is_some() { format!("{} {}", logical.0, logical.1) } else { "- -".into() };
            probe.log.record(&format!("draw {} {} scale {scale} viewport {shown}", buffer_size.0, buffer_size.1));
        }
        if probe.base.close_requested() {
            return Ok(());
        }

        // Wait for Wayland events or the next look at the command file.
        let timeout = commands.is_set().then_some(Duration::from_millis(40));
        dispatch_timeout(&conn, &mut queue, &mut probe, timeout)?;
    }
}
