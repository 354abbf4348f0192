"""The embedded responder: deterministic replies from the context and the engine's items.

It is the default for ``make run`` (no Google account needed) and the text behind Gemini's
fallback. It says plainly that it is offline, so nobody mistakes it for a language model, and
it answers in the language the user wrote in (the texts are data: ``replies.json``). It never
promises picks it does not have: the list head appears only with the list, and every note the
engine adds (a dropped word, a filter that ran out, a position past the list) is said first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

from recoengine.llm.base import Completion, Prompt, ReplyStream

REPLIES_FILE = Path(__file__).with_name("replies.json")


@cache
def replies() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(REPLIES_FILE.read_text(encoding="utf-8"))
    return data


def texts(language: str) -> dict[str, Any]:
    table = replies()
    return table.get(language) or table["en"]


OFFLINE_NOTE = str(texts("en")["marker"])


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _by_personality(table: dict[str, str], personality: str) -> str:
    """A personality's own phrase, keyed by its name in ``chat/personalities.json`` (the one
    list of personalities; a test holds the keys to it), else the neutral ``""`` one: a
    personality from a custom ``PERSONALITIES_FILE`` speaks neutrally offline."""
    return table.get(personality) or table.get("", "")


class OfflineResponder:
    name = "offline"

    def describe(self) -> dict[str, object]:
        return {"backend": "offline", "status": "ok"}

    def body(self, prompt: Prompt) -> str:
        """The reply without the offline marker (Gemini's fallback reuses it)."""
        t = texts(prompt.language)
        parts: list[str] = list(prompt.notes)  # what could not be done comes first
        greet = _by_personality(t["greetings"], prompt.personality)
        if prompt.recommendations:
            opener = _by_personality(t["openers"], prompt.personality)
            if prompt.intent == "more_like" and prompt.anchor:
                head = t["more_like"].format(opener=opener, anchor=prompt.anchor)
            elif prompt.intent == "something_else":
                head = t["something_else"].format(opener=opener)
            else:
                head = opener
            titles = [f"{i}. {item.title}" for i, item in enumerate(prompt.recommendations, 1)]
            parts.append(f"{head}: " + "; ".join(titles) + ".")
            parts.append(t["refine"])
        elif prompt.intent in ("recommend", "more_like", "something_else"):
            if not prompt.notes:
                parts.append(t["no_picks"])
        elif prompt.intent == "greeting":
            parts.append(t["greeting"].format(greet=greet))
        elif prompt.intent == "help":
            parts.append(t["help"].format(greet=greet))
        else:
            parts.append(t["chat"].format(greet=greet, quote=_quote(prompt.message)))
        if prompt.history:
            parts.append(t["earlier"].format(quote=_quote(prompt.history[-1][0], 60)))
        elif prompt.summary:
            parts.append(t["so_far"].format(quote=_quote(prompt.summary, 120)))
        return " ".join(parts)

    def generate(self, prompt: Prompt) -> Completion:
        marker = texts(prompt.language)["marker"]
        return Completion(f"{marker} {self.body(prompt)}", self.name, attempts=0)

    async def generate_async(self, prompt: Prompt) -> Completion:
        return self.generate(prompt)  # microseconds of CPU: no thread needed

    def stream(self, prompt: Prompt) -> ReplyStream:
        """The reply in a few chunks, so a client sees the same stream shape as a model's."""
        return ReplyStream(_chunked(self.generate(prompt)))


STREAM_CHUNKS = 4


def chunks_of(text: str, parts: int = STREAM_CHUNKS) -> list[str]:
    """``text`` in at most ``parts`` pieces cut after spaces; joined they are ``text``."""
    words = text.split(" ")
    if parts <= 1 or len(words) <= 1:
        return [text]
    parts = min(parts, len(words))
    size, extra = divmod(len(words), parts)
    pieces: list[str] = []
    start = 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(" ".join(words[start:end]) + (" " if end < len(words) else ""))
        start = end
    return pieces


async def _chunked(completion: Completion) -> AsyncIterator[str | Completion]:
    for piece in chunks_of(completion.text):
        yield piece
    yield completion
