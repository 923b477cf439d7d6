"""Tests for aeutils.variational and the VariationalAutoencoder model.

The oracles are independent of the code under test: torch.distributions for the KL, the
Bernoulli and Gaussian log-densities; SciPy's adaptive quadrature (one latent dimension) and a
fine trapezoid grid (two) for the exact log-likelihood ``log p(x) = log int p(x | z) N(z; 0, I)
dz`` of models small enough to integrate, and for the exact expected ELBO; a hand count of the
parameters; Bernoulli statistics for the binarisation.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
import torch
from scipy import integrate
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from aeutils import (
    DynamicBinarization,
    TensorLoader,
    TrainConfig,
    VariationalAutoencoder,
    elbo,
    elbo_objective,
    evaluate,
    fit,
    gaussian_kl,
    iwae_bound,
    load_checkpoint,
    save_checkpoint,
)
from aeutils.models import count_parameters


def _tiny_model(code_size: int = 1, seed: int = 0) -> VariationalAutoencoder:
    """A float64 VAE on 4 pixels whose decoder weights are scaled up, so that the posterior is
    far from the prior and the bounds are far from log p(x)."""
    torch.manual_seed(seed)
    model = VariationalAutoencoder(
        input_shape=(4,), hidden_sizes=(8,), code_size=code_size, activation="tanh"
    )
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(3.0)
    return model.double().eval()


# Four binary images of 4 pixels.
X4 = torch.tensor(
    [[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0]],
    dtype=torch.float64,
)


def _log_joint(model: VariationalAutoencoder, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x | z) + log N(z; 0, I) by torch.distributions, for codes z (G, K) and images
    x (B, D); shape (G, B)."""
    with torch.no_grad():
        logits = model.decoder_logits(z)  # (G, D)
    log_px_z = Bernoulli(logits=logits[:, None, :]).log_prob(x).sum(-1)  # (G, B)
    return log_px_z + Normal(0.0, 1.0).log_prob(z).sum(-1)[:, None]  # (G, B)


def _quad_log_px_and_elbo(model: VariationalAutoencoder, x: torch.Tensor) -> tuple[float, float]:
    """Exact log p(x) and E_q[log p(x, z) - log q(z | x)] of one image, code_size 1, by
    scipy.integrate.quad."""
    with torch.no_grad():
        mu, log_var = model.posterior(x[None])
    q = Normal(mu[0, 0], torch.exp(0.5 * log_var[0, 0]))

    def log_joint(z: float) -> float:
        return float(_log_joint(model, x[None], torch.tensor([[z]], dtype=torch.float64)))

    px, _ = integrate.quad(lambda z: math.exp(log_joint(z)), -12, 12, points=[0.0], limit=200)
    lo, hi = float(q.mean - 12 * q.stddev), float(q.mean + 12 * q.stddev)
    expected, _ = integrate.quad(
        lambda z: (
            math.exp(float(q.log_prob(torch.tensor(z, dtype=torch.float64))))
            * (log_joint(z) - float(q.log_prob(torch.tensor(z, dtype=torch.float64))))
        ),
        lo,
        hi,
        limit=200,
    )
    return math.log(px), expected


def _grid_log_px_2d(model: VariationalAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """Exact log p(x) for code_size 2 by the trapezoid rule on a fine grid over [-9, 9]^2."""
    axis = torch.linspace(-9.0, 9.0, 721, dtype=torch.float64)
    step = float(axis[1] - axis[0])
    weights = torch.full_like(axis, step)
    weights[[0, -1]] = step / 2  # trapezoid weights along one axis
    za, zb = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.stack([za.reshape(-1), zb.reshape(-1)], dim=1)  # (G, 2)
    log_w = (weights[:, None] * weights[None, :]).log().reshape(-1)  # (G,)
    return torch.logsumexp(_log_joint(model, x, z) + log_w[:, None], dim=0)  # (B,)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def test_model_posterior_decoder_logits_and_parameter_count() -> None:
    torch.manual_seed(0)
    model = VariationalAutoencoder()
    # By hand: 784 -> 512 -> 256 -> 2 * 20 and 20 -> 256 -> 512 -> 784, weights and biases.
    encoder = (784 * 512 + 512) + (512 * 256 + 256) + (256 * 40 + 40)
    decoder = (20 * 256 + 256) + (256 * 512 + 512) + (512 * 784 + 784)
    assert count_parameters(model) == encoder + decoder
    assert model.init_kwargs == {
        "input_shape": (1, 28, 28),
        "hidden_sizes": (512, 256),
        "code_size": 20,
        "activation": "relu",
    }
    x = torch.rand(3, 1, 28, 28)
    mu, log_var = model.posterior(x)
    assert mu.shape == log_var.shape == (3, 20)
    head = model.encoder[-2]  # the last Linear: mu from its first 20 rows, log_var the rest
    assert isinstance(head, nn.Linear) and head.out_features == 40
    hidden = model.encoder[:-2](x)  # (3, 256)
    torch.testing.assert_close(mu, hidden @ head.weight[:20].T + head.bias[:20])
    torch.testing.assert_close(log_var, hidden @ head.weight[20:].T + head.bias[20:])
    torch.testing.assert_close(model.encode(x), mu, rtol=0, atol=0)
    z = torch.randn(3, 20)
    logits = model.decoder_logits(z)
    assert logits.shape == (3, 1, 28, 28)
    torch.testing.assert_close(model.decode(z), torch.sigmoid(logits), rtol=0, atol=0)
    means = model.decode(z * 0.1)
    assert ((means > 0) & (means < 1)).all()
    torch.testing.assert_close(model(x), torch.sigmoid(model.decoder_logits(mu)))


def test_model_method_errors_name_the_method() -> None:
    model = VariationalAutoencoder(input_shape=(4,), hidden_sizes=(), code_size=2)
    with pytest.raises(ValueError, match=r"posterior expected x of shape \(B, 4\); got \(3, 5\)"):
        model.posterior(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"decoder_logits expected z of shape \(B, 2\); got"):
        model.decoder_logits(torch.zeros(3, 3))
    with pytest.raises(TypeError, match=r"decoder_logits expected a floating-point tensor z"):
        model.decoder_logits(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"hidden_sizes must be a tuple or list"):
        VariationalAutoencoder(hidden_sizes=8)


def test_checkpoint_round_trip_gives_the_same_posterior(tmp_path: Any) -> None:
    torch.manual_seed(0)
    model = VariationalAutoencoder(input_shape=(1, 8, 8), hidden_sizes=(16,), code_size=3)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "vae.pt", model)).model
    assert type(loaded) is VariationalAutoencoder
    assert loaded.init_kwargs == model.init_kwargs
    x = torch.rand(5, 1, 8, 8)
    z = torch.randn(5, 3)
    with torch.no_grad():
        for got, want in zip(loaded.posterior(x), model.posterior(x), strict=True):
            assert torch.equal(got, want)
        assert torch.equal(loaded.decoder_logits(z), model.decoder_logits(z))


# ---------------------------------------------------------------------------------------------
# gaussian_kl and elbo against torch.distributions
# ---------------------------------------------------------------------------------------------


def test_gaussian_kl_matches_torch_distributions() -> None:
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(7, 5, generator=generator, dtype=torch.float64) * 2
    log_var = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    oracle = kl_divergence(Normal(mu, torch.exp(0.5 * log_var)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, log_var), oracle)
    assert gaussian_kl(mu, log_var).shape == (7,)
    torch.testing.assert_close(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0, 4])
def test_elbo_matches_torch_distributions_for_a_fixed_generator(beta: float) -> None:
    torch.manual_seed(0)
    model = VariationalAutoencoder(input_shape=(1, 4, 4), hidden_sizes=(8,), code_size=3)
    x = torch.bernoulli(torch.full((6, 1, 4, 4), 0.4), generator=torch.Generator().manual_seed(1))
    got = elbo(model, x, beta=beta, generator=torch.Generator().manual_seed(2))
    # The documented draw: eps = torch.randn(mu.shape, generator), z = mu + sigma * eps.
    mu, log_var = model.posterior(x)
    q = Normal(mu, torch.exp(0.5 * log_var))
    z = mu + q.stddev * torch.randn(mu.shape, generator=torch.Generator().manual_seed(2))
    log_px_z = Bernoulli(logits=model.decoder_logits(z)).log_prob(x).sum(dim=(1, 2, 3))
    oracle = log_px_z - beta * kl_divergence(q, Normal(0.0, 1.0)).sum(-1)
    assert got.shape == (6,)
    torch.testing.assert_close(got, oracle)
    got.mean().backward()  # it keeps its graph
    assert all(p.grad is not None for p in model.parameters())


def test_iwae_bound_matches_torch_distributions_in_chunks() -> None:
    model = _tiny_model(code_size=2)
    k, chunk = 7, 3
    got = iwae_bound(model, X4, k, generator=torch.Generator().manual_seed(3), chunk_size=chunk)
    mu, log_var = model.posterior(X4)
    q = Normal(mu, torch.exp(0.5 * log_var))
    generator = torch.Generator().manual_seed(3)
    eps = torch.cat(
        [torch.randn((c, 4, 2), generator=generator, dtype=torch.float64) for c in (3, 3, 1)]
    )  # the documented draws, chunk after chunk: (k, B, K)
    z = mu + q.stddev * eps  # (k, B, K)
    log_px_z = Bernoulli(logits=model.decoder_logits(z.reshape(-1, 2))).log_prob(X4.repeat(k, 1))
    log_w = (
        log_px_z.sum(-1).reshape(k, 4)
        + Normal(0.0, 1.0).log_prob(z).sum(-1)
        - q.log_prob(z).sum(-1)
    )  # (k, B)
    oracle = torch.tensor(
        [np.logaddexp.reduce(column) - np.log(k) for column in log_w.detach().numpy().T]
    )
    torch.testing.assert_close(got.detach(), oracle.to(got.dtype))


# ---------------------------------------------------------------------------------------------
# Bounds against the exact log-likelihood of models small enough to integrate
# ---------------------------------------------------------------------------------------------


def _mean_and_sem(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error over the first dimension of (R, B) repeats."""
    return values.mean(0), values.std(0) / math.sqrt(values.shape[0])


def test_bounds_against_the_exact_log_likelihood_by_quadrature() -> None:
    model = _tiny_model(code_size=1)
    exact = [_quad_log_px_and_elbo(model, x) for x in X4]
    log_px = torch.tensor([e[0] for e in exact], dtype=torch.float64)  # (B,)
    exact_elbo = torch.tensor([e[1] for e in exact], dtype=torch.float64)  # (B,)
    # The trapezoid rule on a fine grid agrees with quad (both oracles check each other).
    z = torch.linspace(-12, 12, 24001, dtype=torch.float64)[:, None]
    by_grid = torch.logsumexp(_log_joint(model, X4, z), dim=0) + math.log(float(z[1] - z[0]))
    torch.testing.assert_close(by_grid, log_px, rtol=0, atol=1e-8)
    assert (log_px - exact_elbo > 0.1).all()  # the gap KL(q || p(z | x)) is not small here

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        repeats = 4000
        mean, sem = _mean_and_sem(
            elbo(model, X4.repeat(repeats, 1), generator=generator).view(-1, 4)
        )
        assert (mean - exact_elbo).abs().max() < (4 * sem).max()  # an unbiased estimate
        assert (mean + 4 * sem < log_px).all()  # ... of a lower bound

        means, sems = [], []
        for k, repeats in [(1, 4000), (10, 1000), (100, 300), (1000, 300)]:
            values = iwae_bound(model, X4.repeat(repeats, 1), k, generator=generator).view(-1, 4)
            mean, sem = _mean_and_sem(values)
            means.append(mean)
            sems.append(sem)
    # k = 1: the expected bound is the ELBO.
    assert ((means[0] - exact_elbo).abs() < 4 * sems[0]).all()
    # It grows with k (up to the Monte Carlo error where the gain is tiny), never above log p(x).
    for i in range(3):
        slack = 4 * torch.sqrt(sems[i] ** 2 + sems[i + 1] ** 2)
        assert (means[i + 1] > means[i] - slack).all()
    assert (means[2] - means[0] > 0.1).all()  # a real gain over the ELBO
    for mean, sem in zip(means, sems, strict=True):
        assert (mean < log_px + 4 * sem).all()
    # k = 1000 is within 0.03 nats of log p(x) (the ELBO was 0.15 to 2.2 nats below).
    assert ((means[3] - log_px).abs() < 0.03 + 4 * sems[3]).all()
    assert (sems[3] < 0.03).all()


def test_bounds_against_the_exact_log_likelihood_on_a_2d_grid() -> None:
    model = _tiny_model(code_size=2, seed=1)
    log_px = _grid_log_px_2d(model, X4)  # (B,)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo_mean, elbo_sem = _mean_and_sem(
            elbo(model, X4.repeat(2000, 1), generator=generator).view(-1, 4)
        )
        iwae_mean, iwae_sem = _mean_and_sem(
            iwae_bound(model, X4.repeat(100, 1), 1000, generator=generator).view(-1, 4)
        )
    assert (elbo_mean + 4 * elbo_sem < log_px).all()
    assert (iwae_mean > elbo_mean).all()
    assert ((iwae_mean - log_px).abs() < 0.03 + 4 * iwae_sem).all()


# ---------------------------------------------------------------------------------------------
# The objective with fit
# ---------------------------------------------------------------------------------------------


def test_objective_is_minus_the_mean_elbo_for_the_same_draw() -> None:
    torch.manual_seed(0)
    model = VariationalAutoencoder(input_shape=(1, 4, 4), hidden_sizes=(8,), code_size=2)
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(7)
    out = elbo_objective(beta=0.25)(model, x)
    torch.manual_seed(7)
    expected = -elbo(model, x, beta=0.25).mean()
    torch.manual_seed(7)
    recon = -elbo(model, x, beta=0.0).mean()
    assert set(out) == {"loss", "recon", "kl"}
    torch.testing.assert_close(out["loss"], expected)
    torch.testing.assert_close(out["recon"], recon)
    mu, log_var = model.posterior(x)
    oracle_kl = kl_divergence(Normal(mu, torch.exp(0.5 * log_var)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(out["kl"], oracle_kl.mean())
    torch.testing.assert_close(out["loss"], out["recon"] + 0.25 * out["kl"])


def _two_prototypes(n: int, seed: int) -> torch.Tensor:
    """Binary 4x4 images: one of two complementary stripes, 5% of the pixels flipped."""
    generator = torch.Generator().manual_seed(seed)
    stripes = torch.zeros(2, 1, 4, 4)
    stripes[0, :, :2] = 1.0
    stripes[1, :, 2:] = 1.0
    images = stripes[torch.randint(0, 2, (n,), generator=generator)]  # (n, 1, 4, 4)
    flips = torch.bernoulli(torch.full_like(images, 0.05), generator=generator)
    return (images - flips).abs()  # flip 5% of the pixels


def test_fit_with_the_objective_lowers_the_loss_and_logs_recon_and_kl() -> None:
    x = _two_prototypes(128, seed=0)
    torch.manual_seed(0)
    model = VariationalAutoencoder(input_shape=(1, 4, 4), hidden_sizes=(16,), code_size=2)
    loss_fn = elbo_objective()
    config = TrainConfig(epochs=15, lr=1e-2, batch_size=32, device="cpu", progress=False)
    history = fit(model, x, loss_fn, config, val_data=_two_prototypes(64, seed=1))
    assert set(history.train) == set(history.val) == {"loss", "recon", "kl"}
    losses = history.train["loss"]
    assert losses[-1] < 0.6 * losses[0]  # from about 11 nats to a few
    for loss, recon, kl in zip(losses, history.train["recon"], history.train["kl"], strict=True):
        assert loss == pytest.approx(recon + kl, rel=1e-5)
        assert kl >= 0
    assert history.val["loss"][-1] < history.val["loss"][0]
    # On new images, well below 16 log 2 = 11.1 nats, the loss of a model that knows nothing
    # (p = 1/2 per pixel); the best possible is about 3.9 (log 2 + 16 H(0.05)).
    scores = evaluate(model, _two_prototypes(64, seed=2), loss_fn)
    assert 3.5 < scores["loss"] < 0.6 * 16 * math.log(2)


def test_fit_on_grey_levels_with_dynamic_binarization() -> None:
    grey = torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    loader = TensorLoader(
        grey, batch_size=16, device="cpu", seed=0, transform=DynamicBinarization(seed=0)
    )
    torch.manual_seed(0)
    model = VariationalAutoencoder(input_shape=(1, 4, 4), hidden_sizes=(8,), code_size=2)
    config = TrainConfig(epochs=2, batch_size=16, device="cpu", progress=False)
    history = fit(model, loader, elbo_objective(beta=2.0), config)
    assert history.epochs == 2 and all(math.isfinite(v) for v in history.train["loss"])
    with pytest.raises(ValueError, match=r"elbo_objective needs binary x"):
        fit(model, grey, elbo_objective(), config)  # grey levels, not binarised


# ---------------------------------------------------------------------------------------------
# Dynamic binarisation
# ---------------------------------------------------------------------------------------------


def test_dynamic_binarization_draws_bernoulli_samples() -> None:
    p = torch.rand(500, 1, 2, 2, generator=torch.Generator().manual_seed(0))  # (N, 1, 2, 2)
    binarize = DynamicBinarization(seed=0)
    draws = torch.stack([binarize(p) for _ in range(200)])  # (200, N, 1, 2, 2)
    assert draws.shape == (200, *p.shape) and draws.dtype == p.dtype
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    # Each pixel's frequency of ones is its probability, within 5 standard errors.
    sem = torch.sqrt(p * (1 - p) / 200).clamp_min(1e-3)
    assert ((draws.mean(0) - p).abs() < 5 * sem).all()
    assert abs(draws.mean().item() - p.mean().item()) < 0.01
    assert not torch.equal(draws[0], draws[1])  # a fresh sample per call
    assert torch.equal(binarize(torch.zeros(3)), torch.zeros(3))
    assert torch.equal(binarize(torch.ones(3)), torch.ones(3))


def test_dynamic_binarization_is_reproducible_with_a_seed() -> None:
    p = torch.full((64, 8), 0.5)
    first, second = DynamicBinarization(seed=3), DynamicBinarization(seed=3)
    for _ in range(3):
        assert torch.equal(first(p), second(p))
    assert not torch.equal(DynamicBinarization(seed=4)(p), DynamicBinarization(seed=3)(p))
    torch.manual_seed(5)
    unseeded = DynamicBinarization()
    torch.manual_seed(5)
    assert DynamicBinarization().seed == unseeded.seed  # seed_everything controls it
    assert repr(first) == "DynamicBinarization(seed=3)"
    # Through a loader: the same batches for the same seeds, fresh ones every epoch.
    grey = torch.rand(32, 4, generator=torch.Generator().manual_seed(0))

    def epochs(seed: int) -> list[torch.Tensor]:
        loader = TensorLoader(
            grey, batch_size=32, shuffle=False, transform=DynamicBinarization(seed=seed)
        )
        return [batch for _ in range(2) for (batch,) in loader]

    one, two = epochs(0), epochs(0)
    assert all(torch.equal(a, b) for a, b in zip(one, two, strict=True))
    assert not torch.equal(one[0], one[1])


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_bad_input_is_refused_by_message() -> None:
    model = _tiny_model(code_size=1)
    grey = torch.full((2, 4), 0.5, dtype=torch.float64)
    for fn in (lambda x: elbo(model, x), lambda x: iwae_bound(model, x, 2)):
        with pytest.raises(
            ValueError, match=r"needs binary x \(every value 0 or 1\).*\[0\.5, 0\.5\]"
        ):
            fn(grey)
        with pytest.raises(ValueError, match=r"expected x of shape \(B, 4\); got \(2, 5\)"):
            fn(torch.zeros(2, 5, dtype=torch.float64))
        with pytest.raises(TypeError, match=r"x must be a floating-point tensor, got dtype"):
            fn(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"elbo_objective needs binary x"):
        elbo_objective()(model, grey)
    for k, error, message in [
        (0, ValueError, "k must be a positive integer, got 0"),
        (-2, ValueError, "k must be a positive integer, got -2"),
        (2.0, TypeError, "k must be an integer, got float"),
        (True, TypeError, "k must be an integer, got bool"),
    ]:
        with pytest.raises(error, match=message):
            iwae_bound(model, X4, k)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        iwae_bound(model, X4, 3, chunk_size=0)
    for beta, error, message in [
        (-0.5, ValueError, r"beta must be a finite number >= 0, got -0\.5"),
        (float("nan"), ValueError, r"beta must be a finite number >= 0, got nan"),
        (True, TypeError, "beta must be a real number, got bool"),
        ("1", TypeError, "beta must be a real number, got str"),
    ]:
        with pytest.raises(error, match=message):
            elbo_objective(beta)
        with pytest.raises(error, match=message):
            elbo(model, X4, beta=beta)
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator or None, got int"):
        elbo(model, X4, generator=0)
    plain = nn.Linear(4, 4)
    for fn, name in [
        (lambda: elbo(plain, X4), "elbo"),
        (lambda: iwae_bound(plain, X4, 2), "iwae_bound"),
        (lambda: elbo_objective()(plain, X4), "elbo_objective"),
    ]:
        with pytest.raises(TypeError, match=rf"^{name} needs a model with posterior\(x\) and"):
            fn()
    message = re.escape("mu and log_var must have the same shape, got mu (2, 3) and log_var (2, 4)")
    with pytest.raises(ValueError, match=message):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"mu must have 2 dimensions, got shape \(3,\)"):
        gaussian_kl(torch.zeros(3), torch.zeros(3))
    with pytest.raises(TypeError, match=r"log_var must be a torch\.Tensor, got list"):
        gaussian_kl(torch.zeros(2, 3), [[0.0] * 3] * 2)


def test_dynamic_binarization_bad_input() -> None:
    binarize = DynamicBinarization(seed=0)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\] for DynamicBinarization.*1\.5"):
        binarize(torch.tensor([0.2, 1.5]))
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\].*got values in \[-0\.1"):
        binarize(torch.tensor([-0.1, 0.5]))
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\].*nan"):
        binarize(torch.tensor([float("nan"), 0.5]))
    with pytest.raises(
        TypeError, match=r"x must be a floating-point tensor, got dtype torch\.uint8"
    ):
        binarize(torch.ones(3, dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"seed must be an integer, got bool"):
        DynamicBinarization(seed=True)
    with pytest.raises(TypeError, match=r"seed must be an integer, got float"):
        DynamicBinarization(seed=1.0)


# ---------------------------------------------------------------------------------------------
# CUDA (run on a GPU machine by benchmarks/gpu_checks.sh)
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bounds_and_binarization_on_cuda() -> None:
    model = _tiny_model(code_size=1)
    log_px = torch.tensor([_quad_log_px_and_elbo(model, x)[0] for x in X4])  # (B,), on the CPU
    model.cuda()
    x = X4.cuda().repeat(300, 1)  # (300 * B, 4)
    generator = torch.Generator(device="cuda").manual_seed(0)
    with torch.no_grad():
        values = iwae_bound(model, x, 1000, generator=generator).view(-1, 4)  # (300, B)
        elbos = elbo(model, x, generator=generator).view(-1, 4)  # (300, B)
    assert values.device.type == "cuda" and elbos.device.type == "cuda"
    mean, sem = _mean_and_sem(values.cpu())
    assert ((mean - log_px.double()).abs() < 0.03 + 4 * sem).all()  # as on the CPU
    assert (elbos.mean(0).cpu() < log_px.double()).all()

    p = torch.full((4000, 1, 2, 2), 0.3, device="cuda")
    binary = DynamicBinarization(seed=0)(p)
    assert binary.device.type == "cuda" and set(binary.unique().tolist()) <= {0.0, 1.0}
    assert abs(binary.mean().item() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / binary.numel())
