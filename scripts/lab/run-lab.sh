#!/usr/bin/env bash
# Reproducible BGP collector lab: real BGP daemons (GoBGP, FRR bgpd, BIRD 2)
# act as route collectors (AS6447) and write MRT files while six ExaBGP
# speakers (AS65001..AS65006 on 127.0.0.11..16) run the cutoff scenario
# (baseline, session reset, mass withdrawal, upstream cut with a session drop,
# disconnection, a foreign origin; RIB dumps every 30 s).
#
# usage: scripts/lab/run-lab.sh [gobgp] [frr] [bird]     (default: all three)
#
# Everything runs on loopback (collectors 127.0.0.1/.2/.3 port 1179, speakers
# 127.0.0.11-16, GoBGP's gRPC API 127.0.0.1:50151).  Needs root (apt-get, and
# binding the 127.0.0.x addresses is fine without it, but the daemons' run-as
# handling is simplest as root).  Takes about 6 minutes.
#
# Outputs: samples/lab/<impl>/*.mrt.gz and samples/lab/README.md (regenerated).
# Environment:
#   LAB_OUT=DIR        where to put the results (default: <repo>/samples/lab)
#   LAB_KEEP_WORK=1    keep the temporary work directory (logs, raw files)
#   LAB_NO_INSTALL=1   do not apt-get install missing packages
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${LAB_OUT:-$REPO/samples/lab}
IMPLS=("$@")
[ ${#IMPLS[@]} -eq 0 ] && IMPLS=(gobgp frr bird)
for i in "${IMPLS[@]}"; do
  case $i in gobgp|frr|bird) ;; *) echo "unknown implementation: $i" >&2; exit 2 ;; esac
done
has() { local x; for x in "${IMPLS[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

log() { printf '%s [lab] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- packages
PKGS=(exabgp bgpdump python3 iproute2)
has gobgp && PKGS+=(gobgpd)
has frr && PKGS+=(frr)
has bird && PKGS+=(bird2)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${LAB_NO_INSTALL:-0}" = 1 ]; then echo "missing packages: ${missing[*]}" >&2; exit 1; fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- work dir + cleanup
WORK=$(mktemp -d /tmp/cutoff-lab.XXXXXX)
mkdir -p "$WORK/pids"
log "work directory $WORK"

# Every daemon is started with setsid, so its pid is also its process group:
# stopping it stops its children too (ExaBGP's API process).
start_bg() { # name logfile cmd...
  local name=$1 logf=$2; shift 2
  setsid "$@" >"$logf" 2>&1 </dev/null &
  echo $! >"$WORK/pids/$name"
}
stop_bg() { # name
  local f="$WORK/pids/$1" pid n
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for n in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  # the process group may outlive its leader (children): make sure it is gone
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local f
  [ -n "$SLEEP_PID" ] && kill "$SLEEP_PID" 2>/dev/null
  for f in "$WORK"/pids/exabgp-*; do [ -e "$f" ] && stop_bg "$(basename "$f")"; done
  for f in "$WORK"/pids/*; do [ -e "$f" ] && stop_bg "$(basename "$f")"; done
  rm -f /tmp/cutoff-lab-gobgp
  if [ "${LAB_KEEP_WORK:-0}" = 1 ] || [ $rc -ne 0 ]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- preflight
for addr in 127.0.0.1:1179 127.0.0.2:1179 127.0.0.3:1179 127.0.0.1:50151; do
  if ss -Htln "( sport = :${addr##*:} )" | awk '{print $4}' | grep -qx "$addr\|0.0.0.0:${addr##*:}"; then
    echo "address $addr already in use" >&2; exit 1
  fi
done

now() { date +%s.%N; }
SLEEP_PID=
sleep_until() { # unix time; interruptible, so that the traps run at once
  local d; d=$(python3 -c "import sys,time;print(max(0.0,float(sys.argv[1])-time.time()))" "$1")
  sleep "$d" & SLEEP_PID=$!
  wait $SLEEP_PID; SLEEP_PID=
}

# ---------------------------------------------------------------- render
S=$(date +%s)
T0=$((S + 20))          # GoBGP writes a table dump every 60 s after its start: T0+40, +100, ...
echo "$T0" >"$WORK/t0"
impl_csv=$(IFS=,; echo "${IMPLS[*]}")
# GoBGP reads its MRT file names as Go time layouts, directory included (see render.py):
# its files reach $WORK/gobgp through this link, whose path has no digit and no layout word.
export LAB_GOBGP_MRT_DIR=/tmp/cutoff-lab-gobgp
mkdir -p "$WORK/gobgp"
rm -f "$LAB_GOBGP_MRT_DIR"; ln -s "$WORK/gobgp" "$LAB_GOBGP_MRT_DIR"
python3 "$HERE/render.py" "$WORK" "$T0" "$impl_csv"
log "T0 = $T0 ($(date -u -d @"$T0" +%FT%TZ)), implementations: ${IMPLS[*]}"

{
  echo "date_utc=$(date -u +%FT%TZ)"
  echo "t0=$T0"
  for p in "${PKGS[@]}"; do echo "pkg_$p=$(dpkg-query -W -f '${Version}' "$p")"; done
} >"$WORK/versions.txt"

# ---------------------------------------------------------------- collectors
VTY="vtysh --vty_socket $WORK/frr/run"
if has gobgp; then
  start_bg gobgpd "$WORK/gobgp/gobgpd.log" \
    gobgpd -f "$WORK/gobgp/gobgpd.toml" -t toml --api-hosts 127.0.0.1:50151 --log-plain
fi
if has frr; then
  mkdir -p "$WORK/frr/run"
  # -Z: no zebra, -n/-l: no kernel, listen on 127.0.0.2 only, -S: stay root, -P 0: no TCP vty
  start_bg bgpd "$WORK/frr/stdout.log" \
    /usr/lib/frr/bgpd -f "$WORK/frr/bgpd.conf" -i "$WORK/frr/run/bgpd.pid" \
    --vty_socket "$WORK/frr/run" -z "$WORK/frr/run/zserv.api" -Z -n -l 127.0.0.2 -p 1179 -S -P 0
fi
if has bird; then
  start_bg bird "$WORK/bird/stdout.log" \
    bird -f -c "$WORK/bird/bird.conf" -s "$WORK/bird/bird.ctl" -P "$WORK/bird/bird.pid"
fi
sleep 2
for n in gobgpd bgpd bird; do
  if [ -f "$WORK/pids/$n" ] && ! kill -0 "$(cat "$WORK/pids/$n")" 2>/dev/null; then
    echo "$n died at start, see $WORK" >&2; exit 1
  fi
done

# ---------------------------------------------------------------- speakers
export exabgp_daemon_user=root exabgp_daemon_drop=false exabgp_daemon_daemonize=false \
  exabgp_api_ack=false exabgp_api_cli=false exabgp_log_destination=stdout
start_speaker() { # asn
  start_bg "exabgp-$1" "$WORK/exabgp/AS$1.$(date +%H%M%S).log" exabgp "$WORK/exabgp/AS$1.conf"
}
for asn in 65001 65002 65003 65004 65005 65006; do start_speaker $asn; done

status() { # label
  {
    echo "== $1 $(date -u +%FT%TZ)"
    if has gobgp; then gobgp -u 127.0.0.1 -p 50151 neighbor || true; fi
    if has frr; then $VTY -c 'show bgp ipv4 unicast summary' || true; fi
    if has bird; then birdc -s "$WORK/bird/bird.ctl" show protocols || true; fi
  } >>"$WORK/status.txt" 2>&1
}
rib_dump() { # tag
  if has frr; then $VTY -c 'configure terminal' -c "dump bgp routes-mrt $WORK/frr/rib-$1.mrt" >/dev/null; fi
  if has bird; then birdc -s "$WORK/bird/bird.ctl" "mrt dump table \"master4\" to \"$WORK/bird/rib-$1.mrt\"" >/dev/null; fi
  log "RIB dump '$1' requested (FRR, BIRD); GoBGP dumps by itself every 60 s"
}

established() { # number of Established sessions over all collectors
  local n=0 c
  if has gobgp; then c=$(gobgp -u 127.0.0.1 -p 50151 neighbor 2>/dev/null | grep -c ' Establ ' || true); n=$((n + c)); fi
  if has frr; then c=$($VTY -c 'show bgp neighbors' 2>/dev/null | grep -c 'BGP state = Established' || true); n=$((n + c)); fi
  if has bird; then c=$(birdc -s "$WORK/bird/bird.ctl" show protocols 2>/dev/null | grep -c ' Established' || true); n=$((n + c)); fi
  echo $n
}

# FRR and BIRD dump their RIB every 30 s from T0+10 on, so dumps fall inside the update
# files and between the phases (while AS65003 and AS65001 are down, during the mass
# withdrawal, between the cut and the disconnection, after the foreign origin appears).
NEXT_RIB=10
at() { # offset: wait for T0+offset, taking every RIB dump due before it
  while [ "$NEXT_RIB" -le "$1" ] && [ "$NEXT_RIB" -le "$END" ]; do
    sleep_until $((T0 + NEXT_RIB)); rib_dump "$(printf 't%03d' "$NEXT_RIB")"; NEXT_RIB=$((NEXT_RIB + 30))
  done
  sleep_until $((T0 + $1))
}
END=330

at -2; status baseline
log "baseline: $(established) sessions Established (expected $((6 * ${#IMPLS[@]})))"

at 60; log "session reset: stopping AS65003"; stop_bg exabgp-65003
at 80; log "session reset: restarting AS65003"; start_speaker 65003
at 90; status after-reset
log "after reset: $(established) sessions Established (expected $((6 * ${#IMPLS[@]})))"
log "mass withdrawal AS65004 at T0+120, re-announce T0+140 (speaker-driven)"
at 170; status before-cut
at 180; log "upstream cut: AS65001's session drops (stopping it); AS65002/65003 switch to 64520 at T0+181/182"
stop_bg exabgp-65001
at 200; log "AS65001 comes back without the flagged prefixes"; start_speaker 65001
log "disconnection T0+270..275, foreign origin AS64666 for 192.0.2.0/24 at T0+300 (speaker-driven)"
at 260; status before-disconnection
at "$END"; status end

# ---------------------------------------------------------------- close the dumps
# Close every updates dump while all sessions are still up, so the files end
# with the scenario and not with the lab's own shutdown.
if has frr; then
  $VTY -c 'configure terminal' -c 'no dump bgp all' -c 'no dump bgp updates' >/dev/null
fi
if has bird; then
  grep -v '^mrtdump' "$WORK/bird/bird.conf" >"$WORK/bird/bird-final.conf"
  birdc -s "$WORK/bird/bird.ctl" configure \"$WORK/bird/bird-final.conf\" >>"$WORK/status.txt" 2>&1
fi
if has gobgp; then stop_bg gobgpd; fi   # GoBGP fsyncs each write and writes no STATE records
sleep 1
for asn in 65001 65002 65003 65004 65005 65006; do stop_bg exabgp-$asn; done
stop_bg bgpd
stop_bg bird
log "all daemons stopped"

# ---------------------------------------------------------------- collect
python3 "$HERE/collect.py" "$WORK" "$OUT" "${IMPLS[@]}"
log "results in $OUT"
