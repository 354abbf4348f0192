"""A bounded, per-instance cache of the newest turns of recently active sessions.

Consecutive turns of a conversation usually reach the same instance (Cloud Run session
affinity, or one local server), so the turns this instance just wrote are the window the
next turn needs: serving them from memory saves one store round trip per turn. The cache is
only a shortcut, never a source of truth: an entry is used only when the session document,
read on every turn, says it has exactly as many turns as the entry ends with; any turn
written elsewhere makes the entry stale and the store is read. Bounded in entries and in
characters per entry (LRU), so an instance keeps no unbounded per-session state.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

from recoengine.sessions.model import Turn


class TurnCache:
    def __init__(
        self, max_sessions: int = 1024, keep_turns: int = 20, max_chars: int = 64_000
    ) -> None:
        self.max_sessions = max_sessions
        self.keep_turns = keep_turns
        self.max_chars = max_chars
        self._entries: OrderedDict[str, tuple[int, tuple[Turn, ...]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, session_id: str, total: int, now: datetime) -> list[Turn] | None:
        """The newest turns if the cached entry ends at turn ``total``, else None."""
        if self.max_sessions <= 0:
            return None
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None or entry[0] != total:
                self.misses += 1
                return None
            self._entries.move_to_end(session_id)
            self.hits += 1
        return [t for t in entry[1] if t.expires_at > now]

    def appended(self, session_id: str, before: Sequence[Turn], turn: Turn, total: int) -> None:
        """Record the turn just written after ``before`` (the newest turns when the session
        had ``total`` turns). If another turn got in between, the entry is dropped."""
        if self.max_sessions <= 0:
            return
        with self._lock:
            if turn.seq != total:
                self._entries.pop(session_id, None)
                return
            kept = (*before, turn)[-self.keep_turns :]
            if sum(len(t.user_text) + len(t.reply_text) for t in kept) > self.max_chars:
                self._entries.pop(session_id, None)
                return
            self._entries[session_id] = (turn.seq + 1, kept)
            self._entries.move_to_end(session_id)
            while len(self._entries) > self.max_sessions:
                self._entries.popitem(last=False)

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._entries.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._entries)
