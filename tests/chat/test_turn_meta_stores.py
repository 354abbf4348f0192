"""A turn's intent and item ids on both session backends (the additive store change of
issue 13), an older SQLite file gaining the columns in place, and the state's AND/OR."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from recoengine.errors import InvalidArgument
from recoengine.sessions.firestore_store import FirestoreSessionStore
from recoengine.sessions.model import SessionState
from recoengine.sessions.sqlite_store import SqliteSessionStore


def check(store) -> None:
    sid = store.create("u").session_id
    store.append_turn(sid, "hi", "hello", "companion", intent="greeting")

    def remember(state: SessionState) -> SessionState:
        return replace(state, last_features=("comedy", "romance"), last_match="any")

    store.append_turn(
        sid, "a comedy", "picks", "curator", remember, intent="recommend", items=["m1", "m12"]
    )
    store.append_turn(sid, "old client", "reply", "guide")  # nothing given: nothing stored
    turns = store.recent_turns(sid, 10)
    assert [(t.intent, t.items) for t in turns] == [
        ("greeting", ()),
        ("recommend", ("m1", "m12")),
        ("", ()),
    ]
    state = store.get(sid).state
    assert (state.last_features, state.last_match) == (("comedy", "romance"), "any")
    with pytest.raises(InvalidArgument):
        store.append_turn(sid, "q", "a", "p", items=["x" * 300])
    with pytest.raises(InvalidArgument):
        store.append_turn(sid, "q", "a", "p", intent="i" * 100)


def test_sqlite(tmp_path):
    check(SqliteSessionStore(tmp_path / "s.sqlite3"))


@pytest.mark.firestore
def test_firestore(firestore_client):
    check(FirestoreSessionStore(firestore_client))


def test_an_older_sqlite_file_gains_the_columns(tmp_path):
    path = tmp_path / "old.sqlite3"
    store = SqliteSessionStore(path)
    sid = store.create("u").session_id
    store.append_turn(sid, "before", "r", "p")
    store.close()
    conn = sqlite3.connect(path)  # as the previous release left it: no intent/items columns
    conn.execute("ALTER TABLE messages DROP COLUMN intent")
    conn.execute("ALTER TABLE messages DROP COLUMN items")
    conn.commit()
    conn.close()
    again = SqliteSessionStore(path)
    again.append_turn(sid, "after", "r", "p", intent="recommend", items=["m1"])
    assert [(t.user_text, t.intent, t.items) for t in again.recent_turns(sid, 5)] == [
        ("before", "", ()),
        ("after", "recommend", ("m1",)),
    ]


def test_state_round_trip_keeps_unknown_match_safe():
    assert SessionState.from_dict({"last_match": "any"}).last_match == "any"
    assert SessionState.from_dict({"last_match": "weird"}).last_match == "all"
    assert SessionState.from_dict({}).last_match == "all"
