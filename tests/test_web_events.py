"""Server-Sent Events from the HTTP layer (``EventStream``), driven in-process over ASGI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from recoengine.errors import NotFound
from recoengine.web import ApiRequest, EventStream, HttpApp
from recoengine.web.metrics import REGISTRY
from testkit.asgi_client import AsgiClient

# What each generator did, by test: the items it yielded and whether its ``finally`` ran.
seen: dict[str, list[str]] = {}


async def reply(name: str, fail_at: int | None = None, forever: bool = False) -> AsyncIterator:
    log = seen.setdefault(name, [])
    try:
        for n in range(1_000_000 if forever else 3):
            if n == fail_at:
                raise (NotFound("no such session") if n == 0 else RuntimeError("model gone"))
            await asyncio.sleep(0)  # a model's next chunk
            log.append(f"delta {n}")
            yield None, {"delta": f"d{n} "}
        log.append("done")
        yield "done", {"reply": "d0 d1 d2 ", "fallback": False}
    finally:
        log.append("closed")


def make_app() -> Starlette:
    app = HttpApp("test-events", threads=2)

    @app.route("POST", "/stream/{kind}")
    async def stream(req: ApiRequest) -> EventStream:
        kind = req.params["kind"]
        if kind == "empty":

            async def nothing() -> AsyncIterator:
                return
                yield

            return EventStream(nothing())
        return EventStream(
            reply(
                kind,
                fail_at={"first": 0, "middle": 2}.get(kind),
                forever=kind == "endless",
            )
        )

    async def view(request: Request) -> Any:
        return await app(request)

    return Starlette(routes=[Route("/{path:path}", view, methods=["POST"])])


@pytest.fixture()
def client() -> Iterator[AsgiClient]:
    seen.clear()
    with AsgiClient(make_app()) as c:
        yield c


def access_entries(capfd: pytest.CaptureFixture[str], path: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x.startswith("{")]
    return [e for e in lines if e.get("httpRequest", {}).get("requestUrl") == path]


def count() -> float:
    """Requests the metrics counted on the stream route, with status 200."""
    labels = {"function": "test-events", "route": "/stream/{kind}", "method": "POST"}
    value = REGISTRY.get_sample_value("http_request_total", {**labels, "status": "200"})
    return value or 0.0


def test_a_stream_sends_each_event_as_it_comes_then_logs_once(client, capfd):
    before = count()
    r = client.post("/stream/normal", json={})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Accel-Buffering"] == "no"
    assert r.headers["X-Request-Id"]
    assert "Content-Length" not in r.headers
    assert r.events() == [
        (None, {"delta": "d0 "}),
        (None, {"delta": "d1 "}),
        (None, {"delta": "d2 "}),
        ("done", {"reply": "d0 d1 d2 ", "fallback": False}),
    ]
    assert r.data.startswith(b'data: {"delta":"d0 "}\n\n')
    assert len(r.chunks) == 4  # one send (one flush) per event
    assert seen["normal"][-1] == "closed"
    (entry,) = access_entries(capfd, "/stream/normal")
    assert entry["stream"] == "complete" and entry["severity"] == "INFO"
    assert entry["httpRequest"]["status"] == 200
    assert entry["httpRequest"]["responseSize"] == str(len(r.data))
    assert count() == before + 1


def test_an_error_before_the_first_event_is_an_ordinary_json_error(client, capfd):
    r = client.post("/stream/first", json={})
    assert r.status_code == 404
    assert r.mimetype == "application/json"
    assert r.get_json()["error"]["code"] == "not_found"
    assert r.get_json()["request_id"] == r.headers["X-Request-Id"]
    assert seen["first"] == ["closed"]
    (entry,) = access_entries(capfd, "/stream/first")
    assert entry["httpRequest"]["status"] == 404


def test_a_failure_mid_stream_ends_it_with_an_error_event(client, capfd):
    r = client.post("/stream/middle", json={})
    assert r.status_code == 200  # already sent when the failure came
    events = r.events()
    assert [name for name, _ in events] == [None, None, "error"]
    error = events[-1][1]
    assert error["error"] == {"code": "internal", "message": "internal error", "status": 500}
    assert "model gone" not in r.text
    (entry,) = access_entries(capfd, "/stream/middle")
    assert entry["stream"] == "error" and entry["severity"] == "ERROR"


def test_a_client_that_goes_away_stops_the_iterator(client, capfd):
    before = count()
    r = client.post("/stream/endless", json={}, disconnect_after=2)
    assert r.status_code == 200 and len(r.chunks) == 2
    log = seen["endless"]
    assert log[-1] == "closed"  # aclose ran the generator's finally
    assert len(log) < 10  # it stopped at once, not after a million events
    (entry,) = access_entries(capfd, "/stream/endless")
    assert entry["stream"] == "disconnected"
    assert count() == before + 1  # metrics once, too


def test_a_stream_without_events_is_204(client):
    r = client.post("/stream/empty", json={})
    assert r.status_code == 204 and r.data == b""
