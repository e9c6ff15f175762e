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
/// The prefix of our directories in the runtime directory; the pid follows.
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

/// The directory for wayrail process `pid` in `runtime_dir`.
pub fn dir_for(runtime_dir: &Path, pid: u32) -> PathBuf {
    runtime_dir.join(format!("{DIR_PREFIX}{pid}"))
}

/// Removes the directories of wayrail processes that are gone (a crash leaves its socket,
/// FIFO and files behind). Returns what was removed.
pub fn sweep_stale(runtime_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(runtime_dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)).and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the process exists.
        let gone =
            unsafe { libc::kill(pid, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed.push(entry.path());
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
        let socket = dir.join("native");
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
        self.dir.join("native")
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
    fn stale_directories_of_dead_processes_are_swept() {
        let runtime = tempfile::tempdir().unwrap();
        let ours = dir_for(runtime.path(), std::process::id());
        // A pid that cannot be running (above the kernel's maximum).
        let dead = dir_for(runtime.path(), 4_194_305);
        let other = runtime.path().join("wayrail-audio.notapid");
        for d in [&ours, &dead, &other] {
            std::fs::create_dir(d).unwrap();
        }
        assert_eq!(sweep_stale(runtime.path()), vec![dead.clone()]);
        assert!(ours.exists() && other.exists() && !dead.exists());
    }
}
