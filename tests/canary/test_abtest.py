"""Group-sequential A/B analysis: boundaries, power, and a simulation of daily peeking."""

from __future__ import annotations

import numpy as np
import pytest

from recoengine.canary import abtest, sequential
from recoengine.canary.abtest import AbDecision, AbDesign, AbLook, Arm


def symmetric(fractions: list[float], alpha: float = 0.05, final: bool = False) -> list[float]:
    """Two-sided boundaries spending ``alpha / 2`` on each side."""
    ups, los = sequential.group_boundaries(fractions, alpha / 2, alpha / 2, final)
    assert ups == pytest.approx(los)
    return ups


def either_side(fractions: list[float], bounds: list[float], drift: float) -> float:
    """P(crossing either symmetric boundary at some look) under ``drift``."""
    return sum(sequential.crossing(fractions, bounds, None, drift))


def test_boundaries_match_published_obrien_fleming_lan_demets_values():
    # gsDesign sfLDOF, 5 equally spaced looks, two-sided alpha 0.05.
    got = symmetric([0.2, 0.4, 0.6, 0.8, 1.0])
    assert got == pytest.approx([4.877, 3.357, 2.680, 2.290, 2.031], abs=2e-3)


def test_total_alpha_is_spent_exactly_and_one_look_is_the_fixed_test():
    fractions = [k / 14 for k in range(1, 15)]
    b = symmetric(fractions, final=True)
    assert either_side(fractions, b, 0.0) == pytest.approx(0.05, abs=1e-4)
    assert symmetric([1.0]) == pytest.approx([1.95996], abs=1e-4)
    assert either_side([1.0], [1.959964], 1.959964 + 0.841621) == pytest.approx(0.8, abs=1e-3)


def test_fractions_must_increase():
    with pytest.raises(ValueError):
        symmetric([0.5, 0.4])


def test_the_product_design_is_powered_and_reports_what_it_needs():
    report = abtest.design_report(AbDesign())
    assert report["planned_per_arm"] == 70_000
    assert report["power_at_plan"] >= 0.8
    # Sequential monitoring costs a few percent over the one-look sample size.
    assert 1.0 < report["required_per_arm_80pct"] / report["fixed_sample_per_arm_80pct"] < 1.1
    assert report["required_daily_exposures_80pct"] < 10_000


def _simulate_daily(
    rate_b: float, reps: int, seed: int, design: AbDesign
) -> tuple[float, float, float]:
    """Vectorised: reps x 14 days of binomial conversions, looked at every day.

    Returns P(declared better), P(declared worse) under the design, and P(any |z| >= 1.96)
    for naive daily peeking.
    """
    rng = np.random.default_rng(seed)
    daily = design.daily_exposures // 2
    conv_a = rng.binomial(daily, design.base_rate, size=(reps, design.days)).cumsum(axis=1)
    conv_b = rng.binomial(daily, rate_b, size=(reps, design.days)).cumsum(axis=1)
    n = daily * np.arange(1, design.days + 1)
    pa, pb = conv_a / n, conv_b / n
    pooled = (conv_a + conv_b) / (2 * n)
    z = (pb - pa) / np.sqrt(pooled * (1 - pooled) * 2 / n)
    fractions = [n_k / design.planned_per_arm for n_k in n]
    ups, los = sequential.group_boundaries(fractions, design.alpha / 2, design.harm_alpha, True)
    up_hit = z >= np.array(ups)
    lo_hit = z <= -np.array(los)
    first_up = np.where(up_hit.any(axis=1), up_hit.argmax(axis=1), 99)
    first_lo = np.where(lo_hit.any(axis=1), lo_hit.argmax(axis=1), 99)
    better = (first_up < first_lo).mean()
    worse = (first_lo < first_up).mean()
    naive_hit = (np.abs(z) >= 1.959964).any(axis=1).mean()
    return float(better), float(worse), float(naive_hit)


def mc(p: float, n: int) -> float:
    return 3 * float(np.sqrt(p * (1 - p) / n))


def test_daily_checks_keep_false_positives_at_alpha_and_detect_a_10pct_lift():
    design = AbDesign()
    better, worse, naive = _simulate_daily(0.05, 8000, 1, design)
    assert better <= 0.025 + mc(0.025, 8000)  # the benefit side's 2.5%, despite 14 looks
    assert worse <= 0.005 + mc(0.005, 8000)  # false rollbacks on conversion: 0.5%
    assert naive > 0.12  # peeking at a fixed 1.96 every day is badly inflated
    power, _, _ = _simulate_daily(0.055, 3000, 2, design)
    assert power >= 0.8
    assert power == pytest.approx(abtest.design_power(design), abs=0.03)
    _, harm_power, _ = _simulate_daily(0.045, 3000, 3, design)
    assert harm_power >= 0.8  # a 10% drop is caught too


def test_analyse_decides_and_reports_effects_with_intervals():
    design = AbDesign()
    day = "2026-01-07"
    r = abtest.analyse(Arm(1750, 35000), Arm(2100, 35000), design, day=day)
    assert r.decision == AbDecision.CANDIDATE_BETTER
    assert r.look is not None and r.look.info_fraction == pytest.approx(0.5)
    assert r.diff_ci is not None and r.diff_ci[0] > 0
    assert r.relative_lift == pytest.approx(0.2)
    assert r.relative_lift_ci is not None and r.relative_lift_ci[0] > 0 < r.relative_lift_ci[1]
    worse = abtest.analyse(Arm(2100, 35000), Arm(1750, 35000), design, day=day)
    assert worse.decision == AbDecision.CANDIDATE_WORSE
    same = abtest.analyse(Arm(1750, 35000), Arm(1760, 35000), design, day=day)
    assert same.decision == AbDecision.CONTINUE
    final = abtest.analyse(Arm(3500, 70000), Arm(3510, 70000), design, day="2026-01-14", final=True)
    assert final.decision == AbDecision.NO_DIFFERENCE
    assert final.diff_ci is not None and final.diff_ci[0] < 0 < final.diff_ci[1]


def test_too_little_feedback_is_no_data_and_a_concluded_test_is_not_retested():
    design = AbDesign()
    no_data = abtest.analyse(Arm(1, 50), Arm(2, 60), design, day="d", final=True)
    assert no_data.decision == AbDecision.NO_DATA
    assert no_data.to_dict()["exposures"] == (50, 60) and no_data.to_dict()["look"] is None
    earlier = [AbLook("2026-01-05", 1.0, 0.3, 1.97, AbDecision.NO_DIFFERENCE)]
    again = abtest.analyse(
        Arm(3000, 80000), Arm(3600, 80000), design, day="2026-01-06", previous=earlier, final=True
    )
    assert again.decision == AbDecision.NO_DIFFERENCE  # alpha was spent at the final look


def test_the_result_serialises_as_plain_json_values():
    r = abtest.analyse(Arm(1750, 35000), Arm(2100, 35000), AbDesign(), day="2026-01-07")
    out = r.to_dict()
    assert list(out) == [
        "decision",
        "look",
        "rate_stable",
        "rate_candidate",
        "diff",
        "diff_ci",
        "relative_lift",
        "relative_lift_ci",
        "exposures",
        "conversions",
    ]
    assert type(out["decision"]) is str and type(out["look"]["decision"]) is str
    assert AbLook.from_dict(out["look"]) == r.look
    repeated = abtest.AbResult.repeated(r.look).to_dict()
    assert repeated == {"decision": "continue", "look": out["look"], "note": "already looked today"}
