"""The hybrid: calibrated component scores blended with configurable weights (default 0.4/0.4/0.2).

Raw component scores live on unrelated scales (graph weights, cosines, log-lifts), so a naive
min-max blend lets the noisiest component dominate. Each component is first standardised per
request over the request's candidates (z-scores; a feature filter's items join them), then
multiplied by
a calibration scale fitted at training time: the slope of a one-feature logistic regression
of "is the user's next item" on that z-score, on validation data. After calibration each
component speaks in log-odds units of how informative it actually is, so the spec's weights
shift emphasis instead of adding noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from recoengine.models import kernels

COMPONENTS = ("cf", "cb", "pa")
# The product's blend: CF 40%, CB 40%, PA 20% (configurable; training also records tuned ones).
DEFAULT_WEIGHTS: tuple[float, float, float] = (0.4, 0.4, 0.2)


def standardize(scores: np.ndarray) -> np.ndarray:
    """z-scores over the candidates; constant scores become zeros (a component with nothing
    to say, such as CB on a catalog without features, then weighs nothing)."""
    mean = scores.mean()
    std = scores.std()
    if not std > kernels.CONSTANT_TOLERANCE * (abs(mean) + kernels.CONSTANT_TOLERANCE):
        return np.zeros_like(scores)
    return (scores - mean) / std


@dataclass
class BlendCalibration:
    scales: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 1.0))

    @cached_property
    def vector(self) -> np.ndarray:
        return np.array([self.scales.get(n, 1.0) for n in COMPONENTS], dtype=np.float32)


def logistic_slope(x: np.ndarray, y: np.ndarray, iters: int = 25) -> float:
    """Slope of a 1-feature logistic regression (Newton's method, tiny L2 for stability)."""
    a, b = 0.0, 0.0
    for _ in range(iters):
        z = a * x + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        w = p * (1 - p)
        g = np.array([np.dot(p - y, x) + 1e-3 * a, np.sum(p - y)])
        h = np.array([[np.dot(w, x * x) + 1e-3, np.dot(w, x)], [np.dot(w, x), np.sum(w) + 1e-9]])
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(max(a, 0.0))


@dataclass
class Blended:
    """A request's blended scores; per-item component z-scores are computed only on demand
    (for the returned top-k), which keeps the hot path to a handful of vector operations."""

    total: np.ndarray
    raw: np.ndarray  # 3 x n_candidates raw component scores
    mean: np.ndarray  # per component
    scale: np.ndarray  # per component: calibration / std (0 where the component is constant)

    def components(self, items: list[int]) -> list[dict[str, float]]:
        """Calibrated z-score of each component for ``items`` (one dict per item; plain Python
        arithmetic: for a top-k this small it beats numpy's per-call overhead)."""
        (m_cf, m_cb, m_pa), (s_cf, s_cb, s_pa) = self.mean.tolist(), self.scale.tolist()
        cf, cb, pa = self.raw[:, items].tolist()
        return [
            {"cf": (a - m_cf) * s_cf, "cb": (b - m_cb) * s_cb, "pa": (c - m_pa) * s_pa}
            for a, b, c in zip(cf, cb, pa, strict=True)
        ]


def combine(
    raw: np.ndarray,
    weights: tuple[float, float, float] | np.ndarray,
    calibration: BlendCalibration,
) -> Blended:
    """Σ_c w_c · a_c · z_c, with z_c the component (a row of ``raw``, ordered as COMPONENTS)
    standardised over the candidates."""
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    total = np.empty(raw.shape[1], dtype=np.float32)
    mean = np.empty(raw.shape[0])
    scale = np.empty(raw.shape[0])
    kernels.blend(raw, weight_vector(weights), calibration.vector, total, mean, scale)
    return Blended(total, raw, mean, scale)


def weight_vector(weights: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    if isinstance(weights, np.ndarray) and weights.dtype == np.float32:
        return weights
    return np.asarray(weights, dtype=np.float32)
