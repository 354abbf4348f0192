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

    def idf(self, n_items: int) -> np.ndarray:
        """Each column's idf as ``fit`` computed it (its document frequency is the length of
        its row in the inverted index)."""
        df = np.diff(self.token_items.indptr)
        return (np.log((1.0 + n_items) / (1.0 + df)) + 1.0).astype(np.float32)

    def with_items(
        self, rows: dict[int, list[str]], n_items: int, popularity: np.ndarray
    ) -> ContentModel:
        """This model over ``n_items`` items (appended ones included), with item ``i``'s
        tokens replaced by ``rows[i]`` (a catalog update, without retraining). Known tokens
        keep their column and idf; tokens the model never saw get new columns, weighted with
        the idf their count among ``rows`` implies against the trained catalog's size, so
        filters and profiles find them. The inverted index is rebuilt with ``popularity``
        (one value per item): O(entries), never items squared."""
        base_n = self.items.n_rows
        vocab = list(self.vocabulary)
        index = dict(self.token_index)
        new_df: dict[int, int] = {}
        columns: dict[int, list[int]] = {}
        for item, tokens in rows.items():
            cols: set[int] = set()
            for t in tokens:
                j = index.get(t.casefold())
                if j is None:
                    j = index[t.casefold()] = len(vocab)
                    vocab.append(t)
                cols.add(j)
            columns[item] = sorted(cols)
            for j in cols:
                if j >= len(self.vocabulary):
                    new_df[j] = new_df.get(j, 0) + 1
        idf = np.concatenate(
            [
                self.idf(base_n),
                np.asarray(
                    [np.log((1.0 + base_n) / (1.0 + new_df[j])) + 1.0 for j in sorted(new_df)],
                    dtype=np.float32,
                ),
            ]
        )
        new_rows = np.fromiter(
            (i for i, cols in columns.items() for _ in cols),
            np.int64,
            sum(map(len, columns.values())),
        )
        new_cols = np.fromiter(
            (j for cols in columns.values() for j in cols), np.int32, len(new_rows)
        )
        new_vals = idf[new_cols]
        norms = np.sqrt(np.bincount(new_rows, weights=new_vals * new_vals, minlength=n_items))
        new_vals = (new_vals / np.where(norms > 0, norms, 1.0)[new_rows]).astype(np.float32)
        if all(i >= base_n for i in columns):
            return self._appended(vocab, n_items, new_rows, new_cols, new_vals)
        base_lengths = np.diff(self.items.indptr)
        entry_rows = np.repeat(np.arange(base_n, dtype=np.int64), base_lengths)
        keep = ~np.isin(entry_rows, np.fromiter((i for i in columns if i < base_n), np.int64))
        all_rows = np.concatenate([entry_rows[keep], new_rows])
        order = np.argsort(all_rows, kind="stable")
        all_rows = all_rows[order]
        all_cols = np.concatenate([self.items.indices[keep], new_cols])[order]
        all_vals = np.concatenate([self.items.data[keep], new_vals])[order]
        indptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_rows, minlength=n_items), out=indptr[1:])
        items = SparseRows(indptr, all_cols.astype(np.int32), all_vals, len(vocab))
        order = np.lexsort((all_rows, -popularity[all_rows], all_cols))
        token_indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_cols, minlength=len(vocab)), out=token_indptr[1:])
        token_items = SparseRows(
            token_indptr,
            all_rows[order].astype(np.int32),
            np.ones(len(all_rows), dtype=np.float32),
            n_items,
        )
        return ContentModel(items, vocab, token_items, self.params)

    def _appended(
        self,
        vocab: list[str],
        n_items: int,
        new_rows: np.ndarray,
        new_cols: np.ndarray,
        new_vals: np.ndarray,
    ) -> ContentModel:
        """``with_items`` when only appended items have rows (the usual update: new products):
        the trained rows are copied as they are, and each token's appended items go after its
        trained ones, oldest first, as the full rebuild orders them (they have no popularity).
        No sort over the trained entries: 1M items with 1,000 new ones in well under a second."""
        base_n, base = self.items.n_rows, self.items
        order = np.lexsort((new_cols, new_rows))
        rows, cols, vals = new_rows[order], new_cols[order], new_vals[order]
        lengths = np.bincount(rows - base_n, minlength=n_items - base_n)
        indptr = np.concatenate([base.indptr, base.indptr[-1] + np.cumsum(lengths)])
        items = SparseRows(
            indptr.astype(np.int64),
            np.concatenate([base.indices, cols]).astype(np.int32),
            np.concatenate([base.data, vals]).astype(np.float32),
            len(vocab),
        )
        trained = self.token_items
        base_counts = np.zeros(len(vocab), dtype=np.int64)
        base_counts[: trained.n_rows] = np.diff(trained.indptr)
        new_counts = np.bincount(cols, minlength=len(vocab))
        token_indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(base_counts + new_counts, out=token_indptr[1:])
        out = np.empty(int(token_indptr[-1]), dtype=np.int32)
        token_of = np.repeat(np.arange(trained.n_rows), base_counts[: trained.n_rows])
        start = token_indptr[token_of] - trained.indptr[token_of]
        out[start + np.arange(trained.nnz)] = trained.indices
        by_token = np.lexsort((rows, cols))
        c, r = cols[by_token], rows[by_token]
        rank = np.arange(len(c)) - np.searchsorted(c, c, side="left")
        out[token_indptr[c] + base_counts[c] + rank] = r
        token_items = SparseRows(token_indptr, out, np.ones(len(out), dtype=np.float32), n_items)
        return ContentModel(items, vocab, token_items, self.params)

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
