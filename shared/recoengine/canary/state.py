"""One rollout's state and the machine that moves it: idle -> canary(step) -> ab_test ->
promoted, or -> rolled_back, and paused (for a human) from any active phase.

Transitions are pure: each returns the new state and the audit entry that explains it (who or
what, why, when, and the metrics it saw). A move the machine does not allow raises ``Conflict``
(HTTP 409); repeating the move that produced the current terminal phase is a no-op, so retried
calls and repeated incidents are idempotent.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from recoengine.canary.policy import RolloutPlan
from recoengine.canary.windows import RevisionWindow, zero_total
from recoengine.errors import Conflict


class Phase(StrEnum):
    IDLE = "idle"
    CANARY = "canary"
    AB_TEST = "ab_test"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    PAUSED = "paused"


ACTIVE = (Phase.CANARY, Phase.AB_TEST, Phase.PAUSED)
TERMINAL = (Phase.PROMOTED, Phase.ROLLED_BACK)


@dataclass
class Rollout:
    service: str
    rollout_id: str
    stable_revision: str
    candidate_revision: str
    plan: str
    phase: Phase
    step_index: int
    traffic_percent: int
    started_at: float
    step_started_at: float
    updated_at: float
    breaches: dict[str, int] = field(default_factory=dict)
    last_window_end: float | None = None
    last_check_at: float | None = None
    ab_looks: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, RevisionWindow] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # recent windows, for charts
    paused_from: str | None = None
    needs_attention: bool = False
    attention_reason: str = ""
    last_decision: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    def reset_step(self, now: float) -> None:
        self.step_started_at = now
        self.totals = {"stable": zero_total(), "candidate": zero_total()}
        self.ab_looks = []
        self.last_check_at = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["phase"] = self.phase.value
        data["totals"] = {k: v.to_dict() for k, v in self.totals.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rollout:
        data = dict(data)
        data["phase"] = Phase(data["phase"])
        data["totals"] = {k: RevisionWindow.from_dict(v) for k, v in data["totals"].items()}
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def public(self) -> dict[str, Any]:
        """What the status endpoint shows (no running totals or chart history)."""
        data = self.to_dict()
        for key in ("totals", "history", "version"):
            data.pop(key, None)
        return data


@dataclass(frozen=True)
class AuditEntry:
    service: str
    rollout_id: str
    at: float
    actor: str
    action: str
    from_phase: str
    to_phase: str
    traffic_percent: int
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _audit(
    before: Phase, after: Rollout, now: float, actor: str, action: str, reason: str,
    metrics: dict[str, Any] | None,
) -> AuditEntry:  # fmt: skip
    return AuditEntry(
        service=after.service,
        rollout_id=after.rollout_id,
        at=now,
        actor=actor,
        action=action,
        from_phase=before.value,
        to_phase=after.phase.value,
        traffic_percent=after.traffic_percent,
        reason=reason,
        metrics=metrics or {},
    )


Transition = tuple[Rollout, AuditEntry]


def start(
    current: Rollout | None, service: str, stable: str, candidate: str, plan: RolloutPlan,
    now: float, actor: str, reason: str = "rollout started", percent: int | None = None,
) -> Transition:  # fmt: skip
    if current is not None and current.active:
        raise Conflict(
            f"a rollout of {service} is already in progress ({current.phase.value}, "
            f"candidate {current.candidate_revision})",
            details={"rollout_id": current.rollout_id},
        )
    if stable == candidate:
        raise Conflict(f"candidate {candidate} is already the stable revision of {service}")
    first = plan.step(0)
    rollout = Rollout(
        service=service,
        rollout_id=f"{service}-{int(now)}-{secrets.token_hex(3)}",
        stable_revision=stable,
        candidate_revision=candidate,
        plan=plan.name,
        phase=Phase.AB_TEST if first.ab_test else Phase.CANARY,
        step_index=0,
        traffic_percent=percent if percent is not None else first.traffic_percent,
        started_at=now,
        step_started_at=now,
        updated_at=now,
    )
    rollout.reset_step(now)
    rollout.breaches = {}
    return rollout, _audit(Phase.IDLE, rollout, now, actor, "start", reason, None)


def _require(rollout: Rollout, allowed: tuple[Phase, ...], action: str) -> None:
    if rollout.phase not in allowed:
        raise Conflict(
            f"cannot {action} rollout {rollout.rollout_id}: it is {rollout.phase.value}",
            details={"phase": rollout.phase.value},
        )


def advance(
    rollout: Rollout, plan: RolloutPlan, now: float, actor: str, reason: str,
    metrics: dict[str, Any] | None = None,
) -> Transition:  # fmt: skip
    """Move to the next step, or promote after the last one."""
    _require(rollout, (Phase.CANARY, Phase.AB_TEST), "advance")
    if rollout.step_index + 1 >= len(plan.steps):
        return promote(rollout, now, actor, reason, metrics)
    new = copy.deepcopy(rollout)
    new.step_index += 1
    step = plan.step(new.step_index)
    new.phase = Phase.AB_TEST if step.ab_test else Phase.CANARY
    new.traffic_percent = step.traffic_percent
    new.breaches = {}
    new.reset_step(now)
    new.updated_at = now
    return new, _audit(rollout.phase, new, now, actor, "advance", reason, metrics)


def set_traffic(rollout: Rollout, percent: int, now: float, actor: str, reason: str) -> Transition:
    """A manual change of the candidate's share within the current step."""
    _require(rollout, (Phase.CANARY, Phase.AB_TEST), "change traffic of")
    new = copy.deepcopy(rollout)
    new.traffic_percent = percent
    new.updated_at = now
    return new, _audit(rollout.phase, new, now, actor, "set_traffic", reason, None)


def promote(
    rollout: Rollout, now: float, actor: str, reason: str, metrics: dict[str, Any] | None = None
) -> Transition:
    _require(rollout, (*ACTIVE, Phase.PROMOTED), "promote")
    new = copy.deepcopy(rollout)
    new.phase = Phase.PROMOTED
    new.traffic_percent = 100
    new.paused_from = None
    new.updated_at = now
    return new, _audit(rollout.phase, new, now, actor, "promote", reason, metrics)


def rollback(
    rollout: Rollout, now: float, actor: str, reason: str, metrics: dict[str, Any] | None = None
) -> Transition:
    _require(rollout, (*ACTIVE, Phase.ROLLED_BACK), "roll back")
    new = copy.deepcopy(rollout)
    new.phase = Phase.ROLLED_BACK
    new.traffic_percent = 0
    new.paused_from = None
    new.updated_at = now
    return new, _audit(rollout.phase, new, now, actor, "rollback", reason, metrics)


def pause(rollout: Rollout, now: float, actor: str, reason: str) -> Transition:
    _require(rollout, (Phase.CANARY, Phase.AB_TEST, Phase.PAUSED), "pause")
    new = copy.deepcopy(rollout)
    if rollout.phase != Phase.PAUSED:
        new.paused_from = rollout.phase.value
    new.phase = Phase.PAUSED
    new.updated_at = now
    return new, _audit(rollout.phase, new, now, actor, "pause", reason, None)


def resume(rollout: Rollout, now: float, actor: str, reason: str) -> Transition:
    _require(rollout, (Phase.PAUSED,), "resume")
    new = copy.deepcopy(rollout)
    new.phase = Phase(rollout.paused_from or Phase.CANARY.value)
    new.paused_from = None
    new.breaches = {}
    new.reset_step(now)  # the clock of the step restarts: a human looked at it
    new.updated_at = now
    return new, _audit(rollout.phase, new, now, actor, "resume", reason, None)
