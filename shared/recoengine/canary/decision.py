"""The per-window logic shared by the canary function and the simulator.

``observe`` folds one window into a rollout: running totals for the step, the consecutive
breach counters of each rollback rule, a short chart history. ``decide`` turns the state into
one action (continue, hold, advance, promote, rollback, pause) with its reason. Neither talks
to the outside world, so ``make canary-sim`` replays timelines through exactly this code.

Breach counting follows the alert rules of the rollout's service (``policy.rules_for``): a
window over the threshold adds one, a window under it resets to zero, and the rule fires at its
``windows``-th consecutive bad window. A window with fewer samples than the rule's
``min_requests`` (requests, or turns for chat's turn signals; the alert's own minimum) or with
no sample at all has no reliable value: it neither counts nor resets (one error in 20 requests
is not a 5% error rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from recoengine.canary.abtest import AbDecision, AbResult, Arm, analyse
from recoengine.canary.judge import Judgement, Verdict, judge
from recoengine.canary.policy import CanaryPolicy
from recoengine.canary.rules import RollbackRule, RollbackRules
from recoengine.canary.state import Phase, Rollout
from recoengine.canary.windows import RevisionWindow, Window, zero_total

HISTORY = 180  # windows kept for the chart (3 h of 1-minute windows)


class Action(StrEnum):
    CONTINUE = "continue"  # nothing to do yet
    HOLD = "hold"  # judged, not enough to move on
    ADVANCE = "advance"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    PAUSE = "pause"


@dataclass
class Decision:
    action: Action
    reason: str
    trigger: str | None = None
    judgement: Judgement | None = None
    ab: AbResult | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "reason": self.reason,
            "trigger": self.trigger,
            "judgement": self.judgement.to_dict() if self.judgement else None,
            "ab": self.ab.to_dict() if self.ab else None,
            **self.details,
        }


_FALLBACK_COUNTS = {
    "reply_fallback_rate": "reply_fallbacks",
    "understanding_fallback_rate": "understanding_fallbacks",
}


def trigger_value(trigger: str, rev: RevisionWindow, other: RevisionWindow) -> float | None:
    """One trigger's metric for ``rev`` in one window (``other``: the other revision).

    The fallback rates are ``rev``'s excess over the whole service's rate in the window, as
    in the alert: a model outage that hits both revisions alike is no reason to roll back."""
    if trigger == "error_rate":
        return rev.error_rate
    if trigger == "latency_p95_ms":
        return rev.latency_quantile(0.95)
    if trigger == "engine_latency_p95_ms":
        return rev.engine_latency_quantile(0.95)
    if trigger == "memory_utilization":
        return rev.memory
    if trigger == "cpu_utilization":
        return rev.cpu
    attr = _FALLBACK_COUNTS[trigger]
    if rev.turns == 0:
        return None
    mine: int = getattr(rev, attr)
    return mine / rev.turns - (mine + getattr(other, attr)) / (rev.turns + other.turns)


def samples(rule: RollbackRule, rev: RevisionWindow) -> int:
    """What the rule's ``min_requests`` counts: the revision's turns or its requests."""
    return rev.turns if rule.counts_turns else rev.requests


def trigger_values(
    rev: RevisionWindow, other: RevisionWindow, rules: RollbackRules
) -> dict[str, float | None]:
    """Each rule's metric for one window; None when the window cannot say."""
    return {
        rule.trigger: trigger_value(rule.trigger, rev, other)
        if samples(rule, rev) >= rule.min_requests
        else None
        for rule in rules.rules
    }


def observe(rollout: Rollout, window: Window, policy: CanaryPolicy) -> list[str]:
    """Fold ``window`` into ``rollout`` (mutated); returns the triggers that fired."""
    if rollout.last_window_end is not None and window.end <= rollout.last_window_end:
        return []  # already seen: re-reading a window must not count it twice
    rules = policy.rules_for(rollout.service)
    values = trigger_values(window.candidate, window.stable, rules)
    fired: list[str] = []
    for rule in rules.rules:
        value = values[rule.trigger]
        if value is None:
            continue
        count = rollout.breaches.get(rule.trigger, 0)
        count = count + 1 if value > rule.threshold else 0
        rollout.breaches[rule.trigger] = count
        if count >= rule.windows:
            fired.append(rule.trigger)
    totals = rollout.totals
    totals.setdefault("stable", zero_total()).merge(window.stable)
    totals.setdefault("candidate", zero_total()).merge(window.candidate)
    rollout.last_window_end = window.end
    rollout.history.append(
        {
            "t": window.end,
            "traffic": rollout.traffic_percent,
            "stable": {
                "requests": window.stable.requests,
                **trigger_values(window.stable, window.candidate, rules),
            },
            "candidate": {"requests": window.candidate.requests, **values},
            "breaches": dict(rollout.breaches),
        }
    )
    del rollout.history[:-HISTORY]
    return fired


def fired_triggers(rollout: Rollout, policy: CanaryPolicy) -> list[str]:
    rules = policy.rules_for(rollout.service).rules
    return [r.trigger for r in rules if rollout.breaches.get(r.trigger, 0) >= r.windows]


def decide(rollout: Rollout, now: float, policy: CanaryPolicy, explain: bool = False) -> Decision:
    """What to do with an active rollout at ``now`` (epoch seconds).

    ``explain`` runs the judge even where its verdict cannot change the action (between
    gates), for the metrics endpoint; the scheduler and the simulator skip that work.
    """
    if rollout.phase not in (Phase.CANARY, Phase.AB_TEST):
        return Decision(Action.CONTINUE, f"rollout is {rollout.phase.value}")
    fired = fired_triggers(rollout, policy)
    if fired:
        rule = policy.rules_for(rollout.service).by_trigger(fired[0])
        return Decision(
            Action.ROLLBACK,
            f"{rule.trigger} over {rule.threshold:g} for {rule.windows} windows in a row",
            trigger=rule.trigger,
            details={"breaches": dict(rollout.breaches)},
        )
    plan_steps = policy.plan.steps
    step = plan_steps[min(rollout.step_index, len(plan_steps) - 1)]
    at = datetime.fromtimestamp(now, UTC)
    last = datetime.fromtimestamp(rollout.last_check_at, UTC) if rollout.last_check_at else None
    if not policy.is_check_time(step, at, last):
        return Decision(Action.CONTINUE, "not a check time for this step")
    elapsed = now - rollout.step_started_at
    done = elapsed >= step.min_duration_s
    if not (done or step.check_hours_utc or step.ab_test or explain):
        return Decision(Action.HOLD, "minimum step duration not reached")
    rollout.last_check_at = now
    stable = rollout.totals.get("stable", zero_total())
    candidate = rollout.totals.get("candidate", zero_total())
    judgement = judge(stable, candidate, policy, rollout.service)
    # The judge acts at gates only: the end of a step, or a scheduled check (08:00/16:00).
    # Between gates, fast failures are the breach counters' job, so a trigger never fires
    # earlier than its window count because of the comparison.
    gate = done or bool(step.check_hours_utc)
    ab = _ab_look(rollout, at, done, policy) if step.ab_test else None
    if judgement.verdict == Verdict.FAIL and gate:
        return Decision(Action.ROLLBACK, f"judge: {judgement.reason}", judgement=judgement, ab=ab)
    if ab is not None and ab.decision == AbDecision.CANDIDATE_WORSE:
        action = Action.ROLLBACK if policy.ab_worse_action == "rollback" else Action.PAUSE
        why = "A/B: candidate converts significantly worse"
        return Decision(action, why, trigger="ab_conversion", judgement=judgement, ab=ab)
    early = ab is not None and ab.decision == AbDecision.CANDIDATE_BETTER and policy.ab_early_stop
    if not done and not early:
        why = "minimum step duration not reached"
        return Decision(Action.HOLD, why, judgement=judgement, ab=ab)
    overdue = elapsed >= step.max_duration_s
    if candidate.requests < step.min_requests:
        action = Action.PAUSE if overdue else Action.HOLD
        why = f"too little traffic: {candidate.requests} of {step.min_requests} requests"
        return Decision(action, why, judgement=judgement, ab=ab)
    if judgement.verdict != Verdict.PASS:
        action = Action.PAUSE if overdue else Action.HOLD
        return Decision(action, f"judge: {judgement.reason}", judgement=judgement, ab=ab)
    if ab is not None and ab.decision in (AbDecision.NO_DATA, AbDecision.CONTINUE):
        action = Action.PAUSE if overdue else Action.HOLD
        return Decision(action, f"A/B: {ab.decision.value}", judgement=judgement, ab=ab)
    last_step = rollout.step_index + 1 >= len(plan_steps)
    action = Action.PROMOTE if last_step or early else Action.ADVANCE
    return Decision(action, "step passed its checks", judgement=judgement, ab=ab)


def _ab_look(rollout: Rollout, at: datetime, final: bool, policy: CanaryPolicy) -> AbResult:
    """Today's A/B look (at most one per UTC day is recorded, the latest replaces it)."""
    day = at.date().isoformat()
    today = next((lk for lk in rollout.ab_looks if lk.day == day), None)
    if today is not None and not final:
        # One look per UTC day: the boundaries were spent for that many looks, no more.
        return AbResult.repeated(today)
    earlier = [lk for lk in rollout.ab_looks if lk.day != day]
    result = analyse(
        _arm(rollout.totals.get("stable", zero_total()), policy),
        _arm(rollout.totals.get("candidate", zero_total()), policy),
        policy.ab,
        day=day,
        previous=earlier,
        final=final,
    )
    if result.look is not None:
        rollout.ab_looks = [*earlier, result.look]
    return result


def _arm(total: RevisionWindow, policy: CanaryPolicy) -> Arm:
    feedback = total.feedback
    return Arm(feedback.get(policy.conversion_event, 0), feedback.get(policy.exposure_event, 0))
