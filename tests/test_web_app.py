"""The shared HTTP layer: routing, validation, the error envelope, health and metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from recoengine.errors import ServiceUnavailable
from recoengine.web import ApiRequest, HttpApp, Reply
from recoengine.web.tracing import parse_trace
from testkit.asgi_client import AsgiClient


class Echo(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    n: int = Field(default=1, ge=1, le=5)


def make_app() -> Starlette:
    app = HttpApp("test", threads=2)

    @app.route("POST", "/echo/{thing}")
    def echo(req: ApiRequest) -> dict:
        body = req.body(Echo)
        return {"thing": req.params["thing"], "name": body.name * body.n}

    @app.route("GET", "/down")
    def down(req: ApiRequest) -> None:
        raise ServiceUnavailable("model not loaded", retry_after=7)

    @app.route("GET", "/boom")
    def boom(req: ApiRequest) -> None:
        raise RuntimeError("secret internal detail")

    @app.route("GET", "/created")
    def created(req: ApiRequest) -> Reply:
        return Reply({"ok": True}, 201, {"Location": "/x"})

    @app.health.component("model", critical=True)
    def model_ok() -> dict:
        return {"status": "ok", "version": "v1"}

    @app.health.component("store")
    def store_down() -> dict:
        raise ConnectionError("store unreachable")

    async def view(request: Request):
        return await app(request)

    methods = ["GET", "POST", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", view, methods=methods)])


@pytest.fixture()
def client() -> Iterator[AsgiClient]:
    with AsgiClient(make_app()) as c:
        yield c


def test_valid_request_is_routed_with_path_params(client):
    r = client.post("/echo/abc", json={"name": "x", "n": 3})
    assert r.status_code == 200
    assert r.get_json() == {"thing": "abc", "name": "xxx"}
    assert r.headers["X-Request-Id"]


def test_malformed_json_is_400_with_envelope(client):
    r = client.post("/echo/a", data="{not json", content_type="application/json")
    assert r.status_code == 400
    body = r.get_json()
    assert body["error"]["code"] == "bad_request"
    assert body["request_id"] == r.headers["X-Request-Id"]


@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": "x", "n": 9}, {"name": 5}, []])
def test_invalid_fields_are_422_naming_the_field(client, payload):
    r = client.post("/echo/a", json=payload)
    assert r.status_code == 422
    assert r.get_json()["error"]["code"] == "invalid_argument"


def test_body_over_limit_is_413(client):
    r = client.post(
        "/echo/a", data=json.dumps({"name": "x" * 70000}), content_type="application/json"
    )
    assert r.status_code == 413


def test_body_shorter_than_its_content_length_is_400(client):
    """A client that hangs up mid-body (the server's http.disconnect where the rest of the
    body should be) is a 400 envelope, not a 500."""
    data = json.dumps({"name": "x"})
    r = client.post(
        "/echo/a",
        data=data,
        content_type="application/json",
        headers={"Content-Length": str(len(data) + 50)},
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "bad_request"
    assert "shorter than its Content-Length" in r.get_json()["error"]["message"]


def test_common_headers_and_a_handlers_own(client):
    r = client.post("/echo/a", json={"name": "x"})
    assert r.headers["Content-Length"] == str(len(r.data))
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    assert client.get("/openapi.json").headers["Cache-Control"] == "public, max-age=300"


def test_non_json_content_type_is_415(client):
    r = client.post("/echo/a", data="name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415


def test_unknown_path_404_and_wrong_method_405(client):
    assert client.get("/nope").status_code == 404
    r = client.get("/echo/a")
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"]


def test_unhandled_error_is_500_without_detail(client):
    r = client.get("/boom")
    assert r.status_code == 500
    assert "secret" not in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)


def test_service_unavailable_carries_retry_after(client):
    r = client.get("/down")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "7"


def test_reply_sets_status_and_headers(client):
    r = client.get("/created")
    assert r.status_code == 201 and r.headers["Location"] == "/x"


def test_health_reports_components_and_noncritical_failure_degrades(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "degraded"
    assert body["components"] == {"model": "ok", "store": "degraded"}
    assert {"timestamp", "version"} <= body.keys()
    detailed = client.get("/health/detailed").get_json()
    assert detailed["components"]["store"]["error"] == "ConnectionError"
    assert detailed["system"]["memory"]["rss_bytes"] > 0
    assert "p95_ms" in detailed["recent_requests"]


def test_metrics_exposes_product_metric_names(client):
    client.post("/echo/a", json={"name": "x"})
    text = client.get("/metrics").get_data(as_text=True)
    for name in (
        "http_request_duration_seconds",
        "http_request_total",
        "personality_router_latency_seconds",
        "recommendation_engine_latency",
        "multiturn_engine_latency",
        "session_count",
        "error_rate_percentage",
    ):
        assert f"# TYPE {name}" in text, name
    assert (
        'http_request_total{function="test",method="POST",route="/echo/{thing}",status="200"}'
        in text
    )


@pytest.mark.parametrize(
    ("cloud", "w3c", "trace_id", "span"),
    [
        (
            "105445aa7843bc8bf206b12000100000/1;o=1",
            None,
            "105445aa7843bc8bf206b12000100000",
            "0000000000000001",
        ),
        (
            None,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
        ("garbage", None, None, None),
    ],
)
def test_trace_headers_are_parsed(cloud, w3c, trace_id, span):
    ctx = parse_trace(cloud, w3c)
    assert (ctx.trace_id if ctx else None) == trace_id
    assert (ctx.span_id if ctx else None) == span


def test_logs_are_cloud_logging_json_with_trace(client, capfd):
    client.post(
        "/echo/a",
        json={"name": "x"},
        headers={"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"},
    )
    lines = [
        json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [e for e in lines if e.get("httpRequest", {}).get("requestUrl") == "/echo/a"]
    assert access, lines
    entry = access[-1]
    assert entry["severity"] == "INFO"
    assert (
        entry["logging.googleapis.com/trace"]
        == "projects/test-project/traces/105445aa7843bc8bf206b12000100000"
    )
    assert entry["httpRequest"]["status"] == 200


@pytest.mark.parametrize(
    "path", ["/robots.txt", "/favicon.ico", "/api/v2/session/a%0Ab?user_id=x", "/a%0A"]
)
def test_paths_functions_framework_answers_itself_get_the_json_envelope(path):
    """functions-framework's ASGI app 404s these before the function runs (its own routes
    for robots.txt and favicon.ico; a path its pattern cannot match); wrapped by the layer
    (``HttpApp.wrap``, as the local stack serves every function) they still get JSON."""
    from tools.localstack import load_function

    with AsgiClient(load_function("chat")) as c:
        resp = c.get(path)
    assert resp.status_code == 404
    assert resp.content_type == "application/json"
    assert resp.get_json()["error"]["status"] == 404
    assert resp.headers["X-Request-Id"] == resp.get_json()["request_id"]


def test_without_the_wrap_functions_framework_answers_those_paths_itself():
    """Why the wrap exists: the bare framework app answers plain text (it is what a deployed
    function answers for these paths; every API path reaches the function)."""
    import functions_framework.aio

    from tools.localstack import ROOT

    source = str(ROOT / "functions" / "chat" / "main.py")
    with AsgiClient(functions_framework.aio.create_asgi_app(target="chat", source=source)) as c:
        robots = c.get("/robots.txt")
        api = c.get("/api/v2/session/x")
    assert robots.status_code == 404 and robots.mimetype == "text/plain"
    assert api.status_code == 422 and api.get_json()["error"]["code"] == "invalid_argument"
