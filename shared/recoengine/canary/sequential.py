"""Group-sequential boundaries (Lan-DeMets O'Brien-Fleming-type alpha spending) in numpy.

The 50% step is checked every day for 14 days. Testing at a fixed 1.96 each day would raise the
false-positive rate from 5% to ~20%; spending alpha as ``a(t) = 2 - 2 Phi(z_{1-a/2} / sqrt(t))``
keeps the overall two-sided level at ``a`` whatever the number and timing of looks, because each
boundary is computed from the information fractions actually observed (Lan & DeMets 1983).
Early looks get very strict boundaries (~5 at t = 0.07), the last one is close to 1.96.

Each side spends its own alpha, so the design can be asymmetric: the A/B test looks for a
benefit at the usual two-sided 5% (2.5% on the upper side) but only rolls back for harm at a
stricter one-sided level, which bounds false rollbacks of equivalent revisions.

Boundaries come from the classic recursive integration of the score process
(Armitage-McPherson-Rowe; Jennison & Turnbull ch. 19) on a grid: ``S(t)`` is Brownian motion
with drift ``theta``, ``Z_k = S(t_k) / sqrt(t_k)``; the same recursion with a drift gives power.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

from recoengine.canary import normal

_FloatArray = np.ndarray


def one_sided_obf(t: float, alpha: float) -> float:
    """Alpha spent on one side by information fraction ``t``: ``2 - 2 Phi(z_{1-a/2}/sqrt(t))``."""
    if alpha <= 0 or t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    return 2.0 * normal.sf(normal.ppf(1 - alpha / 2) / math.sqrt(t))


def _grid(lo: float, hi: float, step_sd: float) -> tuple[_FloatArray, float]:
    n = int(min(3001, max(201, math.ceil((hi - lo) / (step_sd / 12)))))
    n += 1 - n % 2  # odd, for Simpson's rule
    x = np.linspace(lo, hi, n)
    return x, float(x[1] - x[0])


def _simpson_weights(n: int, h: float) -> _FloatArray:
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * h / 3.0


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    ts = [float(t) for t in fractions]
    if not ts or any(t <= 0 for t in ts) or any(b <= a for a, b in itertools.pairwise(ts)):
        raise ValueError("information fractions must be positive and strictly increasing")
    return ts


_Density = tuple[_FloatArray, _FloatArray] | None  # nodes and Simpson-weighted sub-density


def _up(density: _Density, t_prev: float, t: float, c: float, drift: float) -> float:
    """P(Z_t >= c and no earlier crossing)."""
    b = c * math.sqrt(t)
    if density is None:
        return float(normal.sf_array(np.array([(b - drift * t) / math.sqrt(t)]))[0])
    nodes, weights = density
    sd = math.sqrt(t - t_prev)
    return float((weights * normal.sf_array((b - nodes - drift * (t - t_prev)) / sd)).sum())


def _down(density: _Density, t_prev: float, t: float, c: float, drift: float) -> float:
    """P(Z_t <= -c and no earlier crossing)."""
    b = c * math.sqrt(t)
    if density is None:
        return float(normal.sf_array(np.array([(b + drift * t) / math.sqrt(t)]))[0])
    nodes, weights = density
    sd = math.sqrt(t - t_prev)
    return float((weights * normal.sf_array((b + nodes + drift * (t - t_prev)) / sd)).sum())


def _propagate(
    density: _Density, t_prev: float, t: float, c_up: float, c_lo: float, drift: float
) -> _Density:
    """Sub-density of S(t) on the continuation region ``-c_lo sqrt(t) < S < c_up sqrt(t)``."""
    root = math.sqrt(t)
    sd = math.sqrt(t - t_prev) if density is not None else root
    x, h = _grid(-c_lo * root, c_up * root, sd)
    norm = sd * math.sqrt(2 * math.pi)
    if density is None:
        dens = np.exp(-0.5 * ((x - drift * t) / sd) ** 2) / norm
    else:
        nodes, weights = density
        diff = (x[:, None] - nodes[None, :] - drift * (t - t_prev)) / sd
        dens = (np.exp(-0.5 * diff * diff) / norm) @ weights
    return x, dens * _simpson_weights(x.size, h)


def _solve(cross: Callable[[float], float], target: float) -> float:
    """The boundary whose crossing probability equals ``target`` (bisection; 12 = never)."""
    if target <= 1e-12:
        return 12.0
    lo, hi = 0.0, 12.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if cross(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def group_boundaries(
    fractions: Sequence[float], alpha_upper: float, alpha_lower: float, final: bool = False
) -> tuple[list[float], list[float]]:
    """Upper and lower z boundaries (lower as a positive number: reject when Z <= -c).

    Each side spends its alpha with the one-sided OBF function of the information fraction;
    ``final`` spends whatever is left at the last look.
    """
    ts = _check_fractions(fractions)
    ups: list[float] = []
    los: list[float] = []
    density: _Density = None
    spent_up = spent_lo = 0.0
    t_prev = 0.0
    for k, t in enumerate(ts):
        last = final and k == len(ts) - 1
        want_up = (alpha_upper if last else one_sided_obf(min(t, 1.0), alpha_upper)) - spent_up
        want_lo = (alpha_lower if last else one_sided_obf(min(t, 1.0), alpha_lower)) - spent_lo
        c_up = _solve(functools.partial(_up, density, t_prev, t, drift=0.0), want_up)
        c_lo = _solve(functools.partial(_down, density, t_prev, t, drift=0.0), want_lo)
        spent_up += _up(density, t_prev, t, c_up, 0.0)
        spent_lo += _down(density, t_prev, t, c_lo, 0.0)
        ups.append(c_up)
        los.append(c_lo)
        density = _propagate(density, t_prev, t, c_up, c_lo, 0.0)
        t_prev = t
    return ups, los


def crossing(
    fractions: Sequence[float],
    upper: Sequence[float],
    lower: Sequence[float] | None,
    drift: float,
) -> tuple[float, float]:
    """P(crossing the upper boundary first), P(crossing the lower first) under ``drift``.

    With ``drift = effect / se_at_full_information`` the upper probability is the design's
    power to detect a benefit of that size.
    """
    ts = _check_fractions(fractions)
    lows = list(lower) if lower is not None else list(upper)
    if len(upper) != len(ts) or len(lows) != len(ts):
        raise ValueError("one boundary per look")
    p_up = p_lo = 0.0
    density: _Density = None
    t_prev = 0.0
    for t, c_up, c_lo in zip(ts, upper, lows, strict=True):
        p_up += _up(density, t_prev, t, c_up, drift)
        p_lo += _down(density, t_prev, t, c_lo, drift)
        density = _propagate(density, t_prev, t, c_up, c_lo, drift)
        t_prev = t
    return p_up, p_lo
