"""CB: content-based scores from item feature tokens (genres, tags).

Items are TF-IDF vectors over their tokens, L2-normalised; a user's profile is the
recency-weighted mean of their history's vectors; an item's score is its cosine with the
profile. It answers for items nobody has interacted with yet (new catalog entries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recoengine.models import kernels
from recoengine.models.history import recency_weights


@dataclass
class CBParams:
    half_life: float = 30.0
    max_history: int = 100


class ContentModel:
    def __init__(self, params: CBParams | None = None) -> None:
        self.params = params or CBParams()
        self.vocabulary: list[str] = []
        self._matrix: np.ndarray | None = None
        self._items: kernels.Csr | None = None  # the matrix, sparse
        self._tokens: kernels.Csr | None = None  # its transpose, sparse
        self._all_tokens = np.zeros(0, dtype=np.int32)

    def fit(self, item_features: list[list[str]]) -> ContentModel:
        vocab = sorted({t for feats in item_features for t in feats})
        index = {t: j for j, t in enumerate(vocab)}
        m = np.zeros((len(item_features), max(len(vocab), 1)), dtype=np.float32)
        for i, feats in enumerate(item_features):
            for t in feats:
                m[i, index[t]] = 1.0
        df = m.sum(axis=0)
        idf = np.log((1.0 + len(item_features)) / (1.0 + df)) + 1.0
        m *= idf.astype(np.float32)
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        m = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
        self.vocabulary = vocab
        self.matrix = m
        return self

    @property
    def matrix(self) -> np.ndarray | None:
        """Items x tokens, rows L2-normalised; scored in sparse form (an item has few tokens)."""
        return self._matrix

    @matrix.setter
    def matrix(self, matrix: np.ndarray | None) -> None:
        self._matrix = matrix
        if matrix is None:
            self._items = self._tokens = None
            return
        self._items, self._tokens = kernels.Csr.from_dense(matrix), kernels.Csr.from_dense(matrix.T)
        self._all_tokens = np.arange(matrix.shape[1], dtype=np.int32)

    def profile(self, history: np.ndarray) -> np.ndarray:
        items = self._items
        assert items is not None
        recent = np.asarray(history[-self.params.max_history :], dtype=np.int32)
        profile = np.empty(items.n_columns, dtype=np.float32)
        weights = recency_weights(len(recent), self.params.half_life)
        kernels.csr_weighted_row_sum(items, recent, weights, profile, False)
        return profile

    def score(self, history: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Cosine-like score of every item with the profile: the profile-weighted sum of the
        token rows of the transposed matrix (sparse: an item carries a few tokens)."""
        assert self._items is not None and self._tokens is not None
        out = np.empty(self._items.n_rows, dtype=np.float32) if out is None else out
        profile = self.profile(history)
        kernels.csr_weighted_row_sum(self._tokens, self._all_tokens, profile, out, False)
        return out

    def feature_mask(self, tokens: list[str], all_of: bool = False) -> np.ndarray:
        """Items that carry any (or, with ``all_of``, every) one of ``tokens`` (unknown tokens
        match nothing)."""
        assert self.matrix is not None
        idx = [self.vocabulary.index(t) for t in tokens if t in self.vocabulary]
        if not idx:
            return np.zeros(self.matrix.shape[0], dtype=bool)
        hits = self.matrix[:, idx] > 0
        return np.asarray(hits.all(axis=1) if all_of else hits.any(axis=1), dtype=bool)
