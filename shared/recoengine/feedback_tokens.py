"""Feedback tokens: proof that this service served an item to a user, checked without storage.

The recommend response's ``request_id`` is a token signed with a key from configuration
(HMAC-SHA256, 128-bit tag). It binds the user, the revision that served the list, the items
served and an expiry. Feedback is accepted only when its token verifies, is unexpired, names
the same user and an item that list contained; so a caller can neither invent feedback for
items it was never shown, nor replay another user's token, nor credit a revision that did not
serve it. Those events decide canary releases (the A/B test), which is why they must be
unforgeable. Counting each (token, item, event) once needs a claim in a store; that is the
caller's job (``claim_key`` names the claim).

Layout (then base64url, no padding, after ``v1.``)::

    version u8 | expires_at u32 | nonce 8B | user 8B | len u8 | revision
    | n u8 | n x item 8B | tag 16B

User and item ids enter as 8-byte SHA-256 prefixes: the tag makes them unforgeable, and a
forged item id matches one of 100 served prefixes with probability 100 / 2^64. Several keys
verify (the first signs), so the key can be rotated without refusing tokens in flight: an
instance holds its current key (signs), and the previous and next ones (verify only), as the
wiring reads them (``recoengine.wiring.recommend.signing_keys``).

Issuing is on every recommendation's path, so it costs one HMAC and no other hash (~4 µs
against ~15 µs): an id's 8-byte digest depends on the id alone, so it is computed once per
instance and kept (``_Digests``, bounded); the HMAC starts from a copy of a state that has
already absorbed the key and the domain; and the nonce is a per-process counter from a random
64-bit start (reseeded in a forked child) rather than fresh random bytes. The nonce only names
the list for the once-only claims: the tag, not the nonce, makes a token unforgeable, so it
needs to be unique, not unpredictable (two instances' counters overlap with probability
~(requests served) / 2^64). The layout is unchanged, so tokens issued before verify after.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import os
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "v1."
_VERSION = 1
_HEAD = struct.Struct(">BI8s8sB")  # version, expires_at, nonce, user, revision length
_DIGEST = 8
_TAG = 16
_DOMAIN = b"recoengine feedback token v1\x00"
MAX_ITEMS = 255
MAX_REVISION = 255
MIN_KEY_BYTES = 32
_NONCE_MASK = (1 << 64) - 1
# Ids whose digests an instance keeps: a catalog's recommended items and the recent users fit;
# past it the memo starts over (a few ms to refill), so memory stays bounded (~10 MB).
DIGEST_MEMO_SIZE = 1 << 16


class Rejection(StrEnum):
    """Why a token was refused; the HTTP layer maps each to a status and a message."""

    MALFORMED = "malformed"  # not a token this service issues
    FORGED = "forged"  # the tag does not verify under any configured key
    EXPIRED = "expired"
    OTHER_USER = "other_user"  # issued to a different user
    NOT_SERVED = "not_served"  # the item was not in the list this token served


class TokenRejected(Exception):
    def __init__(self, reason: Rejection) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What a valid token proves for one item."""

    nonce: str  # hex; identifies the served list
    revision: str  # the revision that served it
    expires_at: int  # unix seconds

    def claim_key(self, item_id: str, event: str) -> str:
        """The id of the once-only claim for this (list, item, event)."""
        raw = f"{self.nonce}\x00{item_id}\x00{event}".encode()
        return hashlib.sha256(raw).hexdigest()

    def list_claim_key(self, event: str) -> str:
        """The id of the once-only claim for this (list, event): its first such event."""
        return self.claim_key("", event)  # item ids are never empty


def _digest(kind: bytes, value: str) -> bytes:
    return hashlib.sha256(kind + value.encode()).digest()[:_DIGEST]


class _Digests:
    """``_digest(kind, id)`` kept per id: the same items are served over and over.

    Lock-free: dict reads and writes are atomic, and two threads computing one digest at once
    store the same bytes."""

    def __init__(self, kind: bytes, size: int = DIGEST_MEMO_SIZE) -> None:
        self._kind = kind
        self._size = size
        self._known: dict[str, bytes] = {}

    def __call__(self, value: str) -> bytes:
        found = self._known.get(value)
        if found is None:
            if len(self._known) >= self._size:
                self._known.clear()
            found = self._known[value] = _digest(self._kind, value)
        return found

    def join(self, values: Sequence[str]) -> bytes:
        """The digests of ``values`` end to end (one comprehension when all are known)."""
        known = self._known
        try:
            return b"".join([known[v] for v in values])
        except KeyError:
            return b"".join(map(self, values))


_user_digest = _Digests(b"u:")
_item_digest = _Digests(b"i:")


def _new_nonces() -> Iterator[int]:
    return itertools.count(int.from_bytes(os.urandom(8)))


_nonces = _new_nonces()


def _reseed_nonces() -> None:
    """A forked worker starts its own sequence: children of one parent must not share it."""
    global _nonces
    _nonces = _new_nonces()


os.register_at_fork(after_in_child=_reseed_nonces)


def _nonce() -> bytes:
    return (next(_nonces) & _NONCE_MASK).to_bytes(8)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FeedbackSigner:
    """Issues and verifies tokens with ``keys`` (the first signs, every one verifies)."""

    def __init__(
        self,
        keys: Sequence[bytes],
        ttl_seconds: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys or any(len(k) < MIN_KEY_BYTES for k in keys):
            raise ValueError(f"feedback signing keys must be at least {MIN_KEY_BYTES} bytes")
        if ttl_seconds <= 0:
            raise ValueError("the token lifetime must be positive")
        self._keys = tuple(keys)
        # Each key's HMAC state after the key and the domain: a tag copies it (~1.5 µs, not 2).
        self._macs = tuple(hmac.new(k, _DOMAIN, hashlib.sha256) for k in self._keys)
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    @property
    def key_count(self) -> int:
        """How many keys verify (for the health report: a rotation's step is visible)."""
        return len(self._keys)

    def issue(self, user_id: str, revision: str, item_ids: Sequence[str]) -> str:
        rev = revision.encode()[:MAX_REVISION]
        if len(item_ids) > MAX_ITEMS:
            raise ValueError(f"a token binds at most {MAX_ITEMS} items")
        expires_at = int(self._clock()) + self.ttl_seconds
        head = _HEAD.pack(_VERSION, expires_at, _nonce(), _user_digest(user_id), len(rev))
        items = _item_digest.join(item_ids)
        payload = head + rev + bytes([len(item_ids)]) + items
        return PREFIX + _b64(payload + self._tag(self._macs[0], payload))

    def verify(self, token: str, user_id: str, item_id: str) -> Verified:
        """The token's facts for ``item_id`` from ``user_id``; ``TokenRejected`` otherwise.

        Checked in this order, so the reason is the most basic one that applies: shape, tag,
        expiry, user, item."""
        payload, tag = self._split(token)
        if not any(hmac.compare_digest(tag, self._tag(mac, payload)) for mac in self._macs):
            raise TokenRejected(Rejection.FORGED)
        version, expires_at, nonce, user, rev_len = _HEAD.unpack_from(payload)
        rev_end = _HEAD.size + rev_len
        count = payload[rev_end]
        items = payload[rev_end + 1 :]
        if version != _VERSION or len(items) != count * _DIGEST:
            raise TokenRejected(Rejection.MALFORMED)
        if self._clock() >= expires_at:
            raise TokenRejected(Rejection.EXPIRED)
        if not hmac.compare_digest(user, _digest(b"u:", user_id)):
            raise TokenRejected(Rejection.OTHER_USER)
        wanted = _digest(b"i:", item_id)  # not memoised: a client chooses these ids
        served = {items[i : i + _DIGEST] for i in range(0, len(items), _DIGEST)}
        if wanted not in served:
            raise TokenRejected(Rejection.NOT_SERVED)
        revision = payload[_HEAD.size : rev_end].decode(errors="replace")
        return Verified(nonce.hex(), revision, expires_at)

    @staticmethod
    def _tag(mac: hmac.HMAC, payload: bytes) -> bytes:
        """HMAC-SHA256(key, domain + payload), truncated."""
        state = mac.copy()
        state.update(payload)
        return state.digest()[:_TAG]

    @staticmethod
    def _split(token: str) -> tuple[bytes, bytes]:
        if not token.startswith(PREFIX):
            raise TokenRejected(Rejection.MALFORMED)
        try:
            raw = _unb64(token[len(PREFIX) :])
        except (binascii.Error, ValueError):
            raise TokenRejected(Rejection.MALFORMED) from None
        if len(raw) < _HEAD.size + 1 + _TAG:
            raise TokenRejected(Rejection.MALFORMED)
        payload, tag = raw[:-_TAG], raw[-_TAG:]
        rev_len = payload[_HEAD.size - 1]
        if len(payload) < _HEAD.size + rev_len + 1:
            raise TokenRejected(Rejection.MALFORMED)
        return payload, tag
