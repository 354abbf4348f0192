"""The validation split training tunes on: test-like (one last-item case per user) when users
are many, several cases per user only when they are too few for a stable validation set."""

from __future__ import annotations

import numpy as np
import pytest

from recoengine import training
from recoengine.data.demo import generate


@pytest.mark.parametrize(
    ("n_users", "cases", "per_user"),
    [(150, 15_000, 5), (150, 300, 2), (150, 150, 1), (150, 10, 1)],
)
def test_cases_per_user_follow_the_number_of_users(
    monkeypatch: pytest.MonkeyPatch, n_users: int, cases: int, per_user: int
) -> None:
    monkeypatch.setattr(training, "VALIDATION_CASES", cases)
    data = generate(n_users=n_users, n_items=120, per_user=12, seed=2)
    assert training.validation_cases_per_user(data) == per_user


def test_many_users_give_one_last_item_case_each_from_a_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With more users than the cases wanted: one case per sampled user, each user's last
    interaction predicted from everything before it (the test protocol's case)."""
    monkeypatch.setattr(training, "VALIDATION_CASES", 40)
    data = generate(n_users=150, n_items=120, per_user=12, seed=2)
    split, ev = training.validation_split(data)
    assert len(ev) == 40 and len(np.unique(ev.users)) == 40
    assert all(len(p) == 0 for p in split.test_prefix)
    counts = np.bincount(data.users, minlength=data.n_users)
    kept = np.bincount(split.train.users, minlength=data.n_users)
    assert np.array_equal(kept[split.test_users], counts[split.test_users] - 1)


def test_few_users_give_several_cases_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "VALIDATION_CASES", 15_000)
    data = generate(n_users=50, n_items=120, per_user=12, seed=2)
    split, ev = training.validation_split(data)
    per_user = np.bincount(ev.users, minlength=data.n_users)
    assert per_user.max() == training.MAX_VALIDATION_CASES_PER_USER
    assert len(np.unique(ev.users)) == len(np.unique(split.test_users))  # no user left out
