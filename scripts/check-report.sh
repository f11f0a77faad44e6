#!/usr/bin/env bash
# Build the McColo report from the bundled samples, render it in headless Chromium and check
# the screenshot is not blank and shows the charts' colours. Installs nothing: .ci/run installs
# chromium (Debian package `chromium`). Usage: scripts/check-report.sh [OUT_DIR]
# (tests/report.rs runs the same check under `cargo test`; this is for looking by hand.)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/report-check}"
command -v chromium >/dev/null || { echo "check-report: chromium is not installed" >&2; exit 2; }
rm -rf "$out" && mkdir -p "$out"
cargo build --release --quiet
bin=target/release/cutoff
$bin -q timeline --asn 26780 samples/mccolo-2008-11 --format jsonl > "$out/timeline.jsonl"
$bin -q scan --asn 26780 samples/mccolo-2008-11 --format jsonl \
    --telemetry samples/spam-2008/spam-hourly.csv --control samples/spam-2008/ham-hourly.csv \
    --as-names samples/as-names.txt --report "$out/report" > /dev/null
shot="$out/screenshot.png"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$out/chromium-profile" --screenshot="$shot" --window-size=1200,3000 \
    "file://$(realpath "$out/report/report.html")" 2>/dev/null
# Upstream bands of AS3549 and AS6939, the prefix strip, the headline's accent.
stats=$(python3 scripts/png-stats.py "$shot" '#56b4e9' '#e69f00' '#1f6fb2' '#b03a2e')
echo "$stats"
python3 - "$stats" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
problems = []
if (s["width"], s["height"]) != (1200, 3000):
    problems.append(f"size {s['width']}x{s['height']}")
if s["distinct_colours"] < 200:
    problems.append(f"only {s['distinct_colours']} colours")
if s["non_white_fraction"] < 0.10:
    problems.append(f"non-white fraction {s['non_white_fraction']}")
for colour, n in s["colour_pixels"].items():
    if n < 200:
        problems.append(f"{colour} barely present ({n} sampled pixels)")
if problems:
    sys.exit("check-report: " + "; ".join(problems))
print("check-report: ok")
PY
echo "screenshot: $shot"
