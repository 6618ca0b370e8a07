#!/usr/bin/env bash
# Sets everything up and runs every test. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
# A CI run builds once: incremental caches would only take disk.
if [[ "${CI:-}" == true ]]; then export CARGO_INCREMENTAL=0; fi

echo "==> UI: type check, unit tests, build"
npm --prefix ui run check
npm --prefix ui test
npm --prefix ui run build
echo "==> UI: browser tests (Chromium, mocked IPC)"
npm --prefix ui run test:browser

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> build the binaries the end-to-end tests and the benchmark smoke test run"
binaries=(-p vestibule-gateway -p vestibule-cli -p vestibule-desktop -p vestibule-bench)
# First the updater test's "newer build" (the next minor version, the
# e2e-newer-version feature), kept stripped (68 MiB, not 500) as
# target/debug/vestibule-next; then the normal build. A feature set has its
# own artifacts, so only the app crate is compiled twice (~8 s here from
# clean, ~0.5 s when both are built) and nothing else is rebuilt: the same
# packages, the same features for everything else.
cargo build --locked "${binaries[@]}" --features vestibule-desktop/e2e-newer-version
strip -o target/debug/vestibule-next target/debug/vestibule
# vestibule-e2e too: its measure-desktop is what the bench's desktop scenario runs.
cargo build --locked "${binaries[@]}" -p vestibule-e2e

echo "==> Rust tests (the desktop end-to-end test runs the real app under Xvfb)"
xvfb-run -a -s "-screen 0 1280x800x24" cargo nextest run --workspace --locked --profile ci
cargo test --workspace --doc --locked

echo "==> benchmark smoke test (every scenario at small scale; no timing assertions)"
xvfb-run -a -s "-screen 0 1280x800x24" target/debug/vestibule-bench run --quick --out test-output/bench
echo "==> soak: 2 minutes of logins, kicks, refreshes and disconnects through injected faults"
target/debug/vestibule-bench soak --seconds 120 --out test-output/bench
echo "==> all tests passed"
