#!/usr/bin/env bash
# Installs what Vestibule needs on a fresh Debian/Ubuntu machine. Idempotent:
# re-running installs only what is missing.
#   scripts/setup.sh          # to build and run the app
#   scripts/setup.sh --test   # also what the tests need
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
[[ "${1:-}" == "--test" ]] && want_tests=true

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# System packages: the Rust toolchain's C needs, Tauri's WebKitGTK and tray,
# D-Bus for the keychain; for tests a virtual display, WebKit's WebDriver,
# Chromium for the UI's browser tests, ImageMagick for screenshots; iproute2
# for the network-namespace test, tinyproxy and dante for the proxy tests, Noto CJK for the Chinese screenshots;
# systemd (systemd-analyze, systemd-sysusers), fakeroot and zstd for the gateway package test, openssl for its certificates.
packages=(build-essential pkg-config curl ca-certificates file
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev)
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
$want_tests && packages+=(xvfb xauth webkit2gtk-driver imagemagick chromium
  dbus-bin dbus-daemon dbus-x11 gnome-keyring redis-server procps iproute2 tinyproxy dante-server
  systemd fakeroot zstd openssl
  fonts-noto-cjk)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "Node.js 20 or newer is needed (found $(node --version 2>/dev/null || echo none))." >&2
  echo "Install it from your distribution's backports or nodejs.org, then re-run." >&2
  exit 1
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "==> installing Rust (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

echo "==> npm ci (ui/)"
npm ci --prefix ui --no-audit --no-fund --loglevel=error

if $want_tests; then
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-nextest"
    cargo install cargo-nextest --locked
  fi
  if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "==> cargo install tauri-driver"
    cargo install tauri-driver --version 2.1.0 --locked
  fi
fi
