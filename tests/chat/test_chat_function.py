"""The chat function over HTTP: a real server (uvicorn in a thread) for the conversation, the
in-process ASGI client for input validation. The chat service is the real one on SQLite (and once on
Firestore), installed with ``wiring.chat.service.override``."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoengine.chat.personalities import PersonalityRouter, load_personalities
from recoengine.chat.service import ChatLimits, ChatService
from recoengine.llm.offline import OfflineResponder
from recoengine.sessions.firestore_store import FirestoreSessionStore
from recoengine.sessions.sqlite_store import SqliteSessionStore
from recoengine.wiring import chat as chat_wiring
from testkit.asgi_client import AsgiClient, serve
from tests.chat.support import TinyRecommender, undocumented
from tests.infra import tfconfig as tf
from tools.localstack import load_function


def engine_on(store, recommender=None):
    personalities, default = load_personalities()
    return ChatService(
        store,
        OfflineResponder(),
        PersonalityRouter(personalities, default),
        recommender or TinyRecommender(),
        ChatLimits(k=3),
    )


@pytest.fixture()
def app(tmp_path):
    with chat_wiring.service.override(engine_on(SqliteSessionStore(tmp_path / "f.sqlite3"))):
        yield load_function("chat")


@pytest.fixture()
def client(app):
    with AsgiClient(app) as c:
        yield c


@pytest.fixture()
def server(app):
    with serve(app) as base:
        yield base


def converse(base: str) -> None:
    s = requests.Session()
    r = s.post(f"{base}/api/v2/chat", json={"user_id": "alice", "message": "hello"}, timeout=10)
    assert r.status_code == 200, r.text
    first = r.json()
    assert undocumented(first) == []
    assert first["turn"] == 1 and first["fallback"] is False and "recommendations" not in first
    assert first["responder"] == "offline"
    sid = first["session_id"]
    r = s.post(
        f"{base}/api/v2/chat",
        json={"user_id": "alice", "message": "recommend me a comedy", "session_id": sid},
        timeout=10,
    )
    second = r.json()
    assert undocumented(second) == []
    assert second["turn"] == 2 and second["personality"] == "curator"
    titles = [x["title"] for x in second["recommendations"]]
    assert len(titles) == 3 and all(t in second["reply"] for t in titles)
    r = s.post(
        f"{base}/api/v2/chat",
        json={"user_id": "alice", "message": "more like the second one", "session_id": sid},
        timeout=10,
    )
    assert r.json()["intent"] == "more_like" and titles[1] in r.json()["reply"]

    r = s.get(f"{base}/api/v2/session/{sid}", params={"user_id": "alice"}, timeout=10)
    assert r.status_code == 200
    view = r.json()
    assert view["turns"] == 3 and len(view["messages"]) == 6
    assert view["messages"][0] == {**view["messages"][0], "role": "user", "text": "hello"}

    # someone else, an unknown id and a malformed id: the same 404
    answers = [
        s.get(f"{base}/api/v2/session/{sid}", params={"user_id": "mallory"}, timeout=10),
        s.get(f"{base}/api/v2/session/{'B' * 22}", params={"user_id": "alice"}, timeout=10),
        s.get(f"{base}/api/v2/session/xyz", params={"user_id": "alice"}, timeout=10),
        s.delete(f"{base}/api/v2/session/{sid}", params={"user_id": "mallory"}, timeout=10),
        s.post(
            f"{base}/api/v2/chat",
            json={"user_id": "mallory", "message": "hi", "session_id": sid},
            timeout=10,
        ),
    ]
    assert [a.status_code for a in answers] == [404] * 5
    bodies = {json.dumps(a.json()["error"], sort_keys=True) for a in answers}
    assert len(bodies) == 1  # nothing distinguishes them

    r = s.delete(f"{base}/api/v2/session/{sid}", params={"user_id": "alice"}, timeout=10)
    assert r.status_code == 204
    r = s.get(f"{base}/api/v2/session/{sid}", params={"user_id": "alice"}, timeout=10)
    assert r.status_code == 404


def test_conversation_over_real_http(server):
    converse(server)


@pytest.mark.firestore
def test_conversation_over_real_http_on_firestore(firestore_client):
    store = FirestoreSessionStore(firestore_client)
    with chat_wiring.service.override(engine_on(store)), serve(load_function("chat")) as base:
        converse(base)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"message": "hi"}, 422),
        ({"user_id": "alice"}, 422),
        ({"user_id": "alice", "message": ""}, 422),
        ({"user_id": "alice", "message": "   "}, 422),
        ({"user_id": "al ice", "message": "hi"}, 422),
        ({"user_id": 5, "message": "hi"}, 422),
        ({"user_id": "alice", "message": "hi", "extra": 1}, 422),
        ({"user_id": "alice", "message": "x" * 4001}, 413),
        ([], 422),
    ],
)
def test_invalid_chat_input(client, payload, status):
    r = client.post("/api/v2/chat", json=payload)
    assert r.status_code == status
    assert r.get_json()["error"]["status"] == status


def test_malformed_and_oversized_bodies(client):
    r = client.post("/api/v2/chat", data="{oops", content_type="application/json")
    assert r.status_code == 400
    huge = json.dumps({"user_id": "a", "message": "x" * 70_000})
    r = client.post("/api/v2/chat", data=huge, content_type="application/json")
    assert r.status_code == 413


def test_session_endpoints_need_the_user(client):
    sid = client.post("/api/v2/chat", json={"user_id": "a", "message": "hi"}).get_json()
    sid = sid["session_id"]
    assert client.get(f"/api/v2/session/{sid}").status_code == 422
    assert client.delete(f"/api/v2/session/{sid}").status_code == 422
    assert client.get(f"/api/v2/session/{sid}?user_id=a&limit=0").status_code == 422
    assert client.put(f"/api/v2/session/{sid}?user_id=a").status_code == 405


def test_health_and_session_count_metric(client, tmp_path):
    for user in ("a", "b"):
        client.post("/api/v2/chat", json={"user_id": user, "message": "hi"})
    health = client.get("/health/detailed").get_json()
    assert health["components"]["store"]["backend"] == "sqlite"
    assert health["components"]["llm"]["backend"] == "offline"
    assert health["components"]["recommender"]["status"] == "ok"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "\nsession_count 2.0\n" in metrics
    assert "multiturn_engine_latency_count" in metrics


def test_recommender_down_is_a_degraded_component_not_a_crash(tmp_path):
    down = engine_on(SqliteSessionStore(tmp_path / "d.sqlite3"), TinyRecommender(down=True))
    with chat_wiring.service.override(down):
        c = AsgiClient(load_function("chat"))
        r = c.get("/health")
        assert r.status_code == 200 and r.get_json()["components"]["recommender"] == "degraded"
        r = c.post("/api/v2/chat", json={"user_id": "a", "message": "recommend me a drama"})
        assert r.status_code == 200 and r.get_json()["recommendations"] == []
        c.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.one_of(st.text(max_size=140), json_values),
        "message": st.one_of(st.text(max_size=300), json_values),
        "session_id": st.one_of(st.text(max_size=70), json_values),
    },
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(chat_bodies, json_values))
def test_arbitrary_json_never_gives_a_server_error(client, body):
    r = client.post("/api/v2/chat", json=body)
    assert r.status_code in (200, 400, 404, 413, 422), r.get_data(as_text=True)
    if r.status_code == 200:
        assert {"session_id", "reply", "turn"} <= set(r.get_json())


def test_access_log_carries_the_chat_latencies(engine_env, capfd) -> None:
    """Terraform's log-based metrics read these fields from the chat's access-log entries.
    The service is the one the wiring builds (SQLite, offline responder, the demo model)."""
    with AsgiClient(load_function("chat")) as client:
        r = client.post("/api/v2/chat", json={"user_id": "u1", "message": "hello there"})
    assert r.status_code == 200
    entries = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x.startswith("{")]
    access = [e for e in entries if e.get("route") == "/api/v2/chat"][-1]
    assert 0 < access["multiturn_engine_latency"] < 60  # seconds, not ms
    assert 0 <= access["personality_router_latency_seconds"] < 1
    # Who replied and who understood (here the offline parts, configured so): chat_turns.
    assert (access["chat_reply"], access["chat_understanding"]) == ("offline", "offline")
    turns = tf.resources("google_logging_metric")["chat_turns"]
    assert "jsonPayload.chat_reply:*" in turns["filter"]
    assert turns["label_extractors"] == {
        "reply": "EXTRACT(jsonPayload.chat_reply)",
        "understanding": "EXTRACT(jsonPayload.chat_understanding)",
    }


def test_korean_and_honest_notes_over_http(server):
    s = requests.Session()
    first = {"user_id": "mina", "message": "좀비 코미디 영화 추천해줘"}
    r = s.post(f"{server}/api/v2/chat", json=first, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["language"] == "ko" and body["intent"] == "recommend"
    understood = {"features": ["comedy"], "match": "all", "source": "offline", "unknown": ["좀비"]}
    assert body["understood"] == understood
    assert body["notes"] and body["notes"][0] in body["reply"]
    follow_up = {"user_id": "mina", "message": "아홉 번째랑 비슷한 거"}
    r = s.post(
        f"{server}/api/v2/chat", json={**follow_up, "session_id": body["session_id"]}, timeout=10
    )
    ninth = r.json()
    assert ninth["recommendations"] == [] and "아홉 번째 작품은 없어요" in ninth["reply"]
    history = f"{server}/api/v2/session/{body['session_id']}"
    view = s.get(history, params={"user_id": "mina"}, timeout=10).json()
    assistant = [m for m in view["messages"] if m["role"] == "assistant"]
    assert [m["intent"] for m in assistant] == ["recommend", "more_like"]
    assert assistant[0]["item_ids"] == [x["item_id"] for x in body["recommendations"]]
    assert "좀비" in view["summary"]
