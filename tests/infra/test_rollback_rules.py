"""The rollback rules: one source, proven by promtool, carried unchanged into the alert policies.

- ``promtool test rules`` runs tests/infra/rollback_rules.test.yml: each rule fires after its N
  windows in a row, not after N-1, and recovers.
- The rules carry the product spec's thresholds and window counts (labels the canary reads).
- Terraform itself (``terraform console`` on alerts.tf's locals, no provider needed) turns the
  same file into the alert policies' query, duration, evaluation interval and labels.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra import tfconfig as tf

RULES_FILE = tf.ROOT / "shared" / "recoengine" / "rollback_rules.yml"
TEST_FILE = tf.ROOT / "tests" / "infra" / "rollback_rules.test.yml"

# The product spec's rollback triggers: threshold and consecutive windows.
SPEC = {
    "error_rate": (0.01, 3),
    "latency_p95_ms": (500.0, 3),
    "memory_utilization": (0.85, 2),
    "cpu_utilization": (0.80, 3),
}
_UNITS = {"s": 1, "m": 60, "h": 3600}


def _seconds(duration: str) -> int:
    m = re.fullmatch(r"(\d+)([smh])", duration)
    assert m, f"unsupported duration {duration!r}"
    return int(m.group(1)) * _UNITS[m.group(2)]


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return [dict(r, _interval=g["interval"]) for g in doc["groups"] for r in g["rules"]]


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run `make system-deps` (Debian package prometheus)")
    return path


def test_promtool_accepts_the_rules() -> None:
    proc = subprocess.run(
        [_promtool(), "check", "rules", str(RULES_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_unit_tests_prove_n_windows_in_a_row() -> None:
    proc = subprocess.run(
        [_promtool(), "test", "rules", str(TEST_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_the_unit_tests_cover_every_rule_at_n_and_n_minus_1() -> None:
    tests = yaml.safe_load(TEST_FILE.read_text(encoding="utf-8"))["tests"]
    for rule in _rules():
        windows = int(rule["labels"]["windows"])
        firing = [
            t
            for group in tests
            for t in group.get("alert_rule_test", [])
            if t["alertname"] == rule["alert"] and t["exp_alerts"]
        ]
        assert firing, f"no test shows {rule['alert']} firing"
        names = [g["name"] for g in tests]
        assert any(f"only {windows - 1} bad window" in n for n in names), rule["alert"]
        assert any(f"after {windows} bad windows" in n for n in names), rule["alert"]


def test_rules_carry_the_spec_thresholds_and_windows() -> None:
    by_trigger = {r["labels"]["trigger"]: r for r in _rules()}
    assert set(by_trigger) == set(SPEC)
    for trigger, (threshold, windows) in SPEC.items():
        rule = by_trigger[trigger]
        assert float(rule["labels"]["threshold"]) == threshold
        assert int(rule["labels"]["windows"]) == windows
        # The expression compares against the same threshold...
        m = re.search(r">\s*([0-9.]+)\s*$", rule["expr"].strip())
        assert m and float(m.group(1)) == threshold, rule["expr"]
        # ...and "N windows in a row" is pending at the first, firing at the Nth evaluation.
        assert _seconds(rule["for"]) == (windows - 1) * _seconds(rule["_interval"])
        # Per revision: a healthy stable revision must not dilute the candidate.
        assert "revision_name" in rule["expr"]


@pytest.fixture(scope="module")
def terraform_alert_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What alerts.tf computes from the rules file, evaluated by Terraform itself."""
    root = tmp_path_factory.mktemp("alerts")
    module = root / "infra" / "terraform"
    module.mkdir(parents=True)
    (root / "shared").symlink_to(tf.ROOT / "shared")
    source = (tf.TF_DIR / "alerts.tf").read_text(encoding="utf-8")
    block = re.search(r"(?ms)^locals \{.*?^\}", source)
    assert block, "alerts.tf has no locals block"
    (module / "locals.tf").write_text(block.group(0) + "\n", encoding="utf-8")
    (module / "out.tf").write_text(
        'output "alerts" {\n'
        "  value = { for k, r in local.rollback_rules : k => {\n"
        "    seconds = local.rollback_rule_seconds[k], labels = r.labels,\n"
        "    query = trimspace(r.expr), alert = r.alert, group = r.group_name } }\n"
        "}\n",
        encoding="utf-8",
    )
    # No provider is involved, so init/apply run offline and only evaluate the locals.
    for args in (["init", "-input=false"], ["apply", "-input=false", "-auto-approve"]):
        step = tf.terraform(args, module)
        assert step.returncode == 0, f"terraform {args[0]} failed:\n{step.stderr}"
    out = tf.terraform(["output", "-json"], module)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)["alerts"]["value"]
    return result


def test_alert_policies_are_built_from_the_same_rules(
    terraform_alert_inputs: dict[str, Any],
) -> None:
    rules = {r["labels"]["trigger"]: r for r in _rules()}
    assert set(terraform_alert_inputs) == set(SPEC)
    for trigger, computed in terraform_alert_inputs.items():
        rule = rules[trigger]
        assert computed["query"] == rule["expr"].strip()
        assert computed["labels"] == rule["labels"]
        assert computed["alert"] == rule["alert"]
        assert computed["seconds"]["for_seconds"] == _seconds(rule["for"])
        assert computed["seconds"]["interval_seconds"] == _seconds(rule["_interval"])
        windows = SPEC[trigger][1]
        assert computed["seconds"]["for_seconds"] == (windows - 1) * 60


def test_alert_policy_resource_uses_the_computed_inputs() -> None:
    policy = tf.resources("google_monitoring_alert_policy")["rollback"]
    assert policy["for_each"] == "${local.rollback_rules}"
    cond = policy["conditions"][0]["condition_prometheus_query_language"][0]
    assert cond["query"] == "${trimspace(each.value.expr)}"
    assert cond["duration"] == "${local.rollback_rule_seconds[each.key].for_seconds}s"
    assert cond["evaluation_interval"] == (
        "${local.rollback_rule_seconds[each.key].interval_seconds}s"
    )
    assert cond["labels"] == "${each.value.labels}"
    assert 'shared/recoengine/rollback_rules.yml")' in tf.locals_()["rollback_rules_file"]
    assert Path(RULES_FILE).is_file()
