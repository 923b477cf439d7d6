"""Tests for aeutils.losses against independent oracles (torch.nn.functional, numpy closed forms,
torch.distributions, torch.autograd.functional.jacobian, torch.func.jacrev)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

from aeutils.losses import (
    bce_loss,
    contractive_objective,
    contractive_penalty,
    denoising_objective,
    kl_objective,
    kl_sparsity_penalty,
    l1_objective,
    l1_penalty,
    mse_loss,
    reconstruction_objective,
    semantic_hashing_objective,
    sparse_autoencoder_objective,
)
from aeutils.models import SparseAutoencoder
from aeutils.train import TrainConfig, fit

INPUT_SHAPE = (1, 3, 4)  # 12 pixels
D = 12


class TinyAE(nn.Module):
    """Minimal autoencoder with the models-module interface (encode, decode, encoder)."""

    def __init__(self, code_size: int = 5) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(D, code_size), nn.Sigmoid())
        self.decoder = nn.Sequential(
            nn.Linear(code_size, D), nn.Sigmoid(), nn.Unflatten(1, INPUT_SHAPE)
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def _images(batch: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((batch, *INPUT_SHAPE), generator=g, dtype=torch.float64)  # (B, 1, 3, 4)


def _sigmoid_encoder(d: int = D, k: int = 5, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k), nn.Sigmoid()).double()


def _oracle_penalty(encoder: nn.Module, x: torch.Tensor, create_graph: bool = False):
    """mean_b ||J_b||_F^2 from torch.autograd.functional.jacobian, one sample at a time."""
    total = 0.0
    for xb in x:
        jac = torch.autograd.functional.jacobian(
            lambda v: encoder(v.unsqueeze(0)).squeeze(0), xb, create_graph=create_graph
        )
        total = total + jac.pow(2).sum()
    return total / x.shape[0]


# ------------------------------------------------------------------ reconstruction losses


def test_mse_loss_matches_functional_sum_over_batch_and_numpy():
    x_hat, x = _images(seed=1), _images(seed=2)
    got = mse_loss(x_hat, x)
    assert got.shape == ()
    torch.testing.assert_close(got, F.mse_loss(x_hat, x, reduction="sum") / x.shape[0])
    expected = ((x_hat.numpy() - x.numpy()) ** 2).reshape(4, -1).sum(axis=1).mean()
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # P (= 12 pixels) times PyTorch's default reduction="mean".
    torch.testing.assert_close(got, D * F.mse_loss(x_hat, x))


def test_mse_loss_hand_computed_value():
    x_hat = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    x = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    # image 0: 1 + 0 = 1 ; image 1: 0.25 + 0.25 = 0.5 ; mean = 0.75
    assert mse_loss(x_hat, x).item() == pytest.approx(0.75)


def test_bce_loss_matches_functional_and_numpy():
    p, x = _images(seed=3).clamp(0.01, 0.99), _images(seed=4)
    got = bce_loss(p, x)
    torch.testing.assert_close(got, F.binary_cross_entropy(p, x, reduction="sum") / 4)
    pn, xn = p.numpy(), x.numpy()
    expected = -(xn * np.log(pn) + (1 - xn) * np.log(1 - pn)).reshape(4, -1).sum(axis=1).mean()
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_bce_loss_rejects_logits_and_targets_out_of_range():
    x = _images()
    with pytest.raises(ValueError, match=r"x_hat must lie in \[0, 1\].*not logits"):
        bce_loss(x * 4 - 2, x)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        bce_loss(x, x + 1)


def test_losses_reject_bad_shapes_and_types():
    x = _images()
    with pytest.raises(ValueError, match=r"same shape.*x_hat \(4, 12\) and x \(4, 1, 3, 4\)"):
        mse_loss(x.reshape(4, -1), x)
    with pytest.raises(TypeError, match=r"x_hat must be a torch\.Tensor, got ndarray"):
        bce_loss(x.numpy(), x)
    with pytest.raises(ValueError, match=r"non-empty"):
        mse_loss(torch.zeros(0, 3), torch.zeros(0, 3))


def test_l1_penalty_matches_numpy():
    z = torch.randn(6, 7, dtype=torch.float64)
    assert l1_penalty(z).item() == pytest.approx(np.abs(z.numpy()).sum() / 6, rel=1e-12)


# ------------------------------------------------------------------ KL sparsity


def test_kl_penalty_matches_numpy_and_torch_distributions():
    h = torch.rand(32, 6, dtype=torch.float64)
    rho = 0.05
    got = kl_sparsity_penalty(h, rho)
    q = h.numpy().mean(axis=0)
    numpy_kl = np.sum(rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q)))
    assert got.item() == pytest.approx(numpy_kl, rel=1e-10)
    rho_t = torch.full((6,), rho, dtype=torch.float64)
    dist_kl = kl_divergence(Bernoulli(probs=rho_t), Bernoulli(probs=h.mean(dim=0))).sum()
    torch.testing.assert_close(got, dist_kl)


def test_kl_penalty_gradient_matches_torch_distributions():
    h1 = torch.rand(16, 4, dtype=torch.float64, requires_grad=True)
    h2 = h1.detach().clone().requires_grad_(True)
    kl_sparsity_penalty(h1, 0.2).backward()
    rho_t = torch.full((4,), 0.2, dtype=torch.float64)
    kl_divergence(Bernoulli(probs=rho_t), Bernoulli(probs=h2.mean(dim=0))).sum().backward()
    torch.testing.assert_close(h1.grad, h2.grad)


def test_kl_penalty_is_zero_at_target_and_positive_elsewhere():
    h = torch.full((8, 5), 0.3)
    assert kl_sparsity_penalty(h, 0.3).item() == pytest.approx(0.0, abs=1e-7)
    assert kl_sparsity_penalty(h, 0.1).item() > 0.0


def test_kl_penalty_is_finite_for_dead_and_saturated_units():
    h = torch.cat([torch.zeros(8, 1), torch.ones(8, 1)], dim=1)
    value = kl_sparsity_penalty(h, 0.1)
    assert torch.isfinite(value)
    assert value.item() > 1.0


@pytest.mark.parametrize("rho", [0.0, 1.0, -0.1, 1.5])
def test_kl_penalty_rejects_rho_outside_open_interval(rho):
    with pytest.raises(ValueError, match=r"rho must be a number in \(0, 1\), got"):
        kl_sparsity_penalty(torch.rand(4, 3), rho)


def test_kl_penalty_rejects_h_outside_unit_interval_and_bad_types():
    with pytest.raises(ValueError, match=r"h must lie in \[0, 1\].*got values in \[-0\.5"):
        kl_sparsity_penalty(torch.tensor([[-0.5, 0.2]]), 0.1)
    with pytest.raises(ValueError, match=r"h must lie in \[0, 1\]"):
        kl_sparsity_penalty(torch.tensor([[1.5, 0.2]]), 0.1)
    with pytest.raises(TypeError, match="rho must be a real number, got str"):
        kl_sparsity_penalty(torch.rand(4, 3), "0.1")
    with pytest.raises(ValueError, match=r"rho must be a number in \(0, 1\), got nan"):
        kl_sparsity_penalty(torch.rand(4, 3), float("nan"))
    with pytest.raises(TypeError, match="rho must be a real number, got bool"):
        kl_sparsity_penalty(torch.rand(4, 3), True)


# ------------------------------------------------------------------ contractive penalty


def test_exact_penalty_matches_autograd_jacobian_for_deep_encoder():
    torch.manual_seed(0)
    # 12 inputs -> 5 codes: reverse mode is used.
    encoder = nn.Sequential(
        nn.Flatten(), nn.Linear(D, 7), nn.Tanh(), nn.Linear(7, 5), nn.Softplus()
    ).double()
    x = _images(batch=3)
    got = contractive_penalty(encoder, x, method="exact")
    torch.testing.assert_close(got, _oracle_penalty(encoder, x))


def test_exact_penalty_matches_numpy_finite_differences_when_code_is_wider():
    torch.manual_seed(1)
    # 3 inputs -> 8 codes: forward mode is used.
    encoder = nn.Sequential(nn.Linear(3, 8), nn.Tanh()).double()
    x = torch.rand(4, 3, dtype=torch.float64)
    eps = 1e-6
    fd_total = 0.0
    with torch.no_grad():
        for xb in x.numpy():
            jac = np.zeros((8, 3))
            for i in range(3):
                step = np.zeros(3)
                step[i] = eps
                plus = encoder(torch.from_numpy(xb + step)[None]).numpy()[0]
                minus = encoder(torch.from_numpy(xb - step)[None]).numpy()[0]
                jac[:, i] = (plus - minus) / (2 * eps)
            fd_total += (jac**2).sum()
    got = contractive_penalty(encoder, x, method="exact")
    assert got.item() == pytest.approx(fd_total / 4, rel=1e-7)


def test_sigmoid_closed_form_matches_jacrev():
    encoder = _sigmoid_encoder()
    x = _images(batch=5)
    jac_total = 0.0
    for xb in x:
        jac = torch.func.jacrev(lambda v: encoder(v.unsqueeze(0)).squeeze(0))(xb)  # (5, 1, 3, 4)
        jac_total += jac.pow(2).sum().item()
    got = contractive_penalty(encoder, x, method="sigmoid")
    assert got.item() == pytest.approx(jac_total / 5, rel=1e-5, abs=1e-12)
    torch.testing.assert_close(got, contractive_penalty(encoder, x, method="exact"))


def test_sigmoid_closed_form_accepts_flat_input_without_flatten_and_nested_sequential():
    torch.manual_seed(2)
    encoder = nn.Sequential(nn.Sequential(nn.Linear(6, 4)), nn.Identity(), nn.Sigmoid()).double()
    x = torch.rand(3, 6, dtype=torch.float64)
    torch.testing.assert_close(
        contractive_penalty(encoder, x, method="sigmoid"), _oracle_penalty(encoder, x)
    )


def test_sigmoid_closed_form_rejects_other_encoders_clearly():
    x = _images()
    two_layers = nn.Sequential(
        nn.Flatten(), nn.Linear(D, 6), nn.Sigmoid(), nn.Linear(6, 3), nn.Sigmoid()
    ).double()
    with pytest.raises(ValueError, match=r'method="sigmoid" needs an encoder.*got layers'):
        contractive_penalty(two_layers, x, method="sigmoid")
    relu = nn.Sequential(nn.Flatten(), nn.Linear(D, 6), nn.ReLU()).double()
    with pytest.raises(ValueError, match=r"'Flatten', 'Linear', 'ReLU'"):
        contractive_penalty(relu, x, method="sigmoid")
    no_flatten = nn.Sequential(nn.Linear(4, 6), nn.Sigmoid()).double()
    with pytest.raises(ValueError, match=r"without nn.Flatten needs x of shape \(B, features\)"):
        contractive_penalty(no_flatten, x, method="sigmoid")
    with pytest.raises(ValueError, match=r"12 features per sample but the encoder's nn\.Linear"):
        contractive_penalty(_sigmoid_encoder(d=10), x, method="sigmoid")


def test_projection_estimate_is_unbiased():
    torch.manual_seed(3)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(D, 5), nn.Tanh()).double()
    x = _images(batch=3)
    exact = _oracle_penalty(encoder, x).item()
    g = torch.Generator().manual_seed(0)
    draws = np.array(
        [
            contractive_penalty(encoder, x, method="projection", generator=g).item()
            for _ in range(800)
        ]
    )
    std_error = draws.std(ddof=1) / np.sqrt(draws.size)
    assert abs(draws.mean() - exact) < 4 * std_error
    # Averaging inside one call: n projections shrink the spread around the exact value.
    averaged = contractive_penalty(
        encoder, x, method="projection", n_projections=400, generator=g
    ).item()
    assert abs(averaged - exact) < 4 * draws.std(ddof=1) / np.sqrt(400)


def test_projection_uses_code_sized_vectors_and_is_reproducible():
    torch.manual_seed(4)
    # Code (3) narrower than input (12): a mis-sized projection would raise.
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(D, 3)).double()
    x = _images()

    def estimate(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return contractive_penalty(encoder, x, "projection", n_projections=2, generator=g)

    torch.testing.assert_close(estimate(7), estimate(7))
    assert estimate(7).item() != estimate(8).item()


@pytest.mark.parametrize("method", ["exact", "sigmoid", "projection"])
def test_contractive_penalty_gradients_reach_encoder(method):
    encoder = _sigmoid_encoder()
    x = _images()
    penalty = contractive_penalty(encoder, x, method=method, n_projections=2)
    penalty.backward()
    for param in encoder.parameters():
        assert param.grad is not None
        assert torch.isfinite(param.grad).all()
        assert param.grad.abs().sum() > 0


@pytest.mark.parametrize("method", ["exact", "sigmoid"])
@pytest.mark.parametrize("code_size", [5, 20], ids=["narrow_code", "wide_code"])
def test_contractive_penalty_gradients_match_autograd_oracle(method, code_size):
    # A code wider than the 12 inputs takes the forward-mode (jacfwd) path of "exact".
    encoder = _sigmoid_encoder(k=code_size)
    x = _images()
    contractive_penalty(encoder, x, method=method).backward()
    got = [p.grad.clone() for p in encoder.parameters()]
    encoder.zero_grad()
    _oracle_penalty(encoder, x, create_graph=True).backward()
    for g_got, param in zip(got, encoder.parameters(), strict=True):
        torch.testing.assert_close(g_got, param.grad)


def test_projection_gradient_points_like_exact_gradient():
    encoder = _sigmoid_encoder()
    x = _images()
    _oracle_penalty(encoder, x, create_graph=True).backward()
    exact = encoder[1].weight.grad.flatten().clone()
    encoder.zero_grad()
    g = torch.Generator().manual_seed(0)
    contractive_penalty(encoder, x, "projection", n_projections=300, generator=g).backward()
    estimate = encoder[1].weight.grad.flatten()
    assert F.cosine_similarity(exact, estimate, dim=0) > 0.9


def test_contractive_penalty_rejects_bad_arguments():
    encoder, x = _sigmoid_encoder(), _images()
    with pytest.raises(ValueError, match=r"method must be one of \('exact', 'sigmoid', 'projec"):
        contractive_penalty(encoder, x, method="hutchinson")
    with pytest.raises(ValueError, match="n_projections must be a positive integer, got 0"):
        contractive_penalty(encoder, x, method="projection", n_projections=0)
    with pytest.raises(TypeError, match="n_projections must be an integer, got float"):
        contractive_penalty(encoder, x, method="projection", n_projections=2.0)
    with pytest.raises(TypeError, match=r"encoder must be an nn\.Module, got function"):
        contractive_penalty(lambda t: t, x)


# ------------------------------------------------------------------ objectives


def _model_and_batch():
    torch.manual_seed(5)
    return TinyAE().double(), _images(batch=6)


@pytest.mark.parametrize("kind", ["mse", "bce"])
def test_reconstruction_objective(kind):
    model, x = _model_and_batch()
    out = reconstruction_objective(kind)(model, x)
    x_hat = model(x)
    oracle = F.mse_loss if kind == "mse" else F.binary_cross_entropy
    torch.testing.assert_close(out["recon"], oracle(x_hat, x, reduction="sum") / 6)
    torch.testing.assert_close(out["loss"], out["recon"])


def test_l1_objective_combines_recon_and_weighted_penalty():
    model, x = _model_and_batch()
    out = l1_objective(0.3)(model, x)
    z = model.encode(x)
    torch.testing.assert_close(out["penalty"], z.abs().sum() / 6)
    torch.testing.assert_close(out["recon"], F.mse_loss(model(x), x, reduction="sum") / 6)
    torch.testing.assert_close(out["loss"], out["recon"] + 0.3 * out["penalty"])


def test_kl_objective_penalises_the_code():
    model, x = _model_and_batch()
    out = kl_objective(rho=0.1, beta=2.0, kind="bce")(model, x)
    rho_hat = model.encode(x).mean(dim=0)
    expected = kl_divergence(Bernoulli(probs=torch.full_like(rho_hat, 0.1)), Bernoulli(rho_hat))
    torch.testing.assert_close(out["penalty"], expected.sum())
    torch.testing.assert_close(out["loss"], out["recon"] + 2.0 * out["penalty"])


def test_denoising_objective_scores_corrupted_reconstruction_against_clean_input():
    model, x = _model_and_batch()
    out = denoising_objective(torch.zeros_like)(model, x)
    expected = F.mse_loss(model(torch.zeros_like(x)), x, reduction="sum") / 6
    torch.testing.assert_close(out["loss"], expected)
    with pytest.raises(TypeError, match="corrupt must be callable"):
        denoising_objective("masking")


@pytest.mark.parametrize("method", ["sigmoid", "exact", "projection"])
def test_contractive_objective_uses_model_encoder_and_trains_both_halves(method):
    model, x = _model_and_batch()
    out = contractive_objective(0.5, method=method, n_projections=500)(model, x)
    exact = _oracle_penalty(model.encoder, x).item()
    tolerance = 0.15 if method == "projection" else 1e-9
    assert out["penalty"].item() == pytest.approx(exact, rel=tolerance)
    torch.testing.assert_close(out["loss"], out["recon"] + 0.5 * out["penalty"])
    out["loss"].backward()
    assert model.encoder[1].weight.grad.abs().sum() > 0
    assert model.decoder[0].weight.grad.abs().sum() > 0


def test_objective_factories_validate_arguments_early():
    with pytest.raises(ValueError, match=r"kind must be one of \('mse', 'bce'\), got 'l2'"):
        reconstruction_objective("l2")
    with pytest.raises(ValueError, match=r"weight must be a finite number >= 0, got -1\.0"):
        l1_objective(-1.0)
    with pytest.raises(ValueError, match=r"rho must be a number in \(0, 1\)"):
        kl_objective(rho=1.0, beta=1.0)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        kl_objective(rho=0.1, beta=-2)
    with pytest.raises(ValueError, match="method must be one of"):
        contractive_objective(0.1, method="fast")
    with pytest.raises(TypeError, match="weight must be a real number, got NoneType"):
        contractive_objective(None)
    with pytest.raises(ValueError, match=r"noise_std must be a finite number >= 0, got -1\.0"):
        semantic_hashing_objective(-1.0, ramp_steps=10)
    with pytest.raises(ValueError, match=r"ramp_steps must be a finite number > 0, got 0\.0"):
        semantic_hashing_objective(4.0, ramp_steps=0)


def test_contractive_objective_needs_encoder_attribute():
    class NoEncoder(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"needs a model with an `encoder` nn\.Module attribute"):
        contractive_objective(0.1)(NoEncoder(), _images())


@pytest.mark.parametrize("method", ["exact", "sigmoid", "projection"])
def test_contractive_penalty_works_under_no_grad_as_in_evaluate(method):
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Sigmoid())
    x = torch.rand(64, 1, 3, 4)
    exact = torch.stack(
        [torch.autograd.functional.jacobian(encoder, xi.unsqueeze(0)).pow(2).sum() for xi in x]
    ).mean()
    with torch.no_grad():
        value = contractive_penalty(encoder, x, method=method, n_projections=400)
    assert not value.requires_grad
    tolerance = 0.15 if method == "projection" else 1e-5  # the estimate is random
    assert value.item() == pytest.approx(exact.item(), rel=tolerance)


class LogitCodeAE(nn.Module):
    """encode gives logits; decode applies the sigmoid, as SemanticHashingAutoencoder does."""

    def __init__(self, n_bits: int = 4) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(D, n_bits))
        self.decoder = nn.Sequential(
            nn.Sigmoid(), nn.Linear(n_bits, D), nn.Sigmoid(), nn.Unflatten(1, INPUT_SHAPE)
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, a: torch.Tensor) -> torch.Tensor:
        return self.decoder(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def test_semantic_hashing_objective_ramps_the_code_noise_linearly():
    torch.manual_seed(0)
    model, x = LogitCodeAE().double(), _images(batch=6)
    objective = semantic_hashing_objective(noise_std=3.0, ramp_steps=4)
    for step in range(1, 7):
        state = torch.get_rng_state()
        out = objective(model, x)
        torch.set_rng_state(state)  # replay the same draw for the oracle
        a = model.encode(x)
        scale = 3.0 * min(1.0, step / 4)  # 0.75, 1.5, 2.25, 3, then 3
        h = torch.sigmoid(a + scale * torch.randn_like(a))
        expected = F.binary_cross_entropy(model.decoder[1:](h), x, reduction="sum") / 6
        torch.testing.assert_close(out["recon"], expected)
        torch.testing.assert_close(out["loss"], out["recon"])
        near = ((h < 0.1) | (h > 0.9)).double().mean()
        torch.testing.assert_close(out["near_binary"], near.float())
    out["loss"].backward()
    assert model.encoder[1].weight.grad.abs().sum() > 0  # the noise does not block gradients


def test_semantic_hashing_objective_without_noise_is_the_plain_reconstruction():
    torch.manual_seed(1)
    model, x = LogitCodeAE().double(), _images(batch=5)
    out = semantic_hashing_objective(noise_std=0.0, ramp_steps=1, kind="mse")(model, x)
    torch.testing.assert_close(out["recon"], F.mse_loss(model(x), x, reduction="sum") / 5)


# --------------------------------------------------------------------------------------------
# Sparse autoencoder objective
# --------------------------------------------------------------------------------------------


def _sae(k: int | None, seed: int = 0) -> SparseAutoencoder:
    torch.manual_seed(seed)
    model = SparseAutoencoder(input_size=6, dictionary_size=10, k=k).double()
    with torch.no_grad():
        model.encoder.bias.normal_(0, 0.5)
        model.decoder.pre_bias.normal_(0, 0.5)
    return model


def test_sparse_autoencoder_objective_relu_terms_against_closed_forms():
    model = _sae(k=None)
    x = torch.randn(8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = sparse_autoencoder_objective(0.3)(model.eval(), x)
    z = model.encode(x)
    torch.testing.assert_close(out["recon"], F.mse_loss(model(x), x, reduction="sum") / 8)
    torch.testing.assert_close(out["penalty"], z.abs().sum() / 8)
    torch.testing.assert_close(out["loss"], out["recon"] + 0.3 * out["penalty"])
    assert out["aux"].item() == 0 and out["dead"].item() == 0
    assert out["l0"].item() == pytest.approx(float(np.count_nonzero(z.detach().numpy())) / 8)
    assert set(out) == {"loss", "recon", "penalty", "aux", "l0", "dead"}


@pytest.mark.parametrize("aux_k", [2, 3, None])
def test_top_k_auxiliary_loss_against_numpy(aux_k):
    model = _sae(k=2)
    dead = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0], dtype=bool)  # latents 1, 2 and 5
    model.samples_since_fired.copy_(torch.from_numpy(np.where(dead, 50, 10)))
    x = torch.randn(7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    objective = sparse_autoencoder_objective(aux_weight=0.25, aux_k=aux_k, dead_after=50)
    out = objective(model.eval(), x)
    a = model.pre_activations(x).detach().numpy()  # (B, K)
    residual = (x - model(x)).detach().numpy()  # (B, D)
    n_aux = min(aux_k or 6 // 2, 3)  # default: half the input size; at most the 3 dead
    masked = np.where(dead, a, -np.inf)
    top = np.argsort(-masked, axis=1)[:, :n_aux]  # (B, n_aux) among the dead latents only
    z_aux = np.zeros_like(a)
    np.put_along_axis(z_aux, top, np.maximum(np.take_along_axis(a, top, axis=1), 0), axis=1)
    error = ((residual - z_aux @ model.dictionary.numpy()) ** 2).sum(axis=1).mean()
    spread = ((residual - residual.mean(axis=0)) ** 2).sum(axis=1).mean()
    assert out["aux"].item() == pytest.approx(error / spread, rel=1e-10)  # Gao's normalisation
    assert out["dead"].item() == pytest.approx(0.3)
    variance = ((x.numpy() - x.numpy().mean(axis=0)) ** 2).sum(axis=1).mean()
    expected = out["recon"].item() + 0.25 * variance * error / spread
    assert out["loss"].item() == pytest.approx(expected, rel=1e-10)
    out["aux"].backward()  # the residual is detached: only dead latents (and b_pre) learn
    live = torch.from_numpy(~dead)
    assert model.encoder.weight.grad[live].abs().max() == 0
    assert model.decoder.weight.grad[live].abs().max() == 0
    assert model.decoder.weight.grad[~live].abs().sum() > 0


def test_auxiliary_loss_is_zero_for_relu_codes_and_without_dead_latents():
    model = _sae(k=None)
    model.samples_since_fired.fill_(100)  # all dead, but ReLU codes have no auxiliary loss
    x = torch.randn(4, 6, dtype=torch.float64)
    assert sparse_autoencoder_objective(dead_after=10)(model.eval(), x)["aux"].item() == 0
    top_k = _sae(k=3)
    top_k.samples_since_fired.fill_(9)  # none dead yet
    assert sparse_autoencoder_objective(dead_after=10)(top_k.eval(), x)["aux"].item() == 0


def test_sparse_autoencoder_objective_renormalises_and_counts_in_training_mode_only():
    model = _sae(k=2)
    with torch.no_grad():
        model.decoder.weight.mul_(3.0)
    x = torch.randn(5, 6, dtype=torch.float64)
    objective = sparse_autoencoder_objective()
    objective(model.eval(), x)  # eval mode (aeutils.evaluate): nothing changes
    torch.testing.assert_close(
        model.decoder.weight.detach().norm(dim=1), torch.full((10,), 3.0, dtype=torch.float64)
    )
    assert (model.samples_since_fired == 0).all()
    z = model.encode(x)
    objective(model.train(), x)
    torch.testing.assert_close(
        model.decoder.weight.detach().norm(dim=1), torch.ones(10, dtype=torch.float64)
    )
    fired = (z != 0).any(dim=0)
    assert model.samples_since_fired.tolist() == [0 if f else 5 for f in fired.tolist()]


def test_decoder_rows_have_unit_norm_after_training_steps():
    torch.manual_seed(0)
    model = SparseAutoencoder(input_size=8, dictionary_size=16, k=3)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(4))
    config = TrainConfig(epochs=2, lr=0.05, batch_size=16, progress=False, device="cpu")
    history = fit(model, x, sparse_autoencoder_objective(dead_after=16), config)
    assert all(0 < l0 <= 3 for l0 in history.train["l0"])  # top-k: at most 3 of 16
    torch.testing.assert_close(model.dictionary.norm(dim=1), torch.ones(16))
    raw = model.decoder.weight.detach().norm(dim=1)  # renormalised before each step
    assert (raw - 1).abs().max() < 0.05 and (raw - 1).abs().max() > 0  # one step since then
    model.normalize_decoder_()
    torch.testing.assert_close(model.decoder.weight.detach().norm(dim=1), torch.ones(16))


def test_sparse_autoencoder_objective_validates_its_arguments_and_model():
    with pytest.raises(ValueError, match=r"l1_weight must be a finite number >= 0, got -1.0"):
        sparse_autoencoder_objective(-1)
    with pytest.raises(TypeError, match=r"aux_weight must be a real number, got bool"):
        sparse_autoencoder_objective(aux_weight=True)
    with pytest.raises(ValueError, match=r"aux_k must be a positive integer, got 0"):
        sparse_autoencoder_objective(aux_k=0)
    with pytest.raises(ValueError, match=r"dead_after must be a positive integer, got 0"):
        sparse_autoencoder_objective(dead_after=0)
    with pytest.raises(TypeError, match=r"needs an aeutils.models.SparseAutoencoder, got TinyAE"):
        sparse_autoencoder_objective()(TinyAE(), torch.rand(2, *INPUT_SHAPE))
