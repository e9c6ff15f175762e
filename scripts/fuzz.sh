#!/usr/bin/env bash
# Runs wayrail's libFuzzer targets (fuzz/libfuzzer) for a while each: every decoder and
# converter wayrail owns. Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`);
# without them it says so and stops. The same targets run on stable in `cargo test` (the
# `wayrail-fuzz` smoke test, a few seconds each).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Each target starts from its seeds (fuzz/corpus/<target>) and regression inputs
# (fuzz/regressions/<target>); what libFuzzer adds goes to target/fuzz-corpus/<target>, crash
# inputs to fuzz/libfuzzer/artifacts/<target>. A figure line per target is printed at the end
# (and appended to $WAYRAIL_FUZZ_REPORT when set). The exit status is 1 when a target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f scripts/rust-env.sh ] && . scripts/rust-env.sh

secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/libfuzzer/Cargo.toml | grep -v '^wayrail-')
fi

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "scripts/fuzz.sh needs a nightly Rust toolchain (rustup toolchain install nightly);" >&2
    echo "without one, the stable smoke run covers the targets: cargo test -p wayrail-fuzz" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "scripts/fuzz.sh needs cargo-fuzz (cargo install cargo-fuzz);" >&2
    echo "without it, the stable smoke run covers the targets: cargo test -p wayrail-fuzz" >&2
    exit 2
fi

export CARGO_BUILD_JOBS="${WAYRAIL_FUZZ_BUILD_JOBS:-2}"
echo "== building the libFuzzer targets (nightly, release, address sanitizer)"
if ! cargo +nightly fuzz build --fuzz-dir fuzz/libfuzzer; then
    echo "building the fuzz targets failed" >&2
    exit 1
fi

status=0
summary=()
for t in "${targets[@]}"; do
    corpus="target/fuzz-corpus/$t"
    mkdir -p "$corpus" "fuzz/regressions/$t"
    log="target/fuzz-logs/$t.log"
    mkdir -p "$(dirname "$log")"
    echo "== $t: ${secs} s"
    cargo +nightly fuzz run --fuzz-dir fuzz/libfuzzer "$t" "$corpus" "fuzz/corpus/$t" "fuzz/regressions/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    crashes=$(ls "fuzz/libfuzzer/artifacts/$t" 2>/dev/null | grep -c -E '^(crash|oom|timeout|leak)-' || true)
    line="libfuzzer $t: ${execs:-?} executions in ${secs} s, exit $rc, ${crashes} crash inputs in fuzz/libfuzzer/artifacts/$t"
    summary+=("$line")
    if [ "$rc" -ne 0 ]; then
        status=1
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -n 5
    fi
done

echo "== figures"
for line in "${summary[@]}"; do
    echo "$line"
    [ -n "${WAYRAIL_FUZZ_REPORT:-}" ] && echo "$line" >>"$WAYRAIL_FUZZ_REPORT"
done
exit $status
