"""Who may call the canary API, and the name the audit trail records for them.

Two modes. ``token``: a bearer token compared in constant time (``make run`` generates one in
``var/canary-token``, mode 0600); the caller may name themselves with ``X-Canary-Actor``.
``iam``: Cloud Run's IAM check already admitted the caller (the service is never public), so
only the ID token's email claim is read, unverified, to name the actor.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Callable, Mapping

from recoengine.errors import Unauthorized

log = logging.getLogger("recoengine.canary")


class Authenticator:
    """``authenticator(headers)`` is the caller's actor name, or ``Unauthorized`` (401).

    ``token`` is asked for the expected token on each call (it is built once, elsewhere), so
    the token can be created at start-up and swapped in tests without rebuilding this.
    """

    def __init__(self, mode: str, token: Callable[[], str]) -> None:
        if mode not in ("token", "iam"):
            raise ValueError(f"unknown canary auth mode {mode!r}")
        self.mode = mode
        self._token = token

    def __call__(self, headers: Mapping[str, str]) -> str:
        header = str(headers.get("Authorization", ""))
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized("a bearer token is required")
        if self.mode == "iam":
            return _iam_actor(credential)
        if not hmac.compare_digest(credential.encode(), self._token().encode()):
            raise Unauthorized("invalid token")
        actor = str(headers.get("X-Canary-Actor", "")).strip()[:64]
        return f"token:{actor}" if actor else "token"


def _iam_actor(jwt: str) -> str:
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return f"iam:{claims.get('email') or claims.get('sub') or 'unknown'}"
    except (IndexError, ValueError):
        return "iam:unknown"
