#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: ./fuzz/run.sh [SECONDS per target, default 20]
#
# Stable Rust (no cargo-fuzz, no nightly): the same libFuzzer build cargo-fuzz makes with
# `-s none` (coverage instrumentation through stable -C flags, debug assertions on). Each
# target starts from a copy of its committed corpus (fuzz/corpus/<target>, left unchanged),
# with its dictionary, FUZZ_JOBS (default 2) at a time. A crash, a timeout (-timeout=10 s
# per input) or an out-of-memory (-rss_limit_mb=2048) fails the run: the input is kept in
# fuzz/artifacts/<target>/ and printed in base64, to be minimised, fixed, and then added to
# the corpus (where the replay tests of `cargo test` keep it fixed).
set -euo pipefail
cd "$(dirname "$(realpath "$0")")"
secs=${1:-20}
jobs=${FUZZ_JOBS:-2}
# The mutation seed comes from the commit (FUZZ_SEED overrides it): a run on the same commit
# takes the same path, so a crash CI reports is found again by running this script there.
commit=$(git -C .. rev-parse --short=7 HEAD 2>/dev/null || echo 1)
seed=${FUZZ_SEED:-$((16#$commit))}
echo "fuzz: seed $seed (FUZZ_SEED=$seed ./fuzz/run.sh $secs repeats this run)"
triple=x86_64-unknown-linux-gnu

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cdebug-assertions -Coverflow-checks"
cargo build --release --locked --target "$triple" --bins \
  --config 'profile.release.debug="line-tables-only"'

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^mailwire-fuzz$')
dict_of() {
  case "$1" in
    line_framer) echo dict/line.dict ;;
    literal_framer | imap_*) echo dict/imap.dict ;;
    data_receiver | dot_stuff_roundtrip) echo dict/data.dict ;;
    smtp_*) echo dict/smtp.dict ;;
    pop3_*) echo dict/pop3.dict ;;
    *) echo "" ;;
  esac
}
export -f dict_of
export secs triple seed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export work

run_one() {
  local t=$1 dict corpus log
  dict=$(dict_of "$t")
  corpus="$work/corpus-$t"
  log="$work/$t.log"
  mkdir -p "$corpus" "artifacts/$t"
  if [ -d "corpus/$t" ]; then cp -r "corpus/$t/." "$corpus/"; fi
  local args=(-max_total_time="$secs" -seed="$seed" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="artifacts/$t/")
  [ -n "$dict" ] && args+=(-dict="$dict")
  if "target/$triple/release/$t" "${args[@]}" "$corpus" >"$log" 2>&1; then
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    printf 'fuzz %-26s %10s inputs in %ss, corpus %s, no crash\n' "$t" "${runs:-?}" "$secs" \
      "$(find "$corpus" -type f | wc -l)"
  else
    printf 'fuzz %-26s FAILED\n' "$t"
    tail -40 "$log"
    for f in "artifacts/$t"/*; do
      [ -f "$f" ] || continue
      echo "input $f (base64):"
      base64 -w 0 "$f"
      echo
    done
    return 1
  fi
}
export -f run_one

echo "$targets" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}
