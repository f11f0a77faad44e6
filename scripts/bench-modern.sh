#!/usr/bin/env bash
# Measures a scan at today's scale (issue 14) on a generated modern-size collector-day
# (examples/make_modern_day.rs: 1 M IPv4 + 200 k IPv6 prefixes, 300 peers, a RIB and 96 update
# files, AS64511 cut off mid-day): generation time and sizes; bzcat of the same files; the whole
# day scanned on two threads and on one; the RIB alone, its bzip2 blocks decoded on two threads,
# on one, and on two threads pinned to one core; the day in four partitions (partial sizes and
# times), their merge (time, and that it prints what the scan prints); peak RSS of each. One run
# each (the files are large): rerun to see the spread. GNU time and bzcat needed.
#
#   scripts/bench-modern.sh [DIR] [generator options…]      (DIR: target/modern-day)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-target/modern-day}
shift || true
for tool in bzcat taskset /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-modern.sh needs $tool" >&2; exit 2; }
done
cargo build --release --quiet --bin cutoff --example make_modern_day
bin=$PWD/target/release/cutoff
data=$dir/route-views.synthetic/bgpdata/2026.11
if [ ! -e "$data/UPDATES/updates.20261101.2345.bz2" ]; then
    rm -rf "$dir"
    /usr/bin/time -f "generated in %e s (%U s user), peak RSS %M KiB" \
        target/release/examples/make_modern_day "$dir" "$@"
fi
rib=$data/RIBS/rib.20261101.0000.bz2
updates=("$data"/UPDATES/updates.*.bz2)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

mib() { echo "scale=1; $1 / 1048576" | bc; }
# name, command…: wall and user seconds, peak RSS; the command's output is kept in $out/stdout.
measure() {
    local name=$1
    shift
    /usr/bin/time -f "%e %U %M" -o "$out/t" "$@" > "$out/stdout"
    read -r wall user rss < "$out/t"
    printf '%-48s %7.2f s wall %7.2f s user %8d KiB peak RSS\n' "$name" "$wall" "$user" "$rss"
}
partial=("$bin" -q scan --asn 64511)
scan=("${partial[@]}" --format jsonl)
rawsize=(sh -c 'bzcat "$@" | wc -c' bzcat)

echo "RIB $(mib "$(stat -c %s "$rib")") MiB bz2; 96 update files $(mib "$(du -cb "${updates[@]}" | tail -1 | cut -f1)") MiB bz2"
measure "bzcat RIB (one core)" "${rawsize[@]}" "$rib"
echo "  RIB raw: $(mib "$(cat "$out/stdout")") MiB"
measure "bzcat 96 update files (one core)" "${rawsize[@]}" "${updates[@]}"
echo "  update files raw: $(mib "$(cat "$out/stdout")") MiB"
measure "scan the day, 2 threads" "${scan[@]}" "$dir"
grep -v '"type":"summary"' "$out/stdout" > "$out/scan-events"
sed -n '/"type":"summary"/p' "$out/stdout" | sed 's/"elapsed_secs":[0-9.e-]*,//' > "$out/scan-summary"
measure "scan the day, 1 thread" "${scan[@]}" --threads 1 "$dir"
measure "scan the RIB alone, 2 threads" "${scan[@]}" --threads 2 "$rib"
measure "scan the RIB alone, 1 thread" "${scan[@]}" --threads 1 "$rib"
measure "scan the RIB alone, 2 threads pinned to 1 core" taskset -c 0 "${scan[@]}" --threads 2 "$rib"

# Four partitions of six hours; the later three are given the prefixes the first learned (what
# cutoff_dask.py does), so none has to be read again.
known=()
for i in $(seq 0 15); do known+=(--known-prefix "100.64.$i.0/24"); done
for i in 0 1 2 3; do known+=(--known-prefix "2001:db8:64:$i::/48"); done
measure "partial 1: the RIB + 24 files" "${partial[@]}" --partial "$out/p1.parquet" "$rib" "${updates[@]:0:24}"
for p in 2 3 4; do
    from=$(((p - 1) * 24))
    measure "partial $p: 24 files" "${partial[@]}" --partial "$out/p$p.parquet" "${known[@]}" "${updates[@]:$from:24}"
done
for p in 1 2 3 4; do echo "  partial $p: $(stat -c %s "$out/p$p.parquet") bytes"; done
measure "merge the 4 partials" "$bin" -q merge --format jsonl "$out"/p4.parquet "$out"/p2.parquet "$out"/p1.parquet "$out"/p3.parquet
grep -v '"type":"summary"' "$out/stdout" > "$out/merge-events"
sed -n '/"type":"summary"/p' "$out/stdout" | sed 's/"elapsed_secs":[0-9.e-]*,//' > "$out/merge-summary"
if cmp -s "$out/scan-events" "$out/merge-events" && cmp -s "$out/scan-summary" "$out/merge-summary"; then
    echo "merge output = scan output (elapsed removed): yes, $(wc -l < "$out/scan-events") events"
else
    echo "merge output differs from the scan's" >&2
    diff "$out/scan-events" "$out/merge-events" | head >&2
    exit 1
fi
cat "$out/scan-events"
