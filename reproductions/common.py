"""Shared pieces of the reproduction scripts: arguments, cost estimates, the result record.

Every script in ``reproductions/`` does the same four things around its own protocol:

1. parse ``--device``, ``--quick``, ``--out`` and ``--seed`` (:func:`make_parser`);
2. print what the full budget will cost after timing a first epoch (:func:`print_estimate`);
3. assemble its result with :func:`build_result`, which adds the provenance every record of the
   project carries (:func:`aeutils.records.provenance`: device name, library versions, git
   commit, UTC date, the exact command...);
4. write it with :func:`write_result` (:func:`aeutils.records.write_record`, the one writer):
   committed results go to ``reproductions/results/<name>.json``, quick (CI) runs to
   ``_build/reproductions/<name>.json`` so that a quick run never overwrites a committed result
   (:func:`default_out`).

The JSON has these top-level keys, read by ``book/results.ipynb`` and checked by
:func:`check_result`: ``protocol``, ``title``, ``citation``, ``quick``, ``rows`` (one dict per
reported number: its ``quantity``, the ``published`` value or ``None``, ``ours``, and a
``baseline`` we ran with its ``baseline_name``), ``metrics`` (every measured value), ``target``
(``description`` and ``met``), ``hyperparameters``, ``seeds``, ``notes``, ``wall_seconds`` and
the provenance keys of :func:`aeutils.records.provenance`.

The scripts import this module as ``common``: Python puts a script's own folder first on the
module path, so ``python reproductions/<name>.py`` finds it beside the script.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

import aeutils
from aeutils.records import PROVENANCE_KEYS, provenance, write_record

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "reproductions" / "results"
QUICK_DIR = ROOT / "_build" / "reproductions"


def make_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every reproduction script shares.

    Args:
        description: First line of the script's docstring.

    Returns:
        A parser with ``--device`` (default: :func:`aeutils.train.pick_device`), ``--quick``
        (tiny subsets and one epoch, for CI), ``--out`` (JSON path; default from
        :func:`default_out`) and ``--seed``. Scripts add their own hyperparameters to it.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument(
        "--quick", action="store_true", help="run every code path in seconds (tiny data, 1 epoch)"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON result path")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random generator")
    return parser


def default_out(name: str, quick: bool) -> Path:
    """Where a run writes its JSON when ``--out`` is not given.

    Args:
        name: The protocol's name, e.g. ``"hinton2006"``.
        quick: Whether this is a quick run.

    Returns:
        ``_build/reproductions/<name>.json`` for quick runs (never committed),
        ``reproductions/results/<name>.json`` for full runs.
    """
    return (QUICK_DIR if quick else RESULTS_DIR) / f"{name}.json"


def row(
    quantity: str,
    ours: float | None,
    published: float | None = None,
    baseline: float | None = None,
    baseline_name: str | None = None,
) -> dict[str, Any]:
    """One line of a results table: a quantity, the paper's value, ours and our baseline.

    Args:
        quantity: What is measured, with its unit, e.g. ``"test SSE per image"``.
        ours: The value this run measured, or ``None`` for a row of the paper's table that
            the script does not run (shown beside the rows it does).
        published: The paper's value, or ``None`` when the paper gives none.
        baseline: A baseline computed in the same run, or ``None``.
        baseline_name: The baseline's name, e.g. ``"PCA-30"``.

    Returns:
        A dict with exactly these five keys.
    """
    return {
        "quantity": quantity,
        "published": published,
        "ours": ours,
        "baseline": baseline,
        "baseline_name": baseline_name,
    }


def build_result(
    *,
    protocol: str,
    title: str,
    citation: str,
    quick: bool,
    device: torch.device,
    wall_seconds: float,
    rows: list[dict[str, Any]],
    metrics: dict[str, Any],
    target: str,
    target_met: bool,
    hyperparameters: dict[str, Any],
    seeds: list[int],
    notes: str = "",
) -> dict[str, Any]:
    """Assemble the JSON document of one run (see the module docstring for its keys).

    Args:
        protocol: Script name without ``.py``, e.g. ``"hinton2006"``.
        title: One line naming the protocol for the results page.
        citation: BibTeX key of the paper in ``references.bib``.
        quick: Whether the run used the quick (CI) budget; its numbers mean nothing then.
        device: The device that ran the computation.
        wall_seconds: Wall time of the whole run.
        rows: Table rows from :func:`row`.
        metrics: Every measured value, by name.
        target: The success criterion, in words.
        target_met: Whether this run met it (computed, never typed).
        hyperparameters: The settings used (the CLI arguments, typically).
        seeds: Every seed used.
        notes: Conventions a reader needs (e.g. how PSNR is computed).

    Returns:
        A dict that :func:`write_result` can write.
    """
    return {
        "protocol": protocol,
        "title": title,
        "citation": citation,
        "quick": bool(quick),
        "rows": rows,
        "metrics": metrics,
        "target": {"description": target, "met": bool(target_met)},
        "hyperparameters": hyperparameters,
        "seeds": [int(s) for s in seeds],
        "notes": notes,
        "wall_seconds": round(float(wall_seconds), 2),
        **provenance(device),
    }


#: Keys every result file must have: the result's own and the provenance keys.
REQUIRED_KEYS: tuple[str, ...] = (
    "protocol",
    "title",
    "citation",
    "quick",
    "rows",
    "metrics",
    "target",
    "hyperparameters",
    "seeds",
    "notes",
    "wall_seconds",
    *PROVENANCE_KEYS,
)


def check_result(path: Path, name: str, quick: bool) -> None:
    """Raise ``ValueError`` unless ``path`` holds a result of ``name`` with every required key.

    Args:
        path: A JSON file written by :func:`write_result`.
        name: The protocol it should hold.
        quick: Whether it should be a quick run.

    Raises:
        ValueError: If a key is missing, the protocol or budget differ, there are no rows, or
            ``target.met`` is not a bool.
    """
    result = json.loads(Path(path).read_text())
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    if result["protocol"] != name or result["quick"] is not quick:
        raise ValueError(f"{path}: protocol {result['protocol']!r}, quick {result['quick']!r}")
    if not result["rows"] or not isinstance(result["target"].get("met"), bool):
        raise ValueError(f"{path}: no rows, or target.met is not a bool")


def write_result(result: dict[str, Any], path: Path) -> Path:
    """Write ``result`` with :func:`aeutils.records.write_record`, say where, and return ``path``.

    Raises:
        TypeError: If a value is not a number, string, bool, None, list, dict, path, NumPy or
            torch value.
        ValueError: If the provenance keys are missing (build ``result`` with
            :func:`build_result`).
    """
    path = write_record(path, result)
    print(f"wrote {path}")
    return path


def print_estimate(label: str, seconds: float, units_done: float, units_full: float) -> float:
    """Print and return the estimated cost of the full budget from a measured part of it.

    Args:
        label: What is estimated, e.g. ``"pretraining, 5 models x 50 epochs"``.
        seconds: Measured wall time of ``units_done`` units (epochs, say).
        units_done: How much was measured (may be a fraction of an epoch).
        units_full: How much the full budget runs.

    Returns:
        The estimate in seconds.
    """
    estimate = seconds / max(units_done, 1e-12) * units_full
    print(
        f"estimate: {label}: {seconds:.2f} s for {units_done:g} -> about "
        f"{estimate / 60:.1f} min for {units_full:g} on this device"
    )
    return estimate


def seconds_per_epoch(
    model: torch.nn.Module,
    data: torch.Tensor,
    loss_fn: Any,
    config: aeutils.TrainConfig,
    max_samples: int = 6000,
) -> float:
    """Time one epoch of ``fit`` on at most ``max_samples`` samples; scale to the whole of ``data``.

    Trains ``model`` (pass a throwaway copy) for one epoch, so the first call also pays for
    any device warm-up: the estimate errs on the high side.

    Returns:
        Estimated seconds for one epoch over all of ``data``.
    """
    n = min(len(data), max_samples)
    history = aeutils.fit(model, data[:n], loss_fn, replace(config, epochs=1, progress=False))
    return history.seconds * len(data) / n


def round_floats(values: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """Round every float in a flat dict (values of other types are kept)."""
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in values.items()}


def pca_basis(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and top-``k`` principal directions of ``x`` (float64 eigendecomposition).

    Args:
        x: Data, one sample per row after flattening.
        k: Number of components, ``1 <= k <= features``.

    Returns:
        ``(mean, components)``: mean ``(D,)`` and orthonormal rows ``(k, D)``, float64.

    Shape:
        x: ``(N, *)``, flattened to ``(N, D)``.
    """
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    mean = flat.mean(dim=0)
    centred = flat - mean
    cov = centred.T @ centred / flat.shape[0]  # (D, D)
    _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
    return mean, vectors[:, -k:].flip(1).T.contiguous()


def pca_reconstruct(x: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """Project ``x`` onto the PCA subspace and map back; returns float64 of ``x``'s shape."""
    flat = x.reshape(x.shape[0], -1).to(torch.float64) - mean
    return ((flat @ components.T) @ components + mean).reshape(x.shape)
