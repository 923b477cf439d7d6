"""Cost of the contractive penalty: time of one training step, relative to a plain autoencoder.

A 784-1000-784 sigmoid autoencoder (``MLPAutoencoder`` with no hidden layer and a 1000-unit
sigmoid code), batch 128, Adam. One step is forward, backward and optimizer step with:

- no penalty (plain reconstruction),
- the exact penalty (full per-sample Jacobian with torch.func),
- the sigmoid closed form,
- a one-projection Hutchinson estimate.

Steps of the four variants are interleaved (round robin) in one process after a few warm-up steps,
and the median of several is reported. Inputs are MNIST training images when ``aeutils.data`` and
the files under ``$AEUTILS_DATA`` are available, else uniform random images in [0, 1] (the cost
does not depend on the pixel values).

Usage::

    python benchmarks/contractive_cost.py [--quick] [--device cpu|cuda] [--batch-size 128]
    python benchmarks/contractive_cost.py --json benchmarks/results/contractive_cost_cpu.json

With ``--json`` the timings are also written as a record (:func:`aeutils.records.write_record`).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from aeutils.losses import LossFn, contractive_objective, reconstruction_objective
from aeutils.models import MLPAutoencoder
from aeutils.records import provenance, write_record

HIDDEN = 1000


def sigmoid_autoencoder() -> MLPAutoencoder:
    """784 -> 1000 -> 784 with a sigmoid code and output: the contractive penalty's closed form."""
    return MLPAutoencoder(
        hidden_sizes=(),
        code_size=HIDDEN,
        code_activation="sigmoid",
        output_activation="sigmoid",
    )


def load_batch(batch_size: int, device: torch.device) -> tuple[Tensor, str]:
    """A batch of MNIST images if available, else random images in [0, 1]."""
    if os.environ.get("AEUTILS_DATA"):
        try:
            from aeutils.data import load_mnist

            images, _ = load_mnist("train", download=False)
            return images[:batch_size].to(device), "MNIST"
        except (ImportError, OSError, ValueError, RuntimeError):
            pass
    g = torch.Generator().manual_seed(0)
    return torch.rand(batch_size, 1, 28, 28, generator=g).to(device), "random [0, 1]"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(model: nn.Module, loss_fn: LossFn, x: Tensor):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model, x)["loss"].backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 warm-up step, 3 timed steps")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None, help="also write a record here")
    args = parser.parse_args()
    warmup, repeats = (1, 3) if args.quick else (args.warmup, args.repeats)
    device = torch.device(args.device)

    x, source = load_batch(args.batch_size, device)
    torch.manual_seed(0)
    base = sigmoid_autoencoder().to(device)
    variants: dict[str, LossFn] = {
        "plain": reconstruction_objective("mse"),
        "exact": contractive_objective(0.1, method="exact"),
        "sigmoid": contractive_objective(0.1, method="sigmoid"),
        "projection": contractive_objective(0.1, method="projection", n_projections=1),
    }
    steps = {name: make_step(copy.deepcopy(base), fn, x) for name, fn in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(warmup + repeats):
        for name, step in steps.items():
            synchronize(device)
            start = time.perf_counter()
            step()
            synchronize(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)

    medians = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"device: {device} ({torch.get_num_threads()} threads), torch {torch.__version__}, "
        f"batch {args.batch_size} of {source}, 784-1000-784 sigmoid AE, "
        f"median of {repeats} steps after {warmup} warm-up"
    )
    for name, median in medians.items():
        print(f"{name}: {1e3 * median:.2f} ms/step")
    for name in ("exact", "sigmoid", "projection"):
        print(f"{name}/plain: {medians[name] / medians['plain']:.1f}x")
    if args.json is not None:
        record = {
            "benchmark": "contractive_cost",
            "model": f"784-{HIDDEN}-784 sigmoid MLPAutoencoder",
            "batch_size": args.batch_size,
            "inputs": source,
            "warmup_steps": warmup,
            "timed_steps": repeats,
            "seconds_per_step": {name: times[name] for name in variants},
            "median_seconds_per_step": medians,
            "ratio_to_plain": {name: medians[name] / medians["plain"] for name in variants},
        }
        print(f"wrote {write_record(args.json, {**record, **provenance(device)})}")


if __name__ == "__main__":
    main()
