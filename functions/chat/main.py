"""The chat function: ``POST /api/v2/chat`` and ``GET``/``DELETE /api/v2/session/{id}``.

Thin by design: validate, call the chat service, shape the answer. Its dependencies come
from one place, ``recoengine.wiring.chat``.
Unknown, expired and other users' sessions all answer the same 404, so ids cannot be probed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import functions_framework.aio
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from recoengine.config import settings
from recoengine.errors import InvalidArgument, PayloadTooLarge
from recoengine.web import ApiRequest, HttpApp, Reply
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


# Every route waits on the session store and the turn on the model (sync clients for now):
# each runs in the thread pool (capacity.yml's threads), never on the event loop.
@app.route("POST", "/api/v2/chat", guard=wiring.authenticate, blocking=True)
def chat_turn(req: ApiRequest) -> dict[str, Any]:
    body = req.body(ChatRequest)
    wiring.check_user(req, body.user_id)
    limit = settings().chat.max_message_chars
    if len(body.message) > limit:
        raise PayloadTooLarge(f"message exceeds {limit} characters")
    if not body.message.strip():
        raise InvalidArgument(
            "message is blank", details=[{"field": "message", "problem": "blank"}]
        )
    result = wiring.service().turn(body.user_id, body.message, body.session_id)
    add_request_fields(**result.log_fields())  # chat_turns: the canary's fallback rates
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
