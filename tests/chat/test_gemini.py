"""The Gemini adapter: the real google-genai client against a local fake of Vertex AI."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

import pytest

from recoengine.llm.base import Completion, Prompt, PromptItem, SlotRequest
from recoengine.llm.gemini import GeminiModel
from testkit.fake_vertex import FakeVertex, Scripted, StaticCredentials, tokens_of

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


def test_success_sends_context_and_returns_text(fake, caplog):
    fake.script = [Scripted(text="Try Toy Story (1995).")]
    with caplog.at_level(logging.INFO):
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
    # one user turn: the window as a transcript part, then the message as its own part
    ((content),) = body["contents"]
    transcript, message = (part["text"] for part in content["parts"])
    assert content["role"] == "user" and message == "recommend me a movie"
    assert transcript.endswith("User: hi\nYou: hello!")
    assert "AFC" not in "".join(r.getMessage() for r in caplog.records)  # no tools, no AFC
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


def budget(config: dict) -> int:
    """google-genai 3.6 sends the nested field as ``thinking_budget`` (Vertex AI's JSON
    parser takes the proto field name or its lowerCamel form)."""
    thinking = config["thinkingConfig"]
    return thinking.get("thinkingBudget", thinking.get("thinking_budget"))


def test_the_thinking_budgets_are_sent_as_set(fake):
    fake.script = [Scripted(text="hi"), Scripted(text='{"intent": "chat"}')]
    m = model(fake, reply_thinking=0, understand_thinking=128)
    m.generate(PROMPT)
    m.extract(SlotRequest("hello", ("comedy",)))
    reply, slots = (r["body"]["generationConfig"] for r in fake.requests)
    assert budget(reply) == 0 and budget(slots) == 128
    assert slots["responseMimeType"] == "application/json"
    fake.script = [Scripted(text="hi")]
    model(fake, reply_thinking=None).generate(PROMPT)
    assert "thinkingConfig" not in fake.requests[-1]["body"]["generationConfig"]  # model's own
    fake.script = [Scripted(text="hi")]
    model(fake).generate(PROMPT)  # the default "minimal" on a 2.5 model: no thinking
    assert budget(fake.requests[-1]["body"]["generationConfig"]) == 0
    fake.script = [Scripted(text="hi")]
    m = model(fake)
    m.model = "gemini-3.5-flash"  # a Gemini 3 model takes the level itself
    m.generate(PROMPT)
    thinking = fake.requests[-1]["body"]["generationConfig"]["thinkingConfig"]
    assert thinking.get("thinkingLevel", thinking.get("thinking_level")) == "MINIMAL"


def test_thinking_fields_suit_the_model_family():
    from recoengine.llm.gemini import thinking_fields

    assert thinking_fields("gemini-3.5-flash", "low") == {"thinking_level": "LOW"}
    assert thinking_fields("gemini-3.5-flash", 512) == {"thinking_budget": 512}
    assert thinking_fields("gemini-2.5-flash", "minimal") == {"thinking_budget": 0}
    assert thinking_fields("gemini-2.5-pro", "minimal") == {"thinking_budget": 128}
    assert thinking_fields("gemini-2.5-pro", "high") == {"thinking_budget": -1}
    assert thinking_fields("gemini-2.5-flash", None) is None


def test_the_reused_settings_do_not_leak_between_prompts(fake):
    """The fixed settings are built once; each call still sends its own instruction."""
    m = model(fake)
    fake.script = [Scripted(text="a"), Scripted(text="b")]
    m.generate(PROMPT)
    m.generate(replace(PROMPT, summary="the user likes horror"))
    first, second = (r["body"]["systemInstruction"]["parts"][0]["text"] for r in fake.requests)
    assert "comedies" in first and "horror" in second and "comedies" not in second
    assert fake.requests[0]["body"]["generationConfig"]["temperature"] == 0.7


def test_generate_async_retries_and_counts_tokens(fake):
    fake.script = [Scripted(status=429), Scripted(text="second time lucky")]
    done = asyncio.run(model(fake).generate_async(PROMPT))
    assert (done.text, done.fallback, done.attempts) == ("second time lucky", False, 2)
    assert done.tokens_out == tokens_of("second time lucky") and done.tokens_in > 0
    fake.script = [Scripted(status=500)] * 3
    failed = asyncio.run(model(fake, max_retries=2).generate_async(PROMPT))
    assert failed.fallback and failed.attempts == 3 and "Toy Story (1995)" in failed.text


async def streamed(m: GeminiModel, prompt: Prompt = PROMPT) -> tuple[list[str], Completion]:
    reply = m.stream(prompt)
    chunks = [chunk async for chunk in reply]
    assert reply.completion is not None
    return chunks, reply.completion


def test_stream_retries_only_before_the_first_chunk(fake):
    fake.script = [Scripted(status=503), Scripted(text="x y z", chunks=3)]
    chunks, done = asyncio.run(streamed(model(fake)))
    assert chunks == ["x ", "y ", "z"] and done.text == "x y z"
    assert (done.attempts, done.fallback, done.tokens_out) == (2, False, tokens_of("x y z"))
    fake.script = [Scripted(text="x y z", chunks=3, fail_after=1)]
    chunks, done = asyncio.run(streamed(model(fake)))
    assert chunks[0] == "x " and chunks[1].startswith("\n\n(The language model is unavailable")
    assert done.fallback and done.attempts == 1 and done.text == "".join(chunks)
    assert "ServerError" in (done.error or "")


def test_a_stream_without_text_is_retried_then_falls_back(fake):
    fake.script = [Scripted(text="")] * 2
    chunks, done = asyncio.run(streamed(model(fake, max_retries=1)))
    assert done.fallback and "EmptyReply" in (done.error or "")
    assert chunks == [done.text] and "Toy Story (1995)" in done.text


def test_extract_async_reads_the_slots(fake):
    fake.script = [Scripted(text='{"intent": "recommend", "genres": ["comedy"]}')]
    slots = asyncio.run(model(fake).extract_async(SlotRequest("a comedy", ("comedy",))))
    assert slots == {"intent": "recommend", "genres": ["comedy"]}
    assert fake.requests[-1]["kind"] == "structured"


def test_thinking_settings_from_the_environment():
    from recoengine.config import ConfigError, env_thinking

    assert env_thinking({}, "LLM_REPLY_THINKING", "minimal") == "minimal"
    assert env_thinking({"X": "LOW"}, "X", "minimal") == "low"
    assert env_thinking({"X": "0"}, "X", "minimal") == 0
    assert env_thinking({"X": "-1"}, "X", "minimal") == -1
    assert env_thinking({"X": "default"}, "X", "minimal") is None
    for bad in ("lots", "-2", "99999"):
        with pytest.raises(ConfigError, match="X="):
            env_thinking({"X": bad}, "X", "minimal")
