"""Names of the Firestore collections and fields the code writes, in one place.

Terraform's TTL policies must cover every collection group that carries an expiry field; the
infrastructure tests read ``TTL_COLLECTION_GROUPS`` from here rather than keeping a copy.
"""

from __future__ import annotations

EXPIRY_FIELD = "expires_at"

SESSIONS = "sessions"
SESSION_SCHEMA_FIELD = "schema_version"  # on session documents (sessions.model.SCHEMA_VERSION)
SESSION_MESSAGES = "messages"  # subcollection of a session document
USER_EVENTS = "user_events"
CANARY_ROLLOUTS = "canary_rollouts"
CANARY_AUDIT = "canary_audit"
CANARY_INCIDENTS = "canary_incidents"
FEEDBACK_CLAIMS = "feedback_claims"  # one document per counted (list, item, event)

# Collection groups whose documents carry EXPIRY_FIELD and so need a TTL policy.
TTL_COLLECTION_GROUPS: tuple[str, ...] = (
    SESSIONS,
    SESSION_MESSAGES,
    USER_EVENTS,
    CANARY_INCIDENTS,
    FEEDBACK_CLAIMS,
)
