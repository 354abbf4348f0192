"""Type stub of the compiled ``kernels.pyx`` (see it for what each kernel computes)."""

import numpy as np

CONSTANT_TOLERANCE: float

def weighted_row_sum(
    matrix: np.ndarray, rows: np.ndarray, weights: np.ndarray, out: np.ndarray, accumulate: bool
) -> None: ...
def blend(
    raw: np.ndarray,
    weights: np.ndarray,
    calibration: np.ndarray,
    total: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
) -> None: ...
def top_k(scores: np.ndarray, k: int, masked: np.ndarray) -> tuple[list[int], list[float]]: ...
