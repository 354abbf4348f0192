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
from dataclasses import asdict, dataclass
from typing import Any

from recoengine.canary import sequential
from recoengine.canary.significance import norm_ppf, two_proportion_test


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
    z = norm_ppf(1 - design.alpha / 2) + norm_ppf(target_power)
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


@dataclass(frozen=True)
class AbLook:
    """One daily look, stored in the rollout so later boundaries use the same history."""

    day: str
    info_fraction: float
    z: float
    boundary: float  # upper: candidate better when z >= boundary
    decision: str = "continue"
    lower: float = 0.0  # candidate worse when z <= -lower


@dataclass(frozen=True)
class AbResult:
    decision: str  # candidate_better | candidate_worse | continue | no_difference | no_data
    look: AbLook | None
    rate_stable: float | None
    rate_candidate: float | None
    diff: float | None
    diff_ci: tuple[float, float] | None
    relative_lift: float | None
    relative_lift_ci: tuple[float, float] | None
    exposures: tuple[int, int]
    conversions: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["look"] = asdict(self.look) if self.look else None
        return out


def analyse(
    conv_stable: int,
    exp_stable: int,
    conv_candidate: int,
    exp_candidate: int,
    previous: list[AbLook],
    design: AbDesign,
    day: str,
    final: bool,
    min_exposures: int = 100,
) -> AbResult:
    """Today's look. ``previous`` are earlier looks (their fractions fix earlier boundaries)."""
    counts = (exp_stable, exp_candidate), (conv_stable, conv_candidate)
    if min(exp_stable, exp_candidate) < min_exposures:
        return AbResult("no_data", None, None, None, None, None, None, None, *counts)
    conv_stable, conv_candidate = min(conv_stable, exp_stable), min(conv_candidate, exp_candidate)
    harmonic = 2.0 / (1.0 / exp_stable + 1.0 / exp_candidate)
    t = min(1.0, harmonic / design.planned_per_arm)
    earlier = [lk for lk in previous if lk.day != day]
    concluded = next((lk for lk in earlier if lk.decision != "continue"), None)
    fractions = [lk.info_fraction for lk in earlier]
    if fractions and t <= fractions[-1]:
        t = min(1.0, fractions[-1] + 1e-6)  # information never decreases; guard odd data
    final = final or t >= 1.0
    if concluded is not None:
        # The test ended at an earlier look; testing again would spend alpha twice.
        fractions = fractions[: earlier.index(concluded)]
        t, final = concluded.info_fraction, True
    ups, los = sequential.group_boundaries(
        [*fractions, t], design.alpha / 2, design.harm_alpha, final=final
    )
    c, c_lo = ups[-1], los[-1]
    test = two_proportion_test(conv_stable, exp_stable, conv_candidate, exp_candidate)
    se = (test.ci_high - test.diff) / norm_ppf(0.975)
    ci = (test.diff - c * se, test.diff + c * se)
    lift, lift_ci = _relative(conv_stable, exp_stable, conv_candidate, exp_candidate, c)
    if concluded is not None:
        decision, z = concluded.decision, concluded.z
    elif test.z >= c:
        decision, z = "candidate_better", test.z
    elif test.z <= -c_lo:
        decision, z = "candidate_worse", test.z
    else:
        decision, z = ("no_difference" if final else "continue"), test.z
    look = AbLook(day=day, info_fraction=t, z=z, boundary=c, decision=decision, lower=c_lo)
    return AbResult(
        decision,
        look,
        test.rate_stable,
        test.rate_candidate,
        test.diff,
        ci,
        lift,
        lift_ci,
        *counts,
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
