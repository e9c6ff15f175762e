//! The children wayraild keeps running and what it remembers of each: its process, when it
//! started and exited, and when it may start again. A child that exits is started again
//! after a back-off that doubles from 100 ms up to 30 s (and starts over once a run lasted
//! 30 s); one that exits `limit` times within `window` is stopped for good, with the reason.

use std::collections::VecDeque;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

/// How many start and exit times the status keeps per child.
const HISTORY: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Audio,
    Wayrail,
    HostClient,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Audio => "audio",
            Role::Wayrail => "wayrail",
            Role::HostClient => "host-client",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RestartPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A run at least this long starts the back-off over.
    pub stable_after: Duration,
    pub limit: u32,
    pub window: Duration,
}

impl RestartPolicy {
    pub fn new(limit: u32, window: Duration) -> RestartPolicy {
        RestartPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            stable_after: Duration::from_secs(30),
            limit,
            window,
        }
    }
}

/// What to do after an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterExit {
    RestartIn(Duration),
    Stop(String),
}

pub struct Supervised {
    pub role: Role,
    pub argv: Vec<String>,
    pub process: Option<Child>,
    started: Option<Instant>,
    /// Wall-clock start and exit times (Unix milliseconds), the last [`HISTORY`].
    pub starts: VecDeque<u64>,
    pub exit_times: VecDeque<u64>,
    /// Exits inside the crash-loop window.
    recent_exits: VecDeque<Instant>,
    pub restarts: u32,
    pub last_exit: Option<String>,
    /// When it may start next (None: not scheduled).
    pub next_start: Option<Instant>,
    delay: Duration,
    /// Why it was stopped for good.
    pub stopped: Option<String>,
    /// wayrail only: it said READY=1 since it started.
    pub ready: bool,
    pub ready_deadline: Option<Instant>,
    /// Why the supervisor killed it, when it did (the exit reason says so).
    pub killed_because: Option<String>,
}

impl Supervised {
    pub fn new(role: Role, argv: Vec<String>) -> Supervised {
        Supervised {
            role,
            argv,
            process: None,
            started: None,
            starts: VecDeque::new(),
            exit_times: VecDeque::new(),
            recent_exits: VecDeque::new(),
            restarts: 0,
            last_exit: None,
            next_start: Some(Instant::now()),
            delay: Duration::ZERO,
            stopped: None,
            ready: false,
            ready_deadline: None,
            killed_because: None,
        }
    }

    pub fn name(&self) -> &'static str {
        self.role.name()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    pub fn running(&self) -> bool {
        self.process.is_some()
    }

    /// Records a start now.
    pub fn started(&mut self, process: Child, now: Instant) {
        if self.started.is_some() || !self.starts.is_empty() {
            self.restarts += 1;
        }
        self.process = Some(process);
        self.started = Some(now);
        self.next_start = None;
        self.ready = false;
        self.killed_because = None;
        push(&mut self.starts, unix_ms());
    }

    /// Records an exit at `now` and decides what follows.
    pub fn exited(&mut self, status: ExitStatus, now: Instant, policy: &RestartPolicy) -> AfterExit {
        self.ended(describe_exit(status), now, policy)
    }

    /// Records a start that failed (the program is missing): it counts as an exit.
    pub fn failed_to_start(&mut self, why: String, now: Instant, policy: &RestartPolicy) -> AfterExit {
        push(&mut self.starts, unix_ms());
        self.started = Some(now);
        self.ended(format!("could not start: {why}"), now, policy)
    }

    fn ended(&mut self, mut reason: String, now: Instant, policy: &RestartPolicy) -> AfterExit {
        let ran = self.started.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        self.process = None;
        self.ready = false;
        self.ready_deadline = None;
        if let Some(why) = self.killed_because.take() {
            reason = format!("{why} ({reason})");
        }
        self.last_exit = Some(reason.clone());
        push(&mut self.exit_times, unix_ms());
        self.recent_exits.push_back(now);
        while self.recent_exits.front().is_some_and(|t| now.saturating_duration_since(*t) > policy.window) {
            self.recent_exits.pop_front();
        }
        let decision = decide(&mut self.delay, ran, self.recent_exits.len() as u32, policy);
        match &decision {
            AfterExit::RestartIn(delay) => self.next_start = Some(now + *delay),
            AfterExit::Stop(why) => {
                self.next_start = None;
                self.stopped = Some(format!("{why}; last exit: {reason}"));
            }
        }
        decision
    }

    pub fn uptime(&self, now: Instant) -> Option<Duration> {
        self.process.as_ref().and(self.started).map(|s| now.saturating_duration_since(s))
    }

    pub fn state(&self) -> &'static str {
        match (&self.process, &self.stopped, self.role) {
            (Some(_), _, Role::Wayrail) if !self.ready => "starting",
            (Some(_), _, _) => "running",
            (None, Some(_), _) => "stopped",
            (None, None, _) => "waiting",
        }
    }

    pub fn status_json(&self, now: Instant) -> Value {
        json!({
            "name": self.name(),
            "command": self.argv,
            "state": self.state(),
            "pid": self.pid(),
            "uptime_seconds": self.uptime(now).map(|d| d.as_secs_f64()),
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "stopped_because": self.stopped,
            "next_start_in_seconds": self.next_start.map(|t| t.saturating_duration_since(now).as_secs_f64()),
            "starts_unix_ms": self.starts,
            "exits_unix_ms": self.exit_times,
        })
    }
}

/// The back-off after an exit (kept in `delay`) and the crash-loop limit.
fn decide(delay: &mut Duration, ran: Duration, exits_in_window: u32, policy: &RestartPolicy) -> AfterExit {
    if exits_in_window >= policy.limit {
        return AfterExit::Stop(format!(
            "crash loop: {exits_in_window} exits within {} s",
            policy.window.as_secs_f64()
        ));
    }
    *delay = if delay.is_zero() || ran >= policy.stable_after {
        policy.first_delay
    } else {
        (*delay * 2).min(policy.max_delay)
    };
    AfterExit::RestartIn(*delay)
}

pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal} ({})", signal_name(signal)),
        _ => status.to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

fn push(history: &mut VecDeque<u64>, value: u64) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(value);
}

pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_to_thirty_seconds_and_starts_over_after_a_stable_run() {
        let policy = RestartPolicy::new(1000, Duration::from_secs(60));
        let mut delay = Duration::ZERO;
        let quick = Duration::from_millis(10);
        let delays: Vec<u64> = (0..12)
            .map(|_| match decide(&mut delay, quick, 1, &policy) {
                AfterExit::RestartIn(d) => d.as_millis() as u64,
                stop => panic!("{stop:?}"),
            })
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
        assert_eq!(decide(&mut delay, Duration::from_secs(31), 1, &policy), AfterExit::RestartIn(policy.first_delay));
    }

    #[test]
    fn ten_exits_in_a_minute_stop_the_child() {
        use std::os::unix::process::ExitStatusExt as _;
        let policy = RestartPolicy::new(10, Duration::from_secs(60));
        let mut child = Supervised::new(Role::HostClient, vec!["false".into()]);
        let start = Instant::now();
        let failed = ExitStatus::from_raw(1 << 8);
        for i in 0..9 {
            let now = start + Duration::from_secs(i * 5);
            assert!(matches!(child.exited(failed, now, &policy), AfterExit::RestartIn(_)), "exit {i}");
        }
        // The first exits have left the window by now: still restarted.
        assert!(matches!(child.exited(failed, start + Duration::from_secs(61), &policy), AfterExit::RestartIn(_)));
        match child.exited(failed, start + Duration::from_secs(62), &policy) {
            AfterExit::Stop(why) => assert!(why.contains("10 exits within 60 s"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(child.state(), "stopped");
        assert!(child.stopped.as_deref().unwrap().contains("exit status 1"), "{:?}", child.stopped);
        assert_eq!(child.next_start, None);
    }

    #[test]
    fn exits_are_described() {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(describe_exit(ExitStatus::from_raw(3 << 8)), "exit status 3");
        assert_eq!(describe_exit(ExitStatus::from_raw(9)), "killed by signal 9 (SIGKILL)");
    }
}
