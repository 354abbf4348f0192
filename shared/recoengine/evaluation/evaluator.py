"""Scores a model under the protocol: full-ranking HR@10/NDCG@10/HR@2 and sampled HR@2 (the
seeded draw, and its expectation over all draws given the target's full rank).

A model may score the whole catalog (a dense array, as the peers do) or only its candidates
(``(items, scores)``, as two-stage serving does): every item it did not score ranks below every
item it did, in random order (ties count half), which is exactly what a user would see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recoengine.evaluation import metrics
from recoengine.evaluation.protocol import Split
from recoengine.models.history import histories

Scores = np.ndarray | tuple[np.ndarray, np.ndarray]
ScoreFn = Callable[[int, np.ndarray], Scores]  # (user index, history) -> scores


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
    model is scored on exactly the same cases. ``max_users`` keeps the cases of a seeded sample
    of users (validation on very large data sets); by default every case counts."""

    def __init__(
        self,
        split: Split,
        seed: int = 2024,
        n_negatives: int = 99,
        max_users: int | None = None,
    ) -> None:
        rng = np.random.default_rng(seed)
        keep = np.arange(len(split.test_items))
        users = np.unique(split.test_users)
        if max_users is not None and len(users) > max_users:
            chosen = rng.choice(users, size=max_users, replace=False)
            keep = np.flatnonzero(np.isin(split.test_users, chosen))
        self.split = split
        self.users = split.test_users[keep]
        self.targets = split.test_items[keep]
        train_histories = histories(split.train)
        self.case_histories = [
            np.concatenate([train_histories[int(split.test_users[n])], split.test_prefix[n]])
            if len(split.test_prefix[n])
            else train_histories[int(split.test_users[n])]
            for n in keep
        ]
        n_items = split.train.n_items
        # Candidates a case's target competes with: the catalog minus its history and itself.
        self.pools = [
            n_items - len(np.unique(np.append(h, t)))
            for h, t in zip(self.case_histories, self.targets, strict=True)
        ]
        self.n_negatives = n_negatives
        # Scratch for candidate scores: filled and reset per case (cost follows the candidates).
        self._scratch = np.full(n_items, -np.inf)
        self.negatives = [
            metrics.sample_negatives(rng, n_items, np.append(h, t), n_negatives)
            for h, t in zip(self.case_histories, self.targets, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.targets)

    def ranks(self, n: int, scores: Scores) -> tuple[float, float]:
        """(full rank, rank among the sampled negatives) of case ``n``'s target."""
        target, hist = int(self.targets[n]), self.case_histories[n]
        if isinstance(scores, tuple):
            items, values = scores
            self._scratch[items] = values
            target_score = float(self._scratch[target])
            negative_scores = self._scratch[self.negatives[n]]
            self._scratch[items] = -np.inf
            return metrics.candidate_ranks(values, target_score, self.pools[n], negative_scores)
        return metrics.rank_of(scores, target, hist), metrics.sampled_rank(
            scores, target, self.negatives[n]
        )

    def run(self, score: ScoreFn) -> PerUser:
        ranks = np.empty(len(self))
        sampled = np.empty(len(self))
        expected = np.empty(len(self))
        for n, (u, hist) in enumerate(zip(self.users, self.case_histories, strict=True)):
            ranks[n], sampled[n] = self.ranks(n, score(int(u), hist))
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
