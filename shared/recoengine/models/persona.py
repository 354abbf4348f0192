"""PA: persona affinity — how strongly each item fits the user's persona segment.

For each persona attribute (age band, occupation, ...) and each of its values, the log-lift of
an item's share of that segment's interactions over its global share, shrunk towards zero for
small segments. A user's affinity is the mean over their known attributes. It needs no history,
so it serves cold-start users whose persona is given in the request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PAParams:
    shrinkage: float = 50.0  # pseudo-count pulling small segments towards the global share
    popularity_weight: float = 1.0  # how much global popularity adds to the segment lift


class PersonaModel:
    def __init__(self, params: PAParams | None = None) -> None:
        self.params = params or PAParams()
        self.segments: dict[str, dict[str, int]] = {}  # attribute -> value -> row
        self.lift: np.ndarray | None = None  # n_segment_rows x n_items
        self.log_popularity: np.ndarray | None = None
        self._memo: dict[tuple[int, ...], np.ndarray] = {}

    def fit(
        self,
        user_attrs: dict[str, list[str]],
        users: np.ndarray,
        items: np.ndarray,
        weights: np.ndarray,
        n_items: int,
    ) -> PersonaModel:
        p = self.params
        self._memo = {}
        counts = np.bincount(items, weights=weights, minlength=n_items).astype(np.float64)
        share = (counts + 1.0) / (counts.sum() + n_items)
        self.log_popularity = np.log(share).astype(np.float32)
        rows: list[np.ndarray] = []
        self.segments = {}
        for attr, values in sorted(user_attrs.items()):
            value_of_user = np.asarray(values, dtype=object)
            distinct = sorted({v for v in values if v})
            if len(distinct) < 2 or len(distinct) > 200:
                continue  # constant or id-like attributes carry no segment signal
            self.segments[attr] = {}
            for value in distinct:
                mask = value_of_user[users] == value
                seg = np.bincount(items[mask], weights=weights[mask], minlength=n_items)
                seg_share = (seg + p.shrinkage * share) / (seg.sum() + p.shrinkage)
                self.segments[attr][value] = len(rows)
                rows.append(np.log(seg_share / share))
        self.lift = (
            np.vstack(rows).astype(np.float32) if rows else np.zeros((0, n_items), np.float32)
        )
        return self

    def rows_for(self, persona: dict[str, str]) -> list[int]:
        return [
            self.segments[a][v]
            for a, v in persona.items()
            if a in self.segments and v in self.segments[a]
        ]

    def score_rows(self, rows: list[int]) -> np.ndarray:
        """Affinity of every item for the segment rows (memoised: personas repeat a lot)."""
        key = tuple(rows)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        assert self.lift is not None and self.log_popularity is not None
        scores = np.float32(self.params.popularity_weight) * self.log_popularity
        if rows:
            scores = scores + self.lift[rows].mean(axis=0)
        scores.flags.writeable = False
        if len(self._memo) < 4096:
            self._memo[key] = scores
        return scores
