"""Structured JSON logs in Cloud Logging's format, one object per line on stdout.

Cloud Run's logging agent parses these lines: ``severity``, ``message``, ``httpRequest``,
``logging.googleapis.com/trace``/``spanId``/``labels`` become the LogEntry's fields. This is the
format ``google-cloud-logging``'s ``StructuredLogHandler`` writes; we write it ourselves because
importing that library costs ~0.7 s of cold start and the format is a dozen lines.

Use ``log.info("msg", extra={"json_fields": {...}})`` to add structured fields; the access
log of every request goes through ``write_request_log`` (same shape, a fraction of the cost).

Every entry of this module, access log and ``logging`` alike, leaves through ``_emit``, and no
thread ever waits on another's I/O there (the issue measured 40% of samples under load queued
on a lock held across ``flush()``). A thread appends its line to a queue, then writes the queue
only if no other thread is writing (a non-blocking try of ``_writing``): a thread that finds a
writer at work leaves at once, and the writer, before it lets go, writes what arrived meanwhile.
So a line is never interleaved with another (one writer at a time, a partial ``os.write``
continued until the batch is out, whatever the line's length against ``PIPE_BUF``), lines are
written in the order they were queued, and none is left behind: a thread that failed the try
did so while a writer held it, and that writer checks the queue after it lets go. Each batch
is one ``os.write`` to ``sys.stdout``'s file descriptor (or ``sys.stdout.write`` when it has
none, as under a test runner that captures it).
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time
from collections import deque
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from recoengine.web.tracing import current_request_id, current_trace

_configured = False
# Fields added to the current request's access-log entry: log-based metrics read them.
current_log_fields: ContextVar[dict[str, Any] | None] = ContextVar(
    "current_log_fields", default=None
)


def add_request_fields(**fields: Any) -> None:
    """Add fields to the access-log entry of the request being served (no-op outside one)."""
    target = current_log_fields.get()
    if target is not None:
        target.update(fields)


_context: dict[str, Any] = {"project": "local-project", "labels": {}}

# Lines queued, not yet written (append/popleft are atomic). Bounded: should stdout stop taking
# lines (a stalled reader), the oldest waiting lines are dropped instead of memory growing
# (50,000 access lines are ~30 MB); requests never wait for it either way.
MAX_PENDING_LINES = 50_000
_pending: deque[bytes] = deque(maxlen=MAX_PENDING_LINES)
_writing = threading.Lock()  # held by the one thread writing; only ever tried, never waited on
_target: tuple[object, int | None] = (None, None)  # the last sys.stdout seen, and its fd


def _reset_after_fork() -> None:
    """A forked child starts with an empty queue and a free writer, whatever the parent's
    threads were doing at the fork (their lines are the parent's to write)."""
    global _writing
    _pending.clear()
    _writing = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def rfc3339(created: float) -> str:
    """``datetime.fromtimestamp(created, UTC).isoformat()``, formatting each second once."""
    global _second
    whole = int(created // 1)
    micros = round((created - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    second, text = _second
    if second != whole:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (whole, text)
    return f"{text}.{micros:06d}+00:00" if micros else f"{text}+00:00"


def _envelope(severity: str, message: str, created: float) -> dict[str, Any]:
    """The fields every entry carries: severity, message, time, trace, labels."""
    entry: dict[str, Any] = {"severity": severity, "message": message, "time": rfc3339(created)}
    trace = current_trace.get()
    if trace is not None:
        entry["logging.googleapis.com/trace"] = (
            f"projects/{_context['project']}/traces/{trace.trace_id}"
        )
        if trace.span_id:
            entry["logging.googleapis.com/spanId"] = trace.span_id
        entry["logging.googleapis.com/trace_sampled"] = trace.sampled
    labels = dict(_context["labels"])
    request_id = current_request_id.get()
    if request_id:
        labels["request_id"] = request_id
    entry["logging.googleapis.com/labels"] = labels
    return entry


def _write(entry: dict[str, Any]) -> None:
    _emit(orjson.dumps(entry, default=str) + b"\n")


def _emit(line: bytes) -> None:
    """Queue ``line`` (whole, newline-terminated) and write the queue unless another thread
    is writing it now (see the module's docstring for why no line is lost or torn)."""
    _pending.append(line)
    while _pending and _writing.acquire(blocking=False):
        try:
            _drain()
        finally:
            _writing.release()


def _drain() -> None:
    """Write every queued line, as one batch, to the current ``sys.stdout``."""
    lines = []
    while _pending:
        lines.append(_pending.popleft())  # only the writer pops: never empty here
    data = b"".join(lines)
    out = sys.stdout
    fd = _fd_of(out)
    if fd is None:
        try:
            out.write(data.decode())
            out.flush()
        except (AttributeError, OSError, ValueError):  # no stdout, or a closed one: as below
            pass
        return
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]  # a partial write continues with the rest
        except BlockingIOError:  # stdout shared in non-blocking mode: wait until it drains
            select.select([], [fd], [], 1.0)
        except OSError:  # stdout closed (EPIPE): the entry is lost, the request is not
            return


def _fd_of(out: object) -> int | None:
    """``out``'s file descriptor (None: it has none), found once per stream; text that
    ``out`` buffered before is flushed first, so it precedes the lines written past it."""
    global _target
    stream, fd = _target
    if stream is out:
        return fd
    try:
        fd = out.fileno()  # type: ignore[attr-defined]
        out.flush()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # StringIO, a capture buffer, closed
        fd = None
    _target = (out, fd)
    return fd


def write_request_log(
    severity: str, message: str, http_request: dict[str, Any], fields: dict[str, Any]
) -> None:
    """The per-request access entry, written without the ``logging`` machinery.

    One entry per request is the hot path: a LogRecord with caller lookup costs ~60 µs, this
    ~10 µs. The entry has the same shape as every other (``_envelope``).
    """
    entry = _envelope(severity, message, time.time())
    entry.update(fields)
    entry["httpRequest"] = http_request
    _write(entry)


class CloudJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname if record.levelname != "WARN" else "WARNING"
        entry = _envelope(level, record.getMessage(), record.created)
        entry["logger"] = record.name
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        entry["logging.googleapis.com/sourceLocation"] = {
            "file": record.pathname,
            "line": str(record.lineno),
            "function": record.funcName,
        }
        if record.exc_info:
            # Stack traces go to the log (Error Reporting reads them), never to a client.
            entry["stack_trace"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _NoLock:
    """What ``logging.Handler.handle`` takes as its lock (``acquire``/``release`` or ``with``,
    depending on the Python version), doing nothing."""

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        pass


_NO_LOCK = _NoLock()


class _StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is now (test runners and servers swap it), through
    the same lock-free writer as the access log, so their lines never interleave."""

    def createLock(self) -> None:  # noqa: N802 (logging's name)
        """No handler lock: ``_emit`` needs none, and ``handle`` would hold it across I/O."""
        self.lock = _NO_LOCK  # type: ignore[assignment]

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _emit(self.format(record).encode() + b"\n")
        except Exception:  # as StreamHandler: a record that cannot be formatted is reported
            self.handleError(record)


def configure_logging(project: str, level: str, labels: dict[str, str]) -> None:
    """Install the JSON handler on the root logger once per process."""
    global _configured
    if _configured:
        return
    _context["project"] = project
    _context["labels"] = dict(labels)
    handler = _StdoutHandler()
    handler.setFormatter(CloudJsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # google-genai's HTTP library (httpx2, a fork of httpx) logs every model call at INFO:
    # a line per chat turn that says less than the turn's own access-log entry.
    for noisy in (
        "urllib3",
        "google",
        "werkzeug",
        "httpx",
        "httpcore",
        "httpx2",
        "httpcore2",
        "grpc",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    _configured = True
