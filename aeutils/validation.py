"""Argument checks shared by every module of the package, with one rule for all of them.

- An argument of the wrong **type** raises ``TypeError``: ``"<name> must be <kind>, got <type>"``.
- An argument of the right type with a wrong **value** raises ``ValueError``:
  ``"<name> must be <requirement>, got <value>"``.
- ``bool`` is refused wherever a number is meant: ``True`` is an ``int`` to Python, but a batch
  size of ``True`` is a mistake, not a request for 1.

Each check returns the value normalised to a plain Python type (``int``, ``float``, ``bool``,
``str``) or, for tensors, the tensor itself, so a caller writes
``n = check_int(n, "n", minimum=1)``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, TypeVar

import numpy as np
from torch import Tensor, nn

__all__ = [
    "check_bool",
    "check_callable",
    "check_choice",
    "check_int",
    "check_module",
    "check_real",
    "check_tensor",
]

T = TypeVar("T")


def _int_requirement(minimum: int | None, maximum: int | None) -> str:
    if maximum is not None:
        low = "-inf" if minimum is None else str(minimum)
        return f"an integer in [{low}, {maximum}]"
    if minimum == 1:
        return "a positive integer"
    if minimum == 0:
        return "a non-negative integer"
    return "an integer" if minimum is None else f"an integer >= {minimum}"


def check_int(
    value: object, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Check that ``value`` is an integer in ``[minimum, maximum]`` and return it as an ``int``.

    Integer-like scalars (``numpy.int64``, anything with ``__index__``) are accepted; ``bool``,
    floats (even ``2.0``) and strings are not.

    Args:
        value: The argument to check.
        name: Its name, for the error message.
        minimum: Smallest allowed value, or None for no lower bound.
        maximum: Largest allowed value, or None for no upper bound.

    Returns:
        ``value`` as a plain ``int``.

    Raises:
        TypeError: If ``value`` is a bool or not an integer.
        ValueError: If it lies outside the bounds.

    Shape:
        Scalars only.
    """
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        number = operator.index(value)  # int, numpy integers, 0-d integer tensors
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {_int_requirement(minimum, maximum)}, got {number}")
    return int(number)


def _real_requirement(
    minimum: float | None, maximum: float | None, low_open: bool, high_open: bool
) -> str:
    if minimum is not None and maximum is not None:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        return f"a number in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f"a finite number {'>' if low_open else '>='} {minimum:g}"
    if maximum is not None:
        return f"a finite number {'<' if high_open else '<='} {maximum:g}"
    return "a finite number"


def check_real(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check that ``value`` is a finite real number within the bounds and return it as a float.

    Args:
        value: The argument to check.
        name: Its name, for the error message.
        minimum: Lower bound, or None.
        maximum: Upper bound, or None.
        low_open: Exclude ``minimum`` itself (``value > minimum``).
        high_open: Exclude ``maximum`` itself (``value < maximum``).

    Returns:
        ``value`` as a plain ``float``.

    Raises:
        TypeError: If ``value`` is a bool or not a real number (a string, a tensor, None...).
        ValueError: If it is NaN, infinite or outside the bounds.

    Shape:
        Scalars only.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    inside = math.isfinite(number)
    if inside and minimum is not None:
        inside = number > minimum if low_open else number >= minimum
    if inside and maximum is not None:
        inside = number < maximum if high_open else number <= maximum
    if not inside:
        requirement = _real_requirement(minimum, maximum, low_open, high_open)
        raise ValueError(f"{name} must be {requirement}, got {number!r}")
    return number


def check_bool(value: object, name: str) -> bool:
    """Check that ``value`` is ``True`` or ``False`` (not 0, 1 or a string) and return it.

    Args:
        value: The argument to check.
        name: Its name, for the error message.

    Returns:
        ``value``.

    Raises:
        TypeError: If ``value`` is not a ``bool``.

    Shape:
        Scalars only.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def check_choice(value: T, name: str, choices: Sequence[T]) -> T:
    """Check that ``value`` is one of ``choices`` and return it.

    Args:
        value: The argument to check.
        name: Its name, for the error message.
        choices: The allowed values, listed in the message.

    Returns:
        ``value``.

    Raises:
        ValueError: If ``value`` is not among ``choices``.

    Shape:
        Scalars only.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_callable(value: Callable[..., Any], name: str, signature: str) -> Callable[..., Any]:
    """Check that ``value`` can be called and return it.

    Args:
        value: The argument to check.
        name: Its name, for the error message.
        signature: What it should map, e.g. ``"Tensor -> Tensor"``.

    Returns:
        ``value``.

    Raises:
        TypeError: If ``value`` is not callable.

    Shape:
        Not applicable.
    """
    if not callable(value):
        raise TypeError(f"{name} must be callable ({signature}), got {type(value).__name__}")
    return value


def check_module(value: object, name: str) -> nn.Module:
    """Check that ``value`` is a ``torch.nn.Module`` and return it.

    Args:
        value: The argument to check.
        name: Its name, for the error message.

    Returns:
        ``value``.

    Raises:
        TypeError: If ``value`` is not an ``nn.Module``.

    Shape:
        Not applicable.
    """
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be an nn.Module, got {type(value).__name__}")
    return value


def check_tensor(
    value: object,
    name: str,
    *,
    ndim: int | None = None,
    batch: bool = True,
    floating: bool = False,
) -> Tensor:
    """Check that ``value`` is a tensor of the expected form and return it (not copied).

    Args:
        value: The argument to check.
        name: Its name, for the error message.
        ndim: Required number of dimensions, or None for any.
        batch: Require a non-empty leading batch dimension (at least 1-D, at least one element).
        floating: Require a floating-point dtype.

    Returns:
        ``value``.

    Raises:
        TypeError: If ``value`` is not a tensor, or not floating-point when that is required.
        ValueError: If its number of dimensions is wrong or the batch is empty.

    Shape:
        ``(B, *)`` when ``batch``; exactly ``ndim`` dimensions when ``ndim`` is given.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if batch and (value.ndim < 1 or value.numel() == 0):
        raise ValueError(f"{name} must be a non-empty batch, got shape {tuple(value.shape)}")
    return value
