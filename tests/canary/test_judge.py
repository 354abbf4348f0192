"""The judge: pass only on evidence, fail only on significant and material regressions."""

from __future__ import annotations

from recoengine.canary.judge import Verdict, judge
from recoengine.canary.policy import CanaryPolicy
from tests.canary.helpers import rev

POLICY = CanaryPolicy()


def check(j, name):
    return next(c for c in j.checks if c.name == name)


def test_too_little_data_is_inconclusive_never_a_pass():
    j = judge(rev(5000, 5), rev(100, 0, seed=1), POLICY)
    assert j.verdict == Verdict.INCONCLUSIVE
    assert "too little data" in j.reason
    assert judge(rev(0, 0), rev(0, 0), POLICY).verdict == Verdict.INCONCLUSIVE


def test_equal_healthy_revisions_pass():
    j = judge(rev(20000, 20), rev(5000, 5, seed=1), POLICY)
    assert j.verdict == Verdict.PASS, j.to_dict()


def test_enough_requests_but_not_enough_evidence_is_inconclusive():
    # 600 requests each: a 0.5-point margin cannot be shown at alpha 1%.
    j = judge(rev(600, 1), rev(600, 1, seed=1), POLICY)
    assert check(j, "error_rate").verdict == Verdict.INCONCLUSIVE
    assert j.verdict == Verdict.INCONCLUSIVE


def test_error_regression_fails_on_the_two_proportion_test():
    j = judge(rev(20000, 20), rev(5000, 60, seed=1), POLICY)  # 0.1% -> 1.2%
    assert j.verdict == Verdict.FAIL
    assert check(j, "error_rate").verdict == Verdict.FAIL
    assert check(j, "error_rate").values["p"] < 0.01


def test_latency_shift_within_the_margin_passes_beyond_it_fails():
    small = judge(rev(20000, 20, 120.0), rev(20000, 20, 126.0, seed=1), POLICY)  # +5%
    lat = check(small, "latency")
    assert lat.values["p"] < 0.01  # significant with this much data...
    assert lat.verdict == Verdict.PASS  # ...but not material: within the 20% margin
    big = judge(rev(20000, 20, 120.0), rev(5000, 5, 180.0, seed=1), POLICY)  # +50%
    assert check(big, "latency").verdict == Verdict.FAIL
    assert big.verdict == Verdict.FAIL


def test_absolute_latency_threshold_fails_even_without_a_big_ratio():
    j = judge(rev(20000, 20, 260.0), rev(5000, 5, 280.0, seed=1), POLICY)
    assert check(j, "latency").values["candidate_p95_ms"] > 500
    assert check(j, "latency").verdict == Verdict.FAIL


def test_cpu_and_memory_over_thresholds_fail_and_missing_data_is_inconclusive():
    assert judge(rev(20000, 20), rev(5000, 5, cpu=0.9, seed=1), POLICY).verdict == Verdict.FAIL
    assert judge(rev(20000, 20), rev(5000, 5, memory=0.9, seed=1), POLICY).verdict == Verdict.FAIL
    no_cpu = judge(rev(20000, 20), rev(5000, 5, cpu=None, seed=1), POLICY)
    assert no_cpu.verdict == Verdict.INCONCLUSIVE
    assert no_cpu.to_dict()["checks"][2]["verdict"] == "inconclusive"
