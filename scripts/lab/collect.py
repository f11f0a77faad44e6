#!/usr/bin/env python3
"""Collect the lab's MRT outputs, check them with bgpdump and write the README.

usage: collect.py WORKDIR OUTDIR IMPL...
       collect.py --readme-only OUTDIR        (re-analyse samples already in OUTDIR)

For every implementation the raw files written by the daemon are copied (and
gzip-compressed, deterministically: no name, mtime 0) to OUTDIR/<impl>/, then
every output file is read with `bgpdump -q -m` and with a small MRT header
scanner, and OUTDIR/README.md is regenerated with the facts a test can assert.
"""
import collections
import datetime
import glob
import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGGED = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]
IMPL_NAMES = {"gobgp": "GoBGP (gobgpd)", "frr": "FRRouting bgpd", "bird": "BIRD 2"}
IMPL_PKG = {"gobgp": "gobgpd", "frr": "frr", "bird": "bird2"}
COLLECTOR_IP = {"gobgp": "127.0.0.1", "frr": "127.0.0.2", "bird": "127.0.0.3"}
ORIGIN = "64500"
FOREIGN_ORIGIN = "64666"
DISCONNECT = 270  # peer k withdraws the flagged prefixes at T0+DISCONNECT+k
FOREIGN = 300     # AS65005 announces 192.0.2.0/24 from AS64666

MRT_TYPES = {11: "OSPFv2", 12: "TABLE_DUMP", 13: "TABLE_DUMP_V2", 16: "BGP4MP", 17: "BGP4MP_ET"}
TDV2_SUB = {1: "PEER_INDEX_TABLE", 2: "RIB_IPV4_UNICAST", 3: "RIB_IPV4_MULTICAST",
            4: "RIB_IPV6_UNICAST", 5: "RIB_IPV6_MULTICAST", 6: "RIB_GENERIC",
            8: "RIB_IPV4_UNICAST_ADDPATH", 9: "RIB_IPV4_MULTICAST_ADDPATH",
            10: "RIB_IPV6_UNICAST_ADDPATH", 11: "RIB_IPV6_MULTICAST_ADDPATH",
            12: "RIB_GENERIC_ADDPATH"}
BGP4MP_SUB = {0: "STATE_CHANGE", 1: "MESSAGE", 4: "MESSAGE_AS4", 5: "STATE_CHANGE_AS4",
              6: "MESSAGE_LOCAL", 7: "MESSAGE_AS4_LOCAL", 8: "MESSAGE_ADDPATH",
              9: "MESSAGE_AS4_ADDPATH", 10: "MESSAGE_LOCAL_ADDPATH",
              11: "MESSAGE_AS4_LOCAL_ADDPATH"}
BGP_MSG = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}
FSM = {1: "Idle", 2: "Connect", 3: "Active", 4: "OpenSent", 5: "OpenConfirm", 6: "Established",
       7: "Clearing (FRR)", 8: "Deleted (FRR)"}


def utc(ts):
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def read_raw(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def scan_mrt(path):
    """Count MRT type/subtype and, for BGP4MP messages, the BGP message type."""
    data = read_raw(path)
    pos, records = 0, 0
    types = collections.Counter()
    bgp = collections.Counter()
    first = last = None
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("%s: truncated MRT header at byte %d" % (path, pos))
        ts, typ, sub, length = struct.unpack_from(">IHHI", data, pos)
        body = data[pos + 12:pos + 12 + length]
        if len(body) != length:
            raise ValueError("%s: truncated MRT record at byte %d" % (path, pos))
        first = ts if first is None else first
        last = ts
        tname = MRT_TYPES.get(typ, str(typ))
        sname = (TDV2_SUB if typ == 13 else BGP4MP_SUB if typ in (16, 17) else {}).get(sub, str(sub))
        types["%s/%s" % (tname, sname)] += 1
        if typ in (16, 17) and sub in (1, 4, 6, 7, 8, 9, 10, 11):
            b = body[4:] if typ == 17 else body
            asz = 4 if sub in (4, 7, 9, 11) else 2
            afi = struct.unpack_from(">H", b, 2 * asz + 2)[0]
            off = 2 * asz + 4 + (8 if afi == 1 else 32)
            bgp["%s:%s" % (BGP4MP_SUB[sub], BGP_MSG.get(b[off + 18], str(b[off + 18])))] += 1
        records += 1
        pos += 12 + length
    return {"records": records, "types": dict(sorted(types.items())),
            "bgp_messages": dict(sorted(bgp.items())), "first_ts": first, "last_ts": last}


def bgpdump(path):
    p = subprocess.run(["bgpdump", "-q", "-m", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    err = "\n".join(l for l in p.stderr.splitlines() if "logging to syslog" not in l)
    if p.returncode != 0 or err.strip():
        raise RuntimeError("bgpdump failed on %s: rc=%d %s" % (path, p.returncode, err))
    return [l.split("|") for l in p.stdout.splitlines() if l]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_gz(src_paths, dst):
    data = b"".join(open(p, "rb").read() for p in src_paths)
    with open(dst, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as g:
            g.write(data)


# ------------------------------------------------------------------ collect
def collect(work, out, impls):
    t0 = int(open(os.path.join(work, "t0")).read())
    meta = {"t0": t0, "implementations": impls, "versions": {}}
    for line in open(os.path.join(work, "versions.txt")):
        k, _, v = line.strip().partition("=")
        if k.startswith("pkg_"):
            meta["versions"][k[4:]] = v
        elif k == "date_utc":
            meta["run_utc"] = v
    for impl in impls:
        src = os.path.join(work, impl)
        dst = os.path.join(out, impl)
        os.makedirs(dst, exist_ok=True)
        for old in glob.glob(os.path.join(dst, "*.mrt*")):
            os.remove(old)
        if impl == "gobgp":
            # GoBGP's own rotation (60 s), each piece kept under its own name
            for p in sorted(glob.glob(os.path.join(src, "updates.*.mrt"))):
                if os.path.getsize(p) > 0:
                    write_gz([p], os.path.join(dst, os.path.basename(p) + ".gz"))
            ribs = glob.glob(os.path.join(src, "rib.*.mrt"))
        else:
            if impl == "frr":
                write_gz([os.path.join(src, "updates.mrt")], os.path.join(dst, "updates.mrt.gz"))
            # FRR "dump bgp all" / BIRD mrtdump: every message + state changes
            write_gz([os.path.join(src, "all.mrt" if impl == "frr" else "updates.mrt")],
                     os.path.join(dst, "all.mrt.gz"))
            ribs = glob.glob(os.path.join(src, "rib-t*.mrt"))
        # every RIB dump, named by its dump time as an archive names it
        for p in ribs:
            if os.path.getsize(p) > 0:
                ts = scan_mrt(p)["first_ts"]
                name = "rib.%s.mrt.gz" % datetime.datetime.fromtimestamp(
                    ts, datetime.timezone.utc).strftime("%Y%m%d.%H%M%S")
                write_gz([p], os.path.join(dst, name))
        if not any(n.endswith(".mrt.gz") and not n.startswith("rib.") for n in os.listdir(dst)):
            sys.exit("%s wrote no update file in %s: see its log there" % (impl, src))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "lab-run.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


# ------------------------------------------------------------------ analysis
def peers():
    res = []
    for line in open(os.path.join(HERE, "peers.tsv")):
        if line.startswith("#") or not line.strip():
            continue
        c = line.rstrip("\n").split("\t")
        res.append({"ip": c[0], "asn": int(c[1]), "flag": c[4], "cut": c[5], "note": c[8],
                    "extra": c[9] if len(c) > 9 else "-"})
    return res


def analyse_messages(lines, t0):
    """Facts from bgpdump -m lines of an updates/all file."""
    f = {}
    upd = [l for l in lines if l[2] in ("A", "W")]
    states = [l for l in lines if l[2] == "STATE"]
    f["states"] = [(int(l[1]), l[3], int(l[4]), int(l[5]), int(l[6])) for l in states]
    # session reset window
    f["w_from_65003_during_reset"] = sum(
        1 for l in upd if l[2] == "W" and l[3] == "127.0.0.13" and t0 + 55 <= int(l[1]) <= t0 + 90)
    back = [int(l[1]) for l in upd if l[3] == "127.0.0.13" and l[2] == "A" and int(l[1]) >= t0 + 70]
    f["reset_reannounce_first"] = min(back) if back else None
    f["reset_reannounce_count"] = sum(
        1 for l in upd if l[3] == "127.0.0.13" and l[2] == "A" and back and min(back) <= int(l[1]) <= min(back) + 5
        and not l[5].startswith("10.255."))
    # mass withdrawal
    mw = [l for l in upd if l[2] == "W" and l[3] == "127.0.0.14" and t0 + 110 <= int(l[1]) < t0 + 135
          and not l[5].startswith("10.255.")]
    f["mass_w_count"] = len(mw)
    f["mass_w_prefixes"] = len({l[5] for l in mw})
    f["mass_w_first"] = min(int(l[1]) for l in mw) if mw else None
    f["mass_w_last"] = max(int(l[1]) for l in mw) if mw else None
    f["mass_w_flagged"] = sorted({l[5] for l in mw if l[5] in FLAGGED})
    ra = [l for l in upd if l[2] == "A" and l[3] == "127.0.0.14" and t0 + 135 <= int(l[1]) < t0 + 160
          and not l[5].startswith("10.255.")]
    f["mass_reannounce_count"] = len(ra)
    f["mass_reannounce_first"] = min(int(l[1]) for l in ra) if ra else None
    f["mass_reannounce_last"] = max(int(l[1]) for l in ra) if ra else None
    # flagged prefixes
    fl = [l for l in upd if l[5] in FLAGGED]
    via10 = [l for l in fl if l[2] == "A" and "64510" in l[6].split()]
    f["last_via_64510"] = max(int(l[1]) for l in via10) if via10 else None
    f["last_via_64510_by_peer"] = {}
    for l in via10:
        k = "%s AS%s" % (l[3], l[4])
        f["last_via_64510_by_peer"][k] = max(f["last_via_64510_by_peer"].get(k, 0), int(l[1]))
    cut = [l for l in fl if l[2] == "A" and t0 + 175 <= int(l[1]) < t0 + 200 and "64520" in l[6].split()]
    f["cut_announcements"] = sorted({(int(l[1]), l[3], int(l[4]), l[6]) for l in cut})
    f["any_64510_after_cut"] = any(int(l[1]) > t0 + 185 for l in via10)
    disc = [l for l in fl if l[2] == "W" and int(l[1]) >= t0 + DISCONNECT - 10]
    f["disconnect"] = {}
    for p in FLAGGED:
        ws = sorted((int(l[1]), l[3], int(l[4])) for l in disc if l[5] == p)
        f["disconnect"][p] = ws
    own = [l for l in fl if l[2] == "A" and l[6].split()[-1] == ORIGIN]
    f["last_flagged_announce"] = max(int(l[1]) for l in own) if own else None
    f["flagged_a_after_disconnect"] = sum(1 for l in own if int(l[1]) >= t0 + DISCONNECT)
    f["foreign"] = sorted({(int(l[1]), l[3], int(l[4]), l[5], l[6]) for l in fl
                           if l[2] == "A" and l[6].split()[-1] != ORIGIN})
    # the session of AS65001 drops at the cut and comes back without the flagged prefixes
    f["w_flagged_from_65001_after_cut"] = sum(
        1 for l in fl if l[2] == "W" and l[3] == "127.0.0.11" and int(l[1]) >= t0 + 175)
    back1 = [l for l in upd if l[3] == "127.0.0.11" and l[2] == "A" and t0 + 190 <= int(l[1]) < t0 + 230
             and not l[5].startswith("10.255.")]
    f["drop_back_first"] = min(int(l[1]) for l in back1) if back1 else None
    f["drop_back_count"] = len(back1)
    f["drop_back_flagged"] = sum(1 for l in back1 if l[5] in FLAGGED)
    # baseline paths of the flagged prefixes
    base = {}
    for l in fl:
        if l[2] == "A" and int(l[1]) < t0 + 55:
            base[(l[3], l[4])] = l[6]
    f["baseline_paths"] = sorted((k[0], int(k[1]), v) for k, v in base.items())
    # churn / silence: longest gap between two UPDATE lines of one peer in [T0, T0+300]
    gaps = {}
    by_peer = collections.defaultdict(list)
    for l in upd:
        if t0 <= int(l[1]) <= t0 + 300:
            by_peer[(l[3], int(l[4]))].append(int(l[1]))
    for k, ts in by_peer.items():
        ts = sorted(set(ts))
        gaps["%s AS%d" % k] = max(b - a for a, b in zip(ts, ts[1:])) if len(ts) > 1 else None
    f["max_gap"] = dict(sorted(gaps.items()))
    f["update_peers"] = sorted({"%s AS%s" % (l[3], l[4]) for l in upd})
    return f


def peer_index(path):
    """Decode the PEER_INDEX_TABLE (first record) of a TABLE_DUMP_V2 file."""
    d = read_raw(path)
    _, typ, sub, length = struct.unpack_from(">IHHI", d, 0)
    assert (typ, sub) == (13, 1), "first record is not a PEER_INDEX_TABLE"
    b = d[12:12 + length]
    cid = ".".join(str(x) for x in b[:4])
    vl = struct.unpack_from(">H", b, 4)[0]
    view = b[6:6 + vl].decode("ascii", "replace")
    p = 6 + vl
    n = struct.unpack_from(">H", b, p)[0]
    p += 2
    peers = []
    for _ in range(n):
        pt = b[p]
        p += 1
        bid = ".".join(str(x) for x in b[p:p + 4])
        p += 4
        if pt & 1:
            import ipaddress
            ip = str(ipaddress.IPv6Address(b[p:p + 16]))
            p += 16
        else:
            ip = ".".join(str(x) for x in b[p:p + 4])
            p += 4
        if pt & 2:
            asn = struct.unpack_from(">I", b, p)[0]
            p += 4
        else:
            asn = struct.unpack_from(">H", b, p)[0]
            p += 2
        peers.append((pt, bid, ip, asn))
    return cid, view, peers


CHECKPOINTS = [50, 70, 100, 130, 170, 190, 210, 265, 290, 320]


def replay(lines, t0):
    """Replay A/W/STATE lines in file order; a STATE leaving Established (6)
    drops that peer's routes (peer 0.0.0.0: every peer of that AS).
    Returns the flagged-prefix visibility at each checkpoint, the time AS64510
    left the last path and the time the last flagged route went away."""
    rib = {}
    out = {}
    cps = list(CHECKPOINTS)
    via10_gone = flagged_gone = None

    def snap():
        r = {}
        for pfx in FLAGGED:
            paths = [(k[0], v) for k, v in rib.items() if k[2] == pfx and v.split()[-1] == ORIGIN]
            r[pfx] = (len(paths), sum(1 for _, v in paths if "64510" in v.split()),
                      sum(1 for _, v in paths if "64520" in v.split()))
        r["routes"] = len(rib)
        return r

    def counts():
        fl = [v for k, v in rib.items() if k[2] in FLAGGED and v.split()[-1] == ORIGIN]
        return sum(1 for v in fl if "64510" in v.split()), len(fl)

    for l in lines:
        if l[0] != "BGP4MP":
            continue
        ts = int(l[1])
        while cps and ts >= t0 + cps[0]:
            out[cps.pop(0)] = snap()
        before = counts()
        if l[2] == "A":
            rib[(l[3], l[4], l[5])] = l[6]
        elif l[2] == "W":
            rib.pop((l[3], l[4], l[5]), None)
        elif l[2] == "STATE" and l[5] == "6" and l[6] != "6":
            for k in list(rib):
                if k[0] == l[3] or (l[3] in ("0.0.0.0", "::") and k[1] == l[4]):
                    del rib[k]
        after = counts()
        if before[0] > 0 and after[0] == 0:
            via10_gone = ts
        elif after[0] > 0:
            via10_gone = None
        if before[1] > 0 and after[1] == 0:
            flagged_gone = ts
        elif after[1] > 0:
            flagged_gone = None
    while cps:
        out[cps.pop(0)] = snap()
    return out, via10_gone, flagged_gone


def analyse_rib(lines):
    rib = [l for l in lines if l[0] == "TABLE_DUMP2"]
    fl = [l for l in rib if l[5] in FLAGGED]
    return {
        "entries": len(rib),
        "prefixes": len({l[5] for l in rib}),
        "peers": sorted({"%s AS%s" % (l[3], l[4]) for l in rib}),
        "dump_ts": sorted({int(l[1]) for l in rib}),
        "flagged_entries": len(fl),
        "foreign_entries": len([l for l in fl if l[6].split()[-1] != ORIGIN]),
        "flagged_via_64510": len([l for l in fl if "64510" in l[6].split()]),
        "flagged_via_64520": len([l for l in fl if "64520" in l[6].split()]),
        "flagged_paths": sorted({(l[3], int(l[4]), l[6]) for l in fl}),
    }


def rel(ts, t0):
    return "T0%+d" % (ts - t0) if ts is not None else "-"


def fmt_ts(ts, t0):
    return "%d (%s, %s)" % (ts, utc(ts), rel(ts, t0)) if ts is not None else "none"


def message_files(names):
    """The files with the BGP4MP messages: FRR's and BIRD's `all` (it has the STATE records),
    else the updates files in name order (GoBGP's rotated pieces)."""
    if "all.mrt.gz" in names:
        return ["all.mrt.gz"]
    return sorted(n for n in names if n.startswith("updates") and n.endswith(".mrt.gz"))


def rib_files(names):
    return sorted(n for n in names if n.startswith("rib.") and n.endswith(".mrt.gz"))


def readme(out):
    meta = json.load(open(os.path.join(out, "lab-run.json")))
    t0 = meta["t0"]
    impls = meta["implementations"]
    L = []
    w = L.append
    w("# MRT samples written by real BGP implementations (lab)")
    w("")
    w("Generated by `scripts/lab/run-lab.sh` (this file is rewritten by "
      "`scripts/lab/collect.py`; do not edit by hand). The lab ran on %s." % meta.get("run_utc", "?"))
    w("")
    w("Real BGP daemons acted as route collectors (AS6447) and wrote MRT files while six real")
    w("ExaBGP speakers peered with them over loopback and played a scripted scenario in wall-clock")
    w("time. All timestamps below are the ones found in the files (`bgpdump -m`, unix seconds, UTC).")
    w("")
    w("## What ran")
    w("")
    w("| role | daemon | Debian package | version | address |")
    w("| --- | --- | --- | --- | --- |")
    for i in impls:
        w("| collector AS6447 | %s | `%s` | %s | %s port 1179 (passive) |" % (
            IMPL_NAMES[i], IMPL_PKG[i], meta["versions"].get(IMPL_PKG[i], "?"), COLLECTOR_IP[i]))
    w("| 6 peers | ExaBGP | `exabgp` | %s | 127.0.0.11 .. 127.0.0.16 |" % meta["versions"].get("exabgp", "?"))
    w("| reference reader | bgpdump | `bgpdump` | %s | - |" % meta["versions"].get("bgpdump", "?"))
    w("")
    w("Every ExaBGP process peers with every collector, so the three collectors saw the same")
    w("sessions and the same UPDATEs at (almost) the same second; only the encoding differs.")
    w("")
    w("## Peers")
    w("")
    w("| peer IP | ASN | next hop in routes | flagged path at baseline | after the upstream cut | role |")
    w("| --- | --- | --- | --- | --- | --- |")
    for p in peers():
        nh = "198.18.0." + p["ip"].rsplit(".", 1)[1]
        cut = p["cut"] if p["cut"] != "-" else "(unchanged)"
        cut = cut if cut == "(unchanged)" else "%d %s" % (p["asn"], cut)
        w("| %s | %d | %s | `%d %s` | %s | %s |" % (p["ip"], p["asn"], nh, p["asn"], p["flag"],
                                                    "`%s`" % cut if "(" not in cut else cut, p["note"]))
    w("")
    w("Next hops are 198.18.0.x (RFC 2544 range) because FRR and GoBGP reject 127/8 next hops as")
    w("martians; it is an attribute only. Each peer announces the same 300 background prefixes")
    w("`10.0.0.0/24 .. 10.1.43.0/24` with path `<peerAS> <6470x> <64600 + j%50>` (one UPDATE per")
    w("distinct path, several NLRI each), the 3 flagged prefixes `192.0.2.0/24`, `198.51.100.0/24`,")
    w("`203.0.113.0/24` originated by AS64500, and one churn prefix `10.255.<n>.0/24` (n = 1..6,")
    w("path `<peerAS> <6470x> 64699`) whose MED changes every 15 s and which is withdrawn every")
    w("4th 15-s slot, so no peer is silent for more than ~15 s (except AS65003 while it is down).")
    w("")
    w("## Scenario (T0 = %d = %s)" % (t0, utc(t0)))
    w("")
    w("| phase | planned | what happens |")
    w("| --- | --- | --- |")
    w("| baseline | T0-18 (%s) | all 6 speakers connect and announce 300 background + 3 flagged + churn |" % utc(t0 - 18))
    w("| RIB dumps | every 30 s from T0+10 (%s) to T0+310 | `rib.YYYYMMDD.HHMMSS.mrt.gz` (TABLE_DUMP_V2), named by dump time; GoBGP every 60 s by itself |" % utc(t0 + 10))
    w("| session reset | T0+60 .. T0+80 (%s .. %s) | ExaBGP AS65003 stopped (SIGTERM), restarted 20 s later; no withdrawals are sent |" % (utc(t0 + 60), utc(t0 + 80)))
    w("| mass withdrawal | T0+120 .. T0+140 (%s .. %s) | AS65004 withdraws its 300 background + 3 flagged prefixes (session up), re-announces at T0+140 |" % (utc(t0 + 120), utc(t0 + 140)))
    w("| upstream cut | T0+180/181/182 (%s) | AS65001's session drops (ExaBGP stopped) at T0+180; AS65002/65003 replace the 64510 path of the flagged prefixes by a 64520 path at T0+181/182 (implicit replacement, no withdrawal) |" % utc(t0 + 180))
    w("| session back | T0+200 (%s) | AS65001 restarted: re-announces its table without the flagged prefixes, which it never withdraws |" % utc(t0 + 200))
    w("| disconnection | T0+%d+k (%s .. %s) | peer k (k = 1..5 for AS65002..AS65006) withdraws the 3 flagged prefixes |" % (DISCONNECT, utc(t0 + DISCONNECT + 1), utc(t0 + DISCONNECT + 5)))
    w("| foreign origin | T0+%d (%s) | AS65005 announces `192.0.2.0/24` with path `65005 64666`: originated by AS64666, not AS64500 |" % (FOREIGN, utc(t0 + FOREIGN)))
    w("| end | T0+330 (%s) | update dumps closed while every session is still up, then the daemons are stopped |" % utc(t0 + 330))
    w("")
    w("GoBGP writes its table dumps by itself every 60 s after its start (start = T0-20), so its")
    w("RIB dumps are at about T0+40, T0+100, ... T0+280; all are kept. FRR and BIRD dumps are")
    w("triggered every 30 s with `dump bgp routes-mrt FILE` and")
    w("`birdc mrt dump table \"master4\" to FILE`. Every RIB dump falls inside the span of an")
    w("update file (GoBGP rotates its updates every 60 s; FRR and BIRD write one file).")
    w("")
    w("## Key facts at a glance")
    w("")
    w("Unix seconds as found by `bgpdump -m` (T0 = %d). Source files: the `updates.*` pieces for GoBGP, "
      "`all.mrt.gz` for FRR and BIRD (their `all` carries the STATE records)." % t0)
    w("")
    summary = collections.OrderedDict()
    facts = {"t0": t0}
    for i in impls:
        d = os.path.join(out, i)
        lines = [l for mf in message_files(os.listdir(d)) for l in bgpdump(os.path.join(d, mf))]
        f = analyse_messages(lines, t0)
        _, gone10, gone_fl = replay(lines, t0)
        down = [s_ for s_ in f["states"] if s_[2] == 65003 and s_[3] == 6 and s_[4] != 6]
        up = [s_ for s_ in f["states"] if s_[2] == 65003 and s_[4] == 6 and s_[0] > t0]
        row = collections.OrderedDict()
        row["STATE lines (total / of AS65003)"] = "%d / %d" % (
            len(f["states"]), sum(1 for s_ in f["states"] if s_[2] == 65003))
        row["AS65003 session down (STATE leaving 6)"] = ", ".join(
            "%d %s (peer %s, %d->%d)" % (s_[0], rel(s_[0], t0), s_[1], s_[3], s_[4]) for s_ in down) or "no record"
        row["AS65003 session up again (STATE ->6)"] = ", ".join(
            "%d %s" % (s_[0], rel(s_[0], t0)) for s_ in up) or "no record"
        row["AS65003 routes re-announced (first A)"] = "%d %s" % (
            f["reset_reannounce_first"], rel(f["reset_reannounce_first"], t0))
        row["AS65004 mass withdrawal (W lines, time)"] = "%d W at %s" % (
            f["mass_w_count"], ", ".join("%d %s" % (t, rel(t, t0)) for t in sorted({f["mass_w_first"], f["mass_w_last"]})))
        row["AS65004 re-announcement (A lines, time)"] = "%d A at %d %s" % (
            f["mass_reannounce_count"], f["mass_reannounce_first"], rel(f["mass_reannounce_first"], t0))
        row["last A line with 64510 in a flagged path"] = "%d %s" % (f["last_via_64510"], rel(f["last_via_64510"], t0))
        down1 = [s_ for s_ in f["states"] if s_[2] == 65001 and s_[3] == 6 and s_[4] != 6]
        row["AS65001 session down at the cut (STATE leaving 6)"] = ", ".join(
            "%d %s" % (s_[0], rel(s_[0], t0)) for s_ in down1) or "no record"
        row["AS65001 back: first A, A lines, flagged among them, flagged W after T0+175"] = "%s, %d, %d, %d" % (
            "%d %s" % (f["drop_back_first"], rel(f["drop_back_first"], t0)) if f["drop_back_first"] else "-",
            f["drop_back_count"], f["drop_back_flagged"], f["w_flagged_from_65001_after_cut"])
        row["64510 gone from every flagged path (replay)"] = (
            "%d %s" % (gone10, rel(gone10, t0)) if gone10 else "never (AS65001's route is never withdrawn)")
        row["last withdrawal of each flagged prefix"] = "; ".join(
            "%s: %d %s by AS%d" % (p_, ws[-1][0], rel(ws[-1][0], t0), ws[-1][2])
            for p_, ws in f["disconnect"].items())
        row["flagged prefixes gone from every peer (replay)"] = (
            "%d %s" % (gone_fl, rel(gone_fl, t0)) if gone_fl else "never (AS65001's routes are never withdrawn)")
        row["foreign origin (A line)"] = "; ".join(
            "%d %s %s AS%d `%s` `%s`" % (x[0], rel(x[0], t0), x[1], x[2], x[3], x[4]) for x in f["foreign"]) or "none"
        summary[i] = row
        ribs = sorted(int(bgpdump(os.path.join(d, r))[0][1]) for r in rib_files(os.listdir(d)))
        facts[i] = {
            "message_files": message_files(os.listdir(d)),
            "state_lines": len(f["states"]),
            "rib_dump_times": ribs,
            "via_64510_gone_replay": gone10,
            "flagged_gone_replay": gone_fl,
            "last_flagged_withdrawal": max(ws[-1][0] for ws in f["disconnect"].values()),
            "last_flagged_withdrawal_peer_asn": max(f["disconnect"][FLAGGED[0]])[2],
            "cut_replacements": [c[0] for c in f["cut_announcements"]],
            "as65001_down": [s_[0] for s_ in down1],
            "as65001_back": f["drop_back_first"],
            "foreign_origin_announced": [x[0] for x in f["foreign"]],
        }
    keys = list(next(iter(summary.values())).keys())
    w("| fact | " + " | ".join(IMPL_NAMES[i] for i in impls) + " |")
    w("| --- |" + " --- |" * len(impls))
    for k in keys:
        w("| %s | " % k + " | ".join(summary[i][k] for i in impls) + " |")
    w("")
    w("Every flagged prefix is withdrawn by the five peers that still have it during the disconnection,")
    w("one peer per second: AS65002 T0+%d, AS65003 T0+%d, AS65004 T0+%d, AS65005 T0+%d, AS65006 T0+%d" % tuple(
        DISCONNECT + k for k in range(1, 6)))
    w("(all three prefixes in one UPDATE per peer). The upstream cut is an implicit replacement at")
    w("AS65002 (T0+181) and AS65003 (T0+182), each re-announcing the 3 prefixes via 64520; AS65001's")
    w("route via 64510 ends with its session at T0+180, and no message of AS65001 ever withdraws it.")
    w("Where the collector writes no STATE record (GoBGP), only the re-sent table at T0+200, which")
    w("lacks the flagged prefixes, and the next RIB dump tell that AS65001 no longer has them.")
    w("")
    all_files = []
    for i in impls:
        d = os.path.join(out, i)
        files = sorted(os.listdir(d), key=lambda n: (n.startswith("rib."), n != "all.mrt.gz", n))
        w("## %s (`%s/`)" % (IMPL_NAMES[i], i))
        w("")
        w("| file | bytes | sha256 | records | MRT type/subtype (records) | BGP messages | bgpdump -m lines |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        parsed = {}
        for fn in files:
            path = os.path.join(d, fn)
            if not fn.endswith(".mrt.gz"):
                continue
            sc = scan_mrt(path)
            lines = bgpdump(path)
            parsed[fn] = lines
            cnt = collections.Counter(l[2] if l[0] == "BGP4MP" else l[0] for l in lines)
            all_files.append(path)
            w("| `%s` | %d | `%s` | %d | %s | %s | %s |" % (
                fn, os.path.getsize(path), sha256(path), sc["records"],
                ", ".join("%s %d" % kv for kv in sc["types"].items()),
                ", ".join("%s %d" % kv for kv in sc["bgp_messages"].items()) or "-",
                ", ".join("%s %d" % kv for kv in sorted(cnt.items()))))
        w("")
        msgfiles = message_files(parsed)
        msgfile = ", ".join("`%s`" % m for m in msgfiles) if len(msgfiles) < 3 else "the %d `updates.*` files" % len(msgfiles)
        msglines = [l for m in msgfiles for l in parsed[m]]
        f = analyse_messages(msglines, t0)
        if "updates.mrt.gz" in parsed and msgfiles != ["updates.mrt.gz"]:
            fu = analyse_messages(parsed["updates.mrt.gz"], t0)
            au = [l for l in parsed["updates.mrt.gz"] if l[2] in ("A", "W")]
            aa = [l for l in msglines if l[2] in ("A", "W")]
            w("`updates.mrt.gz` and `all.mrt.gz` carry the same A/W lines: %s (%d vs %d)." % (
                "yes" if au == aa else "NO", len(au), len(aa)))
            w("")
        w("Facts from %s (`bgpdump -m`):" % msgfile)
        w("")
        st = f["states"]
        if st:
            per = collections.Counter("%s AS%d" % (s[1], s[2]) for s in st)
            w("- STATE lines: %d in total: %s." % (len(st), ", ".join("%s: %d" % kv for kv in sorted(per.items()))))
            w("  All of them (time, peer, old -> new state):")
            w("")
            w("  ```")
            for s in st:
                w("  %d %s %s AS%d %d->%d (%s -> %s)" % (s[0], rel(s[0], t0), s[1], s[2], s[3], s[4],
                                                      FSM.get(s[3], "?"), FSM.get(s[4], "?")))
            w("  ```")
            w("")
        else:
            w("- STATE lines: **none** (this implementation writes no BGP4MP_STATE_CHANGE records).")
        w("- Peers with UPDATE lines: %s." % ", ".join(f["update_peers"]))
        w("- Baseline paths of the flagged prefixes (before T0+55): %s." % "; ".join(
            "%s AS%d `%s`" % p for p in f["baseline_paths"]))
        w("- Session reset of AS65003 (127.0.0.13): W lines from 127.0.0.13 during T0+55..T0+90: %d; "
          "routes re-announced from %s (%d background+flagged A lines within 5 s)." % (
              f["w_from_65003_during_reset"], fmt_ts(f["reset_reannounce_first"], t0), f["reset_reannounce_count"]))
        w("- Mass withdrawal by AS65004 (127.0.0.14): %d W lines (%d distinct prefixes, flagged among them: %s), "
          "first %s, last %s; re-announced: %d A lines, %s .. %s." % (
              f["mass_w_count"], f["mass_w_prefixes"], ", ".join(f["mass_w_flagged"]) or "none",
              fmt_ts(f["mass_w_first"], t0), fmt_ts(f["mass_w_last"], t0), f["mass_reannounce_count"],
              fmt_ts(f["mass_reannounce_first"], t0), fmt_ts(f["mass_reannounce_last"], t0)))
        w("- Last A line of a flagged prefix whose path contains 64510: %s; per peer: %s. "
          "Any such line after T0+185: %s." % (
              fmt_ts(f["last_via_64510"], t0),
              ", ".join("%s %s" % (k, rel(v, t0)) for k, v in sorted(f["last_via_64510_by_peer"].items())),
              "yes" if f["any_64510_after_cut"] else "no"))
        w("- AS65001's session drop at the cut: flagged W lines from 127.0.0.11 after T0+175: %d; "
          "back from %s with %d background A lines, %d of them flagged." % (
              f["w_flagged_from_65001_after_cut"], fmt_ts(f["drop_back_first"], t0), f["drop_back_count"],
              f["drop_back_flagged"]))
        w("- Upstream-cut replacements (A lines via 64520 in T0+175..T0+200): %s." % "; ".join(
            "%d (%s) %s AS%d `%s`" % (c[0], rel(c[0], t0), c[1], c[2], c[3]) for c in f["cut_announcements"]))
        w("- Disconnection, W lines of each flagged prefix after T0+%d:" % (DISCONNECT - 10))
        for p, ws in f["disconnect"].items():
            last = max(x[0] for x in ws) if ws else None
            w("  - `%s`: %d withdrawals, last at %s; by %s." % (
                p, len(ws), fmt_ts(last, t0), ", ".join("AS%d@%s" % (x[2], rel(x[0], t0)) for x in ws)))
        w("- Last A line of a flagged prefix from AS64500: %s; such A lines at or after T0+%d: %d." % (
            fmt_ts(f["last_flagged_announce"], t0), DISCONNECT, f["flagged_a_after_disconnect"]))
        w("- A lines of a flagged prefix from another origin: %s." % ("; ".join(
            "%s %s AS%d `%s` path `%s`" % (fmt_ts(x[0], t0), x[1], x[2], x[3], x[4]) for x in f["foreign"]) or "none"))
        w("- Longest gap (s) between two UPDATE lines of one peer within [T0, T0+300] (AS65003 and AS65001 are down 20 s each): %s." % ", ".join(
            "%s: %s" % kv for kv in f["max_gap"].items()))
        w("")
        vis, gone10, gone_fl = replay(msglines, t0)
        w("- Replaying %s in order (A adds, W removes, a STATE leaving Established drops the peer's"
          " routes; for a STATE record with peer 0.0.0.0 all routes of that peer AS; routes from"
          " another origin do not count): AS64510 left the last flagged path at %s; the last flagged"
          " route disappeared at %s." % (msgfile, fmt_ts(gone10, t0), fmt_ts(gone_fl, t0)))
        w("")
        w("  Flagged-prefix visibility (peers with a route from AS64500 / via 64510 / via 64520, identical for the"
          " 3 prefixes: %s) and total routes held, at checkpoints:" % (
              "yes" if all(len({v[p] for p in FLAGGED}) == 1 for v in vis.values()) else "NO"))
        w("")
        w("  | at | " + " | ".join("T0+%d" % c for c in CHECKPOINTS) + " |")
        w("  | --- |" + " --- |" * len(CHECKPOINTS))
        w("  | peers/64510/64520 | " + " | ".join("%d/%d/%d" % vis[c][FLAGGED[0]] for c in CHECKPOINTS) + " |")
        w("  | routes held | " + " | ".join(str(vis[c]["routes"]) for c in CHECKPOINTS) + " |")
        w("")
        w("RIB dumps (`bgpdump -m`, TABLE_DUMP2 lines):")
        w("")
        w("| file | dump time | entries | prefixes | peers | flagged entries | flagged via 64510 | flagged via 64520 | flagged from another origin |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        ribs = rib_files(parsed)
        for name in ribs:
            r = analyse_rib(parsed[name])
            w("| `%s` | %s | %d | %d | %d | %d | %d | %d | %d |" % (
                name, ", ".join(fmt_ts(t, t0) for t in r["dump_ts"]), r["entries"], r["prefixes"],
                len(r["peers"]), r["flagged_entries"], r["flagged_via_64510"], r["flagged_via_64520"],
                r["foreign_entries"]))
        w("")
        if ribs:
            pits = [peer_index(os.path.join(d, r)) for r in ribs]
            cid, view, pit = pits[0]
            w("PEER_INDEX_TABLE (%s in the %d dumps): collector BGP ID %s, view name %s, %d peers (as in the first): %s." % (
                "the same" if all(x == pits[0] for x in pits) else
                "same collector and peers, but the peer ORDER differs" if all(
                    x[:2] == pits[0][:2] and sorted(x[2]) == sorted(pits[0][2]) for x in pits) else
                "NOT the same", len(pits),
                cid, '"%s"' % view if view else "empty", len(pit), ", ".join(
                    "#%d %s AS%d (type %d, BGP ID %s)" % (i, x[2], x[3], x[0], x[1]) for i, x in enumerate(pit))))
            w("")
    with open(os.path.join(out, "facts.json"), "w") as fh:
        json.dump(facts, fh, indent=1, sort_keys=True)
        fh.write("\n")
    total = sum(os.path.getsize(p) for p in all_files)
    w("Total size of the MRT samples: %d bytes." % total)
    w("")
    w(NOTES)
    with open(os.path.join(out, "README.md"), "w") as fh:
        fh.write("\n".join(L).rstrip("\n") + "\n")


NOTES = """## Implementation notes (what a parser meets in these files)

- All files are gzip-compressed raw MRT (deterministic gzip: no name, mtime 0); `bgpdump`
  reads them directly. Timestamps have one-second resolution (no BGP4MP_ET) in every file.
  Every file read cleanly with `bgpdump -q -m` (exit 0, nothing on stderr) and with the
  record scanner of `scripts/lab/collect.py` (no truncated record).
- **GoBGP** `updates` dump: UPDATE messages only, as BGP4MP/MESSAGE_AS4; it never writes
  STATE_CHANGE records, so its session reset is visible only as the re-announcement of
  AS65003's routes at T0+80 (no withdrawal precedes it, and a replay keeps AS65003's
  routes through the reset, and AS65001's flagged routes through its drop at the cut).
  GoBGP rotates the updates file every 60 s; the pieces are kept as written, under
  GoBGP's names (`updates.YYYYMMDD.HHMMSS.mrt`, the time the piece was opened). Its PEER_INDEX_TABLE has collector BGP ID
  0.0.0.0 (even though its router-id is 127.0.0.1), an empty view name and a dummy peer #0
  0.0.0.0 AS0 for local routes; the order of the other peers changes from one dump to the
  next (Go map order), so peer indexes must be resolved per file.
- **FRR** `dump bgp updates`: UPDATEs only (BGP4MP/MESSAGE_AS4). `dump bgp all`: every
  received message plus BGP4MP/STATE_CHANGE_AS4; it is the only FRR dump with state
  changes. The OPEN messages are written as BGP4MP/MESSAGE (2-byte AS fields), everything
  after them as MESSAGE_AS4. FRR records its internal states too: 7 = Clearing and
  8 = Deleted are not RFC 4271 FSM states; each passive session start shows the
  "doppelganger" peer of the incoming connection (Idle->Active->OpenSent->OpenConfirm->
  Established) followed by `Active->Deleted` of the configured peer, in the same second.
  `dump bgp routes-mrt` writes TABLE_DUMP_V2 PEER_INDEX_TABLE + RIB_IPV4_UNICAST with all
  paths, view name "VRF default". FRR ran without zebra (`-Z`): next hops are unresolved
  but the paths are stored and dumped.
- **BIRD 2** `mrtdump` with `mrtdump protocols { states, messages }`: every received BGP
  message plus BGP4MP/STATE_CHANGE_AS4 records in one file. The OPEN and the first
  KEEPALIVE of each session are BGP4MP/MESSAGE (2-byte AS), the rest MESSAGE_AS4. BIRD
  writes the Established->Idle record of the session reset with **peer and local address
  0.0.0.0** (peer AS 65003 is right): a reader that keys sessions by peer IP will not
  match it with 127.0.0.13. BIRD refuses 127/8 as a directly connected neighbour, so the
  sessions are `multihop`; next hops stay unresolved but the routes are kept and dumped.
  `mrt dump table` writes PEER_INDEX_TABLE (view "master4", dummy peer #0 of IPv6 type
  `::` AS0) + RIB_IPV4_UNICAST with every path of master4.
- ExaBGP, stopped with SIGTERM for the session reset, sent no NOTIFICATION: no file holds
  a NOTIFICATION message; the collectors saw the TCP connection close.

## Reproduce

    sudo scripts/lab/run-lab.sh            # gobgp frr bird; ~6 min; rewrites samples/lab/
    sudo scripts/lab/run-lab.sh gobgp      # one implementation only

The run installs the Debian packages it needs (`gobgpd`, `frr`, `bird2`, `exabgp`,
`bgpdump`), uses only 127.0.0.0/8, stops every daemon it started (also on failure or
Ctrl-C) and leaves its logs in a temporary directory only when `LAB_KEEP_WORK=1` or on
failure. Timestamps (and so sha256 sums) change with every run; the relative facts do not.
"""


def main():
    if sys.argv[1] == "--readme-only":
        readme(sys.argv[2])
        return
    work, out, impls = sys.argv[1], sys.argv[2], sys.argv[3:]
    collect(work, out, impls)
    readme(out)


if __name__ == "__main__":
    main()
