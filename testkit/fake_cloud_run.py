"""A local Cloud Run Admin API v2 that speaks the real wire protocol, for the canary's tests
and the rollback benchmark.

``FakeRunAdmin`` serves HTTP/JSON (what ``google-cloud-run`` sends with ``transport="rest"``):
GET and PATCH of services, etag checks, Operations as responses; it can fail or race updates on
demand. ``run_client`` is the real client pointed at it.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE_PATH = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/?]+)")


class FakeRunAdmin:
    def __init__(self) -> None:
        self.services: dict[str, dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []  # bodies of accepted PATCHes
        self.update_times: list[float] = []
        self.fail_updates = 0  # answer this many PATCHes with 503
        self.race_updates = 0  # bump the etag before this many PATCHes (someone else wrote)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, code: int, status: str, message: str) -> None:
                self._send(code, {"error": {"code": code, "status": status, "message": message}})

            def do_GET(self) -> None:
                m = SERVICE_PATH.match(self.path)
                with fake.lock:
                    svc = fake.services.get(m.group(1)) if m else None
                    if svc is None:
                        return self._error(404, "NOT_FOUND", "service not found")
                    return self._send(200, copy.deepcopy(svc))

            def do_PATCH(self) -> None:
                m = SERVICE_PATH.match(self.path)
                full = m.group(1) if m else ""
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    svc = fake.services.get(full)
                    if svc is None:
                        return self._error(404, "NOT_FOUND", "service not found")
                    if fake.fail_updates > 0:
                        fake.fail_updates -= 1
                        return self._error(503, "UNAVAILABLE", "try again")
                    if fake.race_updates > 0:
                        fake.race_updates -= 1
                        svc["etag"] = f'"{int(svc["etag"].strip(chr(34))) + 1}"'
                    if body.get("etag") and body["etag"] != svc["etag"]:
                        return self._error(409, "ABORTED", "etag mismatch")
                    svc["traffic"] = body.get("traffic", [])
                    svc["etag"] = f'"{int(svc["etag"].strip(chr(34))) + 1}"'
                    svc["generation"] = str(int(svc.get("generation", "1")) + 1)
                    fake.updates.append(body)
                    fake.update_times.append(time.perf_counter())
                    response = {"@type": "type.googleapis.com/google.cloud.run.v2.Service"}
                    response.update(copy.deepcopy(svc))
                    op = f"{full.rsplit('/services/', 1)[0]}/operations/op-{len(fake.updates)}"
                    return self._send(200, {"name": op, "done": True, "response": response})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakeRunAdmin:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_service(
        self, project: str, region: str, name: str, stable: str, candidate: str | None
    ) -> str:
        full = f"projects/{project}/locations/{region}/services/{name}"
        traffic = [_revision_target(stable, 100, "stable")]
        if candidate:
            traffic.append(_revision_target(candidate, 0, "candidate"))
        with self.lock:
            self.services[full] = {
                "name": full,
                "uid": "uid-" + name,
                "generation": "1",
                "etag": '"1"',
                "template": {"containers": [{"image": "europe-docker.pkg.dev/p/r/img:1"}]},
                "traffic": traffic,
                "latestReadyRevision": f"{full}/revisions/{candidate or stable}",
                "latestCreatedRevision": f"{full}/revisions/{candidate or stable}",
            }
        return full

    def split(self, full: str) -> dict[str, int]:
        with self.lock:
            out: dict[str, int] = {}
            for t in self.services[full]["traffic"]:
                out[t["revision"]] = out.get(t["revision"], 0) + int(t.get("percent", 0))
            return out


def _revision_target(revision: str, percent: int, tag: str) -> dict[str, Any]:
    return {
        "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
        "revision": revision,
        "percent": percent,
        "tag": tag,
    }


def run_client(endpoint: str) -> Any:
    """The real ``google-cloud-run`` ServicesClient over REST, pointed at a fake."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    return run_v2.ServicesClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": endpoint},
    )
