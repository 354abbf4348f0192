"""Users' recent events read only when they may have some (issue 19): a read that found none
is trusted for ``no_events_seconds``, this instance's own clicks are seen at once, and a click
recorded on another instance is seen within ``no_events_seconds``.

Two ``UserEvents`` on one store stand for two instances of the recommend function, on SQLite
and on Google's Firestore emulator; time is a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from recoengine.sessions.firestore_store import FirestoreSessionStore
from recoengine.sessions.model import ItemEvent
from recoengine.sessions.sqlite_store import SqliteSessionStore
from recoengine.sessions.user_events import NO_EVENTS_SECONDS, EventStore, UserEvents

TTL = timedelta(hours=24)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def stores(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[EventStore, EventStore]]:
    """Two store clients on one backend, as two instances hold."""
    if request.param == "sqlite":
        path = tmp_path / "sessions.sqlite3"
        a, b = SqliteSessionStore(path, TTL), SqliteSessionStore(path, TTL)
        yield a, b
        a.close()
        b.close()
    else:
        client = request.getfixturevalue("firestore_client")
        yield FirestoreSessionStore(client, TTL), FirestoreSessionStore(client, TTL)


def instances(stores: tuple[EventStore, EventStore], clock: Clock) -> tuple[UserEvents, UserEvents]:
    first, second = stores
    return UserEvents(lambda: first, clock=clock), UserEvents(lambda: second, clock=clock)


def test_a_click_on_this_instance_is_seen_at_once(stores) -> None:
    here, _ = instances(stores, Clock())
    assert here.recent_item_ids("newcomer") == []  # remembered: no events
    assert here.record("newcomer", "item-7", "click")
    assert here.recent_item_ids("newcomer") == ["item-7"]


def test_a_click_on_another_instance_is_seen_within_the_bound(stores) -> None:
    clock = Clock()
    here, there = instances(stores, clock)
    assert here.recent_item_ids("newcomer") == []
    assert there.record("newcomer", "item-7", "click")
    # Until the bound, this instance answers "none" without reading the store: the click is
    # in the store (the other instance reads it), yet not seen here.
    assert there.recent_item_ids("newcomer") == ["item-7"]
    clock.now += NO_EVENTS_SECONDS - 0.01
    assert here.recent_item_ids("newcomer") == []
    clock.now += 0.01  # the bound: from here on, every read sees it
    assert here.recent_item_ids("newcomer") == ["item-7"]


def test_a_user_with_events_is_read_every_time(stores) -> None:
    here, there = instances(stores, Clock())
    there.record("regular", "item-1", "click")
    assert here.recent_item_ids("regular") == ["item-1"]
    there.record("regular", "item-2", "accept")  # no time passes: only a read can see it
    assert here.recent_item_ids("regular") == ["item-1", "item-2"]


def test_a_failed_read_is_not_taken_for_no_events(stores) -> None:
    first, _ = stores
    up = [False]

    def store() -> EventStore:
        if not up[0]:
            raise ConnectionError("store unreachable")
        return first

    events = UserEvents(store, breaker_seconds=0.0, clock=Clock())
    assert events.recent_item_ids("regular") == []  # degraded, not remembered
    first.record_item_event("regular", "item-3", "click")
    up[0] = True
    assert events.recent_item_ids("regular") == ["item-3"]


class WriteDuringRead:
    """The store with this instance's own click landing while a read is in flight (the read
    saw the store before the click): the interleaving two request threads can produce."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.events: UserEvents | None = None

    def recent_item_events(self, user_id: str, limit: int = 20) -> list[ItemEvent]:
        found = self.store.recent_item_events(user_id, limit)
        if self.events is not None:
            events, self.events = self.events, None
            events.record(user_id, "item-9", "click")
        return found

    def record_item_event(self, user_id: str, item_id: str, event: str) -> None:
        self.store.record_item_event(user_id, item_id, event)


def test_a_read_that_raced_this_instances_click_is_not_remembered(stores) -> None:
    racing = WriteDuringRead(stores[0])
    events = UserEvents(lambda: racing, clock=Clock())
    racing.events = events
    assert events.recent_item_ids("newcomer") == []  # read before the click landed
    assert events.recent_item_ids("newcomer") == ["item-9"]  # no time passed: read again


def test_the_memory_is_off_with_a_zero_window(stores) -> None:
    here, there = stores
    events = UserEvents(lambda: here, no_events_seconds=0.0, clock=Clock())
    assert events.recent_item_ids("newcomer") == []
    UserEvents(lambda: there).record("newcomer", "item-4", "click")
    assert events.recent_item_ids("newcomer") == ["item-4"]


def test_an_async_handler_learns_when_no_read_is_needed(tmp_path) -> None:
    """``recent_events_without_io``: [] while the user is known to have none (no hop to a
    thread for the store), None when only a read can tell."""
    from recoengine.wiring import recommend as wiring

    store = SqliteSessionStore(tmp_path / "sessions.sqlite3", TTL)
    with wiring.user_events.override(UserEvents(lambda: store)) as events:
        assert wiring.recent_events_without_io("newcomer") is None  # never read
        assert wiring.recent_events("newcomer") == []
        assert wiring.recent_events_without_io("newcomer") == []  # known: none
        events.record("newcomer", "item-5", "click")
        assert wiring.recent_events_without_io("newcomer") is None  # has events now
        assert wiring.recent_events("newcomer") == ["item-5"]
        assert wiring.recent_events_without_io("newcomer") is None
    store.close()
