#!/usr/bin/env python3
"""Load a nabla checkpoint in Python and compute its logits: the proof that nabla's
safetensors files are usable outside nabla.

    python tests/reference/load_checkpoint.py MODEL.safetensors INPUTS OUTPUT

INPUTS is a .npy array [batch, inputs] or a raw little-endian float32 file (reshaped to
[-1, inputs] from the architecture). OUTPUT receives the logits [batch, outputs], as .npy
when its name ends in .npy, else as raw little-endian float32.

The forward pass is rebuilt in numpy (float64) from the `architecture` metadata:
x @ W.T + b per layer, then the named activation. When torch is importable, the same file is
also loaded with `safetensors.torch.load_file` into a `torch.nn.Sequential` of `Linear`
layers, and the two results are compared. Prints one line of what it checked; exits non-zero
on any mismatch or malformed file. Needs: safetensors, numpy (see .ci/python-env.sh).
"""

import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

# Parameterised activations are written `leaky-relu:0.2`; without a parameter these apply.
DEFAULT_ALPHA = {"leaky-relu": 0.01, "elu": 1.0}


def parse_activation(text):
    name, _, param = text.partition(":")
    alpha = float(param) if param else DEFAULT_ALPHA.get(name)
    return name, alpha


def activate(name, alpha, z):
    if name == "identity":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky-relu":
        return np.where(z > 0, z, alpha * z)
    if name == "elu":
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    raise SystemExit(f"unknown activation `{name}`")


def read_metadata(path):
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "nabla-mlp":
        raise SystemExit(f"{path}: not a nabla checkpoint (format {meta.get('format')!r})")
    return meta


def numpy_logits(tensors, arch, x):
    depth = len(arch["sizes"]) - 1
    a = x.astype(np.float64)
    for i in range(depth):
        w = tensors[f"layers.{i}.weight"].astype(np.float64)
        b = tensors[f"layers.{i}.bias"].astype(np.float64)
        expected = (arch["sizes"][i + 1], arch["sizes"][i])
        if w.shape != expected or b.shape != expected[:1]:
            raise SystemExit(f"layers.{i}: weight {w.shape}, bias {b.shape}, expected {expected}")
        name, alpha = parse_activation(arch["output"] if i == depth - 1 else arch["hidden"])
        a = activate(name, alpha, a @ w.T + b)
    return a


def torch_logits(path, arch, x):
    """The same network as a torch.nn.Sequential of Linear layers; None without torch."""
    try:
        import torch
        from safetensors.torch import load_file as torch_load_file
    except ImportError:
        return None
    state = torch_load_file(path)
    sizes = arch["sizes"]
    modules = []
    for i in range(len(sizes) - 1):
        linear = torch.nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            linear.weight.copy_(state[f"layers.{i}.weight"])
            linear.bias.copy_(state[f"layers.{i}.bias"])
        modules.append(linear)
        name, alpha = parse_activation(arch["output"] if i == len(sizes) - 2 else arch["hidden"])
        modules.append(
            {
                "identity": lambda: torch.nn.Identity(),
                "relu": lambda: torch.nn.ReLU(),
                "leaky-relu": lambda: torch.nn.LeakyReLU(alpha),
                "elu": lambda: torch.nn.ELU(alpha),
                "sigmoid": lambda: torch.nn.Sigmoid(),
                "tanh": lambda: torch.nn.Tanh(),
            }[name]()
        )
    model = torch.nn.Sequential(*modules)
    with torch.no_grad():
        return model(torch.from_numpy(x.astype(np.float32))).numpy().astype(np.float64)


def main(argv):
    if len(argv) != 4:
        raise SystemExit(__doc__)
    path, inputs, output = argv[1:]
    meta = read_metadata(path)
    arch = json.loads(meta["architecture"])
    if inputs.endswith(".npy"):
        x = np.load(inputs)
    else:
        x = np.fromfile(inputs, dtype="<f4").reshape(-1, arch["sizes"][0])
    tensors = load_file(path)
    logits = numpy_logits(tensors, arch, x)

    checked = "numpy"
    reference = torch_logits(path, arch, x)
    if reference is not None:
        diff = float(np.max(np.abs(reference - logits))) if logits.size else 0.0
        if not diff <= 1e-5:
            raise SystemExit(f"torch and numpy logits differ by {diff:g}")
        checked = f"numpy and torch (max difference {diff:.2g})"
    else:
        checked += " (torch not installed)"

    result = logits.astype(np.float32)
    if output.endswith(".npy"):
        np.save(output, result)
    else:
        result.astype("<f4").tofile(output)
    print(f"{path}: {arch['sizes']} {arch['hidden']}, {x.shape[0]} inputs, logits by {checked}")


if __name__ == "__main__":
    main(sys.argv)
