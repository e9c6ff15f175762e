# Sourced by the scripts: makes sure a Rust toolchain new enough for wayrail is on PATH (1.94:
# the IronRDP sound crates need it). Debian 12's own cargo is too old, so a missing or older
# toolchain is installed or updated with rustup.
WAYRAIL_RUST_MIN=1.94
if [ -f "$HOME/.cargo/env" ]; then
  . "$HOME/.cargo/env"
fi
wayrail_rust_new_enough() {
  local v
  v=$(cargo --version 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$v" ] || return 1
  [ "$(printf '%s\n%s\n' "$WAYRAIL_RUST_MIN" "${v%%-*}" | sort -V | head -1)" = "$WAYRAIL_RUST_MIN" ]
}
if ! wayrail_rust_new_enough; then
  if command -v rustup >/dev/null 2>&1; then
    echo "Updating the Rust toolchain with rustup (wayrail needs Rust $WAYRAIL_RUST_MIN or newer)..."
    rustup toolchain install stable --profile minimal --component rustfmt,clippy
    rustup default stable
  else
    echo "Installing the Rust toolchain with rustup (wayrail needs Rust $WAYRAIL_RUST_MIN or newer; Debian 12's cargo is older)..."
    if ! command -v curl >/dev/null 2>&1; then
      apt-get install -y -qq curl 2>/dev/null || sudo apt-get install -y -qq curl
    fi
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    . "$HOME/.cargo/env"
  fi
  hash -r
  wayrail_rust_new_enough || { echo "cargo is still older than $WAYRAIL_RUST_MIN" >&2; return 1 2>/dev/null || exit 1; }
fi
unset -f wayrail_rust_new_enough
