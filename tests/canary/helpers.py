"""Builders for windows and policies used across the canary tests."""

from __future__ import annotations

import numpy as np

from recoengine.canary.policy import CanaryPolicy, RolloutPlan, Step
from recoengine.canary.windows import LATENCY_BOUNDS_MS, N_BUCKETS, RevisionWindow, Window


def histogram_of(latencies_ms: np.ndarray) -> np.ndarray:
    """Bucket raw latencies (ms) into the canonical layout."""
    idx = np.searchsorted(LATENCY_BOUNDS_MS, np.asarray(latencies_ms, dtype=float), side="right")
    return np.bincount(idx, minlength=N_BUCKETS).astype(np.int64)


def rev(
    requests: int = 1000,
    errors: int = 1,
    latency_ms: float = 120.0,
    cpu: float | None = 0.4,
    memory: float | None = 0.5,
    seed: int = 0,
    feedback: dict[str, int] | None = None,
) -> RevisionWindow:
    rng = np.random.default_rng(seed)
    lat = rng.lognormal(np.log(latency_ms), 0.4, requests) if requests else np.array([])
    return RevisionWindow(
        requests=requests,
        errors=errors,
        latency=histogram_of(lat),
        cpu=cpu,
        memory=memory,
        feedback=feedback or {},
    )


def window(i: int, stable: RevisionWindow, candidate: RevisionWindow, t0: float = 0.0) -> Window:
    return Window(t0 + 60.0 * i, t0 + 60.0 * (i + 1), stable, candidate)


def fast_policy(**kw: object) -> CanaryPolicy:
    """Short steps so tests cover the whole plan in a few windows."""
    plan = RolloutPlan("test", (Step(5, 300.0, 500), Step(50, 300.0, 2000)))
    return CanaryPolicy(plan=plan, **kw)  # type: ignore[arg-type]
