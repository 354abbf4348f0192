"""Chat sessions and per-user item events behind one ``SessionStore`` interface.

``get_store()`` picks the backend from configuration (``SESSION_BACKEND=sqlite|firestore``)
once per instance; the Firestore client is imported only when that backend is chosen.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from recoengine.config import settings
from recoengine.sessions.model import (
    ItemEvent,
    RecommendedItem,
    Session,
    SessionNotFound,
    SessionState,
    SessionStore,
    Turn,
    is_session_id,
    new_session_id,
)

__all__ = [
    "ItemEvent",
    "RecommendedItem",
    "Session",
    "SessionNotFound",
    "SessionState",
    "SessionStore",
    "Turn",
    "get_store",
    "is_session_id",
    "new_session_id",
]

_store: SessionStore | None = None
_lock = threading.Lock()


def build_store() -> SessionStore:
    """A new store for the configured backend (tests and benchmarks build their own)."""
    cfg = settings()
    chat = cfg.chat
    ttl = timedelta(hours=chat.session_ttl_hours)
    if chat.session_backend == "firestore":
        from recoengine.sessions.firestore_store import FirestoreSessionStore

        return FirestoreSessionStore(
            ttl=ttl,
            project=cfg.service.project,
            database=chat.firestore_database,
            timeout=chat.firestore_timeout_seconds,
            events_max=chat.user_events_max,
        )
    from recoengine.sessions.sqlite_store import SqliteSessionStore

    return SqliteSessionStore(chat.sqlite_path, ttl, events_max=chat.user_events_max)


def get_store() -> SessionStore:
    """The instance's store, created on first use (lazy: cold start matters)."""
    global _store
    if _store is None:
        with _lock:
            if _store is None:
                _store = build_store()
    return _store
