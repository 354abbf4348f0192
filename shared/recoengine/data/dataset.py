"""The dataset every model trains on: a catalog, users with persona attributes, interactions.

Interactions keep the input file's row order. Chronological order is a *stable* sort by
timestamp, so equal timestamps keep that row order (the team's protocol: never break ties by
item id, which carries popularity and release order).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    item_ids: list[str]
    titles: list[str]
    item_features: list[list[str]]
    user_ids: list[str]
    user_attrs: dict[str, list[str]]  # attribute name -> value per user ("" when unknown)
    users: np.ndarray  # int32 user index per interaction, file order
    items: np.ndarray  # int32 item index per interaction, file order
    timestamps: np.ndarray  # float64 seconds since the epoch
    weights: np.ndarray  # float32 interaction strength (1.0 for implicit feedback)
    name: str = "dataset"
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._item_index = {iid: i for i, iid in enumerate(self.item_ids)}
        self._user_index = {uid: u for u, uid in enumerate(self.user_ids)}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return int(self.users.shape[0])

    def item_index(self, item_id: str) -> int | None:
        return self._item_index.get(item_id)

    def user_index(self, user_id: str) -> int | None:
        return self._user_index.get(user_id)

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

    def fingerprint(self) -> str:
        """A content hash: the artifact records which data it was trained on."""
        h = hashlib.sha256()
        for arr in (self.users, self.items, self.timestamps, self.weights):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\x1f".join(self.item_ids).encode())
        h.update("\x1f".join(self.user_ids).encode())
        h.update("\x1f".join("|".join(f) for f in self.item_features).encode())
        return h.hexdigest()
