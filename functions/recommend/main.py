"""The recommend function: ``POST /api/v2/recommendations`` and its feedback endpoint.

Thin by design: validate, call the recommender, shape the answer. Its dependencies come from
one place, ``recoengine.wiring.recommend``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field, field_validator

from recoengine.config import settings
from recoengine.serving import RecommendContext
from recoengine.web import ApiRequest, HttpApp, Reply
from recoengine.web.metrics import RECOMMENDATION_FEEDBACK
from recoengine.wiring import recommend as wiring

log = logging.getLogger("recoengine.recommend")
app = HttpApp("recommend")

Id = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")
_TOKEN = re.compile(r"^[^\x00-\x1f]{1,64}$")


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
            if not _TOKEN.match(v):
                raise ValueError("entries must be 1-64 printable characters")
        return values

    @field_validator("persona")
    @classmethod
    def _persona(cls, values: dict[str, str]) -> dict[str, str]:
        for k, v in values.items():
            if not _TOKEN.match(k) or not _TOKEN.match(v):
                raise ValueError("persona keys and values must be 1-64 printable characters")
        return values


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Id
    context: Context = Field(default_factory=Context)
    k: int = Field(default=10, ge=1, le=100, strict=True)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    user_id: str = Id
    item_id: str = Id
    event: Literal["impression", "click", "accept"]


@app.route("POST", "/api/v2/recommendations", guard=wiring.authenticate)
def recommend_items(req: ApiRequest) -> dict[str, Any]:
    body = req.body(RecommendRequest)
    wiring.check_user(req, body.user_id)
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
        recent_events=wiring.recent_events(body.user_id),
    )
    req.log_fields["cache"] = "hit" if result.cached else "miss"
    if result.engine_seconds is not None:
        req.log_fields["recommendation_engine_latency"] = result.engine_seconds
    answer: dict[str, Any] = {
        "items": [item.to_dict() for item in result.items],
        "model_version": result.model_version,
        "request_id": req.request_id,
    }
    if result.warnings:
        answer["warnings"] = result.warnings
    return answer


@app.route("POST", "/api/v2/recommendations/feedback", guard=wiring.authenticate)
def feedback(req: ApiRequest) -> Reply:
    body = req.body(FeedbackRequest)
    wiring.check_user(req, body.user_id)
    revision = settings().service.revision
    RECOMMENDATION_FEEDBACK.labels(body.event, revision).inc()
    stored = wiring.user_events().record(body.user_id, body.item_id, body.event)
    log.info(
        "recommendation feedback",
        extra={
            "json_fields": {
                "event": "feedback",
                "feedback_event": body.event,
                "revision": revision,
                "recommendation_request_id": body.request_id,
                "user_id": body.user_id,
                "item_id": body.item_id,
            }
        },
    )
    return Reply({"status": "recorded", "stored": stored, "request_id": req.request_id}, 202)


app.health.component("recommender", critical=True)(wiring.recommender_status)


@functions_framework.http
def recommend(request: flask.Request) -> flask.Response:
    return app(request)
