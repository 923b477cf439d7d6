"""Evaluation metrics: reconstruction quality, retrieval, anomaly detection and code statistics.

Metrics never build autograd graphs: inputs are detached. Functions that return a Python ``float``
summarise a whole set; functions that return a tensor give one value per image, per query or per
unit. ``squared_error_per_image`` and ``jacobian_norm`` stay on the input's device; PSNR per image,
retrieval scores and code statistics are float64 CPU tensors.
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
from torch import Tensor, nn

from aeutils.losses import _per_sample_jacobian

PSNR_REDUCTIONS: tuple[str, ...] = ("pooled", "per_image")
DISTANCE_METRICS: tuple[str, ...] = ("euclidean", "hamming")


def _check_tensor(value: object, name: str, ndim: int | None = None) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if value.ndim < 1 or value.numel() == 0:
        raise ValueError(f"{name} must be a non-empty batch, got shape {tuple(value.shape)}")
    return value.detach()


def _check_pair(x_hat: object, x: object) -> tuple[Tensor, Tensor]:
    x_hat = _check_tensor(x_hat, "x_hat")
    x = _check_tensor(x, "x")
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
        TypeError: If an argument is not a tensor.
        ValueError: If the shapes differ, ``data_range <= 0``, ``reduction`` is unknown, or
            ``clip`` is set and ``x`` has values outside ``[0, data_range]``.

    Shape:
        x_hat, x: ``(B, *)``, e.g. (B, C, H, W). Output: () float or (B,).
    """
    x_hat, x = _check_pair(x_hat, x)
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    if reduction not in PSNR_REDUCTIONS:
        raise ValueError(f"reduction must be one of {PSNR_REDUCTIONS}, got {reduction!r}")
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
        TypeError: If an argument is not a tensor.
        ValueError: If shapes differ or are not (B, C, H, W) / (B, H, W), or images are under 7x7.

    Shape:
        x_hat, x: (B, C, H, W) or (B, H, W). Output: float.
    """
    x_hat, x = _check_pair(x_hat, x)
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
# Retrieval
# --------------------------------------------------------------------------------------------


def pairwise_distances(query_codes: Tensor, db_codes: Tensor, metric: str = "euclidean") -> Tensor:
    """Distances between every query code and every database code.

    Args:
        query_codes: Query codes.
        db_codes: Database codes with the same code size.
        metric: ``"euclidean"`` or ``"hamming"``. Hamming distance counts differing bits (not the
            fraction of them, as SciPy does) and needs binary codes with values in {0, 1}, e.g.
            ``(torch.sigmoid(z) > 0.5).float()``.

    Returns:
        Float64 CPU tensor of distances.

    Raises:
        TypeError: If an argument is not a tensor.
        ValueError: For unknown metrics, mismatched code sizes or non-binary codes with hamming.

    Shape:
        query_codes: (Q, K). db_codes: (N, K). Output: (Q, N).
    """
    query = _check_tensor(query_codes, "query_codes", ndim=2).cpu().to(torch.float64)
    db = _check_tensor(db_codes, "db_codes", ndim=2).cpu().to(torch.float64)
    if metric not in DISTANCE_METRICS:
        raise ValueError(f"metric must be one of {DISTANCE_METRICS}, got {metric!r}")
    if query.shape[1] != db.shape[1]:
        raise ValueError(
            f"query_codes and db_codes must have the same code size, got {query.shape[1]} "
            f"and {db.shape[1]}"
        )
    if metric == "euclidean":
        return torch.cdist(query, db)  # (Q, N)
    for name, codes in (("query_codes", query), ("db_codes", db)):
        if not ((codes == 0) | (codes == 1)).all():
            raise ValueError(f'{name} must contain only 0 and 1 for metric="hamming"')
    # Bits that differ: q=1,d=0 plus q=0,d=1; exact integer counts in float64.
    return query @ (1.0 - db).T + (1.0 - query) @ db.T  # (Q, N)


def rank_database(
    query_codes: Tensor, db_codes: Tensor, metric: str = "euclidean"
) -> tuple[Tensor, Tensor]:
    """Rank the database for every query, nearest first.

    Ties are broken by database index (a stable sort); :func:`average_precision` can use the
    returned sorted distances to treat tied items as one group instead.

    Args:
        query_codes: Query codes.
        db_codes: Database codes.
        metric: ``"euclidean"`` or ``"hamming"`` (see :func:`pairwise_distances`).

    Returns:
        ``(ranking, sorted_distances)``: database indices (int64) and their distances, row by row.

    Raises:
        TypeError, ValueError: As :func:`pairwise_distances`.

    Shape:
        query_codes: (Q, K). db_codes: (N, K). Outputs: (Q, N) each.
    """
    distances = pairwise_distances(query_codes, db_codes, metric)  # (Q, N)
    sorted_distances, ranking = torch.sort(distances, dim=1, stable=True)
    return ranking, sorted_distances


def ranked_relevance(ranking: Tensor, query_labels: Tensor, db_labels: Tensor) -> Tensor:
    """Relevance (same label as the query) of each ranked database item.

    Args:
        ranking: Database indices per query, as returned by :func:`rank_database`.
        query_labels: Label of each query.
        db_labels: Label of each database item.

    Returns:
        Boolean tensor, ``True`` where ``db_labels[ranking[q, r]] == query_labels[q]``.

    Raises:
        ValueError: If the shapes do not fit together.

    Shape:
        ranking: (Q, N). query_labels: (Q,). db_labels: (N,). Output: (Q, N).
    """
    ranking = _check_tensor(ranking, "ranking", ndim=2).cpu()
    query_labels = _check_tensor(query_labels, "query_labels", ndim=1).cpu()
    db_labels = _check_tensor(db_labels, "db_labels", ndim=1).cpu()
    if ranking.shape != (query_labels.shape[0], db_labels.shape[0]):
        raise ValueError(
            f"ranking must have shape (len(query_labels), len(db_labels)) = "
            f"({query_labels.shape[0]}, {db_labels.shape[0]}), got {tuple(ranking.shape)}"
        )
    return db_labels[ranking] == query_labels[:, None]  # (Q, N)


def precision_at_k(relevant: Tensor, k: int) -> Tensor:
    """Fraction of relevant items among the first ``k`` of each ranking.

    Args:
        relevant: Boolean relevance in ranked order (see :func:`ranked_relevance`).
        k: Cut-off, ``1 <= k <= N``.

    Returns:
        Float64 tensor of precisions.

    Raises:
        ValueError: If ``k`` is out of range or ``relevant`` is not 2-D.

    Shape:
        relevant: (Q, N). Output: (Q,).
    """
    relevant = _check_tensor(relevant, "relevant", ndim=2).cpu()
    n = relevant.shape[1]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}] (the database size), got {k!r}")
    return relevant[:, :k].to(torch.float64).mean(dim=1)


def average_precision(relevant: Tensor, sorted_distances: Tensor | None = None) -> Tensor:
    """Average precision of each ranking over the full database.

    ``AP = (1 / n_rel) * sum_r rel_r * precision@r``. When ``sorted_distances`` is given, items with
    equal distance form one group and each relevant item gets the precision at the *end* of its
    group, which is exactly ``sklearn.metrics.average_precision_score(relevant, -distance)``; this
    matters for Hamming distances, where ties are common and breaking them by database index would
    bias the score. A query with no relevant item gets AP = 0.

    Args:
        relevant: Boolean relevance in ranked order (see :func:`ranked_relevance`).
        sorted_distances: The distances in the same ranked order (non-decreasing along each row),
            or None to treat the ranking as strict.

    Returns:
        Float64 tensor of average precisions.

    Raises:
        ValueError: If ``relevant`` is not 2-D or the shapes differ.

    Shape:
        relevant, sorted_distances: (Q, N). Output: (Q,).
    """
    relevant = _check_tensor(relevant, "relevant", ndim=2).cpu().to(torch.float64)
    n = relevant.shape[1]
    positions = torch.arange(n, dtype=torch.int64).expand_as(relevant)  # (Q, N)
    if sorted_distances is None:
        group_end = positions
    else:
        sorted_distances = _check_tensor(sorted_distances, "sorted_distances", ndim=2).cpu()
        if sorted_distances.shape != relevant.shape:
            raise ValueError(
                f"sorted_distances must have the shape of relevant {tuple(relevant.shape)}, "
                f"got {tuple(sorted_distances.shape)}"
            )
        if (sorted_distances.diff(dim=1) < 0).any():
            raise ValueError(
                "sorted_distances must be non-decreasing along each row (ranked order)"
            )
        sorted_distances = sorted_distances.contiguous()
        # Last position holding the same distance as position r (ties are contiguous once sorted).
        group_end = torch.searchsorted(sorted_distances, sorted_distances, right=True) - 1
    hits = relevant.cumsum(dim=1)  # (Q, N): relevant items in the first r + 1
    precision_at_end = hits.gather(1, group_end) / (group_end + 1)  # (Q, N)
    n_relevant = relevant.sum(dim=1)  # (Q,)
    total = (relevant * precision_at_end).sum(dim=1)
    return torch.where(n_relevant > 0, total / n_relevant.clamp(min=1), 0.0)


def mean_average_precision(
    query_codes: Tensor,
    db_codes: Tensor,
    query_labels: Tensor,
    db_labels: Tensor,
    metric: str = "euclidean",
    chunk_size: int = 1024,
) -> float:
    """Mean over queries of the average precision of retrieving same-label database items.

    The database is ranked by distance (see :func:`rank_database`), relevance is "same label", ties
    are handled as in :func:`average_precision`. If the queries are also in the database, each query
    finds itself at distance 0, which inflates the score; split the data to avoid that.

    Args:
        query_codes: Query codes.
        db_codes: Database codes.
        query_labels: Query labels.
        db_labels: Database labels.
        metric: ``"euclidean"`` or ``"hamming"``.
        chunk_size: Queries processed at once (bounds memory to ``chunk_size * N`` distances).

    Returns:
        mAP in [0, 1].

    Raises:
        TypeError, ValueError: As :func:`pairwise_distances` and :func:`ranked_relevance`.

    Shape:
        query_codes: (Q, K). db_codes: (N, K). query_labels: (Q,). db_labels: (N,). Output: float.
    """
    query_codes = _check_tensor(query_codes, "query_codes", ndim=2)
    query_labels = _check_tensor(query_labels, "query_labels", ndim=1)
    if query_labels.shape[0] != query_codes.shape[0]:
        raise ValueError(
            f"query_labels must have one label per query ({query_codes.shape[0]}), "
            f"got {query_labels.shape[0]}"
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    aps = []
    for start in range(0, query_codes.shape[0], chunk_size):
        stop = start + chunk_size
        ranking, distances = rank_database(query_codes[start:stop], db_codes, metric)
        relevant = ranked_relevance(ranking, query_labels[start:stop], db_labels)
        aps.append(average_precision(relevant, distances))
    return torch.cat(aps).mean().item()


# --------------------------------------------------------------------------------------------
# Anomaly detection, code statistics, probes
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
        ValueError: If ``h`` is not 2-D or ``threshold < 0``.

    Shape:
        h: (B, K). Tensor outputs on the CPU, as listed above.
    """
    h = _check_tensor(h, "h", ndim=2).cpu().to(torch.float64)
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
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

    Computed exactly with ``torch.func`` (see ``aeutils.losses.contractive_penalty``),
    ``chunk_size`` samples at a time to bound memory; the square of the result averaged over the
    batch equals
    ``contractive_penalty(encoder, x, method="exact")``.

    Args:
        encoder: Module mapping ``(B, *input_shape)`` to ``(B, *code_shape)``, each sample
            independently.
        x: Input batch.
        chunk_size: Samples per Jacobian computation.

    Returns:
        Detached tensor of norms on ``x``'s device.

    Raises:
        TypeError: If ``encoder`` is not an nn.Module or ``x`` not a tensor.
        ValueError: If ``chunk_size < 1`` or the batch is empty.

    Shape:
        x: ``(B, *input_shape)``. Output: (B,).
    """
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
    x = _check_tensor(x, "x")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    norms = []
    for chunk in x.split(chunk_size):
        jac = _per_sample_jacobian(encoder, chunk).detach()  # (b, k, d)
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
    (lbfgs solver, multinomial for several classes), fitted on the training codes.

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
        ValueError: If the shapes do not fit together or ``max_iter < 1``.

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
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    probe.fit(z_tr, y_tr)
    return float(probe.score(z_te, y_te))
