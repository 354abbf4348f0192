"""Rotating the feedback key without refusing feedback (issue 18, item 6).

A rotation is two deployments (docs/deploy.md): first the new key is added as NEXT (verified,
never used to sign), then it is promoted (previous <- current, current <- next). Between the
two, instances of both revisions serve at once, each with its own current key. Two local stacks
(two processes, one shared SQLite session file: the claims are shared as on Firestore) stand
for them: each must accept feedback on the other's lists, and a click counted by one is a
replay for the other. The set-up before the fix, one key per instance, refused them (422).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from recoengine.config import load_settings
from recoengine.feedback_tokens import FeedbackSigner, Rejection, TokenRejected
from recoengine.wiring.recommend import build_signer, signing_keys
from tests.functions.test_feedback_http import feedback, post, served
from tests.support.localstack import local_stack

K1 = "rotation-key-one-" + "0123456789" * 4
K2 = "rotation-key-two-" + "9876543210" * 4
K3 = "rotation-key-three-" + "5647382910" * 4


@pytest.fixture(scope="module")
def two_revisions(
    demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Revision A after step 1 (current K1, next K2) and revision B after step 2 (previous
    K1, current K2), serving side by side on one claim store."""
    shared = tmp_path_factory.mktemp("shared") / "sessions.sqlite3"
    common = {"MODEL_URI": str(demo_model_dir), "SQLITE_PATH": str(shared), "LOG_LEVEL": "WARNING"}
    old = {
        **common,
        "VAR_DIR": str(tmp_path_factory.mktemp("var-a")),
        "K_REVISION": "recommend-00001-old",
        "FEEDBACK_SIGNING_KEY": K1,
        "FEEDBACK_SIGNING_KEY_NEXT": K2,
    }
    new = {
        **common,
        "VAR_DIR": str(tmp_path_factory.mktemp("var-b")),
        "K_REVISION": "recommend-00002-new",
        "FEEDBACK_SIGNING_KEY_PREVIOUS": K1,
        "FEEDBACK_SIGNING_KEY": K2,
    }
    with local_stack(old) as a, local_stack(new) as b:
        yield a, b


def test_each_revision_accepts_feedback_on_the_others_lists(
    two_revisions: tuple[str, str],
) -> None:
    a, b = two_revisions
    for serving, receiving, user in ((a, b, "user-0001"), (b, a, "user-0002")):
        token, items = served(serving, user)
        r = feedback(receiving, token, user, items[0])
        assert r.status_code == 202, r.text
        assert r.json()["counted"] is True
        # The claim store is shared: the same click sent to the serving instance is a replay.
        again = feedback(serving, token, user, items[0])
        assert again.status_code == 409, again.text


def test_both_revisions_report_the_keys_they_verify(two_revisions: tuple[str, str]) -> None:
    import requests

    for base in two_revisions:
        health = requests.get(base + "/health/detailed", timeout=10).json()
        assert health["components"]["feedback"]["keys"] == 2
        assert K1 not in str(health) and K2 not in str(health)


def test_a_forged_token_is_still_refused_by_both(two_revisions: tuple[str, str]) -> None:
    """Accepting three keys must not mean accepting any: a token under a key neither
    instance holds is forged."""
    stranger = FeedbackSigner([K3.encode()], 600)
    _, items = served(two_revisions[0], "user-0003")
    forged = stranger.issue("user-0003", "recommend-00001-old", items)
    for base in two_revisions:
        r = feedback(base, forged, "user-0003", items[0])
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["problem"] == "forged"


def _signer(env: dict[str, str], tmp_path: Path) -> FeedbackSigner:
    cfg = load_settings({**env, "VAR_DIR": str(tmp_path)}).recommend
    return build_signer(cfg, on_cloud_run=True)


def test_one_key_per_instance_refuses_the_other_revisions_tokens(tmp_path: Path) -> None:
    """The defect: with only FEEDBACK_SIGNING_KEY (what the wiring read before, from the
    secret's `latest` version at instance start), an instance started before a rotation and
    one started after refuse each other's tokens as forged."""
    before = _signer({"FEEDBACK_SIGNING_KEY": K1}, tmp_path)
    after = _signer({"FEEDBACK_SIGNING_KEY": K2}, tmp_path)
    token = before.issue("u1", "r1", ["i1"])
    with pytest.raises(TokenRejected) as refused:
        after.verify(token, "u1", "i1")
    assert refused.value.reason is Rejection.FORGED


def test_the_rotation_steps_keep_every_neighbouring_pair_compatible(tmp_path: Path) -> None:
    """Stable (K1), step 1 (K1 + next K2), step 2 (prev K1, K2), retired (K2): each state
    accepts the tokens of the state before and after it."""
    states = [
        {"FEEDBACK_SIGNING_KEY": K1},
        {"FEEDBACK_SIGNING_KEY": K1, "FEEDBACK_SIGNING_KEY_NEXT": K2},
        {"FEEDBACK_SIGNING_KEY_PREVIOUS": K1, "FEEDBACK_SIGNING_KEY": K2},
        {"FEEDBACK_SIGNING_KEY": K2},
    ]
    signers = [_signer(env, tmp_path) for env in states]
    for older, newer in itertools.pairwise(signers):
        for issuer, verifier in ((older, newer), (newer, older)):
            token = issuer.issue("u1", "r1", ["i1"])
            assert verifier.verify(token, "u1", "i1").revision == "r1"
    # Two steps apart is not supported (and says so): the stable revision cannot verify K2.
    with pytest.raises(TokenRejected):
        signers[0].verify(signers[2].issue("u1", "r1", ["i1"]), "u1", "i1")


def test_the_current_key_signs_and_duplicates_collapse(tmp_path: Path) -> None:
    env = {"FEEDBACK_SIGNING_KEY": K2, "FEEDBACK_SIGNING_KEY_PREVIOUS": K1}
    cfg = load_settings({**env, "VAR_DIR": str(tmp_path)}).recommend
    assert signing_keys(cfg, on_cloud_run=True) == [K2.encode(), K1.encode()]
    same = load_settings({"FEEDBACK_SIGNING_KEY": K1, "FEEDBACK_SIGNING_KEY_NEXT": K1}).recommend
    assert signing_keys(same, on_cloud_run=True) == [K1.encode()]
    # Signed with the current key: an instance holding only K2 verifies it.
    only_current = _signer({"FEEDBACK_SIGNING_KEY": K2}, tmp_path)
    token = _signer(env, tmp_path).issue("u1", "r1", ["i1"])
    assert only_current.verify(token, "u1", "i1").nonce


def test_on_cloud_run_a_missing_current_key_is_an_error_even_with_others(
    tmp_path: Path,
) -> None:
    from recoengine.errors import ServiceUnavailable

    with pytest.raises(ServiceUnavailable, match="FEEDBACK_SIGNING_KEY is not set"):
        _signer({"FEEDBACK_SIGNING_KEY_PREVIOUS": K1}, tmp_path)


def test_a_recommendation_still_serves_with_three_keys(two_revisions: tuple[str, str]) -> None:
    r = post(two_revisions[1], "/api/v2/recommendations", {"user_id": "user-0004", "k": 2})
    assert r.status_code == 200 and r.json()["request_id"].startswith("v1.")
