//! Process bookkeeping both the wakeup and the RDP figures use: CPU and context switches
//! from /proc, process groups that die with the run, ports and TCP byte counts.

use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::check_interrupt;

/// Numbers the temporary directories of one run.
pub(crate) static SESSIONS: AtomicU32 = AtomicU32::new(0);

/// CPU and scheduling counters of a process, all threads together.
#[derive(Clone, Copy, Default)]
pub(crate) struct Usage {
    /// Voluntary + involuntary context switches of the live threads.
    pub(crate) switches: u64,
    /// utime + stime from /proc/PID/stat, in clock ticks (exited threads included).
    pub(crate) ticks: u64,
    /// Time on CPU from /proc/PID/task/*/schedstat, in ns (live threads).
    pub(crate) run_ns: u64,
}

pub(crate) fn usage(pid: u32) -> anyhow::Result<Usage> {
    let mut u = Usage::default();
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid} is gone"))?;
    // Fields after the command name "(...)": state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("odd /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).context("odd /proc/PID/stat");
    u.ticks = field(14)? + field(15)?;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        // A thread may end between listing and reading.
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else { continue };
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                u.switches += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
        if let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) {
            u.run_ns += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    Ok(u)
}

pub(crate) fn usage_sum(pids: &[u32]) -> anyhow::Result<Usage> {
    let mut total = Usage::default();
    for pid in pids {
        let u = usage(*pid)?;
        total.switches += u.switches;
        total.ticks += u.ticks;
        total.run_ns += u.run_ns;
    }
    Ok(total)
}

/// What happened between two samples.
pub(crate) struct Rates {
    pub(crate) wakeups_per_s: f64,
    pub(crate) cpu_percent: f64,
    pub(crate) cpu_ms: f64,
}

pub(crate) fn rates(before: Usage, after: Usage, secs: f64) -> Rates {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Rates {
        wakeups_per_s: after.switches.saturating_sub(before.switches) as f64 / secs,
        cpu_percent: after.ticks.saturating_sub(before.ticks) as f64 / hz / secs * 100.0,
        cpu_ms: after.run_ns.saturating_sub(before.run_ns) as f64 / 1e6,
    }
}

/// Whether a process we started (and have not reaped) is still running.
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next().map(|st| st != "Z" && st != "X"))
        })
        .unwrap_or(false)
}

pub(crate) fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}

/// The last lines of a log file, on one line.
pub(crate) fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "(no output)".into()
    } else {
        tail
    }
}

/// Kills a child we started in its own process group (`process_group(0)`), with everything
/// in that group, and reaps it.
pub(crate) fn kill_group(child: &mut Child) {
    // Not reaped yet, so the id is still ours; the group holds its descendants.
    let pid = child.id() as libc::pid_t;
    // SAFETY: plain syscalls on processes we started.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
    let _ = child.wait();
    detach_freerdp_mount(pid as u32);
}

/// xfreerdp mounts its file clipboard (FUSE) at a path named by its pid; killed, it leaves
/// the mount behind for good. Detached and removed here; for other processes both calls
/// fail and change nothing. (No existence check first: a dead FUSE mount fails `stat`.)
fn detach_freerdp_mount(pid: u32) {
    let mount = PathBuf::from(format!("/tmp/com.freerdp.client.cliprdr.{pid}"));
    if let Ok(path) = std::ffi::CString::new(mount.as_os_str().as_encoded_bytes()) {
        // SAFETY: umount2 with a NUL-terminated path we own; a path that is not a mount
        // point only makes it fail.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = std::fs::remove_dir(&mount);
}

/// The processes of one RDP run, each in its own process group, and their temporary
/// directory (logs, runtime dir, certificate). Dropping it kills every group and removes the
/// directory: on success, on error and on interrupt alike (`WAYRAIL_BENCH_KEEP` set: the
/// directory stays, for its logs).
pub(crate) struct Procs {
    pub(crate) dir: PathBuf,
    pub(crate) children: Vec<(String, Child)>,
}

impl Procs {
    pub(crate) fn new(label: &str) -> anyhow::Result<Procs> {
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wayrail-bench-{}-{label}-{n}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Procs { dir, children: Vec::new() })
    }

    pub(crate) fn subdir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.dir.join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Starts `cmd` as `name`: stdin from /dev/null, stdout and stderr to `name.log`.
    pub(crate) fn spawn(&mut self, name: &str, mut cmd: Command) -> anyhow::Result<&mut Child> {
        let log = std::fs::File::create(self.log_path(name))?;
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        self.spawn_as_is(name, cmd)
    }

    /// Starts `cmd` as `name` in its own process group, its stdio as the caller set it.
    pub(crate) fn spawn_as_is(&mut self, name: &str, mut cmd: Command) -> anyhow::Result<&mut Child> {
        let child = cmd
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", cmd.get_program().to_string_lossy()))?;
        self.children.push((name.to_string(), child));
        Ok(&mut self.children.last_mut().expect("just pushed").1)
    }

    pub(crate) fn pid(&self, name: &str) -> Option<u32> {
        self.children.iter().find(|(n, _)| n == name).map(|(_, c)| c.id())
    }

    pub(crate) fn kill(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _)| n == name) {
            let (_, mut child) = self.children.remove(i);
            kill_group(&mut child);
        }
    }

    /// Fails, with the end of its log, when one of these processes is no longer running.
    pub(crate) fn check_alive(&self, names: &[&str]) -> anyhow::Result<()> {
        for name in names {
            if !self.pid(name).is_some_and(alive) {
                bail!("{name} exited: {}", log_tail(&self.log_path(name)));
            }
        }
        Ok(())
    }

    pub(crate) fn log_len(&self, name: &str) -> u64 {
        std::fs::metadata(self.log_path(name)).map_or(0, |m| m.len())
    }

    /// The whole lines of a log between byte offsets `from` and `to` (file lengths taken at
    /// two moments; a line cut by either offset is left out, as the writer may buffer).
    pub(crate) fn log_range(&self, name: &str, from: u64, to: u64) -> Vec<u8> {
        let data = std::fs::read(self.log_path(name)).unwrap_or_default();
        let to = (to as usize).min(data.len());
        let end = data[..to].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let from = (from as usize).min(end);
        let start = if from == 0 || data[from - 1] == b'\n' {
            from
        } else {
            data[from..end].iter().position(|&b| b == b'\n').map_or(end, |i| from + i + 1)
        };
        data[start..end].to_vec()
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        // Clients first, the servers (started first) last.
        while let Some((_, mut child)) = self.children.pop() {
            kill_group(&mut child);
        }
        if std::env::var_os("WAYRAIL_BENCH_KEEP").is_some() {
            eprintln!("wayrail-bench: kept {} (WAYRAIL_BENCH_KEEP)", self.dir.display());
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("wayrail-bench: could not remove {}: {e}", self.dir.display());
        }
    }
}

/// Polls `ready` until it holds, while the `watch`ed processes keep running.
pub(crate) fn wait_for(
    procs: &Procs,
    watch: &[&str],
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        check_interrupt()?;
        if ready() {
            return Ok(());
        }
        procs.check_alive(watch)?;
        if Instant::now() > deadline {
            bail!("{what} within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP port nobody listens on right now (the kernel's pick; released before use).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether something listens on `port` (from /proc/net/tcp and tcp6: state 0A).
pub(crate) fn tcp_listening(port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).unwrap_or_default().lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&want) && fields[3] == "0A"
        })
    })
}

/// Bytes sent and acknowledged so far on the established TCP connections from local `port`:
/// the server's side of the client's connection, from `ss -tin` (tcp_info).
pub(crate) fn tcp_bytes(port: u16) -> anyhow::Result<(u64, u64)> {
    let out = Command::new("ss")
        .args(["-tinH", "state", "established", &format!("( sport = :{port} )")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("running ss")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let connections = text.lines().filter(|l| !l.starts_with(char::is_whitespace) && !l.is_empty()).count();
    if connections == 0 {
        bail!("no client connection on port {port} (ss -tin)");
    }
    let (mut sent, mut acked) = (0, 0);
    for word in text.split_whitespace() {
        if let Some(v) = word.strip_prefix("bytes_sent:") {
            sent += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = word.strip_prefix("bytes_acked:") {
            acked += v.parse::<u64>().unwrap_or(0);
        }
    }
    Ok((sent, acked))
}
