"""Firestore goes away mid-run (the network to the emulator is cut, then restored).

What must hold, seen over real HTTP on the local stack with the Firestore session store:
chat answers 503 with Retry-After (quickly: the client can retry), recommendations are still
served (the store only adds recent clicks), no session is left half-written (every session's
turn counter equals its stored turns, numbered without gaps), and service resumes afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from testkit.firestore_emulator import PROJECT, FirestoreEmulator
from tests.reliability.faultproxy import FaultProxy
from tests.support.localstack import local_stack

pytestmark = pytest.mark.firestore

CLIENT_TIMEOUT = 10.0  # what a client (or the load balancer) would wait at most
QUICK = 5.0  # an outage answer should come well within this


def post(base: str, path: str, body: dict, timeout: float = CLIENT_TIMEOUT) -> requests.Response:
    return requests.post(
        base + path,
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=timeout,
    )


def timed(fn) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        r = fn()
    except requests.Timeout:
        return {"status": "timeout", "elapsed": time.perf_counter() - started}
    return {
        "status": r.status_code,
        "elapsed": time.perf_counter() - started,
        "headers": r.headers,  # case-insensitive, as header names are
        "body": r.text,
    }


@pytest.fixture(scope="module")
def outage(
    firestore_emulator: FirestoreEmulator, demo_model_dir: Path, tmp_path_factory
) -> Iterator[dict[str, Any]]:
    firestore_emulator.reset()
    host, port = firestore_emulator.host.split(":")
    proxy = FaultProxy(host, int(port)).start()
    env = {
        "MODEL_URI": str(demo_model_dir),
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "SESSION_BACKEND": "firestore",
        "FIRESTORE_EMULATOR_HOST": proxy.address,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "LOG_LEVEL": "WARNING",
    }
    try:
        with local_stack(env) as base:
            first = post(base, "/api/v2/chat", {"user_id": "alice", "message": "recommend a film"})
            assert first.status_code == 200, first.text
            sid = first.json()["session_id"]
            assert post(base, "/api/v2/recommendations", {"user_id": "alice"}).status_code == 200

            proxy.cut()
            calls = {
                "chat_new": lambda: post(base, "/api/v2/chat", {"user_id": "bob", "message": "hi"}),
                "chat_existing": lambda: post(
                    base,
                    "/api/v2/chat",
                    {"user_id": "alice", "message": "something else", "session_id": sid},
                ),
                "history": lambda: requests.get(
                    f"{base}/api/v2/session/{sid}?user_id=alice", timeout=CLIENT_TIMEOUT
                ),
                "recommend": lambda: post(base, "/api/v2/recommendations", {"user_id": "alice"}),
            }
            with ThreadPoolExecutor(len(calls)) as pool:
                futures = {name: pool.submit(timed, fn) for name, fn in calls.items()}
                during = {name: f.result() for name, f in futures.items()}
            proxy.restore()

            deadline = time.monotonic() + 60
            after: requests.Response | None = None
            while time.monotonic() < deadline:
                try:
                    after = post(
                        base,
                        "/api/v2/chat",
                        {"user_id": "alice", "message": "more", "session_id": sid},
                        timeout=20,
                    )
                except requests.Timeout:
                    continue
                if after.status_code == 200:
                    break
                time.sleep(0.5)
            yield {"during": during, "after": after, "sid": sid, "base": base}
    finally:
        proxy.cut()


@pytest.mark.parametrize("call", ["chat_new", "chat_existing", "history"])
def test_chat_answers_503_with_retry_after(outage, call):
    got = outage["during"][call]
    assert got["status"] == 503, got
    assert got["elapsed"] < QUICK
    assert int(got["headers"]["Retry-After"]) > 0
    assert json.loads(got["body"])["error"]["code"] == "unavailable"


def test_recommendations_are_still_served(outage):
    got = outage["during"]["recommend"]
    assert got["status"] == 200, got
    assert got["elapsed"] < QUICK


def test_no_half_written_session(outage, firestore_emulator):
    from google.cloud import firestore

    client = firestore.Client(project=PROJECT)  # straight to the emulator, not the proxy
    try:
        sessions = list(client.collection("sessions").stream())
        assert sessions
        for snap in sessions:
            turns = snap.to_dict()["turns"]
            seqs = sorted(int(m.id[1:]) for m in snap.reference.collection("messages").stream())
            assert seqs == list(range(turns)), (snap.id, turns, seqs)
        orphans = [
            m.reference.path
            for m in client.collection_group("messages").stream()
            if not m.reference.parent.parent.get().exists
        ]
        assert not orphans
    finally:
        client.close()


def test_service_resumes_after_the_outage(outage):
    after = outage["after"]
    assert after is not None and after.status_code == 200
    history = requests.get(
        f"{outage['base']}/api/v2/session/{outage['sid']}?user_id=alice", timeout=10
    )
    assert history.status_code == 200
    assert history.json()["turns"] >= 2
