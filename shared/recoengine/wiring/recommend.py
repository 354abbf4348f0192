"""The recommend function's composition root: everything ``functions/recommend/main.py``
calls besides the HTTP layer.

Its dependencies are the shared ones of ``wiring.common`` (the recommender, the users'
recent events, the sign-in check); tests swap them with ``Provider.override``.
"""

from __future__ import annotations

from recoengine.config import settings
from recoengine.wiring.common import (
    authenticate,
    check_user,
    recommender,
    recommender_status,
    user_events,
)

__all__ = [
    "authenticate",
    "check_user",
    "recent_events",
    "recommender",
    "recommender_status",
    "user_events",
]


def recent_events(user_id: str) -> list[str]:
    """What the user just clicked or accepted, read on every request (``RECO_USER_EVENTS``,
    on by default; off when clients send ``context.recent_items`` themselves)."""
    if not settings().recommend.user_events:
        return []
    return user_events().recent_item_ids(user_id)
