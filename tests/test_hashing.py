"""Tests for aeutils.hashing against NumPy, SciPy, scikit-learn's estimator checks, closed forms
and direct recomputation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from aeutils.hashing import ITQ, LSH, _popcount_lookup, hamming_distances, pack_bits


def _random_bits(n: int, n_bits: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, n_bits)) < 0.5  # (n, n_bits) bool


def _structured_data(n: int = 2000, d: int = 24, seed: int = 0) -> torch.Tensor:
    """Correlated Gaussian data with a decaying spectrum and a non-zero mean."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) * np.linspace(3.0, 0.2, d)[:, None]
    x = rng.standard_normal((n, d)) @ mixing + 5.0
    return torch.from_numpy(x.astype(np.float32))


def _hypercube_data(n: int = 2000, d: int = 24, k: int = 8, seed: int = 0) -> torch.Tensor:
    """Noisy corners of a randomly rotated k-cube inside R^d, shifted off the origin.

    Some rotation of its top k principal components quantises to +-1 with error about
    ``k * 0.1**2`` per item, so ITQ has a clear optimum to find.
    """
    rng = np.random.default_rng(seed)
    corners = np.where(rng.random((n, k)) < 0.5, -1.0, 1.0) + 0.1 * rng.standard_normal((n, k))
    rotation, _ = np.linalg.qr(rng.standard_normal((k, k)))
    basis, _ = np.linalg.qr(rng.standard_normal((d, k)))  # (d, k) orthonormal columns
    x = corners @ rotation @ basis.T + 0.01 * rng.standard_normal((n, d)) + 5.0
    return torch.from_numpy(x.astype(np.float32))


# ------------------------------------------------------------------ pack_bits


@pytest.mark.parametrize("n_bits", [1, 7, 8, 13, 64, 77])
@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.float32, torch.int64])
def test_pack_bits_matches_numpy_packbits(n_bits, dtype):
    bits = _random_bits(50, n_bits, seed=n_bits)
    packed = pack_bits(torch.from_numpy(bits).to(dtype))
    assert packed.dtype == torch.uint8
    np.testing.assert_array_equal(packed.numpy(), np.packbits(bits, axis=1))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (torch.tensor([[0, 2, 1]]), "only 0 and 1"),
        (torch.tensor([[0.5, 1.0]]), "only 0 and 1"),
        (torch.ones(3, dtype=torch.bool), "must be 2-D"),
        (torch.ones(3, 0, dtype=torch.bool), "non-empty"),
    ],
)
def test_pack_bits_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        pack_bits(bad)


# ------------------------------------------------------------------ hamming_distances


@pytest.mark.parametrize("n_bits", [5, 13, 37, 131])
def test_hamming_distances_match_scipy_on_unpacked_bits(n_bits):
    queries = _random_bits(30, n_bits, seed=1)
    db = _random_bits(200, n_bits, seed=2)
    expected = cdist(queries, db, metric="hamming") * n_bits  # SciPy gives the fraction
    got = hamming_distances(pack_bits(torch.from_numpy(queries)), pack_bits(torch.from_numpy(db)))
    assert got.shape == (30, 200)
    assert not got.is_floating_point()
    np.testing.assert_array_equal(got.numpy(), np.rint(expected).astype(np.int64))


def test_popcount_lookup_table_counts_bits_of_64_bit_words():
    words = np.random.default_rng(5).integers(0, 2**64, size=(7, 3), dtype=np.uint64)
    words[0, 0], words[0, 1] = 0, np.iinfo(np.uint64).max
    expected = np.vectorize(lambda w: bin(int(w)).count("1"))(words)
    np.testing.assert_array_equal(_popcount_lookup(words), expected)


def test_hamming_distances_chunking_gives_the_same_result(monkeypatch):
    queries = pack_bits(torch.from_numpy(_random_bits(40, 21, seed=3)))
    db = pack_bits(torch.from_numpy(_random_bits(90, 21, seed=4)))
    whole = hamming_distances(queries, db)
    monkeypatch.setattr("aeutils.hashing._CHUNK_BYTES", 1)  # one query per chunk
    assert torch.equal(hamming_distances(queries, db), whole)


def test_hamming_distances_rejects_bad_input():
    packed = pack_bits(torch.ones(4, 16, dtype=torch.bool))  # (4, 2)
    with pytest.raises(ValueError, match="must be uint8 packed bits"):
        hamming_distances(packed.float(), packed)
    with pytest.raises(ValueError, match="same number of bytes per code"):
        hamming_distances(packed, packed[:, :1])
    with pytest.raises(ValueError, match="must be 2-D"):
        hamming_distances(packed[0], packed)


# ------------------------------------------------------------------ LSH


@pytest.mark.parametrize("theta", [math.pi / 6, math.pi / 3, math.pi / 2, 2 * math.pi / 3])
def test_lsh_collision_rate_matches_one_minus_theta_over_pi(theta):
    # Two unit vectors at angle theta in a random 2-D plane of R^10; the fit data are the
    # four vectors +-u, +-v, whose mean is exactly 0, so centring leaves them unchanged.
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((10, 2)))  # (10, 2) orthonormal
    u = basis[:, 0]
    v = math.cos(theta) * basis[:, 0] + math.sin(theta) * basis[:, 1]
    x = torch.from_numpy(np.stack([u, v, -u, -v]).astype(np.float32))
    n_bits = 20_000
    codes = LSH(n_bits, seed=1).fit(x).transform(x[:2])  # (2, n_bits)
    rate = (codes[0] == codes[1]).double().mean().item()
    expected = 1 - theta / math.pi
    # Binomial standard deviation is at most 0.0036 at 20,000 bits; 0.02 is > 5 sigma, while
    # neighbouring angles in the grid differ by 1/6 in expected rate.
    assert abs(rate - expected) < 0.02


def test_lsh_centres_on_the_training_mean():
    x = _structured_data()  # mean ~5 in every coordinate
    codes = LSH(256, seed=0).fit(x).transform(x)
    # Without centring nearly every item would fall on the same side of most hyperplanes.
    balance = codes.double().mean(dim=0)  # (256,) fraction of ones per bit
    assert (balance - 0.5).abs().max() < 0.2


def test_lsh_is_reproducible_and_rejects_bad_input():
    x = _structured_data(n=100, d=8)
    a = LSH(16, seed=3).fit(x).transform(x)
    b = LSH(16, seed=3).fit(x).transform(x)
    assert a.dtype == torch.bool and a.shape == (100, 16)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="n_bits must be a positive integer, got 0"):
        LSH(0).fit(x)  # parameters are checked by fit, as in scikit-learn
    with pytest.raises(TypeError, match="n_bits must be an integer, got bool"):
        LSH(True).fit(x)
    with pytest.raises(ValueError, match="X has 5 features, but LSH is expecting 8 features"):
        LSH(16).fit(x).transform(x[:, :5])
    with pytest.raises(NotFittedError, match="LSH instance is not fitted yet"):
        LSH(16).transform(x)


# ------------------------------------------------------------------ ITQ


def _quantisation_error(v: torch.Tensor, rotation: torch.Tensor) -> float:
    projected = v @ rotation
    return (torch.sign(projected) - projected).pow(2).sum().item() / v.shape[0]


@pytest.fixture(scope="module")
def fitted_itq():
    x = _hypercube_data()
    return x, ITQ(8, n_iter=30, seed=0).fit(x)


def test_itq_rotation_is_orthogonal(fitted_itq):
    _, itq = fitted_itq
    rotation = itq.rotation_.numpy()
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(8), rtol=0, atol=1e-10)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(8), rtol=0, atol=1e-10)


def test_itq_loss_is_non_increasing(fitted_itq):
    _, itq = fitted_itq
    losses = np.array(itq.quantisation_losses_)
    assert losses.shape == (31,)
    assert (np.diff(losses) <= 1e-9 * losses[0]).all()
    assert losses[-1] < losses[0]


def test_itq_beats_pca_sign_codes_with_the_random_rotation(fitted_itq):
    x, itq = fitted_itq
    # Recompute V independently: the projection onto the top 8 principal directions (SVD).
    centred = (x - x.mean(dim=0)).double()
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    v_svd = centred @ vh[:8].T  # (N, 8), columns equal to the model's up to sign
    v_model = centred @ itq.components_.double()
    np.testing.assert_allclose(v_model.abs().numpy(), v_svd.abs().numpy(), rtol=1e-3, atol=1e-2)
    initial = _quantisation_error(v_model, itq.initial_rotation_)
    learned = _quantisation_error(v_model, itq.rotation_)
    assert learned < 0.5 * initial
    np.testing.assert_allclose(learned, itq.quantisation_losses_[-1], rtol=1e-5)
    # transform gives exactly the signs of V R.
    expected_codes = v_model @ itq.rotation_ >= 0
    assert (itq.transform(x) == expected_codes).double().mean() > 0.999


def test_itq_rejects_bad_input():
    x = _structured_data(n=50, d=6)
    with pytest.raises(ValueError, match=r"n_bits \(8\) must be at most the number of features"):
        ITQ(8).fit(x)
    with pytest.raises(ValueError, match="n_iter must be a non-negative integer, got -1"):
        ITQ(4, n_iter=-1).fit(x)
    with pytest.raises(TypeError, match="seed must be an integer, got float"):
        ITQ(4, seed=0.5).fit(x)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        ITQ(4).fit(x[0])
    with pytest.raises(NotFittedError, match="ITQ instance is not fitted yet"):
        ITQ(4).transform(x)


# ------------------------------------------------------------------ scikit-learn API


# scikit-learn's own suite, every check on both hashers. ITQ gets 2 bits because ITQ needs
# n_bits <= n_features and the suite's smallest data sets have 2 features; no check is skipped
# (scikit-learn skips its array-API check itself unless SCIPY_ARRAY_API=1 is set).
@parametrize_with_checks([LSH(n_bits=4), ITQ(n_bits=2, n_iter=5)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("hasher", [LSH(n_bits=6, seed=2), ITQ(n_bits=6, n_iter=10, seed=2)])
def test_numpy_arrays_give_the_codes_of_the_same_tensor(hasher):
    x = _structured_data(n=200, d=10)
    from_tensor = clone(hasher).fit(x).transform(x)
    from_numpy = clone(hasher).fit(x.numpy()).transform(x.numpy().astype(np.float64))
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == bool
    np.testing.assert_array_equal(from_numpy, from_tensor.numpy())


def test_hashers_work_in_a_pipeline_and_a_grid_search():
    x = _hypercube_data(n=300, d=12, k=4).numpy()
    pipeline = make_pipeline(StandardScaler(), ITQ(n_bits=4, n_iter=10))
    codes = pipeline.fit(x).transform(x)
    assert codes.shape == (300, 4) and codes.dtype == bool
    assert list(pipeline.get_feature_names_out()) == ["itq0", "itq1", "itq2", "itq3"]
    assert list(LSH(n_bits=2).fit(x).get_feature_names_out()) == ["lsh0", "lsh1"]

    def balance(estimator, x_eval, y=None):  # higher when every bit splits the data evenly
        return -float(np.abs(estimator.transform(x_eval).mean(axis=0) - 0.5).max())

    search = GridSearchCV(LSH(n_bits=8), {"seed": [0, 1, 2]}, scoring=balance, cv=3).fit(x)
    assert search.best_params_["seed"] in (0, 1, 2)
    assert search.best_estimator_.n_bits == 8
