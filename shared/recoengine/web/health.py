"""Health checks: each component reports itself; a failing dependency marks its component
unhealthy (or degraded, if the function can still answer) instead of crashing the endpoint.

``/health`` is what Cloud Run's startup and liveness probes call: it answers 503 only when a
*critical* component (the recommendation model) is down, so a store outage does not make
Cloud Run restart healthy instances.

In the cloud each function reports its own components. The local stack (``make run``) serves
all three functions from one process, so there the function that answers ``/health`` (the
default route, recommend) includes the others' registries (``HealthRegistry.include``): the
report then shows every component, the others' named ``<function>.<component>``.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recoengine import __version__
from recoengine.config import settings

log = logging.getLogger(__name__)

Check = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class _Component:
    check: Check
    critical: bool


def _run(name: str, component: _Component) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = dict(component.check())
        result.setdefault("status", "ok")
    except Exception as exc:  # a failing dependency must not crash the health endpoint
        log.warning("health check %s failed: %s", name, exc)
        result = {"status": "unhealthy", "error": type(exc).__name__}
    if result["status"] == "unhealthy" and not component.critical:
        result["status"] = "degraded"
    result["check_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


def _overall(statuses: list[str]) -> str:
    if "unhealthy" in statuses:
        return "unhealthy"
    return "degraded" if "degraded" in statuses else "ok"


def _memory() -> dict[str, Any]:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    current = None
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    current = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"rss_bytes": current, "max_rss_bytes": rss_kib * 1024}


def _disk() -> dict[str, Any]:
    path = settings().service.var_dir
    target = path if path.exists() else os.getcwd()
    usage = shutil.disk_usage(target)
    return {"path": str(target), "free_bytes": usage.free, "total_bytes": usage.total}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The value at quantile ``q`` (0..1) of already sorted values, nearest rank (0.0 for none).

    The one percentile rule of the project: the health report's recent requests and the
    benchmarks' latency summaries (``tools/latency.py``) both use it, so their p95s compare.
    """
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


# The registry each function built last in this process, by function name (``registry_of``).
_latest: dict[str, HealthRegistry] = {}


def registry_of(function: str) -> HealthRegistry:
    """The health registry of ``function`` as loaded in this process: how the local stack,
    which loads the functions' modules through functions-framework, reaches them to combine
    their reports. KeyError when that function was not loaded here."""
    return _latest[function]


class HealthRegistry:
    def __init__(self, function: str) -> None:
        self.function = function
        self._components: dict[str, _Component] = {}
        self._gauges: list[Callable[[], None]] = []
        self._included: list[HealthRegistry] = []
        _latest[function] = self

    def component(self, name: str, *, critical: bool = False) -> Callable[[Check], Check]:
        def register(check: Check) -> Check:
            self._components[name] = _Component(check, critical)
            return check

        return register

    def include(self, other: HealthRegistry) -> None:
        """Report ``other``'s components (as ``<its function>.<name>``, critical ones still
        critical) and refresh its gauges too: for one process that serves several functions,
        where only one of them answers ``/health`` and ``/metrics``."""
        if other is not self and other not in self._included:
            self._included.append(other)

    def all_components(self) -> dict[str, _Component]:
        """This function's components and, prefixed with their function, the included ones."""
        merged = dict(self._components)
        for other in self._included:
            for name, component in other.all_components().items():
                merged[f"{other.function}.{name}"] = component
        return merged

    def gauge_refresher(self, refresh: Callable[[], None]) -> None:
        """Callbacks run before each /metrics scrape (e.g. session_count's aggregation query)."""
        self._gauges.append(refresh)

    def refresh_gauges(self) -> None:
        for refresh in self._gauges:
            try:
                refresh()
            except Exception as exc:
                log.warning("metrics refresh failed: %s", exc)
        for other in self._included:
            other.refresh_gauges()

    def _header(self, status: str) -> dict[str, Any]:
        cfg = settings().service
        header: dict[str, Any] = {
            "status": status,
            "timestamp": datetime.now(UTC).isoformat(),
            "version": __version__,
            "function": self.function,
            "service": cfg.service,
            "revision": cfg.revision,
        }
        if self._included:
            header["functions"] = [self.function, *(r.function for r in self._included)]
        return header

    def _results(self) -> dict[str, dict[str, Any]]:
        return {name: _run(name, c) for name, c in self.all_components().items()}

    def summary(self) -> dict[str, Any]:
        results = self._results()
        report = self._header(_overall([r["status"] for r in results.values()]))
        report["components"] = {name: r["status"] for name, r in results.items()}
        return report

    def detailed(self, recent: list[tuple[int, float]]) -> dict[str, Any]:
        results = self._results()
        report = self._header(_overall([r["status"] for r in results.values()]))
        latencies = sorted(seconds * 1000 for _, seconds in recent)
        report["components"] = results
        report["system"] = {"memory": _memory(), "disk": _disk(), "pid": os.getpid()}
        report["recent_requests"] = {
            "count": len(recent),
            "errors_5xx": sum(1 for status, _ in recent if status >= 500),
            "p50_ms": round(percentile(latencies, 0.5), 3),
            "p95_ms": round(percentile(latencies, 0.95), 3),
            "max_ms": round(latencies[-1], 3) if latencies else 0.0,
        }
        return report
