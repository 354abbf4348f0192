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

    @staticmethod
    def from_dense(matrix: np.ndarray) -> SparseRows:
        """The nonzero entries of a dense matrix, row by row (small examples and tests)."""
        dense = np.asarray(matrix, dtype=np.float32)
        rows, columns = np.nonzero(dense)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        return SparseRows(indptr, columns.astype(np.int32), dense[rows, columns], dense.shape[1])
