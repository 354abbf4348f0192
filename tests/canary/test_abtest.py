"""Group-sequential A/B analysis: boundaries, power, and a simulation of daily peeking."""

from __future__ import annotations

import numpy as np
import pytest

from recoengine.canary import abtest, sequential
from recoengine.canary.abtest import AbDesign, AbLook


def test_boundaries_match_published_obrien_fleming_lan_demets_values():
    # gsDesign sfLDOF, 5 equally spaced looks, two-sided alpha 0.05.
    got = sequential.boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05)
    assert got == pytest.approx([4.877, 3.357, 2.680, 2.290, 2.031], abs=2e-3)


def test_total_alpha_is_spent_exactly_and_one_look_is_the_fixed_test():
    fractions = [k / 14 for k in range(1, 15)]
    b = sequential.boundaries(fractions, 0.05, final=True)
    assert sequential.power(fractions, b, 0.0) == pytest.approx(0.05, abs=1e-4)
    assert sequential.boundaries([1.0], 0.05) == pytest.approx([1.95996], abs=1e-4)
    assert sequential.power([1.0], [1.959964], 1.959964 + 0.841621) == pytest.approx(0.8, abs=1e-3)


def test_fractions_must_increase():
    with pytest.raises(ValueError):
        sequential.boundaries([0.5, 0.4])


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
    r = abtest.analyse(1750, 35000, 2100, 35000, [], design, "2026-01-07", final=False)
    assert r.decision == "candidate_better"
    assert r.look is not None and r.look.info_fraction == pytest.approx(0.5)
    assert r.diff_ci[0] > 0 and r.relative_lift == pytest.approx(0.2)
    assert r.relative_lift_ci[0] > 0 < r.relative_lift_ci[1]
    worse = abtest.analyse(2100, 35000, 1750, 35000, [], design, "2026-01-07", final=False)
    assert worse.decision == "candidate_worse"
    same = abtest.analyse(1750, 35000, 1760, 35000, [], design, "2026-01-07", final=False)
    assert same.decision == "continue"
    final = abtest.analyse(3500, 70000, 3510, 70000, [], design, "2026-01-14", final=True)
    assert final.decision == "no_difference"
    assert final.diff_ci[0] < 0 < final.diff_ci[1]


def test_too_little_feedback_is_no_data_and_a_concluded_test_is_not_retested():
    design = AbDesign()
    assert abtest.analyse(1, 50, 2, 60, [], design, "d", final=True).decision == "no_data"
    earlier = [AbLook("2026-01-05", 1.0, 0.3, 1.97, "no_difference")]
    again = abtest.analyse(3000, 80000, 3600, 80000, earlier, design, "2026-01-06", final=True)
    assert again.decision == "no_difference"  # alpha was spent at the final look
