"""Sharkey et al. 2022, toy data: sparse autoencoders recover a known dictionary (MMCS).

Protocol. 512 ground-truth features, unit vectors in 256 dimensions
(``aeutils.synthetic_dictionary``); feature ``i`` is active with probability proportional to
``0.99 ** i``, scaled so that 5 features are active per sample on average (the replication code
``HoagyC/sparse_coding`` does not rescale, which gives about 0.97), with a magnitude uniform in
[0, 1). As in the paper, every training step draws a fresh batch (``--steps`` batches of
``--batch-size`` samples); L0, dead latents and explained variance are measured on held-out
samples. Sparse autoencoders (``aeutils.SparseAutoencoder``: pre-bias at the geometric median,
unit-norm decoder, Adam): ReLU codes with an L1 penalty over ``--l1`` x ``--ratios``
(dictionary size / 512), and top-k codes with the auxiliary loss of Gao et al. over ``--ks`` x
``--ratios``. Baselines in the same run: PCA and FastICA (256 directions each) and
scikit-learn's ``MiniBatchDictionaryLearning`` (512 atoms), fitted on ``--baseline-samples``
samples. Scores: the mean max cosine similarity (MMCS) of the learned directions with the true
features, and the one-to-one (Hungarian) matching score. Target: the best sparse autoencoder
with a dictionary at least as large as the true one reaches an MMCS of at least 0.99, above
every baseline.

    python reproductions/sharkey2022.py           # full budget (the estimate is printed first)
    python reproductions/sharkey2022.py --quick   # CI: a small problem, seconds
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import torch
from common import build_result, default_out, make_parser, print_estimate, row, write_result
from sklearn.decomposition import PCA, FastICA, MiniBatchDictionaryLearning
from torch import Tensor

import aeutils
from aeutils import (
    SparseAutoencoder,
    SyntheticDictionary,
    TensorLoader,
    TrainConfig,
    fit,
    matching_score,
    mean_max_cosine_similarity,
    sparse_autoencoder_objective,
    sparsity_stats,
    synthetic_dictionary,
)

NAME = "sharkey2022"
TARGET_MMCS = 0.99


def fresh_batches(
    truth: SyntheticDictionary, steps: int, batch_size: int, seed: int, device: torch.device
) -> TensorLoader:
    """A loader of ``steps`` batches, each a fresh sample of ``truth`` (seeded, one per step).

    The loader's own tensor is a placeholder of the right length; its ``transform`` replaces
    every batch by new samples, so :func:`aeutils.fit` sees a new batch at every step.
    """
    seeds = itertools.count(seed)

    def draw(placeholder: Tensor) -> Tensor:
        return truth.sample(len(placeholder), seed=next(seeds))[0].to(device)  # (B, d)

    placeholder = torch.zeros(steps * batch_size, 1)
    return TensorLoader(placeholder, batch_size=batch_size, transform=draw, device=device)


def train_sae(
    truth: SyntheticDictionary,
    size: int,
    *,
    k: int | None,
    l1: float,
    steps: int,
    args,
    device: torch.device,
) -> SparseAutoencoder:
    """One sparse autoencoder on fresh batches of ``truth``; returned on the CPU."""
    torch.manual_seed(args.seed)
    model = SparseAutoencoder(input_size=truth.input_size, dictionary_size=size, k=k)
    model.init_pre_bias_(truth.sample(4096, seed=args.seed + 3)[0])
    objective = sparse_autoencoder_objective(l1, dead_after=args.dead_after)
    config = TrainConfig(
        epochs=1, lr=args.lr, batch_size=args.batch_size, device=str(device), seed=args.seed
    )
    loader = fresh_batches(truth, steps, args.batch_size, 10**6 * (args.seed + 1), device)
    fit(model, loader, objective, config)
    return model.cpu().eval()


def sae_scores(model: SparseAutoencoder, truth: SyntheticDictionary, x_held: Tensor) -> dict:
    """MMCS, matching, and on held-out samples L0, dead latents and explained variance."""
    with torch.no_grad():
        z = torch.cat([model.encode(chunk) for chunk in x_held.split(4096)])  # (N, K)
        x_hat = torch.cat([model.decode(chunk) for chunk in z.split(4096)])
    variance = ((x_held - x_held.mean(dim=0)) ** 2).sum()
    return {
        "mmcs": mean_max_cosine_similarity(model.dictionary, truth.features),
        "matching": matching_score(model.dictionary, truth.features),
        "l0": float((z != 0).sum(dim=1).float().mean()),
        "dead_latents": sparsity_stats(z, threshold=0)["dead_units"],
        "explained_variance": float(1 - ((x_held - x_hat) ** 2).sum() / variance),
    }


def baseline_scores(x: np.ndarray, truth: SyntheticDictionary, args) -> dict[str, dict]:
    """MMCS and matching of PCA, FastICA and dictionary learning (each alpha) fitted on ``x``."""
    d, n = truth.input_size, truth.n_features
    ica = FastICA(d, whiten="unit-variance", max_iter=args.ica_iterations, random_state=args.seed)
    directions = {
        "PCA": PCA(d, random_state=args.seed).fit(x).components_,
        "FastICA": ica.fit(x).mixing_.T.copy(),  # one column of the mixing matrix per source
    }
    for alpha in args.dl_alphas:
        dl = MiniBatchDictionaryLearning(
            n, alpha=alpha, batch_size=256, max_iter=args.dl_epochs, random_state=args.seed
        )
        directions[f"dictionary learning, alpha={alpha:g}"] = dl.fit(
            x[: args.dl_samples]
        ).components_
    return {
        name: {
            "mmcs": mean_max_cosine_similarity(torch.from_numpy(rows), truth.features),
            "matching": matching_score(torch.from_numpy(rows), truth.features),
        }
        for name, rows in directions.items()
    }


def main() -> None:
    parser = make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--mean-active", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=4000, help="each on a fresh batch")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--dead-after", type=int, default=20_000, help="samples without firing")
    parser.add_argument("--held-out", type=int, default=16_384)
    parser.add_argument("--baseline-samples", type=int, default=65_536)
    parser.add_argument("--l1", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.4, 0.8])
    parser.add_argument("--ks", type=int, nargs="+", default=[3, 5, 8])
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--dl-alphas", type=float, nargs="+", default=[0.03, 0.1, 0.3])
    parser.add_argument("--dl-samples", type=int, default=32_768)
    parser.add_argument("--dl-epochs", type=int, default=3)
    parser.add_argument("--ica-iterations", type=int, default=400)
    args = parser.parse_args()
    start = time.perf_counter()
    device = aeutils.pick_device(args.device)
    if args.quick:  # 32 features in 16 dimensions, 20 steps: every code path, in seconds
        args.input_size, args.features, args.steps, args.held_out = 16, 32, 20, 512
        args.baseline_samples, args.dl_samples, args.dl_epochs = 2048, 1024, 1
        args.dead_after, args.ica_iterations, args.dl_alphas = 1024, 50, [0.3]
        args.l1, args.ks, args.ratios = [0.4], [5], [1.0, 2.0]

    truth = synthetic_dictionary(
        input_size=args.input_size,
        n_features=args.features,
        mean_active=args.mean_active,
        seed=args.seed,
    )
    x_baseline, _ = truth.sample(args.baseline_samples, seed=args.seed + 1)
    x_held, codes_held = truth.sample(args.held_out, seed=args.seed + 2)
    sizes = {ratio: max(1, round(ratio * args.features)) for ratio in args.ratios}
    runs = [("L1", ratio, None, l1) for ratio in args.ratios for l1 in args.l1]
    runs += [("top-k", ratio, k, 0.0) for ratio in args.ratios for k in args.ks]
    runs = [run for run in runs if run[2] is None or run[2] <= sizes[run[1]]]

    # Cost estimate: the largest top-k model for a few steps and for some more; the difference
    # leaves out the start-up costs. Scaled by dictionary size, all models: it errs on the low
    # side for top-k (the auxiliary loss starts once latents die) and high for L1.
    largest, short, long = max(sizes.values()), min(args.steps, 5), min(args.steps, 45)
    seconds = []
    for steps in (short, short, long):  # the first run warms up (allocations, kernels)
        tick = time.perf_counter()
        train_sae(truth, largest, k=max(args.ks), l1=0.0, steps=steps, args=args, device=device)
        seconds.append(time.perf_counter() - tick)
    per_step = max(seconds[2] - seconds[1], 1e-9) / max(long - short, 1)
    units = sum(sizes[ratio] / largest for _, ratio, _, _ in runs) * args.steps
    label = f"{len(runs)} sparse autoencoders x {args.steps} steps (in steps of the largest)"
    print_estimate(label, per_step, 1, units)

    tick = time.perf_counter()
    baselines = baseline_scores(x_baseline.numpy(), truth, args)
    baseline_s = time.perf_counter() - tick
    for name, scores in baselines.items():
        print(f"{name}: MMCS {scores['mmcs']:.4f}, matching {scores['matching']:.4f}")

    grid: dict[str, dict] = {}
    for method, ratio, k, l1 in runs:
        model = train_sae(
            truth, sizes[ratio], k=k, l1=l1, steps=args.steps, args=args, device=device
        )
        key = f"{method} ratio={ratio:g} " + (f"k={k}" if k is not None else f"l1={l1:g}")
        scores = sae_scores(model, truth, x_held)
        grid[key] = {"method": method, "ratio": ratio, "k": k, "l1": l1, **scores}
        shown = ", ".join(f"{name} {value:.4g}" for name, value in scores.items())
        print(f"{key}: {shown}", flush=True)

    best_baseline = max(baselines, key=lambda name: baselines[name]["mmcs"])
    baseline_mmcs = baselines[best_baseline]["mmcs"]
    rows = []
    best = {}
    for method in ("L1", "top-k"):
        for ratio in args.ratios:
            runs_here = [g for g in grid.values() if g["method"] == method and g["ratio"] == ratio]
            if not runs_here:
                continue
            top = max(runs_here, key=lambda g: g["mmcs"])
            setting = f"k = {top['k']}" if method == "top-k" else f"λ = {top['l1']:g}"
            rows.append(
                row(
                    f"MMCS, {'ReLU + L1' if method == 'L1' else 'top-k'}, dictionary "
                    f"{ratio:g} x features (best {setting})",
                    top["mmcs"],
                    None,
                    baseline_mmcs,
                    best_baseline,
                )
            )
            if ratio >= 1:
                best[method] = max(best.get(method, top), top, key=lambda g: g["mmcs"])
    for name, scores in baselines.items():
        rows.append(row(f"MMCS, {name} (baseline)", scores["mmcs"], None))
    large = [g for g in grid.values() if g["ratio"] >= 1]
    champion = max(large, key=lambda g: g["mmcs"]) if large else None
    met = (
        champion is not None
        and champion["mmcs"] >= TARGET_MMCS
        and all(champion["mmcs"] > scores["mmcs"] for scores in baselines.values())
    )
    if champion is not None:
        quantity = "matching score, best sparse autoencoder (dictionary >= features)"
        matched = baselines[best_baseline]["matching"]
        rows.append(row(quantity, champion["matching"], None, matched, best_baseline))
    result = build_result(
        protocol=NAME,
        title="Toy data of Sharkey et al.: recovering 512 known features in 256 dimensions",
        citation="sharkey2022taking",
        quick=args.quick,
        device=device,
        wall_seconds=time.perf_counter() - start,
        rows=rows,
        metrics={
            "grid": grid,
            "baselines": baselines,
            "best_by_method": best,
            "true_mean_l0": float((codes_held > 0).sum(dim=1).float().mean()),
            "baseline_seconds": baseline_s,
        },
        target=(
            f"the best sparse autoencoder with a dictionary at least as large as the true one "
            f"reaches an MMCS of at least {TARGET_MMCS} and beats every baseline"
        ),
        target_met=met,
        hyperparameters=vars(args),
        seeds=[args.seed],
        notes=(
            "The paper shows MMCS in figures only, so no published number is quoted; its claim is "
            "that an L1 sparse autoencoder recovers the ground-truth features. Probabilities are "
            "rescaled to 5 active features per sample. Every step draws a fresh batch, as in "
            "the paper (our batches are smaller). Our λ multiplies the L1 norm summed over "
            "latents, against a squared error summed over the input's dimensions; the "
            "replication code's l1_alpha (mean squared error, L1 divided by the dictionary size) "
            "is λ = l1_alpha x d / K. MMCS uses absolute cosines."
        ),
    )
    write_result(result, args.out or default_out(NAME, args.quick))


if __name__ == "__main__":
    main()
