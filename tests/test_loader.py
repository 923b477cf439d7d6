"""TensorLoader: every sample exactly once per epoch, reproducible order, per-batch transform."""

from __future__ import annotations

import pytest
import torch

from aeutils.loader import TensorLoader


def test_each_sample_once_per_epoch_and_pairs_stay_aligned():
    x = torch.arange(103).float().unsqueeze(1)  # (N, 1)
    y = torch.arange(103) * 10
    loader = TensorLoader(x, y, batch_size=16, shuffle=True, seed=1)
    assert len(loader) == 7  # ceil(103 / 16)
    seen = []
    for xb, yb in loader:
        assert xb.shape[0] <= 16
        assert torch.equal(yb, xb[:, 0].long() * 10)  # rows stay paired
        seen.append(xb[:, 0])
    order = torch.cat(seen)
    assert sorted(order.tolist()) == list(range(103))
    assert order.tolist() != list(range(103))  # shuffled


def test_shuffle_is_reproducible_with_a_seed_and_changes_between_epochs():
    x = torch.arange(50).float()
    first = torch.cat([b for (b,) in TensorLoader(x, batch_size=7, seed=3)])
    again = torch.cat([b for (b,) in TensorLoader(x, batch_size=7, seed=3)])
    assert torch.equal(first, again)
    loader = TensorLoader(x, batch_size=7, seed=3)
    epoch1 = torch.cat([b for (b,) in loader])
    epoch2 = torch.cat([b for (b,) in loader])
    assert not torch.equal(epoch1, epoch2)


def test_no_shuffle_keeps_order_and_drop_last():
    x = torch.arange(10)
    batches = [b.tolist() for (b,) in TensorLoader(x, batch_size=4, shuffle=False)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    loader = TensorLoader(x, batch_size=4, shuffle=False, drop_last=True)
    assert len(loader) == 2
    assert [b.tolist() for (b,) in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_transform_applies_to_first_tensor_only():
    x = torch.zeros(8, 3)
    y = torch.ones(8)
    loader = TensorLoader(x, y, batch_size=8, transform=lambda b: b + 5)
    xb, yb = next(iter(loader))
    assert torch.all(xb == 5)
    assert torch.all(yb == 1)


def test_device_and_repr():
    loader = TensorLoader(torch.zeros(4, 2), device="cpu")
    assert loader.device == torch.device("cpu")
    assert loader.n_samples == 4
    assert "batch_size=128" in repr(loader)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((), {}, ValueError, "at least one tensor"),
        ((torch.zeros(3), torch.zeros(4)), {}, ValueError, r"same first dimension.*\[3, 4\]"),
        ((torch.zeros(0, 2),), {}, ValueError, "empty data set"),
        ((torch.zeros(3),), {"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
        (
            (torch.zeros(3),),
            {"batch_size": True},
            TypeError,
            "batch_size must be an integer, got bool",
        ),
        ((torch.zeros(3),), {"shuffle": 1}, TypeError, "shuffle must be True or False, got int"),
        ((torch.zeros(3),), {"transform": 3}, TypeError, r"transform must be callable"),
        (([1, 2, 3],), {}, TypeError, r"tensors\[0\] must be a torch\.Tensor, got list"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        TensorLoader(*args, **kwargs)
