"""Recent user events: read oldest first, only clicks/accepts, and a breaker during outages;
the one reader the recommend function and the chat share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recoengine.sessions.model import ItemEvent
from recoengine.sessions.user_events import UserEvents


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


def test_events_are_oldest_first_and_only_signals() -> None:
    events = UserEvents(UpStore)
    assert events.recent_item_ids("u") == ["a", "c"]  # newest-first store order reversed
    assert events.record("u", "x", "impression") is False


def test_an_outage_opens_the_breaker_and_skips_the_store() -> None:
    stores = [DownStore()]
    events = UserEvents(lambda: stores[-1])
    assert events.recent_item_ids("u") == []
    assert events.recent_item_ids("u") == []
    assert events.record("u", "x", "click") is False
    assert stores[0].calls == 1  # the second read and the write never waited on the store
    events.breaker.open_until = 0.0  # the breaker's time is up: the store is tried again
    stores.append(UpStore())
    assert events.recent_item_ids("u") == ["a", "c"] and stores[-1].calls == 1


def test_a_store_that_cannot_be_opened_is_an_outage_too() -> None:
    def unopenable() -> UpStore:
        raise OSError("unable to open database file")

    events = UserEvents(unopenable)
    assert events.recent_item_ids("u") == [] and events.record("u", "x", "accept") is False


def test_recommend_and_chat_share_one_reader(engine_env: None) -> None:
    """The chat's recent items come from the reader the recommend function writes through."""
    from recoengine.wiring import chat, recommend

    events = recommend.user_events()
    assert chat.service().events is events
    assert events.record("shared-user", "item-0003", "click") is True
    assert recommend.recent_events("shared-user") == ["item-0003"]


@pytest.mark.parametrize("enabled", [True, False])
def test_reco_user_events_switches_the_read(engine_env, monkeypatch, enabled) -> None:
    from recoengine import wiring
    from recoengine.wiring import recommend

    monkeypatch.setenv("RECO_USER_EVENTS", "true" if enabled else "false")
    wiring.reset_all()
    recommend.user_events().record("switch-user", "item-0004", "accept")
    assert recommend.recent_events("switch-user") == (["item-0004"] if enabled else [])
