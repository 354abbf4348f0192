"""Typed errors of the service and the one place that maps them to HTTP status codes.

Handlers raise these; ``recoengine.web.app`` turns them into the JSON error envelope
``{"error": {"code", "message", "status", "details"?}, "request_id"}``. Anything else that
escapes a handler is logged with its stack and answered as a bare 500 envelope, so no stack
trace or internal detail ever reaches a client.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error that has a meaning for a client."""

    status = 500
    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details is not None:
            body["details"] = self.details
        return body


class BadRequest(ServiceError):
    """The request cannot be parsed (malformed JSON, wrong content type)."""

    status = 400
    code = "bad_request"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthenticated"

    def __init__(self, message: str = "authentication required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(ServiceError):
    status = 403
    code = "permission_denied"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ServiceError):
    status = 405
    code = "method_not_allowed"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class InvalidArgument(ServiceError):
    """The request parsed but its content is invalid (missing field, out of range)."""

    status = 422
    code = "invalid_argument"


class ServiceUnavailable(ServiceError):
    """A dependency (model, store, upstream API) is down; the client may retry later."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, **kw: Any) -> None:
        headers = dict(kw.pop("headers", None) or {})
        headers.setdefault("Retry-After", str(retry_after))
        super().__init__(message, headers=headers, **kw)


class ConfigError(ValueError):
    """Invalid configuration detected at start-up (raised, never mapped to HTTP)."""


class DataError(ValueError):
    """A data file is malformed; the message names the file and the line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem
