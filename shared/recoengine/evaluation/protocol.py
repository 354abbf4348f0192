"""The team's protocol: per user, the chronologically last interaction is held out.

Chronological order is a stable sort by timestamp, so equal timestamps keep the input file's
row order; ties are never broken by item id (ids carry popularity and release order, and that
rule alone halves ALS's score on ML-100K). The validation split for tuning applies the same
rule to the training data only, so tuning never sees a test item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recoengine.data.dataset import Dataset


@dataclass
class Split:
    train: Dataset
    test_users: np.ndarray  # user indices that have a held-out item
    test_items: np.ndarray  # the held-out item per test user


def leave_last_out(data: Dataset, min_history: int = 2) -> Split:
    """Hold out each user's last interaction (users with fewer than ``min_history`` keep all)."""
    order = data.chronological()
    users = data.users[order]
    last_pos = np.flatnonzero(np.r_[users[1:] != users[:-1], True])
    counts = np.bincount(users, minlength=data.n_users)
    held = last_pos[counts[users[last_pos]] >= min_history]
    held_positions = order[held]
    keep = np.ones(data.n_interactions, dtype=bool)
    keep[held_positions] = False
    return Split(
        train=data.subset(np.flatnonzero(keep)),
        test_users=data.users[held_positions].astype(np.int32),
        test_items=data.items[held_positions].astype(np.int32),
    )
