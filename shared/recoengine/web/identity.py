"""Who the end user is: a verified Firebase / Identity Platform ID token, or (locally) trust.

``AUTH_MODE=firebase``: every user-facing request carries ``Authorization: Bearer <ID token>``;
the token's signature (RS256 against Google's published x509 certs), audience (the project),
issuer (``https://securetoken.google.com/<project>``), expiry and subject are checked with
``google-auth``, and the ``user_id`` a body or query names must be the token's subject — so a
caller can neither read another user's sessions nor write events in their name. 401 without a
valid token, 403 on a mismatch. ``AUTH_MODE=none`` (default, ``make run``): the request's
``user_id`` is used as is; the deployment relies on the caller (a trusted backend) instead.

The certs are fetched once and cached for their ``Cache-Control: max-age`` (Google rotates them
daily); an unknown key id triggers one early refresh, so a rotation is picked up at once.

An ``Authenticator`` holds the settings and the cert cache; the wiring builds one per instance
(``recoengine.wiring.common``) and functions use it as a route guard plus one check in the
handler, the guard's verdict kept in ``req.identity``::

    @app.route("POST", "/api/v2/chat", guard=wiring.authenticate)
    def chat_turn(req):
        body = req.body(ChatRequest)
        user_id = wiring.check_user(req, body.user_id)
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from recoengine.config import IdentitySettings
from recoengine.errors import Forbidden, ServiceUnavailable, Unauthorized
from recoengine.web.app import ApiRequest

log = logging.getLogger(__name__)

_MAX_AGE = re.compile(r"max-age=(\d+)")
_MIN_CACHE_SECONDS = 60.0
_MAX_CACHE_SECONDS = 86400.0
_REFRESH_BACKOFF_SECONDS = 30.0  # at most one forced refresh per this (unknown kid floods)
_MAX_TOKEN_CHARS = 8192


class CertCache:
    """Google's signing certs (``{kid: PEM}``), fetched lazily and cached per their max-age."""

    def __init__(
        self, url: str, timeout: float, *, refresh_backoff: float = _REFRESH_BACKOFF_SECONDS
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.refresh_backoff = refresh_backoff
        self._certs: dict[str, str] = {}
        self._expires = 0.0
        self._last_fetch = -1e9
        self._lock = threading.Lock()

    def get(self, kid: str | None) -> dict[str, str]:
        with self._lock:
            now = time.monotonic()
            unknown = kid is not None and kid not in self._certs
            if now >= self._expires or (unknown and now - self._last_fetch >= self.refresh_backoff):
                self._fetch()
            return self._certs

    def _fetch(self) -> None:
        import requests

        self._last_fetch = time.monotonic()
        try:
            response = requests.get(self.url, timeout=self.timeout)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("could not fetch the ID token certs from %s: %s", self.url, exc)
            if not self._certs:
                raise ServiceUnavailable("sign-in verification is unavailable") from None
            self._expires = self._last_fetch + self.refresh_backoff
            return  # keep serving with the previous certs, try again a little later
        if isinstance(data, dict) and isinstance(data.get("keys"), list):
            raise ServiceUnavailable("JWKS certs are not supported; use the x509 certs URL")
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ServiceUnavailable("sign-in verification is misconfigured")
        match = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
        max_age = float(match.group(1)) if match else 3600.0
        self._certs = dict(data)
        self._expires = time.monotonic() + min(max(max_age, _MIN_CACHE_SECONDS), _MAX_CACHE_SECONDS)


class Authenticator:
    """The sign-in check of one instance: its settings and the certs it verifies with."""

    def __init__(self, cfg: IdentitySettings, certs: CertCache | None = None) -> None:
        self.cfg = cfg
        self.certs = certs or CertCache(cfg.certs_url, cfg.certs_timeout_seconds)

    @property
    def enabled(self) -> bool:
        return self.cfg.mode == "firebase"

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims if it is a valid ID token for this project; ``Unauthorized``
        if not."""
        from google.auth import exceptions, jwt

        cfg = self.cfg
        if not token or len(token) > _MAX_TOKEN_CHARS:
            raise Unauthorized("invalid ID token")
        try:
            header = jwt.decode_header(token)
        except (ValueError, TypeError, exceptions.GoogleAuthError):
            raise Unauthorized("invalid ID token") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise Unauthorized("invalid ID token")
        kid = header.get("kid")
        certs = self.certs.get(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token,
                certs=certs,
                audience=cfg.audience,
                clock_skew_in_seconds=cfg.clock_skew_seconds,
            )
        except (ValueError, TypeError, KeyError, exceptions.GoogleAuthError) as exc:
            log.info("ID token rejected: %s", str(exc)[:200])
            raise Unauthorized("invalid ID token") from None
        subject = claims.get("sub")
        if claims.get("iss") != cfg.issuer:
            raise Unauthorized("invalid ID token")
        if not isinstance(subject, str) or not 1 <= len(subject) <= 128:
            raise Unauthorized("invalid ID token")
        auth_time = claims.get("auth_time")
        if auth_time is not None and (
            not isinstance(auth_time, int | float)
            or auth_time > time.time() + cfg.clock_skew_seconds
        ):
            raise Unauthorized("invalid ID token")
        return dict(claims)

    def authenticate(self, req: ApiRequest) -> None:
        """Route guard: in firebase mode, require a valid ID token and remember its subject
        in ``req.identity``."""
        if not self.enabled:
            return
        header = str(req.headers.get("Authorization", ""))
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("an ID token is required (Authorization: Bearer <token>)")
        claims = self.verify(credential.strip())
        req.identity = str(claims["sub"])
        req.log_fields["auth"] = "firebase"

    def check_user(self, req: ApiRequest, user_id: str) -> str:
        """The user the request acts for: ``user_id`` itself, which in firebase mode must be
        the verified subject (403 otherwise; 401 when the guard did not run or found no
        token)."""
        if not self.enabled:
            return user_id
        if req.identity is None:
            self.authenticate(req)
        if req.identity != user_id:
            raise Forbidden("user_id does not match the signed-in user")
        return user_id
