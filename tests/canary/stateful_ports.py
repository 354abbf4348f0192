"""Fault-injecting wrappers around the canary controller's ports, for the stateful test and the
example regressions that replay what it found.

Each external call (traffic ``describe``/``set_split``, store ``get``/``save``/claim, metrics
``windows``) first asks a ``FaultSource`` what happens at this call:

- ``OK``: the call goes through;
- ``FAIL``: it raises what the real adapter raises (``ServiceUnavailable`` for a 503 or a
  timeout of the Admin API, Monitoring or Firestore; ``Conflict`` for a lost store race);
- ``FAIL_AFTER``: the call takes effect, then raises (a timeout after the Admin API applied the
  split, a commit whose answer was lost);
- a callable: another controller operation runs FIRST, as a second instance acting between
  this call's read and its write, then the call proceeds.

That is how interleavings of concurrent instances are modelled deterministically: hypothesis
(or a test's script) picks the schedule; the ports underneath are the real ``SqliteCanaryStore``
and ``LocalTraffic``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Protocol

from recoengine.canary.state import Rollout
from recoengine.canary.traffic import ServiceTraffic, desired_targets
from recoengine.canary.windows import MetricsQuery, Window
from recoengine.errors import Conflict, ServiceError, ServiceUnavailable
from tests.canary.helpers import rev

OK, FAIL, FAIL_AFTER, CONFLICT = "ok", "fail", "fail_after", "conflict"
Fault = str | Callable[[], None]


class FaultSource(Protocol):
    def at(self, call: str) -> Fault:
        """What happens at this call (``"traffic.set_split"``, ``"store.save"``, ...)."""
        ...


class NoFaults:
    def at(self, call: str) -> Fault:
        return OK


class Scripted:
    """Faults by call name and order: ``{"traffic.set_split": [OK, other_op, FAIL]}`` makes the
    1st set_split pass, runs ``other_op`` before the 2nd, fails the 3rd. Later calls pass."""

    def __init__(self, script: dict[str, list[Fault]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}

    def at(self, call: str) -> Fault:
        pending = self.script.get(call)
        return pending.pop(0) if pending else OK


class Switch:
    """The fault source in force, swappable (faults on for a step, off for the check)."""

    def __init__(self) -> None:
        self.source: FaultSource = NoFaults()

    def at(self, call: str) -> Fault:
        return self.source.at(call)


def _error(call: str, fault: str) -> ServiceError:
    if fault == CONFLICT:
        return Conflict(f"{call}: lost a race (injected)")
    return ServiceUnavailable(f"{call}: 503 / timeout (injected)")


def _run(faults: FaultSource, call: str, fn: Callable[[], Any]) -> Any:
    fault = faults.at(call)
    if callable(fault):
        fault()  # another instance acts first
        fault = OK
    if fault in (FAIL, CONFLICT):
        raise _error(call, fault)
    result = fn()
    if fault == FAIL_AFTER:
        raise _error(call, fault)
    return result


class FaultyStore:
    def __init__(self, inner: Any, faults: FaultSource) -> None:
        self.inner = inner
        self.faults = faults

    def get(self, service: str) -> Rollout | None:
        return _run(self.faults, "store.get", lambda: self.inner.get(service))

    def save(self, rollout: Rollout, audit: Any = None, **kw: Any) -> Rollout:
        return _run(self.faults, "store.save", lambda: self.inner.save(rollout, audit, **kw))

    def audit(self, service: str, limit: int = 50) -> list[dict[str, Any]]:
        return self.inner.audit(service, limit)

    def claim_incident(self, incident_id: str, info: dict[str, Any], ttl_s: float) -> bool:
        """The separate claim of the controller before issue 18 (the old-code run)."""
        call = "store.claim_incident"
        return _run(self.faults, call, lambda: self.inner.claim_incident(incident_id, info, ttl_s))


class FaultyTraffic:
    def __init__(self, inner: Any, faults: FaultSource) -> None:
        self.inner = inner
        self.faults = faults

    def describe(self, service: str) -> ServiceTraffic:
        return _run(self.faults, "traffic.describe", lambda: self.inner.describe(service))

    def set_split(self, service: str, stable: str, candidate: str, percent: int) -> bool:
        def apply() -> bool:
            return self.inner.set_split(service, stable, candidate, percent)

        return _run(self.faults, "traffic.set_split", apply)


class FaultyMetrics:
    def __init__(self, inner: Any, faults: FaultSource) -> None:
        self.inner = inner
        self.faults = faults

    def windows(self, query: MetricsQuery) -> list[Window]:
        return _run(self.faults, "metrics.windows", lambda: self.inner.windows(query))


GOOD = rev(1000, 1, latency_ms=120.0, cpu=0.3, memory=0.4, seed=1)
BAD = rev(1000, 500, latency_ms=3000.0, cpu=0.99, memory=0.99, seed=2)


class SwitchableMetrics:
    """Windows of ``seconds`` aligned on the epoch; the candidate's are bad from each time the
    test turned it bad until it turned it good again (the stable revision is always good)."""

    def __init__(self, seconds: int = 60) -> None:
        self.seconds = seconds
        self.changes: list[tuple[float, bool]] = [(0.0, False)]

    def set_bad(self, at: float, bad: bool) -> None:
        self.changes.append((at, bad))

    def bad_at(self, start: float) -> bool:
        return [bad for at, bad in self.changes if at <= start][-1]

    def windows(self, query: MetricsQuery) -> list[Window]:
        w = self.seconds
        first = -(-int(query.start) // w) * w
        out = []
        for start in range(first, int(query.end) - w + 1, w):
            candidate = BAD if self.bad_at(start) else GOOD
            out.append(Window(start, start + w, copy.deepcopy(GOOD), copy.deepcopy(candidate)))
        return out


def served(live: ServiceTraffic) -> dict[str, int]:
    """Who serves how much: revisions with a share above 0 (tags do not serve traffic)."""
    return {r: p for r, p in live.split().items() if p > 0}


def wanted(rollout: Rollout) -> dict[str, int]:
    """What the stored rollout says should serve (rolled back: stable 100, promoted: candidate
    100, any other phase, paused included: its share)."""
    targets = desired_targets(
        rollout.stable_revision, rollout.candidate_revision, rollout.traffic_percent
    )
    return {t.revision: t.percent for t in targets if t.percent > 0}


def bad_run(metrics: SwitchableMetrics, now: float, since: float, windows: int) -> bool:
    """True when the last ``windows`` complete windows before ``now`` are all bad and all began
    at or after ``since`` (the step's start: breach counters restart with each step)."""
    w = metrics.seconds
    last = (int(now) // w) * w - w
    starts = [last - i * w for i in range(windows)]
    return all(s >= since and metrics.bad_at(s) for s in starts)


def rule_windows(policy: Any, service: str) -> int:
    """The fewest consecutive bad windows that fire some rollback rule of ``service``."""
    rules = policy.rules_for(service) if hasattr(policy, "rules_for") else policy.rules
    return min(r.windows for r in rules.rules)
