"""The simulator replays timelines through the real decision logic: the targets, measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recoengine.canary import simulate
from recoengine.canary.policy import SHORT_PLAN, CanaryPolicy
from recoengine.canary.scenarios import Scenario

ROOT = Path(__file__).resolve().parents[2]
POLICY = CanaryPolicy(plan=SHORT_PLAN)
EXPECTED = {
    "error-spike": "error_rate",
    "latency-creep": "latency_p95_ms",
    "memory-leak": "memory_utilization",
    "cpu-saturation": "cpu_utilization",
}


@pytest.mark.parametrize("scenario", list(EXPECTED))
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_each_trigger_rolls_back_exactly_at_its_window_count(scenario, seed):
    result = simulate.run(Scenario(scenario, seed=seed), POLICY)
    trigger = EXPECTED[scenario]
    windows = POLICY.rules.by_trigger(trigger).windows
    assert result.outcome == "rolled_back" and result.trigger == trigger, result.reason
    assert result.breach_count == windows
    rolled_at = result.windows - 1
    # The bad run began exactly windows-1 windows before the rollback, and at no earlier
    # window of that run was any action other than waiting taken.
    assert rolled_at - result.run_start[trigger] + 1 == windows
    run = result.timeline[result.run_start[trigger] : rolled_at]
    assert all(row["action"] in ("continue", "hold") for row in run)
    assert result.timeline[rolled_at]["breaches"][trigger] == windows
    assert rolled_at >= Scenario(scenario).onset  # never before the failure exists


def test_healthy_releases_are_promoted_false_rollback_rate_under_one_percent():
    report = simulate.study("healthy", range(100, 250), POLICY)
    assert report["rollback_rate"] <= 0.01, report
    assert report["outcomes"].get("promoted", 0) >= 148


def test_low_traffic_release_is_held_not_promoted():
    for seed in (1, 2, 3):
        result = simulate.run(Scenario("low-traffic", seed=seed), POLICY)
        assert result.outcome == "held"
        assert "too little" in result.reason


def test_cli_prints_each_window_and_the_outcome_and_draws_the_chart(tmp_path):
    png = tmp_path / "sim.png"
    out = subprocess.run(
        [sys.executable, "tools/canary_sim.py", "--scenario", "memory-leak", "--plot", str(png)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if line.startswith("w=")]
    assert len(lines) >= 20  # one line per window on the short plan
    assert "-> rollback: memory_utilization over 0.85 for 2 windows" in lines[-1]
    assert '"outcome": "rolled_back"' in out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
