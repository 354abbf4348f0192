"""Every graph from Spark equals the local trainer's (``item_graphs.fit_graphs``).

Co-occurrence and EASE must match exactly: same rows, same columns in the same order, values
equal to float32 rounding. Transitions are exact against a reference that sums the decayed
weights per step count (ties then are true ties, broken by the lower column); against the local
trainer, which sums the same weights in scipy's order, values agree to rounding and the columns
may differ only inside ties that rounding broke.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from recoengine.data.demo import generate
from recoengine.models.history import Histories, histories
from recoengine.models.item_graphs import (
    GraphParams,
    ItemGraphs,
    fit_graphs,
    top_k_per_row,
)
from recoengine.models.sparse import SparseRows


def assert_same(spark: SparseRows, local: SparseRows, name: str) -> None:
    assert spark.n_columns == local.n_columns, name
    assert spark.indptr.dtype == np.int64 and spark.indices.dtype == np.int32, name
    assert spark.data.dtype == np.float32, name
    np.testing.assert_array_equal(spark.indptr, local.indptr, err_msg=f"{name}: indptr")
    np.testing.assert_array_equal(spark.indices, local.indices, err_msg=f"{name}: indices")
    np.testing.assert_allclose(spark.data, local.data, rtol=1e-6, err_msg=f"{name}: values")


def assert_same_up_to_rounded_ties(spark: SparseRows, local: SparseRows, name: str) -> None:
    """Same rows and values; columns equal except where values tie within rounding."""
    np.testing.assert_array_equal(spark.indptr, local.indptr, err_msg=f"{name}: indptr")
    np.testing.assert_allclose(spark.data, local.data, rtol=1e-6, err_msg=f"{name}: values")
    for r in range(spark.n_rows):
        s_cols, s_vals = spark.row(r)
        l_cols, l_vals = local.row(r)
        for c in np.flatnonzero(s_cols != l_cols):
            # A swapped column must sit among entries of (nearly) the same value.
            near = np.isclose(l_vals, s_vals[c], rtol=1e-6)
            assert s_cols[c] in l_cols[near] or np.isclose(s_vals[c], l_vals[-1], rtol=1e-6), (
                f"{name}: row {r} entry {c}: spark {s_cols[c]} vs local {l_cols[c]}"
            )


def exact_transitions(hist: Histories, n_items: int, params: GraphParams) -> SparseRows:
    """Transitions with each pair's weight summed per step count: order-free, so exact ties."""
    lengths = np.diff(hist.indptr)
    users = np.repeat(np.arange(len(lengths)), lengths)
    total = sparse.csr_matrix((n_items, n_items), dtype=np.float64)
    for step in range(1, params.transition_window + 1):
        same = users[step:] == users[:-step]
        src, dst = hist.items[:-step][same], hist.items[step:][same]
        keep = src != dst
        counts = sparse.csr_matrix(
            (np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n_items, n_items)
        )  # integer counts: exact in any order
        total = total + counts * (0.5 ** ((step - 1) / params.transition_half_life))
    coo = total.tocoo()
    row_sums = np.asarray(total.sum(axis=1)).ravel() + params.transition_smoothing
    return top_k_per_row(coo.row, coo.col, coo.data / row_sums[coo.row], n_items, params.neighbours)


def check(fitter: Any, hist: Histories, n_items: int, params: GraphParams) -> ItemGraphs:
    got = fitter(hist, n_items, params)
    want = fit_graphs(hist, n_items, params)
    assert_same(got.cooccurrence, want.cooccurrence, "co-occurrence")
    assert_same(got.transitions, exact_transitions(hist, n_items, params), "transitions")
    assert_same_up_to_rounded_ties(got.transitions, want.transitions, "transitions vs local")
    if want.ease is None:
        assert got.ease is None
    else:
        assert got.ease is not None
        assert_same(got.ease, want.ease, "ease")
    return got


def hand_made(seed: int = 1) -> tuple[Histories, int]:
    """A heavy user far over the cap, repeated and back-to-back items, an empty user, a user
    of one item, twins (identical histories: tied co-occurrences), and an unused item."""
    rng = np.random.default_rng(seed)
    n_items = 40
    lists = [rng.integers(0, 30, size=int(rng.integers(2, 25))) for _ in range(60)]
    lists.append(rng.integers(0, 39, size=400))  # heavy: over every cap below, many repeats
    lists.append(np.array([], dtype=np.int32))
    lists.append(np.array([7], dtype=np.int32))
    lists.append(np.array([3, 3, 3, 5, 5, 3, 5], dtype=np.int32))
    twin = np.array([10, 11, 12, 13, 14, 15], dtype=np.int32)
    lists += [twin, twin, twin[::-1]]
    return Histories.from_lists([np.asarray(h, dtype=np.int32) for h in lists]), n_items


def test_demo_data_small_neighbourhoods(fitter: Any) -> None:
    data = generate(n_users=120, n_items=90, per_user=20, seed=4)
    params = GraphParams(neighbours=6, max_user_items=12, transition_window=3)
    got = check(fitter, histories(data), data.n_items, params)
    assert got.ease is not None and got.ease.nnz > 0


def test_heavy_user_repeats_and_ties(fitter: Any) -> None:
    hist, n_items = hand_made()
    params = GraphParams(neighbours=5, max_user_items=20, transition_window=2)
    got = check(fitter, hist, n_items, params)
    assert got.cooccurrence.nnz > 0 and got.transitions.nnz > 0


def test_large_catalog_skips_ease(fitter: Any) -> None:
    hist, n_items = hand_made(seed=2)
    params = GraphParams(
        neighbours=100,
        max_user_items=30,
        transition_window=4,
        transition_half_life=3.0,
        ease_max_items=n_items - 1,
    )
    got = check(fitter, hist, n_items, params)
    assert got.ease is None


def test_small_catalog_keeps_ease_whole(fitter: Any) -> None:
    hist, n_items = hand_made(seed=3)
    params = GraphParams(neighbours=8, max_user_items=25)  # 40 items: EASE kept whole
    got = check(fitter, hist, n_items, params)
    assert got.ease is not None and (got.ease.data < 0).any()


def test_no_interactions(fitter: Any) -> None:
    hist = Histories.from_lists([np.array([], dtype=np.int32), np.array([4], dtype=np.int32)])
    got = fitter(hist, 6, GraphParams())
    for graph in (got.cooccurrence, got.transitions, got.ease):
        assert graph is not None
        assert graph.nnz == 0 and len(graph.indptr) == 7


def test_refit_on_the_same_histories(fitter: Any) -> None:
    """A refit with other transition parameters reuses the staged data and co-occurrence,
    and its transitions follow the new parameters."""
    data = generate(n_users=60, n_items=50, per_user=15, seed=9)
    hist = histories(data)
    first = check(fitter, hist, data.n_items, GraphParams(neighbours=10))
    second = check(fitter, hist, data.n_items, GraphParams(neighbours=10, transition_half_life=3.0))
    assert second.cooccurrence is first.cooccurrence
    assert not np.allclose(second.transitions.data, first.transitions.data)
    third = check(fitter, hist, data.n_items, GraphParams(neighbours=10, transition_smoothing=0.0))
    assert third.cooccurrence is first.cooccurrence
    # Without the pseudo-count every row is a distribution; with it, every row sums to less.
    sums = np.add.reduceat(third.transitions.data, third.transitions.indptr[:-1])
    smoothed = np.add.reduceat(first.transitions.data, first.transitions.indptr[:-1])
    rows = np.diff(third.transitions.indptr) > 0
    assert (smoothed[rows] < sums[rows]).all()


def test_refit_with_another_ease_penalty(fitter: Any) -> None:
    """Tuning EASE's penalty refits the same histories: the co-occurrence job is not rerun,
    and EASE follows the new penalty exactly as the local trainer solves it."""
    data = generate(n_users=60, n_items=50, per_user=15, seed=10)
    hist = histories(data)
    first = check(fitter, hist, data.n_items, GraphParams(neighbours=10, ease_l2=400.0))
    second = check(fitter, hist, data.n_items, GraphParams(neighbours=10, ease_l2=50.0))
    assert second.cooccurrence is first.cooccurrence
    assert first.ease is not None and second.ease is not None
    assert not np.allclose(second.ease.data, first.ease.data)
