//! The private PulseAudio: started by wayrail with a script of its own (no system or user
//! configuration, no hardware, no D-Bus), in a directory of its own (mode 0700) that holds
//! its socket, the sink's FIFO and its runtime and state files. It dies with wayrail
//! (`PR_SET_PDEATHSIG`) and is stopped and reaped when wayrail ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::PcmFormat;

/// How long the sink may stay open with nothing playing before it suspends, in seconds.
/// A suspended sink writes nothing, so an idle machine has no sound wakeups at all.
const SUSPEND_AFTER_SECS: u32 = 1;
/// How long the server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// What a supervisor (systemd, wayraild) tells wayrail, never passed on to its helpers.
pub(crate) const SUPERVISOR_VARS: [&str; 6] =
    ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID"];
/// The prefix of our directories in the runtime directory; the Wayland socket's name follows.
const DIR_PREFIX: &str = "wayrail-audio.";

pub struct PulseServer {
    child: Child,
    dir: PathBuf,
}

/// The PulseAudio script: the FIFO sink and source first (so their FIFOs are open once the
/// socket exists), the defaults, suspension of an idle sink or source, and the socket (no
/// cookie: the directory's mode is the guard). The source is mono at the sink's rate.
fn script(socket: &Path, fifo: &Path, source_fifo: &Path, format: PcmFormat) -> String {
    format!(
        ".fail\n\
         load-module module-pipe-sink file={fifo} sink_name=wayrail format=s16le rate={rate} channels={channels} use_system_clock_for_timing=yes sink_properties=device.description=wayrail\n\
         set-default-sink wayrail\n\
         load-module module-pipe-source file={source_fifo} source_name={source} format=s16le rate={rate} channels=1 source_properties=device.description=wayrail-microphone\n\
         set-default-source {source}\n\
         load-module module-suspend-on-idle timeout={SUSPEND_AFTER_SECS}\n\
         load-module module-native-protocol-unix socket={socket} auth-anonymous=1\n",
        fifo = fifo.display(),
        source_fifo = source_fifo.display(),
        source = crate::mic::SOURCE_NAME,
        socket = socket.display(),
        rate = format.rate,
        channels = format.channels,
    )
}

/// The directory of the sound server of the wayrail whose Wayland socket is `wayland_display`
/// in `runtime_dir`: `wayrail-audio.<name>`, so that its socket, `<dir>/native`, is known
/// before wayrail runs and stays the same across restarts (a supervisor hands it to apps). The
/// Wayland socket's name is held by one wayrail at a time, so the directory is too.
pub fn dir_for(runtime_dir: &Path, wayland_display: &str) -> PathBuf {
    // A name is one path component; a path given as the name counts by its last one.
    let name = Path::new(wayland_display).file_name().and_then(|n| n.to_str()).unwrap_or("wayland");
    runtime_dir.join(format!("{DIR_PREFIX}{name}"))
}

/// The socket apps connect to, in the directory [`dir_for`] names.
pub fn socket_in(dir: &Path) -> PathBuf {
    dir.join("native")
}

/// Removes the directories of sound servers that are gone: a crashed wayrail's (its server
/// died with it) leaves its socket, FIFOs and files behind. A directory counts as gone when
/// its socket does not answer and it is older than a server's start may take (one being made
/// by a wayrail starting right now is left alone). Returns what was removed.
pub fn sweep_stale(runtime_dir: &Path) -> Vec<PathBuf> {
    sweep(runtime_dir, START_TIMEOUT)
}

fn sweep(runtime_dir: &Path, grace: Duration) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(runtime_dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(DIR_PREFIX) && n.len() > DIR_PREFIX.len());
        // Never a link: what it points to is not ours to remove.
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !ours || !meta.is_dir() {
            continue;
        }
        let young = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_none_or(|age| age < grace);
        if young || std::os::unix::net::UnixStream::connect(socket_in(&path)).is_ok() {
            continue;
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// In a child between fork and exec: it dies with wayrail, even when wayrail is killed (the
/// main thread starts it and lives as long as the process), and inherits no descriptor but
/// its standard ones (not an RDP listener a supervisor handed wayrail, which is made
/// close-on-exec only when the RDP server takes it).
///
/// # Safety
/// Only between fork and exec: async-signal-safe calls only.
pub(crate) unsafe fn child_setup() -> std::io::Result<()> {
    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
        return Err(std::io::Error::last_os_error());
    }
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 4;
    if libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) != 0 {
        // Kernels before 5.11: one by one.
        for fd in 3..1024 {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

impl PulseServer {
    /// Starts `program` (pulseaudio) in `dir`, made fresh here with mode 0700, and waits
    /// until its socket answers.
    pub fn start(program: &Path, dir: PathBuf, format: PcmFormat) -> anyhow::Result<PulseServer> {
        use std::os::unix::fs::DirBuilderExt as _;
        use std::os::unix::process::CommandExt as _;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| anyhow::anyhow!("making {}: {e}", dir.display()))?;
        let socket = socket_in(&dir);
        let fifo = dir.join("sink");
        let script_path = dir.join("wayrail.pa");
        std::fs::write(&script_path, script(&socket, &fifo, &dir.join("source"), format))?;
        let mut command = Command::new(program);
        command
            .args(["-n", "--daemonize=no", "--system=no", "--use-pid-file=no", "--exit-idle-time=-1"])
            .args(["--disallow-exit=yes", "--realtime=no", "--high-priority=no", "--log-target=stderr"])
            .args(["--log-level=error", "--fail=yes"])
            .arg(format!("--file={}", script_path.display()))
            .env("PULSE_RUNTIME_PATH", dir.join("runtime"))
            .env("PULSE_STATE_PATH", dir.join("state"))
            .env_remove("PULSE_SERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe { command.pre_exec(|| child_setup()) };
        // wayrail's supervisor's variables are not for it: PulseAudio would say READY=1 on
        // wayrail's behalf, or take its socket-activated listeners.
        for var in SUPERVISOR_VARS {
            command.env_remove(var);
        }
        let child = command.spawn().map_err(|e| anyhow::anyhow!("starting {}: {e}", program.display()))?;
        let mut server = PulseServer { child, dir };
        server.wait_ready(&socket)?;
        tracing::info!(pid = server.child.id(), socket = %socket.display(), rate = format.rate, "sound server started");
        Ok(server)
    }

    fn wait_ready(&mut self, socket: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the sound server exited at once ({status})");
            }
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("the sound server did not open {} within {START_TIMEOUT:?}", socket.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where apps connect.
    pub fn socket(&self) -> PathBuf {
        socket_in(&self.dir)
    }

    /// The sink's FIFO, opened for reading (the server holds it open for writing already).
    pub fn open_sink(&self) -> std::io::Result<std::fs::File> {
        std::fs::File::open(self.dir.join("sink"))
    }

    /// The source's FIFO, where the host's microphone goes.
    pub fn source_fifo(&self) -> PathBuf {
        self.dir.join("source")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PulseServer {
    /// Stops the server (SIGTERM, then SIGKILL after a second), reaps it, removes its directory.
    fn drop(&mut self) {
        // SAFETY: our own child, not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(1);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_makes_the_fifo_sink_the_default_and_suspends_it_when_idle() {
        let s = script(Path::new("/r/native"), Path::new("/r/sink"), Path::new("/r/source"), PcmFormat::new(48_000, 2));
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], ".fail", "a module that fails to load stops the server");
        assert!(lines[1].starts_with("load-module module-pipe-sink file=/r/sink sink_name=wayrail format=s16le rate=48000 channels=2 use_system_clock_for_timing=yes"));
        assert_eq!(lines[2], "set-default-sink wayrail");
        assert!(lines[3].starts_with(
            "load-module module-pipe-source file=/r/source source_name=wayrail-mic format=s16le rate=48000 channels=1"
        ));
        assert_eq!(lines[4], "set-default-source wayrail-mic");
        assert_eq!(lines[5], "load-module module-suspend-on-idle timeout=1");
        assert_eq!(lines[6], "load-module module-native-protocol-unix socket=/r/native auth-anonymous=1");
    }

    #[test]
    fn the_directory_is_named_after_the_wayland_socket() {
        let runtime = Path::new("/run/user/1000");
        assert_eq!(dir_for(runtime, "wayland-0"), Path::new("/run/user/1000/wayrail-audio.wayland-0"));
        assert_eq!(dir_for(runtime, "/elsewhere/wl-7"), Path::new("/run/user/1000/wayrail-audio.wl-7"));
        assert_eq!(
            socket_in(&dir_for(runtime, "wayland-0")),
            Path::new("/run/user/1000/wayrail-audio.wayland-0/native")
        );
    }

    #[test]
    fn directories_whose_server_is_gone_are_swept() {
        let runtime = tempfile::tempdir().unwrap();
        let served = dir_for(runtime.path(), "wayland-1");
        let dead = dir_for(runtime.path(), "wayland-2");
        let empty = dir_for(runtime.path(), "wayland-3");
        let other = runtime.path().join("wayrail-audio-not-ours");
        for d in [&served, &dead, &empty, &other] {
            std::fs::create_dir(d).unwrap();
        }
        let _server = std::os::unix::net::UnixListener::bind(socket_in(&served)).unwrap();
        // A socket file whose server is gone: binding and dropping leaves it, refusing.
        drop(std::os::unix::net::UnixListener::bind(socket_in(&dead)).unwrap());
        // Within the grace a server may take to start, nothing goes.
        assert!(sweep(runtime.path(), Duration::from_secs(3600)).is_empty());
        let mut removed = sweep(runtime.path(), Duration::ZERO);
        removed.sort();
        assert_eq!(removed, vec![dead.clone(), empty.clone()]);
        assert!(served.exists() && other.exists() && !dead.exists() && !empty.exists());
    }
}
