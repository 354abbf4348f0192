"""Ranking metrics with known answers on hand-made cases (see tests/recommender/test_metrics.py)."""

from __future__ import annotations

import math

import numpy as np


def rank_of(scores: np.ndarray, target: int, exclude: np.ndarray) -> float:
    """0-based rank of ``target`` among all items not in ``exclude``.

    Ties count half (the expected rank under a random tie-break), so a model that scores
    everything equally is not rewarded for the target's position in the catalog.
    """
    s = scores.astype(np.float64, copy=True)
    s[exclude] = -np.inf
    t = s[target]
    greater = int(np.count_nonzero(s > t))
    ties = int(np.count_nonzero(s == t)) - 1
    return greater + 0.5 * ties


def hit_at(rank: float | np.ndarray, k: int) -> np.ndarray:
    """HR@k: 1 when the held-out item ranks in the top k."""
    return (np.asarray(rank) < k).astype(np.float64)


def ndcg_at(rank: float | np.ndarray, k: int) -> np.ndarray:
    """NDCG@k with one relevant item: 1/log2(rank + 2) inside the top k, else 0."""
    r = np.asarray(rank, dtype=np.float64)
    return np.where(r < k, 1.0 / np.log2(r + 2.0), 0.0)


def sampled_rank(scores: np.ndarray, target: int, negatives: np.ndarray) -> float:
    """Rank of ``target`` among itself and the sampled ``negatives`` (ties count half)."""
    t = scores[target]
    neg = scores[negatives]
    return float(np.count_nonzero(neg > t) + 0.5 * np.count_nonzero(neg == t))


def expected_sampled_hit(rank: float, pool: int, n_negatives: int = 99, k: int = 2) -> float:
    """Chance that ``target`` lands in the top ``k`` among ``n_negatives`` drawn uniformly without
    replacement from the ``pool`` candidate items, ``rank`` of which score above it: fewer than
    ``k`` of those may be drawn (hypergeometric). It is sampled HR@k without the noise of one
    particular draw; with 99 negatives, HR@2 behaves like full-ranking HR@25."""
    above = min(max(round(rank), 0), pool)
    n = min(n_negatives, pool)
    total = math.comb(pool, n)
    hits = sum(math.comb(above, x) * math.comb(pool - above, n - x) for x in range(k))
    return hits / total


def candidate_ranks(
    scores: np.ndarray, target_score: float, pool: int, negative_scores: np.ndarray
) -> tuple[float, float]:
    """``rank_of`` and ``sampled_rank`` for a model that scored only its candidates (``scores``,
    none of them in the history; -inf where filtered out): every unscored item ranks below
    every scored one, in random order, so ties among them count half. ``target_score`` and
    ``negative_scores`` are -inf for items the model did not score."""
    finite = scores[np.isfinite(scores)]
    if np.isfinite(target_score):
        greater = np.count_nonzero(finite > target_score)
        rank = float(greater + 0.5 * (np.count_nonzero(finite == target_score) - 1))
    else:
        rank = len(finite) + 0.5 * (pool - len(finite))
    sampled = np.count_nonzero(negative_scores > target_score) + 0.5 * np.count_nonzero(
        negative_scores == target_score
    )
    return rank, float(sampled)


def sample_negatives(
    rng: np.random.Generator, n_items: int, forbidden: np.ndarray, n: int = 99
) -> np.ndarray:
    """``n`` distinct items outside ``forbidden`` (the user's history and held-out item),
    uniformly: drawn by rejection, so the cost follows ``n`` and not the catalog (a history
    covering most of a small catalog falls back to drawing from the complement)."""
    banned = np.unique(forbidden)
    free = n_items - len(banned)
    if free <= 4 * n:
        allowed = np.ones(n_items, dtype=bool)
        allowed[banned] = False
        return rng.choice(np.flatnonzero(allowed), size=min(n, free), replace=False)
    chosen: list[int] = []
    taken = set(banned.tolist())
    while len(chosen) < n:
        for x in rng.integers(0, n_items, size=2 * (n - len(chosen))).tolist():
            if x not in taken:
                taken.add(x)
                chosen.append(x)
                if len(chosen) == n:
                    break
    return np.asarray(chosen, dtype=np.int64)
