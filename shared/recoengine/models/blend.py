"""The hybrid: calibrated component scores blended with configurable weights (default 0.4/0.4/0.2).

Raw component scores live on unrelated scales (EASE weights, cosines, log-lifts), so a naive
min-max blend lets the noisiest component dominate. Each component is first standardised per
request over the candidate items (z-scores), then multiplied by a calibration scale fitted at
training time: the slope of a one-feature logistic regression of "is the user's next item" on
that z-score, on validation data. After calibration each component speaks in log-odds units of
how informative it actually is, so the spec's weights shift emphasis instead of adding noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COMPONENTS = ("cf", "cb", "pa")


def standardize(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """z-scores over the candidates (``mask``); constant scores become zeros."""
    values = scores if mask is None else scores[mask]
    if values.size == 0:
        return np.zeros_like(scores)
    mean = values.mean()
    std = values.std()
    if not std > 1e-12:
        return np.zeros_like(scores)
    return (scores - mean) / std


@dataclass
class BlendCalibration:
    scales: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 1.0))


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


def combine(
    components: dict[str, np.ndarray],
    weights: tuple[float, float, float],
    calibration: BlendCalibration,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Blended score and each component's calibrated contribution (before weighting)."""
    calibrated = {
        name: standardize(components[name], mask) * np.float32(calibration.scales.get(name, 1.0))
        for name in COMPONENTS
    }
    total = sum(np.float32(w) * calibrated[n] for n, w in zip(COMPONENTS, weights, strict=True))
    assert isinstance(total, np.ndarray)
    return total, calibrated
