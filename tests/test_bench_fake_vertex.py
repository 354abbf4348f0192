"""What the issue-19 benchmarks measure with: testkit's fake Vertex AI in its own process
(``benchkit.VertexProcess``), counted at its wire, and a server's CPU time found from its port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.benchkit import (
    ASSETS,
    ROOT,
    VertexProcess,
    cpu_seconds,
    credentials_file,
    entry_is_async,
    server_processes,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[VertexProcess]:
    with VertexProcess(0.05, 0.01, 0.05) as process:
        yield process


def test_the_real_client_is_answered_and_counted_by_kind(
    fake: VertexProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google import genai
    from google.genai import types

    # The benchmark's credentials: a token valid for years, no token endpoint called.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials_file(tmp_path)))
    client = genai.Client(
        vertexai=True,
        project="bench-project",
        location="us-central1",
        http_options=types.HttpOptions(base_url=fake.url, timeout=5000),
    )
    fake.reset()
    assert client.models.generate_content(model="gemini-test", contents="hello").text
    streamed = client.models.generate_content_stream(model="gemini-test", contents="hello")
    assert "".join(chunk.text or "" for chunk in streamed)
    config = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_schema={"type": "OBJECT", "properties": {"intent": {"type": "STRING"}}},
    )
    client.models.generate_content(model="gemini-test", contents="a comedy", config=config)
    assert fake.counts() == {"generate": 1, "structured": 1, "stream": 1, "total": 3}
    fake.reset()
    assert fake.counts()["total"] == 0


def test_a_servers_processes_are_found_by_its_port_and_their_cpu_time_read() -> None:
    burn = (
        "import socket, sys\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True)\n"
        "sum(i * i for i in range(3_000_000))\n"
        "print('busy', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        assert proc.stdout.readline().strip() == "busy"
        pids = server_processes(f"http://127.0.0.1:{port}")
        assert proc.pid in pids
        assert cpu_seconds(pids) > 0.01  # the loop above: tens of milliseconds at least
    finally:
        proc.kill()
        proc.wait()


def test_the_server_mode_follows_the_entry_point() -> None:
    assert entry_is_async(ASSETS / "bare_asgi.py", "bare")
    assert not entry_is_async(ASSETS / "bare.py", "bare")
    with pytest.raises(ValueError):
        entry_is_async(ROOT / "tools" / "bench_assets" / "bare.py", "missing")
