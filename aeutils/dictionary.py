"""Dictionaries with a known answer: synthetic sparse data, and how well a dictionary is found.

A sparse autoencoder (:class:`aeutils.models.SparseAutoencoder`) or any other dictionary
method learns a set of directions, one per row of a ``(n, d)`` tensor. On real activations
nobody knows the true directions; on synthetic data we do. The setting of Sharkey, Braun and
Millidge (2022):

- ``n_features`` ground-truth directions in ``d = input_size`` dimensions, drawn from an
  isotropic Gaussian and scaled to unit norm (:func:`synthetic_dictionary`);
- feature ``i`` active with probability ``p_i`` proportional to ``decay ** i``, scaled so that
  on average ``mean_active`` features are active per sample (see :func:`synthetic_dictionary`
  for how this differs from the replication code);
- an active feature's magnitude uniform in ``[0, 1)``, and ``x = codes @ features``
  (:meth:`SyntheticDictionary.sample`).

Two scores compare learned directions with the true ones, both by absolute cosine (a direction
and its opposite are the same feature) and both averaged over the *true* features:

- :func:`mean_max_cosine_similarity` (MMCS): for each true feature, its best match among the
  learned directions; one learned direction may serve several true features;
- :func:`matching_score`: a one-to-one assignment (the Hungarian algorithm,
  ``scipy.optimize.linear_sum_assignment``, :func:`one_to_one_matching`), so each learned
  direction serves at most one true feature; a true feature left without a partner (fewer
  learned than true directions) scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from aeutils.validation import check_int, check_real, check_tensor

__all__ = [
    "SyntheticDictionary",
    "cosine_similarities",
    "matching_score",
    "mean_max_cosine_similarity",
    "one_to_one_matching",
    "synthetic_dictionary",
]

_CHUNK = 16_384  # samples drawn at a time, to bound the temporary (chunk, n_features) tensors


@dataclass(frozen=True, eq=False)
class SyntheticDictionary:
    """A known dictionary and how often each of its features is active.

    Args:
        features: One ground-truth direction per row (any norm; :func:`synthetic_dictionary`
            makes them unit norm).
        probabilities: Probability that each feature is active in a sample, in ``[0, 1]``.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes do not match or a probability lies outside ``[0, 1]``.

    Shape:
        features: ``(n_features, input_size)``; probabilities: ``(n_features,)``.
    """

    features: Tensor
    probabilities: Tensor

    def __post_init__(self) -> None:
        features = check_tensor(self.features, "features", ndim=2, floating=True)
        probabilities = check_tensor(self.probabilities, "probabilities", ndim=1, floating=True)
        if probabilities.shape[0] != features.shape[0]:
            raise ValueError(
                f"probabilities must have one entry per feature ({features.shape[0]}), got "
                f"shape {tuple(probabilities.shape)}"
            )
        low, high = probabilities.aminmax()
        if low < 0 or high > 1:
            raise ValueError(
                f"probabilities must lie in [0, 1], got values in [{low.item():.4g}, "
                f"{high.item():.4g}]"
            )

    @property
    def n_features(self) -> int:
        """Number of ground-truth features."""
        return self.features.shape[0]

    @property
    def input_size(self) -> int:
        """Dimension of a sample."""
        return self.features.shape[1]

    @property
    def mean_active(self) -> float:
        """Expected number of active features per sample, ``sum_i p_i``."""
        return float(self.probabilities.sum())

    def sample(self, n_samples: int, *, seed: int) -> tuple[Tensor, Tensor]:
        """Draw samples ``x = codes @ features`` with sparse random codes.

        Each feature is active independently with its probability; an active feature's
        magnitude is uniform in ``[0, 1)``. The same seed gives the same samples.

        Args:
            n_samples: Number of samples, >= 1.
            seed: Seed of the generator (any integer).

        Returns:
            ``(x, codes)``, float32.

        Raises:
            TypeError: If an argument is not an integer.
            ValueError: If ``n_samples < 1``.

        Shape:
            x: ``(n_samples, input_size)``; codes: ``(n_samples, n_features)``.
        """
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        generator = torch.Generator().manual_seed(check_int(seed, "seed"))
        probabilities = self.probabilities.detach().cpu().to(torch.float32)
        features = self.features.detach().cpu().to(torch.float32)
        codes = torch.empty(n_samples, self.n_features)
        for start in range(0, n_samples, _CHUNK):
            rows = min(_CHUNK, n_samples - start)
            active = torch.rand(rows, self.n_features, generator=generator) < probabilities
            magnitude = torch.rand(rows, self.n_features, generator=generator)  # [0, 1)
            codes[start : start + rows] = magnitude * active  # (rows, n)
        return codes @ features, codes


def synthetic_dictionary(
    *,
    input_size: int,
    n_features: int,
    mean_active: float = 5.0,
    decay: float = 0.99,
    seed: int = 0,
) -> SyntheticDictionary:
    """A random dictionary of unit directions with geometrically decaying feature frequencies.

    The features are rows of an isotropic Gaussian matrix scaled to unit norm. Feature ``i``
    (from 0) is active with probability ``p_i = c * decay ** i``, with ``c`` chosen so that
    ``sum_i p_i = mean_active``. (The replication code of Sharkey et al., in its uncorrelated
    mode, uses ``c = mean_active / n_features`` without this rescaling, which for 512 features
    and ``decay = 0.99`` gives about 0.97 active features per sample, not 5.)

    Args:
        input_size: Dimension ``d`` of a sample, >= 1.
        n_features: Number of ground-truth features, >= 1.
        mean_active: Expected number of active features per sample, > 0.
        decay: Ratio of successive probabilities, in ``(0, 1]``.
        seed: Seed of the features' generator (any integer).

    Returns:
        A :class:`SyntheticDictionary`.

    Raises:
        TypeError: If an argument has the wrong type (bool included).
        ValueError: If a size is not positive, ``decay`` lies outside ``(0, 1]``, or
            ``mean_active`` would need a probability above 1.

    Shape:
        features: ``(n_features, input_size)``; probabilities: ``(n_features,)``.
    """
    input_size = check_int(input_size, "input_size", minimum=1)
    n_features = check_int(n_features, "n_features", minimum=1)
    mean_active = check_real(mean_active, "mean_active", minimum=0, low_open=True)
    decay = check_real(decay, "decay", minimum=0, maximum=1, low_open=True)
    generator = torch.Generator().manual_seed(check_int(seed, "seed"))
    gaussian = torch.randn(n_features, input_size, generator=generator, dtype=torch.float64)
    features = gaussian / gaussian.norm(dim=1, keepdim=True)  # (n, d) unit rows
    weights = decay ** torch.arange(n_features, dtype=torch.float64)  # (n,)
    probabilities = mean_active * weights / weights.sum()
    if probabilities[0] > 1:
        largest = float(weights.sum() / weights[0])
        raise ValueError(
            f"mean_active must be at most {largest:.4g} for {n_features} features with decay "
            f"{decay:g} (the most frequent feature would be active with probability "
            f"{probabilities[0].item():.4g} > 1), got {mean_active:g}"
        )
    return SyntheticDictionary(features.to(torch.float32), probabilities.to(torch.float32))


def _directions(value: object, name: str) -> Tensor:
    """A 2-D tensor of directions as float64, refusing zero rows."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    value = check_tensor(value, name, ndim=2)
    if value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must be a real tensor, got dtype {value.dtype}")
    rows = value.detach().cpu().to(torch.float64)
    norms = rows.norm(dim=1)  # (n,)
    zero = int((norms == 0).sum())
    if zero:
        raise ValueError(
            f"{name} must have a non-zero norm in every row (a direction), got {zero} zero "
            f"row(s) of {rows.shape[0]}"
        )
    return rows / norms[:, None]


def cosine_similarities(learned: Tensor, true: Tensor) -> Tensor:
    """Absolute cosine similarity of every learned direction with every true one.

    Args:
        learned: Learned directions, one per row, any non-zero norm (a tensor or an array).
        true: True directions, one per row, any non-zero norm.

    Returns:
        ``|cos(learned[i], true[j])|`` as float64 on the CPU.

    Raises:
        TypeError: If an argument is not a real tensor or array.
        ValueError: If an argument is not 2-D or empty, has a zero row, or the two have a
            different number of columns.

    Shape:
        learned: ``(n_learned, d)``; true: ``(n_true, d)``. Output: ``(n_learned, n_true)``.
    """
    learned_rows = _directions(learned, "learned")
    true_rows = _directions(true, "true")
    if learned_rows.shape[1] != true_rows.shape[1]:
        raise ValueError(
            "learned and true must have the same number of columns (the dimension of a "
            f"direction), got {learned_rows.shape[1]} and {true_rows.shape[1]}"
        )
    return (learned_rows @ true_rows.T).abs()  # (n_learned, n_true)


def mean_max_cosine_similarity(learned: Tensor, true: Tensor) -> float:
    """Mean over the true directions of their largest absolute cosine with a learned one.

    ``MMCS = (1 / n_true) sum_j max_i |cos(learned_i, true_j)|``: 1 when every true direction
    appears among the learned ones (in any order, with any sign and norm), about 0 when the
    learned directions are orthogonal to all of them.

    Args:
        learned: Learned directions, one per row, any non-zero norm.
        true: True directions, one per row, any non-zero norm.

    Returns:
        The MMCS, in ``[0, 1]``.

    Raises:
        TypeError: If an argument is not a real tensor or array.
        ValueError: As for :func:`cosine_similarities`.

    Shape:
        learned: ``(n_learned, d)``; true: ``(n_true, d)``; any ``n_learned`` and ``n_true``.
    """
    return float(cosine_similarities(learned, true).max(dim=0).values.mean())


def one_to_one_matching(learned: Tensor, true: Tensor) -> tuple[Tensor, Tensor]:
    """Pair true directions with distinct learned ones to maximise the total absolute cosine.

    The Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on the matrix of
    :func:`cosine_similarities`. With fewer learned than true directions, some true directions
    stay unmatched.

    Args:
        learned: Learned directions, one per row, any non-zero norm.
        true: True directions, one per row, any non-zero norm.

    Returns:
        ``(index, cosine)``: for each true direction, the row of ``learned`` it is paired with
        (-1 if none) and their absolute cosine (0 if none).

    Raises:
        TypeError: If an argument is not a real tensor or array.
        ValueError: As for :func:`cosine_similarities`.

    Shape:
        learned: ``(n_learned, d)``; true: ``(n_true, d)``. Outputs: ``(n_true,)`` int64 and
        ``(n_true,)`` float64.
    """
    cosines = cosine_similarities(learned, true)  # (n_learned, n_true)
    rows, cols = linear_sum_assignment(cosines.numpy(), maximize=True)
    index = torch.full((cosines.shape[1],), -1, dtype=torch.long)
    matched = torch.zeros(cosines.shape[1], dtype=torch.float64)
    index[torch.from_numpy(cols)] = torch.from_numpy(rows)
    matched[torch.from_numpy(cols)] = cosines[torch.from_numpy(rows), torch.from_numpy(cols)]
    return index, matched


def matching_score(learned: Tensor, true: Tensor) -> float:
    """Mean absolute cosine of the one-to-one matching, over all true directions.

    ``(1 / n_true) sum_j |cos(learned_{m(j)}, true_j)|`` for the best assignment ``m`` of
    distinct learned directions (:func:`one_to_one_matching`); unmatched true directions count
    0. It is at most :func:`mean_max_cosine_similarity`, and equal to it when no learned
    direction is the best match of two true ones.

    Args:
        learned: Learned directions, one per row, any non-zero norm.
        true: True directions, one per row, any non-zero norm.

    Returns:
        The score, in ``[0, 1]``.

    Raises:
        TypeError: If an argument is not a real tensor or array.
        ValueError: As for :func:`cosine_similarities`.

    Shape:
        learned: ``(n_learned, d)``; true: ``(n_true, d)``.
    """
    return float(one_to_one_matching(learned, true)[1].mean())
