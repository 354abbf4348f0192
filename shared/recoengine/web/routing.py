"""Which function serves which path: the one table that the local stack (``make run``) and the
production load balancer's URL map (``infra/terraform``) both follow. A structural test checks
that Terraform's path rules equal this table.

Patterns use URL-map semantics: an exact path, or a prefix ending in ``/*``.
"""

from __future__ import annotations

FUNCTIONS = ("recommend", "chat", "canary")

PATH_RULES: tuple[tuple[str, str], ...] = (
    ("/api/v2/recommendations", "recommend"),
    ("/api/v2/recommendations/*", "recommend"),
    ("/api/v2/chat", "chat"),
    ("/api/v2/session/*", "chat"),
    ("/api/v2/canary/*", "canary"),
)

DEFAULT_FUNCTION = "recommend"


def function_for(path: str) -> str:
    """The function that serves ``path`` (the URL map's default service for anything else)."""
    for pattern, function in PATH_RULES:
        if pattern.endswith("/*"):
            if path.startswith(pattern[:-1]):
                return function
        elif path == pattern:
            return function
    return DEFAULT_FUNCTION
