"""The log writer of every function (``recoengine.web.logs``): no thread waits on another's
I/O, and under any interleaving every line arrives whole, once, in the order it was queued.

Driven over a real pipe (what Cloud Run's logging agent reads), with lines longer than
``PIPE_BUF`` and a non-blocking pipe whose writes come back partial."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from recoengine.web import logs

HTTP = {"requestMethod": "POST", "requestUrl": "/api/v2/recommendations", "status": 200}


class PipeStdout:
    """Stands for ``sys.stdout`` on a pipe: the writer uses its ``fileno``; a reader thread
    collects what arrives."""

    def __init__(self, capacity: int | None = None, *, nonblocking: bool = False) -> None:
        self.read_fd, self.write_fd = os.pipe()
        if capacity is not None:
            fcntl.fcntl(self.write_fd, 1031, capacity)  # F_SETPIPE_SZ: a small pipe fills up
        if nonblocking:
            os.set_blocking(self.write_fd, False)
        self.received = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self.read_fd, 1000):  # small reads: the writer meets a full pipe
            self.received += chunk

    def fileno(self) -> int:
        return self.write_fd

    def flush(self) -> None:
        pass

    def close(self) -> list[dict[str, object]]:
        """Every line received, parsed (a torn or merged line fails to parse)."""
        os.close(self.write_fd)
        self._reader.join(timeout=30)
        os.close(self.read_fd)
        text = self.received.decode()
        assert text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]


@contextmanager
def stdout_to(out: object) -> Iterator[None]:
    """``sys.stdout`` replaced inside the test's body (pytest's capture resets it between a
    fixture's set-up and the test)."""
    saved = sys.stdout
    sys.stdout = out  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = saved


@pytest.fixture()
def pipe() -> PipeStdout:
    return PipeStdout(capacity=4096, nonblocking=True)


def _writers(threads: int, lines: int) -> None:
    log = logging.getLogger("tests.log_writer")

    def work(t: int) -> None:
        for n in range(lines):
            # Every fifth line is far past PIPE_BUF (4096): it can only arrive whole if no
            # other write lands between its pieces.
            pad = "x" * (20_000 if n % 5 == 0 else 10)
            if n % 7 == 0:  # the logging path shares the writer with the access log
                log.warning("record", extra={"json_fields": {"t": t, "n": n, "pad": pad}})
            else:
                logs.write_request_log("INFO", "POST", HTTP, {"t": t, "n": n, "pad": pad})

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
        assert not thread.is_alive()


@pytest.fixture()
def json_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    handler = logs._StdoutHandler()
    handler.setFormatter(logs.CloudJsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    yield
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_concurrent_lines_arrive_whole_once_and_in_each_threads_order(
    pipe: PipeStdout, json_logging: None
) -> None:
    with stdout_to(pipe):
        _writers(threads=8, lines=60)
    entries = pipe.close()
    assert len(entries) == 8 * 60
    for t in range(8):
        assert [e["n"] for e in entries if e["t"] == t] == list(range(60))
    access = [e for e in entries if "httpRequest" in e]
    assert access and all(e["httpRequest"] == HTTP for e in access)
    assert all(e["severity"] in ("INFO", "WARNING") and "time" in e for e in entries)


def test_a_thread_finding_a_writer_at_work_queues_its_line_and_returns(
    pipe: PipeStdout, json_logging: None
) -> None:
    def both() -> None:  # an access entry and a logging record
        logs.write_request_log("INFO", "queued", HTTP, {"n": 1})
        logging.getLogger("tests.log_writer").warning("queued", extra={"json_fields": {"n": 2}})

    with stdout_to(pipe):
        assert logs._writing.acquire(blocking=False)  # this test is "the writer at work"
        try:
            other = threading.Thread(target=both)
            other.start()
            other.join(timeout=30)
            assert not other.is_alive()  # it waited for neither the writer nor a lock
            assert len(logs._pending) == 2
        finally:
            logs._writing.release()
        logs.write_request_log("INFO", "next", HTTP, {"n": 3})  # the next takes all out
    assert [e["n"] for e in pipe.close()] == [1, 2, 3]
    assert not logs._pending


def test_a_stream_without_a_file_descriptor_gets_text() -> None:
    out = io.StringIO()
    with stdout_to(out):
        logs.write_request_log("INFO", "POST /x 200", HTTP, {"cache": "hit"})
    entry = json.loads(out.getvalue())
    assert entry["cache"] == "hit" and entry["httpRequest"] == HTTP
    # the process's labels (service, revision) once a function configured logging; no request id
    assert entry["logging.googleapis.com/labels"] == logs._context["labels"]


def test_a_closed_stdout_loses_the_line_not_the_request() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # the reader is gone: writes fail with EPIPE
    out = io.FileIO(write_fd, "w")
    with stdout_to(out):
        logs.write_request_log("INFO", "POST /x 200", HTTP, {})
    assert not logs._pending and not logs._writing.locked()
    out.close()


def test_no_stdout_or_a_closed_one_never_fails_the_request() -> None:
    closed = io.StringIO()
    closed.close()
    for out in (None, closed):
        with stdout_to(out):
            logs.write_request_log("INFO", "POST /x 200", HTTP, {})
        assert not logs._pending and not logs._writing.locked()


def test_a_stalled_stdout_bounds_the_queue_and_keeps_the_newest(pipe: PipeStdout) -> None:
    assert logs._pending.maxlen == logs.MAX_PENDING_LINES
    saved = logs._pending
    logs._pending = deque(maxlen=3)  # a small bound, to see it act
    try:
        with stdout_to(pipe):
            assert logs._writing.acquire(blocking=False)  # the writer is stuck on stdout
            try:
                for n in range(5):
                    logs.write_request_log("INFO", "waiting", HTTP, {"n": n})
                assert len(logs._pending) == 3
            finally:
                logs._writing.release()
            logs.write_request_log("INFO", "unstuck", HTTP, {"n": 5})
    finally:
        logs._pending = saved
    assert [e["n"] for e in pipe.close()] == [3, 4, 5]
