"""Type stub of the compiled ``kernels.pyx`` (see it for what each kernel computes)."""

import numpy as np

CONSTANT_TOLERANCE: float

class Csr:
    n_rows: int
    n_columns: int
    def __init__(
        self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_columns: int
    ) -> None: ...

def csr_weighted_row_sum(
    matrix: Csr, rows: np.ndarray, weights: np.ndarray, out: np.ndarray, accumulate: bool
) -> None: ...
def blend(
    raw: np.ndarray,
    weights: np.ndarray,
    calibration: np.ndarray,
    total: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
) -> None: ...
def top_k(scores: np.ndarray, k: int) -> tuple[list[int], list[float]]: ...
def gather(
    graphs: list[Csr],
    rows: list[np.ndarray],
    weights: list[np.ndarray],
    extra: np.ndarray,
    forbidden: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]: ...
def csr_rows_dot(matrix: Csr, rows: np.ndarray, vector: np.ndarray, out: np.ndarray) -> None: ...
def csr_rows_match(
    matrix: Csr, rows: np.ndarray, wanted: np.ndarray, required: int
) -> np.ndarray: ...
