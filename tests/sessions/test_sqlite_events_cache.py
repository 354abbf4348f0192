"""The SQLite store's per-user events cache: never stale across stores, threads or processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from recoengine.sessions.sqlite_store import SqliteSessionStore
from tests.support.clock import Clock

ROOT = Path(__file__).resolve().parents[2]
TTL = timedelta(hours=24)


def items(store: SqliteSessionStore, user: str, limit: int = 20) -> list[str]:
    return [e.item_id for e in store.recent_item_events(user, limit)]


def test_a_write_through_another_store_is_seen_at_once(tmp_path: Path) -> None:
    reader = SqliteSessionStore(tmp_path / "s.sqlite3", TTL)
    writer = SqliteSessionStore(tmp_path / "s.sqlite3", TTL)
    try:
        assert items(reader, "alice") == []  # cached: alice has no events
        assert items(reader, "alice") == []
        writer.record_item_event("alice", "i1", "click")
        assert items(reader, "alice") == ["i1"]
        writer.record_item_event("alice", "i2", "accept")
        assert items(reader, "alice") == ["i2", "i1"]
        assert items(reader, "alice", 1) == ["i2"]
        reader.record_item_event("bob", "b1", "click")  # its own write, another user
        assert items(reader, "bob") == ["b1"] and items(writer, "bob") == ["b1"]
    finally:
        reader.close()
        writer.close()


def test_a_write_from_another_process_is_seen_at_once(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    reader = SqliteSessionStore(db, TTL)
    try:
        assert items(reader, "carol") == []
        code = (
            "import sys; from datetime import timedelta;"
            "from recoengine.sessions.sqlite_store import SqliteSessionStore as S;"
            "S(sys.argv[1], timedelta(hours=24)).record_item_event('carol', 'c1', 'click')"
        )
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}"}
        subprocess.run([sys.executable, "-c", code, str(db)], check=True, env=env, timeout=60)
        assert items(reader, "carol") == ["c1"]
    finally:
        reader.close()


def test_cached_rows_expire_and_a_full_list_is_read_again(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "s.sqlite3"
    long_lived = SqliteSessionStore(db, TTL, events_max=5, clock=clock)
    short_lived = SqliteSessionStore(db, timedelta(hours=1), events_max=5, clock=clock)
    reader = SqliteSessionStore(db, TTL, events_max=2, clock=clock)
    try:
        long_lived.record_item_event("dan", "old", "click")
        clock.now += timedelta(seconds=1)
        short_lived.record_item_event("dan", "new1", "click")
        clock.now += timedelta(seconds=1)
        short_lived.record_item_event("dan", "new2", "click")
        assert items(reader, "dan") == ["new2", "new1"]  # cached, and full (events_max=2)
        clock.now += timedelta(hours=2)  # both cached rows expire; "old" is still live
        assert items(reader, "dan") == ["old"]
        clock.now += timedelta(hours=23)
        assert items(reader, "dan") == []
    finally:
        for store in (long_lived, short_lived, reader):
            store.close()


def test_without_a_token_file_the_cache_is_off_and_reads_stay_right(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    (tmp_path / "s.sqlite3-events-token").mkdir()  # cannot be opened as a file
    reader = SqliteSessionStore(db, TTL)
    writer = SqliteSessionStore(db, TTL)
    try:
        assert items(reader, "erin") == []
        writer.record_item_event("erin", "e1", "click")
        assert items(reader, "erin") == ["e1"]
    finally:
        reader.close()
        writer.close()
