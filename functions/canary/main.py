"""The canary function: rollout control over HTTP (never public) and the incident entry.

HTTP (``canary``): ``POST /api/v2/canary/{enable,metrics,rollback,promote,advance,pause,
resume,status}`` with a JSON body naming the service; Cloud Scheduler calls ``advance``.
CloudEvent (``canary_incident``): Cloud Monitoring incidents through Pub/Sub -> rollback.
The logic lives in ``recoengine.canary``; this file parses, authenticates and shapes.
"""

from __future__ import annotations

import logging
from typing import Any

import functions_framework
import functions_framework.aio
from cloudevents.http import CloudEvent
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from recoengine.canary.incidents import MalformedIncident, parse_pubsub
from recoengine.web import ApiRequest, HttpApp
from recoengine.wiring.canary import authenticator, controller, prepare_auth, state_status

app = HttpApp("canary")
log = logging.getLogger("recoengine.canary.function")
prepare_auth()  # token mode: the local token exists (and its path is logged) at start-up

NAME = r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"


class ServiceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str = Field(pattern=NAME, max_length=63)


class EnableBody(ServiceBody):
    traffic_percentage: int = Field(ge=1, le=99, strict=True)
    candidate_revision: str | None = Field(default=None, pattern=NAME, max_length=63)


class ReasonBody(ServiceBody):
    reason: str = Field(default="requested by operator", min_length=1, max_length=500)


class RollbackBody(ServiceBody):
    reason: str = Field(min_length=1, max_length=500)


def authenticated(req: ApiRequest) -> None:
    """The guard: the caller's actor name for the audit trail goes into ``req.identity``."""
    req.identity = authenticator()(req.headers)


def actor(req: ApiRequest) -> str:
    return req.identity or "unknown"


def _route(action: str) -> Any:
    """Every action waits on the state store, the Cloud Run Admin API or Cloud Monitoring
    (sync clients), and so does the guard's token check: the thread pool runs them."""
    return app.route("POST", f"/api/v2/canary/{action}", guard=authenticated, blocking=True)


@_route("enable")
def enable(req: ApiRequest) -> dict[str, Any]:
    body = req.body(EnableBody)
    return controller().enable(
        body.service, body.traffic_percentage, body.candidate_revision, actor(req)
    )


@_route("metrics")
def metrics(req: ApiRequest) -> dict[str, Any]:
    return controller().analysis(req.body(ServiceBody).service)


@_route("rollback")
def rollback(req: ApiRequest) -> dict[str, Any]:
    body = req.body(RollbackBody)
    return controller().rollback(body.service, body.reason, actor(req))


@_route("promote")
def promote(req: ApiRequest) -> dict[str, Any]:
    body = req.body(ReasonBody)
    return controller().promote(body.service, body.reason, actor(req))


@_route("advance")
def advance(req: ApiRequest) -> dict[str, Any]:
    return controller().advance(req.body(ServiceBody).service, actor(req))


@_route("pause")
def pause(req: ApiRequest) -> dict[str, Any]:
    body = req.body(ReasonBody)
    return controller().pause(body.service, body.reason, actor(req))


@_route("resume")
def resume(req: ApiRequest) -> dict[str, Any]:
    body = req.body(ReasonBody)
    return controller().resume(body.service, body.reason, actor(req))


@_route("status")
def status(req: ApiRequest) -> dict[str, Any]:
    return controller().status(req.body(ServiceBody).service)


app.health.component("state")(state_status)


@functions_framework.aio.http
async def canary(request: Request) -> Response:
    return await app(request)


@functions_framework.cloud_event
def canary_incident(event: CloudEvent) -> None:
    """Acknowledge malformed messages (logged); let transient failures raise so Pub/Sub
    redelivers (the incident-id claim makes redelivery safe).

    Served like the HTTP entry by functions-framework's ASGI server (the image's ``--asgi``):
    its ASGI app takes the signature type from this decorator and, the function being sync,
    runs it in a thread, since the rollback waits on the Admin API and the store."""
    try:
        incident = parse_pubsub(event.data)
    except MalformedIncident as exc:
        log.warning(
            "malformed incident message acknowledged: %s",
            exc,
            extra={"json_fields": {"canary_event": "malformed_incident", "id": event["id"]}},
        )
        return
    result = controller().handle_incident(incident)
    log.info(
        "incident %s: %s",
        incident.incident_id,
        result["action"],
        extra={
            "json_fields": {
                "canary_event": "incident",
                "service": incident.service or "",
                "revision": incident.revision or "",
                **result,
            }
        },
    )
