"""The Cloud Monitoring metrics source (the local one is ``scenarios.SyntheticMetrics``).

``CloudMonitoringMetrics`` reads Cloud Run's built-in per-revision metrics with
``MetricServiceClient.list_time_series`` (``google-cloud-monitoring``, imported lazily), aligned
to the rules' window (1 minute): ``request_count`` by ``response_code_class`` (5xx = errors),
``request_latencies`` (a distribution, re-binned for the rank test), the p95 of
``container/cpu/utilizations`` and ``container/memory/utilizations``, and the log-based
``recommendation_feedback`` metric (labels ``event``, ``revision``) for the A/B test. These are
Cloud Run's own numbers, so they also see failures the application never logs.

Chat's own signals come from two more log-based metrics (infra/terraform/logging_metrics.tf),
per revision through the monitored resource's ``revision_name``: ``chat_turns`` (labels ``reply``
and ``understanding``: ``model``, ``fallback`` or ``offline``) and ``multiturn_engine_latency``
(a distribution in seconds: the turn's time minus the model's wait). Other services have no
such entries, so their turns stay at zero.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from recoengine.canary.windows import (
    MetricsQuery,
    RevisionWindow,
    Window,
    empty_histogram,
    rebin,
)
from recoengine.errors import ServiceUnavailable

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
CPU = "run.googleapis.com/container/cpu/utilizations"
MEMORY = "run.googleapis.com/container/memory/utilizations"
FEEDBACK = "logging.googleapis.com/user/recommendation_feedback"
CHAT_TURNS = "logging.googleapis.com/user/chat_turns"
ENGINE_LATENCY = "logging.googleapis.com/user/multiturn_engine_latency"


@dataclass(frozen=True)
class Series:
    """One ``list_time_series`` read: a metric, a filter, and how to align and reduce it."""

    metric: str
    where: str
    aligner: str
    reducer: str
    group_by: tuple[str, ...]


def _bounds(options: Any) -> np.ndarray:
    """Finite bucket bounds of a Cloud Monitoring ``BucketOptions``."""
    if "linear_buckets" in options:
        lin = options.linear_buckets
        return lin.offset + lin.width * np.arange(lin.num_finite_buckets + 1)
    if "exponential_buckets" in options:
        exp = options.exponential_buckets
        return exp.scale * exp.growth_factor ** np.arange(exp.num_finite_buckets + 1)
    if "explicit_buckets" in options:
        return np.asarray(list(options.explicit_buckets.bounds), dtype=float)
    return np.asarray([], dtype=float)


def distribution_histogram(dist: Any, to_ms: float = 1.0) -> np.ndarray:
    """A distribution re-binned into the canonical milliseconds layout (``to_ms``: the factor
    from the distribution's unit to milliseconds, 1000 for a metric in seconds)."""
    bounds = _bounds(dist.bucket_options) * to_ms
    counts = np.zeros(bounds.size + 1, dtype=np.int64)
    raw = list(dist.bucket_counts)[: counts.size]
    counts[: len(raw)] = raw
    if bounds.size == 0:
        return empty_histogram()
    return rebin(bounds, counts)


class CloudMonitoringMetrics:
    def __init__(
        self, project: str, window_seconds: int = 60, client: Any = None, timeout_s: float = 30.0
    ) -> None:
        self.project = project
        self.window_seconds = window_seconds
        self._client = client
        self._lock = threading.Lock()
        self.timeout_s = timeout_s

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import monitoring_v3

                self._client = monitoring_v3.MetricServiceClient()
            return self._client

    def _query(self, series: Series, start: float, end: float) -> list[Any]:
        from google.api_core import exceptions as gexc
        from google.cloud import monitoring_v3

        agg = monitoring_v3.Aggregation(
            alignment_period={"seconds": self.window_seconds},
            per_series_aligner=getattr(monitoring_v3.Aggregation.Aligner, series.aligner),
            cross_series_reducer=getattr(monitoring_v3.Aggregation.Reducer, series.reducer),
            group_by_fields=list(series.group_by),
        )
        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{self.project}",
            filter=f'metric.type = "{series.metric}" AND {series.where}',
            interval=monitoring_v3.TimeInterval(
                start_time={"seconds": int(start)}, end_time={"seconds": int(end)}
            ),
            aggregation=agg,
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )
        try:
            return list(
                self.client.list_time_series(request=request, retry=None, timeout=self.timeout_s)
            )
        except gexc.GoogleAPICallError as exc:
            raise ServiceUnavailable(f"Cloud Monitoring: {exc.message}") from None

    def windows(self, query: MetricsQuery) -> list[Window]:
        w = self.window_seconds
        service, stable, candidate = query.service, query.stable, query.candidate
        start = (int(query.start) // w) * w
        end = (int(query.end) // w) * w
        if end <= start:
            return []
        revs = f'one_of("{stable}", "{candidate}")'
        res = (
            f'resource.type = "cloud_run_revision" AND resource.labels.service_name = "{service}"'
            f" AND resource.labels.revision_name = {revs}"
        )
        by_rev = ("resource.labels.revision_name",)
        data: dict[tuple[float, str], RevisionWindow] = {}

        def cell(point: Any, revision: str) -> RevisionWindow | None:
            if revision not in (stable, candidate):
                return None
            t_end = point.interval.end_time.timestamp()
            if not start < t_end <= end:
                return None
            return data.setdefault((t_end, revision), RevisionWindow())

        by_class = (*by_rev, "metric.labels.response_code_class")
        for ts in self._query(
            Series(REQUEST_COUNT, res, "ALIGN_DELTA", "REDUCE_SUM", by_class), start, end
        ):
            rev = ts.resource.labels.get("revision_name", "")
            is_error = ts.metric.labels.get("response_code_class", "") == "5xx"
            for p in ts.points:
                c = cell(p, rev)
                if c is not None:
                    c.requests += int(p.value.int64_value)
                    c.errors += int(p.value.int64_value) if is_error else 0
        for metric, attr, to_ms in (
            (REQUEST_LATENCIES, "latency", 1.0),
            (ENGINE_LATENCY, "engine_latency", 1000.0),
        ):
            for ts in self._query(
                Series(metric, res, "ALIGN_DELTA", "REDUCE_SUM", by_rev), start, end
            ):
                rev = ts.resource.labels.get("revision_name", "")
                for p in ts.points:
                    c = cell(p, rev)
                    if c is not None:
                        hist = distribution_histogram(p.value.distribution_value, to_ms)
                        setattr(c, attr, getattr(c, attr) + hist)
        by_who = (*by_rev, "metric.labels.reply", "metric.labels.understanding")
        for ts in self._query(
            Series(CHAT_TURNS, res, "ALIGN_DELTA", "REDUCE_SUM", by_who), start, end
        ):
            rev = ts.resource.labels.get("revision_name", "")
            reply = ts.metric.labels.get("reply", "") == "fallback"
            understanding = ts.metric.labels.get("understanding", "") == "fallback"
            for p in ts.points:
                c = cell(p, rev)
                if c is not None:
                    n = int(p.value.int64_value)
                    c.turns += n
                    c.reply_fallbacks += n if reply else 0
                    c.understanding_fallbacks += n if understanding else 0
        for metric, attr in ((CPU, "cpu"), (MEMORY, "memory")):
            for ts in self._query(
                Series(metric, res, "ALIGN_PERCENTILE_95", "REDUCE_MAX", by_rev), start, end
            ):
                rev = ts.resource.labels.get("revision_name", "")
                for p in ts.points:
                    c = cell(p, rev)
                    if c is not None:
                        setattr(c, attr, float(p.value.double_value))
        by_event = ("metric.labels.revision", "metric.labels.event")
        feedback = Series(
            FEEDBACK, f"metric.labels.revision = {revs}", "ALIGN_DELTA", "REDUCE_SUM", by_event
        )
        for ts in self._query(feedback, start, end):
            rev = ts.metric.labels.get("revision", "")
            event = ts.metric.labels.get("event", "")
            for p in ts.points:
                c = cell(p, rev)
                if c is not None and event:
                    c.feedback[event] = c.feedback.get(event, 0) + int(p.value.int64_value)
        out = []
        for t_end in range(start + w, end + 1, w):
            s = data.get((float(t_end), stable), RevisionWindow())
            c = data.get((float(t_end), candidate), RevisionWindow())
            out.append(Window(float(t_end - w), float(t_end), s, c))
        return out
