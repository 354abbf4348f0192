"""The chat function: ``POST /api/v2/chat`` and ``GET``/``DELETE /api/v2/session/{id}``.

Thin by design: validate, call the chat service, shape the answer. Its dependencies come
from one place, ``recoengine.wiring.chat``.
Unknown, expired and other users' sessions all answer the same 404, so ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import functions_framework.aio
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from recoengine.chat import Delta, TurnResult
from recoengine.config import settings
from recoengine.errors import InvalidArgument, PayloadTooLarge
from recoengine.web import ApiRequest, EventStream, HttpApp, Reply
from recoengine.web.events import Event
from recoengine.web.logs import add_request_fields
from recoengine.web.metrics import SESSION_COUNT
from recoengine.wiring import chat as wiring

log = logging.getLogger("recoengine.chat")
app = HttpApp("chat")

UserId = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = UserId
    message: str = Field(min_length=1)
    session_id: str | None = Field(default=None, min_length=1, max_length=64)


class SessionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = UserId
    limit: int = Field(default=100, ge=1, le=500)


def _turn_request(req: ApiRequest) -> ChatRequest:
    """The turn's request, validated (CPU only: it runs on the event loop)."""
    body = req.body(ChatRequest)
    wiring.check_user(req, body.user_id)
    limit = settings().chat.max_message_chars
    if len(body.message) > limit:
        raise PayloadTooLarge(f"message exceeds {limit} characters")
    if not body.message.strip():
        raise InvalidArgument(
            "message is blank", details=[{"field": "message", "problem": "blank"}]
        )
    return body


def wants_events(req: ApiRequest) -> bool:
    """``Accept: text/event-stream`` asks for the reply streamed (docs/chat.md)."""
    return "text/event-stream" in req.headers.get("accept", "").lower()


async def _events(turn: AsyncGenerator[Delta | TurnResult, None]) -> AsyncIterator[Event]:
    """The turn as Server-Sent Events: ``{"delta": text}`` data, then ``done`` with the
    answer. Closing this generator (the client left) closes the turn's, which then saves
    nothing."""
    async with contextlib.aclosing(turn):
        async for item in turn:
            if isinstance(item, Delta):
                yield None, {"delta": item.text}
            else:
                add_request_fields(**item.log_fields())  # also without the wiring's on_turn
                yield "done", item.to_dict()


# The turn is async: the store and the engine run in threads (asyncio.to_thread), the model is
# awaited, so no thread waits on Gemini. Session reads and deletes wait on the store: they run
# in the thread pool.
@app.route("POST", "/api/v2/chat", guard=wiring.authenticate)
async def chat_turn(req: ApiRequest) -> dict[str, Any] | EventStream:
    body = _turn_request(req)
    service = wiring.service.built()
    if service is None:  # the first turn builds it (the model loads): not on the event loop
        service = await asyncio.to_thread(wiring.service)
    if wants_events(req):
        # The first event is pulled before the status line: a foreign session is still a 404.
        return EventStream(
            _events(service.stream_turn(body.user_id, body.message, body.session_id))
        )
    result = await service.turn_async(body.user_id, body.message, body.session_id)
    add_request_fields(**result.log_fields())  # also without the wiring's on_turn
    return result.to_dict()


@app.route("GET", "/api/v2/session/{session_id}", guard=wiring.authenticate, blocking=True)
def session_history(req: ApiRequest) -> dict[str, Any]:
    query = req.query_as(SessionQuery)
    wiring.check_user(req, query.user_id)
    return wiring.service().history(req.params["session_id"], query.user_id, query.limit)


@app.route("DELETE", "/api/v2/session/{session_id}", guard=wiring.authenticate, blocking=True)
def session_delete(req: ApiRequest) -> Reply:
    query = req.query_as(SessionQuery)
    wiring.check_user(req, query.user_id)
    wiring.service().delete(req.params["session_id"], query.user_id)
    return Reply(b"", 204)


@app.health.component("store")
def store_health() -> dict[str, Any]:
    store = wiring.service().store
    store.ping()
    return {"backend": store.backend}


@app.health.component("llm")
def llm_health() -> dict[str, Any]:
    service = wiring.service()
    described = dict(service.model.describe())
    # Who understands messages: the offline parser, or the model with the parser as fallback.
    described["understanding"] = service.interpreter.name
    described["understanding_fallbacks"] = service.interpreter.failures
    return described


@app.health.component("recommender")
def recommender_health() -> dict[str, Any]:
    recommender = wiring.service().recommender
    return {"status": "unhealthy"} if recommender is None else recommender.describe()


_active: dict[str, float] = {"sessions": 0.0, "at": -1e9}


def _refresh_session_count() -> None:
    if time.monotonic() - _active["at"] >= 1.0:  # one aggregation query per scrape
        _active["sessions"] = float(wiring.service().store.count_active())
        _active["at"] = time.monotonic()


def _session_count() -> float:
    """Evaluated at every scrape of this process's registry, so ``session_count`` is fresh
    also when another function serves ``/metrics`` (the local stack shares one process);
    the last value is kept when the store is unreachable."""
    try:
        _refresh_session_count()
    except Exception as exc:
        log.warning("session_count not refreshed: %s", exc)
    return _active["sessions"]


app.health.gauge_refresher(_refresh_session_count)
SESSION_COUNT.set_function(_session_count)


@functions_framework.aio.http
async def chat(request: Request) -> Response:
    return await app(request)
