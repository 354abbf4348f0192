"""What a user just did (clicks and accepts from the feedback endpoint), kept in the session
store with the same TTL mechanism as sessions and read at request time, so recommendations
follow the user without retraining.

``UserEvents`` is the one path to those events: the recommend function reads and writes them
through it, and the chat reads them through the same instance (the wiring hands it to both).

A store outage never fails a recommendation or a turn: reads degrade to the model's own history
and writes are dropped with a warning (the feedback is still logged and counted). After a
failure a circuit breaker skips the store for ``BREAKER_SECONDS``, so during an outage requests
do not each wait for the store's timeout (2 s on Firestore) before degrading.
"""

from __future__ import annotations

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
        self, store: Callable[[], EventStore], breaker_seconds: float = BREAKER_SECONDS
    ) -> None:
        self._store = store
        self.breaker = Breaker(breaker_seconds)

    def recent_item_ids(self, user_id: str, limit: int = RECENT_LIMIT) -> list[str]:
        """The user's recent clicked/accepted items, oldest first (empty when the store is
        down)."""
        no_events: list[ItemEvent] = []
        events = self.breaker.call(
            "reading user events",
            lambda: self._store().recent_item_events(user_id, limit),
            no_events,
        )
        return [e.item_id for e in reversed(events) if e.event in SIGNAL_EVENTS]

    def record(self, user_id: str, item_id: str, event: str) -> bool:
        """Remember a click/accept; False when it was not stored (impression, or store down)."""
        if event not in SIGNAL_EVENTS:
            return False

        def write() -> bool:
            self._store().record_item_event(user_id, item_id, event)
            return True

        return self.breaker.call(f"storing a {event} event", write, False)
