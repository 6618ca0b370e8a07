#!/usr/bin/env bash
# Builds the .deb installer with Tauri's bundler (works offline).
# Output: target/release/bundle/deb/Vestibule_<version>_amd64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
ui/node_modules/.bin/tauri build --bundles deb "$@"
ls -l target/release/bundle/deb/*.deb
