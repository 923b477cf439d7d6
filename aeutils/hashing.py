"""Binary codes for fast retrieval: packing bits, Hamming distances, LSH and ITQ.

A binary code of ``n_bits`` bits is stored one bit per bit: :func:`pack_bits` turns an
``(N, n_bits)`` boolean matrix into ``(N, ceil(n_bits / 8))`` bytes (the layout of
``numpy.packbits``), and :func:`hamming_distances` compares packed codes with XOR and a
popcount on 64-bit words, a few queries at a time so memory stays bounded.

Two baselines for learned hashes, one data-independent and one learned from data:

- :class:`LSH`: random-hyperplane (sign) hashing (Charikar, 2002). Two vectors at angle
  ``theta`` get the same bit with probability ``1 - theta / pi``.
- :class:`ITQ`: iterative quantisation (Gong and Lazebnik, 2011/2013). PCA to ``n_bits``
  dimensions, then an orthogonal rotation ``R`` chosen to minimise the quantisation loss
  ``||B - V R||_F^2`` with ``B = sign(V R)``.

Both follow scikit-learn's naming: ``fit(x)`` learns from data, ``transform(x)`` returns
boolean codes, fitted attributes end with an underscore. The sign of 0 is taken as +1 (bit
``True``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["ITQ", "LSH", "hamming_distances", "pack_bits"]

# Bytes of XOR-ed words held at once by hamming_distances (queries * database items * 8):
# 2 MiB stays in a typical L2 cache, which was ~1.7x faster than 32 MiB in a measurement.
_CHUNK_BYTES = 2**21

# _POPCOUNT[b] is the number of 1 bits in the byte b.
_POPCOUNT = np.array([bin(b).count("1") for b in range(256)], dtype=np.uint8)  # (256,)

# Weight of each bit inside a byte, most significant first (numpy.packbits' "big" order).
_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.int32)  # (8,)


def _check_matrix(x: object, name: str) -> Tensor:
    """Return ``x`` detached if it is a non-empty 2-D tensor, else raise."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(x.shape)}")
    return x.detach()


def _check_fitted_input(x: object, mean: Tensor) -> Tensor:
    """``x`` as float32 on the CPU, checked to have the fitted mean's number of features."""
    x = _check_matrix(x, "x").cpu().to(torch.float32)
    if x.shape[1] != mean.shape[0]:
        raise ValueError(f"x must have {mean.shape[0]} features (as in fit), got {x.shape[1]}")
    return x


def _signs(x: Tensor) -> Tensor:
    """Elementwise sign in {-1, +1}, in ``x``'s dtype, with sign(0) = +1."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def _check_n_bits(n_bits: object) -> int:
    if isinstance(n_bits, bool) or not isinstance(n_bits, int) or n_bits < 1:
        raise ValueError(f"n_bits must be a positive integer, got {n_bits!r}")
    return n_bits


# --------------------------------------------------------------------------------------------
# Packed codes and Hamming distances
# --------------------------------------------------------------------------------------------


def pack_bits(bits: Tensor) -> Tensor:
    """Pack binary codes eight bits to a byte, like ``numpy.packbits(bits, axis=1)``.

    Bit ``j`` of a code goes to byte ``j // 8``, most significant bit first; when ``n_bits`` is
    not a multiple of 8 the last byte is padded with zeros (which never change a Hamming
    distance, since both codes have them).

    Args:
        bits: Boolean codes, or any numeric tensor holding only 0 and 1.

    Returns:
        The packed codes, uint8, on the CPU.

    Raises:
        TypeError: If ``bits`` is not a tensor.
        ValueError: If ``bits`` is not a non-empty 2-D tensor or holds values other than 0 and 1.

    Shape:
        bits: (N, n_bits). Output: (N, ceil(n_bits / 8)).
    """
    bits = _check_matrix(bits, "bits").cpu()
    if bits.dtype != torch.bool:
        if bits.is_complex() or not ((bits == 0) | (bits == 1)).all():
            raise ValueError("bits must be boolean or contain only 0 and 1")
        bits = bits != 0
    n, n_bits = bits.shape
    n_bytes = (n_bits + 7) // 8
    padded = torch.zeros(n, n_bytes * 8, dtype=torch.int32)  # (N, 8 W)
    padded[:, :n_bits] = bits.to(torch.int32)
    grouped = padded.reshape(n, n_bytes, 8)  # (N, W, 8)
    return (grouped * _BIT_WEIGHTS).sum(dim=2).to(torch.uint8)  # (N, W)


def _popcount_lookup(words: np.ndarray) -> np.ndarray:
    """Number of 1 bits in each uint64 word, byte by byte with the 256-entry table."""
    as_bytes = words.view(np.uint8).reshape(*words.shape, 8)  # (..., 8)
    return _POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)  # (...)


# NumPy >= 2.0 has a popcount ufunc; older versions count through the table.
_popcount = getattr(np, "bitwise_count", _popcount_lookup)


def _as_words(packed: Tensor) -> np.ndarray:
    """View packed codes as 64-bit words, padding each code with zero bytes to a multiple of 8."""
    n, n_bytes = packed.shape
    padded = np.zeros((n, (n_bytes + 7) // 8 * 8), dtype=np.uint8)  # (N, 8 K)
    padded[:, :n_bytes] = packed.numpy()
    return padded.view(np.uint64)  # (N, K)


def hamming_distances(query_packed: Tensor, db_packed: Tensor) -> Tensor:
    """Number of differing bits between every query code and every database code.

    The codes are read as 64-bit words (eight packed bytes at a time); for each pair the words
    are XOR-ed (a 1 bit where the codes differ) and the 1 bits counted (popcount: NumPy's
    ``bitwise_count``, or a 256-entry table per byte on NumPy < 2). Queries are processed in
    chunks of about ``2**21 / (8 N)`` (at least one) so that the temporary arrays stay around
    2 MiB, in cache.

    Args:
        query_packed: Packed query codes from :func:`pack_bits`.
        db_packed: Packed database codes, with the same number of bytes per code.

    Returns:
        Integer (int32) distances on the CPU.

    Raises:
        TypeError: If an argument is not a tensor.
        ValueError: If an argument is not a non-empty 2-D uint8 tensor, or the byte widths
            differ.

    Shape:
        query_packed: (Q, W). db_packed: (N, W). Output: (Q, N).
    """
    query = _check_matrix(query_packed, "query_packed").cpu()
    db = _check_matrix(db_packed, "db_packed").cpu()
    for name, codes in (("query_packed", query), ("db_packed", db)):
        if codes.dtype != torch.uint8:
            raise ValueError(f"{name} must be uint8 packed bits (see pack_bits), got {codes.dtype}")
    if query.shape[1] != db.shape[1]:
        raise ValueError(
            f"query_packed and db_packed must have the same number of bytes per code, got "
            f"{query.shape[1]} and {db.shape[1]}"
        )
    query_words, db_words = _as_words(query), _as_words(db)  # (Q, K), (N, K)
    n_queries, n = query_words.shape[0], db_words.shape[0]
    chunk = max(1, _CHUNK_BYTES // (8 * n))
    out = np.zeros((n_queries, n), dtype=np.int32)  # (Q, N)
    differing = np.empty((min(chunk, n_queries), n), dtype=np.uint64)  # reused buffer
    for start in range(0, n_queries, chunk):
        stop = min(start + chunk, n_queries)
        buffer = differing[: stop - start]  # (q, N)
        for k in range(query_words.shape[1]):  # one 64-bit word of every code at a time
            np.bitwise_xor(query_words[start:stop, k, None], db_words[None, :, k], out=buffer)
            out[start:stop] += _popcount(buffer)
    return torch.from_numpy(out)


# --------------------------------------------------------------------------------------------
# Locality-sensitive hashing with random hyperplanes
# --------------------------------------------------------------------------------------------


class LSH:
    """Random-hyperplane (sign) hashing: bit ``j`` is ``w_j . (x - mean) >= 0``.

    The hyperplane normals ``w_j`` are i.i.d. standard Gaussian vectors, so a random
    hyperplane through the mean separates two centred vectors at angle ``theta`` with
    probability ``theta / pi`` (Charikar, 2002): the expected fraction of equal bits is
    ``1 - theta / pi``, and the Hamming distance estimates the angle. The data are used only
    for their mean.

    Args:
        n_bits: Number of hyperplanes (bits per code).
        seed: Seed of the generator drawing the hyperplanes.

    Attributes:
        mean_: Training mean, shape (D,), set by :meth:`fit`.
        hyperplanes_: Normals as columns, shape (D, n_bits), set by :meth:`fit`.

    Shape:
        fit: x (N, D). transform: x (M, D) -> (M, n_bits) bool.
    """

    def __init__(self, n_bits: int, seed: int = 0) -> None:
        self.n_bits = _check_n_bits(n_bits)
        self.seed = seed
        self.mean_: Tensor | None = None
        self.hyperplanes_: Tensor | None = None

    def fit(self, x: Tensor) -> LSH:
        """Store the training mean and draw ``n_bits`` Gaussian hyperplane normals.

        Args:
            x: Training data, one row per item.

        Returns:
            ``self``.

        Raises:
            TypeError, ValueError: If ``x`` is not a non-empty 2-D tensor.

        Shape:
            x: (N, D).
        """
        x = _check_matrix(x, "x").cpu().to(torch.float32)
        generator = torch.Generator().manual_seed(self.seed)
        self.mean_ = x.mean(dim=0)  # (D,)
        self.hyperplanes_ = torch.randn(x.shape[1], self.n_bits, generator=generator)  # (D, B)
        return self

    def transform(self, x: Tensor) -> Tensor:
        """Hash rows of ``x`` to ``n_bits`` bits: which side of each hyperplane they lie on.

        Args:
            x: Items to hash, with the training data's number of features.

        Returns:
            Boolean codes on the CPU.

        Raises:
            RuntimeError: If the model has not been fitted.
            TypeError, ValueError: If ``x`` is not a non-empty 2-D tensor with D columns.

        Shape:
            x: (M, D). Output: (M, n_bits).
        """
        if self.mean_ is None or self.hyperplanes_ is None:
            raise RuntimeError("LSH is not fitted yet: call fit(x) first")
        x = _check_fitted_input(x, self.mean_)  # (M, D)
        return (x - self.mean_) @ self.hyperplanes_ >= 0  # (M, B)


# --------------------------------------------------------------------------------------------
# Iterative quantisation
# --------------------------------------------------------------------------------------------


class ITQ:
    """Iterative quantisation: PCA to ``n_bits`` dimensions, then a rotation that binarises well.

    With ``V`` the centred data projected on the top ``n_bits`` principal directions, ITQ
    looks for binary codes ``B`` in ``{-1, +1}`` and an orthogonal ``R`` minimising the
    quantisation loss ``||B - V R||_F^2`` (Gong and Lazebnik). It starts from a random
    orthogonal ``R`` and alternates two exact minimisations:

    1. fix ``R``: ``B = sign(V R)``;
    2. fix ``B``: orthogonal Procrustes, with the SVD ``B^T V = S Omega S_hat^T``,
       ``R = S_hat S^T``.

    Neither step can increase the loss, so ``quantisation_losses_`` is non-increasing.

    Args:
        n_bits: Code length, at most the number of features (and of training items).
        n_iter: Number of alternations.
        seed: Seed of the generator drawing the initial rotation.

    Attributes:
        mean_: Training mean, shape (D,).
        components_: Top principal directions as columns, shape (D, n_bits).
        initial_rotation_: The random orthogonal starting ``R``, shape (n_bits, n_bits).
        rotation_: The learned ``R``, shape (n_bits, n_bits).
        quantisation_losses_: ``||sign(V R) - V R||_F^2 / N`` for the initial rotation
            (entry 0) and after each iteration (entries 1 to ``n_iter``).

    Shape:
        fit: x (N, D). transform: x (M, D) -> (M, n_bits) bool.
    """

    def __init__(self, n_bits: int, n_iter: int = 50, seed: int = 0) -> None:
        self.n_bits = _check_n_bits(n_bits)
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
            raise ValueError(f"n_iter must be a non-negative integer, got {n_iter!r}")
        self.n_iter = n_iter
        self.seed = seed
        self.mean_: Tensor | None = None
        self.components_: Tensor | None = None
        self.initial_rotation_: Tensor | None = None
        self.rotation_: Tensor | None = None
        self.quantisation_losses_: list[float] = []

    def fit(self, x: Tensor) -> ITQ:
        """Learn the PCA projection and the rotation from training data.

        Args:
            x: Training data, one row per item.

        Returns:
            ``self``.

        Raises:
            TypeError: If ``x`` is not a tensor.
            ValueError: If ``x`` is not 2-D or ``n_bits`` exceeds its number of features or
                of rows.

        Shape:
            x: (N, D).
        """
        x = _check_matrix(x, "x").cpu().to(torch.float32)
        n, d = x.shape
        if self.n_bits > min(n, d):
            raise ValueError(
                f"n_bits ({self.n_bits}) must be at most the number of features ({d}) and of "
                f"training items ({n}): ITQ first projects onto n_bits principal directions"
            )
        # PCA: top eigenvectors of the covariance, in float64 for a stable eigendecomposition.
        self.mean_ = x.mean(dim=0)  # (D,)
        centred = x - self.mean_  # (N, D)
        covariance = (centred.T @ centred).to(torch.float64) / max(n - 1, 1)  # (D, D)
        _, eigenvectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
        self.components_ = eigenvectors[:, -self.n_bits :].flip(1).to(torch.float32)  # (D, B)
        v = (centred @ self.components_).to(torch.float64)  # (N, B)

        # Random orthogonal start: Q factor of a Gaussian matrix.
        generator = torch.Generator().manual_seed(self.seed)
        gaussian = torch.randn(self.n_bits, self.n_bits, generator=generator, dtype=torch.float64)
        rotation, _ = torch.linalg.qr(gaussian)  # (B, B)
        self.initial_rotation_ = rotation.clone()

        def loss(r: Tensor) -> float:
            projected = v @ r  # (N, B)
            codes = _signs(projected)  # (N, B)
            return (codes - projected).pow(2).sum().item() / n

        self.quantisation_losses_ = [loss(rotation)]
        for _ in range(self.n_iter):
            projected = v @ rotation  # (N, B)
            codes = _signs(projected)  # (N, B): step 1, B = sign(V R)
            s, _, s_hat_t = torch.linalg.svd(codes.T @ v)  # step 2: B^T V = S Omega S_hat^T
            rotation = s_hat_t.T @ s.T  # (B, B): R = S_hat S^T
            self.quantisation_losses_.append(loss(rotation))
        self.rotation_ = rotation
        return self

    def transform(self, x: Tensor) -> Tensor:
        """Binary codes ``sign((x - mean) P R) >= 0`` as booleans.

        Args:
            x: Items to hash, with the training data's number of features.

        Returns:
            Boolean codes on the CPU.

        Raises:
            RuntimeError: If the model has not been fitted.
            TypeError, ValueError: If ``x`` is not a non-empty 2-D tensor with D columns.

        Shape:
            x: (M, D). Output: (M, n_bits).
        """
        if self.mean_ is None or self.components_ is None or self.rotation_ is None:
            raise RuntimeError("ITQ is not fitted yet: call fit(x) first")
        x = _check_fitted_input(x, self.mean_)  # (M, D)
        v = ((x - self.mean_) @ self.components_).to(torch.float64)  # (M, B)
        return v @ self.rotation_ >= 0  # (M, B)
