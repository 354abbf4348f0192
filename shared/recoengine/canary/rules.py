"""The rollback triggers, read from the one rules source ``recoengine/rollback_rules.yml``.

That file is in Prometheus rule format so Terraform can turn it into Cloud Monitoring alert
policies and ``promtool`` can prove it; each rule's labels carry ``trigger``, ``threshold`` and
``windows``, which is all the policy needs. Reading them here (never copying numbers) keeps
the policy, the alerts and the tests in agreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from recoengine.errors import ConfigError

RULES_PATH = Path(__file__).resolve().parent.parent / "rollback_rules.yml"
TRIGGERS = ("error_rate", "latency_p95_ms", "memory_utilization", "cpu_utilization")


@dataclass(frozen=True)
class RollbackRule:
    trigger: str
    threshold: float
    windows: int


@dataclass(frozen=True)
class RollbackRules:
    rules: tuple[RollbackRule, ...]
    window_seconds: int

    def by_trigger(self, trigger: str) -> RollbackRule:
        for rule in self.rules:
            if rule.trigger == trigger:
                return rule
        raise KeyError(trigger)


def _seconds(text: str) -> int:
    m = re.fullmatch(r"(\d+)([smh])", text.strip())
    if not m:
        raise ConfigError(f"rollback rules: unsupported duration {text!r}")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def load_rules(path: Path | str | None = None) -> RollbackRules:
    """Parse and validate the rules file; a broken file fails at start-up, naming the rule."""
    source = Path(path) if path else RULES_PATH
    try:
        doc = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"rollback rules {source}: {exc}") from None
    rules: list[RollbackRule] = []
    interval = 60
    for group in (doc or {}).get("groups", []):
        if "interval" in group:
            interval = _seconds(str(group["interval"]))
        for raw in group.get("rules", []):
            labels = raw.get("labels") or {}
            if "trigger" not in labels:
                continue
            name = raw.get("alert", "?")
            try:
                rule = RollbackRule(
                    trigger=str(labels["trigger"]),
                    threshold=float(labels["threshold"]),
                    windows=int(labels["windows"]),
                )
            except (KeyError, ValueError) as exc:
                raise ConfigError(f"rollback rule {name}: bad labels ({exc})") from None
            if rule.trigger not in TRIGGERS or rule.windows < 1:
                raise ConfigError(f"rollback rule {name}: unknown trigger or windows < 1")
            rules.append(rule)
    if not rules:
        raise ConfigError(f"rollback rules {source}: no rule carries a trigger label")
    return RollbackRules(tuple(rules), interval)
