"""Baselines measured in the same run: popularity and the ``implicit`` library's ALS.

ALS is tuned the same way as our blend: on a validation split carved from training data only.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from recoengine.data.dataset import Dataset
from recoengine.evaluation.evaluator import Evaluator, ScoreFn
from recoengine.evaluation.protocol import leave_last_out

ALS_GRID = {
    "factors": (32, 64, 128),
    "regularization": (0.01, 0.1, 1.0, 10.0, 50.0),
    "alpha": (1.0, 5.0, 20.0),
}


def popularity_scores(data: Dataset) -> ScoreFn:
    pop = np.bincount(data.items, weights=data.weights, minlength=data.n_items)
    return lambda u, hist: pop


@dataclass
class ALSModel:
    user_factors: np.ndarray
    item_factors: np.ndarray
    params: dict[str, float]
    model: object

    def scores(self) -> ScoreFn:
        return lambda u, hist: self.item_factors @ self.user_factors[u]


def fit_als(data: Dataset, factors: int, regularization: float, alpha: float) -> ALSModel:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from implicit.als import AlternatingLeastSquares
    from scipy.sparse import csr_matrix

    # Implicit feedback: a (user, item) pair is 1 however often it occurs.
    ui = csr_matrix(
        (np.ones(data.n_interactions, dtype=np.float32), (data.users, data.items)),
        shape=(data.n_users, data.n_items),
    )
    ui.data[:] = 1.0
    model = AlternatingLeastSquares(
        factors=factors,
        regularization=regularization,
        alpha=alpha,
        iterations=15,
        random_state=42,
        calculate_training_loss=False,
    )
    model.fit(ui, show_progress=False)
    user_factors = np.asarray(model.user_factors)
    item_factors = np.asarray(model.item_factors)
    params = {"factors": factors, "regularization": regularization, "alpha": alpha}
    return ALSModel(user_factors, item_factors, params, model)


def tune_als(
    train: Dataset,
    progress: Callable[[Iterable[object], str], Iterable[object]] = lambda it, d: it,
) -> ALSModel:
    """Grid search on a validation split of ``train``; refit the best on all of ``train``."""
    split = leave_last_out(train)
    ev = Evaluator(split, seed=97)
    best: tuple[float, dict[str, float]] | None = None
    configs = list(itertools.product(*ALS_GRID.values()))
    for values in progress(configs, "tuning implicit ALS"):
        assert isinstance(values, tuple)
        f, reg, alpha = values
        m = fit_als(split.train, int(f), float(reg), float(alpha))
        ndcg = ev.run(m.scores()).summary()["ndcg10"]
        if best is None or ndcg > best[0]:
            best = (ndcg, m.params)
    assert best is not None
    p = best[1]
    return fit_als(train, int(p["factors"]), float(p["regularization"]), float(p["alpha"]))
