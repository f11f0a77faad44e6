#!/usr/bin/env bash
# Fuzz for MINUTES (default 10): tests/fuzz.rs's properties with fresh seeds until the deadline,
# at the lowest priority. Minimal failing inputs go to $CARGO_TARGET_DIR/fuzz-findings/; the
# counts (cases per target, outcomes, findings) are printed at the end and kept in
# $CARGO_TARGET_DIR/fuzz-run/report.txt. Exit status 0 only when nothing was found.
#   scripts/fuzz.sh 60                     # an hour
#   CUTOFF_FUZZ_SEED=123 scripts/fuzz.sh 5 # replay a run's seeds
set -euo pipefail
minutes=${1:-10}
[[ $minutes =~ ^[0-9]+$ ]] || { echo "usage: $0 MINUTES" >&2; exit 2; }
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# Builds the binary too, with the test build's features (a plain `cargo build` would differ).
nice -n 19 cargo test --release --test fuzz --no-run
# Fuzz a copy of the binary, so a rebuild during the run does not change what is tested.
run=$CARGO_TARGET_DIR/fuzz-run
mkdir -p "$run"
cp "$CARGO_TARGET_DIR/release/cutoff" "$run/cutoff"
echo "fuzzing $(git describe --always --dirty) for $minutes min from $(date -u +%FT%TZ)" | tee "$run/report.txt"
CUTOFF_FUZZ_BIN=$run/cutoff CUTOFF_FUZZ_MINUTES=$minutes \
    nice -n 19 cargo test --release --test fuzz -- --ignored --nocapture fuzz_for_minutes \
    2>&1 | tee -a "$run/report.txt"
