"""Context memory: a window within the budget plus a running summary of what left it."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from recoengine.chat.memory import build_context, fold


@dataclass(frozen=True)
class T:
    seq: int
    user_text: str
    reply_text: str


def turns(n: int, size: int = 10) -> list[T]:
    return [T(i, f"u{i}".ljust(size, "."), f"a{i}".ljust(size, ".")) for i in range(n)]


def test_window_keeps_newest_turns_within_budget():
    ctx = build_context(turns(10), "", -1, budget_chars=65, max_turns=50, summary_max_chars=500)
    assert [u[:2] for u, _ in ctx.history] == ["u7", "u8", "u9"]  # 3 turns x 20 chars <= 65
    assert ctx.window_chars == 60
    assert ctx.summarized_through == 6
    assert "u0" in ctx.summary and "u6" in ctx.summary and "u7" not in ctx.summary


def test_window_is_capped_in_turns():
    ctx = build_context(turns(10), "", -1, budget_chars=10_000, max_turns=4, summary_max_chars=500)
    assert len(ctx.history) == 4 and ctx.summarized_through == 5


def test_turns_are_folded_only_once():
    first = build_context(turns(6), "", -1, budget_chars=45, max_turns=50, summary_max_chars=500)
    again = build_context(
        turns(7), first.summary, first.summarized_through,
        budget_chars=45, max_turns=50, summary_max_chars=500,
    )  # fmt: skip
    assert again.summary.count("u3") == 1
    assert again.summary.count("u4") == 1
    assert again.summarized_through == 4


def test_summary_is_bounded_and_keeps_the_newest():
    ctx = build_context(turns(200), "", -1, budget_chars=20, max_turns=1, summary_max_chars=300)
    assert len(ctx.summary) <= 300
    assert "u198" in ctx.summary and "u0." not in ctx.summary


def test_one_huge_turn_is_clipped_to_the_budget():
    big = [T(0, "x" * 5000, "y" * 5000)]
    ctx = build_context(big, "", -1, budget_chars=1000, max_turns=5, summary_max_chars=100)
    assert len(ctx.history) == 1 and ctx.window_chars <= 1000


def test_fold_appends_and_trims():
    assert fold("", ["a", "b"], 100) == "a | b"
    assert len(fold("x" * 90, ["y" * 30], 50)) <= 50


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=0, max_size=40),
    budget=st.integers(200, 2000),
    max_turns=st.integers(1, 12),
    summary_max=st.integers(100, 800),
)
def test_memory_invariants_over_a_conversation(sizes, budget, max_turns, summary_max):
    """Replaying a conversation turn by turn: the window fits the budget and the turn cap,
    it is always the newest turns, and every older turn is folded exactly once."""
    stored: list[T] = []
    summary, through = "", -1
    folded: list[int] = []
    for seq, size in enumerate(sizes):
        ctx = build_context(
            stored[-(max_turns + 8) :], summary, through,
            budget_chars=budget, max_turns=max_turns, summary_max_chars=summary_max,
        )  # fmt: skip
        assert len(ctx.history) <= max_turns
        assert ctx.window_chars <= budget
        assert len(ctx.summary) <= summary_max
        newest = [t.user_text for t in stored[len(stored) - len(ctx.history) :]]
        clipped = len(ctx.history) == 1 and len(newest[0]) * 2 > budget
        assert clipped or [u for u, _ in ctx.history] == newest  # the newest turns, in order
        if stored:
            assert ctx.history  # there is always some context once anything was said
        folded.extend(range(through + 1, ctx.summarized_through + 1))
        summary, through = ctx.summary, ctx.summarized_through
        stored.append(T(seq, "u" * size, "a" * size))
    assert folded == sorted(set(folded))  # no turn folded twice, in order
    final = build_context(
        stored[-(max_turns + 8) :], summary, through,
        budget_chars=budget, max_turns=max_turns, summary_max_chars=summary_max,
    )  # fmt: skip
    folded.extend(range(through + 1, final.summarized_through + 1))
    # every turn is either still in the window or was folded into the summary
    assert folded == list(range(len(stored) - len(final.history)))
