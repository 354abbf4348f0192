"""PA: persona affinity — how strongly each item fits the user's persona segment.

For each persona attribute (age band, occupation, ...) and each of its values, the log-lift of
an item's share of that segment's interactions over its global share, shrunk towards zero for
small segments. A user's affinity is the mean over their known attributes, plus global
popularity. It needs no history, so it serves cold-start users whose persona is given in the
request. Each segment's best items and the globally popular ones are kept as candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PAParams:
    shrinkage: float = 50.0  # pseudo-count pulling small segments towards the global share
    popularity_weight: float = 1.0  # how much global popularity adds to the segment lift
    candidates: int = 100  # the popular items, and each segment's best, offered as candidates


class PersonaModel:
    def __init__(
        self,
        segments: dict[str, dict[str, int]],
        lift: np.ndarray,
        log_popularity: np.ndarray,
        segment_top: np.ndarray,
        popular: np.ndarray,
        params: PAParams | None = None,
    ) -> None:
        self.params = params or PAParams()
        self.segments = segments  # attribute -> value -> row of ``lift``
        self.lift = lift  # n_segment_rows x n_items
        self.log_popularity = log_popularity
        self.segment_top = segment_top  # n_segment_rows x candidates, best first
        self.popular = popular  # every item, most popular first

    @staticmethod
    def fit(
        user_attrs: dict[str, list[str]],
        users: np.ndarray,
        items: np.ndarray,
        weights: np.ndarray,
        n_items: int,
        params: PAParams | None = None,
    ) -> PersonaModel:
        p = params or PAParams()
        counts = np.bincount(items, weights=weights, minlength=n_items).astype(np.float64)
        share = (counts + 1.0) / (counts.sum() + n_items)
        log_popularity = np.log(share).astype(np.float32)
        rows: list[np.ndarray] = []
        segments: dict[str, dict[str, int]] = {}
        for attr, values in sorted(user_attrs.items()):
            distinct = sorted({v for v in values if v})
            if len(distinct) < 2 or len(distinct) > 200:
                continue  # constant or id-like attributes carry no segment signal
            codes = {v: c for c, v in enumerate(distinct)}
            user_code = np.fromiter((codes.get(v, -1) for v in values), np.int64, len(values))
            code = user_code[users]
            segments[attr] = {}
            for value, c in codes.items():
                mask = code == c
                seg = np.bincount(items[mask], weights=weights[mask], minlength=n_items)
                seg_share = (seg + p.shrinkage * share) / (seg.sum() + p.shrinkage)
                segments[attr][value] = len(rows)
                rows.append(np.log(seg_share / share))
        lift = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, n_items), np.float32)
        m = min(p.candidates, n_items)
        affinity = np.float32(p.popularity_weight) * log_popularity + lift
        segment_top = _top_rows(affinity, m)
        popular = np.lexsort((np.arange(n_items), -log_popularity)).astype(np.int32)
        return PersonaModel(segments, lift, log_popularity, segment_top, popular, p)

    def with_items(
        self, lift: np.ndarray, log_popularity: np.ndarray | None = None
    ) -> PersonaModel:
        """This model with items appended (a catalog update): ``lift`` holds each new item's
        segment lifts (a column per item, a prior such as its most similar items' lifts) and
        ``log_popularity`` their prior popularity (default: the least popular item's, since
        nobody has seen them yet). They join the popular list last and the segments' best lists
        not at all. Costs one copy of the segments x items lift matrix."""
        n_new = lift.shape[1]
        n = self.log_popularity.shape[0]
        floor = self.log_popularity.min() if n else np.float32(0.0)
        return PersonaModel(
            self.segments,
            np.concatenate([self.lift, lift.astype(np.float32)], axis=1),
            np.concatenate(
                [
                    self.log_popularity,
                    np.full(n_new, floor, np.float32)
                    if log_popularity is None
                    else log_popularity.astype(np.float32),
                ]
            ),
            self.segment_top,
            np.concatenate([self.popular, np.arange(n, n + n_new, dtype=np.int32)]),
            self.params,
        )

    def rows_for(self, persona: dict[str, str]) -> list[int]:
        return [
            self.segments[a][v]
            for a, v in persona.items()
            if a in self.segments and v in self.segments[a]
        ]

    def candidates(self, rows: list[int], k: int = 0) -> np.ndarray:
        """The ``max(candidates, k)`` most popular items and the best items of the segments
        ``rows``."""
        popular = self.popular[: max(self.params.candidates, k)]
        if not rows:
            return popular
        return np.concatenate([popular, self.segment_top[rows].ravel()])

    def score(self, rows: list[int], candidates: np.ndarray, out: np.ndarray) -> None:
        """Affinity of each candidate for the segment rows, written into ``out``."""
        out[:] = self.log_popularity[candidates]
        if self.params.popularity_weight != 1.0:
            out *= np.float32(self.params.popularity_weight)
        if rows:
            lift = self.lift[rows[0], candidates]
            for r in rows[1:]:
                lift = lift + self.lift[r, candidates]
            out += lift / np.float32(len(rows))


def _top_rows(scores: np.ndarray, m: int) -> np.ndarray:
    """Per row, the indices of the ``m`` highest scores, best first (ties: lower index)."""
    if scores.shape[0] == 0 or m == 0:
        return np.zeros((scores.shape[0], m), dtype=np.int32)
    part = np.argpartition(-scores, m - 1, axis=1)[:, :m] if m < scores.shape[1] else None
    cols = part if part is not None else np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    top = np.empty((scores.shape[0], m), dtype=np.int32)
    for r in range(scores.shape[0]):
        c = cols[r]
        top[r] = c[np.lexsort((c, -scores[r, c]))]
    return top
