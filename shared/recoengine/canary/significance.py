"""Statistics for the canary judge and the A/B test, with numpy and ``math`` only.

The serving image must not pay scipy's import cost, so the few distributions we need are here:
the normal CDF (``math.erf``) and its inverse, the two-proportion z-test, and Mann-Whitney U on
binned data with the normal approximation and tie correction. Binned U is exact for histograms
(Cloud Monitoring returns latencies as distributions, so every value in a bucket is a tie) and
raw samples reduce to it by binning on their unique values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

_SQRT2 = math.sqrt(2.0)


def norm_cdf(x: float) -> float:
    # erfc keeps the lower tail accurate (1 + erf(x) cancels for x << 0).
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_sf(x: float) -> float:
    """Upper tail, accurate far out (``1 - cdf`` would round to 0 around x = 8)."""
    return 0.5 * math.erfc(x / _SQRT2)


def norm_ppf(p: float) -> float:
    """Inverse normal CDF: Acklam's rational approximation refined by two Newton steps."""
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        raise ValueError(f"probability out of range: {p}")
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
         -30.66479806614716, 2.506628277459239)  # fmt: skip
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
         -13.28068155288572)  # fmt: skip
    c = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
         4.374664141464968, 2.938163982698783)  # fmt: skip
    d = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    elif p <= 1 - lo:
        q = p - 0.5
        r = q * q
        x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (
            ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1
        )
    else:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    for _ in range(2):
        err = norm_cdf(x) - p
        x -= err * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x


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
    p_two_sided: float


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
    half = norm_ppf(0.5 + confidence / 2) * se
    return ProportionTest(
        rate_stable=p1,
        rate_candidate=p2,
        diff=diff,
        ci_low=diff - half,
        ci_high=diff + half,
        z=z,
        p_greater=norm_sf(z),
        p_two_sided=min(1.0, 2 * norm_sf(abs(z))),
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
        p_greater=norm_sf(float(z)),
        superiority=u / (n1 * n2),
        n_stable=int(n1),
        n_candidate=int(n2),
    )


def mann_whitney(stable: ArrayLike, candidate: ArrayLike) -> RankTest:
    """U on raw samples: bin on the unique values, then use the binned form."""
    a = np.asarray(stable, dtype=np.float64).ravel()
    b = np.asarray(candidate, dtype=np.float64).ravel()
    values, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    ca = np.bincount(inverse[: a.size], minlength=values.size)
    cb = np.bincount(inverse[a.size :], minlength=values.size)
    return mann_whitney_binned(ca, cb)


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
