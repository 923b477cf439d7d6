"""Tests for aeutils.noise: statistics on large tensors, clipping, reproducibility, validation."""

from __future__ import annotations

import pytest
import torch

from aeutils.noise import gaussian_noise, make_corruption, masking_noise, salt_and_pepper_noise

N = 200_000  # elements for statistical checks: standard error of a fraction <= 0.0012


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(seed: int = 0) -> torch.Tensor:
    # Values in [0.2, 0.8]: never 0 or 1, so corrupted positions are easy to find.
    return 0.2 + 0.6 * torch.rand(N // 784, 1, 28, 28, generator=_gen(seed))  # (B, 1, 28, 28)


def test_gaussian_noise_has_requested_standard_deviation_without_clipping():
    x = torch.full((N,), 0.5)
    noise = gaussian_noise(x, 0.1, clip=False, generator=_gen()) - x
    assert noise.std().item() == pytest.approx(0.1, rel=0.02)
    assert abs(noise.mean().item()) < 0.002


def test_gaussian_noise_clips_to_unit_interval():
    x = _images()
    unclipped = gaussian_noise(x, 0.5, clip=False, generator=_gen(1))
    clipped = gaussian_noise(x, 0.5, clip=True, generator=_gen(1))
    assert unclipped.min() < 0 and unclipped.max() > 1
    assert clipped.min() == 0 and clipped.max() == 1
    inside = (unclipped >= 0) & (unclipped <= 1)
    torch.testing.assert_close(clipped[inside], unclipped[inside], rtol=0, atol=0)
    assert (clipped[unclipped < 0] == 0).all() and (clipped[unclipped > 1] == 1).all()


def test_masking_noise_zeroes_requested_fraction_and_keeps_the_rest():
    x = _images()
    y = masking_noise(x, 0.3, generator=_gen())
    masked = y == 0
    assert masked.float().mean().item() == pytest.approx(0.3, abs=0.005)
    torch.testing.assert_close(y[~masked], x[~masked], rtol=0, atol=0)


def test_masking_noise_extreme_fractions():
    x = _images()
    assert (masking_noise(x, 1.0) == 0).all()
    torch.testing.assert_close(masking_noise(x, 0.0), x, rtol=0, atol=0)


def test_salt_and_pepper_sets_corrupted_values_to_zero_or_one():
    x = _images()
    y = salt_and_pepper_noise(x, 0.2, generator=_gen())
    corrupted = y != x
    assert corrupted.float().mean().item() == pytest.approx(0.2, abs=0.005)
    values = y[corrupted]
    assert ((values == 0) | (values == 1)).all()
    assert (values == 1).float().mean().item() == pytest.approx(0.5, abs=0.01)
    full = salt_and_pepper_noise(x, 1.0, generator=_gen())
    assert ((full == 0) | (full == 1)).all()


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda x, g: gaussian_noise(x, 0.0, generator=g),
        lambda x, g: masking_noise(x, 0.0, generator=g),
        lambda x, g: salt_and_pepper_noise(x, 0.0, generator=g),
    ],
)
def test_zero_level_is_identity(corrupt):
    x = _images()
    torch.testing.assert_close(corrupt(x, _gen()), x, rtol=0, atol=0)


@pytest.mark.parametrize("fn", [gaussian_noise, masking_noise, salt_and_pepper_noise])
def test_generator_makes_noise_reproducible_and_input_is_untouched(fn):
    x = _images()
    before = x.clone()
    a, b, c = (
        fn(x, 0.3, generator=_gen(5)),
        fn(x, 0.3, generator=_gen(5)),
        fn(x, 0.3, generator=_gen(6)),
    )
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    torch.testing.assert_close(x, before, rtol=0, atol=0)
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device


def test_global_seed_controls_noise_without_generator():
    x = _images()
    torch.manual_seed(11)
    a = masking_noise(x, 0.5)
    torch.manual_seed(11)
    torch.testing.assert_close(masking_noise(x, 0.5), a, rtol=0, atol=0)


def test_float64_inputs_keep_their_dtype():
    x = torch.rand(3, 4, dtype=torch.float64)
    for y in (gaussian_noise(x, 0.1), masking_noise(x, 0.1), salt_and_pepper_noise(x, 0.1)):
        assert y.dtype == torch.float64


@pytest.mark.parametrize(
    ("kind", "direct"),
    [
        ("gaussian", lambda x, g: gaussian_noise(x, 0.25, generator=g)),
        ("masking", lambda x, g: masking_noise(x, 0.25, generator=g)),
        ("salt_and_pepper", lambda x, g: salt_and_pepper_noise(x, 0.25, generator=g)),
    ],
)
def test_make_corruption_matches_direct_call(kind, direct):
    x = _images()
    corrupt = make_corruption(kind, 0.25, generator=_gen(3))
    torch.testing.assert_close(corrupt(x), direct(x, _gen(3)), rtol=0, atol=0)
    assert "0.25" in repr(corrupt)


def test_make_corruption_without_clip_adds_raw_gaussian_noise():
    x = _images()
    corrupt = make_corruption("gaussian", 0.5, generator=_gen(4), clip=False)
    # Closed form: x + sigma * eps with eps from the same generator, nothing clamped.
    eps = torch.randn(x.shape, generator=_gen(4))
    torch.testing.assert_close(corrupt(x), x + 0.5 * eps, rtol=0, atol=0)
    assert corrupt(x).min() < 0 and corrupt(x).max() > 1
    clipped = make_corruption("gaussian", 0.5, generator=_gen(4))(x)
    torch.testing.assert_close(clipped, (x + 0.5 * eps).clamp(0, 1), rtol=0, atol=0)


def test_validation_messages():
    x = _images()
    with pytest.raises(ValueError, match=r"sigma must be a finite number >= 0, got -0\.1"):
        gaussian_noise(x, -0.1)
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\], got 1.5"):
        masking_noise(x, 1.5)
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\], got -0.2"):
        salt_and_pepper_noise(x, -0.2)
    with pytest.raises(TypeError, match="fraction must be a real number, got bool"):
        masking_noise(x, True)
    with pytest.raises(TypeError, match="clip must be True or False, got int"):
        gaussian_noise(x, 0.1, clip=0)
    with pytest.raises(TypeError, match="fraction must be a real number, got str"):
        masking_noise(x, "0.3")
    with pytest.raises(
        TypeError, match=r"x must be a floating-point tensor, got dtype torch\.uint8"
    ):
        masking_noise(torch.zeros(3, dtype=torch.uint8), 0.3)
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor, got list"):
        gaussian_noise([0.5], 0.1)


def test_make_corruption_validates_kind_and_level_eagerly():
    with pytest.raises(
        ValueError,
        match=r"kind must be one of \('gaussian', 'masking', 'salt_and_pepper'\), got 'blur'",
    ):
        make_corruption("blur", 0.1)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        make_corruption("gaussian", -1)
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\], got 2.0"):
        make_corruption("salt_and_pepper", 2)
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\], got nan"):
        make_corruption("masking", float("nan"))
    with pytest.raises(TypeError, match="clip must be True or False, got str"):
        make_corruption("gaussian", 0.1, clip="no")
