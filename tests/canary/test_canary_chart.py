"""The canary chart shows what happened: traffic to 0% on rollback and to 100% on promotion,
named decisions, metrics in the console's units beside their rules; a bad path is refused
before the simulation."""

from __future__ import annotations

import math

import pytest

from recoengine.canary import simulate, timeline_chart
from recoengine.canary.policy import SHORT_PLAN, CanaryPolicy
from recoengine.canary.scenarios import Scenario
from tools import canary_sim

POLICY = CanaryPolicy(plan=SHORT_PLAN)
PANELS = {panel.key: panel for panel in timeline_chart.PANELS}


@pytest.fixture(scope="module")
def rolled_back() -> simulate.SimResult:
    result = simulate.run(Scenario("memory-leak", seed=1), POLICY)
    assert result.outcome == "rolled_back"
    return result


@pytest.fixture(scope="module")
def promoted() -> simulate.SimResult:
    result = simulate.run(Scenario("healthy", seed=1), POLICY)
    assert result.outcome == "promoted"
    return result


def test_traffic_falls_to_zero_after_the_rollback_window(rolled_back):
    minutes, percent = timeline_chart.traffic_steps(rolled_back)
    assert percent[0] == 5.0
    assert percent[-2:] == [0.0, 0.0]  # the final state, held for a tail that shows
    assert minutes[-2] == rolled_back.windows  # from the end of the last (1-minute) window
    assert minutes[-1] > minutes[-2]


def test_traffic_climbs_each_step_and_reaches_100_on_promotion(promoted):
    _, percent = timeline_chart.traffic_steps(promoted)
    levels = list(dict.fromkeys(percent))
    assert levels == [5.0, 25.0, 50.0, 100.0]


def test_each_level_is_labelled_unless_too_short_to_hold_it(rolled_back, promoted):
    labels = timeline_chart.level_labels(*timeline_chart.traffic_steps(rolled_back))
    assert [level for _, level in labels] == [5.0, 0.0]
    labels = timeline_chart.level_labels(*timeline_chart.traffic_steps(promoted))
    assert [level for _, level in labels] == [5.0, 25.0, 50.0, 100.0]
    # a level that lasts 1 minute in 100 is too short to carry a label; the final one always is
    xs, percent = [0.0, 1.0, 100.0, 101.0], [5.0, 10.0, 0.0, 0.0]
    assert timeline_chart.level_labels(xs, percent) == [(1.0, 10.0), (100.0, 0.0)]


def test_a_held_rollout_keeps_its_last_share():
    held = simulate.run(Scenario("low-traffic", seed=1), POLICY)
    assert held.outcome == "held"
    _, percent = timeline_chart.traffic_steps(held)
    assert percent[-1] == held.timeline[-1]["traffic"] == 5


def test_each_decision_is_named_where_it_was_taken(promoted, rolled_back):
    moves = timeline_chart.decisions(promoted)
    assert [d.label for d in moves] == ["advance to 25%", "advance to 50%", "promote to 100%"]
    assert moves[-1].minute == promoted.windows
    (rollback,) = timeline_chart.decisions(rolled_back)
    assert rollback.action == "rollback" and rollback.label == "rollback to 0% (memory)"


def test_metrics_are_in_percent_and_ms_like_the_console(rolled_back):
    row = rolled_back.timeline[-1]
    for key, scale in (("error_rate", 100), ("memory_utilization", 100), ("latency_p95_ms", 1)):
        panel = PANELS[key]
        _, values = timeline_chart.metric_series(rolled_back, panel)
        assert values["candidate"][-1] == pytest.approx(row["candidate"][key] * scale)
    assert PANELS["error_rate"].ylabel == "error rate (% of requests)"
    assert PANELS["cpu_utilization"].ylabel == "CPU (% of limit)"
    assert PANELS["latency_p95_ms"].ylabel == "p95 latency (ms)"


def test_missing_values_are_gaps_not_zeros():
    held = simulate.run(Scenario("low-traffic", seed=1), POLICY)
    _, values = timeline_chart.metric_series(held, PANELS["error_rate"])
    assert any(math.isnan(v) for v in values["candidate"])


def test_rules_are_drawn_in_the_panel_unit():
    threshold, label = timeline_chart.rule_label(POLICY, PANELS["memory_utilization"])
    rule = POLICY.rules.by_trigger("memory_utilization")
    assert threshold == pytest.approx(rule.threshold * 100)
    assert f"> {threshold:g}%" in label and f"{rule.windows} windows in a row" in label
    _, label = timeline_chart.rule_label(POLICY, PANELS["latency_p95_ms"])
    assert " ms" in label


def test_the_bad_run_that_rolled_back_is_the_triggers(rolled_back, promoted):
    trigger, start, end = timeline_chart.bad_run(rolled_back)
    assert trigger == "memory_utilization"
    assert end - start == rolled_back.breach_count  # windows of one minute
    assert timeline_chart.bad_run(promoted) is None


def test_long_plans_read_in_hours_or_days():
    assert timeline_chart.time_axis(210) == (1.0, "minutes")
    assert timeline_chart.time_axis(30 * 60) == (60.0, "hours")
    assert timeline_chart.time_axis(21 * 24 * 60)[1] == "days"


@pytest.mark.parametrize("scenario", ["memory-leak", "healthy"])
def test_cli_draws_into_a_folder_it_creates(tmp_path, capsys, scenario):
    png = tmp_path / "not" / "yet" / f"{scenario}.png"
    assert canary_sim.main(["--scenario", scenario, "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 30_000
    assert f"chart written to {png}" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["blocked/sim.png", "sim.txt"])
def test_cli_refuses_an_unwritable_chart_before_simulating(tmp_path, capsys, name):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    assert canary_sim.main(["--scenario", "healthy", "--plot", str(tmp_path / name)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no window was simulated
    assert err.startswith(f"error: {tmp_path}") and err.count("\n") == 1
