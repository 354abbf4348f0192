"""The ``gcs`` fixture: the fake Cloud Storage (``testkit.fake_gcs``) for the real client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.fake_gcs import FakeGCS, serving

__all__ = ["FakeGCS", "gcs"]


@pytest.fixture()
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeGCS]]:
    FakeGCS.reset()
    with serving() as url:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test-project")
        yield FakeGCS
