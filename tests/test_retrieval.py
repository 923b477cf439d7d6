"""Tests for aeutils.retrieval against SciPy, scikit-learn and hand examples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.metrics import average_precision_score

from aeutils.retrieval import (
    average_precision,
    mean_average_precision,
    pairwise_distances,
    precision_at_k,
    rank_database,
    ranked_relevance,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_euclidean_distances_and_ranking_match_scipy():
    rng = _rng(1)
    q, db = rng.standard_normal((4, 6)), rng.standard_normal((30, 6))
    got = pairwise_distances(torch.from_numpy(q), torch.from_numpy(db))
    np.testing.assert_allclose(got.numpy(), cdist(q, db), rtol=1e-10)
    ranking, dist = rank_database(torch.from_numpy(q).float(), torch.from_numpy(db).float())
    np.testing.assert_array_equal(ranking.numpy(), np.argsort(cdist(q, db), axis=1))
    assert (dist.diff(dim=1) >= 0).all()


def test_hamming_distances_and_ranking_match_scipy():
    rng = _rng(2)
    q = rng.integers(0, 2, (5, 16)).astype(np.float32)
    db = rng.integers(0, 2, (40, 16)).astype(np.float32)
    oracle = cdist(q, db, "hamming")  # fraction of differing bits
    got = pairwise_distances(torch.from_numpy(q), torch.from_numpy(db), metric="hamming")
    np.testing.assert_allclose(got.numpy(), oracle * 16)
    ranking, _ = rank_database(torch.from_numpy(q), torch.from_numpy(db), metric="hamming")
    np.testing.assert_array_equal(ranking.numpy(), np.argsort(oracle, axis=1, kind="stable"))


def test_retrieval_validation():
    with pytest.raises(ValueError, match='must contain only 0 and 1 for metric="hamming"'):
        pairwise_distances(torch.rand(2, 4), torch.ones(3, 4), metric="hamming")
    with pytest.raises(ValueError, match=r"metric must be one of \('euclidean', 'hamming'\)"):
        pairwise_distances(torch.rand(2, 4), torch.rand(3, 4), metric="cosine")
    with pytest.raises(ValueError, match="same code size, got 4 and 5"):
        pairwise_distances(torch.rand(2, 4), torch.rand(3, 5))
    with pytest.raises(ValueError, match="query_codes must have 2 dimensions"):
        pairwise_distances(torch.rand(4), torch.rand(3, 4))
    with pytest.raises(ValueError, match=r"ranking must have shape .* = \(2, 3\)"):
        ranked_relevance(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2), torch.zeros(3))
    with pytest.raises(TypeError, match=r"query_codes must be a torch\.Tensor, got ndarray"):
        pairwise_distances(np.zeros((2, 4)), torch.zeros(3, 4))
    relevant = torch.ones(2, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"sorted_distances must have the shape of relevant"):
        average_precision(relevant, torch.zeros(2, 3))


def test_precision_at_k_and_average_precision_on_hand_example():
    relevant = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    np.testing.assert_allclose(precision_at_k(relevant, 1).numpy(), [1, 0, 0])
    np.testing.assert_allclose(precision_at_k(relevant, 3).numpy(), [2 / 3, 0, 0])
    np.testing.assert_allclose(precision_at_k(relevant, 5).numpy(), [3 / 5, 1 / 5, 0])
    # AP = mean of precision at each relevant rank; no relevant item -> 0.
    np.testing.assert_allclose(
        average_precision(relevant).numpy(), [(1 + 2 / 3 + 3 / 4) / 3, 1 / 5, 0.0]
    )
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 5\], got 6"):
        precision_at_k(relevant, 6)
    with pytest.raises(TypeError, match="k must be an integer, got bool"):
        precision_at_k(relevant, True)
    with pytest.raises(ValueError, match="non-decreasing"):
        average_precision(relevant, torch.tensor([[3.0, 2, 1, 0, 0]] * 3))


def _labelled_codes(metric: str, seed: int = 3):
    rng = _rng(seed)
    db_labels, q_labels = rng.integers(0, 3, 60), rng.integers(0, 3, 8)
    if metric == "hamming":  # 6-bit codes biased by class: many ties
        proto = rng.integers(0, 2, (3, 6))
        flip_db, flip_q = rng.random((60, 6)) < 0.25, rng.random((8, 6)) < 0.25
        db = np.abs(proto[db_labels] - flip_db).astype(np.float32)
        q = np.abs(proto[q_labels] - flip_q).astype(np.float32)
    else:
        centers = rng.standard_normal((3, 4)) * 1.5
        db = centers[db_labels] + rng.standard_normal((60, 4))
        q = centers[q_labels] + rng.standard_normal((8, 4))
    return (torch.from_numpy(a) for a in (q, db, q_labels, db_labels))


@pytest.mark.parametrize("metric", ["euclidean", "hamming"])
def test_average_precision_matches_sklearn_per_query(metric):
    q, db, q_labels, db_labels = _labelled_codes(metric)
    ranking, dist = rank_database(q, db, metric=metric)
    got = average_precision(ranked_relevance(ranking, q_labels, db_labels), dist)
    oracle_dist = cdist(q.numpy(), db.numpy(), "hamming" if metric == "hamming" else "euclidean")
    expected = [
        average_precision_score(db_labels.numpy() == q_labels.numpy()[i], -oracle_dist[i])
        for i in range(len(q_labels))
    ]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    map_value = mean_average_precision(q, db, q_labels, db_labels, metric=metric, chunk_size=3)
    assert map_value == pytest.approx(np.mean(expected), rel=1e-10)
    if metric == "hamming":
        assert len(np.unique(oracle_dist)) < 8  # the example really has ties


def test_mean_average_precision_validation():
    q, db, q_labels, db_labels = _labelled_codes("euclidean")
    with pytest.raises(ValueError, match=r"one label per query \(8\), got 7"):
        mean_average_precision(q, db, q_labels[:7], db_labels)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        mean_average_precision(q, db, q_labels, db_labels, chunk_size=0)


def test_hamming_accepts_boolean_codes_and_equals_the_float_form():
    rng = _rng(5)
    q, db = rng.random((6, 21)) < 0.5, rng.random((50, 21)) < 0.5  # 21 bits: not whole bytes
    as_bool = pairwise_distances(torch.from_numpy(q), torch.from_numpy(db), metric="hamming")
    as_float = pairwise_distances(
        torch.from_numpy(q).double(), torch.from_numpy(db).double(), metric="hamming"
    )
    assert as_bool.dtype == torch.float64
    np.testing.assert_array_equal(as_bool.numpy(), np.rint(cdist(q, db, "hamming") * 21))
    assert torch.equal(as_bool, as_float)
