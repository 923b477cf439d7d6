"""The variational autoencoder's objective and likelihood bounds, for binary images.

The model is :class:`aeutils.models.VariationalAutoencoder`: a prior ``p(z) = N(0, I)``, a
Bernoulli decoder ``p(x | z)`` with logits ``model.decoder_logits(z)`` and a Gaussian
approximate posterior ``q(z | x) = N(mu, diag(exp(log_var)))``, ``mu, log_var =
model.posterior(x)``. Every function here works for any model with these two methods.

- :func:`gaussian_kl`: ``KL(q(z | x) || p(z))`` in closed form;
- :func:`elbo`: the evidence lower bound ``E_q[log p(x | z)] - KL(q(z | x) || p(z)) <= log p(x)``,
  estimated with one reparameterised sample ``z = mu + exp(log_var / 2) * eps``;
- :func:`iwae_bound`: the importance-weighted bound of Burda et al. (2016),
  ``E[log (1/k) sum_i p(x, z_i) / q(z_i | x)]``, which grows with ``k`` towards ``log p(x)``;
- :func:`elbo_objective`: minus the ELBO as a training objective for :func:`aeutils.train.fit`;
- :class:`DynamicBinarization`: a fresh binary sample of grey-level images in every batch, the
  transform of a :class:`~aeutils.loader.TensorLoader`.

All values are in nats and per image: log-likelihoods are **summed** over pixels and code units,
and the bounds return one value per image, shape ``(B,)``; the objective averages over the batch,
as every objective of :mod:`aeutils.losses` does. The likelihood is that of binary images:
:func:`elbo`, :func:`iwae_bound` and :func:`elbo_objective` refuse inputs other than 0 and 1
(binarise grey levels with :class:`DynamicBinarization`). The random draws come from the
``generator`` argument where there is one (on the input's device), else from torch's global
generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aeutils.losses import LossFn
from aeutils.validation import check_int, check_real, check_tensor

__all__ = ["DynamicBinarization", "elbo", "elbo_objective", "gaussian_kl", "iwae_bound"]

# Rows (images times samples) that iwae_bound decodes in one pass when chunk_size is None.
_IWAE_ROWS = 2**14


def _check_generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    return generator


def _check_model(model: object, where: str) -> nn.Module:
    """Raise TypeError unless ``model`` has the methods a variational autoencoder needs."""
    if not (
        isinstance(model, nn.Module)
        and callable(getattr(model, "posterior", None))
        and callable(getattr(model, "decoder_logits", None))
    ):
        raise TypeError(
            f"{where} needs a model with posterior(x) and decoder_logits(z) methods "
            f"(an aeutils.models.VariationalAutoencoder), got {type(model).__name__}"
        )
    return model


def _check_binary(x: object, where: str) -> Tensor:
    """Return ``x`` if it is a floating-point batch of zeros and ones; raise otherwise."""
    x = check_tensor(x, "x", floating=True)
    if not ((x == 0) | (x == 1)).all():
        lo, hi = x.detach().aminmax()
        raise ValueError(
            f"{where} needs binary x (every value 0 or 1) for its Bernoulli likelihood, got "
            f"values in [{lo.item():.4g}, {hi.item():.4g}] that are not all 0 or 1; binarise "
            "grey levels first, e.g. with aeutils.variational.DynamicBinarization"
        )
    return x


def _log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """``log p(x | z)`` of independent Bernoulli pixels, summed over the pixels of each row.

    Shape:
        logits, x: ``(N, *input_shape)`` -> ``(N,)``.
    """
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")  # (N, *input_shape)
    return -nll.reshape(x.shape[0], -1).sum(dim=1)  # (N,)


def _elbo_terms(
    model: nn.Module, x: Tensor, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """One-sample ``log p(x | z)`` and the closed-form KL, each ``(B,)``."""
    mu, log_var = model.posterior(x)  # (B, K) each
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)  # (B, K)
    z = mu + torch.exp(0.5 * log_var) * eps  # (B, K)
    return _log_likelihood(model.decoder_logits(z), x), gaussian_kl(mu, log_var)


def gaussian_kl(mu: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(mu, diag(exp(log_var))) || N(0, I))`` in closed form, one value per row.

    ``KL = 1/2 sum_j (mu_j^2 + exp(log_var_j) - 1 - log_var_j)``, in nats; 0 exactly when
    ``mu = 0`` and ``log_var = 0``.

    Args:
        mu: Means of the Gaussian, one row per image.
        log_var: Log variances, same shape as ``mu``.

    Returns:
        The divergence of each row, >= 0.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If an argument is not 2-d, the batch is empty or the shapes differ.

    Shape:
        mu, log_var: ``(B, K)``. Output: ``(B,)``.
    """
    mu = check_tensor(mu, "mu", ndim=2, floating=True)
    log_var = check_tensor(log_var, "log_var", ndim=2, floating=True)
    if mu.shape != log_var.shape:
        raise ValueError(
            f"mu and log_var must have the same shape, got mu {tuple(mu.shape)} and log_var "
            f"{tuple(log_var.shape)}"
        )
    return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=1)  # (B,)


def elbo(
    model: nn.Module, x: Tensor, beta: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Evidence lower bound of each image, estimated with one reparameterised sample.

    ``elbo = log p(x | z) - beta * KL(q(z | x) || N(0, I))`` with ``mu, log_var =
    model.posterior(x)``, ``z = mu + exp(log_var / 2) * eps`` and ``eps = torch.randn(mu.shape,
    generator=generator)`` (on ``mu``'s device), the KL in closed form (:func:`gaussian_kl`).
    With ``beta=1`` its expectation over ``eps`` is the ELBO, a lower bound on ``log p(x)``;
    other values of ``beta`` give the beta-VAE's objective (Higgins et al. 2017), which is not
    a bound. The result keeps its graph: ``-elbo(...).mean()`` can be minimised.

    Args:
        model: A :class:`~aeutils.models.VariationalAutoencoder` (or any module with
            ``posterior`` and ``decoder_logits``).
        x: Binary images (every value 0 or 1), floating point.
        beta: Weight of the KL term, >= 0.
        generator: Random generator for ``eps``, on ``x``'s device; None: torch's global one.

    Returns:
        The estimate, in nats, per image.

    Raises:
        TypeError: If ``model`` lacks the methods, ``x`` is not a floating-point tensor,
            ``beta`` is not a real number (bool included) or ``generator`` not a Generator.
        ValueError: If ``x`` is not binary, ``beta < 0``, or ``x`` is not shaped
            ``(B, *model.input_shape)``.

    Shape:
        x: ``(B, *input_shape)``. Output: ``(B,)``.
    """
    model = _check_model(model, "elbo")
    beta = check_real(beta, "beta", minimum=0)
    generator = _check_generator(generator)
    x = _check_binary(x, "elbo")
    log_px_z, kl = _elbo_terms(model, x, generator)  # (B,) each
    return log_px_z - beta * kl


def iwae_bound(
    model: nn.Module,
    x: Tensor,
    k: int,
    generator: torch.Generator | None = None,
    *,
    chunk_size: int | None = None,
) -> Tensor:
    """Importance-weighted lower bound on ``log p(x)`` (Burda et al. 2016), per image.

    ``log (1/k) sum_{i=1}^k p(x | z_i) p(z_i) / q(z_i | x)`` with ``z_i ~ q(z | x)``
    independent, computed with ``torch.logsumexp``. Its expectation is a lower bound on
    ``log p(x)`` that does not decrease with ``k`` and tends to ``log p(x)``; for ``k=1`` it
    equals the ELBO's (for ``beta=1``), although this single-sample estimate of it uses
    ``log p(z) - log q(z | x)`` for the KL, not the closed form of :func:`elbo`. With large
    ``k`` it estimates the model's log-likelihood, the usual test score of a VAE.

    The samples are decoded ``chunk_size`` per image at a time: chunk after chunk,
    ``eps = torch.randn((c, B, code_size), generator=generator)`` and
    ``z = mu + exp(log_var / 2) * eps``, ``c = min(chunk_size, samples left)``. The result
    keeps its graph (for training on the bound); wrap the call in ``torch.no_grad()`` to score.

    Args:
        model: A :class:`~aeutils.models.VariationalAutoencoder` (or any module with
            ``posterior`` and ``decoder_logits``).
        x: Binary images (every value 0 or 1), floating point.
        k: Importance samples per image, >= 1.
        generator: Random generator for ``eps``, on ``x``'s device; None: torch's global one.
        chunk_size: Samples per image decoded in one pass, >= 1; None: as many as keep a pass
            at about 16384 rows (``B * chunk_size``), at least one.

    Returns:
        The bound, in nats, per image.

    Raises:
        TypeError: If ``model`` lacks the methods, ``x`` is not a floating-point tensor,
            ``k`` or ``chunk_size`` is not an integer (bool included) or ``generator`` not a
            Generator.
        ValueError: If ``x`` is not binary, ``k < 1``, ``chunk_size < 1``, or ``x`` is not
            shaped ``(B, *model.input_shape)``.

    Shape:
        x: ``(B, *input_shape)``. Output: ``(B,)``.
    """
    model = _check_model(model, "iwae_bound")
    k = check_int(k, "k", minimum=1)
    if chunk_size is not None:
        chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    generator = _check_generator(generator)
    x = _check_binary(x, "iwae_bound")
    mu, log_var = model.posterior(x)  # (B, K) each
    batch, code_size = mu.shape
    chunk = chunk_size or max(1, _IWAE_ROWS // batch)
    std = torch.exp(0.5 * log_var)  # (B, K)
    parts = []
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        eps = torch.randn(
            (c, batch, code_size), generator=generator, device=mu.device, dtype=mu.dtype
        )  # (c, B, K)
        z = mu + std * eps  # (c, B, K)
        logits = model.decoder_logits(z.reshape(c * batch, code_size))  # (c * B, *input_shape)
        targets = x.expand(c, *x.shape).reshape(c * batch, *x.shape[1:])  # (c * B, *input_shape)
        log_px_z = _log_likelihood(logits, targets).reshape(c, batch)  # (c, B)
        # log p(z) - log q(z | x) of diagonal Gaussians; the log(2 pi) terms cancel.
        log_ratio = 0.5 * (eps.pow(2) - z.pow(2) + log_var).sum(dim=2)  # (c, B)
        parts.append(torch.logsumexp(log_px_z + log_ratio, dim=0))  # (B,)
    return torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)  # (B,)


def elbo_objective(beta: float = 1.0) -> LossFn:
    """Variational autoencoder objective: minus the ELBO, averaged over the batch.

    ``loss = recon + beta * kl`` with ``recon = mean_b -log p(x_b | z_b)`` (the Bernoulli
    negative log-likelihood summed over pixels, one reparameterised sample ``z_b ~ q(z | x_b)``
    from torch's global generator, so :func:`aeutils.train.seed_everything` controls it) and
    ``kl = mean_b KL(q(z | x_b) || N(0, I))``; so ``loss == -elbo(model, x, beta).mean()`` for
    the same draw, in nats per image. ``beta=1`` is the VAE of Kingma and Welling, other values
    the beta-VAE.

    Args:
        beta: Weight of the KL term, >= 0.

    Returns:
        ``loss_fn(model, x)`` returning ``{"loss", "recon", "kl"}``; ``kl`` unweighted. The
        batch ``x`` must be binary: train with ``TensorLoader(..., transform=
        DynamicBinarization())`` on grey levels, or on images binarised once.

    Raises:
        TypeError: If ``beta`` is not a real number (bool included); ``loss_fn`` raises
            TypeError for a model without ``posterior`` and ``decoder_logits``.
        ValueError: If ``beta < 0``; ``loss_fn`` raises ValueError for a batch that is not
            binary or not shaped ``(B, *model.input_shape)``.

    Shape:
        x: ``(B, *input_shape)``; every returned tensor is a scalar ().
    """
    beta = check_real(beta, "beta", minimum=0)

    def loss_fn(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        model = _check_model(model, "elbo_objective")
        x = _check_binary(x, "elbo_objective")
        log_px_z, kl = _elbo_terms(model, x, None)  # (B,) each
        recon = -log_px_z.mean()
        kl = kl.mean()
        return {"loss": recon + beta * kl, "recon": recon, "kl": kl}

    return loss_fn


class DynamicBinarization:
    """Draw binary images with pixel probabilities ``x``: a fresh binarisation per call.

    ``DynamicBinarization()(x) == torch.bernoulli(x, generator=...)``: each pixel is 1 with
    probability its grey level. As the ``transform`` of a
    :class:`~aeutils.loader.TensorLoader` it gives every batch of every epoch a new binary
    sample of the grey-level images, the *dynamically binarised* MNIST on which variational
    autoencoders are usually trained and scored. The draws come from the object's own
    ``torch.Generator``, one per device, made on the first call on that device and seeded with
    ``seed``: the same seed gives the same sequence of binarisations.

    Args:
        seed: Seed of the generator; None draws one from torch's global generator (so
            :func:`aeutils.train.seed_everything` before construction controls it).

    Attributes:
        seed: The seed in use.

    Raises:
        TypeError: If ``seed`` is not an integer (bool included).

    Shape:
        x: any, e.g. ``(B, C, H, W)``. Output: same as ``x``.
    """

    def __init__(self, seed: int | None = None) -> None:
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.seed: int = check_int(seed, "seed")
        self._generators: dict[torch.device, torch.Generator] = {}

    def __call__(self, x: Tensor) -> Tensor:
        """Binarise ``x``.

        Args:
            x: Probabilities in [0, 1], floating point.

        Returns:
            A new tensor of zeros and ones, with ``x``'s shape, dtype and device.

        Raises:
            TypeError: If ``x`` is not a floating-point tensor.
            ValueError: If a value of ``x`` lies outside [0, 1] (or is NaN).

        Shape:
            x: any. Output: same as ``x``.
        """
        x = check_tensor(x, "x", batch=False, floating=True)
        if x.numel():
            lo, hi = x.detach().aminmax()
            if not (lo >= 0 and hi <= 1):  # written so that NaN fails too
                raise ValueError(
                    "x must lie in [0, 1] for DynamicBinarization (pixel probabilities), got "
                    f"values in [{lo.item():.4g}, {hi.item():.4g}]"
                )
        generator = self._generators.get(x.device)
        if generator is None:
            generator = torch.Generator(device=x.device).manual_seed(self.seed)
            self._generators[x.device] = generator
        return torch.bernoulli(x, generator=generator)

    def __repr__(self) -> str:
        return f"DynamicBinarization(seed={self.seed})"
