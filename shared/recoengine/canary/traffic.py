"""Traffic control: who serves how much of a service.

``CloudRunTraffic`` drives the Cloud Run Admin API v2 (``google-cloud-run``, imported lazily):
it reads the service, finds the stable and candidate revisions, and writes the split as two
tagged targets (``stable`` and ``candidate``) with a read-modify-write guarded by the service's
etag, retried with backoff when someone else changed it meanwhile. Setting the split it already
has is a no-op, so retries and repeated incidents never cause extra deployments.

``LocalTraffic`` keeps the same model in the local store for ``make run`` (``CANARY_PLATFORM=
local``): a laptop with no Google account can walk a rollout end to end.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from recoengine.errors import InvalidArgument, NotFound, ServiceUnavailable

log = logging.getLogger("recoengine.canary.traffic")
SERVICE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,47}[a-z0-9])?$")
STABLE_TAG = "stable"
CANDIDATE_TAG = "candidate"


@dataclass(frozen=True)
class Target:
    revision: str
    percent: int
    tag: str = ""


@dataclass
class ServiceTraffic:
    """What the platform says about a service right now."""

    service: str
    revisions: list[str]  # newest first
    targets: list[Target]
    latest_ready: str | None = None
    etag: str = ""
    raw: Any = field(default=None, repr=False)

    @property
    def stable(self) -> str | None:
        tagged = [t.revision for t in self.targets if t.tag == STABLE_TAG and t.percent > 0]
        if tagged:
            return tagged[0]
        serving = sorted((t for t in self.targets if t.percent > 0), key=lambda t: -t.percent)
        return serving[0].revision if serving else None

    @property
    def candidate(self) -> str | None:
        stable = self.stable
        tagged = [t.revision for t in self.targets if t.tag == CANDIDATE_TAG]
        if tagged and tagged[0] != stable:
            return tagged[0]
        if self.latest_ready and self.latest_ready != stable:
            return self.latest_ready
        return None

    def split(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.targets:
            out[t.revision] = out.get(t.revision, 0) + t.percent
        return out


def _connection_errors() -> tuple[type[Exception], ...]:
    """Transport failures below the API layer (the REST transport raises requests' errors)."""
    import requests
    from google.api_core import exceptions as gexc

    return (requests.RequestException, gexc.RetryError, ConnectionError, TimeoutError)


def desired_targets(stable: str, candidate: str, percent: int) -> list[Target]:
    """The split for a candidate share: 100 = promoted (candidate becomes ``stable``)."""
    if not 0 <= percent <= 100:
        raise InvalidArgument(f"traffic percentage must be 0..100, got {percent}")
    if percent == 100:
        return [Target(candidate, 100, STABLE_TAG)]
    return [Target(stable, 100 - percent, STABLE_TAG), Target(candidate, percent, CANDIDATE_TAG)]


def check_service_name(service: str) -> str:
    if not SERVICE_NAME.match(service):
        raise InvalidArgument(f"invalid service name {service!r}")
    return service


class TrafficPort(Protocol):
    def describe(self, service: str) -> ServiceTraffic: ...

    def set_split(self, service: str, stable: str, candidate: str, percent: int) -> bool:
        """Apply the split; True if something changed, False if it was already so."""
        ...


class CloudRunTraffic:
    """Cloud Run Admin API v2. ``client`` is injectable (tests point it at a local fake)."""

    def __init__(
        self,
        project: str,
        region: str,
        client: Any = None,
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 60.0,
    ) -> None:
        self.project = project
        self.region = region
        self._client = client
        self._lock = threading.Lock()
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import run_v2

                self._client = run_v2.ServicesClient()
            return self._client

    def _name(self, service: str) -> str:
        check_service_name(service)
        return f"projects/{self.project}/locations/{self.region}/services/{service}"

    def describe(self, service: str) -> ServiceTraffic:
        from google.api_core import exceptions as gexc

        try:
            svc = self.client.get_service(name=self._name(service), timeout=self.timeout_s)
        except gexc.NotFound:
            raise NotFound(f"unknown service {service!r}") from None
        except gexc.GoogleAPICallError as exc:
            raise ServiceUnavailable(f"Cloud Run Admin API: {exc.message}") from None
        except _connection_errors() as exc:
            raise ServiceUnavailable(f"Cloud Run Admin API unreachable: {exc}") from None
        return self._to_model(service, svc)

    @staticmethod
    def _to_model(service: str, svc: Any) -> ServiceTraffic:
        from google.cloud import run_v2

        latest_ready = (svc.latest_ready_revision or "").rsplit("/", 1)[-1] or None
        targets = []
        for t in svc.traffic:
            revision = t.revision.rsplit("/", 1)[-1]
            if t.type_ == run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST:
                revision = latest_ready or revision
            if revision:
                targets.append(Target(revision, int(t.percent), t.tag))
        revisions = [r for r in (latest_ready, (svc.latest_created_revision or "")) if r]
        revisions = [r.rsplit("/", 1)[-1] for r in revisions]
        return ServiceTraffic(service, revisions, targets, latest_ready, svc.etag, svc)

    def set_split(self, service: str, stable: str, candidate: str, percent: int) -> bool:
        from google.api_core import exceptions as gexc
        from google.cloud import run_v2

        want = desired_targets(stable, candidate, percent)
        retryable: tuple[type[Exception], ...] = (
            *_connection_errors(),
            gexc.Aborted,
            gexc.Conflict,
            gexc.FailedPrecondition,
            gexc.ServiceUnavailable,
            gexc.InternalServerError,
            gexc.TooManyRequests,
            gexc.DeadlineExceeded,
        )
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            current = self.describe(service)
            if sorted(current.targets, key=repr) == sorted(want, key=repr):
                return False  # idempotent: already so
            svc = current.raw
            svc.traffic = [
                run_v2.TrafficTarget(
                    type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                    revision=t.revision,
                    percent=t.percent,
                    tag=t.tag,
                )
                for t in want
            ]
            # The etag read above travels back: the API refuses the write if the service
            # changed in between (a deploy, another rollback), and we re-read and retry.
            try:
                op = self.client.update_service(
                    request=run_v2.UpdateServiceRequest(service=svc), timeout=self.timeout_s
                )
                op.result(timeout=self.timeout_s)
                log.info(
                    "traffic of %s set: %s",
                    service,
                    {t.revision: t.percent for t in want},
                    extra={"json_fields": {"service": service, "attempt": attempt}},
                )
                return True
            except gexc.NotFound:
                raise NotFound(f"unknown service {service!r}") from None
            except retryable as exc:
                if attempt == self.attempts:
                    raise ServiceUnavailable(
                        f"Cloud Run Admin API refused the traffic change: {exc}"
                    ) from None
                log.warning("traffic update of %s failed (%s); retrying", service, exc)
                time.sleep(delay)
                delay *= 2
            except gexc.BadRequest as exc:
                raise InvalidArgument(f"Cloud Run rejected the split: {exc.message}") from None
            except gexc.GoogleAPICallError as exc:
                raise ServiceUnavailable(f"Cloud Run Admin API: {exc.message}") from None
        raise ServiceUnavailable("traffic change did not complete")  # pragma: no cover


class LocalTraffic:
    """Traffic kept in the local store: services and revisions are configuration."""

    def __init__(self, store: Any, services: tuple[str, ...]) -> None:
        self.store = store
        self.services = services

    def _load(self, service: str) -> dict[str, Any]:
        check_service_name(service)
        doc = self.store.load_local_service(service)
        if doc is None:
            if service not in self.services:
                raise NotFound(f"unknown service {service!r}")
            doc = {
                "revisions": [f"{service}-00002-new", f"{service}-00001-old"],
                "targets": [
                    {"revision": f"{service}-00001-old", "percent": 100, "tag": STABLE_TAG},
                    {"revision": f"{service}-00002-new", "percent": 0, "tag": CANDIDATE_TAG},
                ],
            }
            self.store.save_local_service(service, doc)
        return doc

    def describe(self, service: str) -> ServiceTraffic:
        doc = self._load(service)
        targets = [
            Target(t["revision"], int(t["percent"]), t.get("tag", "")) for t in doc["targets"]
        ]
        return ServiceTraffic(service, list(doc["revisions"]), targets, doc["revisions"][0])

    def set_split(self, service: str, stable: str, candidate: str, percent: int) -> bool:
        doc = self._load(service)
        for rev in (stable, candidate):
            if rev not in doc["revisions"]:
                raise NotFound(f"unknown revision {rev!r} of {service!r}")
        want = [t.__dict__ for t in desired_targets(stable, candidate, percent)]
        if doc["targets"] == want:
            return False
        doc["targets"] = want
        self.store.save_local_service(service, doc)
        return True
