"""Synthetic metric timelines: a healthy baseline with realistic noise and the failure modes.

Used by the simulator (``make canary-sim``) and by the local metrics backend of ``make run``, so
a laptop with no Google account sees a rollout progress. Everything is drawn from one seeded
generator per window, so a (scenario, seed, window) triple always gives the same numbers.

Noise model of the healthy baseline (both revisions): Poisson traffic with a daily cycle,
~0.1% 5xx, log-normal latencies (median 120 ms, p95 ~250 ms) with occasional shared slow
minutes and shared one-minute error bursts (a dependency hiccup hits both revisions), colder
(slower) first minutes for the new revision, CPU following load, memory near 55%.

A chat timeline (``chat=True``, the local backend's ``chat`` service) also has turns: every
request is a turn that waits on the model (request median ~1.2 s) while the engine itself takes
~60 ms; ~0.3% of replies and ~1% of understandings fall back. Its failure modes: the candidate
breaks its model calls (``model-fallback``), or the model slows down for every revision
(``slow-model``: chat's rules must NOT roll that back, the engine is as fast as before).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np

from recoengine.canary import normal
from recoengine.canary.windows import LATENCY_BOUNDS_MS, MetricsQuery, RevisionWindow, Window

SCENARIOS = (
    "healthy",
    "error-spike",
    "latency-creep",
    "memory-leak",
    "cpu-saturation",
    "low-traffic",
)
# A chat timeline's own failure modes; on any other service they are healthy timelines.
CHAT_SCENARIOS = ("model-fallback", "slow-model")
CHAT_SERVICE = "chat"  # the local backend gives this service's timelines chat turns


@dataclass(frozen=True)
class Profile:
    error_rate: float = 0.001
    latency_median_ms: float = 120.0
    latency_sigma: float = 0.45
    cpu: float = 0.45
    memory: float = 0.55
    conversion: float = 0.05
    engine_median_ms: float = 60.0  # chat: the turn minus the model's wait
    reply_fallback: float = 0.003  # chat: the model failed, the offline reply stood in
    understanding_fallback: float = 0.01  # chat: the model's understanding was not usable


def _probs(median: float, sigma: float) -> np.ndarray:
    """Bucket probabilities, rounded so nearby profiles share one cached computation."""
    return _bucket_probs(round(median, 1), round(sigma, 3))


@functools.lru_cache(maxsize=4096)
def _bucket_probs(median: float, sigma: float) -> np.ndarray:
    """P(latency in each canonical bucket) for a log-normal, via the normal CDF."""
    z = (np.log(LATENCY_BOUNDS_MS) - math.log(median)) / sigma
    cdf = normal.cdf_array(z)
    edges = np.concatenate([[0.0], cdf, [1.0]])
    probs = np.clip(np.diff(edges), 0.0, None)
    return probs / probs.sum()


@dataclass(frozen=True)
class Scenario:
    """A timeline: ``window(i, share)`` is window ``i`` with the candidate at ``share``."""

    name: str
    seed: int = 0
    requests_per_window: float = 4000.0
    impressions_per_request: float = 0.005  # feedback volume: ~29k impressions a day
    onset: int = 10  # first window of the failure (windows since the rollout began)
    window_seconds: int = 60
    chat: bool = False  # requests are chat turns waiting on a model (see the module docstring)

    def __post_init__(self) -> None:
        known = SCENARIOS + CHAT_SCENARIOS
        if self.name not in known:
            raise ValueError(f"unknown scenario {self.name!r}; one of {', '.join(known)}")

    def daily_impressions(self) -> int:
        """What the A/B design should plan for with this timeline's traffic."""
        per_day = 86400 / self.window_seconds
        return int(self.requests_per_window * per_day * self.impressions_per_request)

    def candidate_profile(self, i: int, base: Profile) -> Profile:
        k = i - self.onset
        if (
            k < 0
            or self.name in ("healthy", "low-traffic")
            or (self.name in CHAT_SCENARIOS and not self.chat)
        ):
            return base
        if self.name == "model-fallback":
            return replace(base, reply_fallback=0.3)
        if self.name == "slow-model":
            return base  # both revisions: see window()
        if self.name == "error-spike":
            return replace(base, error_rate=0.05)
        if self.name == "latency-creep":
            median = base.latency_median_ms * (1.0 + 0.10 * (k + 1))
            return replace(base, latency_median_ms=median)
        if self.name == "memory-leak":
            memory = min(0.99, base.memory + 0.02 * (k + 1))
            return replace(base, memory=memory)
        # cpu-saturation
        median = base.latency_median_ms * 1.3
        return replace(base, latency_median_ms=median, cpu=0.93)

    def window(self, i: int, share: float, start: float = 0.0) -> Window:
        rng = np.random.default_rng([self.seed, i])
        per_window = 20.0 if self.name == "low-traffic" else self.requests_per_window
        minutes = i * self.window_seconds / 60.0
        cycle = 1.0 + 0.3 * math.sin(2 * math.pi * minutes / 1440.0)
        total = int(rng.poisson(per_window * cycle))
        n_cand = int(rng.binomial(total, share))
        slow = 1.5 if rng.random() < 0.02 else 1.0  # a shared slow minute
        burst = rng.random() < 0.005  # a shared minute of 3% errors (a dependency blip)
        load = cycle * (1.0 + 0.1 * rng.standard_normal())
        base = Profile(error_rate=0.03) if burst else Profile()
        if self.chat:  # the reply waits on the model: the request is slow, the engine is not
            wait = 2.5 if self.name == "slow-model" and i >= self.onset else 1.0
            base = replace(base, latency_median_ms=1200.0 * wait)
        cand = self.candidate_profile(i, base)
        if i < 2:  # cold instances of the new revision answer slower at first
            slower = cand.latency_median_ms * 1.6
            cand = replace(cand, latency_median_ms=slower)
        windows = []
        for profile, n in ((base, total - n_cand), (cand, n_cand)):
            w = self._revision(rng, profile, n, slow, load, self.impressions_per_request)
            if self.chat:
                self._turns(rng, profile, w)
            windows.append(w)
        t0 = start + i * self.window_seconds
        return Window(t0, t0 + self.window_seconds, windows[0], windows[1])

    @staticmethod
    def _revision(
        rng: np.random.Generator, p: Profile, n: int, slow: float, load: float, impr: float
    ) -> RevisionWindow:
        hist = rng.multinomial(n, _probs(p.latency_median_ms * slow, p.latency_sigma))
        cpu = p.cpu * load + 0.04 * rng.standard_normal() if p.cpu < 0.9 else p.cpu
        memory = p.memory + 0.02 * rng.standard_normal()
        impressions = int(rng.binomial(n, impr))
        clicks = int(rng.binomial(impressions, p.conversion))
        return RevisionWindow(
            requests=n,
            errors=int(rng.binomial(n, p.error_rate)),
            latency=hist.astype(np.int64),
            cpu=float(min(1.0, max(0.0, cpu))) if n else None,
            memory=float(min(1.0, max(0.0, memory))) if n else None,
            feedback={"impression": impressions, "click": clicks},
        )

    @staticmethod
    def _turns(rng: np.random.Generator, p: Profile, w: RevisionWindow) -> None:
        """Every request of a chat revision is a turn: fallbacks and the engine's latency."""
        w.turns = w.requests
        w.reply_fallbacks = int(rng.binomial(w.turns, p.reply_fallback))
        w.understanding_fallbacks = int(rng.binomial(w.turns, p.understanding_fallback))
        hist = rng.multinomial(w.turns, _probs(p.engine_median_ms, p.latency_sigma))
        w.engine_latency = hist.astype(np.int64)


class SyntheticMetrics:
    """Local backend: a scenario timeline (healthy by default), starting at the rollout."""

    def __init__(self, scenario: str = "healthy", seed: int = 0, window_seconds: int = 60) -> None:
        self.scenario = scenario
        self.seed = seed
        self.window_seconds = window_seconds

    def windows(self, query: MetricsQuery) -> list[Window]:
        w = self.window_seconds
        chat = query.service == CHAT_SERVICE
        sc = Scenario(self.scenario, seed=self.seed, window_seconds=w, chat=chat)
        first = max(0, int((query.start - query.origin) // w))
        last = int((query.end - query.origin) // w)
        return [sc.window(i, query.share, query.origin) for i in range(first, last)]
