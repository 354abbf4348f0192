"""End-user identity: verified Firebase / Identity Platform ID tokens (AUTH_MODE=firebase) and
the trusted ``user_id`` of local mode. Keys are generated at test time and their certs served
locally in the format of Google's certs URL; ``google-auth`` does the verification."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from starlette.requests import Request

from recoengine.config import IdentitySettings, load_settings
from recoengine.errors import ConfigError, Forbidden, Unauthorized
from recoengine.web.app import ApiRequest
from recoengine.web.identity import Authenticator, CertCache
from tests.security.tokens import CertServer, KeyPair
from tests.support.localstack import local_stack

RECO = "/api/v2/recommendations"
FEEDBACK = "/api/v2/recommendations/feedback"


@pytest.fixture(scope="module")
def keys() -> tuple[KeyPair, KeyPair]:
    return KeyPair("key-1"), KeyPair("key-2")


@pytest.fixture()
def certs(keys) -> Iterator[CertServer]:
    with CertServer(keys[0]) as server:
        yield server


def cfg(url: str) -> IdentitySettings:
    return IdentitySettings.from_env(
        {"AUTH_MODE": "firebase", "AUTH_AUDIENCE": "test-project", "AUTH_CERTS_URL": url}
    )


def firebase(url: str) -> Authenticator:
    """An authenticator of its own (its own cert cache), as an instance builds one."""
    return Authenticator(cfg(url))


def test_a_valid_token_yields_its_claims_and_certs_are_cached(certs, keys):
    auth = firebase(certs.url)
    for _ in range(5):
        claims = auth.verify(keys[0].token("alice"))
        assert claims["sub"] == "alice"
    assert certs.fetches == 1  # one fetch, then the Cache-Control max-age holds


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},  # expired
        {"aud": "other-project"},  # someone else's Firebase project
        {"iss": "https://accounts.google.com"},  # a Google sign-in token, not Firebase
        {"sub": ""},
        {"sub": "x" * 129},
        {"auth_time": int(time.time()) + 3600},  # authenticated in the future
        {"iat": int(time.time()) + 3600},  # issued in the future
    ],
)
def test_bad_claims_are_rejected(certs, keys, overrides):
    with pytest.raises(Unauthorized):
        firebase(certs.url).verify(keys[0].token("alice", **overrides))


def test_forged_tampered_and_garbage_tokens_are_rejected(certs, keys):
    auth = firebase(certs.url)
    good = keys[0].token("alice")
    head, payload, sig = good.split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    candidates = [
        f"{head}.{forged_payload}.{sig}",  # payload changed after signing
        f"{none_header}.{payload}.",  # alg=none
        keys[1].token("alice"),  # signed by a key Google never published
        "not-a-jwt",
        "a.b.c",
        "",
        "x" * 10000,
    ]
    for token in candidates:
        with pytest.raises(Unauthorized):
            auth.verify(token)


def test_a_rotated_key_is_picked_up(certs, keys):
    settings = cfg(certs.url)
    auth = Authenticator(settings, CertCache(certs.url, 5.0, refresh_backoff=0.0))
    auth.verify(keys[0].token("alice"))
    certs.keys.append(keys[1])  # Google publishes a new key
    assert auth.verify(keys[1].token("bob"))["sub"] == "bob"
    assert certs.fetches == 2


def test_a_flood_of_unknown_key_ids_does_not_refetch_within_the_backoff(certs, keys):
    auth = firebase(certs.url)
    auth.verify(keys[0].token("alice"))
    for _ in range(3):  # tokens naming a key Google never published
        with pytest.raises(Unauthorized):
            auth.verify(KeyPair("key-x").token("mallory"))
    assert certs.fetches == 1


def test_unreachable_certs_are_503_not_401():
    with pytest.raises(Exception) as exc:
        firebase("http://127.0.0.1:9/certs").verify(KeyPair("k").token("alice"))
    assert getattr(exc.value, "status", None) == 503


def test_config_needs_an_audience_and_a_safe_certs_url():
    with pytest.raises(ConfigError, match="AUTH_AUDIENCE"):
        IdentitySettings.from_env({"AUTH_MODE": "firebase"})
    with pytest.raises(ConfigError, match="AUTH_CERTS_URL"):
        IdentitySettings.from_env(
            {"AUTH_MODE": "firebase", "AUTH_AUDIENCE": "p", "AUTH_CERTS_URL": "http://evil"}
        )
    assert load_settings({}).identity.mode == "none"


def _request(headers: dict[str, str]) -> ApiRequest:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v2/chat",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return ApiRequest(Request(scope), {}, "req-12345678", 65536)


def test_guard_and_check_for_the_chat_function(certs, keys):
    """What functions/chat/main.py calls (through its wiring): the guard, then the check."""
    auth = firebase(certs.url)
    with pytest.raises(Unauthorized):
        auth.authenticate(_request({}))
    with pytest.raises(Unauthorized):
        auth.check_user(_request({"Authorization": "Basic abc"}), "alice")
    req = _request({"Authorization": f"Bearer {keys[0].token('alice')}"})
    auth.authenticate(req)
    assert req.identity == "alice"  # the one place the guard's verdict is kept
    assert auth.check_user(req, "alice") == "alice"
    with pytest.raises(Forbidden):
        auth.check_user(req, "bob")
    # local mode: the request's user_id is used, no token needed
    local = Authenticator(load_settings({}).identity)
    assert local.check_user(_request({}), "bob") == "bob"


def test_the_functions_guard_is_the_wired_authenticator(certs, keys):
    """``wiring.authenticate``/``check_user`` use the instance's one ``Authenticator``."""
    from recoengine.wiring import chat, common, recommend

    assert chat.authenticate is recommend.authenticate is common.authenticate
    with common.authenticator.override(firebase(certs.url)):
        with pytest.raises(Unauthorized):
            recommend.authenticate(_request({}))
        req = _request({"Authorization": f"Bearer {keys[0].token('alice')}"})
        recommend.authenticate(req)
        assert recommend.check_user(req, "alice") == "alice"
        with pytest.raises(Forbidden):
            chat.check_user(req, "bob")


# -- over HTTP: the recommend function in both modes ----------------------------------------


def post(base: str, path: str, body: dict, token: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(base + path, data=json.dumps(body), headers=headers, timeout=10)


@pytest.fixture(scope="module")
def firebase_stack(keys, demo_model_dir: Path, tmp_path_factory) -> Iterator[tuple[str, KeyPair]]:
    with CertServer(keys[0]) as certs:
        env = {
            "MODEL_URI": str(demo_model_dir),
            "VAR_DIR": str(tmp_path_factory.mktemp("var")),
            "AUTH_MODE": "firebase",
            "AUTH_AUDIENCE": "test-project",
            "AUTH_CERTS_URL": certs.url,
        }
        with local_stack(env) as base:
            yield base, keys[0]


def test_firebase_mode_over_http(firebase_stack):
    base, key = firebase_stack
    alice = key.token("alice")
    reco = {"user_id": "alice", "k": 3}

    r = post(base, RECO, reco)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthenticated"
    assert post(base, RECO, reco, "garbage").status_code == 401
    assert post(base, RECO, reco, key.token("alice", aud="other")).status_code == 401

    ok = post(base, RECO, reco, alice)
    assert ok.status_code == 200 and len(ok.json()["items"]) == 3
    served = ok.json()
    item = served["items"][0]["item_id"]
    fb = {"user_id": "alice", "item_id": item, "request_id": served["request_id"], "event": "click"}
    forbidden = post(base, RECO, {**reco, "user_id": "bob"}, alice)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "permission_denied"

    assert post(base, FEEDBACK, fb).status_code == 401
    assert post(base, FEEDBACK, fb, alice).status_code == 202
    assert post(base, FEEDBACK, {**fb, "user_id": "bob"}, alice).status_code == 403
    # health and the API document stay reachable for probes and tooling
    assert requests.get(base + "/health", timeout=5).status_code == 200
    assert requests.get(base + "/openapi.json", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def local_mode_stack(demo_model_dir: Path, tmp_path_factory) -> Iterator[str]:
    env = {"MODEL_URI": str(demo_model_dir), "VAR_DIR": str(tmp_path_factory.mktemp("var"))}
    with local_stack(env) as base:
        yield base


def test_local_mode_uses_the_requests_user_id(local_mode_stack, keys):
    for user in ("alice", "bob"):
        r = post(local_mode_stack, RECO, {"user_id": user, "k": 2})
        assert r.status_code == 200
    # a token is ignored, not an error, in local mode
    r = post(local_mode_stack, RECO, {"user_id": "bob", "k": 2}, keys[0].token("alice"))
    assert r.status_code == 200


def test_firebase_mode_protects_chat_and_sessions_over_http(firebase_stack):
    base, key = firebase_stack
    alice, bob = key.token("alice"), key.token("bob")
    turn = {"user_id": "alice", "message": "recommend me something"}
    assert post(base, "/api/v2/chat", turn).status_code == 401
    assert post(base, "/api/v2/chat", turn, bob).status_code == 403
    ok = post(base, "/api/v2/chat", turn, alice)
    assert ok.status_code == 200
    sid = ok.json()["session_id"]

    def get(user: str, token: str | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(
            f"{base}/api/v2/session/{sid}", params={"user_id": user}, headers=headers, timeout=10
        )

    assert get("alice", None).status_code == 401
    assert get("alice", bob).status_code == 403  # bob's token cannot name alice
    assert get("bob", bob).status_code == 404  # nor read alice's session as himself
    assert get("alice", alice).status_code == 200
    gone = requests.delete(
        f"{base}/api/v2/session/{sid}",
        params={"user_id": "alice"},
        headers={"Authorization": f"Bearer {bob}"},
        timeout=10,
    )
    assert gone.status_code == 403 and get("alice", alice).status_code == 200
