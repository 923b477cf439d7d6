"""One epoch of the same MLP autoencoder four ways, in one process, against the machine's floor.

Three training pipelines, the same model (784-512-256-32 and mirror, ReLU, sigmoid output),
batch size 128, objective (summed squared error per image, averaged over the batch) and
learning rate:

- **textbook**: what most tutorials teach: ``torchvision.datasets.MNIST`` reading the IDX files
  under ``$AEUTILS_DATA/MNIST/raw`` with ``transforms.ToTensor()``, a ``DataLoader`` and a
  hand-written loop with ``torch.optim.Adam``;
- **aeutils**: ``load_mnist`` + :class:`~aeutils.TensorLoader` + :func:`~aeutils.fit` (with its
  per-epoch, sample-weighted logs and its non-finite loss check);
- **bare loop**: no library code at all: the images preloaded as one tensor on the device,
  ``randperm`` batches, ``nn.Sequential`` layers, fused Adam, nothing logged. It is what the
  model costs on this machine with nothing around it.

and a **matrix-product probe**: the matrix products one training step of this model computes
(forward, input gradient and weight gradient of every layer, at batch 128), on the same device
with the same number of threads, repeated. Its FLOP/s is what these products can reach here.

FLOPs are counted as ``3 x`` the forward matrix products (the backward pass computes two
products of the forward's size per layer): ``6 x samples x (sum of in x out over the layers)``,
0.39 TFLOP per MNIST epoch. Biases, activations, the loss and Adam are not counted. The probe
computes exactly the products this formula counts, so "bare loop / probe" is the fraction of the
reachable matrix-product rate that the whole training step achieves, and ``epoch FLOPs / probe
FLOP/s`` is the floor: the time of an epoch whose only cost would be its matrix products. A
large square product (2048 x 2048) is timed too, as the machine's peak.

The pipelines alternate (the order rotates every repeat) over ``--repeats`` (at least 3) runs
each; medians and spreads are reported. The machine must be quiet: the 1-minute load average is
read before and after, and on Linux the CPU time used by other processes during each timed run
is measured (``/proc/stat`` minus this process's own time). With ``--json`` the record is
written only if the load average before the run and the other processes' load during every run
were at most ``--max-load`` (default 0.5); ``--force`` writes it anyway, marked
``"quiet": false``.

Three ratios are printed: aeutils against the textbook pipeline (the last line,
``speedup: <ratio>``), aeutils against the bare loop (the library's overhead, as a throughput
ratio: 1.0 means none) and the bare loop's FLOP/s against the probe's (how close the model is
to the machine), with the floor and the largest speed-up over the textbook pipeline the floor
allows.

Usage::

    python benchmarks/loader_speed.py              # full epochs, 3 alternating repeats
    python benchmarks/loader_speed.py --quick      # 60 batches per run (seconds)
    python benchmarks/loader_speed.py --json benchmarks/results/loader_speed_cpu_2cores.json
    python benchmarks/loader_speed.py --device cuda --json benchmarks/results/loader_speed_cuda.json

The record (:func:`aeutils.records.write_record`) carries the device's name, threads, versions,
commit, date, command and load average besides the timings.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import aeutils
from aeutils import MLPAutoencoder, TensorLoader, TrainConfig, fit, load_mnist, mse_loss
from aeutils.records import provenance, write_record

BATCH = 128
LR = 1e-3
# (in, out) of every linear layer of the 784-512-256-32 autoencoder and its mirror decoder.
LAYERS = ((784, 512), (512, 256), (256, 32), (32, 256), (256, 512), (512, 784))
QUICK_BATCHES = 60
PEAK_SIZE = 2048


# --------------------------------------------------------------------------------------------
# The machine's load
# --------------------------------------------------------------------------------------------


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, or ``None`` where the system has none."""
    if not hasattr(os, "getloadavg"):
        return None
    return [round(v, 2) for v in os.getloadavg()]


def _machine_busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (``/proc/stat``), or ``None``."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is already inside user).
    values = [int(v) for v in fields[1:9]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class ForeignLoad:
    """Measure the CPU time other processes use while a block runs, in cores."""

    def __enter__(self) -> ForeignLoad:
        self.cores: float | None = None
        self._machine, self._own, self._wall = (
            _machine_busy_seconds(),
            _own_seconds(),
            time.perf_counter(),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        machine = _machine_busy_seconds()
        wall = time.perf_counter() - self._wall
        if machine is not None and self._machine is not None and wall > 0:
            foreign = (machine - self._machine) - (_own_seconds() - self._own)
            self.cores = max(foreign, 0.0) / wall


# --------------------------------------------------------------------------------------------
# The pipelines
# --------------------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def make_model(seed: int) -> MLPAutoencoder:
    torch.manual_seed(seed)
    return MLPAutoencoder(hidden_sizes=(512, 256), code_size=32)


def textbook_epoch(root: Path, device: torch.device, batches: int | None, workers: int) -> float:
    """Seconds for one epoch (or ``batches`` steps) of the textbook pipeline."""
    dataset = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    model = make_model(0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    synchronize(device)
    start = time.perf_counter()
    for step, (x, _) in enumerate(loader):
        if batches is not None and step == batches:
            break
        x = x.to(device)
        loss = mse_loss(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - start


def aeutils_epoch(images: Tensor, device: torch.device, batches: int | None) -> float:
    """Seconds for one epoch (or ``batches`` steps) through aeutils' fit."""
    if batches is not None:
        images = images[: batches * BATCH]
    model = make_model(0)
    data = TensorLoader(images, batch_size=BATCH, device=device, seed=0)
    config = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, device=str(device), progress=False)
    synchronize(device)
    start = time.perf_counter()
    fit(model, data, lambda m, x: mse_loss(m(x), x), config)
    synchronize(device)
    return time.perf_counter() - start


def bare_model() -> nn.Sequential:
    """The same autoencoder as plain ``nn.Sequential`` layers (no aeutils)."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(LAYERS):
        layers.append(nn.Linear(a, b))
        if i == len(LAYERS) - 1:
            layers.append(nn.Sigmoid())
        elif i != 2:  # the code (layer 3's output) is linear
            layers.append(nn.ReLU())
    layers.append(nn.Unflatten(1, (1, 28, 28)))
    return nn.Sequential(*layers)


def bare_epoch(images: Tensor, device: torch.device, batches: int | None) -> float:
    """Seconds for one epoch (or ``batches`` steps) of a loop with no library code.

    ``images`` are already on ``device``.
    """
    n = images.shape[0] if batches is None else min(images.shape[0], batches * BATCH)
    model = bare_model()
    generator = torch.Generator().manual_seed(0)
    synchronize(device)
    start = time.perf_counter()
    model.to(device)
    try:
        optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    except (RuntimeError, TypeError):
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.randperm(n, generator=generator).to(device)
    for i in range(0, n, BATCH):
        x = images[order[i : i + BATCH]]
        loss = (model(x) - x).pow(2).sum() / x.shape[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# FLOPs and the matrix-product probe
# --------------------------------------------------------------------------------------------


def training_flops(samples: int) -> float:
    """FLOPs of ``samples`` training steps' matrix products: 3 x forward = 6 n sum(in out)."""
    return 6.0 * samples * sum(a * b for a, b in LAYERS)


def _timed(fn: Callable[[], None], device: torch.device, seconds: float) -> float:
    """Best seconds per call of ``fn`` over rounds filling about ``seconds``."""
    fn()  # warm up
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(1, int(seconds / 5 / once))
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def probe_step_matmuls(device: torch.device, seconds: float) -> float:
    """FLOP/s of the matrix products of one training step of the model, at batch 128.

    For every layer (weight ``W`` of shape ``(out, in)``): the forward ``X W^T``, the input
    gradient ``dY W`` and the weight gradient ``dY^T X``, each ``2 B in out`` FLOPs, on the
    device and with torch's thread count as the training uses them.
    """
    g = torch.Generator(device="cpu").manual_seed(0)
    tensors = [
        (
            torch.randn(BATCH, a, generator=g).to(device),  # X
            torch.randn(b, a, generator=g).to(device),  # W
            torch.randn(BATCH, b, generator=g).to(device),  # dY
        )
        for a, b in LAYERS
    ]

    def step() -> None:
        for x, w, dy in tensors:
            torch.mm(x, w.t())
            torch.mm(dy, w)
            torch.mm(dy.t(), x)

    return training_flops(BATCH) / _timed(step, device, seconds)


def probe_peak(device: torch.device, seconds: float, size: int = PEAK_SIZE) -> float:
    """FLOP/s of one large square float32 matrix product (``2 size^3`` FLOPs)."""
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=g).to(device)
    b = torch.randn(size, size, generator=g).to(device)
    return 2.0 * size**3 / _timed(lambda: torch.mm(a, b), device, seconds)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f} to {max(values):.3f}, {len(values)} runs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_BATCHES} batches per run instead of an epoch"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating runs of each pipeline (at least 3)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (textbook)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--max-load",
        type=float,
        default=0.5,
        help="busiest the machine may be (1-minute load average before the run, and CPU cores "
        "used by other processes during each timed run) for --json to write a record",
    )
    parser.add_argument(
        "--force", action="store_true", help="write the --json record even if the machine was busy"
    )
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3 (alternating runs), got {args.repeats}")

    load_before = load_average()
    device = aeutils.pick_device(args.device)
    root = aeutils.default_data_root()
    batches = QUICK_BATCHES if args.quick else None
    unit = f"{QUICK_BATCHES} batches" if args.quick else "epoch"
    images, _ = load_mnist("train", root=root)
    samples = images.shape[0] if batches is None else min(images.shape[0], batches * BATCH)
    device_images = images.to(device)
    threads = torch.get_num_threads()
    label = provenance(device)["device_name"]
    print(f"device: {device} ({label}), torch {torch.__version__}, threads {threads}")

    # Warm up every code path (first CUDA/cuBLAS calls, oneDNN kernels, page cache).
    textbook_epoch(root, device, 5, args.workers)
    aeutils_epoch(images, device, 5)
    bare_epoch(device_images, device, 5)

    runs: dict[str, Callable[[], float]] = {
        "textbook": lambda: textbook_epoch(root, device, batches, args.workers),
        "aeutils": lambda: aeutils_epoch(images, device, batches),
        "bare": lambda: bare_epoch(device_images, device, batches),
    }
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    foreign: dict[str, list[float | None]] = {name: [] for name in names}
    with ForeignLoad() as probe_load:
        probe_time = 0.5 if args.quick else 2.0
        step_flops = probe_step_matmuls(device, probe_time)
        peak_flops = probe_peak(device, probe_time)
    for r in range(args.repeats):
        for name in names[r % 3 :] + names[: r % 3]:  # rotate the order every repeat
            with ForeignLoad() as load:
                seconds[name].append(runs[name]())
            foreign[name].append(load.cores)
    load_after = load_average()

    t, a, b = (statistics.median(seconds[name]) for name in names)
    flops = training_flops(samples)
    bare_rate = flops / b
    floor = flops / step_flops
    print(
        f"textbook (torchvision MNIST + ToTensor + DataLoader): {t:.3f} s per {unit} "
        f"(median; {_spread(seconds['textbook'])})"
    )
    print(
        f"aeutils (load_mnist + TensorLoader + fit):            {a:.3f} s per {unit} "
        f"(median; {_spread(seconds['aeutils'])})"
    )
    print(
        f"bare loop (tensors on the device, randperm, fused Adam): {b:.3f} s per {unit} "
        f"(median; {_spread(seconds['bare'])})"
    )
    print(
        f"model: {flops / 1e12:.3f} TFLOP per {unit} (6 x {samples} samples x "
        f"{sum(x * y for x, y in LAYERS)} weights: forward + backward = 3 x forward products)"
    )
    print(
        f"matmul probe ({threads} threads): the step's products at batch {BATCH} "
        f"{step_flops / 1e9:.1f} GFLOP/s, {PEAK_SIZE}x{PEAK_SIZE} {peak_flops / 1e9:.1f} GFLOP/s"
    )
    print(
        f"floor (FLOPs / step-product rate): {floor:.3f} s per {unit}; the textbook pipeline "
        f"can be beaten by at most {t / floor:.2f}x here"
    )
    print(
        f"bare loop vs machine (achieved / probe FLOP/s): {bare_rate / step_flops:.2f} "
        f"({bare_rate / 1e9:.1f} of {step_flops / 1e9:.1f} GFLOP/s)"
    )
    print(f"aeutils vs bare loop (throughput, 1.0 = no overhead): {b / a:.2f}")
    print(f"aeutils vs textbook: {t / a:.2f}")

    cores = [c for name in names for c in foreign[name] if c is not None]
    if probe_load.cores is not None:
        cores.append(probe_load.cores)
    busiest = max(cores) if cores else None
    reasons = []
    if load_before is not None and load_before[0] > args.max_load:
        reasons.append(f"the 1-minute load average was {load_before[0]} before the run")
    if busiest is not None and busiest > args.max_load:
        reasons.append(f"other processes used up to {busiest:.2f} cores during a timed run")
    quiet = not reasons
    shown = "not measured" if busiest is None else f"up to {busiest:.2f} cores"
    print(
        f"load average before: {load_before}, after: {load_after}; other processes during "
        f"the timed runs: {shown}: {'quiet' if quiet else 'BUSY'} (limit {args.max_load})"
    )

    status = 0
    if args.json is not None:
        if quiet or args.force:
            record = {
                "benchmark": "loader_speed",
                "quick": args.quick,
                "unit": unit,
                "batch_size": BATCH,
                "repeats": args.repeats,
                "textbook_workers": args.workers,
                "textbook_seconds": seconds["textbook"],
                "aeutils_seconds": seconds["aeutils"],
                "bare_seconds": seconds["bare"],
                "speedup": t / a,
                "aeutils_vs_bare": b / a,
                "bare_vs_probe": bare_rate / step_flops,
                "flops_per_unit": flops,
                "flops_formula": "6 x samples x sum(in x out): 3 x the forward matrix products",
                "probe_flops_per_s": step_flops,
                "peak_flops_per_s": peak_flops,
                "peak_size": PEAK_SIZE,
                "floor_seconds": floor,
                "max_speedup": t / floor,
                "load_average_before": load_before,
                "load_average_after": load_after,
                "foreign_cores": foreign,
                "probe_foreign_cores": probe_load.cores,
                "max_load": args.max_load,
                "quiet": quiet,
                # Read by book/results.ipynb (the same as provenance's torch_threads, date_utc
                # and versions["torch"]).
                "threads": threads,
                "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
            }
            print(f"wrote {write_record(args.json, {**record, **provenance(device)})}")
        else:
            print(
                f"not writing {args.json}: the machine was busy ({'; '.join(reasons)}; the limit "
                f"is {args.max_load}). Rerun when nothing else runs, or pass --force to write it "
                'anyway (marked "quiet": false).',
                file=sys.stderr,
            )
            status = 3
    sys.stderr.flush()
    print(f"speedup: {t / a:.2f}")
    sys.exit(status)


if __name__ == "__main__":
    main()
