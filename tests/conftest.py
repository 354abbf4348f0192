"""Shared fixtures. Local services the tests need are started here and stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testkit.firestore_emulator import (
    HOW_TO_GET,
    PROJECT,
    FirestoreEmulator,
    emulator_if_available,
)

# Tests never touch a developer's var/ directory or a real Google project.
os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "test-project")

pytest_plugins = ["tests.support.engine"]


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    """Google's Firestore emulator, once per session; tests skip (saying how to get it) where
    the machine has none."""
    with emulator_if_available() as emulator:
        if emulator is None:
            pytest.skip(HOW_TO_GET)
        previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        try:
            yield emulator
        finally:
            if previous is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = previous


@pytest.fixture()
def firestore_client(firestore_emulator: FirestoreEmulator) -> Iterator[object]:
    """A real Firestore client on the emulator, with an empty database."""
    from google.cloud import firestore

    firestore_emulator.reset()
    client = firestore.Client(project=PROJECT)
    yield client
    client.close()
