"""Shared pieces of the reproduction scripts: arguments, provenance, cost estimates, JSON.

Every script in ``reproductions/`` does the same four things around its own protocol:

1. parse ``--device``, ``--quick``, ``--out`` and ``--seed`` (:func:`make_parser`);
2. print what the full budget will cost after timing a first epoch (:func:`print_estimate`);
3. collect provenance: device name, library versions, git commit, UTC date, the exact
   command (:func:`provenance`);
4. write one small JSON file (:func:`write_result`): committed results go to
   ``reproductions/results/<name>.json``, quick (CI) runs to ``_build/reproductions/<name>.json``
   so that a quick run never overwrites a committed result (:func:`default_out`).

The JSON written by :func:`build_result` has these top-level keys, read by ``book/results.ipynb``:
``protocol``, ``title``, ``citation``, ``quick``, ``rows`` (one dict per reported number: its
``quantity``, the ``published`` value or ``None``, ``ours``, and a ``baseline`` we ran with its
``baseline_name``), ``metrics`` (every measured value), ``target`` (``description`` and ``met``),
``hyperparameters``, ``seeds``, ``notes`` and the provenance keys of :func:`provenance`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch

import aeutils

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "reproductions" / "results"
QUICK_DIR = ROOT / "_build" / "reproductions"


def make_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every reproduction script shares.

    Args:
        description: First line of the script's docstring.

    Returns:
        A parser with ``--device`` (default: :func:`aeutils.pick_device`), ``--quick``
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


def device_name(device: torch.device) -> str:
    """A human-readable name for ``device``.

    Returns:
        The GPU's name for CUDA, ``"Apple MPS"`` for MPS, else the CPU model from
        ``/proc/cpuinfo`` (or :func:`platform.processor`) followed by the core count.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def git_commit() -> str | None:
    """The checked-out commit (``git rev-parse HEAD``), or ``None`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def git_dirty() -> bool | None:
    """Whether ``aeutils/`` or ``reproductions/`` differ from the commit (``None`` if unknown).

    A result computed from uncommitted code names a commit that does not hold that code.
    """
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--", "aeutils", "reproductions/*.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return bool(out.stdout.strip())


def command_line() -> str:
    """The command that ran this process, as it can be pasted into a shell from the repo root."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def provenance(device: torch.device) -> dict[str, Any]:
    """Everything needed to say where and how a number was produced.

    Returns:
        ``device`` (``"cuda"``, ``"cpu"``...), ``device_name``, ``cpu_cores``,
        ``torch_threads``, ``versions`` (python, torch, numpy, sklearn, aeutils),
        ``git_commit`` (``None`` if unknown), ``git_dirty`` (uncommitted changes to the code),
        ``date_utc`` (ISO 8601) and ``command``.
    """
    return {
        "device": device.type,
        "device_name": device_name(device),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "aeutils": aeutils.__version__,
        },
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
    }


def row(
    quantity: str,
    ours: float,
    published: float | None = None,
    baseline: float | None = None,
    baseline_name: str | None = None,
) -> dict[str, Any]:
    """One line of a results table: a quantity, the paper's value, ours and our baseline.

    Args:
        quantity: What is measured, with its unit, e.g. ``"test SSE per image"``.
        ours: The value this run measured.
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


def _plain(value: Any) -> Any:
    """Convert NumPy/torch scalars, paths and tuples to JSON types; NaN and inf to ``None``."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} to the results JSON: {value!r}")


def write_result(result: dict[str, Any], path: Path) -> Path:
    """Write ``result`` as indented JSON to ``path`` (creating its folder) and return ``path``.

    Raises:
        TypeError: If a value is not a number, string, bool, None, list, dict, path, NumPy or
            torch value.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(result), indent=2) + "\n")
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
