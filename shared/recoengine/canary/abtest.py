"""The A/B analysis of the 50% step: conversion per revision, checked daily, valid under peeking.

Conversion = conversion events / exposure events of each revision (from the recommendation
feedback metric, e.g. click / impression). Each daily look computes the pooled two-proportion z
and compares it with Lan-DeMets O'Brien-Fleming boundaries for the information accrued so far
(``t = n / n_planned``, ``n`` the harmonic mean of the two arms). The design is asymmetric:
a benefit is declared at the usual two-sided 5% (2.5% on the upper side); harm, which rolls the
candidate back, at a stricter one-sided ``harm_alpha`` (0.5%), so equivalent revisions are
rarely rolled back. Because the upper boundary is valid at every look, the effect's interval is
a repeated confidence interval (Jennison & Turnbull): ``diff +- c_k * se`` covers the true
difference at every look simultaneously with 1 - alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from recoengine.canary import sequential
from recoengine.canary.normal import ppf
from recoengine.canary.significance import two_proportion_test


@dataclass(frozen=True)
class AbDesign:
    """What the test is planned for. ``planned_per_arm`` sets the information scale."""

    alpha: float = 0.05  # two-sided; the benefit side spends alpha / 2
    harm_alpha: float = 0.005  # one-sided, for rolling back on a conversion drop
    base_rate: float = 0.05
    relative_mde: float = 0.10
    daily_exposures: int = 10_000  # both arms together
    days: int = 14
    share: float = 0.5  # candidate's share of traffic

    @property
    def planned_per_arm(self) -> float:
        total = self.daily_exposures * self.days
        return 2.0 / (1.0 / (total * (1 - self.share)) + 1.0 / (total * self.share))


def _se_full(design: AbDesign, per_arm: float) -> float:
    p1 = design.base_rate
    p2 = p1 * (1 + design.relative_mde)
    return math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / per_arm)


def _design_bounds(design: AbDesign, k: int) -> tuple[list[float], list[float], list[float]]:
    fractions = [(i + 1) / k for i in range(k)]
    ups, los = sequential.group_boundaries(
        fractions, design.alpha / 2, design.harm_alpha, final=True
    )
    return fractions, ups, los


def design_power(design: AbDesign, looks: int | None = None) -> float:
    """Power to detect a lift of the MDE with daily looks under the sequential rule."""
    fractions, ups, los = _design_bounds(design, looks or design.days)
    effect = design.base_rate * design.relative_mde
    drift = effect / _se_full(design, design.planned_per_arm)
    return sequential.crossing(fractions, ups, los, drift)[0]


def required_per_arm(design: AbDesign, target_power: float = 0.8) -> float:
    """Exposures per arm for ``target_power`` with daily looks.

    Boundaries do not depend on the sample size, so solve for the drift that gives the power
    (bisection), then turn drift = effect / se(n) into n.
    """
    fractions, ups, los = _design_bounds(design, design.days)
    lo, hi = 0.0, 10.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if sequential.crossing(fractions, ups, los, mid)[0] >= target_power:
            hi = mid
        else:
            lo = mid
    p1 = design.base_rate
    p2 = p1 * (1 + design.relative_mde)
    return hi * hi * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2


def fixed_sample_per_arm(design: AbDesign, target_power: float = 0.8) -> float:
    """The classic one-look sample size, for comparison with the sequential one."""
    p1 = design.base_rate
    p2 = p1 * (1 + design.relative_mde)
    z = ppf(1 - design.alpha / 2) + ppf(target_power)
    return z * z * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2


def design_report(design: AbDesign) -> dict[str, Any]:
    need = required_per_arm(design)
    return {
        **asdict(design),
        "planned_per_arm": round(design.planned_per_arm),
        "power_at_plan": round(design_power(design), 4),
        "required_per_arm_80pct": round(need),
        "required_daily_exposures_80pct": round(2 * need / design.days),
        "fixed_sample_per_arm_80pct": round(fixed_sample_per_arm(design)),
    }


class AbDecision(StrEnum):
    CANDIDATE_BETTER = "candidate_better"
    CANDIDATE_WORSE = "candidate_worse"
    CONTINUE = "continue"  # no boundary crossed yet: look again tomorrow
    NO_DIFFERENCE = "no_difference"  # the final look crossed no boundary
    NO_DATA = "no_data"  # too few exposures to look at all


@dataclass(frozen=True)
class AbLook:
    """One daily look, stored in the rollout so later boundaries use the same history."""

    day: str
    info_fraction: float
    z: float
    boundary: float  # upper: candidate better when z >= boundary
    decision: AbDecision = AbDecision.CONTINUE
    lower: float = 0.0  # candidate worse when z <= -lower

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decision": self.decision.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AbLook:
        return cls(**{**data, "decision": AbDecision(data.get("decision", "continue"))})


@dataclass(frozen=True)
class Arm:
    """One revision's feedback over the step: conversion events out of exposure events."""

    conversions: int
    exposures: int


@dataclass(frozen=True)
class AbResult:
    """Today's look as the metrics endpoint and the audit trail show it.

    A repeated look on a day already looked at carries only ``decision``, ``look`` and
    ``note``: the boundaries were spent for one look a day, so nothing else is computed.
    """

    decision: AbDecision
    look: AbLook | None
    rate_stable: float | None = None
    rate_candidate: float | None = None
    diff: float | None = None
    diff_ci: tuple[float, float] | None = None
    relative_lift: float | None = None
    relative_lift_ci: tuple[float, float] | None = None
    exposures: tuple[int, int] = (0, 0)
    conversions: tuple[int, int] = (0, 0)
    note: str = ""

    @classmethod
    def repeated(cls, look: AbLook) -> AbResult:
        return cls(AbDecision.CONTINUE, look, note="already looked today")

    def to_dict(self) -> dict[str, Any]:
        look = self.look.to_dict() if self.look else None
        if self.note:
            return {"decision": self.decision.value, "look": look, "note": self.note}
        out = asdict(self)
        del out["note"]
        return {**out, "decision": self.decision.value, "look": look}


def _boundaries(
    t: float, previous: Sequence[AbLook], design: AbDesign, final: bool
) -> tuple[float, float, float, AbLook | None]:
    """This look's information fraction and its upper and lower boundaries.

    Information never decreases (odd data is nudged forward), and a test that concluded at an
    earlier look is not tested again: that would spend alpha twice. Returns the concluding
    look too, whose decision then stands.
    """
    fractions = [lk.info_fraction for lk in previous]
    if fractions and t <= fractions[-1]:
        t = min(1.0, fractions[-1] + 1e-6)
    final = final or t >= 1.0
    concluded = next((lk for lk in previous if lk.decision != AbDecision.CONTINUE), None)
    if concluded is not None:
        fractions = fractions[: list(previous).index(concluded)]
        t, final = concluded.info_fraction, True
    ups, los = sequential.group_boundaries(
        [*fractions, t], design.alpha / 2, design.harm_alpha, final=final
    )
    return t, ups[-1], los[-1], concluded


def analyse(
    stable: Arm,
    candidate: Arm,
    design: AbDesign,
    *,
    day: str,
    previous: Sequence[AbLook] = (),
    final: bool = False,
    min_exposures: int = 100,
) -> AbResult:
    """Today's look. ``previous`` are earlier looks (their fractions fix earlier boundaries)."""
    exposures = (stable.exposures, candidate.exposures)
    conversions = (stable.conversions, candidate.conversions)
    if min(exposures) < min_exposures:
        return AbResult(AbDecision.NO_DATA, None, exposures=exposures, conversions=conversions)
    x1, n1 = min(stable.conversions, stable.exposures), stable.exposures
    x2, n2 = min(candidate.conversions, candidate.exposures), candidate.exposures
    harmonic = 2.0 / (1.0 / n1 + 1.0 / n2)
    earlier = [lk for lk in previous if lk.day != day]
    t, c, c_lo, concluded = _boundaries(
        min(1.0, harmonic / design.planned_per_arm), earlier, design, final
    )
    test = two_proportion_test(x1, n1, x2, n2)
    se = (test.ci_high - test.diff) / ppf(0.975)
    if concluded is not None:
        decision, z = concluded.decision, concluded.z
    elif test.z >= c:
        decision, z = AbDecision.CANDIDATE_BETTER, test.z
    elif test.z <= -c_lo:
        decision, z = AbDecision.CANDIDATE_WORSE, test.z
    else:
        last = final or t >= 1.0
        decision, z = (AbDecision.NO_DIFFERENCE if last else AbDecision.CONTINUE), test.z
    lift, lift_ci = _relative(x1, n1, x2, n2, c)
    return AbResult(
        decision,
        AbLook(day=day, info_fraction=t, z=z, boundary=c, decision=decision, lower=c_lo),
        rate_stable=test.rate_stable,
        rate_candidate=test.rate_candidate,
        diff=test.diff,
        diff_ci=(test.diff - c * se, test.diff + c * se),
        relative_lift=lift,
        relative_lift_ci=lift_ci,
        exposures=exposures,
        conversions=conversions,
    )


def _relative(
    x1: int, n1: int, x2: int, n2: int, c: float
) -> tuple[float | None, tuple[float, float] | None]:
    """Relative lift p2/p1 - 1 with a delta-method interval on the log ratio."""
    if x1 == 0 or x2 == 0:
        return None, None
    p1, p2 = x1 / n1, x2 / n2
    log_ratio = math.log(p2 / p1)
    se = math.sqrt((1 - p1) / x1 + (1 - p2) / x2)
    return p2 / p1 - 1, (math.exp(log_ratio - c * se) - 1, math.exp(log_ratio + c * se) - 1)
