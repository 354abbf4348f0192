"""One contract for every session-store backend: SQLite and Firestore (Google's emulator)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from recoengine.errors import ServiceUnavailable
from recoengine.sessions import SessionNotFound, SessionState, is_session_id
from recoengine.sessions.firestore_store import FirestoreSessionStore
from recoengine.sessions.model import SCHEMA_VERSION, RecommendedItem, decode_seq, encode_seq
from recoengine.sessions.sizing import document_size
from recoengine.sessions.sqlite_store import SqliteSessionStore
from recoengine.storage_schema import (
    EXPIRY_FIELD,
    SESSION_MESSAGES,
    SESSION_SCHEMA_FIELD,
    SESSIONS,
)
from tests.support.clock import Clock

TTL = timedelta(hours=24)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def store(request, tmp_path, clock):
    if request.param == "sqlite":
        s = SqliteSessionStore(tmp_path / "s.sqlite3", TTL, events_max=5, clock=clock)
        yield s
        s.close()
    else:
        client = request.getfixturevalue("firestore_client")
        yield FirestoreSessionStore(client, TTL, events_max=5, clock=clock)


def test_session_ids_are_unguessable_and_distinct(store):
    ids = {store.create("u1").session_id for _ in range(20)}
    assert len(ids) == 20
    assert all(is_session_id(i) and len(i) == 22 for i in ids)  # 22 base64url chars = 132 bits


def test_create_then_get_round_trips(store, clock):
    state = SessionState(personality="curator", summary="hello")
    created = store.create("alice", state)
    got = store.get(created.session_id)
    assert got is not None
    assert got.user_id == "alice"
    assert got.turns == 0
    assert got.state.personality == "curator"
    assert got.state.summary == "hello"
    assert got.expires_at == clock.now + TTL
    assert store.get("A" * 22) is None


def test_turns_are_numbered_and_read_back_in_order(store):
    sid = store.create("alice").session_id
    for i in range(5):
        _, turn = store.append_turn(sid, f"q{i}", f"a{i}", "guide")
        assert turn.seq == i
    turns = store.recent_turns(sid, 3)
    assert [t.seq for t in turns] == [2, 3, 4]
    assert [(t.user_text, t.reply_text) for t in turns] == [
        ("q2", "a2"),
        ("q3", "a3"),
        ("q4", "a4"),
    ]
    assert store.get(sid).turns == 5
    assert [t.seq for t in store.recent_turns(sid, 100)] == [0, 1, 2, 3, 4]


def test_turn_numbers_past_nine_keep_numeric_order():
    encoded = [encode_seq(n) for n in (0, 9, 10, 99, 100, 12345)]
    assert encoded == sorted(encoded)
    assert [decode_seq(e) for e in encoded] == [0, 9, 10, 99, 100, 12345]


def test_state_update_runs_on_stored_state(store):
    sid = store.create("alice").session_id
    items = (RecommendedItem("i1", "One"), RecommendedItem("i2", "Two"))
    store.append_turn(sid, "q", "a", "curator", lambda s: replace(s, last_items=items, topic="t"))
    session, _ = store.append_turn(
        sid, "q", "a", "curator", lambda s: replace(s, shown_items=(*s.shown_items, "x"))
    )
    again = store.get(sid)
    assert again.state.last_items == items
    assert again.state.topic == "t"
    assert again.state.shown_items == ("x",)
    assert session.state == again.state


def test_unicode_and_fallback_flag_survive(store):
    sid = store.create("ünï").session_id
    store.append_turn(sid, "héllo 👋", "ça va ✓", "companion", fallback=True)
    (turn,) = store.recent_turns(sid, 10)
    assert (turn.user_text, turn.reply_text, turn.fallback) == ("héllo 👋", "ça va ✓", True)


def test_expired_sessions_are_invisible_and_expiry_slides(store, clock):
    sid = store.create("alice").session_id
    clock.advance(hours=20)
    store.append_turn(sid, "q", "a", "guide")  # activity slides the expiry to now + 24 h
    clock.advance(hours=10)
    assert store.get(sid) is not None
    assert store.count_active() == 1
    clock.advance(hours=15)  # 25 h after the last activity
    assert store.get(sid) is None
    assert store.recent_turns(sid, 10) == []
    assert store.count_active() == 0
    with pytest.raises(SessionNotFound):
        store.append_turn(sid, "q", "a", "guide")


def test_count_active_counts_only_live_sessions(store, clock):
    store.create("a")
    clock.advance(hours=23)
    store.create("b")
    store.create("c")
    assert store.count_active() == 3
    clock.advance(hours=2)
    assert store.count_active() == 2


def test_delete_removes_session_and_turns(store):
    sid = store.create("alice").session_id
    store.append_turn(sid, "q", "a", "guide")
    assert store.delete(sid) is True
    assert store.get(sid) is None
    assert store.recent_turns(sid, 10) == []
    assert store.delete(sid) is False


def test_item_events_newest_first_bounded_and_expiring(store, clock):
    for i in range(7):
        store.record_item_event("alice", f"item{i}", "click")
        clock.advance(seconds=1)
    store.record_item_event("bob", "other", "accept")
    events = store.recent_item_events("alice", 10)
    assert [e.item_id for e in events] == ["item6", "item5", "item4", "item3", "item2"]  # max 5
    assert [e.item_id for e in store.recent_item_events("alice", 2)] == ["item6", "item5"]
    assert [(e.item_id, e.event) for e in store.recent_item_events("bob")] == [("other", "accept")]
    clock.advance(hours=25)
    assert store.recent_item_events("alice") == []


def test_concurrent_turns_lose_nothing_and_are_totally_ordered(store):
    """Writers append at once; every turn lands with its own number, each writer's in order,
    and the state counter that every update bumps equals the number of turns."""
    sid = store.create("alice").session_id
    writers, per_writer = (4, 5) if store.backend == "firestore" else (6, 10)
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def bump(state: SessionState) -> SessionState:
        return replace(state, summarized_through=state.summarized_through + 1)

    def write(w: int) -> None:
        try:
            start.wait()
            for i in range(per_writer):
                store.append_turn(sid, f"w{w}-{i}", "r", "guide", bump)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    total = writers * per_writer
    turns = store.recent_turns(sid, total + 5)
    assert [t.seq for t in turns] == list(range(total))
    assert sorted(t.user_text for t in turns) == sorted(
        f"w{w}-{i}" for w in range(writers) for i in range(per_writer)
    )
    for w in range(writers):
        mine = [int(t.user_text.split("-")[1]) for t in turns if t.user_text.startswith(f"w{w}-")]
        assert mine == list(range(per_writer))
    session = store.get(sid)
    assert session.turns == total
    assert session.state.summarized_through == total - 1


@pytest.mark.firestore
def test_firestore_message_bytes_stay_within_text_plus_120(firestore_client):
    store = FirestoreSessionStore(firestore_client, TTL)
    sid = store.create("alice").session_id
    for user_text, reply in [("hi", "hello there"), ("x" * 500, "y" * 2000), ("é" * 30, "")]:
        _, turn = store.append_turn(sid, user_text, reply, "companion")
        snap = (
            firestore_client.collection(SESSIONS)
            .document(sid)
            .collection(SESSION_MESSAGES)
            .document(encode_seq(turn.seq))
            .get()
        )
        data = snap.to_dict()
        assert set(data) == {EXPIRY_FIELD, "c", "u", "a", "p"}
        size = document_size((SESSIONS, sid, SESSION_MESSAGES, snap.id), data)
        text_bytes = len(user_text.encode()) + len(reply.encode())
        assert size <= text_bytes + 2 * 120  # one document holds two messages


@pytest.mark.firestore
def test_firestore_reads_ignore_expired_documents_the_emulator_keeps(firestore_client, clock):
    store = FirestoreSessionStore(firestore_client, TTL, clock=clock)
    sid = store.create("alice").session_id
    store.append_turn(sid, "q", "a", "guide")
    clock.advance(hours=25)
    assert firestore_client.collection(SESSIONS).document(sid).get().exists  # not deleted
    assert store.get(sid) is None
    assert store.recent_turns(sid, 5) == []


def test_sqlite_purges_expired_rows(tmp_path, clock):
    store = SqliteSessionStore(tmp_path / "p.sqlite3", TTL, clock=clock)
    sid = store.create("alice").session_id
    store.append_turn(sid, "q", "a", "guide")
    keep = store.create("bob").session_id
    clock.advance(hours=25)
    store.create("carol")
    assert store.purge_expired() == 3  # two sessions and one turn
    assert store.get(keep) is None
    assert store.count_active() == 1
    store.close()


def test_append_with_a_stale_read_still_numbers_turns_correctly(store):
    """The optimistic one-write path must notice a concurrent turn and fall back."""
    sid = store.create("alice").session_id
    seen = store.get(sid)
    store.append_turn(sid, "first", "a", "guide", expected=seen)  # fresh: fast path
    store.append_turn(sid, "second", "a", "guide", expected=seen)  # stale: must not clobber
    fresh = store.get(sid)
    store.append_turn(sid, "third", "a", "guide", expected=fresh)
    turns = store.recent_turns(sid, 10, total=store.get(sid).turns)
    assert [(t.seq, t.user_text) for t in turns] == [(0, "first"), (1, "second"), (2, "third")]
    assert store.get(sid).turns == 3


@pytest.mark.firestore
def test_firestore_delete_is_one_write_and_the_turns_follow_off_the_request(firestore_client):
    """The request deletes the session only: absent for every reader at once. Its turns are
    deleted by a background job (held back here to look in between); until then they are
    unreachable (turns are read through their session) and each carries an expiry no later
    than the session's, so the TTL policy removes them even if the job never runs."""
    jobs: list = []
    store = FirestoreSessionStore(firestore_client, TTL, purge=jobs.append)
    sid = store.create("alice").session_id
    for i in range(3):
        session, _ = store.append_turn(sid, f"q{i}", "a", "guide")
    assert store.delete(sid) is True
    ref = firestore_client.collection(SESSIONS).document(sid)
    assert not ref.get().exists
    assert store.get(sid) is None and store.recent_turns(sid, 10) == []
    assert store.delete(sid) is False
    left = list(ref.collection(SESSION_MESSAGES).stream())
    assert len(left) == 3 and len(jobs) == 1
    assert all(d.to_dict()[EXPIRY_FIELD] <= session.expires_at for d in left)
    jobs[0]()
    assert list(ref.collection(SESSION_MESSAGES).stream()) == []


@pytest.mark.firestore
def test_firestore_background_purge_deletes_every_turn_document(firestore_client):
    store = FirestoreSessionStore(firestore_client, TTL)
    sid = store.create("alice").session_id
    for i in range(3):
        store.append_turn(sid, f"q{i}", "a", "guide")
    assert store.delete(sid) is True
    store.close()  # waits for the background worker
    ref = firestore_client.collection(SESSIONS).document(sid)
    assert list(ref.collection(SESSION_MESSAGES).stream()) == []


@pytest.mark.firestore
def test_firestore_turn_purge_failure_is_left_to_the_ttl(firestore_client, caplog):
    jobs: list = []
    store = FirestoreSessionStore(firestore_client, TTL, purge=jobs.append)
    sid = store.create("alice").session_id
    store.append_turn(sid, "q", "a", "guide")
    store.delete(sid)
    store.client = None  # the store is gone when the job runs
    jobs[0]()  # logs, never raises
    assert "left to their TTL" in caplog.text


def test_concurrent_item_events_are_all_kept(store):
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            start.wait()
            for i in range(2):
                store.record_item_event("zoe", f"w{w}-{i}", "click")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    items = {e.item_id for e in store.recent_item_events("zoe", 10)}
    assert items == {"w0-0", "w0-1", "w1-0", "w1-1"}


@pytest.mark.firestore
def test_unreachable_firestore_fails_fast_as_503(firestore_emulator, monkeypatch):
    """With Firestore gone, every call gives up within its timeout as ServiceUnavailable
    (503 + Retry-After upstream) instead of waiting out the client's multi-minute defaults."""
    import time

    from google.cloud import firestore

    from recoengine.errors import ServiceUnavailable
    from testkit.firestore_emulator import PROJECT, free_port

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nobody there
    client = firestore.Client(project=PROJECT)
    store = FirestoreSessionStore(client, TTL, timeout=0.5)
    calls = [
        lambda: store.get("A" * 22),
        lambda: store.create("alice"),
        lambda: store.append_turn("A" * 22, "q", "a", "guide"),
        lambda: store.recent_turns("A" * 22, 5, total=3),
        lambda: store.count_active(),
        lambda: store.record_item_event("alice", "i1", "click"),
        lambda: store.recent_item_events("alice"),
        lambda: store.delete("A" * 22),
        store.ping,
    ]
    try:
        for call in calls:
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable) as info:
                call()
            assert time.monotonic() - started < 3.0
            assert info.value.status == 503 and "Retry-After" in info.value.headers
    finally:
        client.close()


def test_a_claim_succeeds_once_per_key_even_under_concurrency(store, clock):
    import threading
    from datetime import timedelta

    until = clock() + timedelta(hours=1)
    assert store.claim_all(["list-a/item-1/click"], until) == {"list-a/item-1/click"}
    assert store.claim_all(["list-a/item-1/click"], until) == frozenset()
    assert store.claim_all(["list-a/item-1/accept"], until) == {"list-a/item-1/accept"}
    results: list[frozenset[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.claim_all(["race"], until)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(len, results)) == [0] * 7 + [1]


def test_claim_all_claims_what_is_new_in_one_write(store, clock):
    """An item's claim and its list's claim: the second item of a list finds the list claimed;
    a race of several items of one list gives the list to exactly one of them."""
    until = clock() + timedelta(hours=1)
    assert store.claim_all(["i1", "list"], until) == {"i1", "list"}
    assert store.claim_all(["i2", "list"], until) == {"i2"}
    assert store.claim_all(["i1", "list"], until) == frozenset()
    assert store.claim_all(["i3", "i3"], until) == {"i3"}
    results: list[frozenset[str]] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(store.claim_all([f"r{n}", "L"], until)))
        for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum("L" in r for r in results) == 1
    assert all(len(r - {"L"}) == 1 for r in results)  # every item claimed by its own call


def test_firestore_claim_whose_commit_reply_is_lost_is_settled_by_rereading(
    firestore_client, clock, monkeypatch
):
    """The commit applies but the caller sees a deadline error (the reply was lost): the
    store rereads its documents, finds its own attempt and reports the keys as claimed, so
    the client's retry is not refused as already recorded with nothing counted."""
    from google.api_core.exceptions import DeadlineExceeded
    from google.cloud.firestore_v1.batch import WriteBatch

    store = FirestoreSessionStore(firestore_client, TTL, clock=clock)
    commit = WriteBatch.commit

    def commit_then_lose_the_reply(self, *args, **kwargs):
        commit(self, *args, **kwargs)
        raise DeadlineExceeded("reply lost")

    until = clock() + timedelta(hours=1)
    monkeypatch.setattr(WriteBatch, "commit", commit_then_lose_the_reply)
    assert store.claim_all(["lost-1", "lost-list"], until) == {"lost-1", "lost-list"}

    def commit_fails(self, *args, **kwargs):
        raise DeadlineExceeded("not applied")

    monkeypatch.setattr(WriteBatch, "commit", commit_fails)
    with pytest.raises(ServiceUnavailable):
        store.claim_all(["lost-2", "lost-list"], until)
    monkeypatch.setattr(WriteBatch, "commit", commit)
    assert store.claim_all(["lost-2", "lost-list"], until) == {"lost-2"}  # nothing left behind


# -- sessions across revisions: the layout version -------------------------------------------
# A canary serves one user's session from the stable revision and the candidate in turn. The
# "older revision" writes documents without the version field (what this code wrote before it
# existed); the "newer revision" writes a higher version with fields this code does not know.
# Both are played here by raw writes to the backend, exactly as those revisions would store them.
V1_STATE = {
    "personality": "curator",
    "topic": "films",
    "summary": "likes comedies",
    "summarized_through": 2,
    "last_items": [{"id": "item-1", "title": "One"}],
    "shown_items": ["item-1"],
    "last_features": ["comedy"],
    "last_match": "all",
}


def _raw_put(store, sid: str, doc: dict) -> None:
    """Store ``doc`` (Firestore field names) as that revision would, replacing the session."""
    if store.backend == "firestore":
        store.client.collection(SESSIONS).document(sid).set(doc)
        return
    import json
    import sqlite3

    with sqlite3.connect(store.path) as conn:
        have = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
        row = {k: v for k, v in doc.items() if k != EXPIRY_FIELD}
        row["expires_at"] = doc[EXPIRY_FIELD]
        for name in set(row) - have:  # a newer revision's column
            conn.execute(f"ALTER TABLE sessions ADD COLUMN {name}")
        row = {
            k: v.timestamp() if hasattr(v, "timestamp") else json.dumps(v) if k == "state" else v
            for k, v in row.items()
        }
        conn.execute("DELETE FROM sessions WHERE id = ?", (sid,))
        names = ", ".join(["id", *row])
        marks = ", ".join("?" * (len(row) + 1))
        conn.execute(f"INSERT INTO sessions ({names}) VALUES ({marks})", (sid, *row.values()))


def _raw_update(store, sid: str, fields: dict) -> None:
    """Update some fields only, as a revision's append does."""
    if store.backend == "firestore":
        store.client.collection(SESSIONS).document(sid).update(fields)
        return
    import json
    import sqlite3

    values = {k: json.dumps(v) if k == "state" else v for k, v in fields.items()}
    with sqlite3.connect(store.path) as conn:
        sets = ", ".join(f"{k} = ?" for k in values)
        conn.execute(f"UPDATE sessions SET {sets} WHERE id = ?", (*values.values(), sid))


def _raw_get(store, sid: str) -> dict:
    if store.backend == "firestore":
        return store.client.collection(SESSIONS).document(sid).get().to_dict()
    import json
    import sqlite3

    with sqlite3.connect(store.path) as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM sessions WHERE id = ?", (sid,)).fetchone())
    row["state"] = json.loads(row["state"])
    return row


def _doc(clock, **extra) -> dict:
    now = clock()
    return {
        "user_id": "alice",
        "created_at": now,
        "updated_at": now,
        EXPIRY_FIELD: now + TTL,
        "turns": 0,
        "state": dict(V1_STATE),
        **extra,
    }


def test_new_sessions_carry_the_layout_version(store):
    sid = store.create("alice").session_id
    assert _raw_get(store, sid)[SESSION_SCHEMA_FIELD] == SCHEMA_VERSION
    assert store.get(sid).schema == SCHEMA_VERSION


def test_a_session_of_an_older_revision_continues_here_and_back(store, clock):
    """Stable (no version field) -> this revision -> stable again -> this revision."""
    sid = "OlderRevisionSession01"
    _raw_put(store, sid, _doc(clock))
    if store.backend == "sqlite":  # the row has the column's default: what the old code left
        assert _raw_get(store, sid)[SESSION_SCHEMA_FIELD] == 1
    read = store.get(sid)
    assert read.schema == 1 and read.state.to_dict() == V1_STATE
    updated, _ = store.append_turn(
        sid, "q", "a", "curator", lambda s: replace(s, topic="books"), expected=read
    )
    raw = _raw_get(store, sid)
    assert raw[SESSION_SCHEMA_FIELD] == SCHEMA_VERSION and updated.schema == SCHEMA_VERSION
    assert raw["state"] == {**V1_STATE, "topic": "books"} and raw["turns"] == 1
    assert raw["user_id"] == "alice"
    # The older revision continues it: it rewrites the fields it knows, not the version.
    _raw_update(store, sid, {"turns": 2, "state": {**V1_STATE, "summary": "and books"}})
    again = store.get(sid)
    assert again.turns == 2 and again.state.summary == "and books"
    store.append_turn(sid, "q2", "a2", "curator")
    assert _raw_get(store, sid)["turns"] == 3


def test_a_session_of_a_newer_revision_continues_here_without_losing_its_fields(store, clock):
    """Candidate (version 3, fields unknown here) -> this revision -> candidate: what the
    newer revision stored is still there, and the version does not go down."""
    newer_state = {**V1_STATE, "embedding": [0.25, 0.5], "mood": {"calm": 0.9}}
    sid = "NewerRevisionSession01"
    _raw_put(store, sid, _doc(clock, state=newer_state, schema_version=3, locale="fr-FR"))
    read = store.get(sid)
    assert read is not None and read.schema == 3 and read.state.topic == "films"
    store.append_turn(sid, "q", "a", "curator", lambda s: replace(s, topic="music"))
    raw = _raw_get(store, sid)
    assert raw[SESSION_SCHEMA_FIELD] == 3
    assert raw["locale"] == "fr-FR"
    assert raw["state"]["embedding"] == [0.25, 0.5] and raw["state"]["mood"] == {"calm": 0.9}
    assert raw["state"]["topic"] == "music" and raw["turns"] == 1
    # Back on the newer revision: it changes its own field; this revision keeps it again.
    _raw_update(store, sid, {"state": {**raw["state"], "mood": {"calm": 0.1}}})
    store.append_turn(sid, "q2", "a2", "curator")
    assert _raw_get(store, sid)["state"]["mood"] == {"calm": 0.1}
    assert [t.seq for t in store.recent_turns(sid, 10)] == [0, 1]


def test_a_malformed_version_reads_as_the_first(store, clock):
    for value in ("two", 0, -3, True):
        sid = f"BadVersionSession{str(value)[:4]:_<5}"
        _raw_put(store, sid, _doc(clock, schema_version=value))
        assert store.get(sid).schema == 1


def test_sqlite_database_of_the_first_layout_is_migrated(tmp_path, clock):
    """A database file an older revision created (no version column, no turn metadata)
    opens, reads its sessions as version 1 and continues them."""
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE sessions (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
              user_id TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
              expires_at REAL NOT NULL, turns INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL);
            CREATE TABLE messages (rid INTEGER NOT NULL, seq INTEGER NOT NULL,
              created_at REAL NOT NULL, expires_at REAL NOT NULL, personality TEXT NOT NULL,
              user_text TEXT NOT NULL, reply_text TEXT NOT NULL,
              fallback INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (rid, seq)) WITHOUT ROWID;
            """
        )
        now = clock().timestamp()
        conn.execute(
            "INSERT INTO sessions (id, user_id, created_at, updated_at, expires_at, turns, state)"
            " VALUES ('OldDatabaseSession0001', 'alice', ?, ?, ?, 0, '{}')",
            (now, now, now + 3600),
        )
    store = SqliteSessionStore(path, TTL, clock=clock)
    try:
        assert store.get("OldDatabaseSession0001").schema == 1
        updated, _ = store.append_turn("OldDatabaseSession0001", "q", "a", "guide")
        assert updated.schema == SCHEMA_VERSION
        assert store.get("OldDatabaseSession0001").schema == SCHEMA_VERSION
    finally:
        store.close()
