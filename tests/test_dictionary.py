"""Tests for aeutils.dictionary against independent oracles: brute-force NumPy loops for the
cosines and MMCS, every permutation for the one-to-one matching, known cases (a permuted,
sign-flipped and rescaled dictionary scores 1, an orthogonal one 0), and the laws of the sampler
(probabilities, magnitudes, seeds)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from aeutils.dictionary import (
    SyntheticDictionary,
    cosine_similarities,
    matching_score,
    mean_max_cosine_similarity,
    one_to_one_matching,
    synthetic_dictionary,
)
from aeutils.losses import sparse_autoencoder_objective
from aeutils.models import SparseAutoencoder
from aeutils.train import TrainConfig, fit


def _brute_force_mmcs(learned: np.ndarray, true: np.ndarray) -> float:
    """For each true row, the largest |cosine| with a learned row, averaged: plain loops."""
    best = []
    for t in true:
        cosines = []
        for row in learned:
            dot = sum(a * b for a, b in zip(row, t, strict=True))
            cosines.append(abs(dot) / (math.sqrt((row**2).sum()) * math.sqrt((t**2).sum())))
        best.append(max(cosines))
    return float(np.mean(best))


def _brute_force_matching(learned: np.ndarray, true: np.ndarray) -> float:
    """The best one-to-one assignment by trying every injective map (small sizes only)."""
    cos = np.abs(
        (learned / np.linalg.norm(learned, axis=1, keepdims=True))
        @ (true / np.linalg.norm(true, axis=1, keepdims=True)).T
    )  # (n_learned, n_true)
    n_learned, n_true = cos.shape
    if n_learned >= n_true:
        best = max(
            sum(cos[p[j], j] for j in range(n_true))
            for p in itertools.permutations(range(n_learned), n_true)
        )
    else:  # each learned row takes a distinct true one; the others score 0
        best = max(
            sum(cos[i, p[i]] for i in range(n_learned))
            for p in itertools.permutations(range(n_true), n_learned)
        )
    return best / n_true


@pytest.mark.parametrize(("n_learned", "n_true", "d"), [(7, 5, 4), (3, 6, 5), (9, 9, 3)])
def test_mmcs_and_cosines_against_brute_force(n_learned: int, n_true: int, d: int) -> None:
    rng = np.random.default_rng(n_learned * 10 + n_true)
    learned = rng.normal(size=(n_learned, d)) * rng.uniform(0.1, 5, size=(n_learned, 1))
    true = rng.normal(size=(n_true, d))
    expected = _brute_force_mmcs(learned, true)
    assert mean_max_cosine_similarity(torch.from_numpy(learned), torch.from_numpy(true)) == (
        pytest.approx(expected, abs=1e-12)
    )
    assert mean_max_cosine_similarity(learned.astype(np.float32), true) == pytest.approx(
        expected, abs=1e-6
    )  # arrays work too, in any float type
    cos = cosine_similarities(torch.from_numpy(learned), torch.from_numpy(true))
    assert cos.shape == (n_learned, n_true) and cos.dtype == torch.float64
    i, j = 1, 2
    direct = abs(learned[i] @ true[j]) / (np.linalg.norm(learned[i]) * np.linalg.norm(true[j]))
    assert cos[i, j].item() == pytest.approx(direct, abs=1e-12)


@pytest.mark.parametrize(("n_learned", "n_true"), [(6, 4), (4, 4), (3, 5), (7, 6)])
def test_matching_score_against_every_assignment(n_learned: int, n_true: int) -> None:
    rng = np.random.default_rng(n_learned + 7 * n_true)
    learned, true = rng.normal(size=(n_learned, 3)), rng.normal(size=(n_true, 3))
    score = matching_score(torch.from_numpy(learned), torch.from_numpy(true))
    assert score == pytest.approx(_brute_force_matching(learned, true), abs=1e-12)
    assert score <= mean_max_cosine_similarity(learned, true) + 1e-12
    index, cosine = one_to_one_matching(torch.from_numpy(learned), torch.from_numpy(true))
    assert index.shape == (n_true,) and cosine.shape == (n_true,)
    matched = index[index >= 0]
    assert len(set(matched.tolist())) == len(matched) == min(n_learned, n_true)  # one-to-one
    assert (cosine[index < 0] == 0).all()
    cos = cosine_similarities(learned, true)
    for j in np.flatnonzero(index.numpy() >= 0):
        assert cosine[j].item() == pytest.approx(cos[index[j], j].item())


def test_permuted_sign_flipped_rescaled_dictionary_scores_one() -> None:
    true = synthetic_dictionary(input_size=16, n_features=24, seed=3).features  # (24, 16)
    order = torch.randperm(24, generator=torch.Generator().manual_seed(0))
    signs = torch.where(torch.arange(24) % 3 == 0, -1.0, 1.0)[:, None]
    learned = true[order] * signs * torch.linspace(0.2, 7.0, 24)[:, None]
    assert mean_max_cosine_similarity(learned, true) == pytest.approx(1.0, abs=1e-6)
    assert matching_score(learned, true) == pytest.approx(1.0, abs=1e-6)
    index, _ = one_to_one_matching(learned, true)
    assert torch.equal(order[index], torch.arange(24))  # it finds the permutation back
    extra = torch.cat([learned, torch.randn(10, 16)])  # more learned rows than true ones
    assert mean_max_cosine_similarity(extra, true) == pytest.approx(1.0, abs=1e-6)


def test_orthogonal_dictionary_scores_zero_and_duplicates_do_not_match_twice() -> None:
    eye = torch.eye(6)
    assert mean_max_cosine_similarity(eye[:3], eye[3:]) == 0.0
    assert matching_score(eye[:3], eye[3:]) == 0.0
    # One learned direction equal to both true ones' best match: MMCS counts it twice,
    # the one-to-one matching once.
    true = torch.tensor([[1.0, 0.0], [0.8, 0.6]])
    learned = torch.tensor([[0.9, 0.3]])
    cos = cosine_similarities(learned, true)[0]
    assert mean_max_cosine_similarity(learned, true) == pytest.approx(cos.mean().item())
    assert matching_score(learned, true) == pytest.approx(cos.max().item() / 2)
    assert one_to_one_matching(learned, true)[0].tolist() == [-1, 0]


def test_score_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match=r"same number of columns .* got 4 and 5"):
        mean_max_cosine_similarity(torch.ones(3, 4), torch.ones(3, 5))
    with pytest.raises(ValueError, match=r"learned must have a non-zero norm in every row .* 1 "):
        matching_score(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.eye(2))
    with pytest.raises(ValueError, match=r"true must have 2 dimensions, got shape \(4,\)"):
        mean_max_cosine_similarity(torch.eye(4), torch.ones(4))
    with pytest.raises(TypeError, match=r"learned must be a torch.Tensor, got list"):
        mean_max_cosine_similarity([[1.0]], torch.ones(1, 1))
    with pytest.raises(TypeError, match=r"true must be a real tensor, got dtype torch.bool"):
        cosine_similarities(torch.eye(2), torch.eye(2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"learned must be a non-empty batch"):
        mean_max_cosine_similarity(torch.ones(0, 3), torch.ones(2, 3))


def test_synthetic_dictionary_features_and_probabilities() -> None:
    truth = synthetic_dictionary(input_size=32, n_features=64, mean_active=4.0, decay=0.97)
    assert truth.features.shape == (64, 32) and truth.features.dtype == torch.float32
    torch.testing.assert_close(truth.features.norm(dim=1), torch.ones(64))
    expected = 0.97 ** np.arange(64)
    expected *= 4.0 / expected.sum()  # proportional to decay**i, summing to mean_active
    np.testing.assert_allclose(truth.probabilities.numpy(), expected, rtol=1e-6)
    assert truth.mean_active == pytest.approx(4.0)
    assert (truth.n_features, truth.input_size) == (64, 32)
    same = synthetic_dictionary(input_size=32, n_features=64, mean_active=4.0, decay=0.97)
    assert torch.equal(same.features, truth.features)  # seeded
    other = synthetic_dictionary(input_size=32, n_features=64, mean_active=4.0, seed=1)
    assert not torch.equal(other.features, truth.features)
    gram = truth.features @ truth.features.T - torch.eye(64)  # random directions, not aligned
    assert gram.abs().max() < 0.8


def test_samples_follow_the_dictionary_and_the_probabilities() -> None:
    truth = synthetic_dictionary(input_size=8, n_features=20, mean_active=3.0, decay=0.9)
    x, codes = truth.sample(40_000, seed=5)  # more than one chunk of 16,384
    assert x.shape == (40_000, 8) and codes.shape == (40_000, 20)
    torch.testing.assert_close(x, codes @ truth.features)
    active = codes > 0
    frequency = active.double().mean(dim=0).numpy()  # (n,) against p_i, 5 standard errors
    p = truth.probabilities.double().numpy()
    assert (np.abs(frequency - p) < 5 * np.sqrt(p * (1 - p) / 40_000)).all()
    assert active.sum(dim=1).double().mean().item() == pytest.approx(3.0, abs=0.05)
    values = codes[active]
    assert values.min() >= 0 and values.max() < 1
    assert values.mean().item() == pytest.approx(0.5, abs=0.01)  # uniform on [0, 1)
    again, again_codes = truth.sample(40_000, seed=5)
    assert torch.equal(again, x) and torch.equal(again_codes, codes)
    assert not torch.equal(truth.sample(100, seed=6)[1], codes[:100])


def test_dictionary_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"mean_active must be at most 2\.71 .* got 3"):
        synthetic_dictionary(input_size=4, n_features=3, mean_active=3.0, decay=0.9)
    with pytest.raises(ValueError, match=r"decay must be a number in \(0, 1\], got 1\.5"):
        synthetic_dictionary(input_size=4, n_features=3, decay=1.5)
    with pytest.raises(ValueError, match=r"n_features must be a positive integer, got 0"):
        synthetic_dictionary(input_size=4, n_features=0)
    with pytest.raises(TypeError, match=r"input_size must be an integer, got bool"):
        synthetic_dictionary(input_size=True, n_features=3)
    with pytest.raises(ValueError, match=r"mean_active must be a finite number > 0, got 0\.0"):
        synthetic_dictionary(input_size=4, n_features=3, mean_active=0)
    with pytest.raises(ValueError, match=r"probabilities must have one entry per feature \(3\)"):
        SyntheticDictionary(torch.eye(3), torch.full((2,), 0.5))
    with pytest.raises(ValueError, match=r"probabilities must lie in \[0, 1\]"):
        SyntheticDictionary(torch.eye(3), torch.tensor([0.5, 1.5, 0.0]))
    with pytest.raises(ValueError, match=r"n_samples must be a positive integer, got 0"):
        synthetic_dictionary(input_size=4, n_features=3, mean_active=1.0).sample(0, seed=0)


def test_a_top_k_sparse_autoencoder_recovers_a_small_known_dictionary() -> None:
    truth = synthetic_dictionary(input_size=12, n_features=16, mean_active=2.0, decay=0.95)
    x, _ = truth.sample(8192, seed=0)
    torch.manual_seed(0)
    model = SparseAutoencoder(input_size=12, dictionary_size=32, k=2)
    model.init_pre_bias_(x[:2048])
    before = mean_max_cosine_similarity(model.dictionary, truth.features)
    config = TrainConfig(epochs=12, lr=3e-3, batch_size=256, progress=False, device="cpu")
    fit(model, x, sparse_autoencoder_objective(dead_after=2048), config)
    after = mean_max_cosine_similarity(model.dictionary, truth.features)
    assert before < 0.8 < 0.95 < after, (before, after)
