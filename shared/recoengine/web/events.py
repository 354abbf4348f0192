"""Server-Sent Events: a handler's answer that arrives piece by piece (a chat reply as the model
writes it).

A handler returns ``EventStream(events)``, ``events`` an async iterator of ``(name, value)``.
``HttpApp`` pulls the first event before it sends the status line, so a failure there (an
unknown session, bad input) is still an ordinary JSON error with its status. Then the answer is
``text/event-stream``: each event is ``event: NAME`` (when NAME is not None) and
``data: <the value as JSON>``, sent (and so flushed) on its own. ``Cache-Control: no-store``
and ``X-Accel-Buffering: no`` keep caches and buffering proxies from holding it back.

The stream ends when the iterator ends, when it raises (the client gets a last ``error`` event
with the JSON error envelope; the status is already sent), or when the client goes away: the
server's ``http.disconnect`` cancels the iteration and the iterator is closed (``aclose``), so
an async generator's ``finally`` runs. In every case the access-log entry and the metrics are
written once, when the stream ends, with how it ended (``stream``: complete, error,
disconnected).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

log = logging.getLogger("recoengine.http")

Event = tuple[str | None, Any]


@dataclass
class EventStream:
    """A handler's answer as Server-Sent Events (see the module's docstring)."""

    events: AsyncIterator[Event]
    headers: dict[str, str] = field(default_factory=dict)


def frame(name: str | None, value: Any) -> bytes:
    """One event as it goes on the wire: orjson never writes a newline, so one data line."""
    data = orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
    if name is None:
        return b"data: " + data + b"\n\n"
    if "\n" in name or "\r" in name:
        raise ValueError(f"an event name cannot hold a line break: {name!r}")
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


# How a stream ended, reported to the layer: (scope, status, bytes sent, outcome, failure).
Finished = Callable[[Mapping[str, Any], int, int, str, BaseException | None], None]


async def _disconnected(receive: Callable[[], Any]) -> None:
    """Returns when the client has gone away (the request's body was read before)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def aclose(events: AsyncIterator[Event]) -> None:
    """Close an async generator (its ``finally`` runs); other iterators need nothing."""
    close = getattr(events, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:
            log.warning("closing an event stream failed", exc_info=True)


class EventStreamResponse(Response):
    """The ``text/event-stream`` answer of an ``EventStream`` whose first event is known."""

    def __init__(
        self,
        first: Event,
        events: AsyncIterator[Event],
        raw_headers: list[tuple[bytes, bytes]],
        *,
        error_body: Callable[[BaseException], dict[str, Any]],
        finished: Finished,
        context: contextvars.Context,
    ) -> None:
        self.status_code = 200
        self.body = b""
        self.background = None
        self.raw_headers = raw_headers
        self._first = first
        self._events = events
        self._error_body = error_body
        self._finished = finished
        self._context = context
        self._sent = 0

    async def _pump(self, send: Callable[[dict[str, Any]], Any]) -> None:
        chunk = frame(*self._first)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        self._sent += len(chunk)
        async for name, value in self._events:
            chunk = frame(name, value)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self._sent += len(chunk)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        outcome, failure = "complete", None
        pump: asyncio.Task[None] | None = None
        watch: asyncio.Task[None] | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            # The request context (request id, trace, log fields) goes on with the iteration.
            pump = asyncio.create_task(self._pump(send), context=self._context)
            watch = asyncio.create_task(_disconnected(receive))
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
            if pump.done():
                failure = pump.exception()
                if failure is not None:
                    outcome = "error"
                    last = frame("error", self._error_body(failure))
                    await send({"type": "http.response.body", "body": last, "more_body": True})
                    self._sent += len(last)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                outcome = "disconnected"
        except asyncio.CancelledError:
            outcome = "disconnected"  # the server gave up on the connection
            raise
        finally:
            for task in (pump, watch):
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            await aclose(self._events)
            self._context.run(self._finished, scope, 200, self._sent, outcome, failure)
