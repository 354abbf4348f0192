"""The embedded session store: one SQLite file under ``var/`` (the default for ``make run``).

Each thread gets its own connection (WAL mode), and every append is one ``BEGIN IMMEDIATE``
transaction, so concurrent turns from the server's threads, or from several processes on the
same file, serialise in SQLite's write lock and lose nothing. Expired rows are invisible to
reads and are purged by the store itself, at most once a minute, on a write.

Per-user item events are read on every recommendation, and most users have none: a SQLite read
transaction there cost ~60 µs of a request in situ. So reads are cached per user and checked
against an 8-byte token in a small file mapped into memory next to the database, which every
writer of events (any thread, any process using this store on the file) replaces with a random
value right after its commit. A reader that sees the token it cached its rows under knows no
event was committed since (expiry is applied to the cached rows at read time); any other value
means "read again". Checking costs one memory read, no system call.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    new_session,
    schema_of,
    turn_meta,
    utcnow,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  turns INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS messages (
  rid INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  created_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  personality TEXT NOT NULL,
  user_text TEXT NOT NULL,
  reply_text TEXT NOT NULL,
  fallback INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (rid, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS user_events (
  user_id TEXT NOT NULL,
  at REAL NOT NULL,
  item_id TEXT NOT NULL,
  event TEXT NOT NULL,
  expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS user_events_user_at ON user_events (user_id, at);
CREATE TABLE IF NOT EXISTS feedback_claims (
  key TEXT PRIMARY KEY,
  expires_at REAL NOT NULL
) WITHOUT ROWID;
"""
PURGE_INTERVAL_SECONDS = 60.0
EVENTS_CACHE_USERS = 10_000  # cached users per store; the cache is emptied when it is full
_TOKEN_BYTES = 8


class _EventsToken:
    """The shared "events changed" token (see the module docstring).

    In a file next to the database, mapped into memory; for an in-memory database (one per
    connection, so nothing to share) or when the file cannot be mapped, a process-local value.
    """

    def __init__(self, db_path: Path) -> None:
        self._map: mmap.mmap | None = None
        self._local = os.urandom(_TOKEN_BYTES)
        if str(db_path) == ":memory:":
            return
        try:
            fd = os.open(f"{db_path}-events-token", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size < _TOKEN_BYTES:
                    os.ftruncate(fd, _TOKEN_BYTES)
                self._map = mmap.mmap(fd, _TOKEN_BYTES)
            finally:
                os.close(fd)
        except (OSError, ValueError):
            self._map = None  # the process-local token: other processes' writes unseen

    @property
    def shared(self) -> bool:
        """Whether every process on the database sees this token."""
        return self._map is not None

    def read(self) -> bytes:
        return self._local if self._map is None else self._map[:_TOKEN_BYTES]

    def change(self) -> None:
        token = os.urandom(_TOKEN_BYTES)
        if self._map is None:
            self._local = token
        else:
            self._map[:_TOKEN_BYTES] = token

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class SqliteSessionStore:
    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        ttl: timedelta = timedelta(hours=24),
        *,
        events_max: int = 50,
        clock: Clock = utcnow,
    ) -> None:
        self.path = Path(path)
        self.ttl = ttl
        self.events_max = events_max
        self.clock = clock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._last_purge = 0.0
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(_SCHEMA)
        self._migrate()
        # user -> (token read before the query, rows newest first: item, event, at, expires_at)
        self._events: dict[str, tuple[bytes, list[tuple[str, str, float, float]]]] = {}
        # The cache needs the mapped token: without it (an in-memory database, which is one per
        # connection, or an unmappable file) other connections' writes would go unseen.
        self._token = _EventsToken(self.path)
        self._cache_events = self._token.shared
        self._wall_clock = clock is utcnow  # then time.time() is the clock, a datetime cheaper

    def _migrate(self) -> None:
        """Columns added after the first release: a turn's intent and item ids, and the
        session's layout version (rows written before it existed, or by a revision that does
        not know it, get the default 1: ``sessions.model.schema_of``)."""
        conn = self._conn()
        added = {
            "messages": (
                ("intent", "TEXT NOT NULL DEFAULT ''"),
                ("items", "TEXT NOT NULL DEFAULT ''"),
            ),
            "sessions": (("schema_version", "INTEGER NOT NULL DEFAULT 1"),),
        }
        for table, columns in added.items():
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for column, kind in columns:
                if column not in have:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process did
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    # -- connections -----------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        self._events.clear()
        self._token.close()

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    # -- sessions --------------------------------------------------------------------
    def create(self, user_id: str, state: SessionState | None = None) -> Session:
        session = new_session(user_id, state, self.clock(), self.ttl)
        now = session.created_at
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sessions (id, user_id, created_at, updated_at, expires_at, turns,"
                " state, schema_version) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                (
                    session.session_id,
                    user_id,
                    _ts(now),
                    _ts(now),
                    _ts(session.expires_at),
                    json.dumps(session.state.to_dict(), separators=(",", ":")),
                    session.schema,
                ),
            )
            self._maybe_purge(conn)
        return session

    def _row(self, conn: sqlite3.Connection, session_id: str) -> tuple[int, Session] | None:
        row = conn.execute(
            "SELECT rid, user_id, created_at, updated_at, expires_at, turns, state,"
            " schema_version FROM sessions WHERE id = ? AND expires_at > ?",
            (session_id, _ts(self.clock())),
        ).fetchone()
        if row is None:
            return None
        rid, user_id, created, updated, expires, turns, state, schema = row
        session = Session(
            session_id,
            user_id,
            _dt(created),
            _dt(updated),
            _dt(expires),
            turns,
            SessionState.from_dict(json.loads(state)),
            schema=schema_of(schema),
        )
        return rid, session

    def get(self, session_id: str) -> Session | None:
        found = self._row(self._conn(), session_id)
        return None if found is None else found[1]

    def recent_turns(self, session_id: str, limit: int, *, total: int | None = None) -> list[Turn]:
        conn = self._conn()
        now = _ts(self.clock())
        rows = conn.execute(
            "SELECT m.seq, m.user_text, m.reply_text, m.personality, m.created_at,"
            " m.expires_at, m.fallback, m.intent, m.items FROM messages m"
            " JOIN sessions s ON s.rid = m.rid"
            " WHERE s.id = ? AND s.expires_at > ? AND m.expires_at > ?"
            " ORDER BY m.seq DESC LIMIT ?",
            (session_id, now, now, max(0, limit)),
        ).fetchall()
        return [
            Turn(seq, u, a, p, _dt(c), _dt(x), bool(f), i, tuple(r.split("\x1f")) if r else ())
            for seq, u, a, p, c, x, f, i, r in reversed(rows)
        ]

    def append_turn(
        self,
        session_id: str,
        user_text: str,
        reply_text: str,
        personality: str,
        update: StateUpdate | None = None,
        *,
        fallback: bool = False,
        expected: Session | None = None,  # a local write lock is cheap: always transact
        intent: str = "",
        items: Sequence[str] = (),
    ) -> tuple[Session, Turn]:
        new = NewTurn(user_text, reply_text, personality, fallback, *turn_meta(intent, items))
        with self._write() as conn:
            found = self._row(conn, session_id)
            if found is None:
                raise SessionNotFound()
            rid, session = found
            updated, turn = appended(session, new, update, self.clock(), self.ttl)
            when = (_ts(turn.created_at), _ts(turn.expires_at))
            texts = (personality, user_text, reply_text)
            meta = (int(fallback), turn.intent, "\x1f".join(turn.items))
            conn.execute(
                "INSERT INTO messages (rid, seq, created_at, expires_at, personality, user_text,"
                " reply_text, fallback, intent, items) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rid, turn.seq, *when, *texts, *meta),
            )
            conn.execute(
                "UPDATE sessions SET turns = ?, updated_at = ?, expires_at = ?, state = ?,"
                " schema_version = ? WHERE rid = ?",
                (
                    updated.turns,
                    _ts(updated.updated_at),
                    _ts(updated.expires_at),
                    json.dumps(updated.state.to_dict(), separators=(",", ":")),
                    updated.schema,
                    rid,
                ),
            )
            self._maybe_purge(conn)
        return updated, turn

    def delete(self, session_id: str) -> bool:
        with self._write() as conn:
            row = conn.execute("SELECT rid FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM messages WHERE rid = ?", (row[0],))
            conn.execute("DELETE FROM sessions WHERE rid = ?", (row[0],))
        return True

    def count_active(self) -> int:
        row = (
            self._conn()
            .execute("SELECT COUNT(*) FROM sessions WHERE expires_at > ?", (_ts(self.clock()),))
            .fetchone()
        )
        return int(row[0])

    # -- per-user item events --------------------------------------------------------
    def record_item_event(self, user_id: str, item_id: str, event: str) -> None:
        check_event(user_id, item_id, event)
        now = self.clock()
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO user_events (user_id, at, item_id, event, expires_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (user_id, _ts(now), item_id, event, _ts(now + self.ttl)),
                )
                conn.execute(
                    "DELETE FROM user_events WHERE user_id = ? AND rowid NOT IN (SELECT rowid"
                    " FROM user_events WHERE user_id = ? ORDER BY at DESC, rowid DESC LIMIT ?)",
                    (user_id, user_id, self.events_max),
                )
                self._maybe_purge(conn)
        finally:  # after the commit (or a failure that may have committed): readers re-read
            self._token.change()

    def claim_all(self, keys: Sequence[str], expires_at: datetime) -> frozenset[str]:
        with self._write() as conn:  # one transaction: every key or none
            new = frozenset(
                key
                for key in dict.fromkeys(keys)
                if conn.execute(
                    "INSERT OR IGNORE INTO feedback_claims (key, expires_at) VALUES (?, ?)",
                    (key, _ts(expires_at)),
                ).rowcount
                == 1
            )
            self._maybe_purge(conn)
        return new

    def recent_item_events(self, user_id: str, limit: int = 20) -> list[ItemEvent]:
        n = max(0, min(limit, self.events_max))
        now = time.time() if self._wall_clock else _ts(self.clock())
        if not self._cache_events:
            return self._events_from(self._query_events(user_id, now), now, n)
        token = self._token.read()
        cached = self._events.get(user_id)
        if cached is not None and cached[0] == token:
            rows = cached[1]
            # A full cached list that lost rows to expiry may hide older live rows: re-read.
            if len(rows) < self.events_max or sum(1 for r in rows if r[3] > now) >= n:
                return self._events_from(rows, now, n)
        rows = self._query_events(user_id, now)
        if len(self._events) >= EVENTS_CACHE_USERS:
            self._events.clear()
        self._events[user_id] = (token, rows)
        return self._events_from(rows, now, n)

    def _query_events(self, user_id: str, now: float) -> list[tuple[str, str, float, float]]:
        """The user's newest live events (up to ``events_max``), newest first."""
        rows = (
            self._conn()
            .execute(
                "SELECT item_id, event, at, expires_at FROM user_events WHERE user_id = ? AND"
                " expires_at > ? ORDER BY at DESC, rowid DESC LIMIT ?",
                (user_id, now, self.events_max),
            )
            .fetchall()
        )
        return [(item, event, at, expires) for item, event, at, expires in rows]

    @staticmethod
    def _events_from(
        rows: list[tuple[str, str, float, float]], now: float, n: int
    ) -> list[ItemEvent]:
        if not rows:  # most users
            return []
        return [
            ItemEvent(item, event, _dt(at)) for item, event, at, expires in rows if expires > now
        ][:n]

    # -- expiry ----------------------------------------------------------------------
    def purge_expired(self) -> int:
        with self._write() as conn:
            return self._purge(conn)

    def _maybe_purge(self, conn: sqlite3.Connection) -> None:
        if time.monotonic() - self._last_purge >= PURGE_INTERVAL_SECONDS:
            self._purge(conn)

    def _purge(self, conn: sqlite3.Connection) -> int:
        self._last_purge = time.monotonic()
        now = _ts(self.clock())
        removed = conn.execute("DELETE FROM messages WHERE expires_at <= ?", (now,)).rowcount
        removed += conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,)).rowcount
        conn.execute("DELETE FROM user_events WHERE expires_at <= ?", (now,))
        conn.execute("DELETE FROM feedback_claims WHERE expires_at <= ?", (now,))
        return int(removed)
