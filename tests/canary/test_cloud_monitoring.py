"""Metrics through the real google-cloud-monitoring client against an in-process gRPC fake."""

from __future__ import annotations

import time

import pytest
from google.cloud import monitoring_v3

from recoengine.canary.cloud_monitoring import (
    CHAT_TURNS,
    CPU,
    ENGINE_LATENCY,
    FEEDBACK,
    MEMORY,
    REQUEST_COUNT,
    REQUEST_LATENCIES,
    CloudMonitoringMetrics,
)
from recoengine.canary.windows import MetricsQuery
from recoengine.errors import ServiceUnavailable

T0 = 1_767_225_600


def query(
    start: int, end: int, stable: str = "stable-1", candidate: str = "cand-2"
) -> MetricsQuery:
    return MetricsQuery("recommend", stable, candidate, start, end)


def point(end: int, **value) -> monitoring_v3.Point:
    return monitoring_v3.Point(
        interval=monitoring_v3.TimeInterval(
            start_time={"seconds": end - 60}, end_time={"seconds": end}
        ),
        value=monitoring_v3.TypedValue(**value),
    )


def series(revision: str, points, metric_labels=None, metric_type="x") -> monitoring_v3.TimeSeries:
    return monitoring_v3.TimeSeries(
        metric={"type": metric_type, "labels": metric_labels or {}},
        resource={
            "type": "cloud_run_revision",
            "labels": {"service_name": "recommend", "revision_name": revision},
        },
        points=points,
    )


def latency(counts) -> dict:
    return {
        "count": sum(counts),
        "bucket_options": {
            "exponential_buckets": {"num_finite_buckets": 60, "growth_factor": 1.2, "scale": 1.0}
        },
        "bucket_counts": counts,
    }


@pytest.fixture()
def loaded(monitoring):
    end1, end2 = T0 + 60, T0 + 120
    fast = [0] * 27 + [100]  # all in [1.2^26, 1.2^27) = [114, 137) ms
    slow = [0] * 35 + [100]  # [590, 708) ms
    counts = (
        ("stable-1", "2xx", {end1: 1900, end2: 2000}),
        ("stable-1", "5xx", {end1: 2}),
        ("cand-2", "2xx", {end1: 97, end2: 90}),
        ("cand-2", "5xx", {end1: 3, end2: 10}),
        ("cand-2", "4xx", {end1: 4}),
    )
    monitoring.series[REQUEST_COUNT] = [
        series(
            rev,
            [point(end, int64_value=n) for end, n in by_end.items()],
            {"response_code_class": cls},
        )
        for rev, cls, by_end in counts
    ]
    monitoring.series[REQUEST_LATENCIES] = [
        series("stable-1", [point(end1, distribution_value=latency(fast))]),
        series("cand-2", [point(end1, distribution_value=latency(slow))]),
    ]
    monitoring.series[CPU] = [series("cand-2", [point(end1, double_value=0.83)])]
    monitoring.series[MEMORY] = [series("cand-2", [point(end2, double_value=0.61)])]
    monitoring.series[FEEDBACK] = [
        monitoring_v3.TimeSeries(
            metric={"type": FEEDBACK, "labels": {"revision": rev, "event": ev}},
            resource={"type": "cloud_run_revision", "labels": {"revision_name": rev}},
            points=[point(end1, int64_value=n)],
        )
        for rev, ev, n in (
            ("cand-2", "impression", 80),
            ("cand-2", "click", 5),
            ("stable-1", "impression", 1500),
        )
    ]
    return monitoring


def test_windows_per_revision_from_cloud_runs_built_in_metrics(loaded):
    metrics = CloudMonitoringMetrics("test-project", 60, client=loaded.client(), timeout_s=5)
    windows = metrics.windows(query(T0, T0 + 120))
    assert [(w.start, w.end) for w in windows] == [(T0, T0 + 60), (T0 + 60, T0 + 120)]
    w1, w2 = windows
    assert (w1.stable.requests, w1.stable.errors) == (1902, 2)
    assert (w1.candidate.requests, w1.candidate.errors) == (104, 3)  # 4xx are not errors
    assert (w2.candidate.requests, w2.candidate.errors) == (100, 10)
    assert 114 <= w1.stable.latency_quantile(0.5) <= 140
    assert w1.candidate.latency_quantile(0.95) > 500
    assert w1.candidate.cpu == pytest.approx(0.83) and w2.candidate.memory == pytest.approx(0.61)
    assert w1.candidate.feedback == {"impression": 80, "click": 5}
    assert w1.stable.feedback == {"impression": 1500}


def test_queries_ask_for_aligned_per_revision_series(loaded):
    metrics = CloudMonitoringMetrics("test-project", 60, client=loaded.client(), timeout_s=5)
    metrics.windows(query(T0 + 7, T0 + 125))  # unaligned bounds
    by_type = {r.filter.split('"')[1]: r for r in loaded.requests}
    assert set(by_type) == {
        REQUEST_COUNT,
        REQUEST_LATENCIES,
        CPU,
        MEMORY,
        FEEDBACK,
        CHAT_TURNS,
        ENGINE_LATENCY,
    }
    req = by_type[REQUEST_COUNT]
    assert req.name == "projects/test-project"
    assert 'resource.labels.service_name = "recommend"' in req.filter
    assert 'one_of("stable-1", "cand-2")' in req.filter
    assert req.aggregation.alignment_period.total_seconds() == 60
    assert "metric.labels.response_code_class" in req.aggregation.group_by_fields
    assert (
        req.interval.start_time.timestamp() == T0 and req.interval.end_time.timestamp() == T0 + 120
    )
    assert by_type[CPU].aggregation.per_series_aligner == (
        monitoring_v3.Aggregation.Aligner.ALIGN_PERCENTILE_95
    )
    assert "metric.labels.revision" in by_type[FEEDBACK].filter
    # Chat's signals: per revision (the resource's label), split by who replied / understood.
    for metric in (CHAT_TURNS, ENGINE_LATENCY):
        assert 'resource.labels.service_name = "recommend"' in by_type[metric].filter
        assert "resource.labels.revision_name" in by_type[metric].aggregation.group_by_fields
    assert {"metric.labels.reply", "metric.labels.understanding"} <= set(
        by_type[CHAT_TURNS].aggregation.group_by_fields
    )


def turns(revision: str, reply: str, understanding: str, end: int, n: int):
    return monitoring_v3.TimeSeries(
        metric={"type": CHAT_TURNS, "labels": {"reply": reply, "understanding": understanding}},
        resource={
            "type": "cloud_run_revision",
            "labels": {"service_name": "chat", "revision_name": revision},
        },
        points=[point(end, int64_value=n)],
    )


def seconds(counts) -> dict:
    """A distribution as the multiturn_engine_latency log-based metric has it: seconds,
    exponential buckets from 1 ms doubling (logging_metrics.tf)."""
    return {
        "count": sum(counts),
        "bucket_options": {
            "exponential_buckets": {"num_finite_buckets": 24, "growth_factor": 2, "scale": 0.001}
        },
        "bucket_counts": counts,
    }


def test_chat_turns_fallbacks_and_engine_latency_per_revision(monitoring):
    end = T0 + 60
    monitoring.series[CHAT_TURNS] = [
        turns("cand-2", "model", "model", end, 90),
        turns("cand-2", "fallback", "model", end, 6),
        turns("cand-2", "fallback", "fallback", end, 4),
        turns("cand-2", "model", "fallback", end, 5),
        turns("stable-1", "model", "model", end, 1000),
        turns("stable-1", "offline", "offline", end, 7),  # offline on purpose: no fallback
        turns("other-9", "fallback", "fallback", end, 50),  # a third revision: ignored
    ]
    fast = [0] * 6 + [100]  # [32, 64) ms
    slow = [0] * 10 + [100]  # [512, 1024) ms
    monitoring.series[ENGINE_LATENCY] = [
        series("stable-1", [point(end, distribution_value=seconds(fast))]),
        series("cand-2", [point(end, distribution_value=seconds(slow))]),
    ]
    metrics = CloudMonitoringMetrics("test-project", 60, client=monitoring.client(), timeout_s=5)
    (w,) = metrics.windows(MetricsQuery("chat", "stable-1", "cand-2", T0, T0 + 60))
    c, s = w.candidate, w.stable
    assert (c.turns, c.reply_fallbacks, c.understanding_fallbacks) == (105, 10, 9)
    assert (s.turns, s.reply_fallbacks, s.understanding_fallbacks) == (1007, 0, 0)
    # Seconds become milliseconds on the canonical bounds.
    assert 32 <= s.engine_latency_quantile(0.5) <= 64
    assert 512 <= c.engine_latency_quantile(0.95) <= 1024
    assert c.latency.sum() == 0  # request latencies are a separate series


def test_no_complete_window_means_no_query(monitoring):
    metrics = CloudMonitoringMetrics("test-project", 60, client=monitoring.client(), timeout_s=5)
    assert metrics.windows(query(T0 + 10, T0 + 50, "a", "b")) == []
    assert monitoring.requests == []


def test_an_unreachable_monitoring_api_fails_fast_as_503():
    from testkit.fake_cloud_monitoring import FakeMonitoring

    fake = FakeMonitoring()  # never started: nothing listens on its port
    metrics = CloudMonitoringMetrics("test-project", 60, client=fake.client(), timeout_s=1)
    started = time.perf_counter()
    with pytest.raises(ServiceUnavailable):
        metrics.windows(query(T0, T0 + 60, "a", "b"))
    assert time.perf_counter() - started < 5
