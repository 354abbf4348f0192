"""Feedback tokens: issued for a served list, refused when forged, expired, foreign or off-list."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoengine.feedback_tokens import (
    FeedbackSigner,
    Rejection,
    TokenRejected,
    _b64,
    _Digests,
    _unb64,
)

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


def _reference_token(
    key: bytes, user: str, revision: str, items: list[str], expires: int, nonce: bytes
) -> str:
    """A v1 token built the way the first implementation built it (every digest computed on
    the spot, a one-shot HMAC): tokens issued before the memoised signer must still verify."""

    def digest(kind: bytes, value: str) -> bytes:
        return hashlib.sha256(kind + value.encode()).digest()[:8]

    rev = revision.encode()
    head = struct.pack(">BI8s8sB", 1, expires, nonce, digest(b"u:", user), len(rev))
    payload = head + rev + bytes([len(items)]) + b"".join(digest(b"i:", i) for i in items)
    tag = hmac.digest(key, b"recoengine feedback token v1\x00" + payload, "sha256")[:16]
    return "v1." + _b64(payload + tag)


def test_the_layout_is_unchanged_both_ways() -> None:
    clock = Clock()
    expires = int(clock.now) + 3600
    earlier = _reference_token(KEY, "alice", "r", ITEMS, expires, b"\x07" * 8)
    proof = signer(clock).verify(earlier, "alice", "item-3")
    assert proof.nonce == "07" * 8 and proof.revision == "r"
    assert rejection(signer(clock).verify, earlier, "alice", "item-9") == Rejection.NOT_SERVED
    issued = signer(clock).issue("alice", "r", ITEMS)
    nonce = _unb64(issued[3:])[5:13]
    assert issued == _reference_token(KEY, "alice", "r", ITEMS, expires, nonce)


def test_nonces_are_distinct_within_a_process_and_across_forked_workers() -> None:
    s = signer()
    nonces = {s.verify(s.issue("alice", "r", ITEMS), "alice", "item-1").nonce for _ in range(500)}
    assert len(nonces) == 500
    # A worker forked after the parent issued tokens starts a sequence of its own.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next nonce, to the parent, then leave at once
        os.close(read)
        child = s.verify(s.issue("alice", "r", ITEMS), "alice", "item-1").nonce
        os.write(write, child.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child_nonce = pipe.read()
    parent_next = {
        s.verify(s.issue("alice", "r", ITEMS), "alice", "item-1").nonce for _ in range(5)
    }
    assert child_nonce and child_nonce not in nonces | parent_next


def test_the_digest_memo_is_bounded_and_always_right() -> None:
    memo = _Digests(b"i:", size=4)
    for n in range(10):
        assert memo(f"item-{n}") == hashlib.sha256(f"i:item-{n}".encode()).digest()[:8]
        assert len(memo._known) <= 4
    ids = [f"item-{n}" for n in range(6)]  # more than the memo holds: some unknown on the way
    assert memo.join(ids) == b"".join(memo(i) for i in ids)
    assert memo.join(ids[-2:]) == memo(ids[-2]) + memo(ids[-1])
