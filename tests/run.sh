#!/usr/bin/env bash
# The whole mailwire test suite, on a fresh Debian 12 machine as root (or with sudo):
#   ./tests/run.sh
# 1. installs the real peers the interop tests use (Debian and PyPI packages), idempotently;
# 2. cargo fmt --check, clippy -D warnings;
# 3. the workspace tests (unit, property, interop, CLI) and doctests, which also replay the
#    committed fuzz corpora (crates/mailwire-codec/tests/fuzz_corpus.rs);
# 4. builds the fuzz targets and runs the examples.
# A test that needs a peer that is missing fails; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."

stage() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
SECONDS=0

# --- 1. peers -------------------------------------------------------------------------------
APT_PACKAGES=(dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix swaks curl fetchmail isync getmail6)
PIP_PACKAGES=(aiosmtpd 'twisted[tls]' imapclient)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -E "$@"; fi; }
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "run as root, or install sudo" >&2; exit 1
fi
stage "peers: Debian packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks questions on install; answer them up front (no mail leaves this machine).
  echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || { echo "peer package $p failed to install" >&2; exit 1; }
done
# Debian starts services on install where it can: the tests start their own, on 127.0.0.1.
for svc in dovecot postfix; do as_root service "$svc" stop >/dev/null 2>&1 || true; done
stage "peers: PyPI packages"
python3 -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
python3 -c 'import aiosmtpd, twisted.mail, imapclient, OpenSSL' \
  || { echo "a Python peer failed to import" >&2; exit 1; }

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
stage "fuzz targets build (corpora were replayed above)"
cargo check --manifest-path fuzz/Cargo.toml --bins
stage "examples"
timeout 60 cargo run --quiet --locked --example gui_thread

stage "all passed in ${SECONDS}s"
