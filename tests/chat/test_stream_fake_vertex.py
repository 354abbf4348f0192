"""The fake Vertex AI's streaming endpoint, read by the real google-genai client (sync and aio),
and its request counts by kind (what a benchmark counts model calls with)."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
from google import genai
from google.genai import errors, types

from testkit.fake_vertex import FakeVertex, Scripted, StaticCredentials, Timing, split_text


@pytest.fixture()
def fake():
    with FakeVertex() as server:
        yield server


def client(fake: FakeVertex) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=StaticCredentials(),
        http_options=types.HttpOptions(base_url=fake.url, timeout=5000),
    )


def test_split_text_keeps_every_character():
    text = "one two three four five six seven"
    for parts in (1, 2, 3, 7, 20):
        pieces = split_text(text, parts)
        assert "".join(pieces) == text
        assert len(pieces) == min(parts, 7)


def test_sync_stream_chunks_join_to_the_text_with_usage_last(fake):
    fake.script = [Scripted(text="Try Toy Story and then Heat tonight", chunks=3)]
    c = client(fake)  # held: a dropped Client closes its HTTP client
    chunks = list(c.models.generate_content_stream(model="m", contents="hi"))
    assert [c.text for c in chunks] == split_text("Try Toy Story and then Heat tonight", 3)
    assert all(c.usage_metadata is None for c in chunks[:-1])
    last = chunks[-1].usage_metadata
    assert last is not None and last.candidates_token_count == 9 and last.prompt_token_count
    assert fake.requests[0]["path"].endswith("models/m:streamGenerateContent?alt=sse")


def test_aio_stream_and_mid_stream_failure(fake):
    fake.script = [
        Scripted(text="a b c d", chunks=4),
        Scripted(text="a b c d", chunks=4, fail_after=2, fail_status=500),
    ]
    c = client(fake)
    aio = c.aio

    async def read() -> list[str]:
        out = []
        async for chunk in await aio.models.generate_content_stream(model="m", contents="x"):
            out.append(chunk.text)
        return out

    assert asyncio.run(read()) == ["a ", "b ", "c ", "d"]
    seen: list[str] = []

    async def read_failing() -> None:
        async for chunk in await aio.models.generate_content_stream(model="m", contents="x"):
            seen.append(chunk.text)

    with pytest.raises(errors.ServerError) as failed:
        asyncio.run(read_failing())
    assert failed.value.code == 500
    assert seen == ["a ", "b "]


def test_stream_refused_before_the_first_chunk(fake):
    fake.script = [Scripted(status=429)]
    with pytest.raises(errors.ClientError) as failed:
        c = client(fake)
        list(c.models.generate_content_stream(model="m", contents="x"))
    assert failed.value.code == 429


def test_counts_by_kind_in_process_and_over_http(fake):
    c = client(fake)
    c.models.generate_content(model="m", contents="hello")
    c.models.generate_content(
        model="m",
        contents="slots",
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    list(c.models.generate_content_stream(model="m", contents="stream"))
    list(c.models.generate_content_stream(model="m", contents="stream"))
    want = {"generate": 1, "structured": 1, "stream": 2}
    assert dict(fake.counts) == want
    assert requests.get(f"{fake.url}/counts", timeout=5).json() == want
    requests.delete(f"{fake.url}/counts", timeout=5)
    assert requests.get(f"{fake.url}/counts", timeout=5).json() == dict.fromkeys(want, 0)


def test_many_concurrent_streams_with_timing():
    """40 streams at once, each spread over its timing: all complete (a thread per call)."""
    with FakeVertex(Timing(first_chunk_delay=0.05, stream_seconds=0.2, chunks=4)) as fake:
        fake.responder = lambda body: Scripted(text="one two three four")
        c = client(fake)
        aio = c.aio

        async def one() -> str:
            stream = await aio.models.generate_content_stream(model="m", contents="x")
            return "".join([chunk.text or "" async for chunk in stream])

        async def many() -> list[str]:
            return await asyncio.gather(*(one() for _ in range(40)))

        assert asyncio.run(many()) == ["one two three four"] * 40
        assert fake.counts["stream"] == 40


def test_unknown_path_is_404_json(fake):
    answer = requests.post(f"{fake.url}/v1/nothing", json={}, timeout=5)
    assert answer.status_code == 404
    assert json.loads(answer.text)["error"]["code"] == 404
