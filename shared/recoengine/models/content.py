"""CB: content-based scores from item feature tokens (genres, tags).

Items are TF-IDF vectors over their tokens, L2-normalised and stored sparse (an item carries a
few tokens); a user's profile is the recency-weighted sum of their history's vectors; an item's
score is its dot product with the profile. It answers for items nobody has interacted with yet
(new catalog entries). The inverted index (token -> the items carrying it, most popular first)
gives a feature filter its candidates even when none of the user's neighbours carries the token.
Tokens match case-insensitively (``"comedy"`` finds ``Comedy``); the catalog keeps its spelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from recoengine.models import kernels
from recoengine.models.history import recency_weights
from recoengine.models.sparse import SparseRows


@dataclass
class CBParams:
    half_life: float = 30.0
    max_history: int = 100


class ContentModel:
    def __init__(
        self,
        items: SparseRows,
        vocabulary: list[str],
        token_items: SparseRows,
        params: CBParams | None = None,
    ) -> None:
        self.params = params or CBParams()
        self.items = items  # items x tokens
        self.vocabulary = vocabulary
        self.token_items = token_items  # tokens x items, most popular first

    @staticmethod
    def fit(
        item_features: list[list[str]], popularity: np.ndarray, params: CBParams | None = None
    ) -> ContentModel:
        # One column per case-folded token ("Comedy" and "comedy" are one feature), shown in
        # the catalog's first spelling.
        spelling: dict[str, str] = {}
        for feats in item_features:
            for t in feats:
                spelling.setdefault(t.casefold(), t)
        folded = sorted(spelling)
        vocab = [spelling[f] for f in folded]
        index = {f: j for j, f in enumerate(folded)}
        per_item = [sorted({index[t.casefold()] for t in feats}) for feats in item_features]
        lengths = np.fromiter((len(c) for c in per_item), np.int64, len(item_features))
        columns = np.fromiter((c for cols in per_item for c in cols), np.int32, int(lengths.sum()))
        indptr = np.zeros(len(item_features) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        df = np.bincount(columns, minlength=len(vocab))
        idf = (np.log((1.0 + len(item_features)) / (1.0 + df)) + 1.0).astype(np.float32)
        values = idf[columns]
        rows = np.repeat(np.arange(len(item_features)), lengths)
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(item_features)))
        values = (values / np.where(norms > 0, norms, 1.0)[rows]).astype(np.float32)
        items = SparseRows(indptr, columns, values, len(vocab))
        # Inverted index: per token, its items, most popular first (ties: lower index).
        order = np.lexsort((rows, -popularity[rows], columns))
        token_indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(df, out=token_indptr[1:])
        ordered = SparseRows(
            token_indptr,
            rows[order].astype(np.int32),
            np.ones(len(columns), dtype=np.float32),
            len(item_features),
        )
        return ContentModel(items, vocab, ordered, params)

    @cached_property
    def token_index(self) -> dict[str, int]:
        """Case-folded token -> its column (the catalog's first spelling wins)."""
        index: dict[str, int] = {}
        for j, token in enumerate(self.vocabulary):
            index.setdefault(token.casefold(), j)
        return index

    def profile(self, history: np.ndarray) -> np.ndarray:
        recent = np.asarray(history[-self.params.max_history :], dtype=np.int32)
        profile = np.empty(self.items.n_columns, dtype=np.float32)
        weights = recency_weights(len(recent), self.params.half_life)
        kernels.csr_weighted_row_sum(self.items.kernel, recent, weights, profile, False)
        return profile

    def score(self, history: np.ndarray, candidates: np.ndarray, out: np.ndarray) -> None:
        """Each candidate's dot product with the user's profile, written into ``out``."""
        kernels.csr_rows_dot(self.items.kernel, candidates, self.profile(history), out)

    def tokens_for(self, names: list[str]) -> list[int | None]:
        """The column of each name, matched case-insensitively (None when unknown)."""
        return [self.token_index.get(n.casefold()) for n in names]

    def carrying(self, token: int) -> np.ndarray:
        """Every item carrying ``token``, most popular first."""
        return self.token_items.row(token)[0]

    def match(self, candidates: np.ndarray, tokens: list[int], all_of: bool) -> np.ndarray:
        """Which candidates carry any (or, with ``all_of``, every one) of ``tokens``."""
        wanted = np.zeros(self.items.n_columns, dtype=np.uint8)
        wanted[tokens] = 1
        required = int(wanted.sum()) if all_of else 1
        return kernels.csr_rows_match(self.items.kernel, candidates, wanted, required)
