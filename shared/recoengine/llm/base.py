"""What the chat engine asks a language model, and what it gets back.

The engine builds a ``Prompt`` (personality, bounded context, the engine's recommendations);
any ``LanguageModel`` answers it with a ``Completion``, whole (``generate``, and
``generate_async`` for the event loop) or as it is written (``stream``: a ``ReplyStream`` of
text chunks whose ``completion`` is known once it ends). A model never raises for an upstream
failure: it answers with a fallback completion (``fallback=True``) — streamed, the fallback
text is its last chunk — so a turn never fails because the model is down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class PromptItem:
    """A recommended item the reply should name (it comes from the model, never invented)."""

    item_id: str
    title: str


@dataclass(frozen=True)
class Prompt:
    message: str
    personality: str = ""  # a name from chat/personalities.json; "" is the neutral voice
    style: str = ""
    system_instruction: str = ""
    summary: str = ""
    history: tuple[tuple[str, str], ...] = ()  # (user message, reply) of the window, oldest first
    intent: str = "chat"
    recommendations: tuple[PromptItem, ...] = ()
    anchor: str = ""  # the item a "more like ..." request refers to
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. "the engine is unavailable"
    turn: int = 0
    language: str = "en"  # the language the user wrote in; the reply uses it


@dataclass(frozen=True)
class Completion:
    """A whole reply. ``attempts`` counts the calls that reached the model (0 for the offline
    responder); ``tokens_in``/``tokens_out`` are the model's own usage counts, when it said."""

    text: str
    model: str
    fallback: bool = False
    error: str | None = None
    attempts: int = 1
    tokens_in: int = 0
    tokens_out: int = 0


class ReplyStream:
    """A reply as the model writes it: iterate for its text chunks; once they end,
    ``completion`` describes the whole reply, with ``text`` exactly the chunks joined.

    ``source`` yields the chunks, then one ``Completion`` (its text is ignored: the joined
    chunks are the reply, so what a client was streamed and what is saved cannot differ).
    ``aclose`` stops the model call (a client that went away)."""

    def __init__(self, source: AsyncIterator[str | Completion]) -> None:
        self._source = source
        self._parts: list[str] = []
        self.completion: Completion | None = None

    def __aiter__(self) -> ReplyStream:
        return self

    async def __anext__(self) -> str:
        if self.completion is not None:
            raise StopAsyncIteration
        item = await self._source.__anext__()
        if isinstance(item, Completion):
            self.completion = replace(item, text="".join(self._parts))
            raise StopAsyncIteration
        self._parts.append(item)
        return item

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


async def _whole(completion: Completion) -> AsyncIterator[str | Completion]:
    yield completion.text
    yield completion


def whole_reply(completion: Completion) -> ReplyStream:
    """A reply that exists whole already, as a stream of one chunk."""
    return ReplyStream(_whole(completion))


@runtime_checkable
class LanguageModel(Protocol):
    name: str

    def generate(self, prompt: Prompt) -> Completion: ...

    async def generate_async(self, prompt: Prompt) -> Completion: ...

    def stream(self, prompt: Prompt) -> ReplyStream: ...

    def describe(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class SlotRequest:
    """What a model is asked to understand: one message, the catalogue's feature tokens (the
    only genres it may name) and the titles shown last (what "the second one" refers to)."""

    message: str
    vocabulary: tuple[str, ...]
    previous_titles: tuple[str, ...] = ()
    language: str = "en"


@runtime_checkable
class SlotExtractor(Protocol):
    """A model that turns a message into intent and slots (structured output). It raises on
    any failure; the chat then understands the message with the offline parser."""

    name: str

    def extract(self, request: SlotRequest) -> object: ...

    async def extract_async(self, request: SlotRequest) -> object: ...
