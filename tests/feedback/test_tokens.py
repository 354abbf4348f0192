"""Feedback tokens: issued for a served list, refused when forged, expired, foreign or off-list."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoengine.feedback_tokens import FeedbackSigner, Rejection, TokenRejected, _b64, _unb64

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
ITEMS = ["item-1", "item-2", "item-3"]


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signer(clock: Clock | None = None, keys: tuple[bytes, ...] = (KEY,)) -> FeedbackSigner:
    return FeedbackSigner(keys, ttl_seconds=3600, clock=clock or Clock())


def rejection(fn, *args) -> Rejection:
    with pytest.raises(TokenRejected) as caught:
        fn(*args)
    return caught.value.reason


def test_a_served_item_verifies_with_its_revision_and_a_stable_claim() -> None:
    s = signer()
    token = s.issue("alice", "recommend-00042-abc", ITEMS)
    proof = s.verify(token, "alice", "item-2")
    assert proof.revision == "recommend-00042-abc"
    assert proof.claim_key("item-2", "click") == s.verify(token, "alice", "item-2").claim_key(
        "item-2", "click"
    )
    assert proof.claim_key("item-2", "click") != proof.claim_key("item-3", "click")
    assert proof.claim_key("item-2", "click") != proof.claim_key("item-2", "accept")


def test_two_lists_for_the_same_items_have_different_claims() -> None:
    s = signer()
    a = s.verify(s.issue("alice", "r", ITEMS), "alice", "item-1")
    b = s.verify(s.issue("alice", "r", ITEMS), "alice", "item-1")
    assert a.claim_key("item-1", "click") != b.claim_key("item-1", "click")


def test_foreign_user_unserved_item_and_expiry_are_refused() -> None:
    clock = Clock()
    s = signer(clock)
    token = s.issue("alice", "r", ITEMS)
    assert rejection(s.verify, token, "mallory", "item-1") == Rejection.OTHER_USER
    assert rejection(s.verify, token, "alice", "item-9") == Rejection.NOT_SERVED
    clock.now += 3599
    s.verify(token, "alice", "item-1")
    clock.now += 1
    assert rejection(s.verify, token, "alice", "item-1") == Rejection.EXPIRED


def test_a_token_signed_with_another_key_is_forged_and_rotation_keeps_old_tokens() -> None:
    old = signer(keys=(OTHER_KEY,)).issue("alice", "r", ITEMS)
    assert rejection(signer().verify, old, "alice", "item-1") == Rejection.FORGED
    rotated = signer(keys=(KEY, OTHER_KEY))
    assert rotated.verify(old, "alice", "item-1").revision == "r"
    assert signer().verify(rotated.issue("alice", "r", ITEMS), "alice", "item-1")


@pytest.mark.parametrize(
    "token",
    ["", "REQUEST_ID_FROM_ABOVE", "v1.", "v1.!!!", "v2." + "A" * 60, "v1." + "A" * 10],
)
def test_garbage_is_malformed_or_forged(token: str) -> None:
    assert rejection(signer().verify, token, "alice", "item-1") in (
        Rejection.MALFORMED,
        Rejection.FORGED,
    )


@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_changing_any_byte_is_detected(position: int, flip: int) -> None:
    s = signer()
    raw = bytearray(_unb64(s.issue("alice", "r", ITEMS)[3:]))
    raw[position % len(raw)] ^= flip
    assert rejection(s.verify, "v1." + _b64(bytes(raw)), "alice", "item-1") in (
        Rejection.MALFORMED,
        Rejection.FORGED,
    )


@given(st.text(max_size=300))
def test_any_text_is_refused_cleanly(text: str) -> None:
    assert isinstance(rejection(signer().verify, text, "alice", "item-1"), Rejection)


def test_keys_must_be_long_and_items_bounded() -> None:
    with pytest.raises(ValueError):
        FeedbackSigner([b"short"], 60)
    with pytest.raises(ValueError):
        signer().issue("alice", "r", [str(i) for i in range(256)])
    token = signer().issue("alice", "r", [f"item-{i:03d}" for i in range(100)])
    assert len(token) < 1400
