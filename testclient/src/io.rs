//! Connecting, dispatching with timeouts, and the command files the probes read.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use wayland_client::backend::WaylandError;
use wayland_client::{Connection, EventQueue};

use crate::Client;

/// A queue for `conn` with the registry on it: the globals come with the next dispatch.
pub fn with_registry<C: Client>(conn: &Connection) -> EventQueue<C> {
    let queue = conn.new_event_queue();
    conn.display().get_registry(&queue.handle(), ());
    queue
}

/// How long [`connect`] waits for each of its round trips.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `WAYLAND_DISPLAY` and round-trips twice: the globals, then what binding them
/// brought (output names, seat capabilities, shm formats).
pub fn connect<C: Client>(app: &mut C) -> anyhow::Result<(Connection, EventQueue<C>)> {
    let conn = Connection::connect_to_env().context("connecting to WAYLAND_DISPLAY")?;
    let mut queue = with_registry(&conn);
    roundtrip(&conn, &mut queue, app, CONNECT_TIMEOUT).context("the globals")?;
    roundtrip(&conn, &mut queue, app, CONNECT_TIMEOUT).context("binding the globals")?;
    Ok((conn, queue))
}

/// Waits up to `timeout` (None: for ever) for events, reads them and dispatches all that are
/// queued. Returns without waiting when events are queued already.
pub fn dispatch_timeout<C: Client>(
    conn: &Connection,
    queue: &mut EventQueue<C>,
    app: &mut C,
    timeout: Option<Duration>,
) -> anyhow::Result<()> {
    conn.flush().context("flushing")?;
    if let Some(guard) = queue.prepare_read() {
        let mut pfd = libc::pollfd { fd: guard.connection_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        // SAFETY: one valid pollfd for the length given.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            match guard.read() {
                Ok(_) => {}
                Err(WaylandError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
                Err(err) => return Err(err).context("reading events"),
            }
        }
    }
    queue.dispatch_pending(app).context("dispatching")?;
    Ok(())
}

/// Reads what the socket holds without waiting and dispatches it: for clients driven by hand
/// next to an in-process compositor.
pub fn read_and_dispatch<C: Client>(
    conn: &Connection,
    queue: &mut EventQueue<C>,
    app: &mut C,
) -> Result<(), wayland_client::DispatchError> {
    if let Some(guard) = conn.prepare_read() {
        match guard.read() {
            Ok(_) => {}
            Err(WaylandError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
            Err(err) => return Err(err.into()),
        }
    }
    queue.dispatch_pending(app).map(|_| ())
}

/// Until the compositor answered everything sent so far (wl_display.sync), at most `timeout`.
pub fn roundtrip<C: Client>(
    conn: &Connection,
    queue: &mut EventQueue<C>,
    app: &mut C,
    timeout: Duration,
) -> anyhow::Result<()> {
    let token = app.base().sync(conn, &queue.handle());
    let deadline = Instant::now() + timeout;
    while !app.base().sync_done(token) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no answer to wl_display.sync within {timeout:?}");
        }
        dispatch_timeout(conn, queue, app, Some(left))?;
    }
    Ok(())
}

/// A file of event lines a test reads while the probe runs.
pub struct EventLog(File);

impl EventLog {
    /// Appends to `path` (made if missing).
    pub fn append(path: &str) -> anyhow::Result<Self> {
        let file =
            OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {path}"))?;
        Ok(Self(file))
    }

    /// One write a line, so a reader never sees half of one.
    pub fn record(&mut self, line: &str) {
        let _ = self.0.write_all(format!("{line}\n").as_bytes());
        let _ = self.0.flush();
    }
}

/// Lines appended to a file, read as they come (the file need not exist yet): how the e2e
/// tests script a probe.
#[derive(Debug, Default)]
pub struct CommandFile {
    path: Option<PathBuf>,
    offset: u64,
    partial: String,
}

impl CommandFile {
    pub fn new(path: Option<PathBuf>) -> Self {
        Self { path, offset: 0, partial: String::new() }
    }

    pub fn is_set(&self) -> bool {
        self.path.is_some()
    }

    /// The whole lines appended since the last call, trimmed.
    pub fn poll(&mut self) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn event_logs_append_whole_lines() {
        let path = std::env::temp_dir().join(format!("wayrail-testclient-log-{}", std::process::id()));
        std::fs::write(&path, "before\n").unwrap();
        let mut log = EventLog::append(path.to_str().unwrap()).unwrap();
        log.record("seat 9");
        log.record("frame");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\nseat 9\nframe\n");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn command_files_give_whole_lines_once() {
        let path = std::env::temp_dir().join(format!("wayrail-testclient-commands-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut commands = CommandFile::new(Some(path.clone()));
        assert!(commands.poll().is_empty(), "no file yet");
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        write!(f, "title a b\n  quit \nmaxi").unwrap();
        assert_eq!(commands.poll(), ["title a b", "quit"]);
        assert!(commands.poll().is_empty());
        writeln!(f, "mize").unwrap();
        assert_eq!(commands.poll(), ["maximize"]);
        std::fs::remove_file(&path).unwrap();
        assert!(CommandFile::default().poll().is_empty());
    }
}
