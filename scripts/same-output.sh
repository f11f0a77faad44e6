#!/usr/bin/env bash
# same-output.sh BIN OUTDIR: every command's --help and its outputs on the samples (scan in
# every format, timeline, dump, correlate, report, collectors, config, a monitor run on a
# local mirror), elapsed times and temporary paths removed, into OUTDIR. Run it with the
# binary before and after a change that must not change behaviour, then `diff -r` the two.
# (Used for the workspace restructuring: every file identical.)
set -u
B=$(realpath "$1"); O=$(realpath -m "$2"); rm -rf "$O"; mkdir -p "$O"; cd "$(dirname "$0")/.."
norm() { sed -E 's/"elapsed[a-z_]*": ?[0-9.e-]+/"elapsed":X/g; s/[0-9a-f]{64}( +`?\/tmp\/(ev|tl).jsonl)/HASH\1/g; s/(`\/tmp\/(ev|tl).jsonl` \| `)[0-9a-f]{64}/\1HASH/g; s/in [0-9.]+ ?m?s\b/in Xs/g; s/[0-9.]+ s elapsed/X s elapsed/g; s/(elapsed|Elapsed)[^|,"]*[0-9.]+ ?m?s/\1 X/g'; }
$B --help > $O/help.txt 2>&1; $B help >> $O/help.txt 2>&1; $B -V >> $O/help.txt 2>&1
for c in scan timeline dump correlate fetch collectors monitor config report help; do
  $B $c --help > $O/help-$c.txt 2>&1; $B $c -h >> $O/help-$c.txt 2>&1; $B help $c >> $O/help-$c.txt 2>&1; echo "rc $?" >> $O/help-$c.txt
done
M=samples/mccolo-2008-11; Y=samples/routeviews-2008-02-24
for f in table jsonl json csv markdown; do
  $B scan --asn 26780 $M --format $f 2>$O/scan-m-$f.err | norm > $O/scan-m-$f.out; echo "rc ${PIPESTATUS[0]}" >> $O/scan-m-$f.out
  $B scan --asn 17557 $Y --format $f --min-duration 0s 2>$O/scan-y-$f.err | norm > $O/scan-y-$f.out; echo "rc ${PIPESTATUS[0]}" >> $O/scan-y-$f.out
done
for d in samples/awkward/*; do n=$(basename $d); $B scan --asn 26780 $d --format jsonl 2>$O/aw-$n.err | norm > $O/aw-$n.out; echo "rc ${PIPESTATUS[0]}" >> $O/aw-$n.out; done
$B scan --asn 26780 samples/lab --format jsonl 2>$O/lab.err | norm > $O/lab.out
for f in csv jsonl; do $B timeline --asn 26780 $M --format $f 2>$O/tl-$f.err | norm > $O/tl-$f.out; done
$B timeline --asn 17557 $Y --format csv 2>$O/tly.err | norm > $O/tly.out
$B dump --prefix 208.65.153.0/24 --peer 81.209.156.1 $Y > $O/dump1.out 2>&1
$B dump --asn 26780 $M --format jsonl > $O/dump2.out 2>&1
$B dump samples/awkward/updates.long_withdrawal.gz > $O/dump3.out 2>&1; echo "rc $?" >> $O/dump3.out
$B scan --asn 26780 $M --format jsonl > /tmp/ev.jsonl 2>/dev/null
$B timeline --asn 26780 $M --format jsonl > /tmp/tl.jsonl 2>/dev/null
for f in table jsonl json; do $B correlate --events /tmp/ev.jsonl --telemetry samples/spam-2008/spam-hourly.csv --control samples/spam-2008/ham-hourly.csv --format $f > $O/corr-$f.out 2>&1; echo "rc $?" >> $O/corr-$f.out; done
$B scan --asn 26780 $M --telemetry samples/spam-2008/spam-hourly.csv --format table 2>&1 | norm > $O/scan-tel.out
rm -rf /tmp/rep; $B report --events /tmp/ev.jsonl --timeline /tmp/tl.jsonl --telemetry samples/spam-2008/spam-hourly.csv --control samples/spam-2008/ham-hourly.csv --as-names samples/as-names.txt --out /tmp/rep > $O/report.out 2>&1
for f in report.md inputs.sha256 events.jsonl; do norm < /tmp/rep/$f | sed -E 's/(written|Written|generated|Generated)[^|]*20[0-9][0-9]-[0-9-]+[ T][0-9:]+( UTC)?/\1 X/g' > $O/rep-$f; done
ls /tmp/rep > $O/rep-ls
$B collectors > $O/coll.out 2>&1; $B collectors --format jsonl >> $O/coll.out 2>&1
$B config --example > $O/config-ex.out 2>&1
# monitor on a local mirror
T=$(mktemp -d); mkdir -p $T/state $T/mirror; cp -r $M/bgpdata $T/mirror/
cat > $T/m.toml <<EOT
state_dir = "$T/state"
cache_dir = "$T/cache"
[[watch]]
asn = 26780
[source]
mode = "mirror"
mirror = ["$T/mirror"]
start = "2008-11-01"
settle = "0s"
[[sink]]
type = "file"
path = "$T/alerts.jsonl"
EOT
$B config --config $T/m.toml 2>&1 | sed "s#$T#T#g" > $O/config-eff.out
$B monitor --config $T/m.toml > $O/mon.out 2>&1; echo "rc $?" >> $O/mon.out
sed -E 's/"(delivered_at|raised_at|at)":"[^"]*"/"\1":X/g' $T/alerts.jsonl | sed "s#$T#T#g" > $O/mon-alerts.out
$B monitor --config $T/m.toml >> $O/mon.out 2>&1; echo "rc $?" >> $O/mon.out
rm -rf $T /tmp/rep
$B scan --asn 26780 $M --format jsonl | head -1 > /dev/null 2> $O/pipe.err; echo "rc ${PIPESTATUS[0]}" >> $O/pipe.err
