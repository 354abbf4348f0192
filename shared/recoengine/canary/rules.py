"""The rollback triggers per service, from the one rules source ``recoengine/rollback_rules.yml``.

That file is in Prometheus rule format so Terraform can turn it into Cloud Monitoring alert
policies and ``promtool`` can prove it; each rule's labels carry ``service``, ``trigger``,
``threshold``, ``windows`` and ``min_requests``, which is all the controller needs. Reading them
here (never copying numbers) keeps the controller's judge, the alerts, the dashboards and the
tests in agreement.

A rule's ``service`` names the Cloud Run service it judges; ``default`` (or no label) judges
every service without rules of its own. ``load_rules`` returns the default rules, which carry
every service's rules, so ``rules.for_service("chat")`` needs nothing else from the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from recoengine.errors import ConfigError

RULES_PATH = Path(__file__).resolve().parent.parent / "rollback_rules.yml"
DEFAULT_SERVICE = "default"
# Triggers judged on the revision's requests (Cloud Run's request_count) ...
REQUEST_TRIGGERS = ("error_rate", "latency_p95_ms", "memory_utilization", "cpu_utilization")
# ... and on its chat turns (the chat_turns / multiturn_engine_latency log-based metrics).
TURN_TRIGGERS = ("engine_latency_p95_ms", "reply_fallback_rate", "understanding_fallback_rate")
TRIGGERS = REQUEST_TRIGGERS + TURN_TRIGGERS


@dataclass(frozen=True)
class RollbackRule:
    trigger: str
    threshold: float
    windows: int
    # Samples (requests, or turns for TURN_TRIGGERS) the revision needs in a window for the
    # window to have a value; the alert's `and on (...) ... >= N` clause carries the same N.
    min_requests: int = 100
    alert: str = ""

    @property
    def counts_turns(self) -> bool:
        return self.trigger in TURN_TRIGGERS


@dataclass(frozen=True)
class RollbackRules:
    """One service's rules; ``services`` maps every service of the file to its rules."""

    rules: tuple[RollbackRule, ...]
    window_seconds: int
    service: str = DEFAULT_SERVICE
    services: Mapping[str, RollbackRules] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    def by_trigger(self, trigger: str) -> RollbackRule:
        for rule in self.rules:
            if rule.trigger == trigger:
                return rule
        raise KeyError(trigger)

    def get(self, trigger: str) -> RollbackRule | None:
        """The rule for ``trigger``, or None when this service is not judged on it."""
        return next((r for r in self.rules if r.trigger == trigger), None)

    def for_service(self, service: str) -> RollbackRules:
        """``service``'s own rules, or the default rules when it has none."""
        return self.services.get(service) or self.services.get(DEFAULT_SERVICE) or self


def _seconds(text: str) -> int:
    m = re.fullmatch(r"(\d+)([smh])", text.strip())
    if not m:
        raise ConfigError(f"rollback rules: unsupported duration {text!r}")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def _rule(raw: dict[str, Any]) -> tuple[str, RollbackRule]:
    labels = raw.get("labels") or {}
    name = str(raw.get("alert", "?"))
    try:
        rule = RollbackRule(
            trigger=str(labels["trigger"]),
            threshold=float(labels["threshold"]),
            windows=int(labels["windows"]),
            min_requests=int(labels["min_requests"]),
            alert=name,
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"rollback rule {name}: bad labels ({exc})") from None
    if rule.trigger not in TRIGGERS or rule.windows < 1 or rule.min_requests < 1:
        raise ConfigError(f"rollback rule {name}: unknown trigger, windows < 1 or min_requests < 1")
    return str(labels.get("service", DEFAULT_SERVICE)), rule


def load_rules(path: Path | str | None = None) -> RollbackRules:
    """Parse and validate the rules file; a broken file fails at start-up, naming the rule.

    Returns the default rules; ``.for_service(name)`` gives any service's."""
    source = Path(path) if path else RULES_PATH
    try:
        doc = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"rollback rules {source}: {exc}") from None
    by_service: dict[str, list[RollbackRule]] = {}
    intervals: set[int] = set()
    for group in (doc or {}).get("groups", []) if isinstance(doc, dict) else []:
        if "interval" in group:
            intervals.add(_seconds(str(group["interval"])))
        for raw in group.get("rules", []):
            if "trigger" not in (raw.get("labels") or {}):
                continue
            service, rule = _rule(raw)
            same = by_service.setdefault(service, [])
            if any(r.trigger == rule.trigger for r in same):
                raise ConfigError(f"rollback rule {rule.alert}: {service} has two {rule.trigger}")
            same.append(rule)
    if not by_service:
        raise ConfigError(f"rollback rules {source}: no rule carries a trigger label")
    if DEFAULT_SERVICE not in by_service:
        raise ConfigError(f"rollback rules {source}: no default rules (label service: default)")
    if len(intervals) > 1:
        raise ConfigError(f"rollback rules {source}: groups disagree on the window length")
    interval = intervals.pop() if intervals else 60
    services: dict[str, RollbackRules] = {}
    view = MappingProxyType(services)
    for service, rules in by_service.items():
        services[service] = RollbackRules(tuple(rules), interval, service, view)
    return services[DEFAULT_SERVICE]
