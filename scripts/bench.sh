#!/usr/bin/env bash
# Times `cutoff scan --asn 26780` on the real route-views2 day 2008-02-24 (95 update files)
# against a plain bgpkit-parser element loop, the reference reader `bgpdump -m`, and `bzcat`
# (decompression alone, one core), all on the same files: medians of several runs and ratios;
# and the floor: the same files decompressed by cutoff's decoder on every core and nothing else.
# Then: one thread against two, time for 1, 10 and 95 files, and peak memory for the day plus
# a full RIB. Needs hyperfine and bgpdump (Debian packages) and GNU time for memory.
#
#   scripts/bench.sh [DIR_WITH_FILES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-../shared/data/mrt/routeviews-2008}
runs=${2:-5}
rib=${RIB:-../shared/data/mrt/hask-mrt/rib.bz2}
files=("$dir"/updates.20080224.*)
[ -e "${files[0]}" ] || { echo "no updates.20080224.* files in $dir" >&2; exit 2; }
for tool in hyperfine bgpdump bzcat python3; do
    command -v "$tool" >/dev/null || { echo "bench.sh needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done
cargo build --release --quiet --bin cutoff && cargo build --release --quiet -p cutoff-core --example bgpkit_loop --example decode_floor
bin=target/release/cutoff
loop=target/release/examples/bgpkit_loop
floor=target/release/examples/decode_floor
q() { printf '%q ' "$@"; }
list=$(q "${files[@]}")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "${#files[@]} files, $(du -cb "${files[@]}" | tail -1 | cut -f1) bytes compressed; $(nproc) cores; $runs runs each" >&2
hyperfine --style none --runs "$runs" --warmup 1 --export-json "$out/main.json" \
    -n "cutoff scan" "$bin -q scan --asn 26780 --format jsonl $list > /dev/null" \
    -n "cutoff scan --threads 1" "$bin -q scan --asn 26780 --threads 1 --format jsonl $list > /dev/null" \
    -n "bgpkit-parser loop" "$loop 26780 $list > /dev/null" \
    -n "bzcat (1 core)" "bzcat $list > /dev/null" \
    -n "decompression alone, $(nproc) cores" "$floor $(nproc) $list > /dev/null" \
    -n "bgpdump -m" "for f in $list; do bgpdump -m \$f; done > /dev/null 2>&1" >&2
hyperfine --style none --runs "$runs" --warmup 1 --export-json "$out/scale.json" \
    -n "1 file" "$bin -q scan --asn 26780 --format jsonl $(q "${files[@]:40:1}") > /dev/null" \
    -n "10 files" "$bin -q scan --asn 26780 --format jsonl $(q "${files[@]:40:10}") > /dev/null" \
    -n "95 files" "$bin -q scan --asn 26780 --format jsonl $list > /dev/null" >&2

python3 - "$out/main.json" "$out/scale.json" <<'PY'
import json, statistics, sys
med = {}
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        med[r["command"]] = statistics.median(r["times"])
base = med["cutoff scan"]
print(f"{'command':<34} {'median s':>9} {'÷ cutoff':>9}")
floor = next(k for k in med if k.startswith("decompression alone"))
for name in ["cutoff scan", "cutoff scan --threads 1", "bgpkit-parser loop", "bzcat (1 core)", floor, "bgpdump -m"]:
    print(f"{name:<34} {med[name]:>9.2f} {med[name] / base:>9.2f}")
print(f"cutoff / bzcat = {base / med['bzcat (1 core)']:.2f} (target <= 0.6); floor / bzcat = {med[floor] / med['bzcat (1 core)']:.2f}")
print(f"bgpdump -m / cutoff = {med['bgpdump -m'] / base:.1f}x (target >= 10); bgpkit loop / cutoff = {med['bgpkit-parser loop'] / base:.1f}x")
print(f"one thread / two = {med['cutoff scan --threads 1'] / base:.2f}x (target about 1.9)")
print("scaling: " + ", ".join(f"{k} {med[k]:.2f} s" for k in ["1 file", "10 files", "95 files"]))
PY
if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "peak RSS, the day: %M KiB" "$bin" -q scan --asn 26780 --format jsonl "${files[@]}" > /dev/null
    [ -e "$rib" ] && /usr/bin/time -f "peak RSS, the day + a full RIB ($rib): %M KiB" \
        "$bin" -q scan --asn 26780 --format jsonl "$rib" "${files[@]}" > /dev/null
else
    echo "(install GNU time, Debian package 'time', for peak memory)"
fi
