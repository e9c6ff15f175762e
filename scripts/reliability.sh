#!/usr/bin/env bash
# Reliability figures for wayrail (issue 12): fuzz executions and crashes per target, then
# wr-reliability against the release wayrail: a pre-auth flood of 200 connections while a real
# client connects (time to its first frame), a client that reads nothing for 60 s (a second
# client served after it), 50 RemoteApp reconnections with 5 apps (windows lost), 100 Wayland
# clients killed one after another, and a client that shrinks its shm pool under a committed
# buffer; RSS before and after each. Takes about 10 minutes; not part of CI.
#
#   scripts/reliability.sh [--quick] [--fuzz-secs N]
#
# --quick: a tenth of the counts and 5 s stalls, 2 s of fuzzing per target (a smoke run).
# The fuzzing is scripts/fuzz.sh (libFuzzer, nightly) when it can run, else the stable smoke
# run of the same targets (`cargo test --release -p wayrail-fuzz`); WAYRAIL_RELIABILITY_FUZZ=
# libfuzzer|smoke|skip chooses. Default: 30 s per target.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
fuzz_secs=30
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=(--quick); fuzz_secs=2 ;;
        --fuzz-secs) fuzz_secs="$2"; shift ;;
        *) echo "usage: scripts/reliability.sh [--quick] [--fuzz-secs N]" >&2; exit 2 ;;
    esac
    shift
done

[ -f scripts/rust-env.sh ] && . scripts/rust-env.sh
mode="${WAYRAIL_RELIABILITY_FUZZ:-}"
if [ -z "$mode" ]; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly' && cargo +nightly fuzz --version >/dev/null 2>&1; then
        mode=libfuzzer
    else
        mode=smoke
    fi
fi

report="$(mktemp)"
figures="$(mktemp)"
trap 'rm -f "$report" "$figures"' EXIT
echo "== fuzzing ($mode, $fuzz_secs s per target)"
fuzz_status=0
case "$mode" in
    libfuzzer) WAYRAIL_FUZZ_REPORT="$report" bash scripts/fuzz.sh "$fuzz_secs" || fuzz_status=$? ;;
    smoke)
        WAYRAIL_FUZZ_SECS="$fuzz_secs" WAYRAIL_FUZZ_REPORT="$report" \
            cargo test --locked --release -p wayrail-fuzz --test smoke -- --test-threads=1 >/dev/null 2>&1 || fuzz_status=$?
        ;;
    skip) ;;
    *) echo "WAYRAIL_RELIABILITY_FUZZ=$mode: libfuzzer, smoke or skip" >&2; exit 2 ;;
esac

echo "== building wayrail and wr-reliability (release)"
cargo build --locked --release -p wayrail --bin wayrail
cargo build --locked --release -p wayrail-e2e --bin wr-reliability --bin wr-rail-probe
echo "== wr-reliability ${quick[*]:-}"
release="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
WAYRAIL_BIN="$release/wayrail" "$release/wr-reliability" "${quick[@]}" | tee "$figures"

echo
echo "== figures"
sed 's/^/reliability: /' "$report"
grep '^reliability:' "$figures"
[ "$fuzz_status" -eq 0 ] || echo "reliability: the fuzzing failed (exit $fuzz_status): a crash, see above"
exit "$fuzz_status"
