"""Context memory: a window within the budget, every turn folded into the running summary
when it is written, and the prompt's summary covering exactly the turns before the window."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from recoengine.chat.memory import (
    SEPARATOR,
    build_context,
    fold,
    stored_summary_chars,
    summarize_turn,
    without_newest,
)


@dataclass(frozen=True)
class T:
    seq: int
    user_text: str
    reply_text: str


def turns(n: int, size: int = 10) -> list[T]:
    return [T(i, f"u{i}".ljust(size, "."), f"a{i}".ljust(size, ".")) for i in range(n)]


def folded(ts: list[T]) -> tuple[str, int]:
    """The stored summary and counter after each turn folded itself when written."""
    summary = ""
    for t in ts:
        summary = fold(summary, [summarize_turn(t.user_text, t.reply_text)], 100_000)
    return summary, (ts[-1].seq if ts else -1)


def context(ts: list[T], summary: str, through: int, budget: int, max_turns=50, summary_max=500):
    """``build_context`` with the limits by position (most tests vary the budget only)."""
    limits = {"budget_chars": budget, "max_turns": max_turns, "summary_max_chars": summary_max}
    return build_context(ts, summary, through, **limits)


def test_window_keeps_newest_turns_and_the_prompt_summary_the_older_ones():
    summary, through = folded(turns(10))
    ctx = build_context(
        turns(10), summary, through, budget_chars=65, max_turns=50, summary_max_chars=500
    )
    assert [u[:2] for u, _ in ctx.history] == ["u7", "u8", "u9"]  # 3 turns x 20 chars <= 65
    assert ctx.window_chars == 60
    assert "u0" in ctx.summary and "u6" in ctx.summary and "u7" not in ctx.summary
    assert "u9" in ctx.stored_summary  # the store keeps every turn, the window's included
    assert ctx.summarized_through == 9


def test_window_is_capped_in_turns():
    summary, through = folded(turns(10))
    ctx = build_context(
        turns(10), summary, through, budget_chars=10_000, max_turns=4, summary_max_chars=500
    )
    assert len(ctx.history) == 4
    assert ctx.summary.count(SEPARATOR) == 5  # six lines: turns 0..5


def test_turns_not_folded_when_written_are_folded_once_on_the_next_turn():
    """Sessions written before turns folded themselves catch up, each turn once."""
    first = build_context(turns(6), "", -1, budget_chars=45, max_turns=50, summary_max_chars=500)
    assert first.summarized_through == 5 and first.stored_summary.count("u3") == 1
    again = context(turns(7), first.stored_summary, first.summarized_through, budget=45)
    assert again.stored_summary.count("u3") == 1 and again.stored_summary.count("u6") == 1
    assert again.summarized_through == 6


def test_an_expired_turn_survives_in_the_summary():
    """Turn 0's document expired while the session lived on: it is gone from the store, but
    it was folded when written, so the prompt and the history still carry it."""
    summary, through = folded([T(0, "my favourite colour is teal", "noted"), *turns(3)[1:]])
    alive = turns(3)[1:]  # only turns 1 and 2 are still stored
    ctx = context(alive, summary, through, budget=1000, max_turns=12)
    assert len(ctx.history) == 2
    assert "teal" in ctx.summary and "u1" not in ctx.summary


def test_summary_is_bounded_and_keeps_the_newest():
    summary, through = folded(turns(200))
    ctx = build_context(
        turns(200)[-20:], summary, through, budget_chars=20, max_turns=1, summary_max_chars=300
    )
    assert len(ctx.summary) <= 300
    assert "u198" in ctx.summary and "u199" not in ctx.summary and "u0." not in ctx.summary
    assert len(fold(summary, ["x"], stored_summary_chars(300, 1))) <= stored_summary_chars(300, 1)


def test_one_huge_turn_is_clipped_to_the_budget():
    big = [T(0, "x" * 5000, "y" * 5000)]
    ctx = build_context(big, "", -1, budget_chars=1000, max_turns=5, summary_max_chars=100)
    assert len(ctx.history) == 1 and ctx.window_chars <= 1000


def test_fold_appends_lines_and_trims():
    assert fold("", ["a", "b"], 100) == f"a{SEPARATOR}b"
    assert len(fold("x" * 90, ["y" * 30], 50)) <= 50
    assert without_newest(f"a{SEPARATOR}b{SEPARATOR}c", 2) == "a"
    assert without_newest("a", 3) == ""


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=0, max_size=40),
    budget=st.integers(200, 2000),
    max_turns=st.integers(1, 12),
    summary_max=st.integers(100, 800),
)
def test_memory_invariants_over_a_conversation(sizes, budget, max_turns, summary_max):
    """Replaying a conversation turn by turn as the engine does (each turn folded when
    written): the window fits the budget and the turn cap, it is always the newest turns,
    and the prompt's summary never repeats a window turn."""
    stored: list[T] = []
    summary, through = "", -1
    store_max = stored_summary_chars(summary_max, max_turns)
    for seq, size in enumerate(sizes):
        ctx = context(stored[-(max_turns + 8) :], summary, through, budget, max_turns, summary_max)
        assert len(ctx.history) <= max_turns
        assert ctx.window_chars <= budget
        assert len(ctx.summary) <= summary_max
        assert ctx.summarized_through == seq - 1  # every written turn is folded
        newest = [t.user_text for t in stored[len(stored) - len(ctx.history) :]]
        clipped = len(ctx.history) == 1 and len(newest[0]) * 2 > budget
        assert clipped or [u for u, _ in ctx.history] == newest  # the newest turns, in order
        if stored:
            assert ctx.history  # there is always some context once anything was said
        lines = ctx.summary.split(SEPARATOR) if ctx.summary else []
        window_lines = {summarize_turn(u, a) for u, a in ctx.history}
        assert not window_lines & set(lines)
        user, reply = f"{seq}:" + "u" * size, "a" * size
        summary = fold(ctx.stored_summary, [summarize_turn(user, reply)], store_max)
        through = seq
        assert len(summary) <= store_max
        stored.append(T(seq, user, reply))


def test_a_summary_line_says_what_was_recommended_not_the_offline_marker():
    line = summarize_turn("a comedy", "[offline responder: x] Here is...", recommended=["A", "B"])
    assert line == "user: a comedy / recommended: A; B"
    assert summarize_turn("hi", "[offline responder: x] Hello!") == "user: hi / reply: Hello!"
