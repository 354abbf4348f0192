"""What a user just did (clicks and accepts from the feedback endpoint), kept in the session
store with the same TTL mechanism as sessions and read at request time, so recommendations
follow the user without retraining.

A store outage never fails a recommendation: reads degrade to the model's own history and
writes are dropped with a warning (the feedback is still logged and counted). After a failure a
circuit breaker skips the store for ``BREAKER_SECONDS``, so during an outage requests do not
each wait for the store's timeout (2 s on Firestore) before degrading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from recoengine.sessions import get_store as _store  # light: backends load on first use

if TYPE_CHECKING:
    from recoengine.sessions.model import ItemEvent

log = logging.getLogger(__name__)

SIGNAL_EVENTS = ("click", "accept")  # impressions say nothing about taste
BREAKER_SECONDS = 30.0

T = TypeVar("T")


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


_breaker = Breaker(BREAKER_SECONDS)


def recent_item_ids(user_id: str, limit: int = 20) -> list[str]:
    """The user's recent clicked/accepted items, oldest first (empty when the store is down)."""
    no_events: list[ItemEvent] = []
    events = _breaker.call(
        "reading user events", lambda: _store().recent_item_events(user_id, limit), no_events
    )
    if not events:
        return []
    return [e.item_id for e in reversed(events) if e.event in SIGNAL_EVENTS]


def record_item_event(user_id: str, item_id: str, event: str) -> bool:
    """Remember a click/accept; False when it was not stored (impression, or store down)."""
    if event not in SIGNAL_EVENTS:
        return False

    def write() -> bool:
        _store().record_item_event(user_id, item_id, event)
        return True

    return _breaker.call(f"storing a {event} event", write, False)
