"""Paired comparison of two models on the same users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    mean: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_ci(a: np.ndarray, b: np.ndarray, z: float = 1.959964) -> PairedDifference:
    """95% CI of mean(a - b) over users (normal approximation; n is hundreds or more)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.size < 2:
        return PairedDifference(float(d.mean()) if d.size else 0.0, float("-inf"), float("inf"))
    se = d.std(ddof=1) / np.sqrt(d.size)
    return PairedDifference(float(d.mean()), float(d.mean() - z * se), float(d.mean() + z * se))


def mean_ci(x: np.ndarray, z: float = 1.959964) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=np.float64)
    se = x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else float("inf")
    return float(x.mean()), float(x.mean() - z * se), float(x.mean() + z * se)
