//! [`Client`]: a process a test started, killed with its whole process group and reaped when
//! its guard drops.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::{file_tail, wait_until};

/// A process started by a test: its whole process group is killed and the process reaped
/// when the guard drops. Its stdout and stderr go to a log file unless the command set
/// them otherwise.
pub struct Client {
    pub name: String,
    pub child: Child,
    pub(crate) log: Option<PathBuf>,
    pub(crate) status: Option<ExitStatus>,
}

impl Client {
    /// Starts `cmd` in a process group of its own, stdout and stderr to `log`, no stdin: a
    /// guard that kills and reaps the group when dropped.
    pub fn spawn_logged(name: &str, mut cmd: Command, log: &Path) -> Client {
        let out = File::create(log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().map(Stdio::from).unwrap_or_else(|_| Stdio::null());
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Client { name: name.to_string(), child, log: Some(log.to_path_buf()), status: None }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the process (not its group).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with our own child's pid; it has not been reaped while we hold it.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// The exit status, once it has exited (reaping it). What the process left running in its
    /// process group is killed first, while the group id is still surely ours.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() && self.leader_exited() {
            let pid = self.child.id() as libc::pid_t;
            // The exited leader is a zombie until reaped below, so its pid (the group id) cannot
            // have been reused: this reaches only what it started.
            // SAFETY: killpg(2) on the group of our own unreaped child.
            unsafe { libc::killpg(pid, libc::SIGKILL) };
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Whether the process has exited, without reaping it.
    fn leader_exited(&self) -> bool {
        // SAFETY: waitid(2) with WNOWAIT only looks at our own child; siginfo_t is plain data.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(
                libc::P_PID,
                self.child.id() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            r == 0 && info.si_pid() != 0
        }
    }

    pub fn has_exited(&mut self) -> bool {
        self.try_status().is_some()
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_until(timeout, || self.has_exited());
        self.status
    }

    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.log.as_deref().map_or_else(String::new, |p| file_tail(p, lines))
    }

    pub fn log_text(&self) -> String {
        self.log
            .as_deref()
            .and_then(|p| fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub(crate) fn kill_and_reap(&mut self) {
        if self.status.is_some() {
            // Reaped by `try_status`, which ended the rest of the group first. The pid may
            // belong to somebody else by now: no signals to it.
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // The child leads its own process group (see `Compositor::spawn`), so this also ends
        // what it started (foot's shell). Its pid is not reused while we have not reaped it.
        // SAFETY: plain kill(2)/killpg(2) calls on a process we started and have not reaped.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
        self.status = self.child.wait().ok();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(log) = &self.log {
                eprintln!("---- last lines of {} ({}) ----\n{}", self.name, log.display(), file_tail(log, 30));
            }
        }
        self.kill_and_reap();
    }
}
