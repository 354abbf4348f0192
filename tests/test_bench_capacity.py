"""The capacity benchmark's slow fake Vertex AI speaks the wire format the real google-genai
client expects and holds each call for its delay, side by side."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.bench_capacity import _credentials_file, slow_vertex_server, verdicts


@pytest.fixture()
def fake_url() -> Iterator[str]:
    server = slow_vertex_server(0.2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_real_client_gets_answers_after_the_delay(
    fake_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google import genai
    from google.genai import types

    # The benchmark's credentials file: a token valid for years, no token endpoint called.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_credentials_file(tmp_path)))
    client = genai.Client(
        vertexai=True,
        project="bench-project",
        location="us-central1",
        http_options=types.HttpOptions(base_url=fake_url, timeout=5000),
    )
    answers: list[float] = []

    def call() -> None:
        started = time.perf_counter()
        reply = client.models.generate_content(model="gemini-test", contents="hello")
        assert reply.text
        answers.append(time.perf_counter() - started)

    call()  # first call: connection set-up
    started = time.perf_counter()
    calls = [threading.Thread(target=call) for _ in range(4)]
    for t in calls:
        t.start()
    for t in calls:
        t.join()
    # Four calls wait side by side (a thread each), each for the whole delay.
    assert time.perf_counter() - started < 0.2 * 2
    assert len(answers) == 5 and min(answers) >= 0.2
    with urllib.request.urlopen(f"{fake_url}/calls") as r:
        assert int(r.read()) == 5


def test_verdicts_read_the_capacity_rows() -> None:
    results = {
        "chat": {
            "sqlite": {
                "capacity": {"turns_per_s": 37.0, "p95_s": 1.2, "fallbacks": 0, "errors": 0}
            },
            "firestore": {"capacity": {"turns_per_s": 29.0}},
        },
        "recommend": {"threads_16": {"ratio": 0.71}},
    }
    assert verdicts(results) == {
        "chat sqlite >= 36 turns/s": True,
        "chat sqlite p95 <= 1.3 s": True,
        "chat sqlite no fallbacks": True,
        "chat firestore >= 30 turns/s": False,
        "recommend / bare >= 0.70": True,
    }
