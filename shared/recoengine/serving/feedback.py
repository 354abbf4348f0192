"""Feedback on served recommendations: only what a valid token proves, each fact once.

The A/B test that promotes or rolls back a revision reads these counts, so nothing a client
invents may reach them:

- **Impressions** are counted by the service when it serves a list (``served``), never taken
  from a client. The unit of the A/B test is a served list.
- **A click or accept** is accepted only with the token of the list that served the item, from
  the user it was served to, before the token expires (``recoengine.feedback_tokens``).
- **Each (list, item, event) is recorded once**: a second identical post is ``AlreadyRecorded``
  (a claim in the session store, kept until the token expires). While the store is down
  nothing is counted (503, retry later): a count that might be a repeat is worse than none.
- **The A/B conversion is per list**: the first click (or accept) on a list counts, so a list
  converts at most once and the conversion rate stays a proportion of served lists. Further
  clicks on other items of the list are still recorded in the user's history.
- **Both claims are one write** (``claim_all``): the item's claim and the list's claim commit
  together or not at all, so a failure leaves nothing behind and the client's retry is counted
  (with two writes, a failure between them left the item claimed, the retry got 409 and the
  conversion was never counted). A commit whose outcome is unknown is settled by the store
  (Firestore rereads the claims it tried to write); one it cannot settle is never counted twice,
  at worst not at all.

Metric updates and the store are injected (``count``, ``claims``, ``events``), so this module
imports neither Prometheus nor a store backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from recoengine.errors import ServiceUnavailable
from recoengine.feedback_tokens import FeedbackSigner, Verified

IMPRESSION = "impression"
CONVERSION_EVENTS = ("click", "accept")


class ClaimStore(Protocol):
    def claim_all(self, keys: Sequence[str], expires_at: datetime) -> frozenset[str]: ...


class EventRecorder(Protocol):
    def record(self, user_id: str, item_id: str, event: str) -> bool: ...


class AlreadyRecorded(Exception):
    """This event on this item of this list was recorded before."""


@dataclass(frozen=True)
class Recorded:
    revision: str  # the revision that served the list
    counted: bool  # the list's first conversion of this kind: it enters the A/B counts
    stored: bool  # kept in the user's recent events (false while the store is down)


class FeedbackLedger:
    """Issues a token per served list and records the feedback that proves itself."""

    def __init__(
        self,
        signer: FeedbackSigner,
        claims: Callable[[], ClaimStore],
        events: EventRecorder,
        count: Callable[[str, str], None],
    ) -> None:
        self.signer = signer
        self._claims = claims
        self._events = events
        self._count = count

    def served(self, user_id: str, revision: str, item_ids: Sequence[str]) -> str:
        """The token of a list just served (one impression for ``revision``)."""
        token = self.signer.issue(user_id, revision, item_ids)
        self._count(IMPRESSION, revision)
        return token

    def record(self, token: str, user_id: str, item_id: str, event: str) -> Recorded:
        """Raises ``TokenRejected`` (forged, expired, another user's, item not served) or
        ``AlreadyRecorded``; ``ValueError`` for an event a client may not report."""
        if event not in CONVERSION_EVENTS:
            raise ValueError(f"{event!r} is not a client event")
        proof = self.signer.verify(token, user_id, item_id)
        item_claim, list_claim = proof.claim_key(item_id, event), proof.list_claim_key(event)
        new = self._claim(proof, (item_claim, list_claim))
        if item_claim not in new:
            raise AlreadyRecorded
        counted = list_claim in new
        if counted:
            self._count(event, proof.revision)
        stored = self._events.record(user_id, item_id, event)
        return Recorded(proof.revision, counted, stored)

    def _claim(self, proof: Verified, keys: Sequence[str]) -> frozenset[str]:
        """Without the store a repeat cannot be told apart, so nothing is counted: 503, and the
        client retries (within the token's lifetime) once the store is back."""
        until = datetime.fromtimestamp(proof.expires_at, UTC)
        try:
            return self._claims().claim_all(keys, until)
        except Exception as exc:
            raise ServiceUnavailable(
                "feedback cannot be recorded while the session store is unavailable; retry later"
            ) from exc
