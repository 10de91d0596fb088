"""torch's bf16 matmul on one thread, timed as benches/gemm_bf16.rs times nabla's.

Usage: python gemm_bf16_torch.py SHAPE... where SHAPE is m x k x n with an optional _bT
(op(B) = Bᵀ, B stored [n, k], as a layer's weight) or _aT (op(A) = Aᵀ, A stored [k, m]). Prints one JSON line per shape with the
best of several timed batches, in GFLOP/s (2·m·k·n per call), for two forms:

- "bf16": torch.matmul on tensors already in bf16 (the brief's peer);
- "autocast": f32 tensors under torch.autocast("cpu", torch.bfloat16), so the rounding of
  both operands is timed too, as nabla's GEMM rounds its f32 inputs on every call.
"""

import json
import sys
import time

import torch


def best_gflops(fn, flops, batches=7, min_batch_s=0.05):
    fn()
    reps = 1
    while True:
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        if time.perf_counter() - t >= min_batch_s:
            break
        reps *= 2
    best = float("inf")
    for _ in range(batches):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps)
    return flops / best / 1e9


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for label in sys.argv[1:]:
        at, bt = label.endswith("_aT"), label.endswith("_bT")
        m, k, n = (int(v) for v in label.removesuffix("_bT").removesuffix("_aT").split("x"))
        a = torch.rand(k, m) * 2 - 1 if at else torch.rand(m, k) * 2 - 1
        b = torch.rand(n, k) * 2 - 1 if bt else torch.rand(k, n) * 2 - 1
        a16, b16 = a.bfloat16(), b.bfloat16()
        ta = (lambda x: x.t()) if at else (lambda x: x)
        tb = (lambda y: y.t()) if bt else (lambda y: y)

        def op(x, y):
            return ta(x) @ tb(y)
        flops = 2 * m * k * n

        def autocast():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return op(a, b)

        print(json.dumps({
            "shape": label,
            "torch_bf16": best_gflops(lambda: op(a16, b16), flops),
            "torch_autocast": best_gflops(autocast, flops),
            "torch_f32": best_gflops(lambda: op(a, b), flops),
        }), flush=True)


if __name__ == "__main__":
    main()
