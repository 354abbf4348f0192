"""The recommend function end to end: the local stack over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.localstack import local_stack

URL = "/api/v2/recommendations"


@pytest.fixture(scope="module")
def stack(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("var")
    with local_stack({"MODEL_URI": str(demo_model_dir), "VAR_DIR": str(var)}) as base:
        yield base


@pytest.fixture(scope="module")
def broken_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("var")
    with local_stack({"MODEL_URI": str(var / "no-such-model"), "VAR_DIR": str(var)}) as base:
        yield base


def post(base: str, path: str, body: object, **kw: object) -> requests.Response:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}  # type: ignore[dict-item]
    return requests.post(base + path, data=data, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]


def test_recommendations_for_a_known_user(stack: str) -> None:
    r = post(stack, URL, {"user_id": "user-0003", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["items"]) == 5
    assert set(body["items"][0]) == {"item_id", "title", "score", "components"}
    assert set(body["items"][0]["components"]) == {"cf", "cb", "pa"}
    assert body["model_version"] and body["request_id"].startswith("v1.")  # a feedback token
    assert r.headers["X-Request-Id"]


def test_cold_start_with_context_and_warnings(stack: str) -> None:
    r = post(
        stack,
        URL,
        {
            "user_id": "brand-new",
            "context": {"persona": {"segment": "student"}, "recent_items": ["ghost"]},
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert len(body["items"]) == 10
    assert any("ghost" in w for w in body["warnings"])


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ("{broken", 400),
        ("", 400),
        ({"k": 5}, 422),
        ({"user_id": "u", "k": 0}, 422),
        ({"user_id": "u", "k": 101}, 422),
        ({"user_id": "u", "k": "ten"}, 422),
        ({"user_id": "", "k": 3}, 422),
        ({"user_id": "a b"}, 422),
        ({"user_id": "u", "context": {"persona": "student"}}, 422),
        ({"user_id": "u", "context": {"features": ["x"] * 51}}, 422),
        ({"user_id": "u", "unexpected": 1}, 422),
        ([1, 2], 422),
        ({"user_id": "u" * 70000}, 413),
        # A trailing newline must not pass a pattern ending in "$" (re.match allows it).
        ({"user_id": "u\n"}, 422),
        ({"user_id": "u", "context": {"features": ["x\n"]}}, 422),
        ({"user_id": "u", "context": {"exclude": ["x\n"]}}, 422),
        ({"user_id": "u", "context": {"recent_items": ["x\n"]}}, 422),
        ({"user_id": "u", "context": {"persona": {"age\n": "young"}}}, 422),
        ({"user_id": "u", "context": {"persona": {"age": "young\n"}}}, 422),
        ({"user_id": "u", "context": {"features": ["x\x7f"]}}, 422),
    ],
)
def test_invalid_input_gets_a_json_error(stack: str, payload: object, status: int) -> None:
    r = post(stack, URL, payload)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["status"] == status and err["message"]


def test_wrong_method_and_content_type(stack: str) -> None:
    assert requests.get(stack + URL, timeout=5).status_code == 405
    r = requests.post(
        stack + URL, data="user_id=u", headers={"Content-Type": "text/plain"}, timeout=5
    )
    assert r.status_code == 415


def test_feedback_is_recorded_and_counted(stack: str) -> None:
    rec = post(stack, URL, {"user_id": "user-0001", "k": 1}).json()
    item = rec["items"][0]["item_id"]
    ok = post(
        stack,
        URL + "/feedback",
        {
            "request_id": rec["request_id"],
            "user_id": "user-0001",
            "item_id": item,
            "event": "click",
        },
    )
    assert ok.status_code == 202
    bad = post(
        stack,
        URL + "/feedback",
        {"request_id": "x", "user_id": "u", "item_id": "i", "event": "buy"},
    )
    assert bad.status_code == 422
    metrics = requests.get(stack + "/metrics", timeout=5).text
    assert 'recommendation_feedback_total{event="click",revision="local"} 1.0' in metrics
    assert "recommendation_cache_requests_total" in metrics


def test_health_reports_the_recommender(stack: str) -> None:
    body = requests.get(stack + "/health", timeout=5).json()
    assert body["status"] == "ok" and body["components"]["recommender"] == "ok"
    detailed = requests.get(stack + "/health/detailed", timeout=5).json()
    assert detailed["components"]["recommender"]["model_version"]
    assert detailed["recent_requests"]["count"] > 0


def test_missing_model_is_503_and_unhealthy_never_500(broken_stack: str) -> None:
    r = post(broken_stack, URL, {"user_id": "u"})
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.json()["error"]["code"] == "unavailable"
    health = requests.get(broken_stack + "/health", timeout=5)
    assert health.status_code == 503
    assert health.json()["components"]["recommender"] == "unhealthy"


def test_feedback_moves_the_next_recommendations(stack: str) -> None:
    user = "fresh-user-42"
    served = post(stack, URL, {"user_id": user, "k": 5}).json()
    before, token = served["items"], served["request_id"]
    clicked = before[0]["item_id"]
    fb = post(
        stack,
        URL + "/feedback",
        {"request_id": token, "user_id": user, "item_id": clicked, "event": "click"},
    )
    assert fb.status_code == 202 and fb.json()["stored"] is True
    after = post(stack, URL, {"user_id": user, "k": 5}).json()["items"]
    assert clicked not in {i["item_id"] for i in after}  # now part of the user's history
    assert any(i["components"]["cf"] != 0 for i in after)  # CF now has a history to work from


def _cache_hits(base: str) -> int:
    detailed = requests.get(base + "/health/detailed", timeout=5).json()
    return int(detailed["components"]["recommender"]["cache"]["hits"])


def test_new_users_with_the_same_context_share_one_cached_answer(stack: str) -> None:
    body = {"k": 4, "context": {"persona": {"segment": "student"}, "features": ["Drama"]}}
    first = post(stack, URL, {"user_id": "shared-ctx-1", **body})
    hits = _cache_hits(stack)
    second = post(stack, URL, {"user_id": "shared-ctx-2", **body})
    assert first.status_code == second.status_code == 200
    assert _cache_hits(stack) == hits + 1
    items = [[i["item_id"] for i in r.json()["items"]] for r in (first, second)]
    assert items[0] == items[1]
    # Each answer is still the user's own: its token binds the user it was served to.
    assert first.json()["request_id"] != second.json()["request_id"]
    other = post(stack, URL, {"user_id": "shared-ctx-3", **body, "k": 5})  # another context
    assert other.status_code == 200 and _cache_hits(stack) == hits + 1
