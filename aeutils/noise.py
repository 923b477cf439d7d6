"""Input corruptions for denoising autoencoders.

All corruptions assume images with values in [0, 1], act element-wise and independently, return a
new tensor of the same shape, dtype and device, and never modify their input. Pass a
``torch.Generator`` (on the input's device) for reproducible noise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from numbers import Real

import torch
from torch import Tensor

CORRUPTION_KINDS: tuple[str, ...] = ("gaussian", "masking", "salt_and_pepper")


def _check_input(x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _check_level(value: object, name: str, upper: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if upper is None:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    elif not 0.0 <= value <= upper:
        raise ValueError(f"{name} must be in [0, {upper:g}], got {value}")
    return value


def gaussian_noise(
    x: Tensor, sigma: float, clip: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    """Additive isotropic Gaussian noise ``x + sigma * eps``, ``eps ~ N(0, I)``.

    Args:
        x: Clean input, usually in [0, 1].
        sigma: Noise standard deviation, >= 0 (0 leaves an input in [0, 1] unchanged).
        clip: Clamp the result to [0, 1].
        generator: Random generator on ``x``'s device.

    Returns:
        Noisy copy of ``x``.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or ``sigma`` not a real number.
        ValueError: If ``sigma`` is negative or not finite.

    Shape:
        x: any, e.g. (B, C, H, W). Output: same as ``x``.
    """
    x = _check_input(x)
    sigma = _check_level(sigma, "sigma", upper=None)
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    noisy = x + sigma * eps
    return noisy.clamp(0.0, 1.0) if clip else noisy


def masking_noise(x: Tensor, fraction: float, generator: torch.Generator | None = None) -> Tensor:
    """Masking noise: each element is set to 0 independently with probability ``fraction``.

    The number of masked elements is random (binomial) with mean ``fraction * x.numel()``.

    Args:
        x: Clean input.
        fraction: Probability that an element is zeroed, in [0, 1].
        generator: Random generator on ``x``'s device.

    Returns:
        Masked copy of ``x``.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or ``fraction`` not a real number.
        ValueError: If ``fraction`` is outside [0, 1].

    Shape:
        x: any, e.g. (B, C, H, W). Output: same as ``x``.
    """
    x = _check_input(x)
    fraction = _check_level(fraction, "fraction", upper=1.0)
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)  # in [0, 1)
    return x.masked_fill(u < fraction, 0.0)


def salt_and_pepper_noise(
    x: Tensor, fraction: float, generator: torch.Generator | None = None
) -> Tensor:
    """Salt-and-pepper noise: each element is corrupted independently with probability ``fraction``.

    A corrupted element is set to 0 ("pepper") or 1 ("salt") with equal probability, the minimum
    and maximum of the [0, 1] data range.

    Args:
        x: Clean input in [0, 1].
        fraction: Probability that an element is corrupted, in [0, 1].
        generator: Random generator on ``x``'s device.

    Returns:
        Corrupted copy of ``x``.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor or ``fraction`` not a real number.
        ValueError: If ``fraction`` is outside [0, 1].

    Shape:
        x: any, e.g. (B, C, H, W). Output: same as ``x``.
    """
    x = _check_input(x)
    fraction = _check_level(fraction, "fraction", upper=1.0)
    corrupted = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < fraction
    salt = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < 0.5
    return torch.where(corrupted, salt.to(x.dtype), x)


def make_corruption(
    kind: str, level: float, generator: torch.Generator | None = None
) -> Callable[[Tensor], Tensor]:
    """Build a one-argument corruption function, e.g. for ``denoising_objective``.

    Args:
        kind: ``"gaussian"`` (``level`` is sigma, output clipped to [0, 1]), ``"masking"`` or
            ``"salt_and_pepper"`` (``level`` is the corrupted fraction).
        level: Noise level, validated now rather than at the first call.
        generator: Optional random generator used by every call.

    Returns:
        ``corrupt(x) -> Tensor`` (a ``functools.partial``, so it prints its settings).

    Raises:
        TypeError: If ``level`` is not a real number.
        ValueError: If ``kind`` is unknown or ``level`` invalid for that kind.

    Shape:
        The returned function maps any shape to the same shape.
    """
    if kind == "gaussian":
        sigma = _check_level(level, "sigma", upper=None)
        return functools.partial(gaussian_noise, sigma=sigma, generator=generator)
    if kind == "masking":
        fraction = _check_level(level, "fraction", upper=1.0)
        return functools.partial(masking_noise, fraction=fraction, generator=generator)
    if kind == "salt_and_pepper":
        fraction = _check_level(level, "fraction", upper=1.0)
        return functools.partial(salt_and_pepper_noise, fraction=fraction, generator=generator)
    raise ValueError(f"kind must be one of {CORRUPTION_KINDS}, got {kind!r}")
