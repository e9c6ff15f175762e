#!/usr/bin/env bash
# Runs wayrail's whole test suite on Debian 12: installs what it needs, builds once (debug),
# then runs unit, fixture and end-to-end tests against those same binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh test
. scripts/rust-env.sh

echo "== formatting"
cargo fmt --all -- --check

echo "== build (debug, once for every test)"
cargo build --locked --workspace --all-targets --all-features

echo "== tests"
cargo test --locked --workspace --all-features -- --test-threads="${WAYRAIL_TEST_THREADS:-2}"
