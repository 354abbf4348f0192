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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from recoengine.canary.policy import CanaryPolicy
from recoengine.canary.significance import mann_whitney_binned, two_proportion_test
from recoengine.canary.windows import RevisionWindow


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


def _errors(s: RevisionWindow, c: RevisionWindow, policy: CanaryPolicy) -> Check:
    cfg = policy.judge
    threshold = policy.rules.by_trigger("error_rate").threshold
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
    if significant and test.rate_candidate > threshold:
        return Check("error_rate", Verdict.FAIL, f"candidate error rate over {threshold}", values)
    if upper < cfg.error_margin:
        return Check("error_rate", Verdict.PASS, "error rate not worse (within margin)", values)
    return Check("error_rate", Verdict.INCONCLUSIVE, "error rate: not enough evidence", values)


def _latency(s: RevisionWindow, c: RevisionWindow, policy: CanaryPolicy) -> Check:
    cfg = policy.judge
    threshold = policy.rules.by_trigger("latency_p95_ms").threshold
    if s.latency.sum() == 0 or c.latency.sum() == 0:
        return Check("latency", Verdict.INCONCLUSIVE, "latency: no latency data")
    test = mann_whitney_binned(s.latency, c.latency)
    p95_s, p95_c = s.latency_quantile(0.95) or 0.0, c.latency_quantile(0.95) or 0.0
    ratio = p95_c / p95_s if p95_s > 0 else 1.0
    values = {
        "stable_p95_ms": p95_s,
        "candidate_p95_ms": p95_c,
        "p95_ratio": ratio,
        "superiority": test.superiority,
        "p": test.p_greater,
    }
    if test.p_greater < cfg.alpha and ratio > 1 + cfg.latency_margin:
        return Check("latency", Verdict.FAIL, "candidate latency significantly higher", values)
    if p95_c > threshold and ratio > 1.0:
        return Check("latency", Verdict.FAIL, f"candidate p95 over {threshold:g} ms", values)
    return Check("latency", Verdict.PASS, "latency not worse beyond the margin", values)


def _utilisation(name: str, trigger: str, value: float | None, policy: CanaryPolicy) -> Check:
    threshold = policy.rules.by_trigger(trigger).threshold
    if value is None:
        return Check(name, Verdict.INCONCLUSIVE, f"{name}: no data")
    values = {"candidate": value, "threshold": threshold}
    if value > threshold:
        return Check(name, Verdict.FAIL, f"candidate {name} {value:.2f} over {threshold}", values)
    return Check(name, Verdict.PASS, f"{name} under threshold", values)


def judge(stable: RevisionWindow, candidate: RevisionWindow, policy: CanaryPolicy) -> Judgement:
    """Compare the candidate with the stable revision over the same period."""
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
    checks = (
        _errors(stable, candidate, policy),
        _latency(stable, candidate, policy),
        _utilisation("cpu", "cpu_utilization", candidate.cpu_mean, policy),
        _utilisation("memory", "memory_utilization", candidate.memory_mean, policy),
    )
    verdicts = {c.verdict for c in checks}
    if Verdict.FAIL in verdicts:
        verdict = Verdict.FAIL
    elif Verdict.INCONCLUSIVE in verdicts:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.PASS
    return Judgement(verdict, checks)


__all__ = ["Check", "Judgement", "Verdict", "judge"]
