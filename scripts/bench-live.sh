#!/usr/bin/env bash
# Measures the latency of `cutoff monitor --follow` on the BMP lab of tests/live_bmp.rs (GoBGP, FRR
# exporting BMP, six ExaBGP peers on loopback, min_duration 0s): over 20 cuts of AS3549, the
# time from writing the last withdrawal to its speaker's command file until the alert is in the
# file sink. That includes ExaBGP reading the command and sending the UPDATE, GoBGP receiving
# it and sending Route Monitoring, and cutoff judging and writing (file sink, fsync). Needs
# gobgpd and exabgp (apt-get install gobgpd exabgp frr); run on a quiet machine.
#
#   scripts/bench-live.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in gobgpd /usr/sbin/exabgp /usr/lib/frr/bgpd; do
    command -v "$tool" >/dev/null || { echo "bench-live.sh needs $tool" >&2; exit 2; }
done
cargo test --release --quiet --test live_bmp -- --ignored --nocapture latency 2>&1 \
    | grep -E "^latency|panicked|FAILED"
