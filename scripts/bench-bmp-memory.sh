#!/usr/bin/env bash
# Peak memory of `cutoff monitor --follow` reading full tables over BMP: examples/bmp_full_table
# plays a router (a real GoBGP's Initiation and Peer Up from samples/bmp/, peers renumbered)
# sending PEERS initial tables of PREFIXES synthetic IPv4 prefixes each, then End-of-RIB; the
# station counts each table from the raw UPDATE and keeps only watched routes. Prints the
# monitor's peak RSS (VmHWM) once it has read the tables, and its RSS before they came.
#
#   scripts/bench-bmp-memory.sh [PEERS] [PREFIXES]      (default 10 peers × 1000000 prefixes)
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${1:-10}
prefixes=${2:-1000000}
cargo build --release --quiet --bin cutoff --example bmp_full_table
dir=$(mktemp -d)
trap 'kill "$mon" 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/monitor.toml" <<TOML
state_dir = "$dir/state"
[[watch]]
asn = 10003
[source]
bmp_listen = "127.0.0.1:$port"
[[sink]]
type = "file"
path = "$dir/alerts.jsonl"
TOML
target/release/cutoff monitor --follow --config "$dir/monitor.toml" 2>"$dir/stderr" &
mon=$!
until grep -q "listening on" "$dir/stderr" 2>/dev/null; do sleep 0.1; done
before=$(awk '/VmRSS/ { print $2 }' "/proc/$mon/status")
start=$(date +%s.%N)
target/release/examples/bmp_full_table "127.0.0.1:$port" "$peers" "$prefixes" 600 &
feeder=$!
until grep -q "initial table read" "$dir/stderr" 2>/dev/null; do sleep 0.2; done
end=$(date +%s.%N)
grep "initial table read" "$dir/stderr"
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$mon/status")
kill "$feeder" 2>/dev/null || true
echo; printf "%s peers x %s prefixes: tables read in %.1f s; RSS before %d MB, peak %d MB\n" \
    "$peers" "$prefixes" "$(echo "$end - $start" | bc)" $((before / 1024)) $((hwm / 1024))
