"""The recommend function's composition root: everything ``functions/recommend/main.py``
calls besides the HTTP layer.

Its dependencies are the shared ones of ``wiring.common`` (the recommender, the users'
recent events, the sign-in check) and the feedback ledger; tests swap them with
``Provider.override``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from recoengine import local_secret
from recoengine.config import RecommendSettings, settings
from recoengine.errors import ServiceUnavailable
from recoengine.wiring.common import (
    authenticate,
    check_user,
    recommender,
    recommender_status,
    session_store,
    user_events,
)
from recoengine.wiring.provider import Provider

if TYPE_CHECKING:
    from recoengine.feedback_tokens import FeedbackSigner
    from recoengine.serving.feedback import FeedbackLedger

__all__ = [
    "authenticate",
    "build_signer",
    "check_user",
    "feedback",
    "feedback_status",
    "recent_events",
    "recent_events_without_io",
    "recommender",
    "recommender_status",
    "signing_keys",
    "user_events",
]


def recent_events(user_id: str) -> list[str]:
    """What the user just clicked or accepted, read on every request (``RECO_USER_EVENTS``,
    on by default; off when clients send ``context.recent_items`` themselves) unless a read
    moments ago found none (``recoengine.sessions.user_events``: a click through this instance
    is seen at once, one through another within ``NO_EVENTS_SECONDS``)."""
    if not settings().recommend.user_events:
        return []
    return user_events().recent_item_ids(user_id)


def recent_events_without_io(user_id: str) -> list[str] | None:
    """``recent_events(user_id)`` when it needs no store read (events off, or the user known
    to have none), else None: an async handler then calls ``recent_events`` off the event
    loop, and skips that hop for most users."""
    if not settings().recommend.user_events or user_events().known_to_have_none(user_id):
        return []
    return None


# -- feedback tokens ------------------------------------------------------------------------
def signing_keys(cfg: RecommendSettings, *, on_cloud_run: bool) -> list[bytes]:
    """The feedback keys of this instance, the signing one first: current, previous, next.

    Tokens are signed with ``FEEDBACK_SIGNING_KEY`` (current) and verified with it and with
    ``FEEDBACK_SIGNING_KEY_PREVIOUS`` / ``FEEDBACK_SIGNING_KEY_NEXT`` when set. A rotation moves
    a key from next to current to previous across two deployments (docs/deploy.md), so any two
    revisions one step apart share the other's signing key and accept each other's tokens.
    Locally, without a current key, a random one kept in ``var/feedback-key``; on Cloud Run a
    missing current key is an error, since every instance must verify what any other signed
    (Terraform sets the keys from pinned Secret Manager versions, feedback_key.tf)."""
    key = cfg.feedback_key
    if not key and on_cloud_run:
        raise ServiceUnavailable(
            "FEEDBACK_SIGNING_KEY is not set: on Cloud Run every instance needs the same key "
            "(infra/terraform/feedback_key.tf provides it from Secret Manager)"
        )
    if not key:
        key = local_secret.load_or_create(cfg.feedback_key_file, "feedback signing key")
    keys = [key]
    for other in (cfg.feedback_key_previous, cfg.feedback_key_next):
        if other and other not in keys:
            keys.append(other)
    return [k.encode() for k in keys]


def build_signer(cfg: RecommendSettings, *, on_cloud_run: bool) -> FeedbackSigner:
    """The signer over ``signing_keys``: signs with the current key, verifies with all."""
    from recoengine.feedback_tokens import FeedbackSigner

    keys = signing_keys(cfg, on_cloud_run=on_cloud_run)
    return FeedbackSigner(keys, cfg.feedback_token_ttl_seconds)


def _feedback_counter() -> Callable[[str, str], None]:
    """``recommendation_feedback_total{event, revision}.inc``, each child looked up once: every
    served list counts an impression, and ``labels()`` costs three times the ``inc``. The
    revisions come from verified tokens, so the children stay few."""
    from recoengine.web.metrics import RECOMMENDATION_FEEDBACK

    children: dict[tuple[str, str], Any] = {}

    def count(event: str, revision: str) -> None:
        child = children.get((event, revision))
        if child is None:
            child = children[event, revision] = RECOMMENDATION_FEEDBACK.labels(event, revision)
        child.inc()

    return count


def _ledger() -> FeedbackLedger:
    from recoengine.serving.feedback import FeedbackLedger

    signer = build_signer(settings().recommend, on_cloud_run="K_SERVICE" in os.environ)
    return FeedbackLedger(
        signer, claims=session_store, events=user_events(), count=_feedback_counter()
    )


feedback: Provider[FeedbackLedger] = Provider("feedback", _ledger)


def feedback_status() -> dict[str, Any]:
    """The "feedback" health component: the signing key is there (never shows it), and how
    many keys verify (2 or 3 while a rotation is under way: docs/deploy.md)."""
    signer = feedback().signer
    return {"status": "ok", "token_ttl_seconds": signer.ttl_seconds, "keys": signer.key_count}
