"""Three seeds of one architecture: three ``fit`` runs against one ``fit_stacked`` run.

The models are chapter 3's bias-variance autoencoders (three hidden layers of width ``w`` per
side, code 16, 1,000 images, batches of 32) and, as a model whose matrix products fill the
machine, chapter 2's 784-512-256-30 autoencoder (batches of 128). For each model the two ways
alternate (the order swaps every repeat) over ``--repeats`` runs of ``--epochs`` epochs; the
medians and the ratio (separate seconds / stacked seconds, above 1 when stacking is faster)
are printed, one line per model. Run it on a quiet machine: the ratio of two timings taken
beside another busy process measures the contention.

    python benchmarks/stacked_speed.py            # 3 repeats, 2 epochs
    python benchmarks/stacked_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from aeutils import MLPAutoencoder, TrainConfig, fit, fit_stacked, load_mnist
from aeutils.losses import reconstruction_objective

SEEDS = (0, 1, 2)


def models(kwargs: dict) -> list[MLPAutoencoder]:
    out = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        out.append(MLPAutoencoder(**kwargs))
    return out


def separate(kwargs: dict, x: torch.Tensor, configs: list[TrainConfig]) -> float:
    start = time.perf_counter()
    for model, config in zip(models(kwargs), configs, strict=True):
        fit(model, x, reconstruction_objective(), config)
    return time.perf_counter() - start


def stacked(kwargs: dict, x: torch.Tensor, configs: list[TrainConfig]) -> float:
    start = time.perf_counter()
    fit_stacked(models(kwargs), x, reconstruction_objective(), configs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3, got {args.repeats}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    x_all, _ = load_mnist("train")
    cases = {
        f"chapter 3, 3 x {w} per side": ({"hidden_sizes": (w, w, w), "code_size": 16}, 1000, 32)
        for w in (8, 32, 128)
    }
    cases["chapter 2, 784-512-256-30"] = ({"hidden_sizes": (512, 256), "code_size": 30}, 6400, 128)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epochs")
    for name, (kwargs, n, batch) in cases.items():
        x = x_all[:n]
        configs = [
            TrainConfig(epochs=args.epochs, batch_size=batch, lr=1e-3, seed=s, progress=False)
            for s in SEEDS
        ]
        stacked(kwargs, x[:batch], configs)  # warm up both paths
        separate(kwargs, x[:batch], configs)
        times: dict[str, list[float]] = {"separate": [], "stacked": []}
        for r in range(args.repeats):
            order = ("separate", "stacked") if r % 2 == 0 else ("stacked", "separate")
            for way in order:
                times[way].append((separate if way == "separate" else stacked)(kwargs, x, configs))
        a, b = (statistics.median(times[w]) for w in ("separate", "stacked"))
        print(
            f"{name}: 3 fit runs {a:.2f} s, fit_stacked {b:.2f} s (medians of {args.repeats}): "
            f"{a / b:.2f}x"
        )


if __name__ == "__main__":
    main()
