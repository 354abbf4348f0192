"""Per-user chronological histories, the input of every component."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from recoengine.data.dataset import Dataset


@dataclass(frozen=True)
class Histories:
    """Every user's item indices in chronological order, as one CSR-like pair of arrays (a list
    of a million small arrays would cost ~100 bytes of overhead each)."""

    indptr: np.ndarray  # int64, n_users + 1
    items: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user] : self.indptr[user + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[u] for u in range(len(self)))

    @staticmethod
    def from_lists(lists: list[np.ndarray]) -> Histories:
        indptr = np.zeros(len(lists) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(h) for h in lists])
        items = np.concatenate(lists).astype(np.int32) if lists else np.zeros(0, np.int32)
        return Histories(indptr, items)


def histories(data: Dataset) -> Histories:
    """Each user's item indices ordered by time (stable: equal timestamps keep file order)."""
    order = data.chronological()
    items = np.ascontiguousarray(data.items[order], dtype=np.int32)
    indptr = np.zeros(data.n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(data.users, minlength=data.n_users), out=indptr[1:])
    return Histories(indptr, items)


@lru_cache(maxsize=1024)
def recency_weights(length: int, half_life: float) -> np.ndarray:
    """Weights that halve every ``half_life`` steps back from the most recent item (cached:
    serving asks for the same few lengths over and over; the result is read-only)."""
    if length == 0:
        return np.zeros(0, dtype=np.float32)
    age = np.arange(length - 1, -1, -1, dtype=np.float32)
    weights = np.power(np.float32(0.5), age / np.float32(max(half_life, 1e-3)))
    weights.flags.writeable = False
    return weights
