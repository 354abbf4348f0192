"""The shared HTTP layer turns a dependency's transient failure into 503 + Retry-After and a bug
into a bare 500, never leaking the exception to the client."""

from __future__ import annotations

import asyncio
import sqlite3

import orjson
import pytest
from google.api_core import exceptions as gexc
from starlette.requests import Request
from starlette.responses import Response

from recoengine.web import HttpApp
from recoengine.web.faults import as_unavailable


def call(app: HttpApp, path: str) -> Response:
    """The layer called as the function's entry point calls it, with a bodiless GET."""

    async def no_body() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    return asyncio.run(app(Request(scope, no_body)))


@pytest.fixture(scope="module")
def app() -> HttpApp:
    app = HttpApp("recommend")
    failures = {
        "firestore-down": gexc.ServiceUnavailable("connect failed to 10.0.0.7:443"),
        "deadline": gexc.DeadlineExceeded("Deadline of 2.0s exceeded"),
        "retry": gexc.RetryError("Timeout of 300.0s exceeded", cause=None),
        "locked": sqlite3.OperationalError("database is locked"),
        "refused": ConnectionRefusedError(111, "Connection refused"),
        "bug": KeyError("secret_internal_field"),
        "denied": gexc.PermissionDenied("caller lacks datastore.entities.get"),
    }
    for name, exc in failures.items():

        def handler(req, exc=exc):
            raise exc

        app.route("GET", f"/fail/{name}")(handler)
    return app


@pytest.mark.parametrize("name", ["firestore-down", "deadline", "retry", "locked", "refused"])
def test_transient_dependency_failures_are_503_with_retry_after(app, name):
    r = call(app, f"/fail/{name}")
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) > 0
    body = orjson.loads(r.body)
    assert body["error"]["code"] == "unavailable"
    text = bytes(r.body).decode()
    for leak in ("10.0.0.7", "database is locked", "Deadline", "Connection refused", "Timeout"):
        assert leak not in text


@pytest.mark.parametrize("name", ["bug", "denied"])
def test_bugs_and_misconfiguration_stay_500_without_detail(app, name, caplog):
    r = call(app, f"/fail/{name}")
    assert r.status_code == 500
    assert orjson.loads(r.body)["error"] == {
        "code": "internal",
        "message": "internal error",
        "status": 500,
    }
    assert "secret_internal_field" not in bytes(r.body).decode()
    assert any(rec.exc_info for rec in caplog.records)  # the stack goes to the log


def test_classification_by_name_without_importing_clients():
    class ServiceUnavailable(Exception):  # same name, unrelated module: not a dependency error
        pass

    assert as_unavailable(ServiceUnavailable()) is None
    assert as_unavailable(ValueError("x")) is None
    assert as_unavailable(TimeoutError()) is not None


def test_every_function_serves_the_document(app):
    from recoengine.web.openapi import document

    r = call(app, "/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert orjson.loads(r.body) == document()
