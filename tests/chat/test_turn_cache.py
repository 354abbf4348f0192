"""The turn cache is a shortcut only: stale after any turn written elsewhere, and bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recoengine.chat.turn_cache import TurnCache
from recoengine.sessions.model import Turn

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def turn(seq: int, text: str = "x", expires: datetime | None = None) -> Turn:
    return Turn(seq, text, text, "p", NOW, expires or NOW + timedelta(hours=1))


def test_entry_is_used_only_at_the_count_it_ends_with():
    cache = TurnCache()
    cache.appended("s", [turn(0)], turn(1), total=1)
    assert [t.seq for t in cache.get("s", 2, NOW)] == [0, 1]
    assert cache.get("s", 3, NOW) is None  # another instance wrote turn 2


def test_an_interleaved_turn_drops_the_entry():
    cache = TurnCache()
    cache.appended("s", [], turn(0), total=0)
    cache.appended("s", [turn(0)], turn(2), total=1)  # turn 1 came from elsewhere
    assert cache.get("s", 3, NOW) is None and len(cache) == 0


def test_bounded_in_sessions_turns_and_characters():
    cache = TurnCache(max_sessions=2, keep_turns=3, max_chars=100)
    for s in ("a", "b", "c"):
        cache.appended(s, [], turn(0), total=0)
    assert cache.get("a", 1, NOW) is None and len(cache) == 2
    cache.appended("b", [turn(0), turn(1), turn(2)], turn(3), total=3)
    assert [t.seq for t in cache.get("b", 4, NOW)] == [1, 2, 3]
    cache.appended("b", [], turn(4, "y" * 80), total=4)
    assert cache.get("b", 5, NOW) is None  # over the character bound: not cached


def test_expired_turns_are_not_served():
    cache = TurnCache()
    cache.appended("s", [turn(0, expires=NOW)], turn(1), total=1)
    assert [t.seq for t in cache.get("s", 2, NOW)] == [1]


def test_disabled_cache():
    cache = TurnCache(max_sessions=0)
    cache.appended("s", [], turn(0), total=0)
    assert cache.get("s", 1, NOW) is None
