#!/usr/bin/env python3
"""Render the lab configs from templates/ and peers.tsv.

usage: render.py WORKDIR T0 IMPL[,IMPL...]
writes WORKDIR/<impl>/<daemon config> and WORKDIR/exabgp/AS<asn>.conf
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TPL = os.path.join(HERE, "templates")

# collector address per implementation (all listen on PORT)
COLLECTORS = {"gobgp": "127.0.0.1", "frr": "127.0.0.2", "bird": "127.0.0.3"}
PORT = 1179


def tpl(name, **kw):
    with open(os.path.join(TPL, name)) as f:
        text = f.read()
    for k, v in kw.items():
        text = text.replace("@%s@" % k, str(v))
    return text


def peers():
    out = []
    with open(os.path.join(HERE, "peers.tsv")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            out.append(dict(ip=c[0], asn=int(c[1]), index=int(c[2]), transit=int(c[3]),
                            flag=c[4], cut=c[5], cut_offset=c[6], mass=c[7] == "yes",
                            extra=c[9] if len(c) > 9 and c[9] != "-" else ""))
    return out


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    work, t0, impls = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    ps = peers()
    for impl in impls:
        ip = COLLECTORS[impl]
        out = os.path.join(work, impl)
        if impl == "gobgp":
            nb = "".join(tpl("gobgpd-neighbor.toml.in", PEER_IP=p["ip"], PEER_AS=p["asn"],
                             COLLECTOR_IP=ip) for p in ps)
            # GoBGP formats the whole MRT file name as a Go time layout, directory included:
            # a digit of a mktemp name ("4" is the minute) would be replaced, so the files go
            # through a link whose path has no layout token (run-lab.sh makes it).
            mrt_dir = os.environ.get("LAB_GOBGP_MRT_DIR", out)
            write(os.path.join(out, "gobgpd.toml"),
                  tpl("gobgpd.toml.in", COLLECTOR_IP=ip, PORT=PORT, OUT=mrt_dir, NEIGHBORS=nb))
        elif impl == "frr":
            nb = "".join(tpl("frr-neighbor.conf.in", PEER_IP=p["ip"], PEER_AS=p["asn"],
                             COLLECTOR_IP=ip) for p in ps)
            af = "".join(tpl("frr-af-neighbor.conf.in", PEER_IP=p["ip"]) for p in ps)
            write(os.path.join(out, "bgpd.conf"),
                  tpl("frr-bgpd.conf.in", COLLECTOR_IP=ip, OUT=out, NEIGHBORS=nb.rstrip("\n"),
                      AF_NEIGHBORS=af.rstrip("\n")))
        elif impl == "bird":
            nb = "".join(tpl("bird-neighbor.conf.in", PEER_IP=p["ip"], PEER_AS=p["asn"])
                         for p in ps)
            write(os.path.join(out, "bird.conf"),
                  tpl("bird.conf.in", COLLECTOR_IP=ip, PORT=PORT, OUT=out, NEIGHBORS=nb))
        else:
            sys.exit("unknown implementation %s" % impl)
    for p in ps:
        # FRR and GoBGP reject 127/8 next hops (martian), so the routes carry
        # 198.18.0.<host> (RFC 2544 benchmarking range) -- an attribute only,
        # no packet is ever sent there.
        nexthop = "198.18.0.%s" % p["ip"].rsplit(".", 1)[1]
        nb = "".join(tpl("exabgp-neighbor.conf.in", COLLECTOR_IP=COLLECTORS[i], IMPL=i,
                         PEER_IP=p["ip"], PEER_AS=p["asn"], PORT=PORT) for i in impls)
        write(os.path.join(work, "exabgp", "AS%d.conf" % p["asn"]),
              tpl("exabgp.conf.in", PEER_AS=p["asn"], PEER_IP=p["ip"], INDEX=p["index"], NEXTHOP=nexthop,
                  SPEAKER=os.path.join(HERE, "speaker.py"), T0=t0, BG_TRANSIT=p["transit"],
                  FLAG_PATH=p["flag"].replace(" ", "_"), CUT_PATH=p["cut"].replace(" ", "_"),
                  CUT_OFFSET=p["cut_offset"], MASS="--mass-withdraw" if p["mass"] else "",
                  EXTRA="--%s" % p["extra"] if p["extra"] else "",
                  NEIGHBORS=nb))


if __name__ == "__main__":
    main()
