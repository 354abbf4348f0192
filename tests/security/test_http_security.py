"""Hostile callers over real HTTP: no token, someone else's session, oversized bodies."""

from __future__ import annotations

import json

import pytest
import requests

from recoengine.web.openapi import document, operations
from tests.security.conftest import CANARY_TOKEN

CANARY_ACTIONS = sorted(p for m, p in operations() if p.startswith("/api/v2/canary/"))
POSTS = sorted(p for m, p in operations() if m == "POST")


def post(base: str, path: str, body: object, headers: dict[str, str] | None = None, **kw):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return requests.post(
        base + path,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=10,
        **kw,
    )


def chat(base: str, user: str, message: str, session_id: str | None = None) -> dict:
    body = {"user_id": user, "message": message}
    if session_id:
        body["session_id"] = session_id
    r = post(base, "/api/v2/chat", body)
    assert r.status_code == 200, r.text
    return r.json()


def test_every_canary_endpoint_is_documented_as_authenticated():
    doc = document()
    assert len(CANARY_ACTIONS) == 8
    for path in CANARY_ACTIONS:
        assert doc["paths"][path]["post"]["security"] == [{"canaryToken": []}]


@pytest.mark.parametrize("path", CANARY_ACTIONS)
def test_canary_endpoints_refuse_unauthenticated_calls(stack, path):
    body = {"service": "recommend", "reason": "x"}
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {CANARY_TOKEN}"},
        {"Authorization": f"Bearer {CANARY_TOKEN}x"},
        {"Authorization": f"bearer {CANARY_TOKEN[:-1]}"},
    ):
        r = post(stack, path, body, headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "unauthenticated"
    # authentication comes before parsing: an invalid body without a token is still 401
    assert post(stack, path, b"{not json").status_code == 401
    ok = post(stack, path, {"service": "recommend"}, {"Authorization": f"Bearer {CANARY_TOKEN}"})
    assert ok.status_code not in (401, 403), ok.text


def test_unauthenticated_calls_change_nothing(stack):
    auth = {"Authorization": f"Bearer {CANARY_TOKEN}"}
    before = post(stack, "/api/v2/canary/status", {"service": "chat"}, auth).json()
    for action in ("enable", "promote", "rollback", "pause"):
        post(stack, f"/api/v2/canary/{action}", {"service": "chat", "traffic_percentage": 50})
    after = post(stack, "/api/v2/canary/status", {"service": "chat"}, auth).json()
    assert after == before


def test_another_users_session_is_not_found(stack):
    alice = chat(stack, "alice", "recommend me a comedy")
    sid = alice["session_id"]
    unknown = requests.get(f"{stack}/api/v2/session/AAAAAAAAAAAAAAAAAAAAAA?user_id=bob", timeout=5)
    assert unknown.status_code == 404
    probes = [
        requests.get(f"{stack}/api/v2/session/{sid}?user_id=bob", timeout=5),
        requests.delete(f"{stack}/api/v2/session/{sid}?user_id=bob", timeout=5),
        post(stack, "/api/v2/chat", {"user_id": "bob", "message": "hi", "session_id": sid}),
        requests.get(f"{stack}/api/v2/session/{sid}?user_id=ALICE", timeout=5),
    ]
    for r in probes:
        assert r.status_code == 404, r.text
        # indistinguishable from an id that never existed: ids cannot be probed
        assert r.json()["error"] == unknown.json()["error"]
    # bob's attempts neither read nor changed alice's session
    mine = requests.get(f"{stack}/api/v2/session/{sid}?user_id=alice", timeout=5).json()
    assert mine["turns"] == 1 and "hi" not in [m["text"] for m in mine["messages"]]


def test_session_ids_issued_over_http_are_distinct_and_well_formed(stack):
    ids = {chat(stack, f"user-{i}", "hello")["session_id"] for i in range(30)}
    assert len(ids) == 30
    assert all(len(i) == 22 for i in ids)


@pytest.mark.parametrize("path", POSTS)
def test_every_post_endpoint_limits_the_body_size(stack, path):
    headers = {"Authorization": f"Bearer {CANARY_TOKEN}"} if "/canary/" in path else {}
    big = json.dumps({"user_id": "alice", "message": "x" * 70_000})
    r = post(stack, path, big, headers)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit must hold on the stream too
        yield b'{"user_id": "alice", "pad": "'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"}'

    r = requests.post(
        stack + path,
        data=chunks(),
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )
    assert r.status_code == 413, r.text


def test_chat_message_limit_and_content_type(stack):
    r = post(stack, "/api/v2/chat", {"user_id": "alice", "message": "x" * 4001})
    assert r.status_code == 413
    r = requests.post(
        stack + "/api/v2/chat",
        data="user_id=alice",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert r.status_code == 415


def test_responses_carry_defensive_headers(stack):
    r = post(stack, "/api/v2/recommendations", {"user_id": "alice"})
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    # a hostile request id is replaced, not echoed into logs and headers
    hostile = "<script>alert(1)</script>" + "A" * 80
    r = post(stack, "/api/v2/recommendations", {"user_id": "a"}, {"X-Request-Id": hostile})
    assert r.headers["X-Request-Id"] != hostile and "<" not in r.json()["request_id"]
