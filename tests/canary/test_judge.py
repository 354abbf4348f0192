"""The judge: pass only on evidence, fail only on significant and material regressions."""

from __future__ import annotations

import numpy as np

from recoengine.canary.judge import Verdict, judge
from recoengine.canary.policy import CanaryPolicy
from tests.canary.helpers import histogram_of, rev

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


# --- chat: its own rules -----------------------------------------------------------------------


def chat_rev(
    requests, errors, latency_ms=1500.0, engine_ms=60.0, reply=3, understanding=10, seed=0
):
    w = rev(requests, errors, latency_ms, seed=seed)
    engine = np.random.default_rng(seed + 1000).lognormal(np.log(engine_ms), 0.4, requests)
    w.turns, w.engine_latency = requests, histogram_of(engine)
    w.reply_fallbacks, w.understanding_fallbacks = reply, understanding
    return w


def test_chat_turns_waiting_on_the_model_pass_where_the_default_rules_fail():
    stable, candidate = chat_rev(20000, 20), chat_rev(5000, 5, seed=1)
    assert candidate.latency_quantile(0.95) > 2000  # the model's wait, both revisions alike
    chat = judge(stable, candidate, POLICY, "chat")
    assert chat.verdict == Verdict.PASS, chat.to_dict()
    assert [c.name for c in chat.checks] == [
        "error_rate",
        "latency",
        "engine_latency",
        "reply_fallback",
        "understanding_fallback",
        "cpu",
        "memory",
    ]
    # The same numbers judged by the spec's absolute 500 ms fail.
    assert check(judge(stable, candidate, POLICY, "recommend"), "latency").verdict == Verdict.FAIL


def test_chat_engine_latency_is_judged_relatively_and_against_its_threshold():
    j = judge(chat_rev(20000, 20), chat_rev(5000, 5, engine_ms=120.0, seed=1), POLICY, "chat")
    assert check(j, "engine_latency").verdict == Verdict.FAIL  # 2x the stable engine
    assert "significantly" in check(j, "engine_latency").reason
    j = judge(
        chat_rev(20000, 20, engine_ms=400.0),
        chat_rev(5000, 5, engine_ms=420.0, seed=1),
        POLICY,
        "chat",
    )
    assert check(j, "engine_latency").values["candidate_p95_ms"] > 500
    assert check(j, "engine_latency").verdict == Verdict.FAIL
    assert "over 500 ms" in check(j, "engine_latency").reason
    # A model that got slower for the candidate only is caught by the relative request check.
    j = judge(chat_rev(20000, 20), chat_rev(5000, 5, latency_ms=2500.0, seed=1), POLICY, "chat")
    assert check(j, "latency").verdict == Verdict.FAIL


def test_chat_fallback_rates_fail_on_a_material_excess_over_the_stable_revision():
    stable = chat_rev(20000, 20, reply=60, understanding=200)
    worse = judge(stable, chat_rev(5000, 5, reply=400, seed=1), POLICY, "chat")  # 0.3% -> 8%
    assert check(worse, "reply_fallback").verdict == Verdict.FAIL
    assert worse.verdict == Verdict.FAIL
    misread = judge(stable, chat_rev(5000, 5, understanding=900, seed=1), POLICY, "chat")
    assert check(misread, "understanding_fallback").verdict == Verdict.FAIL  # 1% -> 18%
    # 0.3% -> 2%: significant, but under the 5-point margin that matters.
    slight = judge(stable, chat_rev(5000, 5, reply=100, seed=1), POLICY, "chat")
    assert check(slight, "reply_fallback").verdict == Verdict.PASS
    no_turns = chat_rev(5000, 5, seed=1)
    no_turns.turns = 0
    assert check(judge(stable, no_turns, POLICY, "chat"), "reply_fallback").verdict == (
        Verdict.INCONCLUSIVE
    )
