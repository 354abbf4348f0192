"""What a session store keeps, and the one interface every backend implements.

A conversation is stored as a small session document (owner, times, the expiry that the TTL
policy acts on, the engine's bounded state) plus one document per *turn* (the user's message
and the reply) in its ``messages`` subcollection. Neither grows with the conversation: the
session document holds only bounded state, and each turn document holds two length-limited
texts, so no document ever comes near Firestore's 1 MiB limit however long the conversation.
This module is pure (standard library only); backends live next to it.

Sessions outlive revisions: during a canary, a session written by the stable revision continues
on the candidate and back. So session documents carry ``SCHEMA_VERSION`` (field
``storage_schema.SESSION_SCHEMA_FIELD``), and a layout change follows these rules:

- a new version only ADDS fields (top level or in ``state``); it never renames or removes one,
  nor changes what one means (that would need a new collection);
- a document without the field was written before it existed: version 1;
- a reader accepts any version: unknown ``state`` keys are kept (``SessionState.extra``) and
  written back unchanged, backends update only the fields they own, and the stored version never
  goes down (``stored_schema``), so an older revision continuing a newer session loses nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from recoengine.errors import InvalidArgument, NotFound

Clock = Callable[[], datetime]

# 16 random bytes = 128 bits from the OS CSPRNG, base64url without padding = 22 characters.
SESSION_ID_BYTES = 16
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")

MAX_TEXT_CHARS = 100_000  # hard cap per stored text, above any configured message limit
MAX_STATE_ITEMS = 200  # items remembered in the session state (shown / last recommended)
MAX_STATE_FEATURES = 20  # feature tokens of the last filter kept for "something else"
MAX_STATE_CHARS = 200_000  # hard cap on the serialised state (documents stay far below 1 MiB)
MAX_ITEM_ID_CHARS = 256
MAX_EVENT_CHARS = 32
MAX_USER_ID_CHARS = 256

# The session document layout this code writes. 1: before the field existed (no field).
# 2: the field itself, and unknown state keys kept across revisions.
SCHEMA_VERSION = 2


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_session_id() -> str:
    """An unguessable id: 128 bits from ``secrets`` (the OS CSPRNG)."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def is_session_id(value: str) -> bool:
    """Ids that cannot have been issued are rejected before any read (they are simply unknown)."""
    return bool(SESSION_ID_PATTERN.match(value))


def encode_seq(seq: int) -> str:
    """A turn number as a short document id whose byte order is the numeric order.

    One hex digit of length, then the decimal digits: 0 -> ``10``, 12 -> ``212``. Short ids keep
    the per-message storage overhead small; the length prefix makes them sort like numbers.
    """
    if seq < 0:
        raise ValueError("turn numbers are non-negative")
    digits = str(seq)
    return f"{len(digits):x}{digits}"


def decode_seq(doc_id: str) -> int:
    return int(doc_id[1:])


def user_key(user_id: str) -> str:
    """A fixed-length document id for a user (user ids may hold characters ids cannot)."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True)
class RecommendedItem:
    item_id: str
    title: str


@dataclass(frozen=True)
class SessionState:
    """The engine's bounded memory of a conversation, stored on the session document."""

    personality: str = ""
    topic: str = ""
    summary: str = ""
    summarized_through: int = -1  # the last turn folded into ``summary``
    last_items: tuple[RecommendedItem, ...] = ()  # the previous answer's recommendations
    shown_items: tuple[str, ...] = ()  # every item shown in this session (bounded, newest last)
    last_features: tuple[str, ...] = ()  # the filter of the previous recommendation ("a comedy")
    last_match: str = "all"  # how that filter combined several features: "all" (AND) or "any"
    # Keys a newer revision stored that this one does not know: written back unchanged.
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "personality": self.personality,
            "topic": self.topic,
            "summary": self.summary,
            "summarized_through": self.summarized_through,
            "last_items": [{"id": i.item_id, "title": i.title} for i in self.last_items],
            "shown_items": list(self.shown_items),
            "last_features": list(self.last_features),
            "last_match": self.last_match,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SessionState:
        data = data or {}
        return cls(
            personality=str(data.get("personality", "")),
            topic=str(data.get("topic", "")),
            summary=str(data.get("summary", "")),
            summarized_through=int(data.get("summarized_through", -1)),
            last_items=tuple(
                RecommendedItem(str(i.get("id", "")), str(i.get("title", "")))
                for i in data.get("last_items", [])
            ),
            shown_items=tuple(str(i) for i in data.get("shown_items", [])),
            last_features=tuple(str(f) for f in data.get("last_features", [])),
            last_match="any" if data.get("last_match") == "any" else "all",
            extra={k: v for k, v in data.items() if k not in _STATE_KEYS},
        )

    def bounded(self) -> SessionState:
        """Trim lists to their caps; reject a state that would make the document large."""
        state = replace(
            self,
            last_items=self.last_items[:MAX_STATE_ITEMS],
            shown_items=self.shown_items[-MAX_STATE_ITEMS:],
            last_features=self.last_features[:MAX_STATE_FEATURES],
        )
        size = len(state.summary) + sum(len(i.item_id) + len(i.title) for i in state.last_items)
        size += sum(len(i) for i in state.shown_items) + sum(map(len, state.last_features))
        if size > MAX_STATE_CHARS:
            raise InvalidArgument("session state is too large")
        return state


# The keys this code owns in a stored state (its fields); any other key is a newer revision's.
_STATE_KEYS = frozenset(f.name for f in fields(SessionState)) - {"extra"}


def schema_of(value: Any) -> int:
    """The layout version of a stored session: its field's value, or 1 when it has none."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def stored_schema(read: int) -> int:
    """The version to store after this code wrote a session read at ``read``: never lower
    than what is stored (a newer revision's fields are still there), at least ours."""
    return max(read, SCHEMA_VERSION)


@dataclass(frozen=True)
class Session:
    session_id: str
    user_id: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    turns: int
    state: SessionState = field(default_factory=SessionState)
    # The backend's change marker of the stored record (Firestore's update time): an append
    # that passes the session it read commits in one write if nothing changed since.
    version: Any = field(default=None, compare=False, repr=False)
    schema: int = field(default=SCHEMA_VERSION, compare=False)  # the stored layout version


@dataclass(frozen=True)
class Turn:
    """One exchange: the user's message and the reply, stored as one document."""

    seq: int
    user_text: str
    reply_text: str
    personality: str
    created_at: datetime
    expires_at: datetime
    fallback: bool = False
    intent: str = ""  # what the chat understood the message as ("recommend", "chat", ...)
    items: tuple[str, ...] = ()  # the item ids the reply recommended, in order


MAX_TURN_ITEMS = 50  # item ids stored with one turn
MAX_INTENT_CHARS = 32


@dataclass(frozen=True)
class NewTurn:
    """What one ``append_turn`` adds: the exchange, and what the chat made of it."""

    user_text: str
    reply_text: str
    personality: str
    fallback: bool = False
    intent: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemEvent:
    item_id: str
    event: str
    at: datetime


class SessionNotFound(NotFound):
    """Unknown, expired, deleted or someone else's: one answer, so ids cannot be probed."""

    def __init__(self) -> None:
        super().__init__("session not found")


StateUpdate = Callable[[SessionState], SessionState]


@runtime_checkable
class SessionStore(Protocol):
    """Sessions, their turns and each user's recent item events.

    Every read treats an expired record as absent (Firestore's TTL deletes it only later).
    ``append_turn`` is atomic: concurrent turns on one session each get their own number and
    none is lost; ``update`` runs on the freshest state inside the transaction. Two hints save
    round trips and never change results: ``recent_turns(total=)`` (the session's turn count,
    when the caller has just read it) and ``append_turn(expected=)`` (the session as read).
    """

    backend: str
    ttl: timedelta

    def create(self, user_id: str, state: SessionState | None = None) -> Session: ...

    def get(self, session_id: str) -> Session | None: ...

    def recent_turns(
        self, session_id: str, limit: int, *, total: int | None = None
    ) -> list[Turn]: ...

    def append_turn(
        self,
        session_id: str,
        user_text: str,
        reply_text: str,
        personality: str,
        update: StateUpdate | None = None,
        *,
        fallback: bool = False,
        expected: Session | None = None,
        intent: str = "",
        items: Sequence[str] = (),
    ) -> tuple[Session, Turn]: ...

    def delete(self, session_id: str) -> bool: ...

    def count_active(self) -> int: ...

    def record_item_event(self, user_id: str, item_id: str, event: str) -> None: ...

    def recent_item_events(self, user_id: str, limit: int = 20) -> list[ItemEvent]: ...

    def claim_all(self, keys: Sequence[str], expires_at: datetime) -> frozenset[str]:
        """Record every key of ``keys`` not recorded yet, until ``expires_at``, in ONE atomic
        write, and return those (counted feedback: each served list, item and event counts
        once, and a list converts once). All or nothing: a failure records none of them, so a
        retry finds them all new again."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def check_texts(user_id: str, *texts: str) -> None:
    if not user_id or len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidArgument(f"user_id must have 1 to {MAX_USER_ID_CHARS} characters")
    for text in texts:
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidArgument(f"text exceeds {MAX_TEXT_CHARS} characters")


def turn_meta(intent: str, items: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """A turn's intent and item ids, checked and bounded (they are stored with the turn)."""
    if len(intent) > MAX_INTENT_CHARS:
        raise InvalidArgument(f"intent exceeds {MAX_INTENT_CHARS} characters")
    kept = tuple(str(i) for i in items)[:MAX_TURN_ITEMS]
    if any(not i or len(i) > MAX_ITEM_ID_CHARS for i in kept):
        raise InvalidArgument(f"item ids must have 1 to {MAX_ITEM_ID_CHARS} characters")
    return intent, kept


def check_event(user_id: str, item_id: str, event: str) -> None:
    check_texts(user_id)
    if not item_id or len(item_id) > MAX_ITEM_ID_CHARS:
        raise InvalidArgument(f"item_id must have 1 to {MAX_ITEM_ID_CHARS} characters")
    if not event or len(event) > MAX_EVENT_CHARS:
        raise InvalidArgument(f"event must have 1 to {MAX_EVENT_CHARS} characters")


def apply_update(state: SessionState, update: StateUpdate | None) -> SessionState:
    return (update(state) if update is not None else state).bounded()


def new_session(user_id: str, state: SessionState | None, now: datetime, ttl: timedelta) -> Session:
    """A session with a fresh unguessable id and no turns, expiring ``ttl`` from ``now``."""
    check_texts(user_id)
    state = apply_update(state or SessionState(), None)
    return Session(new_session_id(), user_id, now, now, now + ttl, 0, state)


def appended(
    session: Session, new: NewTurn, update: StateUpdate | None, now: datetime, ttl: timedelta
) -> tuple[Session, Turn]:
    """The session after one more turn, and that turn: what every store's ``append_turn``
    computes before it writes (the texts checked, the state updated and bounded, the expiry
    pushed back by ``ttl``)."""
    check_texts(session.user_id, new.user_text, new.reply_text, new.personality)
    expires = now + ttl
    state = apply_update(session.state, update)
    texts = (new.user_text, new.reply_text, new.personality)
    turn = Turn(session.turns, *texts, now, expires, new.fallback, new.intent, new.items)
    updated = Session(
        session.session_id,
        session.user_id,
        session.created_at,
        now,
        expires,
        turn.seq + 1,
        state,
        schema=stored_schema(session.schema),
    )
    return updated, turn
