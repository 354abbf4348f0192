"""Chat sessions and per-user item events behind one ``SessionStore`` interface.

Two backends: SQLite (``sqlite_store``, the embedded default) and Firestore
(``firestore_store``, whose client library is imported only by that module).
``recoengine.wiring.common`` picks one from configuration, once per instance.
"""

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
    "is_session_id",
    "new_session_id",
]
