"""One rollout's state and the machine that moves it: idle -> canary(step) -> ab_test ->
promoted, or -> rolled_back, and paused (for a human) from any active phase.

Transitions are pure: each takes the ``Cause`` (who or what, when, why, and the metrics it saw)
and returns the new state with the audit entry that records it. A move the machine does not
allow raises ``Conflict`` (HTTP 409); repeating the move that produced the current terminal
phase is a no-op, so retried calls and repeated incidents are idempotent.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from recoengine.canary.abtest import AbLook
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
    ab_looks: list[AbLook] = field(default_factory=list)
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

    def serving(self) -> dict[str, int]:
        """Who should serve how much, by revision (shares above 0): the stored state that live
        traffic must converge to in every phase (rolled back: stable 100%; promoted: candidate
        100%; paused: the share it was paused at)."""
        share = min(max(self.traffic_percent, 0), 100)
        if share == 100:
            return {self.candidate_revision: 100}
        if share == 0:
            return {self.stable_revision: 100}
        return {self.stable_revision: 100 - share, self.candidate_revision: share}

    def reset_step(self, now: float) -> None:
        self.step_started_at = now
        self.totals = {"stable": zero_total(), "candidate": zero_total()}
        self.ab_looks = []
        self.last_check_at = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["phase"] = self.phase.value
        data["ab_looks"] = [lk.to_dict() for lk in self.ab_looks]
        data["totals"] = {k: v.to_dict() for k, v in self.totals.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rollout:
        data = dict(data)
        data["phase"] = Phase(data["phase"])
        data["ab_looks"] = [AbLook.from_dict(lk) for lk in data.get("ab_looks") or []]
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


@dataclass(frozen=True)
class Cause:
    """Who or what asks for a transition, when, and why: what its audit entry records.
    ``metrics`` is what the deciding check saw (a scheduler decision, an incident)."""

    at: float
    actor: str
    reason: str
    metrics: dict[str, Any] | None = None


def audit_entry(
    rollout: Rollout, action: str, cause: Cause, before: Phase | None = None
) -> AuditEntry:
    """The audit entry of ``action`` on ``rollout`` (``before``: its phase before the action,
    when the action changed it)."""
    return AuditEntry(
        service=rollout.service,
        rollout_id=rollout.rollout_id,
        at=cause.at,
        actor=cause.actor,
        action=action,
        from_phase=(before or rollout.phase).value,
        to_phase=rollout.phase.value,
        traffic_percent=rollout.traffic_percent,
        reason=cause.reason,
        metrics=cause.metrics or {},
    )


Transition = tuple[Rollout, AuditEntry]


def start(
    current: Rollout | None,
    plan: RolloutPlan,
    cause: Cause,
    *,
    service: str,
    stable: str,
    candidate: str,
    percent: int | None = None,
) -> Transition:
    """A new rollout of ``candidate`` against ``stable``, at the plan's first step (or at
    ``percent``, when the operator chose the first share)."""
    now = cause.at
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
    return rollout, audit_entry(rollout, "start", cause, before=Phase.IDLE)


def _require(rollout: Rollout, allowed: tuple[Phase, ...], action: str) -> None:
    if rollout.phase not in allowed:
        raise Conflict(
            f"cannot {action} rollout {rollout.rollout_id}: it is {rollout.phase.value}",
            details={"phase": rollout.phase.value},
        )


def advance(rollout: Rollout, plan: RolloutPlan, cause: Cause) -> Transition:
    """Move to the next step, or promote after the last one."""
    _require(rollout, (Phase.CANARY, Phase.AB_TEST), "advance")
    if rollout.step_index + 1 >= len(plan.steps):
        return promote(rollout, cause)
    new = copy.deepcopy(rollout)
    new.step_index += 1
    step = plan.step(new.step_index)
    new.phase = Phase.AB_TEST if step.ab_test else Phase.CANARY
    new.traffic_percent = step.traffic_percent
    new.breaches = {}
    new.reset_step(cause.at)
    new.updated_at = cause.at
    return new, audit_entry(new, "advance", cause, before=rollout.phase)


def set_traffic(rollout: Rollout, percent: int, cause: Cause) -> Transition:
    """A manual change of the candidate's share within the current step."""
    _require(rollout, (Phase.CANARY, Phase.AB_TEST), "change traffic of")
    new = copy.deepcopy(rollout)
    new.traffic_percent = percent
    new.updated_at = cause.at
    return new, audit_entry(new, "set_traffic", cause, before=rollout.phase)


def promote(rollout: Rollout, cause: Cause) -> Transition:
    _require(rollout, (*ACTIVE, Phase.PROMOTED), "promote")
    new = copy.deepcopy(rollout)
    new.phase = Phase.PROMOTED
    new.traffic_percent = 100
    new.paused_from = None
    new.updated_at = cause.at
    return new, audit_entry(new, "promote", cause, before=rollout.phase)


def rollback(rollout: Rollout, cause: Cause) -> Transition:
    _require(rollout, (*ACTIVE, Phase.ROLLED_BACK), "roll back")
    new = copy.deepcopy(rollout)
    new.phase = Phase.ROLLED_BACK
    new.traffic_percent = 0
    new.paused_from = None
    new.updated_at = cause.at
    return new, audit_entry(new, "rollback", cause, before=rollout.phase)


def pause(rollout: Rollout, cause: Cause) -> Transition:
    _require(rollout, (Phase.CANARY, Phase.AB_TEST, Phase.PAUSED), "pause")
    new = copy.deepcopy(rollout)
    if rollout.phase != Phase.PAUSED:
        new.paused_from = rollout.phase.value
    new.phase = Phase.PAUSED
    new.updated_at = cause.at
    return new, audit_entry(new, "pause", cause, before=rollout.phase)


def resume(rollout: Rollout, cause: Cause) -> Transition:
    _require(rollout, (Phase.PAUSED,), "resume")
    new = copy.deepcopy(rollout)
    new.phase = Phase(rollout.paused_from or Phase.CANARY.value)
    new.paused_from = None
    new.breaches = {}
    new.reset_step(cause.at)  # the clock of the step restarts: a human looked at it
    new.updated_at = cause.at
    return new, audit_entry(new, "resume", cause, before=rollout.phase)
