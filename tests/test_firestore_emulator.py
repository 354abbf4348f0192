"""The emulator fixture itself: a real client can write and read a document through it."""

from __future__ import annotations


def test_real_client_round_trip(firestore_client):
    ref = firestore_client.collection("probe").document("a")
    ref.set({"n": 1})
    assert ref.get().to_dict() == {"n": 1}
