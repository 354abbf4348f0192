"""Feedback that cannot be forged, over real HTTP against the local stack.

Every refusal is a 4xx that explains itself and changes no count: the A/B test that promotes
or rolls back a revision reads ``recommendation_feedback_total``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from recoengine.feedback_tokens import FeedbackSigner
from tests.support.localstack import local_stack

URL = "/api/v2/recommendations"
KEY = "feedback-test-key-" + "0123456789" * 3
REVISION = "recommend-00007-abc"


@pytest.fixture(scope="module")
def stack(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "MODEL_URI": str(demo_model_dir),
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "FEEDBACK_SIGNING_KEY": KEY,
        "K_REVISION": REVISION,
        "RECO_CACHE_SIZE": "0",
    }
    with local_stack(env) as base:
        yield base


def post(base: str, path: str, body: dict) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    return requests.post(base + path, data=json.dumps(body), headers=headers, timeout=10)


def served(base: str, user: str, k: int = 3) -> tuple[str, list[str]]:
    body = post(base, URL, {"user_id": user, "k": k}).json()
    return body["request_id"], [i["item_id"] for i in body["items"]]


def feedback(base: str, token: str, user: str, item: str, event: str = "click"):
    body = {"request_id": token, "user_id": user, "item_id": item, "event": event}
    return post(base, URL + "/feedback", body)


def counts(base: str) -> dict[str, float]:
    text = requests.get(base + "/metrics", timeout=5).text
    found: dict[str, float] = {}
    for name, labels, value in re.findall(
        r"^(recommendation_feedback(?:_refused)?_total)\{([^}]*)\} (\S+)$", text, re.M
    ):
        found[f"{name}{{{labels}}}"] = float(value)
    return found


def clicks(base: str) -> float:
    key = f'recommendation_feedback_total{{event="click",revision="{REVISION}"}}'
    return counts(base).get(key, 0.0)


def refused(base: str, reason: str) -> float:
    return counts(base).get(f'recommendation_feedback_refused_total{{reason="{reason}"}}', 0.0)


def test_the_readme_placeholder_is_refused_with_a_reason(stack: str) -> None:
    before = clicks(stack)
    r = feedback(stack, "REQUEST_ID_FROM_ABOVE", "user-0001", "item-0148")
    assert r.status_code == 422
    error = r.json()["error"]
    assert "not a token this service issued" in error["message"]
    assert error["details"] == [{"field": "request_id", "problem": "malformed"}]
    assert clicks(stack) == before and refused(stack, "malformed") >= 1


def test_a_served_item_counts_once_for_the_revision_that_served_it(stack: str) -> None:
    token, items = served(stack, "alice")
    before = clicks(stack)
    first = feedback(stack, token, "alice", items[0])
    assert first.status_code == 202, first.text
    assert first.json()["counted"] is True and first.json()["stored"] is True
    replay = feedback(stack, token, "alice", items[0])
    assert replay.status_code == 409 and "recorded" in replay.json()["error"]["message"]
    other_item = feedback(stack, token, "alice", items[1])  # recorded, not a second conversion
    assert other_item.status_code == 202 and other_item.json()["counted"] is False
    accept = feedback(stack, token, "alice", items[0], "accept")  # another event: its own count
    assert accept.status_code == 202 and accept.json()["counted"] is True
    assert clicks(stack) == before + 1
    assert refused(stack, "replayed") >= 1


def test_impressions_are_counted_by_the_service_not_taken_from_clients(stack: str) -> None:
    key = f'recommendation_feedback_total{{event="impression",revision="{REVISION}"}}'
    before = counts(stack).get(key, 0.0)
    token, items = served(stack, "bob")
    assert counts(stack)[key] == before + 1
    r = feedback(stack, token, "bob", items[0], "impression")
    assert r.status_code == 422 and "counted by the service" in r.text
    assert counts(stack)[key] == before + 1


def test_another_users_token_is_forbidden(stack: str) -> None:
    token, items = served(stack, "carol")
    before = clicks(stack)
    r = feedback(stack, token, "mallory", items[0])
    assert r.status_code == 403 and "another user" in r.json()["error"]["message"]
    assert clicks(stack) == before


def test_an_item_the_list_did_not_hold_is_refused(stack: str) -> None:
    token, items = served(stack, "dave", k=2)
    unserved = next(f"item-{i:04d}" for i in range(1, 9999) if f"item-{i:04d}" not in items)
    r = feedback(stack, token, "dave", unserved)
    assert r.status_code == 422 and "not among the items" in r.json()["error"]["message"]
    assert r.json()["error"]["details"][0]["problem"] == "not_served"


def test_a_token_signed_with_another_key_is_forged(stack: str) -> None:
    forged = FeedbackSigner([b"attacker" * 8], 3600).issue("erin", REVISION, ["item-0001"])
    before = clicks(stack)
    r = feedback(stack, forged, "erin", "item-0001")
    assert r.status_code == 422 and "signature" in r.json()["error"]["message"]
    assert clicks(stack) == before and refused(stack, "forged") >= 1


def test_an_expired_token_is_refused(stack: str) -> None:
    yesterday = FeedbackSigner([KEY.encode()], 3600, clock=lambda: time.time() - 86400)
    token = yesterday.issue("frank", REVISION, ["item-0001"])
    r = feedback(stack, token, "frank", "item-0001")
    assert r.status_code == 422 and "expired" in r.json()["error"]["message"]


def test_a_tampered_token_is_refused(stack: str) -> None:
    token, items = served(stack, "grace")
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    r = feedback(stack, tampered, "grace", items[0])
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["problem"] in ("forged", "malformed")


def test_the_health_check_reports_the_signing_key_without_showing_it(stack: str) -> None:
    detailed = requests.get(stack + "/health/detailed", timeout=5).json()
    assert detailed["components"]["feedback"]["status"] == "ok"
    assert KEY not in json.dumps(detailed)


def test_a_new_users_click_shapes_their_next_answer_at_once(stack: str) -> None:
    """The first read found no events (and is remembered), the click goes through the same
    instance, and the next answer follows it: the clicked item is history now."""
    token, items = served(stack, "newcomer-1", k=5)
    assert feedback(stack, token, "newcomer-1", items[0]).status_code == 202
    _, after = served(stack, "newcomer-1", k=5)
    assert items[0] not in after
    _, other = served(stack, "newcomer-2", k=5)  # another new user: still the plain answer
    assert other == items
