"""Fixtures: the fake Admin API and Monitoring servers, stores on SQLite and Firestore."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from recoengine.canary.store import FirestoreCanaryStore, SqliteCanaryStore
from testkit.fake_cloud_monitoring import FakeMonitoring
from testkit.fake_cloud_run import FakeRunAdmin


@pytest.fixture()
def run_admin() -> Iterator[FakeRunAdmin]:
    fake = FakeRunAdmin().start()
    yield fake
    fake.stop()


@pytest.fixture()
def monitoring() -> Iterator[FakeMonitoring]:
    fake = FakeMonitoring().start()
    yield fake
    fake.stop()


@pytest.fixture()
def sqlite_store(tmp_path) -> Iterator[SqliteCanaryStore]:
    store = SqliteCanaryStore(tmp_path / "canary.sqlite3")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "firestore"])
def any_store(request, tmp_path) -> Iterator[Any]:
    if request.param == "sqlite":
        store = SqliteCanaryStore(tmp_path / "canary.sqlite3")
        yield store
        store.close()
    else:
        client = request.getfixturevalue("firestore_client")
        yield FirestoreCanaryStore(client)
