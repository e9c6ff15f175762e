//! RAIL Exec: which requests may run ([`decide`]: RemoteApp sessions only, a rate limit,
//! the `[rail] exec` policy), and turning one into a command line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Splits an argument string the way a shell would for plain words and quotes: spaces
/// separate, "double" and 'single' quotes group, a backslash escapes the next character
/// outside single quotes.
pub fn split_arguments(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => match chars.next() {
                Some(n) => {
                    cur.push(n);
                    in_word = true;
                }
                None => return Err("a backslash at the end".into()),
            },
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("an unclosed quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// The program and its arguments for an Exec of `executable` with `arguments`. A client may
/// put a whole command line into the executable field (`/app:program:"foot -e top"`); with
/// no separate arguments that is split too.
pub fn command_line(executable: &str, arguments: &str) -> Result<(String, Vec<String>), String> {
    let executable = executable.trim();
    if executable.is_empty() {
        return Err("no program given".into());
    }
    let mut args = split_arguments(arguments)?;
    let program = if arguments.trim().is_empty()
        && executable.contains(char::is_whitespace)
        && !std::path::Path::new(executable).exists()
    {
        let mut words = split_arguments(executable)?;
        if words.is_empty() {
            return Err("no program given".into());
        }
        let program = words.remove(0);
        words.append(&mut args);
        args = words;
        program
    } else {
        executable.to_string()
    };
    Ok((program, args))
}

/// Which programs a RemoteApp host may start (`[rail] exec`). The policy is about the
/// program only: its arguments are the host's to choose, so a terminal let in runs anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecPolicy {
    /// Whatever the host names.
    Any,
    /// Programs that have a desktop entry, and the ones in `also`: bare names (as found on
    /// PATH) or absolute paths.
    DesktopEntries { also: Vec<String> },
}

impl Default for ExecPolicy {
    fn default() -> Self {
        ExecPolicy::DesktopEntries { also: Vec::new() }
    }
}

/// Why an Exec was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Exec is for RemoteApp sessions; a full desktop has its own ways to start programs.
    NotRemoteApp,
    /// More Execs than the session's rate limit lets through.
    TooFrequent,
    /// The program is outside the policy.
    NotAllowed,
    /// A relative path with a directory in it (`bin/x`): what it names depends on the
    /// working directory, which the host chooses.
    RelativePath,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotRemoteApp => "Exec is for RemoteApp sessions only",
            Refusal::TooFrequent => "too many Execs in a short time",
            Refusal::NotAllowed => "not a program with a desktop entry nor in [rail] exec",
            Refusal::RelativePath => "a relative path to a program",
        })
    }
}

/// A token bucket: `capacity` requests at once, then one more every `every`.
#[derive(Debug, Clone)]
pub struct RateLimit {
    capacity: u32,
    every: Duration,
    tokens: u32,
    /// When the next token is counted from.
    since: Option<Instant>,
}

impl RateLimit {
    pub fn new(capacity: u32, every: Duration) -> RateLimit {
        RateLimit { capacity, every: every.max(Duration::from_millis(1)), tokens: capacity, since: None }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let since = *self.since.get_or_insert(now);
        if self.tokens < self.capacity {
            let elapsed = now.saturating_duration_since(since);
            let earned = (elapsed.as_nanos() / self.every.as_nanos()).min(u128::from(self.capacity)) as u32;
            if earned > 0 {
                self.tokens = (self.tokens + earned).min(self.capacity);
                self.since = Some(since + self.every * earned);
            }
        }
        if self.tokens == self.capacity {
            // A full bucket earns nothing more: the next token is counted from now.
            self.since = Some(now);
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

impl Default for RateLimit {
    /// At most 5 Execs at once, then one every 2 s (5 per 10 s).
    fn default() -> Self {
        RateLimit::new(5, Duration::from_secs(2))
    }
}

/// Whether an Exec of `program` may run: only in a RemoteApp session, within the session's
/// rate limit (every request counts, refused ones too), and inside `policy`. `known` lists
/// the programs of the desktop entries (see [`entry_programs`]) and is asked only when the
/// policy needs it; `locate` says which file a program name or absolute path starts (None
/// when none), so that `xterm` and `/usr/bin/xterm` are the same program.
pub fn decide(
    remote_app: bool,
    rate: &mut RateLimit,
    now: Instant,
    policy: &ExecPolicy,
    program: &str,
    known: impl FnOnce() -> Vec<String>,
    locate: impl Fn(&str) -> Option<PathBuf>,
) -> Result<(), Refusal> {
    if !remote_app {
        return Err(Refusal::NotRemoteApp);
    }
    if !rate.take(now) {
        return Err(Refusal::TooFrequent);
    }
    let also = match policy {
        ExecPolicy::Any => return Ok(()),
        ExecPolicy::DesktopEntries { also } => also,
    };
    if program.contains('/') && !Path::new(program).is_absolute() {
        return Err(Refusal::RelativePath);
    }
    let located = locate(program);
    // The same name, or a name or absolute path for the same file.
    let same = |allowed: &str| {
        let comparable = !allowed.contains('/') || Path::new(allowed).is_absolute();
        allowed == program || (comparable && located.is_some() && locate(allowed) == located)
    };
    if also.iter().any(|a| same(a)) || known().iter().any(|a| same(a)) {
        Ok(())
    } else {
        Err(Refusal::NotAllowed)
    }
}

/// Programs that only run what their arguments say: a desktop entry starting one through
/// them stands for the program it names, not for them.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh"];

/// The programs a desktop entry lets the host start, from its `Exec=` split into words
/// (unquoted, field codes gone) and its `TryExec=`: the first word, or with `env` in front
/// the first word after its options and `NAME=value` settings. A shell there stands for a
/// script, not for itself, and lets nothing in.
pub fn entry_programs(exec: &[String], try_exec: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut words = exec.iter().map(|w| w.as_str());
    let mut program = words.next();
    if program.is_some_and(|w| base_name(w) == "env") {
        program = None;
        while let Some(w) = words.next() {
            match w {
                // These take a value.
                "-u" | "--unset" | "-C" | "--chdir" => {
                    words.next();
                }
                "--" => {
                    program = words.next();
                    break;
                }
                // `-S`/`--split-string` packs a command line into one word: nothing is taken.
                w if w.starts_with("-S") || w.starts_with("--split-string") => break,
                w if w.starts_with('-') || w.contains('=') => {}
                w => {
                    program = Some(w);
                    break;
                }
            }
        }
    }
    if let Some(first) = program.filter(|w| !w.is_empty() && !SHELLS.contains(&base_name(w))) {
        out.push(first.to_string());
    }
    if let Some(t) = try_exec.map(str::trim).filter(|t| !t.is_empty()) {
        if !out.iter().any(|p| p == t) {
            out.push(t.to_string());
        }
    }
    out
}

fn base_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_arguments(s).unwrap()
    }

    /// A PATH of /usr/bin with foot, xterm and true; `/bin` is `/usr/bin` (merged /usr).
    fn locate(program: &str) -> Option<PathBuf> {
        let known = ["foot", "xterm", "true"];
        let program = &program.replace("/bin/../bin/", "/bin/");
        let name = program.strip_prefix("/usr/bin/").or_else(|| program.strip_prefix("/bin/")).unwrap_or(program);
        if program.contains('/') && name == program {
            return (program == "/opt/tool/bin/tool").then(|| PathBuf::from(program));
        }
        known.contains(&name).then(|| PathBuf::from(format!("/usr/bin/{name}")))
    }

    fn entries() -> Vec<String> {
        vec!["foot".into(), "/usr/bin/xterm".into()]
    }

    fn check(policy: &ExecPolicy, program: &str) -> Result<(), Refusal> {
        decide(true, &mut RateLimit::default(), Instant::now(), policy, program, entries, locate)
    }

    #[test]
    fn programs_with_desktop_entries_run_by_default() {
        let policy = ExecPolicy::default();
        // By name or by path, whichever way the entry names them.
        for program in ["foot", "/usr/bin/foot", "/bin/foot", "xterm", "/usr/bin/xterm", "/usr/bin/../bin/xterm"] {
            assert_eq!(check(&policy, program), Ok(()), "{program}");
        }
        for program in ["true", "/usr/bin/true", "/tmp/foot", "sh", "wayrail-no-such"] {
            assert_eq!(check(&policy, program), Err(Refusal::NotAllowed), "{program}");
        }
        // What a relative path names depends on the working directory the host chose.
        assert_eq!(check(&policy, "bin/foot"), Err(Refusal::RelativePath));
        assert_eq!(check(&policy, "./foot"), Err(Refusal::RelativePath));
    }

    #[test]
    fn the_config_adds_names_and_paths() {
        let policy = ExecPolicy::DesktopEntries { also: vec!["true".into(), "/opt/tool/bin/tool".into()] };
        for program in ["foot", "true", "/bin/true", "/opt/tool/bin/tool"] {
            assert_eq!(check(&policy, program), Ok(()), "{program}");
        }
        // Not found anywhere, but named as such: the spawn tells it is missing.
        let policy = ExecPolicy::DesktopEntries { also: vec!["wayrail-no-such".into()] };
        assert_eq!(check(&policy, "wayrail-no-such"), Ok(()));
        assert_eq!(check(&policy, "/usr/bin/wayrail-no-such"), Err(Refusal::NotAllowed));
        assert_eq!(check(&policy, "tool"), Err(Refusal::NotAllowed));
    }

    #[test]
    fn any_lets_everything_through_but_not_outside_remote_app_or_too_often() {
        assert_eq!(check(&ExecPolicy::Any, "/tmp/anything"), Ok(()));
        assert_eq!(check(&ExecPolicy::Any, "bin/x"), Ok(()));
        let mut rate = RateLimit::default();
        let now = Instant::now();
        for policy in [ExecPolicy::Any, ExecPolicy::default()] {
            let refused = decide(false, &mut rate, now, &policy, "foot", entries, locate);
            assert_eq!(refused, Err(Refusal::NotRemoteApp));
        }
    }

    #[test]
    fn desktop_entries_are_read_only_when_needed() {
        let mut rate = RateLimit::default();
        let now = Instant::now();
        let unread = || -> Vec<String> { panic!("the desktop entries were read") };
        assert_eq!(decide(true, &mut rate, now, &ExecPolicy::Any, "foot", unread, locate), Ok(()));
        let policy = ExecPolicy::DesktopEntries { also: vec!["foot".into()] };
        assert_eq!(decide(true, &mut rate, now, &policy, "foot", unread, locate), Ok(()));
        assert_eq!(decide(false, &mut rate, now, &policy, "xterm", unread, locate), Err(Refusal::NotRemoteApp));
    }

    #[test]
    fn at_most_five_execs_per_ten_seconds() {
        let start = Instant::now();
        let mut rate = RateLimit::default();
        let policy = ExecPolicy::Any;
        let at = |s: f64| start + Duration::from_secs_f64(s);
        for i in 0..5 {
            assert_eq!(decide(true, &mut rate, at(0.1 * i as f64), &policy, "foot", entries, locate), Ok(()));
        }
        assert_eq!(decide(true, &mut rate, at(0.6), &policy, "foot", entries, locate), Err(Refusal::TooFrequent));
        assert_eq!(decide(true, &mut rate, at(1.9), &policy, "foot", entries, locate), Err(Refusal::TooFrequent));
        // One more every 2 s.
        assert_eq!(decide(true, &mut rate, at(2.1), &policy, "foot", entries, locate), Ok(()));
        assert_eq!(decide(true, &mut rate, at(2.2), &policy, "foot", entries, locate), Err(Refusal::TooFrequent));
        // Refused requests count too: a flood keeps the bucket empty.
        let mut t = 2.2;
        let mut passed = 0;
        while t < 12.2 {
            t += 0.05;
            passed += u32::from(rate.take(at(t)));
        }
        assert_eq!(passed, 5, "5 in 10 s");
        // A quiet minute fills the bucket, and no further.
        let mut took = 0;
        while rate.take(at(72.0)) {
            took += 1;
        }
        assert_eq!(took, 5);
    }

    #[test]
    fn programs_of_desktop_entries() {
        assert_eq!(entry_programs(&words("foot"), None), vec!["foot"]);
        assert_eq!(entry_programs(&words("/usr/bin/xterm -ls"), Some("xterm")), vec!["/usr/bin/xterm", "xterm"]);
        assert_eq!(entry_programs(&words("\"/opt/My App/app\" --x"), None), vec!["/opt/My App/app"]);
        assert_eq!(entry_programs(&words("vim"), Some("vim")), vec!["vim"]);
        assert_eq!(entry_programs(&words("env GDK_BACKEND=x11 -i gimp"), None), vec!["gimp"]);
        assert_eq!(entry_programs(&words("/usr/bin/env -u FOO -- app"), None), vec!["app"]);
        assert_eq!(entry_programs(&words("env -u FOO app"), None), vec!["app"]);
        assert_eq!(entry_programs(&words("env -S 'a b'"), None), Vec::<String>::new());
        assert_eq!(entry_programs(&words("env A=1"), None), Vec::<String>::new());
        // A shell runs a script here: it does not let itself in, its TryExec does.
        assert_eq!(entry_programs(&words("sh -c 'x; y'"), Some("y")), vec!["y"]);
        assert_eq!(entry_programs(&words("/bin/bash -c y"), None), Vec::<String>::new());
        assert_eq!(entry_programs(&[], Some("  ")), Vec::<String>::new());
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split_arguments(r#"-e "top -d 1" 'a b' c\ d"#).unwrap(), vec!["-e", "top -d 1", "a b", "c d"]);
        assert_eq!(split_arguments("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_arguments(r#""""#).unwrap(), vec![""]);
        assert!(split_arguments("'open").is_err());
        assert!(split_arguments("end\\").is_err());
    }

    #[test]
    fn command_lines() {
        assert_eq!(command_line("foot", "").unwrap(), ("foot".into(), vec![]));
        assert_eq!(command_line("foot -e top", "").unwrap(), ("foot".into(), vec!["-e".into(), "top".into()]));
        assert_eq!(
            command_line("xterm", "-T 'my term'").unwrap(),
            ("xterm".into(), vec!["-T".into(), "my term".into()])
        );
        assert!(command_line("  ", "").is_err());
    }
}
