#!/usr/bin/env bash
# Sets everything up, builds the desktop app, and starts it in demo mode
# (an embedded gateway on 127.0.0.1 with a demo app to log in to at once).
# Extra arguments go to the app, e.g. scripts/run.sh --no-demo
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
npm --prefix ui run build
# The quick-release profile (Cargo.toml): optimised but built in parallel,
# minutes faster on a small machine than the packaged build (release: fat
# LTO, one codegen unit), which scripts/build-deb.sh makes.
cargo build --profile quick-release --locked -p vestibule-desktop
args=("$@")
((${#args[@]})) || args=(--demo)
if [[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  echo "No display found: the app needs a desktop session (or run it under xvfb-run)." >&2
  exit 1
fi
exec target/quick-release/vestibule "${args[@]}"
