"""The cloud session store: Firestore documents with a native TTL on ``expires_at``.

Layout (collection names from ``recoengine.storage_schema``)::

    sessions/{session_id}                       owner, times, expires_at, turns, state (bounded)
    sessions/{session_id}/messages/{seq}        one turn: u (user text), a (reply), p, c, expires_at
    user_events/{sha256(user_id)[:40]}          user_id, expires_at, events[<= USER_EVENTS_MAX]

Why it stays small: the session document never holds messages, only bounded state; a turn
document holds two texts capped by the message limit; the event list is capped. Why turn
documents are short: document name and field names count towards stored bytes, so turn fields
have one-letter names and turn ids are ~3 characters (``encode_seq``). Each turn document
carries its own ``expires_at`` because Firestore's TTL does not cascade to subcollections.

Firestore deletes expired documents only eventually (typically within 24 h), so every read
here compares ``expires_at`` with the clock. An append is one atomic commit conditional on
the session document being unchanged since it was read (its update time): the turn number
comes from that read's ``turns`` counter, so concurrent turns are totally ordered and none is
lost; a turn that loses the race rereads and retries.
"""

from __future__ import annotations

import functools
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from recoengine.errors import ServiceUnavailable
from recoengine.sessions.model import (
    Clock,
    ItemEvent,
    NewTurn,
    Session,
    SessionNotFound,
    SessionState,
    StateUpdate,
    Turn,
    appended,
    check_event,
    decode_seq,
    encode_seq,
    new_session,
    schema_of,
    turn_meta,
    user_key,
    utcnow,
)
from recoengine.storage_schema import (
    EXPIRY_FIELD,
    FEEDBACK_CLAIMS,
    SESSION_MESSAGES,
    SESSION_SCHEMA_FIELD,
    SESSIONS,
    USER_EVENTS,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
_OCC_ATTEMPTS = 25  # conditional-commit attempts under contention (about 6 s at most)
_BATCH = 400  # deletes per batch (Firestore allows 500 writes per batch)
_PURGES_QUEUED = 64  # deleted sessions whose turns wait for the background worker


def unavailable_as_503(method: Callable[P, R]) -> Callable[P, R]:
    """Firestore failures (unreachable, deadline exceeded, retries exhausted, no credentials)
    become ``ServiceUnavailable``: the caller answers 503 with Retry-After, never a 500."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError

        try:
            return method(*args, **kwargs)
        except (GoogleAPIError, GoogleAuthError) as exc:
            log.warning("session store unavailable: %s: %s", type(exc).__name__, exc)
            raise ServiceUnavailable("session store unavailable", retry_after=2) from None

    return wrapper


def _conflicts() -> tuple[type[Exception], ...]:
    """What a conditional commit raises when another writer got there first: reread, retry."""
    from google.api_core import exceptions

    return (exceptions.FailedPrecondition, exceptions.AlreadyExists, exceptions.Aborted)


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    raise TypeError(f"expected a timestamp, got {type(value).__name__}")


class FirestoreSessionStore:
    backend = "firestore"

    def __init__(
        self,
        client: Any = None,
        ttl: timedelta = timedelta(hours=24),
        *,
        project: str | None = None,
        database: str = "(default)",
        events_max: int = 50,
        clock: Clock = utcnow,
        timeout: float = 2.0,
        purge: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        if client is None:
            from google.cloud import firestore  # heavy import only when this backend is used

            client = firestore.Client(project=project, database=database)
        self.client = client
        self.ttl = ttl
        self.events_max = events_max
        self.clock = clock
        self.timeout = timeout
        from google.api_core.retry import Retry, if_transient_error

        # Every call is bounded: reads retry transient errors within ``timeout`` seconds in
        # all; writes are not retried here (a lost reply to a conditional commit is settled by
        # rereading, never by blindly sending it again). The client's defaults would wait
        # minutes when Firestore is unreachable; a fast 503 lets the caller retry.
        self._read = {
            "retry": Retry(if_transient_error, 0.05, 0.5, 2.0, timeout=timeout),
            "timeout": timeout,
        }
        self._write = {"retry": None, "timeout": timeout}
        # Runs the deletion of a deleted session's turns off the request (tests pass their own).
        self._purge = purge
        self._purger: ThreadPoolExecutor | None = None
        self._purges = threading.BoundedSemaphore(_PURGES_QUEUED)

    def _submit_purge(self, job: Callable[[], None]) -> None:
        """Queue ``job`` on the one background worker; when ``_PURGES_QUEUED`` jobs wait
        already, drop it (the TTL policy deletes those turns): bounded memory and threads."""
        if self._purge is not None:
            self._purge(job)
            return
        if not self._purges.acquire(blocking=False):
            log.warning("turn purge queue full: a deleted session's turns are left to their TTL")
            return
        if self._purger is None:
            self._purger = ThreadPoolExecutor(1, thread_name_prefix="session-purge")

        def run() -> None:
            try:
                job()
            finally:
                self._purges.release()

        self._purger.submit(run)

    def close(self) -> None:
        if self._purger is not None:
            self._purger.shutdown(wait=True)
            self._purger = None
        self.client.close()

    @unavailable_as_503
    def ping(self) -> None:
        self.client.collection(SESSIONS).document("_ping").get(**self._read)

    # -- helpers ---------------------------------------------------------------------
    def _ref(self, session_id: str) -> Any:
        return self.client.collection(SESSIONS).document(session_id)

    def _session(self, snap: Any, now: datetime) -> Session | None:
        if not snap.exists:
            return None
        data = snap.to_dict() or {}
        expires = _aware(data[EXPIRY_FIELD])
        if expires <= now:
            return None  # expired: invisible even before the TTL policy deletes it
        return Session(
            snap.id,
            str(data["user_id"]),
            _aware(data["created_at"]),
            _aware(data["updated_at"]),
            expires,
            int(data.get("turns", 0)),
            SessionState.from_dict(data.get("state")),
            version=snap.update_time,
            schema=schema_of(data.get(SESSION_SCHEMA_FIELD)),
        )

    def _optimistic(self, attempt: Callable[[], T], what: str) -> T:
        """Run a read-then-conditional-write ``attempt`` until it commits.

        Each attempt reads the document and commits with a precondition (its update time,
        or that it does not exist yet), so a concurrent writer makes the commit fail instead
        of being overwritten; the attempt then rereads and retries with jittered backoff.
        No locks are held between read and write (Firestore's server transactions lock the
        documents they read, and the emulator resolves contending locks slowly).
        """
        delay = 0.005
        for _ in range(_OCC_ATTEMPTS):
            try:
                return attempt()
            except _conflicts():
                log.info("concurrent update of %s, retrying", what)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        raise ServiceUnavailable(f"{what} is busy, try again", retry_after=1)

    # -- sessions --------------------------------------------------------------------
    @unavailable_as_503
    def create(self, user_id: str, state: SessionState | None = None) -> Session:
        session = new_session(user_id, state, self.clock(), self.ttl)
        now = session.created_at
        written = self._ref(session.session_id).create(
            {
                "user_id": user_id,
                "created_at": now,
                "updated_at": now,
                EXPIRY_FIELD: session.expires_at,
                "turns": 0,
                "state": session.state.to_dict(),
                SESSION_SCHEMA_FIELD: session.schema,
            },
            **self._write,
        )
        return replace(session, version=written.update_time)  # enables the one-write append

    @unavailable_as_503
    def get(self, session_id: str) -> Session | None:
        return self._session(self._ref(session_id).get(**self._read), self.clock())

    @unavailable_as_503
    def recent_turns(self, session_id: str, limit: int, *, total: int | None = None) -> list[Turn]:
        if total is None:
            session = self.get(session_id)
            if session is None:
                return []
            total = session.turns
        if limit <= 0 or total <= 0:
            return []
        # The session's turn counter names the last ``limit`` turn documents, so they are
        # point reads in one BatchGet, not a query: constant cost however many sessions exist
        # (the emulator's queries scan). A turn never outlives its session (its expiry is the
        # session's at the time it was written), so each turn's own expiry is the filter.
        now = self.clock()
        messages = self._ref(session_id).collection(SESSION_MESSAGES)
        refs = [messages.document(encode_seq(seq)) for seq in range(max(0, total - limit), total)]
        turns = []
        for snap in self.client.get_all(refs, **self._read):
            if not snap.exists:
                continue
            data = snap.to_dict() or {}
            expires = _aware(data[EXPIRY_FIELD])
            if expires <= now:
                continue
            turns.append(
                Turn(
                    decode_seq(snap.id),
                    str(data.get("u", "")),
                    str(data.get("a", "")),
                    str(data.get("p", "")),
                    _aware(data["c"]),
                    expires,
                    bool(data.get("f", False)),
                    str(data.get("i", "")),
                    tuple(str(i) for i in data.get("r", ())),
                )
            )
        turns.sort(key=lambda t: t.seq)
        return turns

    @unavailable_as_503
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
    ) -> tuple[Session, Turn]:
        ref = self._ref(session_id)
        new = NewTurn(user_text, reply_text, personality, fallback, *turn_meta(intent, items))

        def write(writer: Any, session: Session, precondition: Any) -> tuple[Session, Turn]:
            updated, turn = appended(session, new, update, self.clock(), self.ttl)
            doc: dict[str, Any] = {
                EXPIRY_FIELD: turn.expires_at,
                "c": turn.created_at,
                "u": user_text,
                "a": reply_text,
                "p": personality,
            }
            if fallback:
                doc["f"] = True
            if turn.intent:  # one-letter fields, set only when present: stored bytes per message
                doc["i"] = turn.intent
            if turn.items:
                doc["r"] = list(turn.items)
            writer.create(ref.collection(SESSION_MESSAGES).document(encode_seq(turn.seq)), doc)
            # Only the fields this code owns: a newer revision's other fields stay as they are.
            fields = {
                "turns": updated.turns,
                "updated_at": updated.updated_at,
                EXPIRY_FIELD: updated.expires_at,
                "state": updated.state.to_dict(),
                SESSION_SCHEMA_FIELD: updated.schema,
            }
            writer.update(ref, fields, option=precondition)
            return updated, turn

        seen: list[Session | None] = [
            expected if expected is not None and expected.version is not None else None
        ]

        def attempt() -> tuple[Session, Turn]:
            # The first attempt may use the caller's read (one write in all); a retry rereads.
            session, seen[0] = seen[0], None
            if session is None:
                session = self._session(ref.get(**self._read), self.clock())
                if session is None:
                    raise SessionNotFound()
            batch = self.client.batch()
            option = self.client.write_option(last_update_time=session.version)
            result = write(batch, session, option)
            batch.commit(**self._write)
            return result

        return self._optimistic(attempt, "the session")

    @unavailable_as_503
    def delete(self, session_id: str) -> bool:
        """Delete the session: one write, after which every reader finds it absent (turns are
        read only through their session, so they are unreachable from then on, for the owner
        and everyone else). Its turn documents are deleted afterwards, off the request, by
        ``purge_turns`` on a bounded background worker; whatever that misses (an instance
        stopped, a full queue, a failure) the TTL policy on ``messages`` removes, since every
        turn carries an expiry no later than its session's. Expired but not yet collected
        sessions are deleted too."""
        ref = self._ref(session_id)
        snap = ref.get(**self._read)
        if not snap.exists:
            return False
        turns = int((snap.to_dict() or {}).get("turns", 0))
        ref.delete(**self._read)  # deletes are idempotent: safe to retry
        if turns:
            self._submit_purge(lambda: self.purge_turns(session_id, turns))
        return True

    def purge_turns(self, session_id: str, turns: int) -> None:
        """Delete the turn documents of a deleted session (named by the turn counter, so no
        query is needed), in batches; a failure is logged and left to the TTL policy."""
        try:
            messages = self._ref(session_id).collection(SESSION_MESSAGES)
            for start in range(0, turns, _BATCH):
                batch = self.client.batch()
                for seq in range(start, min(turns, start + _BATCH)):
                    batch.delete(messages.document(encode_seq(seq)))
                batch.commit(**self._read)
        except Exception as exc:  # the TTL policy deletes them later
            log.warning("turns of a deleted session left to their TTL: %s", exc)

    @unavailable_as_503
    def count_active(self) -> int:
        from google.cloud.firestore_v1 import FieldFilter

        query = self.client.collection(SESSIONS).where(
            filter=FieldFilter(EXPIRY_FIELD, ">", self.clock())
        )
        result = query.count(alias="active").get(**self._read)
        return int(result[0][0].value)

    # -- once-only claims (counted feedback) -------------------------------------------
    @unavailable_as_503
    def claim_all(self, keys: Sequence[str], expires_at: datetime) -> frozenset[str]:
        """The absent claim documents are created in one batch: a batch commits atomically,
        and a ``create`` of a document that exists fails it whole, so a concurrent claimer
        makes this attempt reread and claim what is left. The documents carry this call's
        random ``attempt`` id: when a commit fails without saying whether it applied (a
        deadline, a lost connection), rereading them settles it, so a claim that did commit
        is reported as this call's, never left for a retry to find "already recorded"."""
        from google.api_core.exceptions import GoogleAPICallError

        refs = {key: self.client.collection(FEEDBACK_CLAIMS).document(key) for key in keys}
        attempt_id = secrets.token_hex(8)

        def attempt() -> frozenset[str]:
            got = self.client.get_all(list(refs.values()), **self._read)
            snaps = {snap.reference.path: snap for snap in got}
            absent = [key for key, ref in refs.items() if not snaps[ref.path].exists]
            if not absent:
                return frozenset()
            batch = self.client.batch()
            for key in absent:
                batch.create(refs[key], {EXPIRY_FIELD: expires_at, "attempt": attempt_id})
            try:
                batch.commit(**self._write)
            except GoogleAPICallError as exc:
                if isinstance(exc, _conflicts()) or not self._claimed(refs, absent, attempt_id):
                    raise
                log.info("claim commit reported %s but had applied", type(exc).__name__)
            return frozenset(absent)

        return self._optimistic(attempt, "the feedback claims")

    def _claimed(self, refs: dict[str, Any], keys: list[str], attempt_id: str) -> bool:
        """Whether this attempt's batch is stored (all of it or none: batches are atomic)."""
        snaps = self.client.get_all([refs[k] for k in keys], **self._read)
        return all(s.exists and (s.to_dict() or {}).get("attempt") == attempt_id for s in snaps)

    # -- per-user item events --------------------------------------------------------
    def _events_ref(self, user_id: str) -> Any:
        return self.client.collection(USER_EVENTS).document(user_key(user_id))

    @unavailable_as_503
    def record_item_event(self, user_id: str, item_id: str, event: str) -> None:
        check_event(user_id, item_id, event)
        ref = self._events_ref(user_id)

        def attempt() -> None:
            now = self.clock()
            snap = ref.get(**self._read)
            data = (snap.to_dict() or {}) if snap.exists else {}
            events = [e for e in data.get("events", []) if _aware(e["t"]) + self.ttl > now]
            events.append({"i": item_id, "e": event, "t": now})
            doc = {
                "user_id": user_id,
                EXPIRY_FIELD: now + self.ttl,
                "events": events[-self.events_max :],
            }
            if snap.exists:
                option = self.client.write_option(last_update_time=snap.update_time)
                ref.update(doc, option=option, **self._write)
            else:
                ref.create(doc, **self._write)

        self._optimistic(attempt, "the user's events")

    @unavailable_as_503
    def recent_item_events(self, user_id: str, limit: int = 20) -> list[ItemEvent]:
        snap = self._events_ref(user_id).get(**self._read)
        if not snap.exists:
            return []
        data = snap.to_dict() or {}
        now = self.clock()
        if _aware(data[EXPIRY_FIELD]) <= now or data.get("user_id") != user_id:
            return []
        events = [
            ItemEvent(str(e["i"]), str(e["e"]), _aware(e["t"]))
            for e in data.get("events", [])
            if _aware(e["t"]) + self.ttl > now
        ]
        events.reverse()
        return events[: max(0, min(limit, self.events_max))]
