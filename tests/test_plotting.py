"""Plotting: each function returns a Figure that shows exactly the data it was given."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from aeutils.plotting import (
    CATEGORICAL,
    code_scatter,
    filter_tiles,
    image_grid,
    sweep_plot,
    training_curves,
)
from aeutils.train import History


def test_image_grid_shows_each_row_in_order():
    x = torch.rand(5, 1, 4, 4)
    fig = image_grid({"original": x, "reconstruction": 1 - x}, n=3)
    assert isinstance(fig, Figure)
    axes = np.array(fig.axes).reshape(2, 3)
    assert np.allclose(axes[0, 2].images[0].get_array(), x[2, 0].numpy())
    assert np.allclose(axes[1, 0].images[0].get_array(), 1 - x[0, 0].numpy())
    assert axes[1, 0].get_ylabel() == "reconstruction"


def test_image_grid_handles_colour_images_and_rejects_bad_shapes():
    fig = image_grid({"rgb": torch.rand(2, 3, 5, 5)}, n=2)
    assert fig.axes[0].images[0].get_array().shape == (5, 5, 3)
    with pytest.raises(ValueError, match="at least one row"):
        image_grid({})
    with pytest.raises(
        ValueError, match=r"must be \(B, C, H, W\) or \(B, H, W\), got shape \(5,\)"
    ):
        image_grid({"bad": torch.rand(5)})


def test_code_scatter_colours_each_label_once():
    z = np.random.default_rng(0).normal(size=(100, 2))
    y = np.arange(100) % 10
    fig = code_scatter(z, y, title="codes")
    ax = fig.axes[0]
    assert len(ax.collections) == 10
    first = ax.collections[0]
    assert np.allclose(first.get_offsets(), z[y == 0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(i) for i in range(10)]
    assert len(set(CATEGORICAL)) == 10


@pytest.mark.parametrize(
    ("codes", "labels", "match"),
    [
        (np.zeros((4, 3)), np.zeros(4), r"codes must have shape \(N, 2\), got \(4, 3\)"),
        (np.zeros((4, 2)), np.zeros(3), "got 4 codes but 3 labels"),
        (np.zeros((11, 2)), np.arange(11), "at most 10 classes"),
    ],
)
def test_code_scatter_rejects_bad_input(codes, labels, match):
    with pytest.raises(ValueError, match=match):
        code_scatter(codes, labels)


def test_training_curves_plot_train_and_validation():
    h = History(train={"loss": [3.0, 2.0], "recon": [2.5, 1.5]}, val={"loss": [3.5, 2.5]})
    fig = training_curves(h)
    assert len(fig.axes) == 2
    lines = fig.axes[0].get_lines()
    assert np.allclose(lines[0].get_ydata(), [3.0, 2.0])
    assert np.allclose(lines[1].get_ydata(), [3.5, 2.5])
    with pytest.raises(ValueError, match=r"keys \['nope'\] were not logged"):
        training_curves(h, keys=["nope"])
    with pytest.raises(ValueError, match="no logged values"):
        training_curves(History())


def test_sweep_plot_error_bars_are_mean_and_sample_sd_over_seeds():
    results = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 5.0], [2.0, 2.0, 4.0]])  # (seeds, x)
    fig = sweep_plot([2, 8, 32], {"AE": results}, xlabel="code size", ylabel="error", logx=True)
    container = fig.axes[0].containers[0]
    line, _, (bars,) = container.lines
    assert np.allclose(line.get_ydata(), [2.0, 2.0, 4.0])
    segments = bars.get_segments()
    half_heights = [(s[1][1] - s[0][1]) / 2 for s in segments]
    assert np.allclose(half_heights, [1.0, 0.0, 1.0])  # sample sd, ddof=1
    assert "3 seeds" in fig.axes[0].get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="has 2 columns but there are 3 x values"):
        sweep_plot([1, 2, 3], {"bad": np.zeros((2, 2))}, xlabel="x", ylabel="y")


def test_filter_tiles_reshape_rows_into_images():
    w = torch.randn(5, 12)
    fig = filter_tiles(w, (3, 4), n=4, title="filters")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 4
    assert np.allclose(shown[1].images[0].get_array(), w[1].reshape(3, 4).numpy())
    with pytest.raises(ValueError, match=r"weights must be \(K, 12\)"):
        filter_tiles(torch.randn(5, 10), (3, 4))
