#!/usr/bin/env bash
# Measures the latency of `cutoff monitor --follow` on the BMP lab of tests/live_bmp.rs (GoBGP
# and FRR exporting BMP, six ExaBGP peers on loopback, min_duration 0s): the time from writing
# the last withdrawal to its speaker's command file until the alert is in the file sink (polled
# every 2 ms), for the upstream_lost and the disconnected alert of each run of the test. That
# includes ExaBGP reading the command and sending the UPDATE, the routers forwarding it as
# Route Monitoring, and cutoff judging (when the second ends) and writing the file. Needs
# gobgpd, exabgp and frr (apt-get install gobgpd exabgp frr); run on a quiet machine.
#
#   scripts/bench-live.sh [RUNS]      (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
for tool in gobgpd /usr/sbin/exabgp /usr/lib/frr/bgpd; do
    command -v "$tool" >/dev/null || { echo "bench-live.sh needs $tool" >&2; exit 2; }
done
cargo test --release --quiet --test live_bmp --no-run
out=$(mktemp)
for _ in $(seq "$runs"); do
    cargo test --release --quiet --test live_bmp -- --nocapture 2>&1 | grep -E "^latency|panicked|FAILED" | tee -a "$out"
done
grep '^latency' "$out" | awk '{ print $3 }' | sort -n | awk '{ v[++n] = $1 } END {
    m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    printf "latency over %d alerts: median %.3f s, max %.3f s, min %.3f s\n", n, m, v[n], v[1] }'
rm -f "$out"
