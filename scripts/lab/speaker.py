#!/usr/bin/env python3
"""ExaBGP API process: drives one lab peer through the cutoff scenario.

ExaBGP runs this script as its API process and reads route commands from its
stdout.  The script is stateless with respect to the session: every 0.5 s it
computes the full set of routes this peer must advertise at the current wall
clock time (relative to T0) and sends only the difference (announce/withdraw).
A restarted ExaBGP (the session-reset phase) therefore simply re-announces
what is due at that moment.

Scenario (seconds relative to T0, see scripts/lab/README / samples/lab/README):
  <  0       baseline announced as soon as the script starts
  60 .. 80   (65003 only) ExaBGP process stopped by run-lab.sh, then restarted
  120 .. 140 (65004 only) every background route and the 3 flagged prefixes
             withdrawn, re-announced at 140
  180 + k    peers whose flagged path went via AS64510 switch to AS64520
             (k = 1, 2 for the 2nd and 3rd such peer)
  180 .. 200 (--drop-at-cut, 65001) ExaBGP process stopped by run-lab.sh at the
             cut and restarted 20 s later: it comes back without the flagged
             prefixes and never withdraws them
  270 + k    every peer withdraws the 3 flagged prefixes (k = peer index 0..5)
  300        (--foreign-origin, 65005) announces 192.0.2.0/24 originated by
             AS64666, not AS64500: a foreign origin, not a restoration
  churn      one churn prefix per peer, attribute change every 15 s, withdrawn
             every 4th slot; never stops
"""
import argparse
import os
import sys
import threading
import time

FLAGGED = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]
N_BACKGROUND = 300
DISCONNECT = 270.0        # peer k withdraws the flagged prefixes at T0+DISCONNECT+k
FOREIGN = 300.0           # the foreign origin appears at T0+FOREIGN
FOREIGN_ORIGIN = 64666


def background_prefixes():
    # 10.0.0.0/24 .. 10.1.43.0/24 (300 prefixes), shared by every peer
    return ["10.%d.%d.0/24" % (j // 256, j % 256) for j in range(N_BACKGROUND)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--asn", type=int, required=True)
    ap.add_argument("--index", type=int, required=True, help="peer index 0..5")
    ap.add_argument("--nexthop", required=True)
    ap.add_argument("--t0", type=float, required=True, help="scenario T0, unix time")
    ap.add_argument("--transit", type=int, required=True, help="background transit AS")
    ap.add_argument("--flag-path", required=True,
                    help="baseline flagged path after the peer AS, underscore separated, e.g. 64510_64500")
    ap.add_argument("--cut-path", default="",
                    help="flagged path after the upstream cut, underscore separated ('-' or empty: unchanged)")
    ap.add_argument("--cut-offset", type=float, default=0.0)
    ap.add_argument("--mass-withdraw", action="store_true")
    ap.add_argument("--drop-at-cut", action="store_true",
                    help="no flagged prefixes from T0+185 on (the session is down T0+180..200)")
    ap.add_argument("--foreign-origin", action="store_true",
                    help="announce 192.0.2.0/24 from AS64666 from T0+300 on")
    ap.add_argument("--end", type=float, default=360.0,
                    help="stop issuing commands after T0+end")
    a = ap.parse_args()

    a.flag_path = a.flag_path.replace("_", " ")
    a.cut_path = "" if a.cut_path in ("", "-") else a.cut_path.replace("_", " ")
    bg = background_prefixes()
    churn_prefix = "10.255.%d.0/24" % (a.index + 1)

    def desired(rel):
        routes = {}
        nh = a.nexthop
        mass_down = a.mass_withdraw and 120.0 <= rel < 140.0
        if not mass_down:
            for j, p in enumerate(bg):
                origin = 64600 + (j % 50)
                routes[p] = "next-hop %s origin igp as-path [ %d %d %d ]" % (
                    nh, a.asn, a.transit, origin)
            # The dropped peer's flagged routes stay "wanted" until after its process is
            # stopped at T0+180, so it never sends their withdrawal: they just vanish.
            keep = not (a.drop_at_cut and rel >= 185.0)
            if keep and rel < DISCONNECT + a.index:
                path = a.flag_path
                if a.cut_path and rel >= 180.0 + a.cut_offset:
                    path = a.cut_path
                for p in FLAGGED:
                    routes[p] = "next-hop %s origin igp as-path [ %d %s ]" % (nh, a.asn, path)
            if a.foreign_origin and rel >= FOREIGN:
                routes[FLAGGED[0]] = "next-hop %s origin igp as-path [ %d %d ]" % (
                    nh, a.asn, FOREIGN_ORIGIN)
        # churn: slot of 15 s, phase-shifted per peer
        slot = int((rel + 1000.0 + 2.0 * a.index) // 15.0)
        if slot % 4 != 3:
            routes[churn_prefix] = "next-hop %s origin igp as-path [ %d %d %d ] med %d" % (
                nh, a.asn, a.transit, 64699, slot % 100)
        return routes

    # drain ExaBGP's answers on our stdin; exit when ExaBGP goes away
    def drain():
        for _ in sys.stdin:
            pass
        sys.stderr.write("speaker AS%d: stdin closed, exiting\n" % a.asn)
        os._exit(0)

    threading.Thread(target=drain, daemon=True).start()

    current = {}
    while True:
        now = time.time()
        rel = now - a.t0
        if rel > a.end:
            # keep quiet but alive until ExaBGP stops us
            time.sleep(1.0)
            continue
        want = desired(rel)
        out = []
        gone = sorted(p for p in current if p not in want)
        if gone:
            # one command, ExaBGP packs the NLRI into as few UPDATEs as fit
            out.append("withdraw attributes next-hop %s nlri %s" % (a.nexthop, " ".join(gone)))
        groups = {}
        for p in sorted(want):
            if current.get(p) != want[p]:
                groups.setdefault(want[p], []).append(p)
        for attrs in sorted(groups):
            out.append("announce attributes %s nlri %s" % (attrs, " ".join(groups[attrs])))
        if out:
            sys.stdout.write("\n".join(out) + "\n")
            sys.stdout.flush()
            sys.stderr.write("speaker AS%d rel=%.1f: -%d +%d prefixes\n" % (
                a.asn, rel, len(gone), sum(len(v) for v in groups.values())))
            sys.stderr.flush()
        current = want
        time.sleep(0.5)

if __name__ == "__main__":
    main()
