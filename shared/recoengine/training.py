"""Training: fit the three components, calibrate them on a validation split, tune on it.

Everything that is chosen from data (CF hyper-parameters, calibration scales, tuned weights)
is chosen on a validation split carved from the training data only (each user's last training
interaction), then the components are refitted on all the training data.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from recoengine.data.dataset import Dataset
from recoengine.evaluation import metrics
from recoengine.evaluation.evaluator import Evaluator
from recoengine.evaluation.protocol import leave_last_out
from recoengine.models.blend import COMPONENTS, BlendCalibration, logistic_slope, standardize
from recoengine.models.collaborative import CFParams, SequenceCF
from recoengine.models.content import ContentModel
from recoengine.models.history import histories
from recoengine.models.hybrid import HybridModel
from recoengine.models.persona import PersonaModel

log = logging.getLogger(__name__)

Progress = Callable[[Iterable[object], str], Iterable[object]]

CF_GRID = {
    "half_life": (3.0, 5.0, 10.0, 20.0),
    "transition_weight": (0.5, 1.0, 2.0),
    "transition_half_life": (1.5, 3.0),
}
# Validation: each user's last few training interactions, each predicted from its prefix.
# Three cases per user instead of one cut the noise of every choice made on validation by √3.
VALIDATION_CASES_PER_USER = 3
_MAX_TUNING_CELLS = 30_000_000  # cases x items held in memory while tuning weights
WEIGHT_GRID_STEP = 0.1
# The one-standard-error rule (``one_se_choice``) prefers these when the data cannot tell.


def no_progress(it: Iterable[object], desc: str) -> Iterable[object]:
    return it


@dataclass
class TrainReport:
    cf_params: dict[str, float]
    calibration: dict[str, float]
    tuned_weights: tuple[float, float, float]
    validation: dict[str, dict[str, float]]


def persona_rows_for(model: PersonaModel, data: Dataset, user: int) -> list[int]:
    return model.rows_for({a: vals[user] for a, vals in data.user_attrs.items()})


def fit_components(data: Dataset, cf_params: CFParams) -> HybridModel:
    hist = histories(data)
    return HybridModel(
        cf=SequenceCF(cf_params).fit(hist, data.n_items),
        cb=ContentModel().fit(data.item_features),
        pa=PersonaModel().fit(data.user_attrs, data.users, data.items, data.weights, data.n_items),
    )


def calibrate(model: HybridModel, data: Dataset, ev: Evaluator, seed: int = 11) -> BlendCalibration:
    """Per component, the logistic slope of 'is the next item' on the standardised score."""
    rng = np.random.default_rng(seed)
    xs: dict[str, list[np.ndarray]] = {c: [] for c in COMPONENTS}
    ys: list[np.ndarray] = []
    cases = zip(ev.split.test_users, ev.split.test_items, ev.case_histories, strict=True)
    for n, (u, t, hist) in enumerate(cases):
        negatives = ev.negatives[n][rng.permutation(len(ev.negatives[n]))[:30]]
        picks = np.append(negatives, t)
        scores = model.component_scores(hist, persona_rows_for(model.pa, data, int(u)))
        for c in COMPONENTS:
            xs[c].append(standardize(scores[c])[picks])
        ys.append(np.r_[np.zeros(len(negatives)), 1.0])
    y = np.concatenate(ys)
    return BlendCalibration({c: logistic_slope(np.concatenate(xs[c]), y) for c in COMPONENTS})


def blend_scorer(
    model: HybridModel, data: Dataset, weights: tuple[float, float, float]
) -> Callable[[int, np.ndarray], np.ndarray]:
    def score(u: int, hist: np.ndarray) -> np.ndarray:
        return model.blended(hist, persona_rows_for(model.pa, data, u), weights).total

    return score


def _tune_weights(
    model: HybridModel,
    data: Dataset,
    ev: Evaluator,
    grid: list[tuple[float, float, float]],
    default: tuple[float, float, float] = (0.4, 0.4, 0.2),
) -> tuple[float, float, float]:
    """The grid point with the best validation NDCG@10, vectorised over cases: the calibrated
    component scores of every case are computed once, then each weight vector is one fused
    multiply-add and a rank count instead of a full scoring pass."""
    n_cases = min(len(ev), max(1, _MAX_TUNING_CELLS // (3 * data.n_items)))
    z = np.empty((3, n_cases, data.n_items), dtype=np.float32)
    seen = np.zeros((n_cases, data.n_items), dtype=bool)
    for n in range(n_cases):
        u, hist = int(ev.split.test_users[n]), ev.case_histories[n]
        blended = model.blended(hist, persona_rows_for(model.pa, data, u), (1.0, 1.0, 1.0))
        z[:, n, :] = (blended.raw - blended.mean[:, None]) * blended.scale[:, None]
        seen[n, hist] = True
    targets = ev.split.test_items[:n_cases]
    rows = np.arange(n_cases)
    per_case = []
    for w in grid:
        total = np.float32(w[0]) * z[0] + np.float32(w[1]) * z[1] + np.float32(w[2]) * z[2]
        total[seen] = -np.inf
        target = total[rows, targets][:, None]
        rank = (total > target).sum(axis=1) + 0.5 * ((total == target).sum(axis=1) - 1)
        per_case.append(metrics.ndcg_at(rank, 10))
    return grid[one_se_choice(per_case, [_distance(w, default) for w in grid])]


def _distance(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return float(sum(abs(x - y) for x, y in zip(a, b, strict=True)))


def one_se_choice(per_case: list[np.ndarray], distance: list[float]) -> int:
    """Index of the candidate to keep: among those whose validation NDCG is within one
    standard error (of the paired difference) of the best, the one closest to the default.

    Breiman's one-standard-error rule: picking the raw best of many noisy candidates chases
    validation noise (on ML-100K the "best" weights then lose to the default on test data).
    """
    means = [float(c.mean()) for c in per_case]
    best = int(np.argmax(means))
    n = len(per_case[best])
    within = [
        i
        for i, c in enumerate(per_case)
        if means[best] - means[i]
        <= (float(np.std(per_case[best] - c, ddof=1)) / np.sqrt(n) if n > 1 else 0.0)
    ]
    return min(within, key=lambda i: (distance[i], -means[i]))


def _cf_only(cf: SequenceCF) -> Callable[[int, np.ndarray], np.ndarray]:
    return lambda u, hist: cf.score(hist)


def weight_grid(step: float = WEIGHT_GRID_STEP) -> list[tuple[float, float, float]]:
    n = round(1 / step)
    return [
        (a * step, b * step, (n - a - b) * step)
        for a in range(n + 1)
        for b in range(n + 1 - a)
        if a + b <= n
    ]


def train(
    data: Dataset,
    default_weights: tuple[float, float, float] = (0.4, 0.4, 0.2),
    tune: bool = True,
    progress: Progress = no_progress,
) -> tuple[HybridModel, TrainReport]:
    """Fit on ``data``; choose CF params, calibration and tuned weights on a validation split."""
    split = leave_last_out(data, n_holdout=VALIDATION_CASES_PER_USER)
    ev = Evaluator(split, seed=97)
    base = CFParams()
    candidates = [base]
    if tune:
        keys = list(CF_GRID)
        candidates = [
            replace(base, **dict(zip(keys, values, strict=True)))  # type: ignore[arg-type]
            for values in itertools.product(*(CF_GRID[k] for k in keys))
        ]
    hist = histories(split.train)
    per_case = []
    for params in progress(candidates, "tuning CF"):
        assert isinstance(params, CFParams)
        cf = SequenceCF(params).fit(hist, data.n_items)
        per_case.append(ev.run(_cf_only(cf)).ndcg10)
    base_values = [getattr(base, k) for k in CF_GRID]
    distance = [
        _distance(tuple(np.log([getattr(c, k) for k in CF_GRID])), tuple(np.log(base_values)))
        for c in candidates
    ]
    cf_params = candidates[one_se_choice(per_case, distance)]
    val_model = fit_components(split.train, cf_params)
    val_model.calibration = calibrate(val_model, split.train, ev)
    validation = {
        "blend_default": ev.run(blend_scorer(val_model, split.train, default_weights)).summary()
    }
    tuned = default_weights
    if tune:
        tuned = _tune_weights(val_model, split.train, ev, weight_grid(), default_weights)
        validation["blend_tuned"] = ev.run(blend_scorer(val_model, split.train, tuned)).summary()
    model = fit_components(data, cf_params)
    model.calibration = val_model.calibration
    model.tuned_weights = tuned
    report = TrainReport(
        cf_params={k: float(v) for k, v in vars(cf_params).items()},
        calibration=dict(model.calibration.scales),
        tuned_weights=tuned,
        validation=validation,
    )
    return model, report
