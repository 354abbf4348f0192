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
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

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


def load_or_create_token(path: Path) -> str:
    """The local token in ``path`` (mode 0600), reused across restarts; a new random one if
    the file is missing, empty or readable by others."""
    try:
        existing = path.read_text().strip()
        if existing and (path.stat().st_mode & 0o077) == 0:
            return existing
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    log.warning("canary API token generated: read it from %s (mode 0600)", path)
    return token
