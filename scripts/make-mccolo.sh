#!/usr/bin/env bash
# Regenerate samples/mccolo-2008-11 -- the McColo cut-off RECONSTRUCTION
# (synthetic MRT, not archive data) -- byte-for-byte, then check it.
#
#   scripts/make-mccolo.sh                  regenerate, compare with the committed
#                                           SHA256SUMS, verify with bgpkit-parser
#   CHECK_BGPDUMP=1 scripts/make-mccolo.sh  also read every file with bgpdump
#   UPDATE=1 scripts/make-mccolo.sh         accept a changed output (after editing
#                                           the generator or its input on purpose)
#
# Input: scripts/mccolo-input.tsv (real Feb 2008 route-views2 peers, paths and
# background prefixes; rebuilt by scripts/mccolo-extract.py). The generator is
# deterministic: same input, same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=samples/mccolo-2008-11
before=$(mktemp)
trap 'rm -f "$before"' EXIT
[[ -f "$OUT/SHA256SUMS" ]] && cp "$OUT/SHA256SUMS" "$before"

rm -rf "$OUT/bgpdata"
cargo run --release --example make_mccolo -- "$OUT"
cargo run --release --example make_mccolo -- --verify "$OUT"

if [[ -s "$before" ]]; then
    if cmp -s "$before" "$OUT/SHA256SUMS"; then
        echo "output identical to the committed SHA256SUMS"
    elif [[ "${UPDATE:-0}" == 1 ]]; then
        echo "output CHANGED (UPDATE=1: keeping the new SHA256SUMS)"
    else
        echo "output CHANGED -- differs from the committed SHA256SUMS:" >&2
        diff "$before" "$OUT/SHA256SUMS" | head -20 >&2 || true
        exit 1
    fi
fi

if [[ "${CHECK_BGPDUMP:-0}" == 1 ]]; then
    command -v bgpdump >/dev/null || { echo "bgpdump not installed" >&2; exit 1; }
    n=0
    for f in "$OUT"/bgpdata/2008.11/RIBS/*.bz2 "$OUT"/bgpdata/2008.11/UPDATES/*.bz2; do
        # any stderr line except bgpdump's "logging to syslog" banner is a failure
        err=$(bgpdump -m "$f" 2>&1 >/dev/null | grep -v 'logging to syslog' || true)
        [[ -z "$err" ]] || { echo "bgpdump: $f: $err" >&2; exit 1; }
        n=$((n + 1))
    done
    echo "bgpdump read $n files without error"
fi
