"""Context memory: a window within the budget plus a running summary of what left it."""

from __future__ import annotations

from dataclasses import dataclass

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
