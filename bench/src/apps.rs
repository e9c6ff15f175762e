//! The benchmark's own apps for the RDP scenarios, each a mode of this binary, each printing
//! `commit SEQ NANOSECONDS` (`CLOCK_MONOTONIC`) on stdout as it commits, so the bench can match
//! commits to what leaves the server:
//!
//! - `anim-client`: one window redrawn whole at every frame callback (a moving pattern that
//!   changes every pixel), fullscreen when asked: the full-window animation.
//! - `key-client`: one window that draws one more character cell on every key press and
//!   prints `key NANOSECONDS` as the key arrives: typing one character.

use std::io::Write;

use anyhow::Context;
use wayrail_testclient::wayland_client::protocol::wl_keyboard;
use wayrail_testclient::wayland_client::{QueueHandle, WEnum};
use wayrail_testclient::wayland_protocols::xdg::shell::client::xdg_toplevel;
use wayrail_testclient::{delegate_client, dispatch_timeout, Base, Client, ShmBuffer, Toplevel};

/// `CLOCK_MONOTONIC` in nanoseconds (what python's `time.monotonic_ns` and `Instant` read).
pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[derive(Default)]
struct App {
    base: Base,
    /// The size of the last toplevel configure (0 where the compositor leaves it to us).
    size: (i32, i32),
    configured: bool,
    frame_due: bool,
    /// Key presses not drawn yet.
    keys: u32,
    out: Option<std::io::Stdout>,
}

impl Client for App {
    fn base(&mut self) -> &mut Base {
        &mut self.base
    }

    fn toplevel_configure(&mut self, _shell: usize, width: i32, height: i32, _states: &[xdg_toplevel::State]) {
        self.size = (width, height);
    }

    fn configured(&mut self, _shell: usize, _serial: u32) {
        self.configured = true;
    }

    fn frame_done(&mut self, _surface: u32, _time: u32) {
        self.frame_due = true;
    }

    fn keyboard_event(&mut self, event: &wl_keyboard::Event) {
        if let wl_keyboard::Event::Key { state: WEnum::Value(wl_keyboard::KeyState::Pressed), .. } = event {
            let at = monotonic_ns();
            self.keys += 1;
            if let Some(out) = self.out.as_mut() {
                let _ = writeln!(out, "key {at}");
            }
        }
    }
}

delegate_client!(App);

/// A connection, its queue, the mapped window and the size to draw at.
type Mapped = (
    wayrail_testclient::wayland_client::Connection,
    wayrail_testclient::wayland_client::EventQueue<App>,
    Toplevel,
    (i32, i32),
);

/// Connects, maps a titled toplevel (fullscreen if asked) and waits for its first configure;
/// returns the size to draw at: the configured one, or `want` where the compositor left it open.
fn map(app: &mut App, title: &str, want: (i32, i32), fullscreen: bool) -> anyhow::Result<Mapped> {
    let (conn, mut queue) = wayrail_testclient::connect(app)?;
    let qh = queue.handle();
    let window = app.base.create_titled_toplevel(&qh, title, "org.wayrail.bench")?;
    if fullscreen {
        window.xdg_toplevel.set_fullscreen(None);
    }
    while !app.configured || (fullscreen && app.size.0 == 0) {
        queue.blocking_dispatch(app).context("waiting for the first configure")?;
    }
    let size = (if app.size.0 > 0 { app.size.0 } else { want.0 }, if app.size.1 > 0 { app.size.1 } else { want.1 });
    Ok((conn, queue, window, size))
}

fn commit(window: &Toplevel, buffer: &ShmBuffer, damage: (i32, i32, i32, i32), seq: u64, out: &mut impl Write) {
    let surface = &window.surface;
    surface.attach(Some(&buffer.wl_buffer), 0, 0);
    surface.damage_buffer(damage.0, damage.1, damage.2, damage.3);
    let at = monotonic_ns();
    surface.commit();
    let _ = writeln!(out, "commit {seq} {at}");
}

/// `wayrail-bench anim-client`: a new picture over the whole window at every frame callback.
pub(crate) fn anim_client(title: &str, width: i32, height: i32, fullscreen: bool) -> anyhow::Result<()> {
    let mut app = App::default();
    let (conn, mut queue, window, (w, h)) = map(&mut app, title, (width, height), fullscreen)?;
    let qh: QueueHandle<App> = queue.handle();
    // Three buffers in turn: the compositor is done with one long before it comes round again.
    let mut buffers: Vec<ShmBuffer> =
        (0..3).map(|_| ShmBuffer::new(app.base.shm()?, &qh, w, h)).collect::<anyhow::Result<_>>()?;
    let mut out = std::io::stdout().lock();
    let mut seq = 0u64;
    app.frame_due = true;
    while !app.base.close_requested() {
        if app.frame_due {
            app.frame_due = false;
            let buffer = &mut buffers[seq as usize % 3];
            draw_frame(buffer.pixels_mut(), w, seq as u32);
            app.base.request_frame(&window.surface, &qh);
            commit(&window, buffer, (0, 0, w, h), seq, &mut out);
            out.flush()?;
            seq += 1;
        }
        dispatch_timeout(&conn, &mut queue, &mut app, None)?;
    }
    Ok(())
}

/// A picture that moves every frame and changes every pixel, smooth like video rather than
/// noise: colour gradients sliding different ways.
fn draw_frame(pixels: &mut [u32], width: i32, t: u32) {
    for (y, row) in pixels.chunks_mut(width as usize).enumerate() {
        let y = y as u32;
        for (x, p) in row.iter_mut().enumerate() {
            let x = x as u32;
            let r = (x / 4 + t * 4) & 0xff;
            let g = (y / 4 + t * 2) & 0xff;
            let b = ((x + y) / 8 + t * 3) & 0xff;
            *p = 0xff00_0000 | r << 16 | g << 8 | b;
        }
    }
}

/// Character cells of the key client: 10x20 pixels, 60 to a line.
const CELL: (i32, i32) = (10, 20);
const COLUMNS: i32 = 60;

/// `wayrail-bench key-client`: one more character cell drawn for every key press.
pub(crate) fn key_client(title: &str, width: i32, height: i32) -> anyhow::Result<()> {
    let mut app = App { out: Some(std::io::stdout()), ..Default::default() };
    app.base.want_keyboard = true;
    let (conn, mut queue, window, (w, h)) = map(&mut app, title, (width, height), false)?;
    let qh: QueueHandle<App> = queue.handle();
    let mut buffers: Vec<ShmBuffer> =
        (0..2).map(|_| ShmBuffer::new(app.base.shm()?, &qh, w, h)).collect::<anyhow::Result<_>>()?;
    let background = 0xff20_2830;
    for b in &buffers {
        b.fill(background);
    }
    let mut out = std::io::stdout();
    commit(&window, &buffers[0], (0, 0, w, h), 0, &mut out);
    let mut seq = 0u64;
    let rows = (h / CELL.1 - 1).max(1);
    while !app.base.close_requested() {
        while app.keys > 0 {
            app.keys -= 1;
            seq += 1;
            let n = seq as i32;
            let col = n % COLUMNS;
            let row = n / COLUMNS % rows;
            let cell = (4 + col * CELL.0, 4 + row * CELL.1, CELL.0, CELL.1);
            // The next cell gets the glyph, in both buffers (a full line wraps: clear it).
            let buffer = &buffers[seq as usize % 2];
            for b in &buffers {
                if col == 0 {
                    b.fill_rect(0, cell.1, w, CELL.1, background);
                }
                b.fill_rect(cell.0 + 2, cell.1 + 4, CELL.0 - 4, CELL.1 - 8, 0xffe0_e0e0);
            }
            let damage = if col == 0 { (0, cell.1, w, CELL.1) } else { cell };
            commit(&window, buffer, damage, seq, &mut out);
        }
        out.flush()?;
        dispatch_timeout(&conn, &mut queue, &mut app, None)?;
    }
    buffers.clear();
    Ok(())
}
