#!/usr/bin/env bash
# Sets everything up and runs every test. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> Rust tests"
cargo nextest run --workspace --locked --profile ci
cargo test --workspace --doc --locked
echo "==> all tests passed"
