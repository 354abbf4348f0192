"""The product's Prometheus metrics, defined once for every function.

Names come from the product spec. Locally they are scraped from ``GET /metrics``; in the cloud
the same numbers reach Cloud Monitoring through log-based metrics and Cloud Run's own metrics.
"""

from __future__ import annotations

import threading
from collections import deque

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

REGISTRY = CollectorRegistry(auto_describe=True)
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ENGINE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 1.0)

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by function, route and status code.",
    ["function", "route", "method", "status"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
HTTP_REQUEST_TOTAL = Counter(
    "http_request_total",
    "HTTP requests by function, route and status code.",
    ["function", "route", "method", "status"],
    registry=REGISTRY,
)
PERSONALITY_ROUTER_LATENCY = Histogram(
    "personality_router_latency_seconds",
    "Time the personality router takes to pick the persona of a turn.",
    buckets=_ENGINE_BUCKETS,
    registry=REGISTRY,
)
RECOMMENDATION_ENGINE_LATENCY = Histogram(
    "recommendation_engine_latency",
    "Seconds the recommendation engine spends scoring one request (cache misses).",
    buckets=_ENGINE_BUCKETS,
    registry=REGISTRY,
)
MULTITURN_ENGINE_LATENCY = Histogram(
    "multiturn_engine_latency",
    "Seconds the multi-turn engine spends on one turn, excluding the language model call.",
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
_FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
CHAT_TURNS = Counter(
    "chat_turns_total",
    "Chat turns saved, by who wrote the reply and who understood the message: model, "
    "fallback (the configured model failed; the offline part stood in) or offline.",
    ["reply", "understanding"],
    registry=REGISTRY,
)
CHAT_MODEL_CALLS = Counter(
    "chat_model_calls_total",
    "Calls that reached the language model (understanding and reply, retries included); "
    "per turn: rate(chat_model_calls_total) / rate(chat_turns_total).",
    registry=REGISTRY,
)
CHAT_TOKENS = Counter(
    "chat_tokens_total",
    "Tokens of the chat's replies as the model counted them, by direction (in, out).",
    ["direction"],
    registry=REGISTRY,
)
CHAT_FIRST_TOKEN = Histogram(
    "chat_first_token_seconds",
    "Seconds from a turn's start until reply text existed: the first streamed delta, or the "
    "whole reply of a non-streaming turn; by how the turn was asked (stream, whole).",
    ["mode"],
    buckets=_FIRST_TOKEN_BUCKETS,
    registry=REGISTRY,
)
SESSION_COUNT = Gauge(
    "session_count",
    "Active (unexpired) chat sessions, from an aggregation query.",
    registry=REGISTRY,
)
RECOMMENDATION_CACHE = Counter(
    "recommendation_cache_requests_total",
    "Recommendation result cache lookups by result (hit or miss).",
    ["result"],
    registry=REGISTRY,
)
RECOMMENDATION_FEEDBACK = Counter(
    "recommendation_feedback_total",
    "Verified feedback by event and serving revision (A/B test): impressions are served "
    "lists, clicks and accepts count once per list.",
    ["event", "revision"],
    registry=REGISTRY,
)
RECOMMENDATION_FEEDBACK_REFUSED = Counter(
    "recommendation_feedback_refused_total",
    "Feedback refused and not counted, by reason (malformed, forged, expired, other_user, "
    "not_served, replayed).",
    ["reason"],
    registry=REGISTRY,
)


class RecentRequests:
    """Status and latency of the last N requests: the error-rate gauge and /health/detailed."""

    def __init__(self, size: int = 100) -> None:
        self._items: deque[tuple[int, float]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, status: int, seconds: float) -> None:
        with self._lock:
            self._items.append((status, seconds))

    def snapshot(self) -> list[tuple[int, float]]:
        with self._lock:
            return list(self._items)

    def error_rate_percentage(self) -> float:
        items = self.snapshot()
        if not items:
            return 0.0
        return 100.0 * sum(1 for status, _ in items if status >= 500) / len(items)


RECENT = RecentRequests(100)
ERROR_RATE_PERCENTAGE = Gauge(
    "error_rate_percentage",
    "Share of 5xx answers among the last 100 requests of this instance, in percent.",
    registry=REGISTRY,
)
ERROR_RATE_PERCENTAGE.set_function(RECENT.error_rate_percentage)


def exposition() -> tuple[bytes, str]:
    """Prometheus text exposition of every metric of this process."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
