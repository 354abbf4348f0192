"""Replays a timeline through the real decision logic (``observe`` + ``decide``) and state machine.

One window at a time, exactly as the scheduler would see them: the candidate's share follows
the plan, each window is folded in, the decision is taken, transitions are applied. The result
lists the decision per window and the outcome (promoted, rolled_back, held).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recoengine.canary import state
from recoengine.canary.decision import Action, decide, observe
from recoengine.canary.policy import CanaryPolicy
from recoengine.canary.scenarios import Scenario

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@dataclass
class SimResult:
    scenario: str
    seed: int
    outcome: str  # promoted | rolled_back | held
    windows: int
    trigger: str | None = None
    reason: str = ""
    run_start: dict[str, int] = field(default_factory=dict)  # trigger -> start of latest bad run
    breach_count: int = 0  # consecutive bad windows of the trigger when it fired
    timeline: list[dict[str, Any]] = field(default_factory=list)


def run(
    scenario: Scenario, policy: CanaryPolicy, max_windows: int | None = None, keep: bool = True
) -> SimResult:
    plan = policy.plan
    if max_windows is None:
        total = sum(s.max_duration_s for s in plan.steps)
        max_windows = int(total / scenario.window_seconds) + 2
    cause = state.Cause(START, "simulator", "rollout started")
    rollout, _ = state.start(
        None, plan, cause, service="sim", stable="stable", candidate="candidate"
    )
    result = SimResult(scenario.name, scenario.seed, "held", 0)
    for i in range(max_windows):
        share = rollout.traffic_percent / 100.0
        window = scenario.window(i, share, START)
        observe(rollout, window, policy)
        for trigger, count in rollout.breaches.items():
            if count == 1 and result.run_start.get(trigger) != i:
                result.run_start[trigger] = i
        decision = decide(rollout, window.end, policy)
        result.windows = i + 1
        if keep:
            result.timeline.append(
                {
                    "window": i,
                    "t": window.end,
                    "traffic": rollout.traffic_percent,
                    "stable": rollout.history[-1]["stable"],
                    "candidate": rollout.history[-1]["candidate"],
                    "breaches": dict(rollout.breaches),
                    "action": decision.action.value,
                    "reason": decision.reason,
                }
            )
        if decision.action == Action.ROLLBACK:
            result.outcome, result.trigger, result.reason = (
                "rolled_back",
                decision.trigger or "judge",
                decision.reason,
            )
            result.breach_count = rollout.breaches.get(decision.trigger or "", 0)
            return result
        if decision.action == Action.PROMOTE:
            result.outcome, result.reason = "promoted", decision.reason
            return result
        if decision.action == Action.PAUSE:
            result.outcome, result.reason = "held", decision.reason
            return result
        if decision.action == Action.ADVANCE:
            cause = state.Cause(window.end, "simulator", decision.reason)
            rollout, _ = state.advance(rollout, plan, cause)
    result.reason = result.reason or "ran out of windows"
    return result


def study(scenario: str, seeds: range, policy: CanaryPolicy, **scenario_kw: Any) -> dict[str, Any]:
    """Outcomes over many seeds (e.g. the false-rollback rate of healthy releases)."""
    outcomes: dict[str, int] = {}
    triggers: dict[str, int] = {}
    for seed in seeds:
        r = run(Scenario(scenario, seed=seed, **scenario_kw), policy, keep=False)
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
        if r.trigger:
            triggers[r.trigger] = triggers.get(r.trigger, 0) + 1
    n = len(seeds)
    return {
        "scenario": scenario,
        "runs": n,
        "outcomes": outcomes,
        "triggers": triggers,
        "rollback_rate": outcomes.get("rolled_back", 0) / n if n else 0.0,
    }
