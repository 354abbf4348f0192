"""The dataset every model trains on: a catalog, users with persona attributes, interactions.

Interactions keep the input file's row order. Chronological order is a *stable* sort by
timestamp, so equal timestamps keep that row order (the team's protocol: never break ties by
item id, which carries popularity and release order).

Sized for 10^7 interactions and 10^6 users or items: the interactions are four flat numpy
arrays (about 20 bytes each), and the id -> index dictionaries are built on the first lookup
only, since training never needs them (about 100 bytes per id when they are built).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass
class Dataset:
    item_ids: list[str]
    titles: list[str]
    item_features: list[list[str]]  # original-case tokens (shown to users)
    user_ids: list[str]
    user_attrs: dict[str, list[str]]  # attribute name -> value per user ("" when unknown)
    users: np.ndarray  # int32 user index per interaction, file order
    items: np.ndarray  # int32 item index per interaction, file order
    timestamps: np.ndarray  # float64 seconds since the epoch (sequences: position in the line)
    weights: np.ndarray  # float32 interaction strength (1.0 for implicit feedback)
    name: str = "dataset"

    def __post_init__(self) -> None:
        # No copies when the loaders already hand over the documented dtypes.
        self.users = np.asarray(self.users, dtype=np.int32)
        self.items = np.asarray(self.items, dtype=np.int32)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        self.weights = np.asarray(self.weights, dtype=np.float32)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return int(self.users.shape[0])

    def chronological(self) -> np.ndarray:
        """Interaction positions sorted by (user, timestamp); ties keep file order (stable)."""
        by_time = np.argsort(self.timestamps, kind="stable")
        return by_time[np.argsort(self.users[by_time], kind="stable")]

    def subset(self, keep: np.ndarray) -> Dataset:
        """The same catalog and users with only the interactions at positions ``keep``."""
        keep = np.sort(keep)  # preserve file order
        return Dataset(
            item_ids=self.item_ids,
            titles=self.titles,
            item_features=self.item_features,
            user_ids=self.user_ids,
            user_attrs=self.user_attrs,
            users=self.users[keep],
            items=self.items[keep],
            timestamps=self.timestamps[keep],
            weights=self.weights[keep],
            name=self.name,
        )

    def without_items(self, drop: np.ndarray, keep_rows: np.ndarray) -> Dataset:
        """The catalog without the items ``drop`` (a mask over items), with only the
        interactions ``keep_rows`` (a mask over interactions; none may involve a dropped item),
        item indices renumbered."""
        kept = ~drop
        new_index = np.cumsum(kept, dtype=np.int64) - 1
        return Dataset(
            item_ids=[i for i, k in zip(self.item_ids, kept, strict=True) if k],
            titles=[t for t, k in zip(self.titles, kept, strict=True) if k],
            item_features=[f for f, k in zip(self.item_features, kept, strict=True) if k],
            user_ids=self.user_ids,
            user_attrs=self.user_attrs,
            users=self.users[keep_rows],
            items=new_index[self.items[keep_rows]].astype(np.int32),
            timestamps=self.timestamps[keep_rows],
            weights=self.weights[keep_rows],
            name=self.name,
        )

    def nbytes(self) -> int:
        """Bytes held by the interaction arrays (the part that grows with the data)."""
        return sum(a.nbytes for a in (self.users, self.items, self.timestamps, self.weights))

    def fingerprint(self) -> str:
        """A content hash: the artifact records which data it was trained on."""
        h = hashlib.sha256()
        for arr in (self.users, self.items, self.timestamps, self.weights):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\x1f".join(self.item_ids).encode())
        h.update("\x1f".join(self.user_ids).encode())
        h.update("\x1f".join("|".join(f) for f in self.item_features).encode())
        return h.hexdigest()
