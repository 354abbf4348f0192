"""Streamed chat turns over HTTP: the chat function (ASGI) with ``Accept: text/event-stream``,
in-process through the ASGI protocol (testkit.asgi_client) and over real HTTP (uvicorn). The
chat service is the real one on SQLite, with the offline responder or Gemini through the real
google-genai client against the fake Vertex AI."""

from __future__ import annotations

import json
import time

import pytest
import requests

from recoengine.chat.personalities import PersonalityRouter, load_personalities
from recoengine.chat.service import ChatLimits, ChatService
from recoengine.llm.gemini import GeminiModel
from recoengine.llm.offline import OfflineResponder
from recoengine.sessions.sqlite_store import SqliteSessionStore
from recoengine.wiring import chat as chat_wiring
from testkit.asgi_client import AsgiClient, serve
from testkit.fake_vertex import FakeVertex, Scripted, StaticCredentials
from tests.chat.support import TinyRecommender, undocumented
from tools.localstack import load_function

CHAT = "/api/v2/chat"
SSE = {"Accept": "text/event-stream"}


def engine_on(store, model=None) -> ChatService:
    personalities, default = load_personalities()
    return ChatService(
        store,
        model or OfflineResponder(),
        PersonalityRouter(personalities, default),
        TinyRecommender(),
        ChatLimits(k=3),
    )


@pytest.fixture()
def store(tmp_path):
    return SqliteSessionStore(tmp_path / "s.sqlite3")


@pytest.fixture()
def fake():
    with FakeVertex() as server:
        yield server


@pytest.fixture()
def app(store):
    with chat_wiring.service.override(engine_on(store)):
        yield load_function("chat")


@pytest.fixture()
def gemini_app(store, fake):
    model = GeminiModel(
        project="p",
        location="us-central1",
        model="gemini-2.5-flash",
        base_url=fake.url,
        credentials=StaticCredentials(),
        max_retries=1,
        backoff_seconds=0.01,
        timeout_seconds=3.0,
    )
    with chat_wiring.service.override(engine_on(store, model)):
        yield load_function("chat")


def split(events: list[tuple[str | None, object]]) -> tuple[list[str], dict]:
    """The deltas and the done answer; checks the shape: deltas, then exactly one done, last."""
    *deltas, (name, done) = events
    assert name == "done" and isinstance(done, dict)
    assert all(n is None and set(d) == {"delta"} and d["delta"] for n, d in deltas)
    return [d["delta"] for _, d in deltas], done


def test_without_the_header_the_answer_is_the_json_one(app):
    with AsgiClient(app) as client:
        answer = client.post(CHAT, json={"user_id": "amy", "message": "recommend me a comedy"})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert undocumented(answer.json) == [] and answer.json["recommendations"]


def test_the_stream_is_deltas_then_done_with_the_json_answer(app, store):
    with AsgiClient(app) as client:
        answer = client.post(
            CHAT, json={"user_id": "bo", "message": "recommend me a comedy"}, headers=SSE
        )
        assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
        deltas, done = split(answer.events())
        assert len(deltas) > 1 and done["reply"] == "".join(deltas)
        assert undocumented(done) == [] and done["turn"] == 1 and done["recommendations"]
        # a JSON turn on the same session: the same document, numbered after the streamed one
        plain = client.post(
            CHAT,
            json={"user_id": "bo", "message": "something else", "session_id": done["session_id"]},
        )
        assert undocumented(plain.json) == [] and plain.json["turn"] == 2
        history = client.get(f"/api/v2/session/{done['session_id']}?user_id=bo").json
    assert history["turns"] == 2  # each turn saved once
    assert history["messages"][1]["text"] == done["reply"]


def test_a_foreign_session_is_a_json_404_even_when_streaming_is_asked(app):
    with AsgiClient(app) as client:
        sid = client.post(CHAT, json={"user_id": "cy", "message": "hi"}).json["session_id"]
        for headers in (SSE, {}):
            answer = client.post(
                CHAT, json={"user_id": "eve", "message": "hi", "session_id": sid}, headers=headers
            )
            assert answer.status_code == 404 and answer.mimetype == "application/json"
            assert answer.json["error"]["code"] == "not_found"
        bad = client.post(CHAT, json={"user_id": "cy", "message": "  "}, headers=SSE)
        assert bad.status_code == 422 and bad.mimetype == "application/json"


def test_a_model_failure_mid_stream_ends_with_the_fallback(gemini_app, fake):
    fake.script = [Scripted(text="Here are some picks", chunks=4, fail_after=2)]
    with AsgiClient(gemini_app) as client:
        answer = client.post(
            CHAT, json={"user_id": "di", "message": "recommend me a comedy"}, headers=SSE
        )
        deltas, done = split(answer.events())
        assert deltas[:2] == ["Here ", "are "]
        assert deltas[2].startswith("\n\n(The language model is unavailable right now")
        assert done["fallback"] is True and done["responder"] == "offline"
        assert done["reply"] == "".join(deltas) and undocumented(done) == []
        history = client.get(f"/api/v2/session/{done['session_id']}?user_id=di").json
    assert history["messages"][1]["fallback"] is True
    assert history["messages"][1]["text"] == done["reply"]


def test_a_client_that_leaves_mid_stream_leaves_no_turn(gemini_app, fake, store):
    fake.responder = lambda body: Scripted(text="one two three four five six", chunks=6)
    fake.timing.stream_seconds = 0.3
    with AsgiClient(gemini_app) as client:
        sid = client.post(CHAT, json={"user_id": "ed", "message": "hello"}).json["session_id"]
        left = client.post(
            CHAT,
            json={"user_id": "ed", "message": "recommend me a comedy", "session_id": sid},
            headers=SSE,
            disconnect_after=1,
        )
        assert left.status_code == 200 and left.chunks  # it had started
        time.sleep(0.6)  # longer than the model would have taken to finish the reply
        fake.timing.stream_seconds = 0.0
        assert store.get(sid).turns == 1  # no turn from the stream the client left, ever
        nxt = client.post(CHAT, json={"user_id": "ed", "message": "thanks", "session_id": sid})
    assert nxt.json["turn"] == 2


def test_streaming_over_real_http(app):
    """uvicorn, a real socket: the events arrive as they are written, done last."""
    with (
        serve(app) as base,
        requests.post(
            f"{base}{CHAT}",
            json={"user_id": "flo", "message": "recommend me a comedy"},
            headers=SSE,
            stream=True,
            timeout=30,
        ) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        blocks = answer.text.strip().split("\n\n")
    events = []
    for block in blocks:
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines.get("event"), json.loads(lines["data"])))
    deltas, done = split(events)
    assert done["reply"] == "".join(deltas) and done["turn"] == 1
