"""What the chat engine asks a language model, and what it gets back.

The engine builds a ``Prompt`` (personality, bounded context, the engine's recommendations);
any ``LanguageModel`` answers it with a ``Completion``. A model never raises for an upstream
failure: it answers with a fallback completion (``fallback=True``), so a turn never fails
because the model is down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    text: str
    model: str
    fallback: bool = False
    error: str | None = None
    attempts: int = 1


@runtime_checkable
class LanguageModel(Protocol):
    name: str

    def generate(self, prompt: Prompt) -> Completion: ...

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
