"""Recent user events: read oldest first, only clicks/accepts, and a breaker during outages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recoengine.serving import user_events
from recoengine.sessions.model import ItemEvent


class DownStore:
    """The session store's event port, failing like a store whose backend is unreachable."""

    def __init__(self) -> None:
        self.calls = 0

    def recent_item_events(self, user_id: str, limit: int = 20) -> list[ItemEvent]:
        self.calls += 1
        raise ConnectionError("store unreachable")

    def record_item_event(self, user_id: str, item_id: str, event: str) -> None:
        self.calls += 1
        raise ConnectionError("store unreachable")


class UpStore(DownStore):
    def recent_item_events(self, user_id: str, limit: int = 20) -> list[ItemEvent]:
        self.calls += 1
        now = datetime.now(UTC)
        return [
            ItemEvent("c", "accept", now),
            ItemEvent("b", "impression", now),
            ItemEvent("a", "click", now),
        ]


@pytest.fixture()
def breaker(monkeypatch: pytest.MonkeyPatch) -> user_events.Breaker:
    fresh = user_events.Breaker(30.0)
    monkeypatch.setattr(user_events, "_breaker", fresh)
    return fresh


def test_events_are_oldest_first_and_only_signals(monkeypatch, breaker) -> None:
    monkeypatch.setattr(user_events, "_store", UpStore)
    assert user_events.recent_item_ids("u") == ["a", "c"]  # newest-first store order reversed
    assert user_events.record_item_event("u", "x", "impression") is False


def test_an_outage_opens_the_breaker_and_skips_the_store(monkeypatch, breaker) -> None:
    store = DownStore()
    monkeypatch.setattr(user_events, "_store", lambda: store)
    assert user_events.recent_item_ids("u") == []
    assert user_events.recent_item_ids("u") == []
    assert user_events.record_item_event("u", "x", "click") is False
    assert store.calls == 1  # the second read and the write never waited on the store
    breaker.open_until = 0.0  # the breaker's time is up: the store is tried again
    up = UpStore()
    monkeypatch.setattr(user_events, "_store", lambda: up)
    assert user_events.recent_item_ids("u") == ["a", "c"] and up.calls == 1
