"""Tests for aeutils.metrics against scikit-image, scikit-learn, autograd and hand examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from aeutils.losses import contractive_penalty
from aeutils.metrics import (
    jacobian_norm,
    linear_probe_accuracy,
    psnr,
    roc_auc,
    sparsity_stats,
    squared_error_per_image,
    ssim,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _noisy_pair(shape=(5, 1, 16, 16), sigma=0.1, seed=0):
    rng = _rng(seed)
    x = rng.random(shape).astype(np.float32)
    # Different noise level per image, so that pooled and per-image PSNR differ.
    scale = sigma * np.linspace(0.5, 2.0, shape[0]).reshape(-1, *[1] * (len(shape) - 1))
    x_hat = (x + scale * rng.standard_normal(shape)).astype(np.float32)
    return torch.from_numpy(x_hat), torch.from_numpy(x)


# ------------------------------------------------------------------ reconstruction quality


def test_squared_error_per_image_matches_numpy():
    x_hat, x = _noisy_pair()
    expected = ((x_hat.numpy() - x.numpy()) ** 2).reshape(5, -1).sum(axis=1)
    np.testing.assert_allclose(squared_error_per_image(x_hat, x).numpy(), expected, rtol=1e-5)


def test_psnr_pooled_equals_skimage_on_whole_stack():
    x_hat, x = _noisy_pair()
    expected = peak_signal_noise_ratio(x.numpy(), x_hat.numpy(), data_range=1.0)
    assert psnr(x_hat, x, clip=False) == pytest.approx(expected, rel=1e-6)
    clipped = np.clip(x_hat.numpy(), 0, 1)
    expected_clipped = peak_signal_noise_ratio(x.numpy(), clipped, data_range=1.0)
    assert psnr(x_hat, x) == pytest.approx(expected_clipped, rel=1e-6)
    assert psnr(x_hat, x) > psnr(x_hat, x, clip=False)  # clipping toward [0, 1] only helps


def test_psnr_per_image_equals_skimage_per_image():
    x_hat, x = _noisy_pair()
    got = psnr(x_hat, x, reduction="per_image", clip=False)
    assert got.shape == (5,)
    expected = [
        peak_signal_noise_ratio(x.numpy()[i], x_hat.numpy()[i], data_range=1.0) for i in range(5)
    ]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    # Jensen: the log of the pooled MSE is below the mean of the per-image PSNRs.
    assert psnr(x_hat, x, clip=False) < got.mean().item()


def test_psnr_with_other_data_range_and_identical_images():
    x_hat, x = _noisy_pair(sigma=5.0)
    x, x_hat = x * 255, (x_hat * 255).clamp(0, 255)
    expected = peak_signal_noise_ratio(x.numpy(), x_hat.numpy(), data_range=255)
    assert psnr(x_hat, x, data_range=255) == pytest.approx(expected, rel=1e-6)
    assert psnr(x, x, data_range=255) == math.inf
    assert torch.isinf(psnr(x, x, data_range=255, reduction="per_image")).all()
    with pytest.raises(ValueError, match=r"outside \[0, data_range\] = \[0, 1\].*data_range"):
        psnr(x_hat, x)  # 0-255 images with the default data_range
    assert psnr(x_hat, x, clip=False) < 0  # allowed without clipping, but meaningless


def test_psnr_validation():
    x_hat, x = _noisy_pair()
    with pytest.raises(ValueError, match=r"reduction must be one of \('pooled', 'per_image'\)"):
        psnr(x_hat, x, reduction="mean")
    with pytest.raises(ValueError, match=r"data_range must be a finite number > 0, got 0\.0"):
        psnr(x_hat, x, data_range=0)
    with pytest.raises(TypeError, match="data_range must be a real number, got bool"):
        psnr(x_hat, x, data_range=True)
    with pytest.raises(TypeError, match="clip must be True or False, got int"):
        psnr(x_hat, x, clip=1)
    with pytest.raises(ValueError, match="same shape"):
        psnr(x_hat[:2], x)


def test_ssim_matches_skimage_grayscale_and_color():
    x_hat, x = _noisy_pair(shape=(2, 1, 20, 20))
    expected = np.mean(
        [
            structural_similarity(x.numpy()[i, 0], x_hat.numpy()[i, 0], data_range=1.0)
            for i in range(2)
        ]
    )
    assert ssim(x_hat, x) == pytest.approx(expected, rel=1e-6)
    assert ssim(x, x) == pytest.approx(1.0)

    x_hat, x = _noisy_pair(shape=(2, 3, 16, 16), seed=1)
    expected = np.mean(
        [
            structural_similarity(x.numpy()[i], x_hat.numpy()[i], data_range=1.0, channel_axis=0)
            for i in range(2)
        ]
    )
    assert ssim(x_hat, x) == pytest.approx(expected, rel=1e-6)


def test_ssim_validation():
    with pytest.raises(ValueError, match=r"at least 7x7 pixels, got \(5, 5\)"):
        ssim(torch.rand(2, 1, 5, 5), torch.rand(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) or \(B, H, W\)"):
        ssim(torch.rand(2, 64), torch.rand(2, 64))


# ------------------------------------------------------------------ anomaly scores, codes


def test_roc_auc_matches_sklearn():
    rng = _rng(4)
    truth = rng.random(200) < 0.3
    scores = rng.standard_normal(200) + truth
    expected = roc_auc_score(truth, scores)
    assert roc_auc(torch.from_numpy(scores), torch.from_numpy(truth)) == pytest.approx(expected)
    assert roc_auc(scores, truth.astype(int)) == pytest.approx(expected)


def test_roc_auc_validation():
    with pytest.raises(ValueError, match=r"both anomalies \(True\) and normal samples \(False\)"):
        roc_auc(np.arange(4.0), np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match="1-D of the same length"):
        roc_auc(np.arange(4.0), np.array([True, False]))


def test_sparsity_stats_on_hand_example():
    h = torch.tensor(
        [[0.0, 0.5, 0.05], [0.2, 0.9, 0.0], [0.0, 0.3, 0.1], [0.0, 0.0, 0.0]], dtype=torch.float64
    )
    stats = sparsity_stats(h, threshold=0.1)  # active means strictly above: 0.1 is not active
    np.testing.assert_allclose(stats["mean_activation"].numpy(), [0.05, 0.425, 0.0375])
    np.testing.assert_allclose(stats["active_per_input"].numpy(), [1 / 3, 2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(stats["active_per_unit"].numpy(), [0.25, 0.75, 0.0])
    assert stats["mean_active_fraction"] == pytest.approx(4 / 12)
    assert stats["dead_units"] == 1
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0, got -1"):
        sparsity_stats(h, threshold=-1)


def test_jacobian_norm_matches_autograd_per_sample():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Tanh(), nn.Linear(6, 4)).double()
    x = torch.rand(5, 1, 3, 4, dtype=torch.float64)
    got = jacobian_norm(encoder, x, chunk_size=2)
    expected = [
        torch.autograd.functional.jacobian(lambda v: encoder(v[None])[0], xb).norm().item()
        for xb in x
    ]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    assert not got.requires_grad
    penalty = contractive_penalty(encoder, x, method="exact")
    assert got.pow(2).mean().item() == pytest.approx(penalty.item(), rel=1e-10)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        jacobian_norm(encoder, x, chunk_size=0)
    with pytest.raises(TypeError, match="chunk_size must be an integer, got bool"):
        jacobian_norm(encoder, x, chunk_size=True)
    with pytest.raises(TypeError, match=r"encoder must be an nn\.Module, got function"):
        jacobian_norm(lambda t: t, x)


def test_tensor_argument_validation():
    with pytest.raises(TypeError, match=r"x_hat must be a torch\.Tensor, got ndarray"):
        squared_error_per_image(np.zeros((2, 3)), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"x_hat must be a non-empty batch, got shape \(0, 3\)"):
        squared_error_per_image(torch.zeros(0, 3), torch.zeros(0, 3))


def test_linear_probe_matches_sklearn_pipeline_on_digits():
    features, labels = load_digits(return_X_y=True)
    z_tr, z_te, y_tr, y_te = train_test_split(features, labels, test_size=0.3, random_state=0)
    oracle = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    expected = oracle.fit(z_tr, y_tr).score(z_te, y_te)
    got = linear_probe_accuracy(
        torch.from_numpy(z_tr).float(),
        torch.from_numpy(y_tr),
        torch.from_numpy(z_te).float(),
        torch.from_numpy(y_te),
        max_iter=300,
    )
    assert got == pytest.approx(expected, abs=2 / len(y_te))  # float32 codes: at most a flip or two
    assert got > 0.9


def test_linear_probe_validation():
    z, y = np.zeros((4, 3)), np.zeros(4)
    with pytest.raises(ValueError, match=r"\(N, K\) and \(M, K\)"):
        linear_probe_accuracy(z, y, np.zeros((4, 2)), y)
    with pytest.raises(ValueError, match="one label per code"):
        linear_probe_accuracy(z, y[:3], z, y)
    with pytest.raises(ValueError, match="max_iter must be a positive integer, got 0"):
        linear_probe_accuracy(z, y, z, y, max_iter=0)
    with pytest.raises(ValueError, match=r"C must be a finite number > 0, got 0\.0"):
        linear_probe_accuracy(z, y, z, y, C=0.0)
