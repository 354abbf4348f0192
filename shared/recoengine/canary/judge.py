"""The judge: candidate vs stable over a period, answering pass, fail or inconclusive.

- Errors: pooled two-proportion z-test (candidate worse, one-sided). Fail when significant AND
  the increase exceeds the margin, or when the candidate's rate is over the absolute threshold.
  Pass only when the upper confidence bound of the increase is under the margin, so a pass is a
  demonstrated "not worse", never an absence of evidence.
- Latency: Mann-Whitney U on the latency histograms (as Kayenta does), failing only when the
  shift is significant AND the p95 ratio exceeds the effect-size margin (big samples make tiny
  shifts significant; the margin keeps them from failing a release), or p95 is over the threshold.
- CPU / memory: the candidate's mean p95 utilisation against the rule thresholds.
- Too little data (either revision under ``min_requests``) is inconclusive, never a pass.

Absolute thresholds come from the rules of the rollout's service (``policy.rules_for``); a check
whose rule the service does not have is judged relatively only. So chat's request latency (which
waits on the model) is compared with the stable revision's, never with 500 ms, and chat adds:
- Engine latency (the turn minus the model's wait): as request latency, against its own rule.
- Reply and understanding fallback rates: a one-sided two-proportion test of the candidate
  against the stable revision, with the rule's threshold as the margin that matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from recoengine.canary.policy import CanaryPolicy
from recoengine.canary.rules import RollbackRules
from recoengine.canary.significance import (
    histogram_quantile,
    mann_whitney_binned,
    two_proportion_test,
)
from recoengine.canary.windows import LATENCY_BOUNDS_MS, RevisionWindow


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    reason: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    checks: tuple[Check, ...]

    @property
    def reason(self) -> str:
        bad = [c for c in self.checks if c.verdict == self.verdict and c.verdict != Verdict.PASS]
        return "; ".join(c.reason for c in bad) or "all checks passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "checks": [
                {"name": c.name, "verdict": c.verdict.value, "reason": c.reason, **c.values}
                for c in self.checks
            ],
        }


def _errors(
    s: RevisionWindow, c: RevisionWindow, policy: CanaryPolicy, rules: RollbackRules
) -> Check:
    cfg = policy.judge
    rule = rules.get("error_rate")
    test = two_proportion_test(s.errors, s.requests, c.errors, c.requests, 1 - 2 * cfg.alpha)
    upper = test.ci_high  # one-sided (1 - alpha) upper bound of the increase
    values = {
        "stable": test.rate_stable,
        "candidate": test.rate_candidate,
        "diff": test.diff,
        "diff_upper": upper,
        "p": test.p_greater,
    }
    significant = test.p_greater < cfg.alpha
    if significant and test.diff > cfg.error_margin:
        why = "candidate error rate significantly higher"
        return Check("error_rate", Verdict.FAIL, why, values)
    if significant and rule is not None and test.rate_candidate > rule.threshold:
        why = f"candidate error rate over {rule.threshold}"
        return Check("error_rate", Verdict.FAIL, why, values)
    if upper < cfg.error_margin:
        return Check("error_rate", Verdict.PASS, "error rate not worse (within margin)", values)
    return Check("error_rate", Verdict.INCONCLUSIVE, "error rate: not enough evidence", values)


def _latency(
    name: str,
    stable: np.ndarray,
    candidate: np.ndarray,
    policy: CanaryPolicy,
    threshold: float | None,
) -> Check:
    """Mann-Whitney on two latency histograms; ``threshold`` (ms) is the rule's absolute p95."""
    cfg = policy.judge
    if stable.sum() == 0 or candidate.sum() == 0:
        return Check(name, Verdict.INCONCLUSIVE, f"{name}: no latency data")
    test = mann_whitney_binned(stable, candidate)
    p95_s = histogram_quantile(LATENCY_BOUNDS_MS, stable, 0.95) or 0.0
    p95_c = histogram_quantile(LATENCY_BOUNDS_MS, candidate, 0.95) or 0.0
    ratio = p95_c / p95_s if p95_s > 0 else 1.0
    values = {
        "stable_p95_ms": p95_s,
        "candidate_p95_ms": p95_c,
        "p95_ratio": ratio,
        "superiority": test.superiority,
        "p": test.p_greater,
    }
    if test.p_greater < cfg.alpha and ratio > 1 + cfg.latency_margin:
        return Check(name, Verdict.FAIL, f"candidate {name} significantly higher", values)
    if threshold is not None and p95_c > threshold and ratio > 1.0:
        return Check(name, Verdict.FAIL, f"candidate {name} p95 over {threshold:g} ms", values)
    return Check(name, Verdict.PASS, f"{name} not worse beyond the margin", values)


def _fallbacks(
    trigger: str, s: RevisionWindow, c: RevisionWindow, policy: CanaryPolicy, margin: float
) -> Check:
    """A fallback rate not worse than the stable revision's by more than the rule's margin."""
    cfg = policy.judge
    name = trigger.removesuffix("_rate")
    if s.turns == 0 or c.turns == 0:
        return Check(name, Verdict.INCONCLUSIVE, f"{name}: no turns counted")
    attr = "reply_fallbacks" if trigger == "reply_fallback_rate" else "understanding_fallbacks"
    test = two_proportion_test(
        getattr(s, attr), s.turns, getattr(c, attr), c.turns, 1 - 2 * cfg.alpha
    )
    values = {
        "stable": test.rate_stable,
        "candidate": test.rate_candidate,
        "diff": test.diff,
        "diff_upper": test.ci_high,
        "p": test.p_greater,
        "margin": margin,
    }
    if test.p_greater < cfg.alpha and test.diff > margin:
        return Check(name, Verdict.FAIL, f"candidate {name} rate significantly higher", values)
    if test.ci_high < margin:
        return Check(name, Verdict.PASS, f"{name} rate not worse (within margin)", values)
    return Check(name, Verdict.INCONCLUSIVE, f"{name} rate: not enough evidence", values)


def _utilisation(name: str, value: float | None, threshold: float) -> Check:
    if value is None:
        return Check(name, Verdict.INCONCLUSIVE, f"{name}: no data")
    values = {"candidate": value, "threshold": threshold}
    if value > threshold:
        return Check(name, Verdict.FAIL, f"candidate {name} {value:.2f} over {threshold}", values)
    return Check(name, Verdict.PASS, f"{name} under threshold", values)


def judge(
    stable: RevisionWindow,
    candidate: RevisionWindow,
    policy: CanaryPolicy,
    service: str | None = None,
) -> Judgement:
    """Compare the candidate with the stable revision of ``service`` over the same period."""
    rules = policy.rules_for(service) if service is not None else policy.rules
    need = policy.judge.min_requests
    if stable.requests < need or candidate.requests < need:
        check = Check(
            "sample_size",
            Verdict.INCONCLUSIVE,
            f"too little data: {candidate.requests} candidate / {stable.requests} stable "
            f"requests, need {need} each",
            {"stable": stable.requests, "candidate": candidate.requests, "required": need},
        )
        return Judgement(Verdict.INCONCLUSIVE, (check,))

    def threshold(trigger: str) -> float | None:
        rule = rules.get(trigger)
        return rule.threshold if rule is not None else None

    checks = [
        _errors(stable, candidate, policy, rules),
        _latency("latency", stable.latency, candidate.latency, policy, threshold("latency_p95_ms")),
    ]
    if rules.get("engine_latency_p95_ms") is not None:
        engine = _latency(
            "engine_latency",
            stable.engine_latency,
            candidate.engine_latency,
            policy,
            threshold("engine_latency_p95_ms"),
        )
        checks.append(engine)
    for trigger in ("reply_fallback_rate", "understanding_fallback_rate"):
        margin = threshold(trigger)
        if margin is not None:
            checks.append(_fallbacks(trigger, stable, candidate, policy, margin))
    for name, trigger, value in (
        ("cpu", "cpu_utilization", candidate.cpu_mean),
        ("memory", "memory_utilization", candidate.memory_mean),
    ):
        limit = threshold(trigger)
        if limit is not None:
            checks.append(_utilisation(name, value, limit))
    verdicts = {c.verdict for c in checks}
    if Verdict.FAIL in verdicts:
        verdict = Verdict.FAIL
    elif Verdict.INCONCLUSIVE in verdicts:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.PASS
    return Judgement(verdict, tuple(checks))


__all__ = ["Check", "Judgement", "Verdict", "judge"]
