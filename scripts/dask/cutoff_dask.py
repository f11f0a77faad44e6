#!/usr/bin/env python3
"""Run a cutoff scan on a Dask cluster: plan -> one task per partition -> merge.

The driver runs `cutoff plan` (archive listings, once), then one Dask task per partition:
each runs the `cutoff` binary on a worker, which downloads the partition's files into the
worker's own cache and returns the partial file's bytes (kilobytes). The driver writes the
partials into its work folder and runs `cutoff merge`, whose output is exactly that of one
`cutoff scan` of the same files (docs/PARTIALS.md).

Prefixes learned by earlier partitions: the first partition of each collector runs first; the
others are given what it learned (read from its partial) with --known-prefix, so usually no
partition is read twice. Where a later partition learned more, `cutoff merge` names the
partitions to read again; they are, once, and the merge is run again.

Dask retries a task whose worker died (--retries). A partition that fails on every try is
passed to `cutoff merge --failed`, which names each of its files as a gap (exit status 3):
never a silent hole.

    python3 scripts/dask/cutoff_dask.py --asn 26780 --from 2008-11-10 --to 2008-11-17 \\
        --collector route-views2 --local-workers 2 --format table
    python3 scripts/dask/cutoff_dask.py --scheduler tcp://10.0.0.5:8786 ... (an existing cluster)

On HPC or Kubernetes, start the cluster with dask-jobqueue (e.g. SLURMCluster) or
dask-kubernetes and pass its scheduler address; every worker needs the `cutoff` binary (same
version) at --cutoff and room for its cache.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

# What the scan is told: passed to every partition and (through the partials) to the merge.
SCAN_FLAGS = [
    "--asn", "--prefix", "--min-duration", "--max-residual", "--restore-fraction",
    "--full-feed", "--min-peers", "--silence", "--mass-withdrawal", "--mass-window",
    "--table-size", "--exclude-peer",
]
# How the archives are reached: passed to the planner and to every worker.
ARCHIVE_FLAGS = ["--routeviews-url", "--ris-url", "--timeout", "--retries", "--retry-delay"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="from_", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--collector", action="append", default=[])
    p.add_argument("--all-collectors", action="store_true")
    p.add_argument("--every", default="2h", help="update files per partition, by time")
    for flag in SCAN_FLAGS + ARCHIVE_FLAGS:
        p.add_argument(flag, action="append", default=[])
    p.add_argument("--cutoff", default="cutoff", help="the cutoff binary (same path on workers)")
    p.add_argument("--worker-cache", default=None,
                   help="cache folder on each worker [default: the worker's default cache]")
    p.add_argument("--planner-cache", default=None, help="cache folder for the plan's listings")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    p.add_argument("--local-workers", type=int, default=2,
                   help="without --scheduler: worker processes of a LocalCluster")
    p.add_argument("--task-retries", type=int, default=2, help="Dask retries of a failed task")
    p.add_argument("--work-dir", default=None, help="where partials are kept [default: temp]")
    p.add_argument("--format", default="jsonl")
    p.add_argument("--report", default=None)
    return p.parse_args(argv)


def flags(args, names):
    out = []
    for name in names:
        for value in getattr(args, name.lstrip("-").replace("-", "_")):
            out += [name, value]
    return out


def run_partition(cutoff, scan_args, archive_args, cache, line, known, attempt_dir):
    """A Dask task: read one partition into a partial; return its bytes."""
    # Imported here: the task runs in a worker process.
    import subprocess as sp
    import tempfile as tf

    os.makedirs(attempt_dir, exist_ok=True)
    fault_injection(line["id"])
    with tf.TemporaryDirectory(dir=attempt_dir) as tmp:
        part = os.path.join(tmp, "partition.json")
        out = os.path.join(tmp, "partial.parquet")
        with open(part, "w") as f:
            f.write(json.dumps(line))
        cmd = [cutoff, "-q", "scan", *scan_args, "--partition", part, "--partial", out,
               *archive_args]
        if cache:
            cmd += ["--cache-dir", cache]
        for prefix in known:
            cmd += ["--known-prefix", prefix]
        run = sp.run(cmd, capture_output=True, text=True)
        # 3: a file of the partition is a gap, which the partial says; the merge names it.
        if run.returncode not in (0, 3):
            raise RuntimeError(f"partition {line['id']}: cutoff exited {run.returncode}: "
                               f"{run.stderr.strip()}")
        with open(out, "rb") as f:
            return f.read()


def fault_injection(partition_id):
    """For tests: CUTOFF_DASK_KILL_ONCE=FILE kills the worker process running the first task
    (once: FILE is created); CUTOFF_DASK_FAIL=ID fails that partition on every try."""
    marker = os.environ.get("CUTOFF_DASK_KILL_ONCE")
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            os._exit(1)
        except FileExistsError:
            pass
    if os.environ.get("CUTOFF_DASK_FAIL") == partition_id:
        raise RuntimeError(f"partition {partition_id} failed (CUTOFF_DASK_FAIL)")


def learned(partial_path):
    """Prefixes a partial's streams learned (from its Parquet metadata)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(partial_path).metadata.metadata[b"cutoff.partial"]
    header = json.loads(meta)
    return sorted({p for s in header["segments"] for p in s["learned"]})


def main(argv):
    args = parse_args(argv)
    from dask.distributed import Client, LocalCluster

    scan_args = ["--from", args.from_, "--to", args.to] + flags(args, SCAN_FLAGS)
    archive_args = flags(args, ARCHIVE_FLAGS)
    work = args.work_dir or tempfile.mkdtemp(prefix="cutoff-dask-")
    os.makedirs(work, exist_ok=True)

    plan_cmd = [args.cutoff, "-q", "plan", "--from", args.from_, "--to", args.to,
                "--every", args.every, *archive_args]
    plan_cmd += ["--all-collectors"] if args.all_collectors else \
        [x for c in args.collector for x in ("--collector", c)]
    if args.planner_cache:
        plan_cmd += ["--cache-dir", args.planner_cache]
    plan = subprocess.run(plan_cmd, capture_output=True, text=True)
    if plan.returncode not in (0, 3):
        sys.stderr.write(plan.stderr)
        return 2
    lines = [json.loads(l) for l in plan.stdout.splitlines() if l.strip()]
    print(f"cutoff-dask: {len(lines)} partition(s)", file=sys.stderr)

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.local_workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)

    paths = {l["id"]: os.path.join(work, f"{l['id']}.parquet") for l in lines}
    failed = {}

    def submit(line, known):
        return client.submit(run_partition, args.cutoff, scan_args, archive_args,
                             args.worker_cache, line, known, os.path.join(work, "attempts"),
                             key=f"partition-{line['id']}-{len(known)}", retries=args.task_retries,
                             pure=False)

    def collect(futures):
        for line, fut in futures:
            try:
                data = fut.result()
            except Exception as e:  # the task failed on every try: a named gap
                failed[line["id"]] = (line, f"{type(e).__name__}: {e}")
                continue
            with open(paths[line["id"]], "wb") as f:
                f.write(data)

    by_collector = {}
    for l in lines:
        by_collector.setdefault(l["collector"], []).append(l)
    # First partitions (they hold the RIB), then the rest, told what the first ones learned.
    collect([(ls[0], submit(ls[0], [])) for ls in by_collector.values()])
    rest = []
    for ls in by_collector.values():
        first = ls[0]["id"]
        known = learned(paths[first]) if first not in failed else []
        rest += [(l, submit(l, known)) for l in ls[1:]]
    collect(rest)

    for round_ in range(2):
        merge = merge_cmd(args, paths, failed, work)
        run = subprocess.run(merge, capture_output=True, text=True)
        rereads = [json.loads(l) for l in run.stdout.splitlines()
                   if run.returncode == 2 and l.startswith("{")]
        rereads = [r for r in rereads if r.get("kind") == "reread"]
        if not rereads or round_ == 1:
            break
        print(f"cutoff-dask: {len(rereads)} partition(s) read again with learned prefixes",
              file=sys.stderr)
        by_path = {p: i for i, p in paths.items()}
        line_of = {l["id"]: l for l in lines}
        collect([(line_of[by_path[r["partial"]]],
                  submit(line_of[by_path[r["partial"]]], r["known_prefixes"])) for r in rereads])
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    client.close()
    return run.returncode


def merge_cmd(args, paths, failed, work):
    cmd = [args.cutoff, "merge", "--format", args.format]
    if args.report:
        cmd += ["--report", args.report]
    cmd += [p for i, p in paths.items() if i not in failed]
    for pid, (line, reason) in failed.items():
        f = os.path.join(work, f"{pid}.failed.json")
        with open(f, "w") as out:
            out.write(json.dumps({**line, "failed": reason}))
        cmd += ["--failed", f]
    return cmd


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
