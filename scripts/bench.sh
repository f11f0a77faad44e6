#!/usr/bin/env bash
# Times `cutoff scan` on the real route-views2 day 2008-02-24 (95 update files) against the
# reference reader `bgpdump -m` and against `bzcat` (decompression alone) on the same files.
# Prints medians of several runs and the ratios. Needs hyperfine and bgpdump (Debian packages).
#
#   scripts/bench.sh [DIR_WITH_FILES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-../shared/data/mrt/routeviews-2008}
runs=${2:-5}
files=("$dir"/updates.20080224.*)
[ -e "${files[0]}" ] || { echo "no updates.20080224.* files in $dir" >&2; exit 2; }
for tool in hyperfine bgpdump bzcat; do
    command -v "$tool" >/dev/null || { echo "bench.sh needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done
cargo build --release --quiet
bin=target/release/cutoff
list=$(printf '%q ' "${files[@]}")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "${#files[@]} files, $(du -cb "${files[@]}" | tail -1 | cut -f1) bytes compressed; $(nproc) cores; $runs runs each" >&2
hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$out/times.json" \
    -n "cutoff scan --asn 26780" "$bin -q scan --asn 26780 --format jsonl $list > /dev/null" \
    -n "bzcat (1 core)" "bzcat $list > /dev/null" \
    -n "bgpdump -m" "for f in $list; do bgpdump -m \$f; done > /dev/null 2>&1" >&2

python3 - "$out/times.json" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: statistics.median(r["times"]) for r in results}
base = med["cutoff scan --asn 26780"]
print(f"{'command':<28} {'median s':>9} {'vs cutoff':>10}")
for name, t in med.items():
    print(f"{name:<28} {t:>9.2f} {t / base:>9.2f}x")
print(f"cutoff / bzcat = {base / med['bzcat (1 core)']:.2f} (target <= 0.6); bgpdump / cutoff = {med['bgpdump -m'] / base:.1f}x (target >= 10)")
PY
if command -v /usr/bin/time >/dev/null; then
    /usr/bin/time -f "cutoff peak RSS: %M KiB" "$bin" -q scan --asn 26780 --format jsonl "${files[@]}" > /dev/null
fi
