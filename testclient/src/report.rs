//! What the benchmarks print above their figures: the date, the revision, the machine and its
//! load (other work on the machine skews every figure).

use std::time::{SystemTime, UNIX_EPOCH};

/// `/proc/cpuinfo`'s model name.
pub fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown (no model name in /proc/cpuinfo)".into())
}

/// How many CPUs this process may use.
pub fn cpus() -> String {
    std::thread::available_parallelism().map_or_else(|e| format!("unknown ({e})"), |n| n.to_string())
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// `WAYRAIL_BENCH_REV` (scripts/bench.sh sets it to the git revision), when set.
pub fn revision() -> Option<String> {
    std::env::var("WAYRAIL_BENCH_REV").ok().filter(|r| !r.is_empty())
}

/// The `date:` and (when known) `revision:` lines every benchmark starts with.
pub fn print_date_and_revision() {
    println!("date:         {}", utc_now());
    if let Some(rev) = revision() {
        println!("revision:     {rev}");
    }
}

/// The one numeric option of a benchmark (`--frames N`): its value, `default` without it, or
/// None after printing `usage` for `-h` / `--help`.
pub fn count_option(args: &[String], flag: &str, default: usize, usage: &str) -> anyhow::Result<Option<usize>> {
    let mut value = default;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(None);
            }
            a if a == flag => {
                let n = it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a number"))?;
                value = n.parse().map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
            }
            other => anyhow::bail!("unknown argument {other:?} (see --help)"),
        }
    }
    Ok(Some(value))
}

/// [`count_option`] of this program's own arguments.
pub fn count_arg(flag: &str, default: usize, usage: &str) -> anyhow::Result<Option<usize>> {
    count_option(&std::env::args().skip(1).collect::<Vec<_>>(), flag, default, usage)
}

/// The current time as `YYYY-MM-DD hh:mm:ss UTC`.
pub fn utc_now() -> String {
    utc(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64)
}

/// Seconds since the epoch as `YYYY-MM-DD hh:mm:ss UTC` (civil-from-days, proleptic Gregorian).
pub fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_options() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(count_option(&args(&[]), "--runs", 10, "").unwrap(), Some(10));
        assert_eq!(count_option(&args(&["--runs", "3"]), "--runs", 10, "").unwrap(), Some(3));
        assert_eq!(count_option(&args(&["--help"]), "--runs", 10, "usage").unwrap(), None);
        assert!(count_option(&args(&["--runs"]), "--runs", 10, "").is_err());
        assert!(count_option(&args(&["--runs", "x"]), "--runs", 10, "").is_err());
        assert!(count_option(&args(&["--frames", "3"]), "--runs", 10, "").is_err());
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1796428799), "2026-12-04 23:59:59 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
