#!/usr/bin/env python3
"""Speed ratios of nabla against the peers from one run_all.py results file.

    python3 crates/nabla-bench/ratios.py ~/.cache/nabla-peers/results/latest.json

run_all.py prints its own ratio table, but it pairs XOR records without looking at the epoch
count or the output activation, so a 1,000-epoch nabla run can be set against the peer's
100-epoch one. Here every record is keyed by all that makes two measurements the same work:
workload, threads, data, GEMM shape, epochs and XOR output. Ratio = peer seconds / nabla
seconds (> 1: nabla is faster); for GEMM, nabla GFLOP/s / peer GFLOP/s (medians).
"""
import json
import sys


def key(r):
    workload = r.get("workload")
    threads = r.get("threads")
    if workload == "XOR":
        # The numpy peer trains its 1000 seeds as arrays on one thread: compare every nabla
        # thread count with it.
        threads = None
    return (workload, threads, r.get("data"), r.get("shape"), r.get("epochs"), r.get("output"))


def speed(r):
    if r.get("workload") == "gemm":
        return r.get("gflops_median")
    if r.get("samples_per_second"):
        return r["samples_per_second"]
    seconds = r.get("train_seconds")
    return 1.0 / seconds if seconds else None


def main(path):
    records = json.load(open(path))["records"]
    peers = {}
    for r in records:
        if r.get("peer") != "nabla" and speed(r):
            peers.setdefault(key(r), {})[r["peer"]] = speed(r)
    print("| workload | threads | data | shape / epochs | peer | ratio |")
    print("|---|---|---|---|---|---|")
    for r in records:
        if r.get("peer") != "nabla" or not speed(r):
            continue
        for peer, theirs in sorted(peers.get(key(r), {}).items()):
            detail = r.get("shape") or (f"{r.get('epochs')} ep {r.get('output') or ''}".strip() if r.get("epochs") else "")
            print(f"| {r['workload']} | {r.get('threads')} | {r.get('data') or ''} | {detail} | {peer} "
                  f"| {speed(r) / theirs:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ratios.py RESULTS.json")
    main(sys.argv[1])
