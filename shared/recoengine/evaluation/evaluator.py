"""Scores a model under the protocol: full-ranking HR@10/NDCG@10/HR@2 and sampled HR@2 (the
seeded draw, and its expectation over all draws given the target's full rank)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recoengine.evaluation import metrics
from recoengine.evaluation.protocol import Split
from recoengine.models.history import histories

ScoreFn = Callable[[int, np.ndarray], np.ndarray]  # (user index, train history) -> item scores


@dataclass
class PerUser:
    ndcg10: np.ndarray
    hr10: np.ndarray
    hr2: np.ndarray
    sampled_hr2: np.ndarray
    expected_sampled_hr2: np.ndarray

    def summary(self) -> dict[str, float]:
        return {
            "ndcg10": float(self.ndcg10.mean()),
            "hr10": float(self.hr10.mean()),
            "hr2": float(self.hr2.mean()),
            "sampled_hr2": float(self.sampled_hr2.mean()),
            "expected_sampled_hr2": float(self.expected_sampled_hr2.mean()),
        }


class Evaluator:
    """Fixes the split, each case's history and the sampled negatives (fixed seed), so every
    model is scored on exactly the same cases."""

    def __init__(self, split: Split, seed: int = 2024, n_negatives: int = 99) -> None:
        self.split = split
        self.histories = histories(split.train)
        n_items = split.train.n_items
        self.case_histories = [
            np.concatenate([self.histories[u], p]) if len(p) else self.histories[u]
            for u, p in zip(split.test_users, split.test_prefix, strict=True)
        ]
        # Candidates a case's target competes with: the catalog minus its history and itself.
        self.pools = [
            n_items - len(np.unique(np.append(h, t)))
            for h, t in zip(self.case_histories, split.test_items, strict=True)
        ]
        self.n_negatives = n_negatives
        rng = np.random.default_rng(seed)
        self.negatives = [
            metrics.sample_negatives(rng, n_items, np.append(h, t), n_negatives)
            for h, t in zip(self.case_histories, split.test_items, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.split.test_items)

    def run(self, score: ScoreFn) -> PerUser:
        ranks = np.empty(len(self))
        sampled = np.empty(len(self))
        expected = np.empty(len(self))
        cases = zip(self.split.test_users, self.split.test_items, self.case_histories, strict=True)
        for n, (u, t, hist) in enumerate(cases):
            s = score(int(u), hist)
            ranks[n] = metrics.rank_of(s, int(t), hist)
            sampled[n] = metrics.sampled_rank(s, int(t), self.negatives[n])
            expected[n] = metrics.expected_sampled_hit(ranks[n], self.pools[n], self.n_negatives)
        return self.from_ranks(ranks, sampled, expected)

    @staticmethod
    def from_ranks(ranks: np.ndarray, sampled: np.ndarray, expected: np.ndarray) -> PerUser:
        return PerUser(
            ndcg10=metrics.ndcg_at(ranks, 10),
            hr10=metrics.hit_at(ranks, 10),
            hr2=metrics.hit_at(ranks, 2),
            sampled_hr2=metrics.hit_at(sampled, 2),
            expected_sampled_hr2=expected,
        )
