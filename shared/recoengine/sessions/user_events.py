"""What a user just did (clicks and accepts from the feedback endpoint), kept in the session
store with the same TTL mechanism as sessions and read at request time, so recommendations
follow the user without retraining.

``UserEvents`` is the one path to those events: the recommend function reads and writes them
through it, and the chat reads them through the same instance (the wiring hands it to both).

A store outage never fails a recommendation or a turn: reads degrade to the model's own history
and writes are dropped with a warning (the feedback is still logged and counted). After a
failure a circuit breaker skips the store for ``BREAKER_SECONDS``, so during an outage requests
do not each wait for the store's timeout (2 s on Firestore) before degrading.

Most users have no events, and reading that costs a query per request (a Firestore round trip
in the cloud). So a read that finds none is remembered for ``NO_EVENTS_SECONDS``, and until
then that user's reads answer "none" without the store. The bound this gives: a click recorded
through this instance is seen by its next read at once (``record`` forgets the user, and a
read that overlapped any write of this instance is not remembered); a click recorded on
another instance is seen here within ``NO_EVENTS_SECONDS``. A user with events is never
remembered, so their reads always go to the store; nor is a read the store failed.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from recoengine.sessions.model import ItemEvent

log = logging.getLogger(__name__)

SIGNAL_EVENTS = ("click", "accept")  # impressions say nothing about taste
BREAKER_SECONDS = 30.0
RECENT_LIMIT = 20
# How long a read that found no events is trusted: the longest a click recorded on another
# instance can go unseen here.
NO_EVENTS_SECONDS = 2.0
# Users remembered at most (then the memory starts over: a few MB, whatever the traffic).
NO_EVENTS_USERS = 100_000

T = TypeVar("T")


class EventStore(Protocol):
    """The part of the ``SessionStore`` that holds users' item events."""

    def recent_item_events(self, user_id: str, limit: int = 20) -> list[ItemEvent]: ...

    def record_item_event(self, user_id: str, item_id: str, event: str) -> None: ...


class Breaker:
    """Opens on a failure; while open, calls are skipped and answer the fallback."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.open_until = 0.0

    def call(self, what: str, action: Callable[[], T], fallback: T) -> T:
        if time.monotonic() < self.open_until:
            return fallback
        try:
            return action()
        except Exception as exc:  # degrade: the model's history still answers
            self.open_until = time.monotonic() + self.seconds
            log.warning("%s failed, skipping the store for %.0f s: %s", what, self.seconds, exc)
            return fallback


class UserEvents:
    """Reads and records a user's item events behind one breaker.

    ``store`` is called on each use (the wiring passes the session store's provider), so a
    store that cannot even be opened counts as an outage too, not as a crash.
    """

    def __init__(
        self,
        store: Callable[[], EventStore],
        breaker_seconds: float = BREAKER_SECONDS,
        *,
        no_events_seconds: float = NO_EVENTS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.breaker = Breaker(breaker_seconds)
        self.no_events_seconds = no_events_seconds
        self._clock = clock
        self._none_until: dict[str, float] = {}  # user -> until when "no events" holds
        self._writes = itertools.count()  # next() is atomic: one number per write
        self._last_write = next(self._writes)

    def known_to_have_none(self, user_id: str) -> bool:
        """Whether a read less than ``no_events_seconds`` ago found no events for the user:
        then ``recent_item_ids`` answers without the store (an async caller need not move it
        off the event loop)."""
        until = self._none_until.get(user_id)
        if until is None:
            return False
        if self._clock() < until:
            return True
        self._none_until.pop(user_id, None)
        return False

    def recent_item_ids(self, user_id: str, limit: int = RECENT_LIMIT) -> list[str]:
        """The user's recent clicked/accepted items, oldest first (empty when the store is
        down, or when a read less than ``no_events_seconds`` ago found none)."""
        if self.known_to_have_none(user_id):
            return []
        writes_before = self._last_write
        events: list[ItemEvent] | None = self.breaker.call(
            "reading user events",
            lambda: self._store().recent_item_events(user_id, limit),
            None,
        )
        if events is None:  # the store failed: that says nothing about the user
            return []
        if not events and self.no_events_seconds > 0:
            self._remember_none(user_id, writes_before)
        return [e.item_id for e in reversed(events) if e.event in SIGNAL_EVENTS]

    def _remember_none(self, user_id: str, writes_before: int) -> None:
        """Trust "no events" for a while, unless a write of this instance may have raced the
        read: checked after the entry is set, since ``record`` may forget the user between a
        check and the set (and a write after the check forgets the entry itself)."""
        if len(self._none_until) >= NO_EVENTS_USERS:
            self._none_until.clear()
        self._none_until[user_id] = self._clock() + self.no_events_seconds
        if self._last_write != writes_before:
            self._none_until.pop(user_id, None)

    def record(self, user_id: str, item_id: str, event: str) -> bool:
        """Remember a click/accept; False when it was not stored (impression, or store down)."""
        if event not in SIGNAL_EVENTS:
            return False

        def write() -> bool:
            self._store().record_item_event(user_id, item_id, event)
            return True

        stored = self.breaker.call(f"storing a {event} event", write, False)
        # After the write: a read that began before it and found nothing is not remembered
        # (the number changed), and one that begins after it finds the event.
        self._last_write = next(self._writes)
        self._none_until.pop(user_id, None)
        return stored
