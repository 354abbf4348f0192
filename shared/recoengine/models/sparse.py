"""``SparseRows``: a matrix stored as rows of (column, value) pairs, the form every item graph
and the content features take in an artifact (plain numpy arrays, memory-mapped at serving)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from recoengine.models import kernels


@dataclass(frozen=True)
class SparseRows:
    indptr: np.ndarray  # int64, n_rows + 1
    indices: np.ndarray  # int32 column of each entry
    data: np.ndarray  # float32 value of each entry
    n_columns: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.indices)

    @cached_property
    def kernel(self) -> kernels.Csr:
        """The compiled view the scoring kernels read (checked once, when first used)."""
        return kernels.Csr(self.indptr, self.indices, self.data, self.n_columns)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.indices[lo:hi], self.data[lo:hi]

    def to_dense(self) -> np.ndarray:
        """Tests and small catalogs only."""
        dense = np.zeros((self.n_rows, self.n_columns), dtype=np.float32)
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        dense[rows, self.indices] = self.data
        return dense

    @staticmethod
    def from_dense(matrix: np.ndarray) -> SparseRows:
        dense = np.asarray(matrix, dtype=np.float32)
        rows, columns = np.nonzero(dense)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        return SparseRows(indptr, columns.astype(np.int32), dense[rows, columns], dense.shape[1])

    def transpose(self) -> SparseRows:
        """Columns become rows (stable: within a new row, entries keep their old row order)."""
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int32), np.diff(self.indptr))
        order = np.argsort(self.indices, kind="stable")
        indptr = np.zeros(self.n_columns + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=self.n_columns), out=indptr[1:])
        return SparseRows(indptr, rows[order], self.data[order], self.n_rows)
