"""A missing or unreadable model is a 503 that tells the client nothing about the deployment
(issue 18, item 7): no model URI, no bucket, no path, no storage error text (which can name
the service account). The details go to the log, where operators look."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from recoengine.errors import ServiceUnavailable
from recoengine.wiring import common
from recoengine.wiring.provider import reset_all
from testkit.fake_gcs import FakeGCS, serving
from tests.support.localstack import local_stack

URL = "/api/v2/recommendations"
BUCKET = "corp-private-models-7731"
ACCOUNT = "recommend@corp-prod.iam.gserviceaccount.com"
DENIAL = (
    f"{ACCOUNT} does not have storage.objects.get access to the Google Cloud Storage object. "
    "Permission 'storage.objects.get' denied on resource (or it may not exist)."
)
PRIVATE_DIR = "private-models-dir-5512"


class DeniedGCS(FakeGCS):
    """Cloud Storage refusing the service account, with Google's wording."""

    denied = DENIAL


@pytest.fixture(scope="module")
def gcs_url() -> Iterator[str]:
    with serving(DeniedGCS) as url:
        yield url


@pytest.fixture(scope="module")
def denied_stack(gcs_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "MODEL_URI": f"gs://{BUCKET}/models/run-42",
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "STORAGE_EMULATOR_HOST": gcs_url,
        "GOOGLE_CLOUD_PROJECT": "test-project",
        "LOG_LEVEL": "WARNING",
    }
    with local_stack(env) as base:
        yield base


@pytest.fixture(scope="module")
def corrupt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("var")
    model = var / PRIVATE_DIR
    model.mkdir()
    (model / "manifest.json").write_text("{ not json")
    with local_stack({"MODEL_URI": str(model), "VAR_DIR": str(var), "LOG_LEVEL": "WARNING"}) as b:
        yield b


def _assert_generic(response: requests.Response, *secrets: str) -> None:
    assert response.status_code == 503 and response.headers["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"] == common.MODEL_UNAVAILABLE
    for secret in (*secrets, "gs://", "/tmp", "manifest", "storage", "Errno"):
        assert secret not in response.text, f"the client was told {secret!r}"


def test_a_model_storage_refuses_is_a_generic_503(denied_stack: str) -> None:
    for _ in range(2):  # the first load, then the remembered failure
        r = requests.post(denied_stack + URL, json={"user_id": "u1"}, timeout=10)
        _assert_generic(r, BUCKET, ACCOUNT, "run-42", "Permission", "403")
    health = requests.get(denied_stack + "/health/detailed", timeout=10)
    assert health.status_code == 503
    for secret in (BUCKET, ACCOUNT, "gs://"):
        assert secret not in health.text


def test_an_unreadable_model_is_a_generic_503(corrupt_stack: str) -> None:
    r = requests.post(corrupt_stack + URL, json={"user_id": "u1"}, timeout=10)
    _assert_generic(r, PRIVATE_DIR, "Expecting", "JSON")


def test_the_details_go_to_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MODEL_URI", str(tmp_path / PRIVATE_DIR))
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    reset_all()
    try:
        with caplog.at_level(logging.ERROR), pytest.raises(ServiceUnavailable) as info:
            common.recommender()
        assert info.value.message == common.MODEL_UNAVAILABLE
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert PRIVATE_DIR in logged and "ArtifactError" in logged
    finally:
        reset_all()


def test_the_message_is_json_with_a_retry_hint(corrupt_stack: str) -> None:
    r = requests.post(corrupt_stack + URL, data=json.dumps({"user_id": "u2"}), timeout=10)
    assert r.headers["Content-Type"].startswith("application/json")
    assert int(r.headers["Retry-After"]) > 0
