"""What a user just did (clicks and accepts from the feedback endpoint), kept in the session
store with the same TTL mechanism as sessions and read at request time, so recommendations
follow the user without retraining.

A store outage never fails a recommendation: reads degrade to the model's own history and
writes are dropped with a warning (the feedback is still logged and counted).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

SIGNAL_EVENTS = ("click", "accept")  # impressions say nothing about taste


def recent_item_ids(user_id: str, limit: int = 20) -> list[str]:
    """The user's recent clicked/accepted items, oldest first (empty when the store is down)."""
    try:
        from recoengine.sessions import get_store

        events = get_store().recent_item_events(user_id, limit)
    except Exception as exc:  # degrade: the model's history still answers
        log.warning("user events unavailable, using the model's history: %s", exc)
        return []
    return [e.item_id for e in reversed(events) if e.event in SIGNAL_EVENTS]


def record_item_event(user_id: str, item_id: str, event: str) -> bool:
    """Remember a click/accept; False when it was not stored (impression, or store down)."""
    if event not in SIGNAL_EVENTS:
        return False
    try:
        from recoengine.sessions import get_store

        get_store().record_item_event(user_id, item_id, event)
    except Exception as exc:
        log.warning("could not store the %s event of %s: %s", event, user_id, exc)
        return False
    return True
