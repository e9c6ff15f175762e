#!/usr/bin/env bash
# Builds wayrail and wayrail-bench in release and prints the benchmark figures: composition
# cost per window and per output, the compositor's wakeups with idle and animating clients,
# and the RDP comparison with Weston 14's RDP backend (same xfreerdp3 client, same app: CPU
# per frame, frames/s at the client, bytes per frame). Takes about 100 s. Arguments go to
# wayrail-bench (see `--help`): e.g. `scripts/bench.sh rdp` for the RDP comparison alone,
# `--skip-rdp`, `--rdp-secs 10`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh test
. scripts/rust-env.sh
cargo build --locked --release -p wayrail-compositor --bins --features bench
WAYRAIL_BENCH_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo +dirty)" \
  exec target/release/wayrail-bench "$@"
