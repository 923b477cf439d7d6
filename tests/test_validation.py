"""Tests for aeutils.validation: one rule (TypeError for types, ValueError for values, no bools)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from aeutils.validation import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_module,
    check_real,
    check_tensor,
)


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), torch.tensor(3)])
def test_check_int_accepts_integers_and_returns_plain_ints(value) -> None:
    assert check_int(value, "n", minimum=1) == 3
    assert type(check_int(value, "n")) is int


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, "bool"), (np.True_, "bool"), (2.0, "float"), ("2", "str"), (None, "NoneType")],
)
def test_check_int_refuses_other_types_with_a_type_error(value, kind) -> None:
    with pytest.raises(TypeError, match=f"^n must be an integer, got {kind}$"):
        check_int(value, "n")


@pytest.mark.parametrize(
    ("bounds", "value", "requirement"),
    [
        ({"minimum": 1}, 0, "a positive integer"),
        ({"minimum": 0}, -1, "a non-negative integer"),
        ({"minimum": 3}, 2, "an integer >= 3"),
        ({"minimum": 1, "maximum": 5}, 6, r"an integer in \[1, 5\]"),
        ({"maximum": 5}, 6, r"an integer in \[-inf, 5\]"),
    ],
)
def test_check_int_bounds_are_value_errors(bounds, value, requirement) -> None:
    with pytest.raises(ValueError, match=f"^n must be {requirement}, got {value}$"):
        check_int(value, "n", **bounds)
    edge = bounds.get("maximum", bounds.get("minimum"))
    assert check_int(edge, "n", **bounds) == edge  # the bounds themselves are allowed


@pytest.mark.parametrize("value", [0.5, 1, np.float64(0.5), np.float32(0.5)])
def test_check_real_accepts_real_numbers_and_returns_floats(value) -> None:
    assert check_real(value, "x", minimum=0, maximum=1) == pytest.approx(float(value))
    assert type(check_real(value, "x")) is float


@pytest.mark.parametrize(
    ("value", "kind"), [(True, "bool"), ("0.5", "str"), (None, "NoneType"), (1j, "complex")]
)
def test_check_real_refuses_other_types_with_a_type_error(value, kind) -> None:
    with pytest.raises(TypeError, match=f"^x must be a real number, got {kind}$"):
        check_real(value, "x")


@pytest.mark.parametrize(
    ("bounds", "value", "requirement"),
    [
        ({}, math.inf, "a finite number"),
        ({}, math.nan, "a finite number"),
        ({"minimum": 0}, -0.5, "a finite number >= 0"),
        ({"minimum": 0}, math.inf, "a finite number >= 0"),
        ({"minimum": 0, "low_open": True}, 0.0, "a finite number > 0"),
        ({"maximum": 1, "high_open": True}, 1.0, "a finite number < 1"),
        ({"minimum": 0, "maximum": 1}, 1.5, r"a number in \[0, 1\]"),
        (
            {"minimum": 0, "maximum": 1, "low_open": True, "high_open": True},
            0.0,
            r"a number in \(0, 1\)",
        ),
        ({"minimum": 0, "maximum": 1}, math.nan, r"a number in \[0, 1\]"),
    ],
)
def test_check_real_bounds_and_non_finite_values_are_value_errors(
    bounds, value, requirement
) -> None:
    with pytest.raises(ValueError, match=f"^x must be {requirement}, got {value!r}$"):
        check_real(value, "x", **bounds)


def test_check_real_closed_bounds_include_their_ends() -> None:
    assert check_real(0, "x", minimum=0, maximum=1) == 0.0
    assert check_real(1, "x", minimum=0, maximum=1) == 1.0


def test_check_bool_choice_callable_and_module() -> None:
    assert check_bool(False, "flag") is False
    with pytest.raises(TypeError, match=r"^flag must be True or False, got int$"):
        check_bool(1, "flag")
    assert check_choice("mse", "kind", ("mse", "bce")) == "mse"
    assert check_choice(None, "activation", ("relu", None)) is None
    with pytest.raises(ValueError, match=r"^kind must be one of \('mse', 'bce'\), got 'l2'$"):
        check_choice("l2", "kind", ("mse", "bce"))
    assert check_callable(abs, "f", "float -> float") is abs
    with pytest.raises(TypeError, match=r"^f must be callable \(float -> float\), got int$"):
        check_callable(3, "f", "float -> float")
    layer = nn.Linear(2, 2)
    assert check_module(layer, "encoder") is layer
    with pytest.raises(TypeError, match=r"^encoder must be an nn\.Module, got function$"):
        check_module(lambda t: t, "encoder")


def test_check_tensor() -> None:
    x = torch.zeros(2, 3)
    assert check_tensor(x, "x", ndim=2, floating=True) is x
    assert check_tensor(torch.tensor(1.0), "x", batch=False).ndim == 0
    with pytest.raises(TypeError, match=r"^x must be a torch\.Tensor, got ndarray$"):
        check_tensor(np.zeros(3), "x")
    with pytest.raises(
        TypeError, match=r"^x must be a floating-point tensor, got dtype torch\.int64$"
    ):
        check_tensor(torch.zeros(3, dtype=torch.int64), "x", floating=True)
    with pytest.raises(ValueError, match=r"^x must have 2 dimensions, got shape \(3,\)$"):
        check_tensor(torch.zeros(3), "x", ndim=2)
    with pytest.raises(ValueError, match=r"^x must be a non-empty batch, got shape \(0, 3\)$"):
        check_tensor(torch.zeros(0, 3), "x")
    with pytest.raises(ValueError, match=r"^x must be a non-empty batch, got shape \(\)$"):
        check_tensor(torch.tensor(1.0), "x")
