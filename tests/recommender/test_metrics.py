"""Metrics and the protocol on hand-made cases with known answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from recoengine.data.dataset import Dataset
from recoengine.evaluation import metrics
from recoengine.evaluation.protocol import leave_last_out
from recoengine.evaluation.stats import paired_ci


def test_rank_excludes_history_and_counts_ties_half() -> None:
    scores = np.array([0.9, 0.5, 0.7, 0.5, 0.1])
    assert metrics.rank_of(scores, 1, exclude=np.array([0])) == 1.5  # 0.7 above, one tie
    assert metrics.rank_of(scores, 2, exclude=np.array([0])) == 0.0


def test_ndcg_and_hit_known_values() -> None:
    ranks = np.array([0.0, 1.0, 9.0, 10.0])
    assert metrics.ndcg_at(ranks, 10).tolist() == pytest.approx(
        [1.0, 1 / math.log2(3), 1 / math.log2(11), 0.0]
    )
    assert metrics.hit_at(ranks, 10).tolist() == [1, 1, 1, 0]
    assert metrics.hit_at(ranks, 2).tolist() == [1, 1, 0, 0]


def test_sampled_rank_and_negatives() -> None:
    rng = np.random.default_rng(0)
    neg = metrics.sample_negatives(rng, 10, np.array([0, 1, 2]), n=5)
    assert len(set(neg.tolist())) == 5 and not {0, 1, 2} & set(neg.tolist())
    scores = np.arange(10, dtype=float)
    assert metrics.sampled_rank(scores, 3, np.array([4, 5, 1])) == 2.0


def test_expected_sampled_hit_is_the_chance_over_all_draws() -> None:
    # Nothing above the target: always a hit. Everything else above it: never (2 of 2 drawn).
    assert metrics.expected_sampled_hit(0, pool=10, n_negatives=2) == 1.0
    assert metrics.expected_sampled_hit(10, pool=10, n_negatives=2, k=1) == 0.0
    # 1 of 3 candidates above the target, 2 drawn, top-1: a hit when that one is not drawn.
    assert metrics.expected_sampled_hit(1, pool=3, n_negatives=2, k=1) == pytest.approx(1 / 3)
    # The same by brute force over a larger case: every draw of 4 from 9 items, 3 above.
    draws = list(itertools.combinations(range(9), 4))
    hits = sum(sum(1 for i in d if i < 3) < 2 for d in draws) / len(draws)
    assert metrics.expected_sampled_hit(3, pool=9, n_negatives=4) == pytest.approx(hits)
    # Ties count half in the rank; the draw count is capped by the pool.
    assert metrics.expected_sampled_hit(0.4, pool=5, n_negatives=99) == 1.0


def test_paired_ci_detects_a_real_difference_only() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0.5, 0.1, 500)
    assert paired_ci(a + 0.05, a).significant
    assert not paired_ci(a + rng.normal(0, 0.1, 500), a + rng.normal(0, 0.1, 500)).significant


def _data(users, items, stamps) -> Dataset:
    return Dataset(
        item_ids=[f"i{i}" for i in range(5)],
        titles=[f"t{i}" for i in range(5)],
        item_features=[[] for _ in range(5)],
        user_ids=["a", "b"],
        user_attrs={},
        users=np.array(users, np.int32),
        items=np.array(items, np.int32),
        timestamps=np.array(stamps, float),
        weights=np.ones(len(users), np.float32),
    )


def test_leave_last_out_keeps_file_order_on_equal_timestamps() -> None:
    # user a rates items 4 then 1 in the same second: the later row (item 1) is held out,
    # not the lower or higher item id.
    d = _data([0, 0, 0, 1, 1], [2, 4, 1, 3, 0], [5, 9, 9, 1, 2])
    split = leave_last_out(d)
    assert dict(zip(split.test_users.tolist(), split.test_items.tolist(), strict=True)) == {
        0: 1,
        1: 0,
    }
    assert split.train.n_interactions == 3
    assert sorted(split.train.items.tolist()) == [2, 3, 4]


def test_multi_step_holdout_predicts_each_item_from_its_prefix() -> None:
    d = _data([0, 0, 0, 0, 0, 1, 1], [0, 1, 2, 3, 4, 1, 2], [1, 2, 3, 4, 5, 1, 2])
    split = leave_last_out(d, n_holdout=3)
    assert split.test_users.tolist() == [0, 0, 0]  # user b keeps everything (too short)
    assert split.test_items.tolist() == [2, 3, 4]
    assert [p.tolist() for p in split.test_prefix] == [[], [2], [2, 3]]
    assert sorted(split.train.items.tolist()) == [0, 1, 1, 2]
