"""Per-call cost of `log` with 10 scalars, and store size per point: nabla beside the Python
trackers a user would pick instead (wandb offline, mlflow on local SQLite, trackio local).

Run it in one virtual environment that holds all four (the nabla wheel, `wandb`, `mlflow`,
`trackio`; see README.md), with no network needed:

    python bench/log_overhead.py                  # all four, markdown table on stdout
    python bench/log_overhead.py --json out.json  # the raw numbers too

Each tracker runs in its own subprocess (one at a time, same machine, same run of this
script) into a fresh temporary directory: `--warmup` calls, then `calls` timed calls of
`log({10 scalars})`, then `finish`. Reported per call: the mean time of the timed loop (what
the training loop pays), and the time including `finish` (the store's whole cost, as written
by a background thread or process). Store size per point: (size after the run − size after a
run of one call) / the points between, so that a fixed schema or file header is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

METRICS = [f"m{i}" for i in range(10)]

# The nabla run of this process (for its flush between bursts).
STATE: dict = {}

# Calls per burst: nabla's 5,000 calls (50,000 points) stay within its writer queue (65,536).
DEFAULT_CALLS = {"nabla": 5_000, "trackio": 2_000, "wandb": 1_000, "mlflow": 100}


def dir_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def tracker(name: str, store: str):
    """(start, log(dict, step), finish) for `name`, recording into `store`."""
    if name == "nabla":
        os.environ["NABLA_QUIET"] = "1"
        import nabla

        state = STATE

        def start():
            state["run"] = nabla.init(project="bench", dir=store)
            state["log"] = state["run"].log

        return start, lambda data, step: state["log"](data), lambda: state["run"].finish()
    if name == "wandb":
        os.environ.update(WANDB_MODE="offline", WANDB_DIR=store, WANDB_SILENT="true", WANDB_CONSOLE="off")
        import wandb

        state = {}

        def start():
            state["run"] = wandb.init(project="bench", dir=store)
            state["log"] = state["run"].log

        return start, lambda data, step: state["log"](data), lambda: state["run"].finish()
    if name == "mlflow":
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
        return (
            lambda: mlflow.start_run(),
            lambda data, step: mlflow.log_metrics(data, step=step),
            lambda: mlflow.end_run(),
        )
    if name == "trackio":
        os.environ.update(TRACKIO_DIR=store, HF_HUB_OFFLINE="1")
        import trackio

        return (
            lambda: trackio.init(project="bench"),
            lambda data, step: trackio.log(data, step=step),
            lambda: trackio.finish(),
        )
    raise SystemExit(f"unknown tracker {name!r} (nabla, wandb, mlflow, trackio)")


def measure_one(name: str, calls: int, repeats: int, warmup: int) -> dict:
    """Runs in a subprocess: one run in a fresh directory, `repeats` timed bursts of `calls`.

    Between bursts the tracker is given time to drain what it queued (nabla: `run.flush()`,
    the others: 0.5 s), so that a burst measures what a call costs the training loop rather
    than how fast a background writer empties a full queue; `log + finish` over all calls is
    reported beside it. Each tracker keeps its location in module state (trackio reads
    $TRACKIO_DIR on import), so the one-call run for the size baseline is another process.
    """
    import io
    from contextlib import redirect_stdout

    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as store:
        chatter = io.StringIO()  # trackers print banners; keep stdout for the JSON
        with redirect_stdout(chatter):
            start, log, finish = tracker(name, store)
            start()
            drain = STATE["run"].flush if name == "nabla" else (lambda: time.sleep(0.5))
            total = max(1, warmup + calls * repeats)
            rows = [{m: (step * 10 + i) * 1e-3 for i, m in enumerate(METRICS)} for step in range(total)]
            step = 0
            for step in range(total - calls * repeats):
                log(rows[step], step)
            step = total - calls * repeats
            bursts = []
            t_all = time.perf_counter()
            for _ in range(repeats):
                drain()
                t0 = time.perf_counter()
                for _ in range(calls):
                    log(rows[step], step)
                    step += 1
                bursts.append((time.perf_counter() - t0) / calls * 1e6)
            finish()
            t2 = time.perf_counter()
        size = dir_size(store)
    sleeps = (repeats * 0.5) if name != "nabla" else 0.0
    bursts.sort()
    return {
        "tracker": name,
        "calls": calls * repeats,
        "points": total * len(METRICS),
        "log_us": bursts[len(bursts) // 2] if bursts else 0.0,
        "log_us_bursts": bursts,
        "log_and_finish_us": (t2 - t_all - sleeps) / max(calls * repeats, 1) * 1e6 if calls else 0.0,
        "store_bytes": size,
    }


def run_one(name: str, calls: int, repeats: int, warmup: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", name, "--calls", str(calls), "--repeats", str(repeats), "--warmup", str(warmup)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def version_of(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nabla-track" if name == "nabla" else name)
    except PackageNotFoundError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trackers", default="nabla,trackio,wandb,mlflow")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every tracker's call count")
    parser.add_argument("--repeats", type=int, default=7, help="timed bursts per tracker (the median is reported)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--json", metavar="FILE", help="also write the raw results here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.calls, args.repeats, args.warmup)))
        return
    results = []
    for name in args.trackers.split(","):
        calls = max(1, int(DEFAULT_CALLS.get(name, 10_000) * args.scale))
        empty = run_one(name, 0, 0, 0)
        result = run_one(name, calls, args.repeats, args.warmup)
        result["bytes_per_point"] = (result["store_bytes"] - empty["store_bytes"]) / (result["points"] - empty["points"])
        result["version"] = version_of(name)
        results.append(result)
        print(f"{name}: {result['log_us']:.2f} us/call", file=sys.stderr)
    others = [r for r in results if r["tracker"] != "nabla"]
    fastest = min(others, key=lambda r: r["log_us"]) if others else None
    print("| tracker | version | calls | log, µs/call (median burst) | log + finish, µs/call | store, bytes/point | per call vs nabla |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    nabla = next((r for r in results if r["tracker"] == "nabla"), None)
    for r in results:
        ratio = f"{r['log_us'] / nabla['log_us']:.0f}×" if nabla else "–"
        print(
            f"| {r['tracker']} | {r['version']} | {r['calls']:,} | {r['log_us']:.2f} | "
            f"{r['log_and_finish_us']:.2f} | {r['bytes_per_point']:.1f} | {ratio} |"
        )
    if nabla and fastest:
        share = nabla["log_us"] / fastest["log_us"]
        print(
            f"\nnabla's per-call cost is {share:.3f} of the fastest other tracker's ({fastest['tracker']}); "
            f"goal <= 0.1: {'met' if share <= 0.1 else 'NOT met'}."
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
