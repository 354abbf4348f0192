"""One contract for every session-store backend: SQLite and Firestore (Google's emulator)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from recoengine.errors import ServiceUnavailable
from recoengine.sessions import SessionNotFound, SessionState, is_session_id
from recoengine.sessions.firestore_store import FirestoreSessionStore
from recoengine.sessions.model import RecommendedItem, decode_seq, encode_seq
from recoengine.sessions.sizing import document_size
from recoengine.sessions.sqlite_store import SqliteSessionStore
from recoengine.storage_schema import EXPIRY_FIELD, SESSION_MESSAGES, SESSIONS
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
def test_firestore_delete_removes_every_turn_document(firestore_client):
    store = FirestoreSessionStore(firestore_client, TTL)
    sid = store.create("alice").session_id
    for i in range(3):
        store.append_turn(sid, f"q{i}", "a", "guide")
    assert store.delete(sid) is True
    ref = firestore_client.collection(SESSIONS).document(sid)
    assert not ref.get().exists
    assert list(ref.collection(SESSION_MESSAGES).stream()) == []


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
