"""Input corruptions for denoising autoencoders.

All corruptions assume images with values in [0, 1], act element-wise and independently, return a
new tensor of the same shape, dtype and device, and never modify their input. Pass a
``torch.Generator`` (on the input's device) for reproducible noise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from aeutils.validation import check_bool, check_choice, check_real, check_tensor

__all__ = [
    "CORRUPTION_KINDS",
    "gaussian_noise",
    "make_corruption",
    "masking_noise",
    "salt_and_pepper_noise",
]

CORRUPTION_KINDS: tuple[str, ...] = ("gaussian", "masking", "salt_and_pepper")


def _check_input(x: object) -> Tensor:
    return check_tensor(x, "x", batch=False, floating=True)


def _check_sigma(sigma: object) -> float:
    return check_real(sigma, "sigma", minimum=0)


def _check_fraction(fraction: object) -> float:
    return check_real(fraction, "fraction", minimum=0, maximum=1)


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
        TypeError: If ``x`` is not a floating-point tensor, ``sigma`` not a real number or
            ``clip`` not a bool.
        ValueError: If ``sigma`` is negative or not finite.

    Shape:
        x: any, e.g. (B, C, H, W). Output: same as ``x``.
    """
    x = _check_input(x)
    sigma = _check_sigma(sigma)
    clip = check_bool(clip, "clip")
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
    fraction = _check_fraction(fraction)
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
    fraction = _check_fraction(fraction)
    corrupted = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < fraction
    salt = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < 0.5
    return torch.where(corrupted, salt.to(x.dtype), x)


def make_corruption(
    kind: str, level: float, generator: torch.Generator | None = None, *, clip: bool = True
) -> Callable[[Tensor], Tensor]:
    """Build a one-argument corruption function, e.g. for ``denoising_objective``.

    Args:
        kind: ``"gaussian"`` (``level`` is sigma), ``"masking"`` or ``"salt_and_pepper"``
            (``level`` is the corrupted fraction).
        level: Noise level, validated now rather than at the first call.
        generator: Optional random generator used by every call.
        clip: For ``"gaussian"``, clamp the noisy result to [0, 1] (the default, as
            :func:`gaussian_noise`); ``False`` keeps the raw noisy values, as when the noise is
            defined on unclipped images. Masking and salt-and-pepper noise never leave [0, 1],
            so they have nothing to clip.

    Returns:
        ``corrupt(x) -> Tensor`` (a ``functools.partial``, so it prints its settings).

    Raises:
        TypeError: If ``level`` is not a real number or ``clip`` not a bool.
        ValueError: If ``kind`` is unknown or ``level`` invalid for that kind.

    Shape:
        The returned function maps any shape to the same shape.
    """
    kind = check_choice(kind, "kind", CORRUPTION_KINDS)
    clip = check_bool(clip, "clip")
    if kind == "gaussian":
        sigma = _check_sigma(level)
        return functools.partial(gaussian_noise, sigma=sigma, clip=clip, generator=generator)
    fraction = _check_fraction(level)
    noise = masking_noise if kind == "masking" else salt_and_pepper_noise
    return functools.partial(noise, fraction=fraction, generator=generator)
