"""Retrieval by nearest codes: distances, rankings, precision@k, average precision and mAP.

A query's *ranking* is the database ordered by distance to the query's code, nearest first;
a database item is *relevant* when it has the query's label. Euclidean distances come from
``torch.cdist``; Hamming distances from :func:`aeutils.hashing.hamming_distances` on packed bits,
the same code the book uses for fast binary search. Every score is a float64 CPU tensor (one value
per query) or, for :func:`mean_average_precision`, a float; inputs are detached.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aeutils.hashing import hamming_distances, pack_bits
from aeutils.validation import check_choice, check_int, check_tensor

__all__ = [
    "DISTANCE_METRICS",
    "average_precision",
    "mean_average_precision",
    "pairwise_distances",
    "precision_at_k",
    "rank_database",
    "ranked_relevance",
]

DISTANCE_METRICS: tuple[str, ...] = ("euclidean", "hamming")


def _matrix(value: object, name: str) -> Tensor:
    """A non-empty 2-D tensor, detached, on the CPU."""
    return check_tensor(value, name, ndim=2).detach().cpu()


def pairwise_distances(query_codes: Tensor, db_codes: Tensor, metric: str = "euclidean") -> Tensor:
    """Distances between every query code and every database code.

    Args:
        query_codes: Query codes.
        db_codes: Database codes with the same code size.
        metric: ``"euclidean"`` or ``"hamming"``. Hamming distance counts differing bits (not the
            fraction of them, as SciPy does) and needs binary codes: booleans, or values in
            {0, 1} such as ``(torch.sigmoid(z) > 0.5).float()``.

    Returns:
        Float64 CPU tensor of distances.

    Raises:
        TypeError: If an argument is not a tensor.
        ValueError: For unknown metrics, mismatched code sizes or non-binary codes with hamming.

    Shape:
        query_codes: (Q, K). db_codes: (N, K). Output: (Q, N).
    """
    query, db = _matrix(query_codes, "query_codes"), _matrix(db_codes, "db_codes")
    check_choice(metric, "metric", DISTANCE_METRICS)
    if query.shape[1] != db.shape[1]:
        raise ValueError(
            f"query_codes and db_codes must have the same code size, got {query.shape[1]} "
            f"and {db.shape[1]}"
        )
    if metric == "euclidean":
        return torch.cdist(query.to(torch.float64), db.to(torch.float64))  # (Q, N)
    for name, codes in (("query_codes", query), ("db_codes", db)):
        if codes.dtype != torch.bool and not ((codes == 0) | (codes == 1)).all():
            raise ValueError(f'{name} must contain only 0 and 1 for metric="hamming"')
    distances = hamming_distances(pack_bits(query), pack_bits(db))  # (Q, N) int32
    return distances.to(torch.float64)


def rank_database(
    query_codes: Tensor, db_codes: Tensor, metric: str = "euclidean"
) -> tuple[Tensor, Tensor]:
    """Rank the database for every query, nearest first.

    Ties are broken by database index (a stable sort); :func:`average_precision` can use the
    returned sorted distances to treat tied items as one group instead.

    Args:
        query_codes: Query codes.
        db_codes: Database codes.
        metric: ``"euclidean"`` or ``"hamming"`` (see :func:`pairwise_distances`).

    Returns:
        ``(ranking, sorted_distances)``: database indices (int64) and their distances, row by row.

    Raises:
        TypeError, ValueError: As :func:`pairwise_distances`.

    Shape:
        query_codes: (Q, K). db_codes: (N, K). Outputs: (Q, N) each.
    """
    distances = pairwise_distances(query_codes, db_codes, metric)  # (Q, N)
    sorted_distances, ranking = torch.sort(distances, dim=1, stable=True)
    return ranking, sorted_distances


def ranked_relevance(ranking: Tensor, query_labels: Tensor, db_labels: Tensor) -> Tensor:
    """Relevance (same label as the query) of each ranked database item.

    Args:
        ranking: Database indices per query, as returned by :func:`rank_database`.
        query_labels: Label of each query.
        db_labels: Label of each database item.

    Returns:
        Boolean tensor, ``True`` where ``db_labels[ranking[q, r]] == query_labels[q]``.

    Raises:
        TypeError: If an argument is not a tensor.
        ValueError: If the shapes do not fit together.

    Shape:
        ranking: (Q, N). query_labels: (Q,). db_labels: (N,). Output: (Q, N).
    """
    ranking = _matrix(ranking, "ranking")
    query_labels = check_tensor(query_labels, "query_labels", ndim=1).detach().cpu()
    db_labels = check_tensor(db_labels, "db_labels", ndim=1).detach().cpu()
    if ranking.shape != (query_labels.shape[0], db_labels.shape[0]):
        raise ValueError(
            f"ranking must have shape (len(query_labels), len(db_labels)) = "
            f"({query_labels.shape[0]}, {db_labels.shape[0]}), got {tuple(ranking.shape)}"
        )
    return db_labels[ranking] == query_labels[:, None]  # (Q, N)


def precision_at_k(relevant: Tensor, k: int) -> Tensor:
    """Fraction of relevant items among the first ``k`` of each ranking.

    Args:
        relevant: Boolean relevance in ranked order (see :func:`ranked_relevance`).
        k: Cut-off, ``1 <= k <= N``.

    Returns:
        Float64 tensor of precisions.

    Raises:
        TypeError: If ``k`` is not an integer (bools included) or ``relevant`` not a tensor.
        ValueError: If ``k`` is out of range or ``relevant`` is not 2-D.

    Shape:
        relevant: (Q, N). Output: (Q,).
    """
    relevant = _matrix(relevant, "relevant")
    k = check_int(k, "k", minimum=1, maximum=relevant.shape[1])
    return relevant[:, :k].to(torch.float64).mean(dim=1)


def average_precision(relevant: Tensor, sorted_distances: Tensor | None = None) -> Tensor:
    """Average precision of each ranking over the full database.

    ``AP = (1 / n_rel) * sum_r rel_r * precision@r``. When ``sorted_distances`` is given, items with
    equal distance form one group and each relevant item gets the precision at the *end* of its
    group, which is exactly ``sklearn.metrics.average_precision_score(relevant, -distance)``; this
    matters for Hamming distances, where ties are common and breaking them by database index would
    bias the score. A query with no relevant item gets AP = 0.

    Args:
        relevant: Boolean relevance in ranked order (see :func:`ranked_relevance`).
        sorted_distances: The distances in the same ranked order (non-decreasing along each row),
            or None to treat the ranking as strict.

    Returns:
        Float64 tensor of average precisions.

    Raises:
        TypeError: If an argument is not a tensor.
        ValueError: If ``relevant`` is not 2-D, the shapes differ or ``sorted_distances`` is not
            sorted.

    Shape:
        relevant, sorted_distances: (Q, N). Output: (Q,).
    """
    relevant = _matrix(relevant, "relevant").to(torch.bool)
    n = relevant.shape[1]
    hits = relevant.cumsum(dim=1, dtype=torch.float64)  # (Q, N): relevant items in the first r + 1
    positions = torch.arange(1, n + 1, dtype=torch.float64)  # (N,): r + 1
    precision = hits / positions  # (Q, N): precision@(r + 1), the strict ranking's
    if sorted_distances is not None:
        sorted_distances = _matrix(sorted_distances, "sorted_distances")
        if sorted_distances.shape != relevant.shape:
            raise ValueError(
                f"sorted_distances must have the shape of relevant {tuple(relevant.shape)}, "
                f"got {tuple(sorted_distances.shape)}"
            )
        steps = sorted_distances.diff(dim=1)  # (Q, N - 1)
        if (steps < 0).any():
            raise ValueError(
                "sorted_distances must be non-decreasing along each row (ranked order)"
            )
        tied = steps == 0  # (Q, N - 1): position r holds the distance of position r + 1
        if tied.any():  # Hamming distances, say; Euclidean ones are rarely tied
            # Last position of each group of equal distances (groups are contiguous once
            # sorted): the nearest group end at or after r, found by a reversed running minimum.
            is_end = torch.ones_like(relevant)
            is_end[:, :-1] = ~tied
            end_or_n = torch.where(is_end, torch.arange(n), n)  # (Q, N)
            group_end = end_or_n.flip(1).cummin(dim=1).values.flip(1)  # (Q, N)
            precision = hits.gather(1, group_end) / (group_end + 1)  # precision at group ends
    n_relevant = hits[:, -1]  # (Q,)
    total = precision.where(relevant, 0.0).sum(dim=1)
    return torch.where(n_relevant > 0, total / n_relevant.clamp(min=1), 0.0)


def mean_average_precision(
    query_codes: Tensor,
    db_codes: Tensor,
    query_labels: Tensor,
    db_labels: Tensor,
    metric: str = "euclidean",
    chunk_size: int = 1024,
) -> float:
    """Mean over queries of the average precision of retrieving same-label database items.

    The database is ranked by distance (see :func:`rank_database`), relevance is "same label", ties
    are handled as in :func:`average_precision`. If the queries are also in the database, each query
    finds itself at distance 0, which inflates the score; split the data to avoid that.

    Args:
        query_codes: Query codes.
        db_codes: Database codes.
        query_labels: Query labels.
        db_labels: Database labels.
        metric: ``"euclidean"`` or ``"hamming"``.
        chunk_size: Queries processed at once (bounds memory to ``chunk_size * N`` distances).

    Returns:
        mAP in [0, 1].

    Raises:
        TypeError, ValueError: As :func:`pairwise_distances` and :func:`ranked_relevance`.

    Shape:
        query_codes: (Q, K). db_codes: (N, K). query_labels: (Q,). db_labels: (N,). Output: float.
    """
    query_codes = _matrix(query_codes, "query_codes")
    query_labels = check_tensor(query_labels, "query_labels", ndim=1).detach()
    if query_labels.shape[0] != query_codes.shape[0]:
        raise ValueError(
            f"query_labels must have one label per query ({query_codes.shape[0]}), "
            f"got {query_labels.shape[0]}"
        )
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    aps = []
    for start in range(0, query_codes.shape[0], chunk_size):
        stop = start + chunk_size
        ranking, distances = rank_database(query_codes[start:stop], db_codes, metric)
        relevant = ranked_relevance(ranking, query_labels[start:stop], db_labels)
        aps.append(average_precision(relevant, distances))
    return torch.cat(aps).mean().item()
