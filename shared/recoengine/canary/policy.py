"""The rollout plan (steps with a minimum duration and request count) and the policy knobs.

The default plan mirrors the product's timeline: 5% for at least an hour (go/no-go), 10% for
7 days judged at 08:00 and 16:00 UTC, a 50% A/B test for 14 days, then 100%. Services without a
feedback metric use a short plan (5 -> 25 -> 50 -> 100 over hours). Any plan can be given as a
compact spec: ``PCT:DURATION:MIN_REQUESTS[:ab][@HH+HH]`` per step, comma separated, e.g.
``5:1h:500,10:7d:5000@08+16,50:14d:20000:ab@08``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime

from recoengine.canary.abtest import AbDesign
from recoengine.canary.rules import RollbackRules, load_rules
from recoengine.errors import ConfigError


@dataclass(frozen=True)
class Step:
    traffic_percent: int
    min_duration_s: float
    min_requests: int  # candidate requests during the step before it may be judged a pass
    ab_test: bool = False
    check_hours_utc: tuple[int, ...] = ()  # empty: judge at every scheduler call
    max_duration_factor: float = 3.0  # held this long past the minimum -> paused for a human

    @property
    def max_duration_s(self) -> float:
        return self.min_duration_s * self.max_duration_factor


@dataclass(frozen=True)
class RolloutPlan:
    name: str
    steps: tuple[Step, ...]

    def step(self, index: int) -> Step:
        return self.steps[index]


DAY = 86400.0
DEFAULT_PLAN = RolloutPlan(
    "default",
    (
        Step(5, 3600.0, 500),
        Step(10, 7 * DAY, 5000, check_hours_utc=(8, 16)),
        Step(50, 14 * DAY, 20000, ab_test=True, check_hours_utc=(8,)),
    ),
)
SHORT_PLAN = RolloutPlan(
    "short",
    (Step(5, 1800.0, 1000), Step(25, 3600.0, 5000), Step(50, 7200.0, 20000)),
)

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}


def _duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not m:
        raise ConfigError(f"CANARY_PLAN: bad duration {text!r} (use e.g. 30m, 1h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_plan(spec: str) -> RolloutPlan:
    """``default``, ``short`` or a compact spec (see the module docstring)."""
    spec = spec.strip()
    if spec in ("", "default"):
        return DEFAULT_PLAN
    if spec == "short":
        return SHORT_PLAN
    steps: list[Step] = []
    for part in spec.split(","):
        body, _, hours = part.strip().partition("@")
        fields = body.split(":")
        if len(fields) not in (3, 4) or (len(fields) == 4 and fields[3] != "ab"):
            raise ConfigError(f"CANARY_PLAN: bad step {part!r} (PCT:DURATION:MIN_REQ[:ab][@HH+HH])")
        try:
            pct, min_req = int(fields[0]), int(fields[2])
            checks = tuple(int(h) for h in hours.split("+")) if hours else ()
        except ValueError:
            raise ConfigError(f"CANARY_PLAN: bad numbers in {part!r}") from None
        if not 0 < pct < 100 or min_req < 0 or any(not 0 <= h < 24 for h in checks):
            raise ConfigError(f"CANARY_PLAN: step {part!r} out of range")
        steps.append(Step(pct, _duration(fields[1]), min_req, len(fields) == 4, checks))
    if any(b.traffic_percent <= a.traffic_percent for a, b in itertools.pairwise(steps)):
        raise ConfigError("CANARY_PLAN: traffic must increase from step to step")
    return RolloutPlan("custom", tuple(steps))


@dataclass(frozen=True)
class JudgeConfig:
    """Kayenta-style comparison knobs: significance plus an effect size worth acting on."""

    alpha: float = 0.01
    error_margin: float = 0.005  # absolute error-rate increase that matters (0.5 points)
    latency_margin: float = 0.20  # relative p95 increase that matters (20%)
    min_requests: int = 500  # per revision, before anything can pass


@dataclass(frozen=True)
class CanaryPolicy:
    plan: RolloutPlan = DEFAULT_PLAN
    rules: RollbackRules = field(default_factory=load_rules)  # the default rules (see rules_for)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    ab: AbDesign = field(default_factory=AbDesign)
    conversion_event: str = "click"
    exposure_event: str = "impression"
    ab_early_stop: bool = False  # promote before 14 days when the candidate is clearly better
    ab_worse_action: str = "rollback"  # or "pause": a human decides on a conversion drop

    def rules_for(self, service: str) -> RollbackRules:
        """The rollback rules that judge ``service`` (its own, or the default ones)."""
        return self.rules.for_service(service)

    def is_check_time(self, step: Step, now: datetime, last_check: datetime | None) -> bool:
        """Whether the judge runs now: every call, or once per listed UTC hour."""
        if not step.check_hours_utc:
            return True
        if now.hour not in step.check_hours_utc:
            return False
        if last_check is None:
            return True
        return (last_check.date(), last_check.hour) != (now.date(), now.hour)
