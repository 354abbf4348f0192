"""The recommend function: ``POST /api/v2/recommendations`` and its feedback endpoint.

Thin by design: validate, call the recommender, shape the answer. Its dependencies come from
one place, ``recoengine.wiring.recommend``.

The answer's ``request_id`` is a signed feedback token for the list served
(``recoengine.feedback_tokens``); feedback is accepted only with it (``serving.feedback``).
Counted events are marked on the request's own access-log entry (``event="feedback"``), which
the log-based metric ``recommendation_feedback`` reads: no extra log entry per request.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

import functions_framework.aio
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from recoengine.config import settings
from recoengine.errors import Conflict, Forbidden, InvalidArgument, ServiceError
from recoengine.feedback_tokens import Rejection, TokenRejected
from recoengine.serving import RecommendContext
from recoengine.serving.feedback import AlreadyRecorded
from recoengine.web import ApiRequest, HttpApp, Reply
from recoengine.web.metrics import RECOMMENDATION_FEEDBACK_REFUSED
from recoengine.wiring import recommend as wiring

log = logging.getLogger("recoengine.recommend")
app = HttpApp("recommend")

Id = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")
# Matched whole (fullmatch): with re.match, "$" also matches before a trailing newline.
_TOKEN = re.compile(r"[^\x00-\x1f\x7f]{1,64}")


class Context(BaseModel):
    model_config = ConfigDict(extra="forbid")

    persona: dict[str, str] = Field(default_factory=dict, max_length=20)
    features: list[str] = Field(default_factory=list, max_length=50)
    exclude: list[str] = Field(default_factory=list, max_length=500)
    recent_items: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("features", "exclude", "recent_items")
    @classmethod
    def _tokens(cls, values: list[str]) -> list[str]:
        for v in values:
            if not _TOKEN.fullmatch(v):
                raise ValueError("entries must be 1-64 printable characters")
        return values

    @field_validator("persona")
    @classmethod
    def _persona(cls, values: dict[str, str]) -> dict[str, str]:
        for k, v in values.items():
            if not _TOKEN.fullmatch(k) or not _TOKEN.fullmatch(v):
                raise ValueError("persona keys and values must be 1-64 printable characters")
        return values


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Id
    context: Context = Field(default_factory=Context)
    k: int = Field(default=10, ge=1, le=100, strict=True)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The token from the recommendation's answer (base64url; ~200 characters for k=10).
    request_id: str = Field(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9_.\-]+$")
    user_id: str = Id
    item_id: str = Id
    event: Literal["click", "accept"]

    @field_validator("event", mode="before")
    @classmethod
    def _client_event(cls, value: object) -> object:
        if value == "impression":
            raise ValueError("impressions are counted by the service when it serves the items")
        return value


# Why a token was refused, as the client sees it: status and an explanation of what to do.
_REFUSALS: dict[Rejection, tuple[type[ServiceError], str]] = {
    Rejection.MALFORMED: (
        InvalidArgument,
        "request_id is not a token this service issued: send the request_id of the "
        "recommendation response that served the item",
    ),
    Rejection.FORGED: (
        InvalidArgument,
        "request_id does not carry this service's signature: send it exactly as the "
        "recommendation response gave it",
    ),
    Rejection.EXPIRED: (
        InvalidArgument,
        "request_id has expired: feedback is accepted only for recent recommendations",
    ),
    Rejection.OTHER_USER: (Forbidden, "request_id was issued to another user"),
    Rejection.NOT_SERVED: (
        InvalidArgument,
        "item_id was not among the items this request_id served",
    ),
}


# Where the handler runs (measured: capacity.yml, README): the engine is CPU-only and short
# (~0.1-0.3 ms), so it runs inline on the event loop; in a 16-thread pool the same handler
# served 1,485-1,673 req/s against 2,157-2,281 inline (wrk, same run, 2026-12-06), since a
# thread hop costs more than the engine and the threads only contend for the GIL. The one step
# that can wait on the network is the read of the user's recent events, skipped for users
# known to have none:
# from SQLite (make run) it is a local read of ~25 µs and stays inline; from Firestore (the
# cloud) it is a query that waits ~1-3 ms, which would hold every other request on the loop,
# so it goes to the thread pool.
@app.route("POST", "/api/v2/recommendations", guard=wiring.authenticate)
async def recommend_items(req: ApiRequest) -> dict[str, Any]:
    body = req.body(RecommendRequest)
    wiring.check_user(req, body.user_id)
    recent = wiring.recent_events_without_io(body.user_id)
    if recent is None and settings().chat.session_backend == "firestore":
        recent = await app.run_blocking(wiring.recent_events, body.user_id)
    elif recent is None:
        recent = wiring.recent_events(body.user_id)
    return _recommend(req, body, recent)


def _recommend(req: ApiRequest, body: RecommendRequest, recent: list[str]) -> dict[str, Any]:
    service = wiring.recommender()
    result = service.recommend(
        body.user_id,
        body.k,
        RecommendContext(
            persona=body.context.persona,
            features=body.context.features,
            exclude=body.context.exclude,
            recent_items=body.context.recent_items,
        ),
        recent_events=recent,
    )
    req.log_fields["cache"] = "hit" if result.cached else "miss"
    if result.engine_seconds is not None:
        req.log_fields["recommendation_engine_latency"] = result.engine_seconds
    revision = settings().service.revision
    token = wiring.feedback().served(body.user_id, revision, [i.item_id for i in result.items])
    req.log_fields.update(event="feedback", feedback_event="impression", revision=revision)
    answer: dict[str, Any] = {
        # ScoredItem is a dataclass whose fields are the answer's (its to_dict): orjson writes
        # it in C, with no dict built per item.
        "items": result.items,
        "model_version": result.model_version,
        "request_id": token,
    }
    if result.warnings:
        answer["warnings"] = result.warnings
    return answer


# Claims and events are written to the store (Firestore in the cloud): a thread waits for them.
@app.route("POST", "/api/v2/recommendations/feedback", guard=wiring.authenticate, blocking=True)
def feedback(req: ApiRequest) -> Reply:
    body = req.body(FeedbackRequest)
    wiring.check_user(req, body.user_id)
    try:
        recorded = wiring.feedback().record(body.request_id, body.user_id, body.item_id, body.event)
    except TokenRejected as exc:
        error_type, message = _REFUSALS[exc.reason]
        details = [{"field": "request_id", "problem": exc.reason.value}]
        raise _refused(exc.reason.value, error_type(message, details=details)) from None
    except AlreadyRecorded:
        raise _refused(
            "replayed",
            Conflict(f"this {body.event} on this item of this request is already recorded"),
        ) from None
    req.log_fields.update(user_id=body.user_id, item_id=body.item_id)
    if recorded.counted:  # enters the A/B counts, attributed to the revision that served it
        req.log_fields.update(
            event="feedback", feedback_event=body.event, revision=recorded.revision
        )
    answer = {"status": "recorded", "counted": recorded.counted, "stored": recorded.stored}
    return Reply({**answer, "request_id": req.request_id}, 202)


def _refused(reason: str, error: ServiceError) -> ServiceError:
    RECOMMENDATION_FEEDBACK_REFUSED.labels(reason).inc()
    return error


app.health.component("feedback", critical=True)(wiring.feedback_status)
app.health.component("recommender", critical=True)(wiring.recommender_status)


@functions_framework.aio.http
async def recommend(request: Request) -> Response:
    return await app(request)
