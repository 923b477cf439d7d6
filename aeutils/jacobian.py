"""Per-sample Jacobians of an encoder, exact, with ``torch.func``.

The contractive penalty (:func:`aeutils.losses.contractive_penalty`, ``method="exact"``) and the
Jacobian-norm metric (:func:`aeutils.metrics.jacobian_norm`) are both built on
:func:`per_sample_jacobian`: the matrix ``J_b = d encoder(x_b) / d x_b`` of every sample ``x_b``
of a batch, flattened to ``(code size, input size)``.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.func import jacfwd, jacrev, vmap

from aeutils.validation import check_module, check_tensor

__all__ = ["per_sample_jacobian"]


def per_sample_jacobian(encoder: nn.Module, x: Tensor) -> Tensor:
    """Jacobian ``d encoder(x_b) / d x_b`` of every sample of a batch, flattened.

    The encoder is applied to one sample at a time (``vmap``), so it must treat samples
    independently (no BatchNorm in training mode, no dropout). Forward mode (``jacfwd``) is used
    when the input is smaller than the code, reverse mode (``jacrev``) otherwise: each costs one
    pass per input or per code dimension respectively. The result keeps its autograd graph when
    gradients are enabled, so a penalty built on it can be back-propagated.

    Args:
        encoder: Module mapping ``(B, *input_shape)`` to ``(B, *code_shape)``.
        x: Input batch.

    Returns:
        Entry ``[b, j, i]`` is ``d code_j / d input_i`` at sample ``b``, with code and input
        flattened in C order; in ``x``'s dtype and on its device.

    Raises:
        TypeError: If ``encoder`` is not an nn.Module or ``x`` not a tensor.
        ValueError: If the batch is empty.

    Shape:
        x: ``(B, *input_shape)``, e.g. (B, 1, 28, 28). Output: (B, k, d) with ``k`` the code size
        and ``d`` the input size of one sample.
    """
    encoder = check_module(encoder, "encoder")
    x = check_tensor(x, "x")

    def f(x_single: Tensor) -> Tensor:  # (*input_shape) -> (k,)
        return encoder(x_single.unsqueeze(0)).reshape(-1)

    with torch.no_grad():
        out_size = encoder(x[:1]).numel()
    in_size = x[0].numel()
    if in_size < out_size:
        with warnings.catch_warnings():
            # Forward-mode AD loads TorchScript decompositions once; not actionable for users.
            warnings.filterwarnings("ignore", r".*torch\.jit\.script.*", FutureWarning)
            # A fresh copy: for a view into a larger tensor (a chunk of a data set), forward
            # mode allocates its tangents at the size of the whole base tensor (measured: a
            # 64-image chunk of 600 images doubled peak memory; of MNIST's test set, 24 GB).
            jac = vmap(jacfwd(f))(x.clone())  # (B, k, *input_shape)
    else:
        jac = vmap(jacrev(f))(x)  # (B, k, *input_shape)
    return jac.reshape(x.shape[0], out_size, in_size)  # (B, k, d)
