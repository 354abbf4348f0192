"""The canary HTTP API over real HTTP: auth, validation, status codes, a rollout walk-through.

The function is loaded by functions-framework exactly as Cloud Run loads it (ASGI mode) and
served by a real server (uvicorn) on 127.0.0.1, with the local platform (traffic in SQLite,
synthetic metrics).
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

from recoengine import wiring
from testkit.asgi_client import serve
from tools.localstack import load_function


class Server:
    def __init__(self, base: str, token: str | None) -> None:
        self.base = base
        self.token = token

    def post(self, action: str, body: Any, token: str | None = "default", **kw: Any):
        headers = dict(kw.pop("headers", {}))
        tok = self.token if token == "default" else token
        if tok is not None:
            headers["Authorization"] = f"Bearer {tok}"
        data = body if isinstance(body, str) else json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
        return requests.post(
            f"{self.base}/api/v2/canary/{action}", data=data, headers=headers, timeout=10
        )


def _serve(monkeypatch, tmp_path, env: dict[str, str]) -> Iterator[str]:
    for key in list(os.environ):
        if key.startswith("CANARY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CANARY_PLATFORM", "local")
    monkeypatch.setenv("CANARY_PLAN", "short")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    wiring.reset_all()  # the settings and the canary's dependencies come from the new environment
    try:
        with serve(load_function("canary")) as base:
            yield base
    finally:
        monkeypatch.undo()
        wiring.reset_all()


@pytest.fixture()
def api(monkeypatch, tmp_path) -> Iterator[Server]:
    gen = _serve(monkeypatch, tmp_path, {})
    base = next(gen)
    token_file = tmp_path / "var" / "canary-token"
    requests.post(f"{base}/api/v2/canary/status", json={"service": "recommend"}, timeout=10)
    yield Server(base, token_file.read_text().strip())
    next(gen, None)


def test_without_a_configured_token_a_random_one_is_generated_with_mode_0600(api, tmp_path):
    path = tmp_path / "var" / "canary-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(api.token) >= 32


@pytest.mark.parametrize(
    "token", [None, "", "wrong", "Basic abc"], ids=["missing", "empty", "wrong", "basic"]
)
def test_unauthenticated_requests_get_401(api, token):
    basic = token == "Basic abc"
    headers = {"Authorization": token} if basic else {}
    r = api.post(
        "status", {"service": "recommend"}, token=None if basic else token, headers=headers
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("action", "body", "status"),
    [
        ("enable", "{not json", 400),
        ("enable", {"service": "recommend"}, 422),
        ("enable", {"service": "recommend", "traffic_percentage": 0}, 422),
        ("enable", {"service": "recommend", "traffic_percentage": 100}, 422),
        ("enable", {"service": "Recommend!", "traffic_percentage": 5}, 422),
        ("enable", {"service": "recommend", "traffic_percentage": 5, "extra": 1}, 422),
        ("rollback", {"service": "recommend"}, 422),
        ("rollback", {"service": "recommend", "reason": ""}, 422),
        ("metrics", [], 422),
        ("status", {"service": "nope"}, 404),
        ("enable", {"service": "nope", "traffic_percentage": 5}, 404),
        ("metrics", {"service": "recommend"}, 404),  # no rollout yet
    ],
)
def test_bad_input_and_unknown_services(api, action, body, status):
    r = api.post(action, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["status"] == status


def test_a_release_walk_through_and_a_manual_rollback(api):
    r = api.post("status", {"service": "recommend"})
    assert r.status_code == 200 and r.json()["phase"] == "idle"
    enable = {"service": "recommend", "traffic_percentage": 5}
    r = api.post("enable", enable, headers={"X-Canary-Actor": "alice"})
    assert r.status_code == 200, r.text
    rollout = r.json()["rollout"]
    assert (rollout["phase"], rollout["traffic_percent"]) == ("canary", 5)
    assert rollout["candidate_revision"] == "recommend-00002-new"
    status = api.post("status", {"service": "recommend"}).json()
    assert status["traffic"] == {"recommend-00001-old": 95, "recommend-00002-new": 5}
    assert status["audit"][0]["actor"] == "token:alice"
    m = api.post("metrics", {"service": "recommend"})
    assert m.status_code == 200
    assert m.json()["decision"]["action"] == "hold"
    assert "chart" in m.json()
    assert api.post("advance", {"service": "recommend"}).json()["rollout"]["phase"] == "canary"
    assert api.post("pause", {"service": "recommend", "reason": "lunch"}).status_code == 200
    assert api.post("resume", {"service": "recommend"}).json()["rollout"]["phase"] == "canary"
    r = api.post("rollback", {"service": "recommend", "reason": "manual test"})
    assert r.status_code == 200 and r.json()["rollout"]["phase"] == "rolled_back"
    status = api.post("status", {"service": "recommend"}).json()
    assert status["traffic"] == {"recommend-00001-old": 100, "recommend-00002-new": 0}
    assert status["audit"][0]["reason"] == "manual test"
    r = api.post("promote", {"service": "recommend"})
    assert r.status_code == 409  # promote after a rollback is a conflicting action
    # A new rollout of the same candidate can start again, and be promoted by hand.
    assert api.post("enable", {"service": "recommend", "traffic_percentage": 10}).status_code == 200
    r = api.post("promote", {"service": "recommend", "reason": "verified by hand"})
    assert r.json()["rollout"]["phase"] == "promoted"
    status = api.post("status", {"service": "recommend"}).json()
    assert status["traffic"] == {"recommend-00002-new": 100}


def test_a_configured_token_is_used_and_iam_mode_names_the_caller(monkeypatch, tmp_path):
    gen = _serve(monkeypatch, tmp_path, {"CANARY_TOKEN": "configured-secret-value"})
    base = next(gen)
    srv = Server(base, "configured-secret-value")
    assert srv.post("status", {"service": "recommend"}).status_code == 200
    assert not (tmp_path / "var" / "canary-token").exists()
    next(gen, None)

    gen = _serve(monkeypatch, tmp_path, {"CANARY_AUTH": "iam"})
    base = next(gen)
    claims = base64.urlsafe_b64encode(json.dumps({"email": "ci@p.iam"}).encode()).decode()
    srv = Server(base, f"eyJhbGciOiJSUzI1NiJ9.{claims.rstrip('=')}.sig")
    assert srv.post("status", {"service": "recommend"}, token=None).status_code == 401
    r = srv.post("enable", {"service": "chat", "traffic_percentage": 5})
    assert r.status_code == 200, r.text
    audit = srv.post("status", {"service": "chat"}).json()["audit"]
    assert audit[0]["actor"] == "iam:ci@p.iam"
    next(gen, None)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    gen = _serve(mp, tmp_path_factory.mktemp("fuzz"), {"CANARY_TOKEN": "fuzz-token-123"})
    base = next(gen)
    yield Server(base, "fuzz-token-123")
    next(gen, None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"service": st.sampled_from(["recommend", "chat", "x", "", "A", "a" * 70])},
        optional={
            "traffic_percentage": st.one_of(st.integers(-5, 120), st.text(max_size=3)),
            "reason": st.text(max_size=600),
            "candidate_revision": st.text(max_size=20),
        },
    ),
)


@settings_h(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    action=st.sampled_from(
        ["enable", "metrics", "rollback", "promote", "advance", "pause", "resume", "status"]
    ),
    body=bodies,
)
def test_no_input_makes_the_api_answer_5xx(fuzz_client, action, body):
    r = fuzz_client.post(action, json.dumps(body, allow_nan=True))
    assert r.status_code in (200, 400, 404, 409, 422), (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
