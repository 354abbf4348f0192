"""Cloud Monitoring incidents (notification schema version 1.2) delivered through Pub/Sub.

Only what the rollback needs is extracted: the id (to deduplicate), the state (``open`` acts,
``closed`` is a no-op), and which Cloud Run service and revision the incident is about. The
revision may be in the resource labels (metric-threshold conditions on ``cloud_run_revision``)
or in the metric labels (PromQL conditions keep the series' labels there). Anything that does
not parse raises ``MalformedIncident``: the handler logs and acknowledges it, because Pub/Sub
would otherwise redeliver a message that can never succeed.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any


class MalformedIncident(ValueError):
    pass


@dataclass(frozen=True)
class Incident:
    incident_id: str
    state: str
    service: str | None
    revision: str | None
    policy_name: str
    summary: str
    trigger: str | None
    started_at: float | None


def _labels(obj: Any) -> dict[str, str]:
    if not isinstance(obj, dict):
        return {}
    labels = obj.get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def parse_incident(payload: Any) -> Incident:
    """Parse the notification JSON (``{"incident": {...}, "version": "1.2"}``)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("incident"), dict):
        raise MalformedIncident("payload has no 'incident' object")
    version = str(payload.get("version", ""))
    if version and not version.startswith("1."):
        raise MalformedIncident(f"unsupported incident schema version {version!r}")
    inc = payload["incident"]
    incident_id = inc.get("incident_id")
    state = inc.get("state")
    if not isinstance(incident_id, str) or not incident_id.strip():
        raise MalformedIncident("incident has no incident_id")
    if state not in ("open", "closed"):
        raise MalformedIncident(f"incident state {state!r} is neither open nor closed")
    resource = _labels(inc.get("resource"))
    metric = _labels(inc.get("metric"))
    user = inc.get("policy_user_labels") if isinstance(inc.get("policy_user_labels"), dict) else {}
    service = resource.get("service_name") or metric.get("service_name") or user.get("service")
    revision = resource.get("revision_name") or metric.get("revision_name")
    started = inc.get("started_at")
    return Incident(
        incident_id=incident_id.strip(),
        state=state,
        service=service or None,
        revision=revision or None,
        policy_name=str(inc.get("policy_name") or ""),
        summary=str(inc.get("summary") or "")[:500],
        trigger=(user or {}).get("trigger"),
        started_at=float(started) if isinstance(started, int | float) else None,
    )


def parse_pubsub(data: Any) -> Incident:
    """A Pub/Sub CloudEvent's ``data``: ``{"message": {"data": base64(json)}, ...}``."""
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise MalformedIncident("CloudEvent data has no Pub/Sub message")
    raw = data["message"].get("data")
    if not isinstance(raw, str) or not raw:
        raise MalformedIncident("Pub/Sub message has no data")
    try:
        payload = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise MalformedIncident(f"message data is not base64 JSON: {exc}") from None
    return parse_incident(payload)
