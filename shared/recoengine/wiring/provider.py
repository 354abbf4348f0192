"""One per-instance dependency: built once, lazily, from configuration; swappable in tests.

A function's dependencies (the model, the session store, the language model, the canary
controller...) are ``Provider`` objects declared in that function's wiring module. Calling
one builds its value on first use (cold start matters: nothing is built at import) and
returns the same value afterwards, from any thread.

Tests swap a dependency in exactly one way::

    with wiring.chat.service.override(my_service):
        ...  # every caller of wiring.chat.service() gets my_service

and ``reset_all()`` forgets every built value and the settings, so the next call rebuilds
from the current environment.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

_registry: list[Provider[object]] = []


class Provider(Generic[T]):
    """A lazily built value. With ``retry_after``, a failed build is remembered and its error
    raised again, without rebuilding, until that many seconds have passed (a missing model is
    not reloaded on every request)."""

    def __init__(
        self, name: str, build: Callable[[], T], *, retry_after: float | None = None
    ) -> None:
        self.name = name
        self._build = build
        self._retry_after = retry_after
        self._value: T | None = None
        self._failure: tuple[float, BaseException] | None = None
        self._lock = threading.RLock()
        _registry.append(self)  # type: ignore[arg-type]

    def __call__(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is not None:
                return self._value
            failed, retry = self._failure, self._retry_after
            if failed is not None and retry is not None and time.monotonic() - failed[0] < retry:
                raise _again(failed[1])
            try:
                self._value = self._build()
            except Exception as exc:
                self._failure = (time.monotonic(), exc)
                raise
            self._failure = None
            return self._value

    def built(self) -> T | None:
        """The value if it has been built, without building it."""
        return self._value

    def reset(self) -> None:
        """Forget the value and any remembered failure; the next call rebuilds."""
        with self._lock:
            self._value = None
            self._failure = None

    @contextmanager
    def override(self, value: T) -> Iterator[T]:
        """Serve ``value`` inside the block; the previous state comes back after it."""
        with self._lock:
            saved = (self._value, self._failure)
            self._value, self._failure = value, None
        try:
            yield value
        finally:
            with self._lock:
                self._value, self._failure = saved

    def __repr__(self) -> str:
        return f"Provider({self.name!r}, built={self._value is not None})"


def _again(error: BaseException) -> BaseException:
    """A fresh copy of a remembered error: raising the same object again and again would
    chain every request's frames onto its traceback (and keep them alive) until the retry."""
    try:
        return copy.copy(error).with_traceback(None)
    except Exception:  # an exception type that cannot be copied: raise the original
        return error


def reset_all() -> None:
    """Forget every built dependency and the cached settings (tests, after changing the
    environment)."""
    from recoengine.config import settings

    settings.cache_clear()
    for provider in _registry:
        provider.reset()
