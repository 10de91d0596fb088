"""Training time and test accuracy of `nabla.MLPClassifier` against scikit-learn's own
`MLPClassifier`, same architecture, optimiser, batch size and epochs, in one run, at 1 and 2
threads.

Run it with a Python that has scikit-learn, threadpoolctl and a release build of nabla (the
wheel of crates/nabla-py/README.md's "Install", or `maturin develop --release`):

    NABLA_DATA=/path/to/data python bench/vs_sklearn.py                      # both workloads
    python bench/vs_sklearn.py --workloads breast_cancer --repeats 5
    python bench/vs_sklearn.py --workloads mnist --seeds 3                    # accuracy over seeds
    python bench/vs_sklearn.py --json target/vs_sklearn.json                 # the raw numbers too

Workloads (the data is read from $NABLA_DATA; `nabla data fetch mnist` puts MNIST there):

* mnist: the 60,000 training images from the IDX files, as float32 in [0, 1], 784-512-256-10
  ReLU, Adam at 1e-3, batch 128, no penalty, no dropout, 5 epochs; test accuracy on the 10,000
  test images.
* breast_cancer: tabular/breast_cancer.csv, standardised (scikit-learn's StandardScaler fitted
  on the training rows), a stratified 75/25 split, 30-100-2 ReLU, Adam at 1e-3, batch 32, 200
  epochs.

Like for like: scikit-learn runs every epoch (`tol=0`, `n_iter_no_change` past the last
epoch, no early stopping, no penalty: `alpha=0`); its BLAS threads are limited with
threadpoolctl, nabla's with `threads=`. Both are given the same float32 arrays and see them
as given (nabla's `scale="none"`: the pixels are already in [0, 1] and the table already
standardised, as scikit-learn's documentation asks of its users), and both draw their first
weights Glorot-uniform (scikit-learn's rule for ReLU; nabla's `init="xavier"`), each from its
own generator. With `--seeds K` both fit K times, seeds 0 … K−1 (`random_state` and `seed`):
the accuracy is the mean over the seeds with its range, the difference nabla's mean minus
scikit-learn's in percentage points with its standard error (± one; the samples are
independent), the time the sum of the seeds' fits (each the best of `--repeats`), and the
ratio scikit-learn's time over nabla's.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def data_dir() -> Path:
    root = os.environ.get("NABLA_DATA")
    if not root:
        sys.exit("vs_sklearn: set $NABLA_DATA to the data directory (it holds mnist/ and tabular/)")
    return Path(root)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as an array of its shape: big-endian dimension sizes after a
    magic number whose last byte is the number of dimensions; unsigned bytes only."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        sys.exit(f"vs_sklearn: {path} is not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        sys.exit(f"vs_sklearn: {path} holds {data.size} values, its header says {shape}")
    return data.reshape(shape)


def find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    sys.exit(f"vs_sklearn: {directory / stem}[.gz] not found (nabla data fetch mnist)")


def mnist():
    d = data_dir() / "mnist"
    images = lambda stem: (read_idx(find(d, stem)).reshape(-1, 784).astype(np.float32) / np.float32(255.0))
    labels = lambda stem: read_idx(find(d, stem)).astype(np.int64)
    return (
        images("train-images-idx3-ubyte"),
        labels("train-labels-idx1-ubyte"),
        images("t10k-images-idx3-ubyte"),
        labels("t10k-labels-idx1-ubyte"),
    )


def breast_cancer():
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    path = data_dir() / "tabular" / "breast_cancer.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    X = np.array([[float(v) for v in r[:-1]] for r in body], dtype=np.float64)
    y = np.array([r[-1] for r in body])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    f32 = lambda a: np.ascontiguousarray(scaler.transform(a), dtype=np.float32)
    return f32(X_train), y_train, f32(X_test), y_test


WORKLOADS = {
    "mnist": dict(load=mnist, hidden=(512, 256), batch=128, epochs=5, lr=1e-3),
    "breast_cancer": dict(load=breast_cancer, hidden=(100,), batch=32, epochs=200, lr=1e-3),
}


def sklearn_model(w: dict, seed: int):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=w["hidden"],
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=w["batch"],
        learning_rate="constant",
        learning_rate_init=w["lr"],
        max_iter=w["epochs"],
        shuffle=True,
        tol=0.0,
        n_iter_no_change=w["epochs"] + 1,
        early_stopping=False,
        random_state=seed,
    )


def nabla_model(w: dict, threads: int, seed: int):
    import nabla

    return nabla.MLPClassifier(
        hidden=w["hidden"],
        activation="relu",
        optimizer="adam",
        lr=w["lr"],
        schedule="constant",
        batch_size=w["batch"],
        epochs=w["epochs"],
        dropout=0.0,
        l2=0.0,
        weight_decay=0.0,
        early_stopping=False,
        scale="none",
        init="xavier",
        seed=seed,
        threads=threads,
    )


def timed_fit(make, X, y, X_test, y_test, repeats: int):
    """(best fit seconds, test accuracy of the last fit, epochs it ran)."""
    best = float("inf")
    model = None
    for _ in range(repeats):
        model = make()
        started = time.perf_counter()
        with warnings.catch_warnings():
            # scikit-learn warns that the loss has not converged after max_iter epochs: intended.
            warnings.simplefilter("ignore")
            model.fit(X, y)
        best = min(best, time.perf_counter() - started)
    return best, float(model.score(X_test, y_test)), int(model.n_iter_)


def spread(values: list) -> str:
    """The mean of `values`, and their range when there are several."""
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.4f}"
    return f"{mean:.4f} ({min(values):.4f}–{max(values):.4f})"


def difference(ours: list, theirs: list) -> tuple:
    """nabla's mean accuracy minus scikit-learn's, in points, and the standard error of that
    difference (the two fits of a seed draw from different generators, so the samples are
    independent, not paired); the error is None with one seed."""
    diff = 100 * (float(np.mean(ours)) - float(np.mean(theirs)))
    if len(ours) < 2:
        return diff, None
    se = 100 * float(np.sqrt(np.var(ours, ddof=1) / len(ours) + np.var(theirs, ddof=1) / len(theirs)))
    return diff, se


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=["mnist", "breast_cancer"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1, help="fits per measurement; the best time counts")
    parser.add_argument("--seeds", type=int, default=1, help="fit each model with seeds 0 … K−1")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.seeds < 1 or args.repeats < 1:
        parser.error("--seeds and --repeats must be at least 1")

    import sklearn
    from threadpoolctl import threadpool_info, threadpool_limits

    import nabla

    blas = sorted({f"{p.get('internal_api')} {p.get('version')}" for p in threadpool_info()})
    env = {
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "nabla": nabla.__version__,
        "blas": blas,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    print(f"# {env['cpu']}; Python {env['python']}, NumPy {env['numpy']} ({', '.join(blas)}), "
          f"scikit-learn {env['sklearn']}, nabla {env['nabla']}; {env['started']}")
    print("| workload | threads | seeds | scikit-learn s | nabla s | ratio | scikit-learn acc | nabla acc "
          "| difference, points | epochs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    for name in args.workloads:
        w = WORKLOADS[name]
        X, y, X_test, y_test = w["load"]()
        for threads in args.threads:
            fits = []
            for seed in range(args.seeds):
                with threadpool_limits(limits=threads):
                    sk = timed_fit(lambda: sklearn_model(w, seed), X, y, X_test, y_test, args.repeats)
                    nb = timed_fit(lambda: nabla_model(w, threads, seed), X, y, X_test, y_test, args.repeats)
                fits.append(dict(seed=seed, sklearn_seconds=sk[0], nabla_seconds=nb[0], sklearn_acc=sk[1],
                                 nabla_acc=nb[1], sklearn_epochs=sk[2], nabla_epochs=nb[2]))
            sk_s = sum(f["sklearn_seconds"] for f in fits)
            nb_s = sum(f["nabla_seconds"] for f in fits)
            sk_accs = [f["sklearn_acc"] for f in fits]
            nb_accs = [f["nabla_acc"] for f in fits]
            row = dict(
                workload=name, threads=threads, rows=int(X.shape[0]), seeds=args.seeds, sklearn_seconds=sk_s,
                nabla_seconds=nb_s, ratio=sk_s / nb_s, sklearn_acc=float(np.mean(sk_accs)),
                nabla_acc=float(np.mean(nb_accs)), fits=fits,
            )
            diff, se = difference(nb_accs, sk_accs)
            row.update(acc_difference_points=diff, acc_difference_se=se)
            results.append(row)
            epochs = f"{fits[-1]['sklearn_epochs']}/{fits[-1]['nabla_epochs']}"
            print(f"| {name} | {threads} | {args.seeds} | {sk_s:.2f} | {nb_s:.3f} | {sk_s / nb_s:.1f}× | "
                  f"{spread(sk_accs)} | {spread(nb_accs)} | {diff:+.2f}{'' if se is None else f' ± {se:.2f}'} | {epochs} |",
                  flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps({"env": env, "command": sys.argv, "results": results}, indent=2) + "\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
