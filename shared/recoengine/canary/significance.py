"""Statistics for the canary judge and the A/B test, with numpy and ``math`` only.

The serving image must not pay scipy's import cost, so the few tests we need are here, on the
normal distribution of ``normal.py``: the two-proportion z-test, and Mann-Whitney U on binned
data with the normal approximation and tie correction. Binned U is exact for histograms
(Cloud Monitoring returns latencies as distributions, so every value in a bucket is a tie);
raw samples reduce to it by binning on their unique values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from recoengine.canary.normal import ppf, sf


@dataclass(frozen=True)
class ProportionTest:
    """Candidate minus stable: the difference, its CI, and a one-sided p (candidate worse)."""

    rate_stable: float
    rate_candidate: float
    diff: float
    ci_low: float
    ci_high: float
    z: float
    p_greater: float  # H1: candidate rate > stable rate


def two_proportion_test(
    x_stable: int, n_stable: int, x_candidate: int, n_candidate: int, confidence: float = 0.95
) -> ProportionTest:
    """Pooled z-test for the p-value; unpooled Wald interval for the difference.

    Callers must check the sample sizes first: with n = 0 there is nothing to test.
    """
    if n_stable <= 0 or n_candidate <= 0:
        raise ValueError("both groups need at least one observation")
    p1, p2 = x_stable / n_stable, x_candidate / n_candidate
    diff = p2 - p1
    pooled = (x_stable + x_candidate) / (n_stable + n_candidate)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_stable + 1 / n_candidate))
    z = 0.0 if se0 == 0 else diff / se0
    se = math.sqrt(p1 * (1 - p1) / n_stable + p2 * (1 - p2) / n_candidate)
    # Agresti-Caffo style floor so that 0/n vs 0/n still has an honest width.
    se = max(se, math.sqrt(0.25 / (n_stable + 2) / (n_stable + 2) + 0.25 / (n_candidate + 2) ** 2))
    half = ppf(0.5 + confidence / 2) * se
    return ProportionTest(
        rate_stable=p1,
        rate_candidate=p2,
        diff=diff,
        ci_low=diff - half,
        ci_high=diff + half,
        z=z,
        p_greater=sf(z),
    )


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U of candidate vs stable; ``superiority`` = P(cand > stable) + P(tie)/2."""

    u: float
    z: float
    p_greater: float  # H1: candidate values stochastically larger (slower)
    superiority: float
    n_stable: int
    n_candidate: int


def mann_whitney_binned(counts_stable: ArrayLike, counts_candidate: ArrayLike) -> RankTest:
    """U from two histograms on the same bins (each bin is one tie group).

    Normal approximation with tie correction:
    var(U) = n1 n2 / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1))).
    """
    s = np.asarray(counts_stable, dtype=np.float64)
    c = np.asarray(counts_candidate, dtype=np.float64)
    if s.shape != c.shape:
        raise ValueError("histograms must share their bins")
    n1, n2 = float(s.sum()), float(c.sum())
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both groups need at least one observation")
    t = s + c
    n = n1 + n2
    below = np.cumsum(t) - t  # observations in lower bins
    midrank = below + (t + 1) / 2
    rank_sum_c = float((c * midrank).sum())
    u = rank_sum_c - n2 * (n2 + 1) / 2  # pairs where candidate > stable (+ ties/2)
    mean = n1 * n2 / 2
    tie = float((t**3 - t).sum())
    var = n1 * n2 / 12 * ((n + 1) - tie / (n * (n - 1))) if n > 1 else 0.0
    # Continuity correction of half a pair towards the mean.
    z = 0.0 if var <= 0 else (u - mean - 0.5 * np.sign(u - mean)) / math.sqrt(var)
    return RankTest(
        u=u,
        z=float(z),
        p_greater=sf(float(z)),
        superiority=u / (n1 * n2),
        n_stable=int(n1),
        n_candidate=int(n2),
    )


def histogram_quantile(bounds: ArrayLike, counts: ArrayLike, q: float) -> float | None:
    """Quantile of a Cloud-Monitoring-style histogram (underflow, finite buckets, overflow).

    ``counts[i]`` covers ``[bounds[i-1], bounds[i])``; linear interpolation inside a bucket,
    like Prometheus' ``histogram_quantile``. The overflow bucket answers its lower bound.
    """
    b = np.asarray(bounds, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    total = float(c.sum())
    if total <= 0:
        return None
    rank = q * total
    cum = np.cumsum(c)
    i = int(np.searchsorted(cum, rank, side="left"))
    i = min(i, c.size - 1)
    if i == 0:
        return float(b[0])
    if i >= b.size:
        return float(b[-1])
    lo, hi = float(b[i - 1]), float(b[i])
    prev = float(cum[i - 1])
    frac = (rank - prev) / c[i] if c[i] > 0 else 1.0
    return lo + (hi - lo) * float(frac)
