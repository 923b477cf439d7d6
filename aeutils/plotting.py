"""Figures used throughout the book, in one colour-blind-safe style.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so
nothing is shown twice in Jupyter and nothing leaks between cells; the caller
displays it (a notebook shows a Figure that ends a cell) or saves it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

__all__ = [
    "CATEGORICAL",
    "OKABE_ITO",
    "STYLE",
    "TrainingLog",
    "code_scatter",
    "filter_tiles",
    "image_grid",
    "sweep_plot",
    "training_curves",
]

#: Okabe & Ito's palette, distinguishable with every common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: Ten class colours (for digits), Paul Tol's "muted" scheme plus grey, colour-blind safe.
CATEGORICAL = (
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933",
    "#DDCC77", "#CC6677", "#882255", "#AA4499", "#888888",
)  # fmt: skip
#: Matplotlib settings applied inside every function of this module.
STYLE: dict[str, object] = {
    "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
}


class TrainingLog(Protocol):
    """What :func:`training_curves` reads, e.g. an :class:`aeutils.train.History`.

    ``train`` and ``val`` map each logged key to its values, one per epoch (``val`` may be
    empty). Being a protocol, it keeps this module free of any import from the training loop.
    """

    @property
    def train(self) -> Mapping[str, Sequence[float]]: ...

    @property
    def val(self) -> Mapping[str, Sequence[float]]: ...


def _numpy_images(images: Tensor | np.ndarray) -> np.ndarray:
    """(B, C, H, W) or (B, H, W) -> (B, H, W) or (B, H, W, 3) as float numpy."""
    array = (
        images.detach().cpu().float().numpy() if isinstance(images, Tensor) else np.asarray(images)
    )
    if array.ndim == 4:
        array = array[:, 0] if array.shape[1] == 1 else array.transpose(0, 2, 3, 1)
    if array.ndim not in (3, 4):
        raise ValueError(f"images must be (B, C, H, W) or (B, H, W), got shape {array.shape}")
    return array


def image_grid(
    rows: Mapping[str, Tensor | np.ndarray],
    n: int = 8,
    *,
    scale: float = 1.1,
    title: str | None = None,
) -> Figure:
    """Images in rows, one row per entry (e.g. original / noisy / reconstruction).

    Args:
        rows: Row label -> images; the first ``n`` of each are shown, values in [0, 1].
        n: Images per row.
        scale: Inches per image.
        title: Optional figure title.

    Shape:
        - each value: ``(B, C, H, W)`` with C in {1, 3}, or ``(B, H, W)``.
    """
    if not rows:
        raise ValueError("image_grid needs at least one row of images")
    arrays = {label: _numpy_images(images)[:n] for label, images in rows.items()}
    ncols = max(len(a) for a in arrays.values())
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(scale * ncols, scale * len(arrays) + (0.3 if title else 0)))
        axes = fig.subplots(len(arrays), ncols, squeeze=False)
        for r, (label, array) in enumerate(arrays.items()):
            for c in range(ncols):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if c < len(array):
                    ax.imshow(np.clip(array[c], 0, 1), cmap="gray", vmin=0, vmax=1)
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def code_scatter(
    codes: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    *,
    title: str | None = None,
    size: float = 3.0,
) -> Figure:
    """2-D codes as a scatter plot, coloured by label (up to ten classes).

    Shape:
        - codes: ``(N, 2)``
        - labels: ``(N,)`` integers.
    """
    z = codes.detach().cpu().numpy() if isinstance(codes, Tensor) else np.asarray(codes)
    y = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"codes must have shape (N, 2), got {z.shape}")
    if len(y) != len(z):
        raise ValueError(f"got {len(z)} codes but {len(y)} labels")
    classes = np.unique(y)
    if len(classes) > len(CATEGORICAL):
        raise ValueError(f"at most {len(CATEGORICAL)} classes can be coloured, got {len(classes)}")
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(5.5, 5))
        ax = fig.subplots()
        for colour, label in zip(CATEGORICAL, classes, strict=False):
            mask = y == label
            ax.scatter(z[mask, 0], z[mask, 1], s=size, color=colour, label=str(label), alpha=0.7)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        ax.legend(markerscale=4, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
        if title:
            ax.set_title(title)
        fig.tight_layout()
    return fig


def training_curves(history: TrainingLog, keys: Sequence[str] | None = None) -> Figure:
    """One panel per logged key: training (solid) and validation (dashed) per epoch.

    Args:
        history: Per-epoch values of each key, e.g. the :class:`aeutils.train.History` that
            :func:`aeutils.train.fit` returns.
        keys: Keys to plot, one panel each; ``None`` plots every key of ``history.train``.

    Returns:
        The figure.

    Raises:
        ValueError: If there is nothing to plot or a key was not logged.

    Shape:
        Each ``history.train[key]``: (epochs,).
    """
    keys = list(keys) if keys is not None else list(history.train)
    if not keys:
        raise ValueError("the history has no logged values to plot")
    missing = [k for k in keys if k not in history.train]
    if missing:
        raise ValueError(f"keys {missing} were not logged; logged keys: {sorted(history.train)}")
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(4 * len(keys), 3.2))
        axes = fig.subplots(1, len(keys), squeeze=False)[0]
        for ax, key in zip(axes, keys, strict=True):
            epochs = np.arange(1, len(history.train[key]) + 1)
            ax.plot(epochs, history.train[key], label="train", marker="o", ms=3)
            if key in history.val:
                ax.plot(epochs, history.val[key], label="validation", ls="--", marker="s", ms=3)
            ax.set_xlabel("epoch")
            ax.set_title(key)
            ax.legend(frameon=False)
        fig.tight_layout()
    return fig


def sweep_plot(
    x: Sequence[float],
    series: Mapping[str, np.ndarray | Sequence[Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
) -> Figure:
    """Mean over seeds with error bars (one standard deviation) for each series.

    Args:
        x: The swept values.
        series: Name -> results, one row per seed and one column per x value.
        xlabel: Label of the x axis.
        ylabel: Label of the y axis.
        logx: Logarithmic x axis.
        logy: Logarithmic y axis.
        title: Optional title.

    Shape:
        - each series: ``(n_seeds, len(x))``.
    """
    xs = np.asarray(x, dtype=float)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(5.5, 3.8))
        ax = fig.subplots()
        for name, values in series.items():
            v = np.atleast_2d(np.asarray(values, dtype=float))
            if v.shape[1] != len(xs):
                raise ValueError(
                    f"series {name!r} has {v.shape[1]} columns but there are {len(xs)} x values"
                )
            std = v.std(axis=0, ddof=1) if v.shape[0] > 1 else np.zeros(len(xs))
            label = f"{name} (mean ± sd, {v.shape[0]} seeds)" if v.shape[0] > 1 else name
            ax.errorbar(xs, v.mean(axis=0), yerr=std, marker="o", ms=4, capsize=3, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        if title:
            ax.set_title(title)
        ax.legend(frameon=False)
        fig.tight_layout()
    return fig


def filter_tiles(
    weights: Tensor | np.ndarray,
    image_shape: tuple[int, int],
    *,
    n: int = 64,
    ncols: int | None = None,
    title: str | None = None,
) -> Figure:
    """Rows of a weight matrix shown as image tiles (what each unit responds to).

    Each tile is scaled to its own range, so the pattern shows whatever the norm.

    Args:
        weights: One row per unit, e.g. the encoder's first ``nn.Linear.weight``.
        image_shape: ``(H, W)`` with ``H * W == D``.
        n: Number of units shown (the first ``n``).
        ncols: Tiles per row (default: a square-ish grid).
        title: Optional title.

    Shape:
        - weights: ``(K, D)``.
    """
    w = (
        weights.detach().cpu().float().numpy()
        if isinstance(weights, Tensor)
        else np.asarray(weights)
    )
    h, wd = image_shape
    if w.ndim != 2 or w.shape[1] != h * wd:
        raise ValueError(
            f"weights must be (K, {h * wd}) for image_shape {image_shape}, got {w.shape}"
        )
    w = w[:n]
    ncols = ncols or math.ceil(math.sqrt(len(w)))
    nrows = math.ceil(len(w) / ncols)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(0.8 * ncols, 0.8 * nrows + (0.3 if title else 0)))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if i < len(w):
                tile = w[i].reshape(h, wd)
                ax.imshow(tile, cmap="gray", vmin=tile.min(), vmax=tile.max())
        if title:
            fig.suptitle(title)
        fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig
