"""Context memory: the recent turns that fit a budget, plus a running summary of older ones.

The model sees a window of the newest turns whose text fits ``budget_chars`` (about four
characters per token) and at most ``max_turns`` turns; every turn that leaves the window is
folded, once, into an extractive summary capped at ``summary_max_chars`` (the newest part is
kept). Pure and deterministic: the same turns always give the same context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

CHARS_PER_TOKEN = 4  # a rough, conservative rule of thumb for budgeting in tokens
_SEPARATOR = " | "


class TurnText(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def user_text(self) -> str: ...

    @property
    def reply_text(self) -> str: ...


@dataclass(frozen=True)
class Context:
    history: tuple[tuple[str, str], ...]  # (user, reply), oldest first
    summary: str
    summarized_through: int
    window_chars: int

    @property
    def approx_tokens(self) -> int:
        return (self.window_chars + len(self.summary)) // CHARS_PER_TOKEN


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def summarize_turn(user_text: str, reply_text: str, limit: int = 120) -> str:
    """One summary line per turn: what the user said and the gist of the reply."""
    return f"user: {clip(user_text, limit)} / reply: {clip(reply_text, limit)}"


def fold(summary: str, lines: Sequence[str], max_chars: int) -> str:
    """Append lines to the summary and keep its newest ``max_chars`` characters."""
    merged = _SEPARATOR.join([s for s in (summary, *lines) if s])
    if len(merged) <= max_chars:
        return merged
    tail = merged[-max_chars:]
    cut = tail.find(_SEPARATOR)
    return "…" + tail[cut + len(_SEPARATOR) :] if 0 <= cut < len(tail) // 2 else "…" + tail[1:]


def build_context(
    turns: Sequence[TurnText],
    summary: str,
    summarized_through: int,
    *,
    budget_chars: int,
    max_turns: int,
    summary_max_chars: int,
) -> Context:
    """``turns`` are the newest stored turns, oldest first (more than the window holds, so a
    turn leaving the window is still seen once and can be summarised)."""
    ordered = sorted(turns, key=lambda t: t.seq)
    window: list[TurnText] = []
    used = 0
    for turn in reversed(ordered):
        size = len(turn.user_text) + len(turn.reply_text)
        if len(window) >= max_turns or (window and used + size > budget_chars):
            break
        window.append(turn)
        used += size
    window.reverse()
    history = tuple((t.user_text, t.reply_text) for t in window)
    if window and used > budget_chars:  # a single huge turn: keep its tail ends
        half = budget_chars // 2
        history = ((clip(window[0].user_text, half), clip(window[0].reply_text, half)),)
        used = sum(len(u) + len(r) for u, r in history)
    first_in_window = window[0].seq if window else (ordered[-1].seq + 1 if ordered else 0)
    to_fold = [t for t in ordered if summarized_through < t.seq < first_in_window]
    if to_fold:
        lines = [summarize_turn(t.user_text, t.reply_text) for t in to_fold]
        summary = fold(summary, lines, summary_max_chars)
        summarized_through = to_fold[-1].seq
    return Context(history, summary, summarized_through, used)
