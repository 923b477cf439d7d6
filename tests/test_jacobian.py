"""Tests for aeutils.jacobian against torch.autograd.functional.jacobian, one sample at a time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aeutils.jacobian import per_sample_jacobian


def _oracle(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Stack of d encoder(x_b) / d x_b, each computed alone by autograd, flattened."""
    blocks = []
    for xb in x:
        jac = torch.autograd.functional.jacobian(lambda v: encoder(v[None])[0], xb)
        blocks.append(jac.reshape(jac.shape[0], -1))  # (k, d)
    return torch.stack(blocks)  # (B, k, d)


@pytest.mark.parametrize(
    "code_size", [4, 30], ids=["jacrev (code < input)", "jacfwd (code > input)"]
)
def test_per_sample_jacobian_matches_autograd_in_both_modes(code_size):
    torch.manual_seed(0)
    encoder = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 7), nn.Tanh(), nn.Linear(7, code_size)
    ).double()
    x = torch.rand(5, 1, 3, 4, dtype=torch.float64)
    got = per_sample_jacobian(encoder, x)
    assert got.shape == (5, code_size, 12)
    torch.testing.assert_close(got, _oracle(encoder, x), rtol=1e-12, atol=1e-12)


def test_per_sample_jacobian_keeps_the_graph_for_training():
    torch.manual_seed(1)
    encoder = nn.Sequential(nn.Linear(6, 3), nn.Sigmoid()).double()
    x = torch.rand(4, 6, dtype=torch.float64)
    per_sample_jacobian(encoder, x).pow(2).sum().backward()
    assert encoder[0].weight.grad is not None and encoder[0].weight.grad.abs().sum() > 0


def test_per_sample_jacobian_of_a_view_equals_that_of_a_copy():
    # Forward mode copies its input first (a view's tangents would be sized like its base).
    torch.manual_seed(2)
    encoder = nn.Sequential(nn.Linear(3, 8), nn.Tanh()).double()
    data = torch.rand(20, 3, dtype=torch.float64)
    view = data[5:9]
    torch.testing.assert_close(per_sample_jacobian(encoder, view), _oracle(encoder, view.clone()))


def test_per_sample_jacobian_rejects_bad_arguments():
    with pytest.raises(TypeError, match=r"encoder must be an nn\.Module, got function"):
        per_sample_jacobian(lambda t: t, torch.rand(2, 3))
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor, got list"):
        per_sample_jacobian(nn.Linear(3, 2), [[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match=r"x must be a non-empty batch, got shape \(0, 3\)"):
        per_sample_jacobian(nn.Linear(3, 2), torch.zeros(0, 3))
