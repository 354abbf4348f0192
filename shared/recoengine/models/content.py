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
        self.matrix: np.ndarray | None = None  # n_items x n_tokens, rows L2-normalised
        self._csr: tuple[kernels.Csr, kernels.Csr] | None = None
        self._all_tokens = np.zeros(0, dtype=np.int32)
        self._csr_of: np.ndarray | None = None

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

    def profile(self, history: np.ndarray) -> np.ndarray:
        items, _ = self._sparse()
        recent = np.asarray(history[-self.params.max_history :], dtype=np.int32)
        profile = np.empty(items.n_columns, dtype=np.float32)
        weights = recency_weights(len(recent), self.params.half_life)
        kernels.csr_weighted_row_sum(items, recent, weights, profile, False)
        return profile

    def score(self, history: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Cosine-like score of every item with the profile: the profile-weighted sum of the
        token rows of the transposed matrix (sparse: an item carries a few tokens)."""
        items, tokens = self._sparse()
        out = np.empty(items.n_rows, dtype=np.float32) if out is None else out
        kernels.csr_weighted_row_sum(tokens, self._all_tokens, self.profile(history), out, False)
        return out

    def _sparse(self) -> tuple[kernels.Csr, kernels.Csr]:
        """The matrix (items x tokens) and its transpose in sparse form, built once per fitted
        or loaded matrix."""
        assert self.matrix is not None
        if self._csr is None or self._csr_of is not self.matrix:
            self._csr = (kernels.Csr.from_dense(self.matrix), kernels.Csr.from_dense(self.matrix.T))
            self._all_tokens = np.arange(self.matrix.shape[1], dtype=np.int32)
            self._csr_of = self.matrix
        return self._csr

    def feature_mask(self, tokens: list[str]) -> np.ndarray:
        """Items that carry at least one of ``tokens`` (unknown tokens match nothing)."""
        assert self.matrix is not None
        idx = [self.vocabulary.index(t) for t in tokens if t in self.vocabulary]
        if not idx:
            return np.zeros(self.matrix.shape[0], dtype=bool)
        return np.asarray((self.matrix[:, idx] > 0).any(axis=1), dtype=bool)
