"""The rollback rules: one source per service, proven by promtool, carried into the alert policies.

- ``promtool test rules`` runs tests/infra/rollback_rules.test.yml: each (service, trigger) rule
  fires after its N windows in a row, not after N-1, never below its minimum request count, and
  recovers; chat's latency rule ignores a slow model wait when the engine is fast.
- The rules carry the product spec's thresholds and window counts for recommend and canary (the
  default rules) and chat's own; each expression is filtered to its service and gated by the
  minimum its labels state (the number the canary's judge reads).
- Terraform itself (``terraform apply`` on alerts.tf's locals, no provider needed) turns the
  same file into the alert policies' query, duration, evaluation interval and labels.
- The needs-attention alert's PromQL fires on one logged ``canary_event="needs_attention"``.
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

# The rollback triggers per rule set: threshold, consecutive windows, minimum sample a window.
# "default" (recommend, canary, any other service) is the product spec's.
SPEC: dict[str, dict[str, tuple[float, int, int]]] = {
    "default": {
        "error_rate": (0.01, 3, 100),
        "latency_p95_ms": (500.0, 3, 100),
        "memory_utilization": (0.85, 2, 100),
        "cpu_utilization": (0.80, 3, 100),
    },
    "chat": {
        "error_rate": (0.01, 3, 100),
        "engine_latency_p95_ms": (500.0, 3, 100),
        "reply_fallback_rate": (0.05, 3, 100),
        "understanding_fallback_rate": (0.10, 3, 100),
        "memory_utilization": (0.85, 2, 100),
        "cpu_utilization": (0.80, 3, 100),
    },
}
GATE = "and on (service_name, revision_name)"
SELECTOR = re.compile(r"\b[a-z0-9_]+_googleapis_com:[A-Za-z0-9_]+(\{[^}]*\})?")
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


def test_promtool_unit_tests_prove_n_windows_in_a_row_and_the_minimum() -> None:
    proc = subprocess.run(
        [_promtool(), "test", "rules", str(TEST_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_the_unit_tests_cover_every_rule_at_n_n_minus_1_and_the_minimum() -> None:
    tests = yaml.safe_load(TEST_FILE.read_text(encoding="utf-8"))["tests"]
    names = [g["name"] for g in tests]
    for rule in _rules():
        alert, windows = rule["alert"], int(rule["labels"]["windows"])
        fires = [n for n in names if n.startswith(f"{alert}: fires after {windows} bad windows")]
        assert len(fires) == 1, f"no test shows {alert} firing at its {windows}th window"
        group = tests[names.index(fires[0])]
        firing = [t for t in group["alert_rule_test"] if t["exp_alerts"]]
        assert firing and all(t["alertname"] == alert for t in firing)
        labels = firing[0]["exp_alerts"][0]["exp_labels"]
        assert labels == {
            **rule["labels"],
            **{k: labels[k] for k in ("service_name", "revision_name")},
        }
        plural = "s" if windows - 1 != 1 else ""
        assert f"{alert}: not after only {windows - 1} bad window{plural}" in names, alert
        minimum = rule["labels"]["min_requests"]
        assert any(n.startswith(f"{alert}: not below {minimum} ") for n in names), alert
    # chat: a slow model with a fast engine fires neither chat's rule nor the spec's 500 ms.
    slow = next(g for g in tests if g["name"].startswith("chat: a slow model wait"))
    checked = {t["alertname"] for t in slow["alert_rule_test"] if not t["exp_alerts"]}
    assert {"ChatCanaryEngineLatencyP95High", "CanaryLatencyP95High"} <= checked


def test_rules_carry_each_services_thresholds_windows_and_minimum() -> None:
    by_service: dict[str, dict[str, dict[str, Any]]] = {}
    for rule in _rules():
        by_service.setdefault(rule["labels"]["service"], {})[rule["labels"]["trigger"]] = rule
    assert {s: set(r) for s, r in by_service.items()} == {s: set(t) for s, t in SPEC.items()}
    own = sorted(s for s in SPEC if s != "default")
    for service, triggers in SPEC.items():
        # The default rules judge every service without rules of its own, and no other.
        if service == "default":
            wanted = f'service_name!~"{"|".join(own)}"'
        else:
            wanted = f'service_name="{service}"'
        for trigger, (threshold, windows, minimum) in triggers.items():
            rule = by_service[service][trigger]
            labels = rule["labels"]
            assert float(labels["threshold"]) == threshold
            assert int(labels["windows"]) == windows
            assert int(labels["min_requests"]) == minimum
            # <value> > threshold, gated per revision by the minimum the labels state.
            value, gate = rule["expr"].split(GATE)
            m = re.search(r">\s*([0-9.]+)\s*$", value.strip())
            assert m and float(m.group(1)) == threshold, rule["expr"]
            m = re.search(r">=\s*([0-9]+)\s*$", gate.strip())
            assert m and int(m.group(1)) == minimum, rule["expr"]
            assert gate.strip().startswith("sum by (service_name, revision_name) (increase(")
            # Every selector is filtered to the rule's service.
            for sel in SELECTOR.finditer(rule["expr"]):
                assert wanted in (sel.group(1) or ""), f"{rule['alert']}: {sel.group(0)}"
            # "N windows in a row" is pending at the first, firing at the Nth evaluation.
            assert _seconds(rule["for"]) == (windows - 1) * _seconds(rule["_interval"])
            # Per revision: a healthy stable revision must not dilute the candidate.
            assert "revision_name" in value
    # Chat's request latency waits on the model: no absolute latency rule judges it.
    assert "latency_p95_ms" not in by_service["chat"]


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
        "}\n"
        'output "needs_attention" {\n'
        "  value = local.needs_attention_query\n"
        "}\n",
        encoding="utf-8",
    )
    # No provider is involved, so init/apply run offline and only evaluate the locals.
    for args in (["init", "-input=false"], ["apply", "-input=false", "-auto-approve"]):
        step = tf.terraform(args, module)
        assert step.returncode == 0, f"terraform {args[0]} failed:\n{step.stderr}"
    out = tf.terraform(["output", "-json"], module)
    assert out.returncode == 0, out.stderr
    outputs = json.loads(out.stdout)
    return {
        "alerts": outputs["alerts"]["value"],
        "needs_attention": outputs["needs_attention"]["value"],
    }


def test_alert_policies_are_built_from_the_same_rules(
    terraform_alert_inputs: dict[str, Any],
) -> None:
    computed_all = terraform_alert_inputs["alerts"]
    rules = {r["alert"]: r for r in _rules()}
    # One alert policy per (service, trigger), each rule under its own (unique) alert name.
    assert len(rules) == len(_rules()) == sum(len(t) for t in SPEC.values())
    assert set(computed_all) == set(rules)
    for key, computed in computed_all.items():
        rule = rules[key]
        assert computed["query"] == rule["expr"].strip()
        assert computed["labels"] == rule["labels"]
        assert computed["alert"] == rule["alert"]
        assert computed["seconds"]["for_seconds"] == _seconds(rule["for"])
        assert computed["seconds"]["interval_seconds"] == _seconds(rule["_interval"])
        windows = SPEC[rule["labels"]["service"]][rule["labels"]["trigger"]][1]
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


NEEDS_ATTENTION_TEST = """
rule_files: [needs_attention.rules.yml]
evaluation_interval: 1m
tests:
  - name: one needs_attention entry pages, for its service, until the entries stop
    interval: 1m
    input_series:
      - series: 'logging_googleapis_com:user_canary_needs_attention{SERIES}'
        values: "0x5 1x20"
    alert_rule_test:
      - eval_time: 4m
        alertname: CanaryNeedsAttention
        exp_alerts: []
      - eval_time: 6m
        alertname: CanaryNeedsAttention
        exp_alerts:
          - exp_labels: {service: recommend}
      - eval_time: 12m
        alertname: CanaryNeedsAttention
        exp_alerts: []
"""


def test_the_needs_attention_alert_fires_on_one_logged_entry(
    terraform_alert_inputs: dict[str, Any], tmp_path: Path
) -> None:
    """The query alerts.tf deploys, proven by promtool: the first entry fires it (for the
    service named in the entry), and it clears once the entries stop."""
    rule = {"alert": "CanaryNeedsAttention", "expr": terraform_alert_inputs["needs_attention"]}
    doc = {"groups": [{"name": "attention", "rules": [rule]}]}
    (tmp_path / "needs_attention.rules.yml").write_text(yaml.safe_dump(doc))
    labels = (
        'monitored_resource="cloud_run_revision",service_name="canary",'
        'revision_name="canary-00001-a",service="recommend"'
    )
    (tmp_path / "test.yml").write_text(NEEDS_ATTENTION_TEST.replace("SERIES", labels))
    proc = subprocess.run(
        [_promtool(), "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metric = tf.resources("google_logging_metric")["canary_needs_attention"]
    assert 'jsonPayload.canary_event="needs_attention"' in metric["filter"]
    assert metric["label_extractors"] == {"service": "EXTRACT(jsonPayload.service)"}
    policy = tf.resources("google_monitoring_alert_policy")["canary_needs_attention"]
    cond = policy["conditions"][0]["condition_prometheus_query_language"][0]
    assert cond["query"] == "${local.needs_attention_query}"
    # A human acts on it: never the incidents channel, whose subscriber rolls back.
    assert policy["notification_channels"] == [
        "${google_monitoring_notification_channel.operators.id}"
    ]
    channel = tf.resources("google_monitoring_notification_channel")["operators"]
    assert channel["type"] == "email"
    assert channel["labels"] == {"email_address": "${var.operators_group}"}
