#!/usr/bin/env bash
# The whole mailwire test suite, on a fresh Debian 12 machine as root (or with sudo):
#   ./tests/run.sh
# 1. installs the real peers the interop tests use (Debian and PyPI packages), idempotently;
# 2. cargo fmt --check, clippy -D warnings;
# 3. the workspace tests (unit, property, interop, CLI) and doctests, which also replay the
#    committed fuzz corpora (crates/mailwire-codec/tests/fuzz_corpus.rs);
# 4. runs every fuzz target for a bounded time (FUZZ_SECONDS, default 20) and the examples.
# A test that needs a peer that is missing fails; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."

stage() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
SECONDS=0
# No incremental caches: CI builds once from nothing, and they would double the disk it uses.
export CARGO_INCREMENTAL=0
df -h . | sed 's/^/disk: /'

# --- 1. peers -------------------------------------------------------------------------------
stage "peers: Debian and PyPI packages (tests/peers/install.sh)"
./tests/peers/install.sh
stage "peers: smoke check (tests/peers/verify.sh)"
./tests/peers/verify.sh

# --- 2. formatting and lints ----------------------------------------------------------------
stage "cargo fmt --check"
cargo fmt --all --check
stage "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# --- 3. tests -------------------------------------------------------------------------------
stage "workspace tests (unit, property, interop, CLI, fuzz-corpus replay)"
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
stage "doctests"
cargo test --workspace --doc --locked

# --- 4. fuzz targets and examples -----------------------------------------------------------
stage "fuzzing: every target for ${FUZZ_SECONDS:-20} s from its corpus (fuzz/run.sh; corpora were also replayed above)"
./fuzz/run.sh "${FUZZ_SECONDS:-20}"
stage "examples"
cargo build --workspace --examples --locked
timeout 60 ./target/debug/examples/gui_thread
timeout 60 ./target/debug/examples/imap_gui

du -sh target | sed 's/^/target: /'
stage "all passed in ${SECONDS}s"
