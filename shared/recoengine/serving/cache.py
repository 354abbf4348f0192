"""A bounded in-instance cache of recent results with a short TTL and hit/miss counters.

Each lookup also calls ``on_hit`` or ``on_miss`` (the wiring passes the Prometheus counters'
``inc``), so serving reports its metrics without importing the web layer.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


def _nothing() -> None:
    pass


class TTLCache(Generic[V]):
    def __init__(
        self,
        max_size: int,
        ttl_seconds: float,
        *,
        on_hit: Callable[[], None] = _nothing,
        on_miss: Callable[[], None] = _nothing,
    ) -> None:
        self.max_size = max_size
        self.ttl = ttl_seconds
        self._on_hit = on_hit
        self._on_miss = on_miss
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_size > 0 and self.ttl > 0

    def get(self, key: Hashable) -> V | None:
        if not self.enabled:
            return None
        now = time.monotonic()
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry[0] > now:
                self._data.move_to_end(key)
                self.hits += 1
                self._on_hit()
                return entry[1]
            if entry is not None:
                del self._data[key]
            self.misses += 1
        self._on_miss()
        return None

    def put(self, key: Hashable, value: V) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry (the catalog changed: no answer computed before may be served)."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def stats(self) -> dict[str, float]:
        total = self.hits + self.misses
        return {
            "size": len(self._data),
            "max_size": self.max_size,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / total if total else 0.0,
        }
