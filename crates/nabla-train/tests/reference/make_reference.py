#!/usr/bin/env python3
"""PyTorch's answers for small MLPs, written to torch_reference.safetensors beside this file:
the truth that crates/nabla-train/tests/torch_reference.rs holds nabla to.

For every case: the inputs, the targets, the initial weights, the network's output, the loss
(with its L1/L2 penalty) and the gradient of every tensor; for every optimiser: the loss before
each of 10 steps on a cycle of mini-batches, the learning rate of each step (warm-up and
cosine) and the weights after the last. Everything is computed by PyTorch's own functions and
optimisers in float64 from float32 starting values, so the file holds the exact answer to
float32 precision; nabla, in float32, must come within the test's tolerance.

Run with the peers' venv (it has torch and safetensors), from anywhere:

    ~/.cache/nabla-peers/venv/bin/python crates/nabla-train/tests/reference/make_reference.py

Rerun only when the cases change: the file is committed, so CI needs no torch. The output is
the same on every run (fixed seed, no threads in the maths that matter at float64).
"""

import json
import math
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).with_name("torch_reference.safetensors")
F64 = torch.float64
SIZES = [5, 8, 6, 3]  # two hidden layers, so every rule is chained through a hidden layer
BATCH = 7

# nabla's activation names → PyTorch's functions (nabla's defaults: leaky slope 0.01, ELU α 1).
ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky-relu": lambda z: F.leaky_relu(z, 0.01),
    "elu": lambda z: F.elu(z, 1.0),
}


def loss_of(name, y, t):
    """nabla's losses in PyTorch's terms: per-example sums over outputs, batch means."""
    if name == "softmax-ce":
        return F.cross_entropy(y, t)
    if name == "mse":  # ½ Σ (y − t)²
        return 0.5 * F.mse_loss(y, t, reduction="none").sum(1).mean()
    if name == "mae":
        return F.l1_loss(y, t, reduction="none").sum(1).mean()
    if name == "huber":
        return F.huber_loss(y, t, reduction="none", delta=1.0).sum(1).mean()
    raise ValueError(name)


def f32_exact(t):
    """A float64 tensor holding float32 values exactly (what nabla starts from)."""
    return t.to(torch.float32).to(F64)


def initial(gen):
    """PyTorch's nn.Linear initialisation, U(±1/√fan_in) for weights and biases."""
    params = []
    for fan_in, fan_out in zip(SIZES, SIZES[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = (torch.rand(fan_out, fan_in, generator=gen, dtype=F64) * 2 - 1) * bound
        b = (torch.rand(fan_out, generator=gen, dtype=F64) * 2 - 1) * bound
        params += [f32_exact(w), f32_exact(b)]
    return params


def names():
    out = []
    for layer in range(len(SIZES) - 1):
        out += [f"layers.{layer}.weight", f"layers.{layer}.bias"]
    return out


def forward(params, x, hidden, output):
    a = x
    layers = len(params) // 2
    for layer in range(layers):
        z = F.linear(a, params[2 * layer], params[2 * layer + 1])
        a = ACTIVATIONS[output if layer == layers - 1 else hidden](z)
    return a


def penalty(params, l1, l2):
    """nabla's penalty: l1·Σ|w| + l2·½Σw², on weights only (biases are not penalised)."""
    weights = params[0::2]
    return l1 * sum(w.abs().sum() for w in weights) + 0.5 * l2 * sum((w * w).sum() for w in weights)


def targets(loss, rows, gen):
    if loss == "softmax-ce":
        return torch.randint(0, SIZES[-1], (rows,), generator=gen)
    scale = 3.0 if loss == "huber" else 1.0  # Huber: some errors beyond δ = 1, some within
    return f32_exact(torch.randn(rows, SIZES[-1], generator=gen, dtype=F64) * scale)


def stored_targets(t):
    """Class indices are stored as float32 (exact for small integers), like values."""
    return t.to(torch.float32)


GRADIENT_CASES = [
    # name, hidden, output, loss, l1, l2
    ("ce-sigmoid", "sigmoid", "identity", "softmax-ce", 0.0, 0.0),
    ("ce-tanh", "tanh", "identity", "softmax-ce", 0.0, 0.0),
    ("ce-relu", "relu", "identity", "softmax-ce", 0.0, 0.0),
    ("ce-leaky-relu", "leaky-relu", "identity", "softmax-ce", 0.0, 0.0),
    ("ce-elu", "elu", "identity", "softmax-ce", 0.0, 0.0),
    ("ce-tanh-l1-l2", "tanh", "identity", "softmax-ce", 1e-3, 1e-2),
    ("mse-tanh", "tanh", "identity", "mse", 0.0, 0.0),
    ("mse-sigmoid-output", "relu", "sigmoid", "mse", 0.0, 0.0),
    ("mae-elu", "elu", "identity", "mae", 0.0, 0.0),
    ("huber-relu-l2", "relu", "identity", "huber", 0.0, 5e-2),
]

OPTIMISERS = [
    # name, torch optimiser, peak lr, weight decay
    ("sgd", lambda p, wd: torch.optim.SGD(p, lr=0.0, weight_decay=wd), 0.5, 1e-2),
    ("momentum", lambda p, wd: torch.optim.SGD(p, lr=0.0, momentum=0.9, weight_decay=wd), 0.2, 1e-2),
    ("nesterov", lambda p, wd: torch.optim.SGD(p, lr=0.0, momentum=0.9, nesterov=True, weight_decay=wd), 0.2, 0.0),
    ("adam", lambda p, wd: torch.optim.Adam(p, lr=0.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd), 0.02, 1e-2),
    ("adamw", lambda p, wd: torch.optim.AdamW(p, lr=0.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd), 0.02, 0.1),
]
STEPS, WARMUP, OPT_BATCH, OPT_ROWS = 10, 2, 8, 40


def cosine_lr(peak, step):
    """Linear warm-up over WARMUP steps, then half a cosine to 0 at the last step."""
    if step < WARMUP:
        return peak * (step + 1) / WARMUP
    t = (step - WARMUP) / max(STEPS - WARMUP, 1)
    return peak * 0.5 * (1.0 + math.cos(math.pi * t))


def main():
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(20261205)
    tensors, cases = {}, []
    for name, hidden, output, loss, l1, l2 in GRADIENT_CASES:
        params = [p.clone().requires_grad_(True) for p in initial(gen)]
        x = f32_exact(torch.randn(BATCH, SIZES[0], generator=gen, dtype=F64))
        t = targets(loss, BATCH, gen)
        y = forward(params, x, hidden, output)
        total = loss_of(loss, y, t) + penalty(params, l1, l2)
        total.backward()
        tensors[f"{name}.x"] = x.float()
        tensors[f"{name}.targets"] = stored_targets(t)
        tensors[f"{name}.output"] = y.detach().float()
        tensors[f"{name}.loss"] = total.detach().reshape(1)
        for n, p in zip(names(), params):
            tensors[f"{name}.init.{n}"] = p.detach().float()
            tensors[f"{name}.grad.{n}"] = p.grad.float()
        cases.append({"name": name, "hidden": hidden, "output": output, "loss": loss, "l1": l1, "l2": l2})

    start = initial(gen)
    x = f32_exact(torch.randn(OPT_ROWS, SIZES[0], generator=gen, dtype=F64))
    labels = targets("softmax-ce", OPT_ROWS, gen)
    tensors["opt.x"] = x.float()
    tensors["opt.targets"] = stored_targets(labels)
    for n, p in zip(names(), start):
        tensors[f"opt.init.{n}"] = p.float()
    optimisers = []
    for name, make, peak, wd in OPTIMISERS:
        params = [p.clone().requires_grad_(True) for p in start]
        opt = make(params, wd)
        losses, rates = [], []
        for step in range(STEPS):
            rows = slice((step * OPT_BATCH) % OPT_ROWS, (step * OPT_BATCH) % OPT_ROWS + OPT_BATCH)
            lr = cosine_lr(peak, step)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            loss = loss_of("softmax-ce", forward(params, x[rows], "tanh", "identity"), labels[rows])
            loss.backward()
            opt.step()
            losses.append(loss.item())
            rates.append(lr)
        tensors[f"opt.{name}.losses"] = torch.tensor(losses, dtype=F64)
        tensors[f"opt.{name}.lr"] = torch.tensor(rates, dtype=F64)
        for n, p in zip(names(), params):
            tensors[f"opt.{name}.final.{n}"] = p.detach().float()
        optimisers.append({"name": name, "peak": peak, "weight_decay": wd})

    meta = {
        "sizes": SIZES,
        "cases": cases,
        "optimisers": optimisers,
        "steps": STEPS,
        "warmup": WARMUP,
        "batch": OPT_BATCH,
        "torch": torch.__version__,
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT), metadata={"reference": json.dumps(meta)})
    print(f"{OUT}: {len(tensors)} tensors, {len(cases)} gradient cases, {len(optimisers)} optimisers")


if __name__ == "__main__":
    main()
