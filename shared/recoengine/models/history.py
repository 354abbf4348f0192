"""Per-user chronological histories, the input of every component."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from recoengine.data.dataset import Dataset


def histories(data: Dataset) -> list[np.ndarray]:
    """Each user's item indices ordered by time (stable: equal timestamps keep file order)."""
    order = data.chronological()
    users = data.users[order]
    items = data.items[order]
    bounds = np.searchsorted(users, np.arange(data.n_users + 1))
    return [items[bounds[u] : bounds[u + 1]].astype(np.int32) for u in range(data.n_users)]


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
