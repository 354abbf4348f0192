"""Which unexpected exceptions mean "a dependency is down" rather than "we have a bug".

A handler that lets a Firestore ``UNAVAILABLE``, a deadline, a refused connection or a locked
SQLite database escape is not broken: the store is. Clients should get ``503`` with
``Retry-After`` (and retry), not ``500``; operators still get the stack in the log. The
exceptions are recognised by class name and module along the MRO, so no Google client library
is imported here (cold start) and any library version matches.
"""

from __future__ import annotations

import sqlite3

from recoengine.errors import ServiceUnavailable

# google.api_core.exceptions: transient server-side or transport failures.
_GOOGLE_TRANSIENT = frozenset(
    {
        "ServiceUnavailable",
        "DeadlineExceeded",
        "GatewayTimeout",
        "RetryError",
        "TooManyRequests",
        "ResourceExhausted",
        "InternalServerError",
        "Aborted",
        "Unknown",
    }
)
_TRANSPORT_MODULES = ("requests.exceptions", "urllib3.exceptions", "httpx", "httpx2", "grpc")
_TRANSPORT_NAMES = frozenset(
    {"ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout", "TimeoutException", "RpcError"}
)


def _names(exc: BaseException) -> list[tuple[str, str]]:
    return [(cls.__module__, cls.__name__) for cls in type(exc).__mro__]


def as_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """A 503 for a transient dependency failure, or ``None`` for anything else (a bug: 500)."""
    if isinstance(exc, sqlite3.OperationalError):
        return ServiceUnavailable("the session store is busy or unavailable; retry shortly")
    if isinstance(exc, TimeoutError | ConnectionError):
        return ServiceUnavailable("a dependency timed out or refused the connection; retry")
    for module, name in _names(exc):
        if module.startswith("google.api_core") and name in _GOOGLE_TRANSIENT:
            return ServiceUnavailable("a backing service is unavailable; retry shortly")
        if module.startswith(_TRANSPORT_MODULES) and name in _TRANSPORT_NAMES:
            return ServiceUnavailable("a dependency timed out or refused the connection; retry")
    return None
