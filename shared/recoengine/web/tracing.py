"""Trace context of the current request, parsed from Google's or W3C's header.

Kept in a ContextVar so log records written anywhere during the request carry the trace id
that Cloud Logging uses to group them under the request in the console.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

_CLOUD = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d+))?(?:;o=([01]))?$")
_W3C = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str | None = None
    sampled: bool = False


def parse_trace(cloud_header: str | None, traceparent: str | None) -> TraceContext | None:
    """Trace from ``X-Cloud-Trace-Context`` (preferred: Cloud Run sets it) or ``traceparent``."""
    if cloud_header:
        m = _CLOUD.match(cloud_header.strip())
        if m:
            span = format(int(m.group(2)), "016x") if m.group(2) else None
            return TraceContext(m.group(1).lower(), span, m.group(3) == "1")
    if traceparent:
        m = _W3C.match(traceparent.strip().lower())
        if m and m.group(1) != "0" * 32:
            return TraceContext(m.group(1), m.group(2), int(m.group(3), 16) & 1 == 1)
    return None


current_trace: ContextVar[TraceContext | None] = ContextVar("current_trace", default=None)
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
