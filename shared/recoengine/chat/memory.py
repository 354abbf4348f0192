"""Context memory: the recent turns that fit a budget, plus a running summary of all turns.

The model sees a window of the newest turns whose text fits ``budget_chars`` (about four
characters per token) and at most ``max_turns`` turns, plus the summary of the turns before
the window. Every turn is folded into the stored summary *when it is written* (one line per
turn), not when it leaves the window: a turn document expires 24 h after it was written while
an active session lives on, so a turn folded only on leaving the window could expire first
and be lost. The prompt's summary is the stored one minus the window's own lines, capped at
``summary_max_chars`` (the newest part is kept); the stored one also keeps the window's lines
(``stored_summary_chars``). Pure and deterministic: the same turns always give the same context.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

_MARKER = re.compile(r"^\s*\[[^\]\n]{0,80}\]\s*")
SEPARATOR = "\n"  # one line per turn: clipped texts never hold a newline
LINE_TEXT_CHARS = 100  # per text of a summary line


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
    summary: str  # for the prompt: the turns before the window
    summarized_through: int  # the last turn folded into ``stored_summary``
    window_chars: int
    stored_summary: str = ""  # every folded turn, the window's included


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def summarize_turn(
    user_text: str,
    reply_text: str,
    limit: int = LINE_TEXT_CHARS,
    recommended: Sequence[str] = (),
) -> str:
    """One summary line per turn: what the user said and the gist of the reply (the titles
    recommended, when there were any: they say more than the reply's opening words)."""
    if recommended:
        return (
            f"user: {clip(user_text, limit)} / recommended: {clip('; '.join(recommended), limit)}"
        )
    reply = _MARKER.sub("", reply_text, count=1)  # "[offline responder: ...]" says nothing
    return f"user: {clip(user_text, limit)} / reply: {clip(reply, limit)}"


def stored_summary_chars(summary_max_chars: int, max_turns: int) -> int:
    """Room for the prompt's summary plus one line per window turn."""
    return summary_max_chars + max_turns * (2 * LINE_TEXT_CHARS + 20)


def fold(summary: str, lines: Sequence[str], max_chars: int) -> str:
    """Append lines to the summary and keep its newest ``max_chars`` characters."""
    merged = SEPARATOR.join([s for s in (summary, *lines) if s])
    return newest(merged, max_chars)


def newest(summary: str, max_chars: int) -> str:
    if len(summary) <= max_chars:
        return summary
    tail = summary[-max_chars:]
    cut = tail.find(SEPARATOR)
    return "…" + tail[cut + len(SEPARATOR) :] if 0 <= cut < len(tail) // 2 else "…" + tail[1:]


def without_newest(summary: str, lines: int) -> str:
    """The summary without its newest ``lines`` lines (the window's own turns)."""
    if lines <= 0 or not summary:
        return summary
    parts = summary.split(SEPARATOR)
    return SEPARATOR.join(parts[:-lines]) if len(parts) > lines else ""


def build_context(
    turns: Sequence[TurnText],
    summary: str,
    summarized_through: int,
    *,
    budget_chars: int,
    max_turns: int,
    summary_max_chars: int,
) -> Context:
    """``turns`` are the newest stored turns, oldest first; ``summary`` holds every turn up to
    ``summarized_through``. A stored turn not folded yet (written before turns folded
    themselves) is folded now."""
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
    to_fold = [t for t in ordered if t.seq > summarized_through]
    store_max = stored_summary_chars(summary_max_chars, max_turns)
    if to_fold:
        lines = [summarize_turn(t.user_text, t.reply_text) for t in to_fold]
        summary = fold(summary, lines, store_max)
        summarized_through = to_fold[-1].seq
    in_summary = sum(1 for t in window if t.seq <= summarized_through)
    prompt_summary = newest(without_newest(summary, in_summary), summary_max_chars)
    return Context(history, prompt_summary, summarized_through, used, summary)
