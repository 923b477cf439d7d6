"""Scores of a trained autoencoder: its reconstructions, and its codes.

- Reconstructions: squared error per image, PSNR, SSIM, and the ROC AUC of anomaly scores such
  as the reconstruction error.
- Codes: activation statistics (sparsity), the encoder's Jacobian norm, a linear probe.

Retrieval scores (precision@k, mAP) are in :mod:`aeutils.retrieval`. Metrics never build
autograd graphs: inputs are detached. Functions that return a Python ``float`` summarise a whole
set; functions that return a tensor give one value per image or per unit.
``squared_error_per_image`` and ``jacobian_norm`` stay on the input's device; PSNR per image and
code statistics are float64 CPU tensors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from skimage.metrics import structural_similarity
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from aeutils.jacobian import per_sample_jacobian
from aeutils.validation import (
    check_bool,
    check_choice,
    check_int,
    check_module,
    check_real,
    check_tensor,
)

__all__ = [
    "PSNR_REDUCTIONS",
    "jacobian_norm",
    "linear_probe_accuracy",
    "psnr",
    "roc_auc",
    "sparsity_stats",
    "squared_error_per_image",
    "ssim",
]

PSNR_REDUCTIONS: tuple[str, ...] = ("pooled", "per_image")


def _check_pair(x_hat: object, x: object) -> tuple[Tensor, Tensor]:
    x_hat = check_tensor(x_hat, "x_hat").detach()
    x = check_tensor(x, "x").detach()
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat and x must have the same shape, got x_hat {tuple(x_hat.shape)} "
            f"and x {tuple(x.shape)}"
        )
    return x_hat, x


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


# --------------------------------------------------------------------------------------------
# Reconstruction quality
# --------------------------------------------------------------------------------------------


def squared_error_per_image(x_hat: Tensor, x: Tensor) -> Tensor:
    """Sum of squared errors over the pixels of each image.

    Args:
        x_hat: Reconstructions.
        x: Targets, same shape.

    Returns:
        The per-image squared error, in the input's dtype.

    Raises:
        TypeError: If an argument is not a tensor.
        ValueError: If the shapes differ or the batch is empty.

    Shape:
        x_hat, x: ``(B, *)``, e.g. (B, C, H, W). Output: (B,).
    """
    x_hat, x = _check_pair(x_hat, x)
    return (x_hat - x).pow(2).reshape(x.shape[0], -1).sum(dim=1)


def psnr(
    x_hat: Tensor,
    x: Tensor,
    data_range: float = 1.0,
    reduction: str = "pooled",
    clip: bool = True,
) -> float | Tensor:
    """Peak signal-to-noise ratio in decibels.

    Convention:
        - ``"pooled"``: one number for the whole set,
          ``10 log10(R^2 / MSE)`` with the MSE taken over **all pixels of all images**. This is what
          ``skimage.metrics.peak_signal_noise_ratio`` gives on the whole stack. Because the log is
          taken after averaging, it is *not* the mean of the per-image PSNRs (it is lower or equal).
        - ``"per_image"``: one PSNR per image (MSE over that image's pixels); average it yourself if
          you want the "mean PSNR" often reported in papers.

    An MSE of exactly 0 gives ``inf``. Computations are in float64.

    Args:
        x_hat: Reconstructions.
        x: Reference images.
        data_range: ``R``, the maximum minus the minimum possible value (1 for [0, 1] images).
        reduction: ``"pooled"`` or ``"per_image"``.
        clip: Clamp ``x_hat`` to ``[0, data_range]`` first (as when saving it as an image); the
            reference ``x`` must then lie in that range too.

    Returns:
        A float (``"pooled"``) or a float64 CPU tensor (``"per_image"``).

    Raises:
        TypeError: If ``x_hat`` or ``x`` is not a tensor, ``data_range`` not a real number or
            ``clip`` not a bool.
        ValueError: If the shapes differ, ``data_range <= 0``, ``reduction`` is unknown, or
            ``clip`` is set and ``x`` has values outside ``[0, data_range]``.

    Shape:
        x_hat, x: ``(B, *)``, e.g. (B, C, H, W). Output: () float or (B,).
    """
    x_hat, x = _check_pair(x_hat, x)
    data_range = check_real(data_range, "data_range", minimum=0, low_open=True)
    reduction = check_choice(reduction, "reduction", PSNR_REDUCTIONS)
    clip = check_bool(clip, "clip")
    x_hat = x_hat.to(torch.float64)
    if clip:
        lo, hi = x.aminmax()
        if lo < 0 or hi > data_range:
            raise ValueError(
                f"x has values in [{lo.item():.4g}, {hi.item():.4g}], outside [0, data_range] = "
                f"[0, {data_range:g}]; pass the images' data_range (e.g. 255) or clip=False"
            )
        x_hat = x_hat.clamp(0.0, data_range)
    err = (x_hat - x.to(torch.float64)).pow(2).reshape(x.shape[0], -1)  # (B, P)
    peak = float(data_range) ** 2
    if reduction == "pooled":
        mse = err.mean().item()
        return math.inf if mse == 0 else 10.0 * math.log10(peak / mse)
    mse_per_image = err.mean(dim=1).cpu()  # (B,)
    return 10.0 * torch.log10(peak / mse_per_image)  # 0 -> inf


def ssim(x_hat: Tensor, x: Tensor, data_range: float = 1.0) -> float:
    """Mean structural similarity over images, via ``skimage.metrics.structural_similarity``.

    skimage's defaults are used (7x7 uniform window), so images must be at least 7x7. Multi-channel
    images are compared with ``channel_axis`` (SSIM averaged over channels).

    Args:
        x_hat: Reconstructions.
        x: Reference images.
        data_range: Maximum minus minimum possible value.

    Returns:
        Mean SSIM over the batch (1.0 for identical images).

    Raises:
        TypeError: If ``x_hat`` or ``x`` is not a tensor, or ``data_range`` not a real number.
        ValueError: If shapes differ or are not (B, C, H, W) / (B, H, W), images are under 7x7,
            or ``data_range <= 0``.

    Shape:
        x_hat, x: (B, C, H, W) or (B, H, W). Output: float.
    """
    x_hat, x = _check_pair(x_hat, x)
    data_range = check_real(data_range, "data_range", minimum=0, low_open=True)
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have shape (B, C, H, W) or (B, H, W), got {tuple(x.shape)}")
    if min(x.shape[-2:]) < 7:
        raise ValueError(f"ssim needs images of at least 7x7 pixels, got {tuple(x.shape[-2:])}")
    ref, rec = _to_numpy(x.to(torch.float64)), _to_numpy(x_hat.to(torch.float64))
    if ref.ndim == 4 and ref.shape[1] == 1:
        ref, rec = ref[:, 0], rec[:, 0]  # (B, H, W)
    channel_axis = 0 if ref.ndim == 4 else None
    values = [
        structural_similarity(r, y, data_range=data_range, channel_axis=channel_axis)
        for r, y in zip(ref, rec, strict=True)
    ]
    return float(np.mean(values))


# --------------------------------------------------------------------------------------------
# Anomaly scores, code statistics, probes
# --------------------------------------------------------------------------------------------


def roc_auc(scores: Tensor | np.ndarray, is_anomaly: Tensor | np.ndarray) -> float:
    """Area under the ROC curve of anomaly scores (higher = more anomalous), via scikit-learn.

    Args:
        scores: Anomaly score per sample, e.g. :func:`squared_error_per_image`.
        is_anomaly: Boolean (or 0/1) ground truth per sample.

    Returns:
        AUC in [0, 1]; 0.5 is chance, 1 a perfect separation.

    Raises:
        ValueError: If the lengths differ, inputs are not 1-D, or only one class is present.

    Shape:
        scores, is_anomaly: (N,). Output: float.
    """
    scores_np, truth = _to_numpy(scores), _to_numpy(is_anomaly)
    if scores_np.ndim != 1 or truth.ndim != 1 or scores_np.shape != truth.shape:
        raise ValueError(
            f"scores and is_anomaly must be 1-D of the same length, got shapes "
            f"{scores_np.shape} and {truth.shape}"
        )
    truth = truth.astype(bool)
    if truth.all() or not truth.any():
        raise ValueError(
            "is_anomaly must contain both anomalies (True) and normal samples (False), "
            f"got {int(truth.sum())} anomalies out of {truth.size}"
        )
    return float(roc_auc_score(truth, scores_np))


def sparsity_stats(h: Tensor, threshold: float = 0.1) -> dict[str, Any]:
    """Summary statistics of code activations, e.g. for sparse autoencoders.

    A unit counts as *active* on an input when ``|h| > threshold`` (0.1 suits [0, 1] sigmoid codes;
    use a smaller value, e.g. 0, for ReLU codes, which are exactly 0 when off).

    Args:
        h: Code activations.
        threshold: Activity threshold, >= 0.

    Returns:
        Dictionary with
        ``"mean_activation"`` (K,) mean of ``h`` per unit over inputs (the ``rho_hat`` of the KL
        penalty); ``"active_per_input"`` (B,) fraction of units active on each input;
        ``"active_per_unit"`` (K,) fraction of inputs on which each unit is active;
        ``"mean_active_fraction"`` float, overall fraction of active (input, unit) pairs;
        ``"dead_units"`` int, units active on no input.

    Raises:
        TypeError: If ``h`` is not a tensor or ``threshold`` not a real number.
        ValueError: If ``h`` is not 2-D or ``threshold < 0``.

    Shape:
        h: (B, K). Tensor outputs on the CPU, as listed above.
    """
    h = check_tensor(h, "h", ndim=2).detach().cpu().to(torch.float64)
    threshold = check_real(threshold, "threshold", minimum=0)
    active = h.abs() > threshold  # (B, K)
    active_per_unit = active.to(torch.float64).mean(dim=0)  # (K,)
    return {
        "mean_activation": h.mean(dim=0),
        "active_per_input": active.to(torch.float64).mean(dim=1),
        "active_per_unit": active_per_unit,
        "mean_active_fraction": active.to(torch.float64).mean().item(),
        "dead_units": int((active_per_unit == 0).sum().item()),
    }


def jacobian_norm(encoder: nn.Module, x: Tensor, chunk_size: int = 64) -> Tensor:
    """Frobenius norm of the encoder's Jacobian ``d encoder(x_b) / d x_b`` for each sample.

    Computed exactly by :func:`aeutils.jacobian.per_sample_jacobian`, ``chunk_size`` samples at
    a time to bound memory; the square of the result averaged over the batch equals
    ``contractive_penalty(encoder, x, method="exact")``.

    Args:
        encoder: Module mapping ``(B, *input_shape)`` to ``(B, *code_shape)``, each sample
            independently.
        x: Input batch.
        chunk_size: Samples per Jacobian computation.

    Returns:
        Detached tensor of norms on ``x``'s device.

    Raises:
        TypeError: If ``encoder`` is not an nn.Module, ``x`` not a tensor or ``chunk_size`` not
            an integer.
        ValueError: If ``chunk_size < 1`` or the batch is empty.

    Shape:
        x: ``(B, *input_shape)``. Output: (B,).
    """
    encoder = check_module(encoder, "encoder")
    x = check_tensor(x, "x")
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    norms = []
    for chunk in x.split(chunk_size):
        jac = per_sample_jacobian(encoder, chunk).detach()  # (b, k, d)
        norms.append(jac.pow(2).sum(dim=(1, 2)).sqrt())
    return torch.cat(norms)


def linear_probe_accuracy(
    z_train: Tensor | np.ndarray,
    y_train: Tensor | np.ndarray,
    z_test: Tensor | np.ndarray,
    y_test: Tensor | np.ndarray,
    max_iter: int = 200,
    C: float = 1.0,
) -> float:
    """Test accuracy of a logistic-regression probe trained on frozen codes.

    The probe is ``make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))``
    (lbfgs solver, multinomial for several classes), fitted on the training codes. It runs with
    one BLAS thread: its matrix products are small, so threads cost more in synchronisation than
    they give (``benchmarks/probe_threads.py`` measures both ways side by side; on 2 CPU cores
    one thread was several times faster, with the same accuracy).

    Args:
        z_train: Training codes.
        y_train: Training labels.
        z_test: Test codes.
        y_test: Test labels.
        max_iter: lbfgs iterations (scikit-learn warns if it has not converged).
        C: Inverse L2 regularisation strength.

    Returns:
        Fraction of test codes classified correctly.

    Raises:
        TypeError: If ``max_iter`` is not an integer or ``C`` not a real number.
        ValueError: If the shapes do not fit together, ``max_iter < 1`` or ``C <= 0``.

    Shape:
        z_train: (N, K). y_train: (N,). z_test: (M, K). y_test: (M,). Output: float.
    """
    arrays = [_to_numpy(a) for a in (z_train, y_train, z_test, y_test)]
    z_tr, y_tr, z_te, y_te = arrays
    if z_tr.ndim != 2 or z_te.ndim != 2 or z_tr.shape[1] != z_te.shape[1]:
        raise ValueError(
            f"z_train and z_test must be (N, K) and (M, K), got {z_tr.shape} and {z_te.shape}"
        )
    if y_tr.shape != (z_tr.shape[0],) or y_te.shape != (z_te.shape[0],):
        raise ValueError(
            f"y_train and y_test must hold one label per code, got shapes {y_tr.shape} "
            f"and {y_te.shape} for {z_tr.shape[0]} and {z_te.shape[0]} codes"
        )
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    C = check_real(C, "C", minimum=0, low_open=True)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    with threadpool_limits(limits=1, user_api="blas"):
        probe.fit(z_tr, y_tr)
        return float(probe.score(z_te, y_te))
