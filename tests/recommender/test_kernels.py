"""The compiled scoring kernels against their numpy definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from recoengine.models import kernels
from recoengine.models.sparse import SparseRows

floats = st.floats(-1e3, 1e3, width=32, allow_nan=False)


def draw_rows(data: st.DataObject, n_matrix_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to 7 row indices (repeats allowed) and their non-negative weights."""
    n = data.draw(st.integers(0, 7))
    rows = data.draw(st.lists(st.integers(0, n_matrix_rows - 1), min_size=n, max_size=n))
    weights = data.draw(hnp.arrays(np.float32, n, elements=st.floats(0, 2, width=32)))
    return np.array(rows, dtype=np.int32), weights


@settings(max_examples=200, deadline=None)
@given(
    raw=hnp.arrays(np.float32, st.tuples(st.just(3), st.integers(2, 50)), elements=floats),
    weights=hnp.arrays(np.float32, 3, elements=st.floats(0, 1, width=32)),
    calibration=hnp.arrays(np.float32, 3, elements=st.floats(0, 3, width=32)),
)
def test_blend_is_the_weighted_sum_of_calibrated_z_scores(
    raw: np.ndarray, weights: np.ndarray, calibration: np.ndarray
) -> None:
    total = np.empty(raw.shape[1], np.float32)
    mean, scale = np.empty(3), np.empty(3)
    kernels.blend(raw, weights, calibration, total, mean, scale)
    r = raw.astype(np.float64)
    np.testing.assert_allclose(mean, r.mean(axis=1), rtol=1e-9, atol=1e-9)
    std = r.std(axis=1)
    informative = std > kernels.CONSTANT_TOLERANCE * (np.abs(r.mean(axis=1)) + 1e-6)
    assert (scale[~informative] == 0).all()  # a constant component carries no information
    expected_scale = np.where(informative, calibration / np.where(informative, std, 1.0), 0.0)
    np.testing.assert_allclose(scale, expected_scale, rtol=1e-4)
    expected = ((weights * expected_scale)[:, None] * (r - r.mean(axis=1)[:, None])).sum(axis=0)
    np.testing.assert_allclose(total, expected, rtol=1e-3, atol=1e-3 * (1 + np.abs(expected).max()))


def test_blend_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        kernels.blend(
            np.ones((3, 4), np.float32),
            np.ones(2, np.float32),
            np.ones(3, np.float32),
            np.empty(4, np.float32),
            np.empty(3),
            np.empty(3),
        )


@settings(max_examples=300, deadline=None)
@given(
    scores=hnp.arrays(
        np.float32,
        st.integers(0, 60),
        elements=st.one_of(
            st.sampled_from([0.0, 1.0, -1.0, float("-inf"), float("inf"), float("nan")]),
            floats,
        ),
    ),
    k=st.integers(0, 70),
)
def test_top_k_is_the_stable_best_first_order_of_finite_scores(scores: np.ndarray, k: int) -> None:
    top, values = kernels.top_k(scores, k)
    candidates = np.flatnonzero(np.isfinite(scores))
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
    assert top == order.tolist()
    assert values == scores[order].tolist()


@settings(max_examples=200, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 12), st.integers(1, 30)))
def test_sparse_row_sum_is_the_weighted_sum_of_the_rows(
    data: st.DataObject, shape: tuple[int, int]
) -> None:
    sparse_values = st.one_of(st.just(0.0), st.floats(-10, 10, width=32))
    matrix = data.draw(hnp.arrays(np.float32, shape, elements=sparse_values))
    rows, weights = draw_rows(data, shape[0])
    csr = SparseRows.from_dense(matrix).kernel
    assert (csr.n_rows, csr.n_columns) == shape
    for accumulate in (False, True):
        out = np.full(shape[1], 7.0, np.float32)
        kernels.csr_weighted_row_sum(csr, rows, weights, out, accumulate)
        expected = weights.astype(np.float64) @ matrix[rows].astype(np.float64)
        np.testing.assert_allclose(out, expected + 7.0 * accumulate, rtol=1e-5, atol=1e-4)


def test_sparse_row_sum_checks_its_arguments() -> None:
    csr = SparseRows.from_dense(np.arange(12, dtype=np.float32).reshape(3, 4)).kernel
    out = np.empty(4, dtype=np.float32)
    kernels.csr_weighted_row_sum(
        csr, np.array([2, 0], np.int32), np.array([1, 2], np.float32), out, False
    )
    assert out.tolist() == [8.0, 11.0, 14.0, 17.0]
    with pytest.raises(IndexError):
        kernels.csr_weighted_row_sum(
            csr, np.array([3], np.int32), np.ones(1, np.float32), out, False
        )
    with pytest.raises(ValueError):  # rows of another dtype are refused, never misread
        kernels.csr_weighted_row_sum(csr, np.array([0]), np.ones(1, np.float32), out, False)
    with pytest.raises(ValueError):
        kernels.csr_weighted_row_sum(
            csr, np.array([0], np.int32), np.ones(2, np.float32), out, False
        )
    with pytest.raises(ValueError):
        kernels.csr_weighted_row_sum(
            csr, np.array([0], np.int32), np.ones(1, np.float32), np.empty(3, np.float32), False
        )


def test_a_malformed_sparse_matrix_is_refused_when_built() -> None:
    ok = (np.array([0, 1, 2]), np.array([0, 1]), np.array([1.0, 2.0]))
    kernels.Csr(*ok, 2)
    with pytest.raises(ValueError, match="column"):
        kernels.Csr(*ok, 1)  # a column index outside the matrix
    with pytest.raises(ValueError, match="pointers"):
        kernels.Csr(np.array([0, 1, 3]), ok[1], ok[2], 2)
    with pytest.raises(ValueError, match="decrease"):
        kernels.Csr(np.array([0, 2, 1, 2]), ok[1], ok[2], 2)
    with pytest.raises(ValueError, match="differ"):
        kernels.Csr(ok[0], ok[1], np.array([1.0]), 2)
    csr = kernels.Csr(*ok, 2)
    with pytest.raises(IndexError):
        kernels.csr_weighted_row_sum(
            csr, np.array([2], np.int32), np.ones(1, np.float32), np.empty(2, np.float32), False
        )
