#!/usr/bin/env bash
# Installs what wayrail needs to build, run and be tested on Debian 12 (bookworm).
# Idempotent: re-running it only installs what is missing.
#   scripts/setup-debian.sh run    packages to build and run wayrail
#   scripts/setup-debian.sh test   also the real clients the test suite drives
set -euo pipefail

want=${1:-test}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# pulseaudio: the private sound server wayrail starts for its apps (sound to and from the host);
# pulseaudio-utils: pactl, with which wayrail sees when apps record (the host's microphone).
# fuse3: fusermount3 (and /dev/fuse set up), with which a user's wayrail mounts the host's
# pasted files as a FUSE view read on demand; no libfuse3-dev: the fuser crate mounts
# without libfuse. Without it, pastes of host files are fetched whole.
# nasm: OpenH264's SIMD assembly (the openh264 crate builds OpenH264 from source, and without
# nasm quietly in plain C: H.264 frames then cost about twice the CPU).
build_pkgs=(pkg-config nasm libxkbcommon-dev libpixman-1-dev libwayland-dev
            xwayland openssl ca-certificates adwaita-icon-theme fonts-dejavu-core
            pulseaudio pulseaudio-utils fuse3)
# libegl1 + libgl1-mesa-dri: OpenGL ES (llvmpipe) for the nested backend's tests.
# pulseaudio-utils (a run package too): paplay and parecord for the audio tests.
# systemd: systemd-analyze, which verifies wayraild's alternative, the systemd user units.
# firefox-esr: the browser test (clicks into a page through RemoteApp and types).
# python3-gi + gir1.2-gtk-3.0: the drag-and-drop tests' GTK probe (tests/probes/dnd_probe.py).
test_pkgs=(xvfb xdotool x11-utils x11-apps x11-xserver-utils xterm wayland-utils
           foot gtk-3-examples gtk-4-examples wl-clipboard xclip wtype imagemagick
           freerdp2-x11 python3-xlib procps iproute2 coreutils fonts-dejavu-core xauth
           xserver-xorg-core xserver-xorg-video-dummy
           libegl1 libgl1-mesa-dri
           systemd
           firefox-esr
           python3-gi gir1.2-gtk-3.0)
backports_pkgs=()
[ "$want" = test ] && backports_pkgs=(freerdp3-x11 weston)

# bookworm-backports: the same Debian mirror the machine already uses, other suite.
add_backports() {
  local src=/etc/apt/sources.list.d/debian.sources
  local dst=/etc/apt/sources.list.d/wayrail-backports.sources
  [ -f "$dst" ] && return 0
  if [ -f "$src" ]; then
    # Copy the first stanza (the main archive) with the suite swapped.
    awk 'BEGIN{RS="";ORS="\n\n"} NR==1{print}' "$src" \
      | sed -E 's/^Suites:.*/Suites: bookworm-backports/' | $SUDO tee "$dst" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    local uri
    uri=$(awk '/^deb / && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
    echo "deb $uri bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/wayrail-backports.list >/dev/null
  fi
  need_update=1
}

missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

need_update=0
pkgs=("${build_pkgs[@]}")
[ "$want" = test ] && pkgs+=("${test_pkgs[@]}")
[ ${#backports_pkgs[@]} -gt 0 ] && add_backports
todo=($(missing "${pkgs[@]}"))
todo_bp=()
[ ${#backports_pkgs[@]} -gt 0 ] && todo_bp=($(missing "${backports_pkgs[@]}"))
# weston from bookworm is 10; the peer benchmark wants 14 from backports.
if [ ${#backports_pkgs[@]} -gt 0 ] && ! dpkg-query -W -f='${Version}' weston 2>/dev/null | grep -q '^14'; then
  todo_bp=(freerdp3-x11 weston)
fi
if [ ${#todo[@]} -gt 0 ] || [ ${#todo_bp[@]} -gt 0 ]; then
  $SUDO apt-get update -qq || [ "$need_update" = 0 ]
  [ ${#todo[@]} -gt 0 ] && $SUDO apt-get install -y -qq --no-install-recommends "${todo[@]}"
  [ ${#todo_bp[@]} -gt 0 ] && $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports "${todo_bp[@]}"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
exit 0
