"""Serving capacity of each function, read from ``capacity.yml``: the one source of truth.

Cloud Run sends an instance up to ``concurrency`` requests at once (Terraform reads the same
file for ``max_instance_request_concurrency``). The instance serves them on one event loop
(functions-framework's ASGI server); what waits on a sync client (SQLite, Firestore, the Cloud
Run Admin API, a sync model call) runs in the function's thread pool of ``threads``
(``recoengine.web.HttpApp``, routes marked ``blocking=True``): I/O-bound functions hold one
thread per concurrent request, the CPU-bound recommend function runs inline and keeps its pool
for the few steps that wait. ``SERVER_THREADS`` (set by Terraform from this file) overrides.

``python -m recoengine.capacity threads FUNCTION`` prints a function's pool size (the image's
build runs it, so a bad file fails the build); ``... local`` prints the local stack's threads
in all, which serves all three functions from one process, each with its own pool.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from recoengine.errors import ConfigError

FUNCTIONS = ("recommend", "chat", "canary")
SERVER_THREADS = "SERVER_THREADS"  # the override Terraform sets per service
_MAX = 1000


@dataclass(frozen=True)
class Capacity:
    """What one instance of a function takes (``concurrency``) and serves with (``threads``)."""

    concurrency: int
    threads: int


def parse(document: Mapping[str, Any]) -> dict[str, Capacity]:
    """Validated capacities: every function present, integers in [1, 1000]."""
    found: dict[str, Capacity] = {}
    for function in FUNCTIONS:
        entry = document.get(function)
        if not isinstance(entry, Mapping):
            raise ConfigError(f"capacity.yml: {function}: expected concurrency and threads")
        values = []
        for key in ("concurrency", "threads"):
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX:
                raise ConfigError(f"capacity.yml: {function}.{key}: expected 1..{_MAX}")
            values.append(value)
        found[function] = Capacity(*values)
    if unknown := set(document) - set(FUNCTIONS):
        raise ConfigError(f"capacity.yml: unknown function(s): {', '.join(sorted(unknown))}")
    return found


@cache
def capacities() -> dict[str, Capacity]:
    text = resources.files("recoengine").joinpath("capacity.yml").read_text(encoding="utf-8")
    return parse(yaml.safe_load(text) or {})


def capacity(function: str) -> Capacity:
    try:
        return capacities()[function]
    except KeyError:
        raise ConfigError(f"no capacity for function {function!r}") from None


def server_threads(function: str, env: Mapping[str, str] = os.environ) -> int:
    """``function``'s thread pool: ``SERVER_THREADS`` if set, else capacity.yml."""
    raw = env.get(SERVER_THREADS, "").strip()
    if not raw:
        return capacity(function).threads
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX:
        raise ConfigError(f"{SERVER_THREADS}={raw!r}: expected an integer in [1, {_MAX}]")
    return int(raw)


def local_threads(env: Mapping[str, str] = os.environ) -> int:
    """The local stack's pool threads in all: it stands in for one instance of each function
    at once, each with its own pool (``SERVER_THREADS`` sizes every one of them)."""
    return sum(server_threads(f, env) for f in FUNCTIONS)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "threads":
        print(server_threads(argv[1]) if argv[1] != "local" else local_threads())
        return 0
    if len(argv) == 2 and argv[0] == "concurrency":
        print(capacity(argv[1]).concurrency)
        return 0
    print("usage: python -m recoengine.capacity threads|concurrency FUNCTION", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
