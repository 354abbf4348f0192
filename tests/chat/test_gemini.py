"""The Gemini adapter: the real google-genai client against a local fake of Vertex AI."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from recoengine.llm.base import Prompt, PromptItem
from recoengine.llm.gemini import GeminiModel
from testkit.fake_vertex import FakeVertex, Scripted, StaticCredentials

PROMPT = Prompt(
    message="recommend me a movie",
    personality="curator",
    system_instruction="You recommend films.",
    summary="the user likes comedies",
    history=(("hi", "hello!"),),
    intent="recommend",
    recommendations=(PromptItem("1", "Toy Story (1995)"), PromptItem("2", "Heat (1995)")),
)


@pytest.fixture()
def fake():
    with FakeVertex() as server:
        yield server


def model(fake: FakeVertex, **kw) -> GeminiModel:
    kw.setdefault("timeout_seconds", 2.0)
    kw.setdefault("max_retries", 2)
    return GeminiModel(
        project="test-project",
        location="us-central1",
        model="gemini-2.5-flash",
        base_url=fake.url,
        credentials=StaticCredentials(),
        backoff_seconds=0.01,
        **kw,
    )


def test_success_sends_context_and_returns_text(fake):
    fake.script = [Scripted(text="Try Toy Story (1995).")]
    done = model(fake).generate(PROMPT)
    assert done.text == "Try Toy Story (1995)."
    assert done.fallback is False and done.attempts == 1
    (req,) = fake.requests
    assert req["path"].endswith(
        "projects/test-project/locations/us-central1/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    )
    assert req["auth"] == "Bearer test-token"
    body = req["body"]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][-1]["parts"][0]["text"] == "recommend me a movie"
    instruction = body["systemInstruction"]["parts"][0]["text"]
    assert "You recommend films." in instruction
    assert "the user likes comedies" in instruction
    assert "1. Toy Story (1995); 2. Heat (1995)" in instruction


def test_429_then_success_is_retried(fake):
    fake.script = [Scripted(status=429), Scripted(text="second time lucky")]
    done = model(fake).generate(PROMPT)
    assert (done.text, done.fallback, done.attempts) == ("second time lucky", False, 2)
    assert len(fake.requests) == 2


def test_500_exhausting_retries_falls_back_and_logs(fake, caplog):
    fake.script = [Scripted(status=500)] * 5
    m = model(fake, max_retries=2)
    with caplog.at_level(logging.WARNING, logger="recoengine.llm.gemini"):
        done = m.generate(PROMPT)
    assert done.fallback is True
    assert done.attempts == 3 and len(fake.requests) == 3  # 1 try + 2 retries, bounded
    assert "Toy Story (1995)" in done.text  # the fallback still names the real items
    assert "unavailable" in done.text
    assert any(getattr(r, "json_fields", {}).get("fallback") for r in caplog.records)
    assert m.describe()["status"] == "degraded"


def test_client_error_is_not_retried(fake):
    fake.script = [Scripted(status=400)]
    done = model(fake).generate(PROMPT)
    assert done.fallback is True and done.attempts == 1 and len(fake.requests) == 1


def test_timeout_falls_back_within_bounded_time(fake):
    fake.script = [Scripted(delay=1.5)] * 3
    started = time.monotonic()
    done = model(fake, timeout_seconds=0.3, max_retries=1).generate(PROMPT)
    elapsed = time.monotonic() - started
    assert done.fallback is True and done.attempts == 2
    assert "Timeout" in (done.error or "")
    assert elapsed < 1.5  # two 0.3 s attempts, not the server's 1.5 s delay


def test_the_instruction_carries_the_notes_the_language_and_no_empty_promise():
    from recoengine.llm.gemini import build_instruction

    korean = Prompt(
        message="아홉 번째랑 비슷한 거",
        intent="more_like",
        notes=("아홉 번째 작품은 없어요.",),
        language="ko",
    )
    text = build_instruction(korean)
    assert "아홉 번째 작품은 없어요." in text
    assert "어떤 작품도 말하거나 약속하지 마세요" in text  # the prompt is in Korean too
    assert "한국어로 답하세요" in text
    assert "Answer in English" in build_instruction(PROMPT)
    assert "do not name or promise" not in build_instruction(PROMPT)
    english = build_instruction(Prompt(message="more like the ninth one", intent="more_like"))
    assert "do not name or promise any" in english


def test_the_fallback_is_in_the_users_language(fake):
    fake.script = [Scripted(status=400)]
    prompt = replace(PROMPT, message="코미디 추천해줘", language="ko")
    done = model(fake).generate(prompt)
    assert done.fallback is True
    assert done.text.startswith("(지금은 언어 모델을 사용할 수 없어서")
    assert "Toy Story (1995)" in done.text and "이런 작품을 골라 봤어요" in done.text
