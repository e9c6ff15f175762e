# Sourced by the scripts: makes sure a Rust toolchain new enough for smithay 0.7 is on PATH.
# Debian 12's own cargo is too old, so a missing toolchain is installed with rustup.
if [ -f "$HOME/.cargo/env" ]; then
  . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "Installing the Rust toolchain with rustup (Debian 12's cargo is too old for smithay 0.7)..."
  if ! command -v curl >/dev/null 2>&1; then
    apt-get install -y -qq curl 2>/dev/null || sudo apt-get install -y -qq curl
  fi
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
  . "$HOME/.cargo/env"
fi
