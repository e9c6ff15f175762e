//! The stable smoke run of every fuzz target, part of `cargo test`: each target gets its
//! committed seeds and regression inputs, then inputs mutated from them by a seeded xorshift
//! (bit flips, byte changes, truncation, splices, insertions) for a bounded time.
//!
//! `WAYRAIL_FUZZ_SECS` sets the time per target (default 5 s), `WAYRAIL_FUZZ_SEED` the
//! generator's seed; `WAYRAIL_FUZZ_REPORT` names a file each target appends its figures to.
//! A crashing input is written to `target/fuzz-smoke-crashes/<target>/` before the test fails.

use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that make decoders take their edge cases.
const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xfe, 0xff];

fn mutate(rng: &mut XorShift, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        match rng.below(8) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next() as u8;
            }
            3 => input.truncate(rng.below(input.len() + 1)),
            4 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let (at, from) = (rng.below(input.len() + 1), rng.below(other.len() + 1));
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            5 => {
                let at = rng.below(input.len() + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(at..at, bytes);
            }
            6 if input.len() >= 2 => {
                let i = rng.below(input.len() - 1);
                let v = (rng.next() as u16).to_le_bytes();
                input[i..i + 2].copy_from_slice(&v);
            }
            _ if !input.is_empty() => {
                let (a, b) = (rng.below(input.len()), rng.below(input.len()));
                let (a, b) = (a.min(b), a.max(b));
                let copy = input[a..b].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, copy);
            }
            _ => input.push(rng.next() as u8),
        }
    }
    input.truncate(64 * 1024);
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Runs one input; a panic saves it and fails the test.
fn run_one(name: &str, run: fn(&[u8]), input: &[u8]) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| run(input))).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-smoke-crashes").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let hash = input.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3));
        let path = dir.join(format!("crash-{hash:016x}"));
        std::fs::write(&path, input).unwrap();
        panic!("fuzz target {name} crashed on {} bytes, saved as {}", input.len(), path.display());
    }
}

fn smoke(name: &str) {
    let target = wayrail_fuzz::target(name);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = files(&root.join("corpus").join(name));
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/{name}");
    let regressions = files(&root.join("regressions").join(name));
    for (_, input) in seeds.iter().chain(&regressions) {
        run_one(name, target.run, input);
    }
    let secs: f64 = std::env::var("WAYRAIL_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let seed: u64 = std::env::var("WAYRAIL_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_f00d);
    let name_hash = name.bytes().fold(seed, |h, b| h.rotate_left(5) ^ b as u64);
    let mut rng = XorShift(name_hash | 1);
    let pool: Vec<Vec<u8>> = seeds.iter().chain(&regressions).map(|(_, b)| b.clone()).collect();
    let start = Instant::now();
    let budget = Duration::from_secs_f64(secs);
    let mut execs = 0u64;
    while start.elapsed() < budget {
        let mut input = match rng.below(16) {
            0 => (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
            _ => pool[rng.below(pool.len())].clone(),
        };
        mutate(&mut rng, &pool, &mut input);
        run_one(name, target.run, &input);
        execs += 1;
    }
    let line = format!(
        "fuzz smoke {name}: {} seeds, {} regressions, {execs} mutated executions in {:.1} s, 0 crashes",
        seeds.len(),
        regressions.len(),
        start.elapsed().as_secs_f64()
    );
    // Straight to stderr: the figures show in CI logs even though the test passes.
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Ok(report) = std::env::var("WAYRAIL_FUZZ_REPORT") {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(report).unwrap();
        let _ = writeln!(f, "{line}");
    }
}

#[test]
fn every_target_has_a_smoke_test() {
    let names = [
        "rail_channel",
        "rail_host",
        "monitors",
        "layout",
        "clipboard_formats",
        "reassembly",
        "exec_entry",
        "desktop_icon",
        "png_icon",
        "x11_icon",
        "ipc_request",
        "pre_auth",
        "gfxredir",
        "applist",
        "parse_uri_list",
        "decode_host_list",
        "sanitize_host_name",
    ];
    let targets: Vec<&str> = wayrail_fuzz::TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(targets, names);
}

/// The pre-auth target reaches the acceptor: a connection request asking for TLS is
/// answered with a connection confirm (a TPKT with an X.224 CC).
#[test]
fn pre_auth_target_reaches_the_acceptor() {
    let request = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/pre_auth/tls")).unwrap();
    let reply = wayrail_fuzz::pre_auth_reply(&request);
    assert!(reply.len() > 7 && reply[0] == 3 && reply[5] == 0xd0, "reply {reply:02x?}");
    assert!(wayrail_fuzz::pre_auth_reply(b"").is_empty());
}

macro_rules! smoke_tests {
    ($($name:ident),*) => {
        $(#[test]
        fn $name() {
            smoke(stringify!($name));
        })*
    };
}

wayrail_fuzz::with_targets!(smoke_tests);
