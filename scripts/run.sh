#!/usr/bin/env bash
# Builds and runs wayrail on Debian 12 with its defaults. Arguments go to wayrail.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh run
. scripts/rust-env.sh
cargo build --locked --release -p wayrail --bin wayrail
exec target/release/wayrail "$@"
