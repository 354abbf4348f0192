"""The recommend function's access log carries the fields Terraform's log-based metrics read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testkit.asgi_client import AsgiClient
from tools.localstack import load_function

ROOT = Path(__file__).resolve().parents[2]


def recommend_client() -> Any:
    """A client of the recommend function, loaded as functions-framework's ASGI mode loads it."""
    return AsgiClient(load_function("recommend"))


def test_access_log_has_engine_latency_and_cache_result(
    engine_env: None, capfd: pytest.CaptureFixture[str]
) -> None:
    client = recommend_client()
    body = {"user_id": "user-0002", "k": 3}
    assert client.post("/api/v2/recommendations", json=body).status_code == 200
    assert client.post("/api/v2/recommendations", json=body).status_code == 200
    entries = [
        json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [e for e in entries if e.get("route") == "/api/v2/recommendations"]
    assert [e["cache"] for e in access[-2:]] == ["miss", "hit"]
    assert 0 < access[-2]["recommendation_engine_latency"] < 1
    assert "recommendation_engine_latency" not in access[-1]
    assert access[-1]["httpRequest"]["status"] == 200


def test_store_outage_degrades_to_model_history(
    engine_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from recoengine import wiring

    (tmp_path / "not-a-db").mkdir()
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "not-a-db"))  # a directory: cannot open
    wiring.reset_all()  # a store and a breaker of this test's own
    client = recommend_client()
    r = client.post("/api/v2/recommendations", json={"user_id": "user-0002", "k": 3})
    assert r.status_code == 200 and len(r.get_json()["items"]) == 3
    served = r.get_json()
    fb = client.post(
        "/api/v2/recommendations/feedback",
        json={
            "request_id": served["request_id"],
            "user_id": "user-0002",
            "item_id": served["items"][0]["item_id"],
            "event": "accept",
        },
    )
    # Without the store a repeat could not be told apart, so nothing is counted: retry later.
    assert fb.status_code == 503 and fb.headers["Retry-After"]
    assert "retry" in fb.get_json()["error"]["message"]


def test_access_log_entry_and_headers_in_full(
    engine_env: None, capfd: pytest.CaptureFixture[str]
) -> None:
    """Every field of the access entry and every common header, on a success and an error."""
    from datetime import datetime

    client = recommend_client()
    payload = b'{"user_id": "user-0002", "k": 2}'
    trace = "0123456789abcdef0123456789abcdef/17;o=1"
    r = client.post(
        "/api/v2/recommendations",
        data=payload,
        content_type="application/json; charset=utf-8",
        headers={
            "X-Request-Id": "req-abcdef123",
            "X-Cloud-Trace-Context": trace,
            "User-Agent": "probe/1.0",
        },
        remote_addr="10.1.2.3",
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Content-Length"] == str(len(r.data))
    assert r.headers["X-Request-Id"] == "req-abcdef123"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.get_json()["request_id"].startswith("v1.")  # the list's feedback token

    bad = client.post("/api/v2/recommendations", data=b'{"user_id": ', content_type="text/json")
    assert bad.status_code == 415 and bad.headers["Content-Type"] == "application/json"
    assert bad.headers["Content-Length"] == str(len(bad.data))
    assert bad.headers["X-Request-Id"] == bad.get_json()["request_id"]
    assert bad.headers["Cache-Control"] == "no-store"
    empty = client.post("/api/v2/recommendations", data=b" ", content_type="application/json")
    assert empty.status_code == 400 and empty.get_json()["error"]["code"]

    entries = [
        json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [e for e in entries if e.get("route") == "/api/v2/recommendations"]
    ok, unsupported, blank = access[-3:]
    assert ok["severity"] == "INFO" and ok["message"] == "POST /api/v2/recommendations 200"
    assert datetime.fromisoformat(ok["time"]).utcoffset() is not None
    assert ok["time"].endswith("+00:00")
    assert ok["logging.googleapis.com/trace"].endswith("/traces/0123456789abcdef0123456789abcdef")
    assert ok["logging.googleapis.com/spanId"] == format(17, "016x")
    assert ok["logging.googleapis.com/trace_sampled"] is True
    assert ok["logging.googleapis.com/labels"]["request_id"] == "req-abcdef123"
    assert ok["function"] == "recommend" and ok["cache"] in ("hit", "miss")
    http = ok["httpRequest"]
    assert http["requestMethod"] == "POST" and http["requestUrl"] == "/api/v2/recommendations"
    assert http["status"] == 200 and http["latency"].endswith("s")
    assert 0 < float(http["latency"][:-1]) < 60
    assert http["userAgent"] == "probe/1.0" and http["remoteIp"] == "10.1.2.3"
    assert http["requestSize"] == str(len(payload))
    assert http["responseSize"] == str(len(r.data))
    assert unsupported["httpRequest"]["status"] == 415
    assert unsupported["httpRequest"]["responseSize"] == str(len(bad.data))
    assert "logging.googleapis.com/trace" not in unsupported
    assert blank["httpRequest"]["status"] == 400 and blank["httpRequest"]["requestSize"] == "1"


def test_chunked_body_is_read_and_limited(engine_env: None) -> None:
    """A chunked body (no usable Content-Length) is read as it comes, limit included."""
    client = recommend_client()

    def post(body: bytes) -> Any:
        half = len(body) // 2  # the server hands the de-chunked body over in pieces
        return client.post(
            "/api/v2/recommendations",
            chunks=[body[:half], body[half:]],
            content_type="application/json",
        )

    r = post(b'{"user_id": "user-0002", "k": 2}')
    assert r.status_code == 200 and len(r.get_json()["items"]) == 2
    r = post(b'{"user_id": "' + b"u" * 70000 + b'"}')
    assert r.status_code == 413


def test_generated_request_ids_are_fresh_and_not_shared_with_a_forked_child() -> None:
    """Ids come from a pool of OS random bytes; a forked worker must not replay its parent's."""
    import os

    from recoengine.web.app import _request_ids

    first = _request_ids.new()  # the parent's pool now holds unused bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write_end, _request_ids.new().encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 100).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = _request_ids.new()
    ids = {first, parent, child} | {_request_ids.new() for _ in range(1000)}
    assert len(ids) == 1003
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)


def test_user_events_can_be_switched_off(engine_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """RECO_USER_EVENTS=false: a stored accept no longer reaches the next recommendation."""
    from recoengine import wiring

    def top_after_accept(client: Any, user: str) -> tuple[str, list[str]]:
        first = client.post("/api/v2/recommendations", json={"user_id": user, "k": 5}).get_json()
        accepted = first["items"][0]["item_id"]
        feedback = {"request_id": first["request_id"], "user_id": user, "item_id": accepted}
        r = client.post("/api/v2/recommendations/feedback", json={**feedback, "event": "accept"})
        assert r.status_code == 202 and r.get_json()["stored"] is True
        again = client.post("/api/v2/recommendations", json={"user_id": user, "k": 5}).get_json()
        return accepted, [i["item_id"] for i in again["items"]]

    monkeypatch.setenv("RECO_CACHE_SIZE", "0")
    wiring.reset_all()
    accepted, after = top_after_accept(recommend_client(), "events-on")
    assert accepted not in after  # read back: now part of the user's history

    monkeypatch.setenv("RECO_USER_EVENTS", "false")
    wiring.reset_all()
    accepted, after = top_after_accept(recommend_client(), "events-off")
    assert accepted in after  # stored, but not read
