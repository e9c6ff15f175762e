#!/usr/bin/env bash
# Builds wayrail and wayrail-bench in release and prints the benchmark figures: composition
# cost per window and per output, the compositor's wakeups with idle and animating clients,
# and the RDP scenarios (weston-simple-shm, a terminal flood, a full-HD animation, typing, ten
# windows), one table each with a row per server: wayrail, wayrail with H.264 off, Weston 14's
# RDP backend, and in RemoteApp wayrail next to WSLg's compositor where it is built (same
# xfreerdp3 client and seconds: server CPU per frame, frames/s at the client, bytes per frame,
# commit → last byte on the socket p50/p99); then input latency (wr-input-bench: host key →
# app commit → frame on the socket with the IronRDP test client), then RemoteApp
# (wr-rail-bench: first commit to EGFX EndFrame latency and bytes per frame at the IronRDP
# test client for a probe window's changes; then EGFX, VAIL and a WSLg-style whole-window VAIL
# copy side by side, each through the probe's changes and 10 s each of typing in foot and
# weston-simple-shm: frames, commit -> PresentBuffer/EndFrame written p50/p99 timed inside
# wayrail, commit -> frame at the client (probe only), bytes per frame (VAIL copied, EGFX on
# the wire), wayrail's CPU per frame), then the clipboard (wr-clip-bench: paste latency both
# ways for 1 KB and 20 MB), then sound (wr-audio-bench: a minute of playback, app write to host
# latency and underruns). Takes about 12 minutes. Every part prints the load average: figures
# from a busy machine are noisy.
# Arguments go to wayrail-bench (see `--help`): e.g. `scripts/bench.sh rdp` for the RDP
# scenarios alone, `--skip-rdp`, `--rdp-secs 10`, `--rdp-scenarios typing,ten-windows`.
# WAYRAIL_BENCH_SKIP_INPUT=1 skips input latency, WAYRAIL_BENCH_SKIP_RAIL=1 RemoteApp,
# WAYRAIL_BENCH_SKIP_CLIPBOARD=1 the clipboard, WAYRAIL_BENCH_SKIP_AUDIO=1 the sound.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh test
. scripts/rust-env.sh
cargo build --locked --release -p wayrail -p wayrail-bench --bins
cargo build --locked --release -p wayrail-e2e --bin wr-input-bench --bin wr-rail-bench --bin wr-clip-bench \
  --bin wr-audio-bench
WAYRAIL_BENCH_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo +dirty)"
export WAYRAIL_BENCH_REV
release="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
"$release/wayrail-bench" "$@"
case " $* " in *" --help "* | *" -h "*) exit 0 ;; esac
if [ -z "${WAYRAIL_BENCH_SKIP_INPUT:-}" ]; then
  echo
  WAYRAIL_BIN="$release/wayrail" "$release/wr-input-bench"
fi
if [ -z "${WAYRAIL_BENCH_SKIP_RAIL:-}" ]; then
  echo
  WAYRAIL_BIN="$release/wayrail" "$release/wr-rail-bench"
fi
if [ -z "${WAYRAIL_BENCH_SKIP_CLIPBOARD:-}" ]; then
  echo
  WAYRAIL_BIN="$release/wayrail" "$release/wr-clip-bench"
fi
if [ -z "${WAYRAIL_BENCH_SKIP_AUDIO:-}" ]; then
  echo
  WAYRAIL_BIN="$release/wayrail" "$release/wr-audio-bench"
fi
