#!/usr/bin/env bash
# Sets everything up and runs Vestibule with its demo app.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p vestibule-gateway -p vestibule-cli
exec target/release/vestibule-gateway serve "$@"
