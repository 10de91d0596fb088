#!/usr/bin/env python3
"""pandas loading the tables that `nabla bench --workloads csv,parquet` wrote, in nabla's schema.

    nabla bench --workloads csv,parquet --keep-tables /tmp/tables --json
    ~/.cache/nabla-peers/venv/bin/python crates/nabla-bench/peers/read_table.py /tmp/tables

Reads DIR/{mnist,synthetic}-train.csv with pandas.read_csv (the C engine: one thread) and
DIR/*-train.parquet with pandas.read_parquet (the pyarrow engine, at each of --threads), one
warm-up then --repeats timed reads each, and prints one JSON line per file and thread count
with the keys of nabla's table records (peer "pandas"). The same bytes as nabla's: the files
are the ones nabla wrote, not written again here.
"""
import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa


def timed(read, repeats):
    """One warm-up read, then `repeats` timed ones: (shape, seconds of each)."""
    shape = read().shape
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        df = read()
        seconds.append(time.perf_counter() - t0)
        del df
    return shape, seconds


def record(workload, path, threads, shape, seconds, engine):
    median = statistics.median(seconds)
    size = path.stat().st_size
    return {
        "peer": "pandas",
        "workload": workload,
        "threads": threads,
        "data": path.name.split("-")[0],
        "file": path.name,
        "bytes": size,
        "rows": shape[0],
        "columns": shape[1],
        "seconds_median": median,
        "seconds_all": seconds,
        "mb_per_second": size / 1e6 / median,
        # The process's peak since it started (it grows with the largest table read so far).
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "engine": engine,
        "pandas_version": pd.__version__,
        "pyarrow_version": pa.__version__,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path, help="the folder given to nabla bench --keep-tables")
    p.add_argument("--repeats", type=int, default=5, help="timed reads after the warm-up (median reported)")
    p.add_argument("--threads", default="1,2", help="pyarrow CPU threads for Parquet, comma-separated")
    args = p.parse_args()
    csvs = sorted(args.dir.glob("*-train.csv"))
    parquets = sorted(args.dir.glob("*-train.parquet"))
    if not csvs and not parquets:
        sys.exit(f"error: no *-train.csv or *-train.parquet in {args.dir} "
                 "(hint: nabla bench --workloads csv,parquet --keep-tables DIR)")
    for path in csvs:
        # read_csv's C engine parses on the calling thread only.
        shape, seconds = timed(lambda: pd.read_csv(path), args.repeats)
        print(json.dumps(record("csv", path, 1, shape, seconds, "c")), flush=True)
    for threads in [int(t) for t in args.threads.split(",")]:
        pa.set_cpu_count(threads)
        for path in parquets:
            shape, seconds = timed(lambda: pd.read_parquet(path, engine="pyarrow"), args.repeats)
            print(json.dumps(record("parquet", path, threads, shape, seconds, "pyarrow")), flush=True)


if __name__ == "__main__":
    main()
