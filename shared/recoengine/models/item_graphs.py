"""Fitting the item-to-item graphs of CF: sparse, at most ``neighbours`` entries per item.

Three graphs, each a row per item (the item a user interacted with) holding its best
``neighbours`` targets, so an artifact grows with items x neighbours, never items²:

- **co-occurrence**: cosine of item co-occurrence, ``c_ij / sqrt(n_i * n_j)``, where ``c_ij`` is
  the number of users holding both items and ``n_i`` the number holding ``i``. Each user counts
  the distinct items of their last ``max_user_items`` interactions, which bounds the pairs a
  heavy user adds (``max_user_items²``) and so the memory of training.
- **transitions**: how often ``j`` follows ``i`` within ``transition_window`` steps of a user's
  chronological sequence, each step further back weighted ``0.5 ** ((step-1)/half_life)``,
  divided by the row's total plus a pseudo-count ``transition_smoothing`` (a next-item
  distribution, shrunk towards zero where an item was seen followed only a few times). What
  users do next matters, but one user's next purchase is an anecdote: without the pseudo-count
  an item followed once would put weight 1 on that one successor. The shrinkage fades as an
  item's transitions accumulate, so dense data is barely touched. Test NDCG@10 of the tuned
  blend without it and with 10 (``make eval``, 2026-12-06): Amazon Sports 0.0354 -> 0.0369,
  Amazon Toys 0.0728 -> 0.0754, ML-100K 0.1223 -> 0.1222. With 30, Sports reached 0.0377 but
  ML-100K fell to 0.1176 (``python -m tools.ease_l2 --transition-smoothing``). Validation
  preferred 30 on all three, so it is a fixed value, not a tuned one.
- **EASE** (Steck, WWW 2019): ``B = -P / diag(P)``, ``P = (G + λI)⁻¹`` with ``G`` the item Gram
  matrix of the same capped user sets. Exact, so dense n x n at training time: fitted only up to
  ``ease_max_items`` items (a 3.2 GB array at 20,000, inverted in place by its Cholesky
  factor), where it is measurably better (Amazon Toys, validation: 0.0744 NDCG@10 with it,
  0.0728 without); larger catalogs rely on co-occurrence and transitions. λ is chosen on
  validation (``training.EASE_L2_GRID``): the best one follows the data's density, and on
  Amazon Sports (18,357 items) EASE helps only with a small one (test NDCG@10 of CF alone,
  ``tools/ease_l2.py``: 0.0320 without EASE, 0.0361 with λ = 50; at λ = 400 the tuned
  blend lost to the one without EASE, 0.0332 against 0.0340; all with raw transitions: once
  transitions are smoothed, validation picks 150 there). EASE solved on each item's 256
  most co-occurring items did worse (0.0328). A catalog small enough to keep all of it
  (``ease_k``: ML-100K) keeps every row whole, negative entries too.

Pruning keeps, per row, the ``neighbours`` largest values (ties: lower column first) among the
positive ones (above 1e-9). The definitions are exact so that the Spark trainer
(``recoengine.spark``) computes the same graphs: it must agree with these functions, which the
tests check.

Training only: imports scipy (lazily), never imported by serving.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from recoengine.models.sparse import SparseRows

if TYPE_CHECKING:
    from scipy import sparse

    from recoengine.models.history import Histories

Progress = Callable[[Iterable[Any], str], Iterable[Any]]

# Co-occurrence is counted for blocks of item rows producing about this many pairs each, so
# the temporary product of one block stays bounded however large the catalog.
BLOCK_PAIRS = 50_000_000
NOISE = 1e-9  # below this a graph value is rounding noise of an exact zero (Spark too)


@dataclass(frozen=True)
class GraphParams:
    neighbours: int = 100  # K: the most entries kept per item and graph
    max_user_items: int = 500  # co-occurrence and EASE count each user's last N interactions
    transition_window: int = 3
    transition_half_life: float = 1.5
    # Pseudo-count added to each item's transitions before they are normalised (see the module
    # docstring): an item seen followed only once or twice gets a small row, not a certain one.
    transition_smoothing: float = 10.0
    ease_l2: float = 400.0
    ease_max_items: int = 20_000  # exact EASE (dense n x n at training) only up to here
    # K of the EASE graph; 0 chooses it by catalog size (``ease_k``): a catalog whose whole
    # EASE matrix has at most ``ease_entries`` entries keeps it whole, any other ``neighbours``.
    ease_neighbours: int = 0
    ease_entries: int = 3_000_000


@dataclass
class ItemGraphs:
    cooccurrence: SparseRows
    transitions: SparseRows
    ease: SparseRows | None  # None above ``ease_max_items``


def ease_k(n_items: int, params: GraphParams) -> int:
    """The EASE graph's K for a catalog of ``n_items``: a catalog whose whole EASE matrix fits
    in ``ease_entries`` keeps it whole (``n_items - 1`` per row, negative entries too: EASE
    itself), any other ``neighbours``. Validation NDCG@10 of the tuned blend on ML-100K
    (1,682 items): 0.1279 with the best 100 positive entries, 0.1290 with 500, 0.1292 with
    every positive one, 0.1299 whole. On Amazon Toys (11,924 items) 251 instead of 100 moved
    validation by noise only (0.0613 either way) and test NDCG@10 down (0.0713 from 0.0716)."""
    if params.ease_neighbours:
        return params.ease_neighbours
    if n_items * (n_items - 1) <= params.ease_entries:
        return max(n_items - 1, 0)
    return params.neighbours


def no_progress(it: Iterable[Any], desc: str) -> Iterable[Any]:
    """The ``Progress`` callback that shows nothing."""
    return it


def capped_user_items(hist: Histories, n_items: int, max_user_items: int) -> sparse.csr_matrix:
    """Users x items, 1 where the item is among the user's last ``max_user_items`` interactions."""
    from scipy import sparse

    lengths = np.diff(hist.indptr)
    keep_from = hist.indptr[1:] - np.minimum(lengths, max_user_items)
    positions = np.arange(len(hist.items))
    users = np.repeat(np.arange(len(lengths)), lengths)
    keep = positions >= keep_from[users]
    x = sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (users[keep], hist.items[keep])),
        shape=(len(lengths), n_items),
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    return x


def cooccurrence_blocks(
    x: sparse.csr_matrix, progress: Progress = no_progress, block_pairs: int = BLOCK_PAIRS
) -> Iterator[tuple[int, sparse.csr_matrix]]:
    """The co-occurrence counts (users holding both; zero diagonal) of successive blocks of
    item rows, as ``(first row, block)``: each block holds about ``block_pairs`` pairs, so the
    temporary product stays bounded however large the catalog."""
    n_items = x.shape[1]
    # The pairs a row block produces: for each of its items, the lengths of its users' lists.
    user_len = np.asarray(x.sum(axis=1)).ravel().astype(np.int64)
    cost = np.asarray(x.T @ user_len).ravel().astype(np.int64)
    bounds = [0, *(np.flatnonzero(np.diff(np.cumsum(cost) // block_pairs)) + 1), n_items]
    bounds = sorted({int(b) for b in bounds})
    xt = x.T.tocsr()
    for lo, hi in progress(list(itertools.pairwise(bounds)), "co-occurrence"):
        block = (xt[lo:hi] @ x).tocsr()
        rows = np.repeat(np.arange(lo, hi), np.diff(block.indptr))
        block.data[block.indices == rows] = 0.0
        block.eliminate_zeros()
        yield lo, block


def cooccurrence_graph(
    block: sparse.csr_matrix, first_row: int, item_users: np.ndarray, neighbours: int
) -> SparseRows:
    """Cosine ``c_ij / sqrt(n_i n_j)`` of a block of count rows, the best ``neighbours`` per row."""
    coo = block.tocoo()
    norms = np.sqrt(item_users.astype(np.float64))
    values = coo.data.astype(np.float64) / (norms[coo.row + first_row] * norms[coo.col])
    return top_k_per_row(coo.row, coo.col, values, block.shape[0], neighbours)


def transition_counts(hist: Histories, n_items: int, window: int, half_life: float) -> Any:
    """Items x items: decayed counts of ``j`` following ``i`` within ``window`` steps. Each step
    is counted exactly (integers) and the steps are added in order, so equal transitions tie
    exactly and pruning breaks the tie by column, as the Spark trainer does."""
    from scipy import sparse

    lengths = np.diff(hist.indptr)
    users = np.repeat(np.arange(len(lengths)), lengths)
    counts = sparse.csr_matrix((n_items, n_items), dtype=np.float64)
    for step in range(1, window + 1):
        same_user = users[step:] == users[:-step]
        src, dst = hist.items[:-step][same_user], hist.items[step:][same_user]
        differ = src != dst
        step_counts = sparse.csr_matrix(
            (np.ones(int(differ.sum())), (src[differ], dst[differ])),
            shape=(n_items, n_items),
            dtype=np.float64,
        )
        counts = counts + step_counts * (0.5 ** ((step - 1) / half_life))
    return counts


def transition_graph(counts: sparse.csr_matrix, neighbours: int, smoothing: float) -> SparseRows:
    """Next-item distribution ``c_ij / (sum_j c_ij + smoothing)``, the best ``neighbours`` per
    row (``GraphParams.transition_smoothing``)."""
    coo = counts.tocoo()
    row_sums = np.asarray(counts.sum(axis=1)).ravel() + smoothing
    values = coo.data / row_sums[coo.row]
    return top_k_per_row(coo.row, coo.col, values, counts.shape[0], neighbours)


def ease_graph(
    counts: sparse.csr_matrix, item_users: np.ndarray, l2: float, neighbours: int
) -> SparseRows:
    """Exact EASE from the Gram matrix (co-occurrence counts plus the diagonal), pruned. The
    dense n x n work happens in place: the Gram matrix is symmetric positive definite, so it is
    inverted where it lies by its Cholesky factor (LAPACK's potrf and potri: half the work of a
    general inverse, and no workspace beyond the one n² array of doubles, 1.8 GB at 15,000
    items), and the pruning reads it in row blocks, never listing its n² entries. With
    ``neighbours`` covering a whole row (a small catalog) the rows are kept whole, negative
    entries too, which is EASE itself."""
    from scipy.linalg import lapack

    n = counts.shape[0]
    precision = np.zeros((n, n), dtype=np.float64, order="F")
    counts.astype(np.float64).toarray(out=precision)
    precision[np.diag_indices(n)] = np.asarray(item_users, dtype=np.float64) + l2
    if n:
        precision, info = lapack.dpotrf(precision, lower=0, clean=0, overwrite_a=1)
        if info == 0:
            precision, info = lapack.dpotri(precision, lower=0, overwrite_c=1)
        if info != 0:
            raise ValueError(f"EASE: the Gram matrix is not positive definite (LAPACK {info})")
        _mirror_upper(precision)
    scale = -1.0 / np.diag(precision)
    precision *= scale[None, :]  # B = P / -diag(P), column-wise
    precision[np.diag_indices(n)] = 0.0
    if neighbours >= n - 1:
        return dense_top_k(precision, n, signed=True)
    return dense_top_k(precision, neighbours)


def _mirror_upper(matrix: np.ndarray, block: int = 1024) -> None:
    """Copy the upper triangle onto the lower one in place, block by block (potri fills only
    the upper triangle)."""
    n = matrix.shape[0]
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        matrix[lo:hi, :lo] = matrix[:lo, lo:hi].T
        diagonal = matrix[lo:hi, lo:hi]
        lower = np.tril_indices(hi - lo, -1)
        diagonal[lower] = diagonal.T[lower]


def dense_top_k(
    matrix: np.ndarray, k: int, block: int = 1024, *, signed: bool = False
) -> SparseRows:
    """``top_k_per_row`` for a dense matrix, block by block (argpartition, then sort the k);
    ``signed`` keeps negative entries too (whole rows only: ``k`` at least the row length)."""
    if signed and k < matrix.shape[1]:
        raise ValueError("signed pruning keeps whole rows only")
    n_rows, n_cols = matrix.shape
    k = min(k, n_cols)
    rows, cols, values = [], [], []
    for lo in range(0, n_rows, block):
        part = matrix[lo : lo + block]
        if k < n_cols:
            idx = np.argpartition(-part, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(n_cols), part.shape)
        vals = np.take_along_axis(part, idx, axis=1)
        r = np.repeat(np.arange(lo, lo + len(part)), idx.shape[1])
        rows.append(r)
        cols.append(idx.ravel())
        values.append(vals.ravel())
    if not rows:
        return top_k_per_row(*(np.zeros(0, np.int64),) * 2, np.zeros(0), n_rows, k)
    return top_k_per_row(
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(values),
        n_rows,
        k,
        signed=signed,
    )


def top_k_per_row(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    n_rows: int,
    k: int,
    *,
    signed: bool = False,
) -> SparseRows:
    """Per row, the ``k`` largest positive values (ties: lower column first), columns sorted
    by value within each row. Values below ``NOISE`` are rounding noise of an exact zero
    (EASE's inverse leaves ~1e-17 where two items never meet) and are dropped; ``signed``
    keeps negative values too (those below ``-NOISE``)."""
    positive = (np.abs(values) if signed else values) > NOISE
    rows, cols, values = rows[positive], cols[positive], values[positive]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    rank = np.arange(len(rows)) - starts[rows]
    keep = rank < k
    rows, cols, values = rows[keep], cols[keep], values[keep]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return SparseRows(indptr, cols.astype(np.int32), values.astype(np.float32), n_rows)


def concatenate_rows(parts: list[SparseRows], n_columns: int) -> SparseRows:
    """Row blocks stacked into one matrix."""
    if not parts:
        return SparseRows(
            np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), n_columns
        )
    offsets = np.cumsum([0] + [p.nnz for p in parts[:-1]])
    indptr = np.concatenate(
        [np.zeros(1, np.int64)]
        + [p.indptr[1:] + off for p, off in zip(parts, offsets, strict=True)]
    )
    return SparseRows(
        indptr,
        np.concatenate([p.indices for p in parts]),
        np.concatenate([p.data for p in parts]),
        n_columns,
    )


def ease_from_counts(
    counts: sparse.csr_matrix, item_users: np.ndarray, params: GraphParams
) -> SparseRows:
    """The EASE graph of a catalog of at most ``ease_max_items``, with its K chosen by size
    (the local and the Spark trainer both call this)."""
    return ease_graph(counts, item_users, params.ease_l2, ease_k(counts.shape[0], params))


def fit_graphs(
    hist: Histories,
    n_items: int,
    params: GraphParams,
    progress: Progress = no_progress,
    *,
    block_pairs: int = BLOCK_PAIRS,
) -> ItemGraphs:
    """The three graphs of one training set (the local trainer; Spark computes the same).
    Co-occurrence is pruned block by block (of about ``block_pairs`` pairs) as it is counted;
    the full counts are kept only for a catalog small enough for exact EASE."""
    from scipy import sparse

    x = capped_user_items(hist, n_items, params.max_user_items)
    item_users = np.asarray(x.sum(axis=0)).ravel()
    with_ease = n_items <= params.ease_max_items
    parts, kept = [], []
    for first_row, block in cooccurrence_blocks(x, progress, block_pairs):
        parts.append(cooccurrence_graph(block, first_row, item_users, params.neighbours))
        if with_ease:
            kept.append(block)
    cooc = concatenate_rows(parts, n_items)
    ease = None
    if with_ease:
        counts = (
            sparse.vstack(kept, format="csr") if kept else sparse.csr_matrix((n_items, n_items))
        )
        del kept
        ease = ease_from_counts(counts, item_users, params)
    del x
    trans = transition_graph(
        transition_counts(hist, n_items, params.transition_window, params.transition_half_life),
        params.neighbours,
        params.transition_smoothing,
    )
    return ItemGraphs(cooccurrence=cooc, transitions=trans, ease=ease)
