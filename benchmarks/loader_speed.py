"""One epoch of the same MLP autoencoder, textbook pipeline against aeutils, in one process.

The textbook pipeline is the one most tutorials teach: ``torchvision.datasets.MNIST`` with
``transforms.ToTensor()``, a ``DataLoader`` and a hand-written loop with ``torch.optim.Adam``.
The aeutils pipeline is ``load_mnist`` + ``fit`` (a :class:`~aeutils.TensorLoader` on the
device and a fused Adam step). Model (784-512-256-32 and mirror), batch size, objective
(summed squared error) and learning rate are the same. Both run alternately, so a busy
machine slows both alike; the last line printed is ``speedup: <ratio>`` (textbook time per
epoch divided by aeutils time per epoch, medians over the repeats).

Usage::

    python benchmarks/loader_speed.py              # full epochs, 2 repeats each
    python benchmarks/loader_speed.py --quick      # 60 batches each (seconds)
    python benchmarks/loader_speed.py --device cuda --json results/loader_speed_cuda.json

With ``--json`` the timings are also written as a record (:func:`aeutils.records.write_record`:
the device's name, threads, versions, commit, date, command and load average come with it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import aeutils
from aeutils import MLPAutoencoder, TensorLoader, TrainConfig, fit, load_mnist, mse_loss
from aeutils.records import provenance, write_record


def make_model(seed: int) -> MLPAutoencoder:
    torch.manual_seed(seed)
    return MLPAutoencoder(hidden_sizes=(512, 256), code_size=32)


def textbook_epoch(root: Path, device: torch.device, batches: int | None, workers: int) -> float:
    """Seconds for one epoch (or ``batches`` steps) of the textbook pipeline."""
    dataset = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(
        dataset,
        batch_size=128,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    model = make_model(0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for step, (x, _) in enumerate(loader):
        if batches is not None and step == batches:
            break
        x = x.to(device)
        loss = mse_loss(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def aeutils_epoch(images: torch.Tensor, device: torch.device, batches: int | None) -> float:
    """Seconds for one epoch (or ``batches`` steps) through aeutils' fit."""
    if batches is not None:
        images = images[: batches * 128]
    model = make_model(0)
    data = TensorLoader(images, batch_size=128, device=device, seed=0)
    config = TrainConfig(epochs=1, batch_size=128, lr=1e-3, device=str(device), progress=False)
    start = time.perf_counter()
    fit(model, data, lambda m, x: mse_loss(m(x), x), config)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="60 batches per run instead of an epoch"
    )
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each pipeline")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (textbook)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    device = aeutils.pick_device(args.device)
    root = aeutils.default_data_root()
    batches = 60 if args.quick else None
    images, _ = load_mnist("train", root=root)
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    # Warm up both code paths (first CUDA/cuBLAS calls, page cache) before timing.
    textbook_epoch(root, device, 5, args.workers)
    aeutils_epoch(images, device, 5)
    textbook, ours = [], []
    for _ in range(args.repeats):
        textbook.append(textbook_epoch(root, device, batches, args.workers))
        ours.append(aeutils_epoch(images, device, batches))
    t, a = statistics.median(textbook), statistics.median(ours)
    unit = "60 batches" if args.quick else "epoch"
    print(f"textbook (torchvision MNIST + ToTensor + DataLoader): {t:.3f} s per {unit}")
    print(f"aeutils (load_mnist + TensorLoader + fit):            {a:.3f} s per {unit}")
    if args.json is not None:
        record = {
            "benchmark": "loader_speed",
            "textbook_workers": args.workers,
            "unit": unit,
            "textbook_seconds": textbook,
            "aeutils_seconds": ours,
            "speedup": t / a,
            "torchvision": torchvision.__version__,
        }
        print(f"wrote {write_record(args.json, {**record, **provenance(device)})}")
    print(f"speedup: {t / a:.2f}")


if __name__ == "__main__":
    main()
