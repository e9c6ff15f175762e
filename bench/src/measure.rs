//! Counters of one session at two moments, and what happened between them.

use std::time::{Duration, Instant};

use crate::apps::monotonic_ns;
use crate::procs::{rates, tcp_bytes, usage, Usage};
use crate::rdp_log::{decoded, Decoded};
use crate::relay::{app_commits, wayland_debug_commits, Latency};
use crate::servers::Session;
use crate::sleep;
use crate::xdamage::DamageCount;

/// How an app's log tells its commits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitLog {
    /// `WAYLAND_DEBUG=client` lines (weston-simple-shm, foot).
    WaylandDebug,
    /// The bench's own apps: `commit SEQ NS`.
    Bench,
}

/// An app whose commits the run counts: its log's name in the session and how to read it.
#[derive(Clone)]
pub(crate) struct AppLog {
    pub(crate) name: String,
    pub(crate) kind: CommitLog,
}

/// Every counter at one moment.
pub(crate) struct Sample {
    at: Instant,
    ns: u64,
    usage: Usage,
    client_usage: Usage,
    sent: u64,
    acked: u64,
    damage: DamageCount,
    client_log: u64,
    relay: usize,
    app_logs: Vec<u64>,
}

pub(crate) fn take_sample(s: &mut Session, apps: &[AppLog]) -> anyhow::Result<Sample> {
    let damage = s.counter.mark()?;
    let at = Instant::now();
    let ns = monotonic_ns();
    let server_usage = usage(s.server_pid)?;
    let client_usage = match s.procs.pid("xfreerdp3") {
        Some(pid) => usage(pid)?,
        None => Usage::default(),
    };
    let (sent, acked) = tcp_bytes(s.server_port)?;
    Ok(Sample {
        at,
        ns,
        usage: server_usage,
        client_usage,
        sent,
        acked,
        damage,
        client_log: s.procs.log_len("xfreerdp3"),
        relay: s.relay.mark(),
        app_logs: apps.iter().map(|a| s.procs.log_len(&a.name)).collect(),
    })
}

/// What runs while a span is counted, in place of sleeping: it returns host key presses.
pub(crate) type During<'a> = dyn FnMut(&mut Session) -> anyhow::Result<Vec<u64>> + 'a;

/// The counters over `secs` seconds, with the `watch`ed processes alive at both ends: the
/// first sample and the span. `during` runs in place of sleeping (it must take `secs`); it
/// returns host key presses, if any.
pub(crate) fn measure(
    s: &mut Session,
    apps: &[AppLog],
    watch: &[&str],
    secs: f64,
    during: Option<&mut During<'_>>,
) -> anyhow::Result<(Sample, Span)> {
    s.procs.check_alive(watch)?;
    let a = take_sample(s, apps)?;
    let keys = match during {
        Some(f) => f(s)?,
        None => {
            sleep(Duration::from_secs_f64(secs))?;
            Vec::new()
        }
    };
    let b = take_sample(s, apps)?;
    s.procs.check_alive(watch)?;
    let span = Span::new(s, apps, &a, &b, keys);
    Ok((a, span))
}

pub(crate) struct Span {
    pub(crate) secs: f64,
    /// From utime+stime (/proc/PID/stat), % of one CPU.
    pub(crate) cpu_percent: f64,
    /// From schedstat (ms precision); from utime+stime when schedstat is missing.
    pub(crate) cpu_ms: f64,
    /// Client CPU (xfreerdp3, all threads), % of one CPU.
    pub(crate) client_cpu_percent: f64,
    pub(crate) frames: u64,
    pub(crate) late: u64,
    pub(crate) damage_events: u64,
    pub(crate) damage_area: u64,
    pub(crate) sent: u64,
    pub(crate) acked: u64,
    pub(crate) decoded: Decoded,
    /// Commits of each app in the span.
    pub(crate) app_commits: Vec<usize>,
    /// Commit → end of the server's next burst on the socket, each app's commits matched to
    /// the bursts on their own, the figures of all apps together.
    pub(crate) latency: Latency,
    /// Host key press → the app's commit that drew it, ms, sorted (typing only).
    pub(crate) key_to_commit: Vec<f64>,
    /// Host key press → the end of the burst that carried its commit, ms, sorted.
    pub(crate) key_to_socket: Vec<f64>,
}

impl Span {
    pub(crate) fn new(s: &Session, apps: &[AppLog], a: &Sample, b: &Sample, keys: Vec<u64>) -> Span {
        let secs = (b.at - a.at).as_secs_f64();
        let r = rates(a.usage, b.usage, secs);
        let bursts = s.relay.bursts(a.relay);
        let bursts: Vec<_> = bursts.into_iter().filter(|b0| b0.0 <= b.ns).collect();
        let mut all_commits = Vec::new();
        let mut app_commits_n = Vec::new();
        // Each app's commits are matched on their own: one burst carries every window's frame.
        let mut latency = Latency::default();
        for (i, app) in apps.iter().enumerate() {
            // The whole log: a commit's line may be written before the first sample's length
            // was read but carry a time after it; the times decide.
            let log = s.procs.log_range(&app.name, 0, b.app_logs[i]);
            let commits = match app.kind {
                CommitLog::WaylandDebug => wayland_debug_commits(&log),
                CommitLog::Bench => app_commits(&log),
            };
            let inside: Vec<u64> = commits.into_iter().filter(|&c| c >= a.ns && c <= b.ns).collect();
            app_commits_n.push(inside.len());
            let one = Latency::of(&inside, &bursts);
            latency.ms.extend(one.ms);
            latency.coalesced += one.coalesced;
            latency.unmatched += one.unmatched;
            all_commits.extend(inside);
        }
        all_commits.sort_unstable();
        latency.ms.sort_by(f64::total_cmp);
        // Typing: each key press is matched to the first commit after it, and that commit to
        // the first burst that started after it.
        let (mut key_to_commit, mut key_to_socket) = (Vec::new(), Vec::new());
        for (i, &k) in keys.iter().enumerate() {
            let next_key = keys.get(i + 1).copied().unwrap_or(u64::MAX);
            let Some(&c) = all_commits.iter().find(|&&c| c >= k && c < next_key) else { continue };
            key_to_commit.push((c - k) as f64 / 1e6);
            if let Some(burst) = bursts.iter().find(|b0| b0.0 >= c) {
                key_to_socket.push((burst.1 - k) as f64 / 1e6);
            }
        }
        key_to_commit.sort_by(f64::total_cmp);
        key_to_socket.sort_by(f64::total_cmp);
        Span {
            secs,
            cpu_percent: r.cpu_percent,
            cpu_ms: if r.cpu_ms > 0.0 { r.cpu_ms } else { r.cpu_percent * secs * 10.0 },
            client_cpu_percent: rates(a.client_usage, b.client_usage, secs).cpu_percent,
            frames: b.damage.bursts - a.damage.bursts,
            late: b.damage.late - a.damage.late,
            damage_events: b.damage.events - a.damage.events,
            damage_area: b.damage.area - a.damage.area,
            sent: b.sent.saturating_sub(a.sent),
            acked: b.acked.saturating_sub(a.acked),
            decoded: decoded(&s.procs.log_range("xfreerdp3", a.client_log, b.client_log)),
            app_commits: app_commits_n,
            latency,
            key_to_commit,
            key_to_socket,
        }
    }

    pub(crate) fn fps(&self) -> f64 {
        self.frames as f64 / self.secs
    }

    pub(crate) fn per_frame(&self, v: f64) -> Option<f64> {
        (self.frames > 0).then(|| v / self.frames as f64)
    }

    /// Commits per second of each app: (mean, lowest).
    pub(crate) fn app_fps(&self) -> Option<(f64, f64)> {
        let n = self.app_commits.len();
        (n > 0).then(|| {
            let per: Vec<f64> = self.app_commits.iter().map(|&c| c as f64 / self.secs).collect();
            (per.iter().sum::<f64>() / n as f64, per.iter().copied().fold(f64::INFINITY, f64::min))
        })
    }
}
