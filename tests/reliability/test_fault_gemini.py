"""Gemini slow or failing: the chat still answers, with the fallback, within the deadline.

The real chat function (functions-framework's ASGI app + the shared HTTP layer) runs the real
service on SQLite with the real ``google-genai`` client pointed at the chat suite's fake of
Vertex AI's ``generateContent`` endpoint, which is scripted to hang or fail.
"""

from __future__ import annotations

import json
import time

import pytest

from recoengine.chat.personalities import PersonalityRouter, load_personalities
from recoengine.chat.service import ChatLimits, ChatService
from recoengine.llm.gemini import GeminiModel
from recoengine.sessions.sqlite_store import SqliteSessionStore
from recoengine.wiring import chat as chat_wiring
from testkit.asgi_client import AsgiClient
from testkit.fake_vertex import FakeVertex, Scripted, StaticCredentials
from tests.chat.support import TinyRecommender
from tools.localstack import load_function

TIMEOUT = 0.5  # LLM_TIMEOUT_SECONDS per attempt
RETRIES = 2  # LLM_MAX_RETRIES
BACKOFF = 0.05
# The request deadline the chat promises: every attempt timing out, plus the backoffs
# (jittered, at most doubled), plus a margin for the rest of the turn.
DEADLINE = TIMEOUT * (RETRIES + 1) + 2 * BACKOFF * (2**RETRIES - 1) + 1.0


@pytest.fixture()
def fake():
    with FakeVertex() as server:
        yield server


@pytest.fixture()
def client(fake, tmp_path):
    personalities, default = load_personalities()
    store = SqliteSessionStore(tmp_path / "chat.sqlite3")
    model = GeminiModel(
        project="test-project",
        location="us-central1",
        model="gemini-2.5-flash",
        timeout_seconds=TIMEOUT,
        max_retries=RETRIES,
        base_url=fake.url,
        credentials=StaticCredentials(),
        backoff_seconds=BACKOFF,
    )
    engine = ChatService(
        store, model, PersonalityRouter(personalities, default), TinyRecommender(), ChatLimits()
    )
    with chat_wiring.service.override(engine), AsgiClient(load_function("chat")) as app:
        # Warm up: importing google-genai and building its client is a once-per-instance cost
        # (cold start), not part of a request's deadline.
        fake.script = [Scripted(text="warm")]
        assert turn(app, "hello", user="warm-up")[2] == 200
        fake.requests.clear()
        yield app, store
    store.close()


def turn(
    client, message: str, session_id: str | None = None, user: str = "alice"
) -> tuple[dict, float, int]:
    body = {"user_id": user, "message": message}
    if session_id:
        body["session_id"] = session_id
    started = time.perf_counter()
    r = client.post("/api/v2/chat", data=json.dumps(body), content_type="application/json")
    return r.get_json(), time.perf_counter() - started, r.status_code


@pytest.mark.parametrize(
    "script",
    [
        pytest.param([Scripted(delay=5.0)] * 5, id="hangs"),
        pytest.param([Scripted(status=503)] * 5, id="unavailable"),
        pytest.param([Scripted(status=429)] * 5, id="rate-limited"),
        pytest.param([Scripted(status=500), Scripted(delay=5.0), Scripted(status=503)], id="mixed"),
        pytest.param([Scripted(status=400)], id="rejects-request"),
    ],
)
def test_fallback_reply_within_the_deadline(fake, client, script):
    app, store = client
    fake.script = list(script)
    body, elapsed, status = turn(app, "recommend me a comedy")
    assert status == 200, body
    assert elapsed < DEADLINE, f"{elapsed:.2f}s > {DEADLINE:.2f}s"
    assert body["fallback"] is True and body["responder"] == "offline"
    assert body["reply"] and "unavailable" in body["reply"]
    assert [r["item_id"] for r in body["recommendations"]]  # the items still come
    assert len(fake.requests) <= RETRIES + 1  # bounded retries
    saved = store.recent_turns(body["session_id"], 5)
    assert len(saved) == 1 and saved[0].fallback is True


def test_the_conversation_continues_when_gemini_recovers(fake, client):
    app, _store = client
    fake.script = [Scripted(status=503)] * 3
    first, _, _ = turn(app, "hello")
    assert first["fallback"] is True
    fake.script = [Scripted(text="Back online: try Laugh Riot.")]
    second, elapsed, status = turn(app, "and now?", first["session_id"])
    assert status == 200 and second["fallback"] is False and second["turn"] == 2
    assert second["responder"] == "gemini"
    assert second["reply"] == "Back online: try Laugh Riot."
    assert elapsed < TIMEOUT + 1.0
