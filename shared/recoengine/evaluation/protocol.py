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
    test_users: np.ndarray  # user index of each held-out case
    test_items: np.ndarray  # the held-out item of each case
    # Held-out items of the same user that precede the case (its history beyond ``train``):
    # empty for the test protocol (one case per user), used by multi-step validation.
    test_prefix: list[np.ndarray]


def leave_last_out(data: Dataset, n_holdout: int = 1, min_train: int = 1) -> Split:
    """Hold out each user's last ``n_holdout`` interactions (chronological, stable ties).

    Users who would keep fewer than ``min_train`` training interactions keep everything. With
    ``n_holdout > 1`` each held-out item is a case predicted from the training history plus
    the held-out items before it: several next-item cases per user, for a validation set
    large enough to choose hyper-parameters on without chasing noise.
    """
    order = data.chronological()
    users = data.users[order]
    counts = np.bincount(users, minlength=data.n_users)
    ends = np.cumsum(counts)  # one past each user's last position in ``order``
    from_end = ends[users] - 1 - np.arange(len(order))
    held = (from_end < n_holdout) & (counts[users] >= n_holdout + min_train)
    held_positions = order[held]  # chronological within each user
    keep = np.ones(data.n_interactions, dtype=bool)
    keep[held_positions] = False
    case_users = data.users[held_positions].astype(np.int32)
    case_items = data.items[held_positions].astype(np.int32)
    prefix: list[np.ndarray] = []
    for n in range(len(held_positions)):
        start = n
        while start > 0 and case_users[start - 1] == case_users[n]:
            start -= 1
        prefix.append(case_items[start:n])
    return Split(
        train=data.subset(np.flatnonzero(keep)),
        test_users=case_users,
        test_items=case_items,
        test_prefix=prefix,
    )
