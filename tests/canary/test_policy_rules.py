"""The rules come from the one rules source; plans parse and validate; checks are scheduled."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from recoengine.canary.policy import DEFAULT_PLAN, SHORT_PLAN, CanaryPolicy, parse_plan
from recoengine.canary.rules import RULES_PATH, load_rules
from recoengine.errors import ConfigError


def test_rules_are_read_from_the_shared_rules_file():
    rules = load_rules()
    spec = {r.trigger: (r.threshold, r.windows, r.min_requests) for r in rules.rules}
    assert spec == {
        "error_rate": (0.01, 3, 100),
        "latency_p95_ms": (500.0, 3, 100),
        "memory_utilization": (0.85, 2, 100),
        "cpu_utilization": (0.8, 3, 100),
    }
    chat = rules.for_service("chat")
    assert {r.trigger: (r.threshold, r.windows, r.min_requests) for r in chat.rules} == {
        "error_rate": (0.01, 3, 100),
        "engine_latency_p95_ms": (500.0, 3, 100),
        "reply_fallback_rate": (0.05, 3, 100),
        "understanding_fallback_rate": (0.1, 3, 100),
        "memory_utilization": (0.85, 2, 100),
        "cpu_utilization": (0.8, 3, 100),
    }
    assert rules.window_seconds == chat.window_seconds == 60
    assert (rules.service, chat.service) == ("default", "chat")
    assert rules.for_service("recommend") is rules and chat.for_service("canary") is rules
    # Agreement with the alert itself: "N windows in a row" is `for: (N-1) minutes`.
    doc = yaml.safe_load(RULES_PATH.read_text())
    for group in doc["groups"]:
        for raw in group["rules"]:
            minutes = int(str(raw["for"]).rstrip("m"))
            assert minutes == int(raw["labels"]["windows"]) - 1


def test_the_policy_gives_each_service_its_rules():
    policy = CanaryPolicy()
    assert policy.rules_for("chat").get("latency_p95_ms") is None
    assert policy.rules_for("chat").by_trigger("engine_latency_p95_ms").threshold == 500
    assert policy.rules_for("recommend") is policy.rules


def test_a_changed_rules_file_changes_the_policy(tmp_path: Path):
    doc = yaml.safe_load(RULES_PATH.read_text())
    doc["groups"][0]["rules"][0]["labels"]["windows"] = "5"
    doc["groups"][1]["rules"][1]["labels"]["threshold"] = "800"
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(doc))
    rules = load_rules(path)
    assert rules.by_trigger("error_rate").windows == 5
    assert rules.for_service("chat").by_trigger("engine_latency_p95_ms").threshold == 800
    assert CanaryPolicy(rules=rules).rules_for("chat").by_trigger("error_rate").windows == 3


def rule(service: str, trigger: str, extra: str = ", min_requests: '5'") -> str:
    labels = f"service: {service}, trigger: {trigger}, threshold: '1', windows: '2'{extra}"
    return f"{{alert: A, labels: {{{labels}}}}}"


def rules_doc(*rules: str) -> str:
    return f"groups: [{{rules: [{', '.join(rules)}]}}]"


@pytest.mark.parametrize(
    "content",
    [
        "groups: [{rules: [{alert: X, labels: {trigger: error_rate}}]}]",
        "{}",
        ": :",
        rules_doc(rule("default", "error_rate", "")),  # no minimum request count
        rules_doc(rule("default", "error_rate", ", min_requests: '0'")),  # one request decides
        rules_doc(rule("default", "error_rate"), rule("default", "error_rate")),  # a duplicate
        rules_doc(rule("chat", "error_rate")),  # no default rules for every other service
        rules_doc(rule("default", "p99")),  # an unknown trigger
        # groups with different windows
        rules_doc(rule("default", "error_rate")).replace("{rules", "{interval: 1m, rules")[:-1]
        + ", {interval: 2m, rules: []}]",
    ],
)
def test_broken_rules_fail_at_start_up(tmp_path: Path, content: str):
    path = tmp_path / "rules.yml"
    path.write_text(content)
    with pytest.raises(ConfigError):
        load_rules(path)


def test_default_plan_mirrors_the_product_timeline():
    steps = DEFAULT_PLAN.steps
    assert [s.traffic_percent for s in steps] == [5, 10, 50]
    assert steps[0].min_duration_s == 3600
    assert steps[1].min_duration_s == 7 * 86400 and steps[1].check_hours_utc == (8, 16)
    assert steps[2].ab_test and steps[2].min_duration_s == 14 * 86400
    assert all(s.min_requests > 0 for s in steps)
    assert [s.traffic_percent for s in SHORT_PLAN.steps] == [5, 25, 50]


def test_compact_plan_spec():
    plan = parse_plan("5:30m:200,20:2h:1000@08+16,50:1d:5000:ab@08")
    assert [s.traffic_percent for s in plan.steps] == [5, 20, 50]
    assert plan.steps[0].min_duration_s == 1800
    assert plan.steps[1].check_hours_utc == (8, 16)
    assert plan.steps[2].ab_test and plan.steps[2].min_duration_s == 86400
    assert parse_plan("short") is SHORT_PLAN and parse_plan("") is DEFAULT_PLAN


@pytest.mark.parametrize(
    "spec", ["5:1h", "5:1x:10", "0:1h:10", "50:1h:10,10:1h:10", "5:1h:10:xx", "a:1h:1", "5:1h:1@25"]
)
def test_bad_plan_specs_are_config_errors(spec: str):
    with pytest.raises(ConfigError):
        parse_plan(spec)


def test_checks_run_once_per_listed_utc_hour():
    policy = CanaryPolicy()
    step = DEFAULT_PLAN.steps[1]
    at = lambda h, m=0, d=2: datetime(2026, 1, d, h, m, tzinfo=UTC)  # noqa: E731
    assert not policy.is_check_time(step, at(7, 59), None)
    assert policy.is_check_time(step, at(8, 5), None)
    assert not policy.is_check_time(step, at(8, 35), at(8, 5))  # same slot already checked
    assert policy.is_check_time(step, at(16, 0), at(8, 5))
    assert policy.is_check_time(step, at(8, 1, d=3), at(8, 5))  # next day
    assert policy.is_check_time(DEFAULT_PLAN.steps[0], at(3), at(3))  # no hours: every call
