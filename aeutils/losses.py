"""Reconstruction losses, code penalties and ready-made training objectives.

Reduction convention used everywhere in this module: **sum** over pixels (or code units) of one
sample, then **mean** over the batch. A loss value is therefore "per image", and does not change
when the batch size changes, but it grows with the image size. This differs from the default of
``torch.nn.functional.mse_loss`` (``reduction="mean"``, which also averages over pixels): for
images with ``P`` pixels, ``mse_loss(x_hat, x) == P * F.mse_loss(x_hat, x)``.

Objectives are factories returning a :data:`LossFn`, ``loss_fn(model, x) -> dict[str, Tensor]``.
The dictionary always holds ``"loss"`` (the scalar to minimise) and ``"recon"`` (the
reconstruction term); regularised objectives also hold ``"penalty"``, the *unweighted* penalty, so
that ``loss == recon + weight * penalty``; the semantic-hashing objective also logs
``"near_binary"``, and the sparse-autoencoder objective an auxiliary term ``"aux"``, the codes'
``"l0"`` and the fraction of ``"dead"`` latents.

The per-sample Jacobian behind the exact contractive penalty is
:func:`aeutils.jacobian.per_sample_jacobian`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aeutils.jacobian import per_sample_jacobian
from aeutils.models import SparseAutoencoder
from aeutils.validation import (
    check_callable,
    check_choice,
    check_int,
    check_module,
    check_real,
    check_tensor,
)

__all__ = [
    "CONTRACTIVE_METHODS",
    "RECONSTRUCTION_KINDS",
    "LossFn",
    "bce_loss",
    "contractive_objective",
    "contractive_penalty",
    "denoising_objective",
    "kl_objective",
    "kl_sparsity_penalty",
    "l1_objective",
    "l1_penalty",
    "mse_loss",
    "reconstruction_objective",
    "semantic_hashing_objective",
    "sparse_autoencoder_objective",
]

LossFn = Callable[[nn.Module, Tensor], "Tensor | Mapping[str, Tensor]"]
"""The type of an objective ``loss_fn(model, x)``, which returns a scalar tensor or a dict of
scalar tensors with a ``"loss"`` key (the one :func:`aeutils.train.fit` minimises; every key is
logged)."""

RECONSTRUCTION_KINDS: tuple[str, ...] = ("mse", "bce")
CONTRACTIVE_METHODS: tuple[str, ...] = ("exact", "sigmoid", "projection")

_KL_EPS = 1e-6  # rho_hat is clamped to [eps, 1 - eps] so that the KL stays finite


def _check_pair(x_hat: object, x: object) -> tuple[Tensor, Tensor]:
    x_hat = check_tensor(x_hat, "x_hat")
    x = check_tensor(x, "x")
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat and x must have the same shape, got x_hat {tuple(x_hat.shape)} "
            f"and x {tuple(x.shape)}"
        )
    return x_hat, x


def _check_weight(value: object, name: str) -> float:
    return check_real(value, name, minimum=0)


def _check_rho(rho: object) -> float:
    return check_real(rho, "rho", minimum=0, maximum=1, low_open=True, high_open=True)


# --------------------------------------------------------------------------------------------
# Reconstruction losses and code penalties
# --------------------------------------------------------------------------------------------


def mse_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """Squared error summed over pixels, averaged over the batch.

    Equals ``F.mse_loss(x_hat, x, reduction="sum") / B``; note that this is ``P`` times the
    default ``F.mse_loss(x_hat, x)`` (which averages over pixels too), ``P`` the pixels per image.

    Args:
        x_hat: Reconstructions.
        x: Targets, same shape as ``x_hat``.

    Returns:
        Scalar tensor ``mean_b sum_i (x_hat[b, i] - x[b, i])^2``.

    Raises:
        TypeError: If an argument is not a tensor.
        ValueError: If the shapes differ or the batch is empty.

    Shape:
        x_hat, x: ``(B, *)`` e.g. (B, C, H, W). Output: () scalar.
    """
    x_hat, x = _check_pair(x_hat, x)
    return (x_hat - x).pow(2).reshape(x.shape[0], -1).sum(dim=1).mean()


def bce_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """Binary cross-entropy summed over pixels, averaged over the batch.

    Equals ``F.binary_cross_entropy(x_hat, x, reduction="sum") / B`` (so ``P`` times the default
    ``reduction="mean"``). ``x_hat`` are probabilities (e.g. a sigmoid output), not logits; as in
    PyTorch, the logarithms are clamped at -100 so that a saturated output gives a large finite
    loss.

    Args:
        x_hat: Reconstructed probabilities in [0, 1].
        x: Targets in [0, 1] (need not be binary), same shape as ``x_hat``.

    Returns:
        Scalar tensor ``mean_b sum_i -[x log x_hat + (1 - x) log(1 - x_hat)]``.

    Raises:
        TypeError: If an argument is not a tensor.
        ValueError: If the shapes differ, the batch is empty, or values lie outside [0, 1].

    Shape:
        x_hat, x: ``(B, *)`` e.g. (B, C, H, W). Output: () scalar.
    """
    x_hat, x = _check_pair(x_hat, x)
    for name, value in (("x_hat", x_hat), ("x", x)):
        lo, hi = value.detach().aminmax()
        if lo < 0 or hi > 1:
            raise ValueError(
                f"{name} must lie in [0, 1] for bce_loss (probabilities, not logits), "
                f"got values in [{lo.item():.4g}, {hi.item():.4g}]"
            )
    return F.binary_cross_entropy(x_hat, x, reduction="sum") / x.shape[0]


def l1_penalty(z: Tensor) -> Tensor:
    """L1 norm of the code, averaged over the batch.

    Args:
        z: Codes.

    Returns:
        Scalar tensor ``mean_b sum_j |z[b, j]|``.

    Raises:
        TypeError: If ``z`` is not a tensor.
        ValueError: If the batch is empty.

    Shape:
        z: ``(B, *)`` usually (B, code_size). Output: () scalar.
    """
    z = check_tensor(z, "z")
    return z.abs().reshape(z.shape[0], -1).sum(dim=1).mean()


def kl_sparsity_penalty(h: Tensor, rho: float) -> Tensor:
    """Sparsity penalty ``sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j))``.

    ``rho_hat_j`` is the mean activation of unit ``j`` over the batch and
    ``KL(rho || q) = rho log(rho / q) + (1 - rho) log((1 - rho) / (1 - q))``. ``rho_hat`` is clamped
    to ``[1e-6, 1 - 1e-6]`` so the penalty stays finite when a unit is always off or always on.

    Args:
        h: Activations in [0, 1] (e.g. sigmoid code units).
        rho: Target mean activation, in the open interval (0, 1).

    Returns:
        Scalar tensor, >= 0, and 0 exactly when every ``rho_hat_j == rho``.

    Raises:
        TypeError: If ``h`` is not a tensor or ``rho`` not a real number.
        ValueError: If ``rho`` is not in (0, 1), ``h`` has values outside [0, 1] or an empty batch.

    Shape:
        h: ``(B, *)`` usually (B, code_size); units are all dimensions after the first. Output: ().
    """
    h = check_tensor(h, "h")
    rho = _check_rho(rho)
    lo, hi = h.detach().aminmax()
    if lo < 0 or hi > 1:
        raise ValueError(
            "h must lie in [0, 1] for kl_sparsity_penalty (e.g. sigmoid activations), "
            f"got values in [{lo.item():.4g}, {hi.item():.4g}]"
        )
    rho_hat = h.reshape(h.shape[0], -1).mean(dim=0).clamp(_KL_EPS, 1.0 - _KL_EPS)  # (units,)
    kl = rho * torch.log(rho / rho_hat) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - rho_hat))
    return kl.sum()


# --------------------------------------------------------------------------------------------
# Contractive penalty
# --------------------------------------------------------------------------------------------


def _leaf_modules(module: nn.Module) -> list[nn.Module]:
    """Flatten nested nn.Sequential containers, dropping nn.Identity."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaf_modules(child)]
    if isinstance(module, nn.Identity):
        return []
    return [module]


def _sigmoid_encoder_linear(encoder: nn.Module) -> tuple[nn.Linear, bool]:
    """Return the Linear of a [Flatten] -> Linear -> Sigmoid encoder and whether it flattens."""
    layers = _leaf_modules(encoder)
    flatten = bool(layers) and isinstance(layers[0], nn.Flatten)
    core = layers[1:] if flatten else layers
    names = [type(layer).__name__ for layer in layers]
    if (
        len(core) != 2
        or not isinstance(core[0], nn.Linear)
        or not isinstance(core[1], nn.Sigmoid)
        or (flatten and (layers[0].start_dim != 1 or layers[0].end_dim != -1))
    ):
        raise ValueError(
            'method="sigmoid" needs an encoder that is nn.Sequential([nn.Flatten()], nn.Linear, '
            f'nn.Sigmoid), got layers {names}; use method="exact" or "projection" '
            "for other encoders"
        )
    return core[0], flatten


def _contractive_sigmoid(encoder: nn.Module, x: Tensor) -> Tensor:
    linear, flatten = _sigmoid_encoder_linear(encoder)
    if not flatten and x.ndim != 2:
        raise ValueError(
            'method="sigmoid" with an encoder without nn.Flatten needs x of shape (B, features), '
            f"got shape {tuple(x.shape)}"
        )
    x_flat = x.reshape(x.shape[0], -1)  # (B, d)
    if x_flat.shape[1] != linear.in_features:
        raise ValueError(
            f"x has {x_flat.shape[1]} features per sample but the encoder's nn.Linear expects "
            f"{linear.in_features}"
        )
    h = torch.sigmoid(linear(x_flat))  # (B, k)
    row_norms = linear.weight.pow(2).sum(dim=1)  # (k,) sum_i W_ji^2
    return ((h * (1.0 - h)).pow(2) @ row_norms).mean()


def _contractive_exact(encoder: nn.Module, x: Tensor) -> Tensor:
    jac = per_sample_jacobian(encoder, x)  # (B, k, d)
    return jac.pow(2).sum(dim=(1, 2)).mean()


def _contractive_projection(
    encoder: nn.Module, x: Tensor, n_projections: int, generator: torch.Generator | None
) -> Tensor:
    # The estimate needs autograd even under torch.no_grad() (as in aeutils.evaluate); it only
    # keeps a graph for training when gradients were enabled by the caller.
    training = torch.is_grad_enabled()
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        h = encoder(x)  # (B, *code_shape)
        total = x.new_zeros(())
        for _ in range(n_projections):
            v = torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype)
            (jtv,) = torch.autograd.grad(
                h, x, grad_outputs=v, create_graph=training, retain_graph=True
            )  # (B, *input_shape): J_b^T v_b per sample
            total = total + jtv.pow(2).reshape(x.shape[0], -1).sum(dim=1).mean()
    return total / n_projections if training else (total / n_projections).detach()


def contractive_penalty(
    encoder: nn.Module,
    x: Tensor,
    method: str = "exact",
    n_projections: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Squared Frobenius norm of the encoder's Jacobian, averaged over the batch.

    ``penalty = mean_b || d encoder(x_b) / d x_b ||_F^2``. The result keeps its graph, so it can be
    added to a loss and back-propagated into the encoder's parameters.

    Methods:
        - ``"exact"``: the full per-sample Jacobian,
          :func:`aeutils.jacobian.per_sample_jacobian` (``torch.func``). Works for any encoder
          that treats samples independently (no BatchNorm in training mode, no dropout), but
          costs memory and time proportional to ``B * code_size * input_size``.
        - ``"sigmoid"``: the closed form ``sum_j (h_j (1 - h_j))^2 sum_i W_ji^2`` for an encoder
          that is ``nn.Sequential([nn.Flatten()], nn.Linear, nn.Sigmoid)``; cheap and exact.
        - ``"projection"``: Hutchinson's unbiased estimate ``E_v ||J^T v||^2`` with
          ``v ~ N(0, I_code)``, averaged over ``n_projections`` draws; each draw costs one
          vector-Jacobian product (built with ``create_graph=True`` for training).

    Args:
        encoder: Module mapping ``(B, *input_shape)`` to ``(B, *code_shape)``.
        x: Input batch.
        method: ``"exact"``, ``"sigmoid"`` or ``"projection"``.
        n_projections: Number of random projections (``"projection"`` only).
        generator: Random generator for the projections, on ``x``'s device (``"projection"`` only).

    Returns:
        Scalar tensor.

    Raises:
        TypeError: If ``encoder`` is not an nn.Module, ``x`` not a tensor or ``n_projections``
            not an integer.
        ValueError: For an unknown method, ``n_projections < 1``, or an encoder that does not fit
            the sigmoid closed form.

    Shape:
        x: ``(B, *input_shape)``, e.g. (B, 1, 28, 28). Output: () scalar.
    """
    encoder = check_module(encoder, "encoder")
    x = check_tensor(x, "x")
    method = check_choice(method, "method", CONTRACTIVE_METHODS)
    n_projections = check_int(n_projections, "n_projections", minimum=1)
    if method == "sigmoid":
        return _contractive_sigmoid(encoder, x)
    if method == "projection":
        return _contractive_projection(encoder, x, n_projections, generator)
    return _contractive_exact(encoder, x)


# --------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------


def _reconstruction_loss(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
    return mse_loss if check_choice(kind, "kind", RECONSTRUCTION_KINDS) == "mse" else bce_loss


def reconstruction_objective(kind: str = "mse") -> LossFn:
    """Plain autoencoder objective: reconstruction error of ``model(x)``.

    Args:
        kind: ``"mse"`` (:func:`mse_loss`) or ``"bce"`` (:func:`bce_loss`).

    Returns:
        ``loss_fn(model, x)`` returning ``{"loss", "recon"}`` (equal scalars).

    Raises:
        ValueError: If ``kind`` is unknown.

    Shape:
        x: ``(B, *input_shape)``; every returned tensor is a scalar ().
    """
    recon_fn = _reconstruction_loss(kind)

    def loss_fn(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        recon = recon_fn(model(x), x)
        return {"loss": recon, "recon": recon}

    return loss_fn


def l1_objective(weight: float, kind: str = "mse") -> LossFn:
    """Sparse autoencoder objective ``recon + weight * l1_penalty(model.encode(x))``.

    Args:
        weight: Penalty weight, >= 0.
        kind: ``"mse"`` or ``"bce"``.

    Returns:
        ``loss_fn(model, x)`` returning ``{"loss", "recon", "penalty"}`` (penalty unweighted).

    Raises:
        TypeError: If ``weight`` is not a real number.
        ValueError: If ``weight < 0`` or ``kind`` is unknown.

    Shape:
        x: ``(B, *input_shape)``; every returned tensor is a scalar ().
    """
    weight = _check_weight(weight, "weight")
    recon_fn = _reconstruction_loss(kind)

    def loss_fn(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        z = model.encode(x)  # (B, code_size)
        recon = recon_fn(model.decode(z), x)
        penalty = l1_penalty(z)
        return {"loss": recon + weight * penalty, "recon": recon, "penalty": penalty}

    return loss_fn


def kl_objective(rho: float, beta: float, kind: str = "mse") -> LossFn:
    """Sparse autoencoder objective ``recon + beta * kl_sparsity_penalty(model.encode(x), rho)``.

    The code must lie in [0, 1] (e.g. a sigmoid code activation).

    Args:
        rho: Target mean activation in (0, 1).
        beta: Penalty weight, >= 0.
        kind: ``"mse"`` or ``"bce"``.

    Returns:
        ``loss_fn(model, x)`` returning ``{"loss", "recon", "penalty"}`` (penalty unweighted).

    Raises:
        TypeError: If ``rho`` or ``beta`` is not a real number.
        ValueError: If ``rho`` is not in (0, 1), ``beta < 0`` or ``kind`` is unknown.

    Shape:
        x: ``(B, *input_shape)``; every returned tensor is a scalar ().
    """
    rho = _check_rho(rho)
    beta = _check_weight(beta, "beta")
    recon_fn = _reconstruction_loss(kind)

    def loss_fn(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        z = model.encode(x)  # (B, code_size)
        recon = recon_fn(model.decode(z), x)
        penalty = kl_sparsity_penalty(z, rho)
        return {"loss": recon + beta * penalty, "recon": recon, "penalty": penalty}

    return loss_fn


def denoising_objective(corrupt: Callable[[Tensor], Tensor], kind: str = "mse") -> LossFn:
    """Denoising objective: reconstruct the clean ``x`` from ``model(corrupt(x))``.

    Args:
        corrupt: Corruption function, e.g. ``aeutils.noise.make_corruption("masking", 0.3)``.
        kind: ``"mse"`` or ``"bce"``.

    Returns:
        ``loss_fn(model, x)`` returning ``{"loss", "recon"}``.

    Raises:
        TypeError: If ``corrupt`` is not callable.
        ValueError: If ``kind`` is unknown.

    Shape:
        x: ``(B, *input_shape)``; ``corrupt`` must keep the shape. Returned tensors are scalars ().
    """
    corrupt = check_callable(corrupt, "corrupt", "Tensor -> Tensor")
    recon_fn = _reconstruction_loss(kind)

    def loss_fn(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        recon = recon_fn(model(corrupt(x)), x)
        return {"loss": recon, "recon": recon}

    return loss_fn


def contractive_objective(
    weight: float, method: str = "sigmoid", kind: str = "mse", n_projections: int = 1
) -> LossFn:
    """Contractive autoencoder objective ``recon + weight * contractive_penalty(model.encoder, x)``.

    Args:
        weight: Penalty weight, >= 0.
        method: ``"sigmoid"`` (closed form, one Linear+Sigmoid encoder), ``"exact"`` or
            ``"projection"``; see :func:`contractive_penalty`.
        kind: ``"mse"`` or ``"bce"``.
        n_projections: Random projections per step for ``method="projection"``.

    Returns:
        ``loss_fn(model, x)`` returning ``{"loss", "recon", "penalty"}`` (penalty unweighted).
        The model needs an ``encoder`` attribute (an nn.Module).

    Raises:
        TypeError: If ``weight`` is not a real number; ``loss_fn`` raises TypeError for a model
            without an ``encoder`` module.
        ValueError: If ``weight < 0``, or ``method``, ``kind`` or ``n_projections`` is invalid.

    Shape:
        x: ``(B, *input_shape)``; every returned tensor is a scalar ().
    """
    weight = _check_weight(weight, "weight")
    method = check_choice(method, "method", CONTRACTIVE_METHODS)
    n_projections = check_int(n_projections, "n_projections", minimum=1)
    recon_fn = _reconstruction_loss(kind)

    def loss_fn(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        encoder = getattr(model, "encoder", None)
        if not isinstance(encoder, nn.Module):
            raise TypeError(
                "contractive_objective needs a model with an `encoder` nn.Module attribute, "
                f"got {type(model).__name__} without one"
            )
        recon = recon_fn(model(x), x)
        penalty = contractive_penalty(encoder, x, method=method, n_projections=n_projections)
        return {"loss": recon + weight * penalty, "recon": recon, "penalty": penalty}

    return loss_fn


def semantic_hashing_objective(noise_std: float, ramp_steps: float, kind: str = "bce") -> LossFn:
    """Semantic hashing (Salakhutdinov and Hinton): reconstruct ``x`` from noisy code logits.

    The model's code is a vector of logits ``a = model.encode(x)``; the decoder sees
    ``sigmoid(a + s * eps)``, ``eps ~ N(0, I)``. Large noise makes only logits far from 0 carry
    information, which pushes the code units towards 0 or 1, so ``a > 0`` is a good binary hash.
    The noise scale ``s`` grows linearly from 0 to ``noise_std`` over the first ``ramp_steps``
    calls (training steps), then stays there. The objective counts its calls, so build a new one
    for every training run. Meant for :class:`aeutils.models.SemanticHashingAutoencoder`, whose
    ``decode`` applies the sigmoid itself.

    Args:
        noise_std: Final standard deviation of the noise added to the logits, >= 0.
        ramp_steps: Number of calls over which the noise grows, > 0 (e.g. half the steps).
        kind: ``"bce"`` (the default, for images in [0, 1]) or ``"mse"``.

    Returns:
        ``loss_fn(model, x)`` returning ``{"loss", "recon", "near_binary"}``: ``near_binary`` is
        the share of the decoder's inputs ``sigmoid(a + s * eps)`` within 0.1 of 0 or 1.

    Raises:
        TypeError: If ``noise_std`` or ``ramp_steps`` is not a real number.
        ValueError: If ``noise_std < 0``, ``ramp_steps <= 0`` or ``kind`` is unknown.

    Shape:
        x: ``(B, *input_shape)``; ``model.encode(x)``: (B, n_bits); returned tensors are scalars.
    """
    noise_std = check_real(noise_std, "noise_std", minimum=0)
    ramp_steps = check_real(ramp_steps, "ramp_steps", minimum=0, low_open=True)
    recon_fn = _reconstruction_loss(kind)
    steps = 0

    def loss_fn(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        nonlocal steps
        steps += 1
        scale = noise_std * min(1.0, steps / ramp_steps)
        logits = model.encode(x)  # (B, n_bits)
        noisy = logits + scale * torch.randn_like(logits)  # (B, n_bits)
        recon = recon_fn(model.decode(noisy), x)
        h = torch.sigmoid(noisy.detach())  # (B, n_bits): what the decoder sees
        near_binary = ((h < 0.1) | (h > 0.9)).float().mean()
        return {"loss": recon, "recon": recon, "near_binary": near_binary}

    return loss_fn


def sparse_autoencoder_objective(
    l1_weight: float = 0.0,
    *,
    aux_weight: float = 1 / 32,
    aux_k: int | None = None,
    dead_after: int = 100_000,
) -> LossFn:
    """Objective of :class:`aeutils.models.SparseAutoencoder`: reconstruction, L1 and AuxK.

    ``loss = recon + l1_weight * penalty + aux_weight * variance * aux``, with
    ``z = model.encode(x)``:

    - ``recon = mse_loss(model.decode(z), x)``;
    - ``penalty = l1_penalty(z)``, the L1 norm of the codes (use ``l1_weight > 0`` for ReLU
      codes, ``k=None``; a top-k model needs none);
    - ``aux``, for a top-k model only, the auxiliary loss of Gao et al. (2024): the residual
      ``e = x - x_hat``, detached, is reconstructed from the dead latents alone,
      ``e_hat = z_aux @ model.dictionary``, where ``z_aux`` keeps the ReLU of the ``aux_k``
      largest pre-activations among the latents that have not fired in the last
      ``dead_after`` training samples (no pre-bias: it is a residual). As in Gao et al.,
      ``aux = mse_loss(e_hat, e) / mse_loss(mean(e), e)`` is normalised by the residual's
      variance over the batch (1 for ``e_hat = 0`` up to the residual's mean). It gives dead
      latents a gradient towards what the live ones miss; it is 0 for ReLU codes or when no
      latent is dead;
    - ``variance = mse_loss(mean(x), x)``, the batch's total variance (detached). Gao et al.
      divide the reconstruction error by the data's variance too; multiplying their loss by it
      gives this one, so ``aux_weight`` has their meaning (1/32) although ``recon`` keeps the
      units of :func:`mse_loss`.

    In training mode each call first renormalises the decoder's stored rows to unit norm
    (``model.normalize_decoder_()``) and afterwards records which latents fired
    (``model.record_firing_(z)``); in eval mode (:func:`aeutils.train.evaluate`) it changes
    nothing.

    Args:
        l1_weight: Weight of the L1 penalty, >= 0.
        aux_weight: Weight of the auxiliary loss, >= 0 (Gao et al.: 1/32).
        aux_k: Dead latents used by the auxiliary loss per input; None: half of the model's
            input size (the number should grow with it). Capped at the number of dead latents.
        dead_after: A latent is dead after this many training samples without firing, >= 1.

    Returns:
        ``loss_fn(model, x)`` returning ``{"loss", "recon", "penalty", "aux", "l0", "dead"}``:
        ``penalty`` and ``aux`` unweighted, ``l0`` the mean number of non-zero latents per
        input, ``dead`` the fraction of dead latents before this batch.
        A batch needs at least two samples for the variances.

    Raises:
        TypeError: If an argument has the wrong type; ``loss_fn`` raises TypeError for a model
            that is not a ``SparseAutoencoder``.
        ValueError: If a weight is negative or ``aux_k`` or ``dead_after`` is below 1.

    Shape:
        x: ``(B, input_size)``; every returned tensor is a scalar ().
    """
    l1_weight = _check_weight(l1_weight, "l1_weight")
    aux_weight = _check_weight(aux_weight, "aux_weight")
    if aux_k is not None:
        aux_k = check_int(aux_k, "aux_k", minimum=1)
    dead_after = check_int(dead_after, "dead_after", minimum=1)

    def loss_fn(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        if not isinstance(model, SparseAutoencoder):
            raise TypeError(
                "sparse_autoencoder_objective needs an aeutils.models.SparseAutoencoder, "
                f"got {type(model).__name__}"
            )
        if model.training:
            model.normalize_decoder_()
        dead = model.dead_latents(dead_after)  # (K,) bool, before this batch
        a = model.pre_activations(x)  # (B, K)
        z = model.activate(a)  # (B, K)
        x_hat = model.decode(z)  # (B, D)
        recon = mse_loss(x_hat, x)
        penalty = l1_penalty(z)
        aux = recon.new_zeros(())
        n_dead = int(dead.sum())
        if model.k is not None and n_dead > 0 and aux_weight > 0:
            n_aux = min(aux_k or max(1, model.input_size // 2), n_dead)
            values, indices = a.masked_fill(~dead, float("-inf")).topk(n_aux, dim=1)  # (B, n)
            z_aux = torch.zeros_like(a).scatter(1, indices, F.relu(values))  # (B, K)
            residual = (x - x_hat).detach()  # (B, D)
            spread = mse_loss(residual.mean(dim=0).expand_as(residual), residual)
            aux = mse_loss(z_aux @ model.decoder.directions(), residual) / spread.clamp_min(1e-12)
        variance = mse_loss(x.mean(dim=0).expand_as(x), x).detach()
        if model.training:
            model.record_firing_(z)
        return {
            "loss": recon + l1_weight * penalty + aux_weight * variance * aux,
            "recon": recon,
            "penalty": penalty,
            "aux": aux,
            "l0": (z != 0).sum(dim=1).to(recon.dtype).mean(),
            "dead": dead.to(recon.dtype).mean(),
        }

    return loss_fn
