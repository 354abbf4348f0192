"""Latency summaries of the benchmarks, on the health report's percentile rule (nearest rank),
so a p95 in ``var/bench*.json`` means what ``/health/detailed`` means by it."""

from __future__ import annotations

from collections.abc import Iterable

from recoengine.web.health import percentile


def summary_ms(ms: Iterable[float], digits: int = 4) -> dict[str, float]:
    """Count, p50, p95, p99 and maximum of durations in milliseconds (empty: n = 0 only)."""
    ordered = sorted(ms)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), digits),
        "p95_ms": round(percentile(ordered, 0.95), digits),
        "p99_ms": round(percentile(ordered, 0.99), digits),
        "max_ms": round(ordered[-1], digits),
    }


def summary_of_seconds(seconds: Iterable[float], digits: int = 4) -> dict[str, float]:
    """``summary_ms`` of durations measured in seconds (``time.perf_counter`` differences)."""
    return summary_ms((s * 1000 for s in seconds), digits)
