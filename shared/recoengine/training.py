"""Training: fit the graphs and components, calibrate them on a validation split, tune on it.

Everything that is chosen from data (EASE's penalty, CF serving parameters, calibration
scales, tuned weights) is chosen on a validation split carved from the training data only (each
user's last training interactions), then the graphs and components are refitted on all the
training data.

The item graphs are the part whose cost grows faster than the data (co-occurrence is a sum of
squared history lengths), so their fitter is a parameter: ``item_graphs.fit_graphs`` on one
machine, ``recoengine.spark.graphs.SparkGraphFitter`` beyond it. Everything after the graphs is
items x neighbours sized or linear in the data, and identical for both.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from recoengine.data.dataset import Dataset
from recoengine.errors import DataError
from recoengine.evaluation import metrics
from recoengine.evaluation.evaluator import Evaluator, ScoreFn
from recoengine.evaluation.protocol import Split, leave_last_out
from recoengine.models.blend import (
    COMPONENTS,
    DEFAULT_WEIGHTS,
    BlendCalibration,
    logistic_slope,
    standardize,
)
from recoengine.models.collaborative import CFParams, SequenceCF
from recoengine.models.content import ContentModel
from recoengine.models.history import Histories, histories
from recoengine.models.hybrid import HybridModel
from recoengine.models.item_graphs import (
    GraphParams,
    ItemGraphs,
    Progress,
    fit_graphs,
    no_progress,
)
from recoengine.models.persona import PersonaModel

log = logging.getLogger(__name__)

GraphFitter = Callable[[Histories, int, GraphParams, Progress], ItemGraphs]

# CF's serving parameters, searched on a grid: the graphs stay fitted, so each point costs one
# validation pass. ML-100K settles on long recency windows; Amazon Toys (short sessions) on a
# 5-step half-life and transitions at 4 times EASE (since transitions are smoothed,
# ``GraphParams.transition_smoothing``); Amazon Sports on EASE and transitions alone, at equal
# weights. Without EASE, co-occurrence is the main graph.
CF_GRID: dict[str, tuple[float, ...]] = {
    "half_life": (2.0, 5.0, 10.0, 20.0),
    "transition_weight": (1.0, 2.0, 4.0),
    "transition_half_life": (0.5, 1.5),
    "cooccurrence_weight": (0.0, 0.3, 1.0),
}
# EASE's L2 penalty, chosen on validation with CF's parameters (one joint grid: EASE's scale
# sets how much the other graphs weigh) wherever EASE is fitted. The best penalty follows the
# data's density, one value does not serve all (test NDCG@10 of the tuned blend, 2026-12-06):
# ML-100K 0.1223 at 400 and 0.1110 at 50 (``python -m tools.ease_l2``; validation 0.1299 and
# 0.1264, so it keeps 400); Amazon Sports 0.0354 with 50 chosen (``make eval``), 0.0332 with
# 400 (and with smoothed transitions 150 chosen: 0.0369); Amazon Toys 0.0724-0.0728 at any of
# them (raw transitions). Each value costs one more EASE fit of the
# validation split (about 100 s at 18,000 items on 2 cores), and only catalogs up to
# ``ease_max_items`` pay it.
EASE_L2_GRID: tuple[float, ...] = (50.0, 150.0, 400.0)
# Validation: about this many next-item cases, each user's last training interaction predicted
# from the ones before it, as the test protocol does. Where users are too few for that (ML-100K:
# 943), each gives its last few, each predicted from its prefix, up to five (five instead of one
# cut the noise of every choice by √5; with three, CF choices on ML-100K still moved test
# NDCG@10 by 0.006 from one run to another). Where users are many, one case each from a seeded
# sample of them: five cases from 3,000 users made the validation population the heaviest users
# only (in a 5-core set such as Amazon Toys, 54% of users have too few interactions to give five)
# and fitted its graphs without 30% of the data. On Toys, the choices made on one case
# per user score NDCG@10 0.0728 on test instead of 0.0716; ML-100K's split is unchanged.
VALIDATION_CASES = 15_000
MAX_VALIDATION_CASES_PER_USER = 5
WEIGHT_GRID_STEP = 0.1


@dataclass
class TrainReport:
    cf_params: dict[str, float]
    calibration: dict[str, float]
    tuned_weights: tuple[float, float, float]
    validation: dict[str, dict[str, float]]
    graph_params: GraphParams


def persona_rows_for(model: PersonaModel, data: Dataset, user: int) -> list[int]:
    return model.rows_for({a: vals[user] for a, vals in data.user_attrs.items()})


def fit_components(data: Dataset, graphs: ItemGraphs, cf_params: CFParams) -> HybridModel:
    popularity = np.bincount(data.items, weights=data.weights, minlength=data.n_items)
    return HybridModel(
        cf=SequenceCF(graphs, cf_params),
        cb=ContentModel.fit(data.item_features, popularity),
        pa=PersonaModel.fit(data.user_attrs, data.users, data.items, data.weights, data.n_items),
    )


def calibrate(model: HybridModel, data: Dataset, ev: Evaluator, seed: int = 11) -> BlendCalibration:
    """Per component, the logistic slope of 'is the next item' on its score standardised over
    the request's candidates, on up to 30 sampled candidates per case plus the target (when
    the target is a candidate at all)."""
    rng = np.random.default_rng(seed)
    xs: dict[str, list[np.ndarray]] = {c: [] for c in COMPONENTS}
    ys: list[np.ndarray] = []
    for u, t, hist in zip(ev.users, ev.targets, ev.case_histories, strict=True):
        scored = model.candidates(hist, persona_rows_for(model.pa, data, int(u)))
        if len(scored) < 2:
            continue
        is_target = scored.items == t
        others = np.flatnonzero(~is_target)
        picks = others[rng.permutation(len(others))[:30]]
        label = np.zeros(len(picks))
        if is_target.any():
            picks = np.append(picks, np.flatnonzero(is_target)[0])
            label = np.append(label, 1.0)
        for c, row in zip(COMPONENTS, scored.raw, strict=True):
            xs[c].append(standardize(row)[picks])
        ys.append(label)
    if not ys or not np.concatenate(ys).any():
        return BlendCalibration()
    y = np.concatenate(ys)
    return BlendCalibration({c: logistic_slope(np.concatenate(xs[c]), y) for c in COMPONENTS})


def blend_scorer(model: HybridModel, data: Dataset, weights: tuple[float, float, float]) -> ScoreFn:
    """The serving path as the evaluator sees it: candidates and their blended scores."""

    def score(u: int, hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scored, blended = model.blended(hist, persona_rows_for(model.pa, data, u), weights)
        return scored.items, blended.total

    return score


def _cf_scorer(cf: SequenceCF, popular: np.ndarray) -> ScoreFn:
    def score(u: int, hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return cf.gather(hist, popular, np.ascontiguousarray(hist, dtype=np.int32))

    return score


def tune_weights(
    model: HybridModel,
    data: Dataset,
    ev: Evaluator,
    grid: list[tuple[float, float, float]],
    default: tuple[float, float, float] = DEFAULT_WEIGHTS,
) -> tuple[float, float, float]:
    """The grid point with the best validation NDCG@10 (one-standard-error rule), vectorised
    over the grid: each case's calibrated component scores are computed once, then every
    weight vector is one small matrix product and a rank count."""
    w = np.asarray(grid, dtype=np.float32)
    ndcg = np.zeros((len(grid), len(ev)))
    for n, (u, t, hist) in enumerate(zip(ev.users, ev.targets, ev.case_histories, strict=True)):
        scored, blended = model.blended(hist, persona_rows_for(model.pa, data, int(u)), (1, 1, 1))
        hit = np.flatnonzero(scored.items == t)
        if not len(hit):
            continue  # the target is not a candidate: NDCG 0 whatever the weights
        z = (blended.raw - blended.mean[:, None].astype(np.float32)) * blended.scale[
            :, None
        ].astype(np.float32)
        totals = w @ z
        target = totals[:, hit[0]][:, None]
        rank = (totals > target).sum(axis=1) + 0.5 * ((totals == target).sum(axis=1) - 1)
        ndcg[:, n] = metrics.ndcg_at(rank, 10)
    per_case = list(ndcg)
    return grid[one_se_choice(per_case, [weight_distance(g, default) for g in grid])]


def weight_distance(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """L1 distance of two weight vectors: the one-SE rule keeps the one closest to the default."""
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


def weight_grid(step: float = WEIGHT_GRID_STEP) -> list[tuple[float, float, float]]:
    n = round(1 / step)
    return [
        (a * step, b * step, (n - a - b) * step)
        for a in range(n + 1)
        for b in range(n + 1 - a)
        if a + b <= n
    ]


def tune_cf(
    graphs: dict[float, ItemGraphs],
    ev: Evaluator,
    popular: np.ndarray,
    progress: Progress = no_progress,
    base: CFParams | None = None,
    default_l2: float = GraphParams.ease_l2,
) -> tuple[float, CFParams]:
    """EASE's L2 penalty and CF's serving parameters, from ``graphs`` fitted with each penalty
    tried: the point of the joint grid kept by the one-standard-error rule, among those within
    one standard error of the best validation NDCG@10 the closest to the defaults (``base``
    and ``default_l2``, in log space)."""
    base = base or CFParams()
    points = [
        (l2, c, abs(np.log(l2) - np.log(default_l2)) + distance)
        for l2, g in graphs.items()
        for c, distance in _cf_candidates(g, base)
    ]
    per_case = [
        ev.run(_cf_scorer(SequenceCF(graphs[l2], c), popular)).ndcg10
        for l2, c, _ in progress(points, "tuning CF")
    ]
    l2, params, _ = points[one_se_choice(per_case, [d for _, _, d in points])]
    return l2, params


def _cf_candidates(graphs: ItemGraphs, base: CFParams) -> list[tuple[CFParams, float]]:
    """CF's grid for these graphs (co-occurrence weighs 1 without EASE: it is the main graph),
    each point with its distance to ``base`` in log space."""
    grid = dict(CF_GRID)
    if graphs.ease is None:
        grid["cooccurrence_weight"] = (1.0,)
    keys = list(grid)
    candidates = [
        replace(base, **dict(zip(keys, values, strict=True)))  # type: ignore[arg-type]
        for values in itertools.product(*(grid[k] for k in keys))
    ]
    return [
        (c, sum(abs(np.log(getattr(c, k) + 0.1) - np.log(getattr(base, k) + 0.1)) for k in keys))
        for c in candidates
    ]


def validation_graphs(
    fit: GraphFitter,
    hist: Histories,
    n_items: int,
    gp: GraphParams,
    progress: Progress,
    penalties: tuple[float, ...] = EASE_L2_GRID,
) -> dict[float, ItemGraphs]:
    """The validation split's graphs by EASE penalty: one per penalty tried (``penalties`` and
    the configured one) where the catalog is small enough for EASE, else the configured one."""
    tried = sorted({*penalties, gp.ease_l2}) if n_items <= gp.ease_max_items else [gp.ease_l2]
    return {l2: fit(hist, n_items, replace(gp, ease_l2=l2), progress) for l2 in tried}


def validation_cases_per_user(data: Dataset) -> int:
    """Cases per user for about ``VALIDATION_CASES`` in all: one when enough users can give
    one (two interactions or more), up to ``MAX_VALIDATION_CASES_PER_USER`` when they are few."""
    counts = np.bincount(data.users, minlength=data.n_users)
    eligible = max(1, int((counts >= 2).sum()))
    return min(MAX_VALIDATION_CASES_PER_USER, max(1, -(-VALIDATION_CASES // eligible)))


def validation_split(data: Dataset) -> tuple[Split, Evaluator]:
    """The validation split of the training data and its evaluator (see ``VALIDATION_CASES``)."""
    per_user = validation_cases_per_user(data)
    split = leave_last_out(data, n_holdout=per_user)
    return split, Evaluator(split, seed=97, max_users=-(-VALIDATION_CASES // per_user))


def _check_usable(data: Dataset) -> None:
    if data.n_items == 0:
        raise DataError(data.name, None, "the catalog has no items: nothing to recommend")
    if data.n_interactions == 0:
        raise DataError(data.name, None, "no interactions: nothing to learn from")


def train(
    data: Dataset,
    default_weights: tuple[float, float, float] = DEFAULT_WEIGHTS,
    tune: bool = True,
    progress: Progress = no_progress,
    graph_fitter: GraphFitter = fit_graphs,
    graph_params: GraphParams | None = None,
    ease_l2_grid: tuple[float, ...] = EASE_L2_GRID,
) -> tuple[HybridModel, TrainReport]:
    """Fit on ``data``; choose EASE's penalty (among ``ease_l2_grid`` and the configured one),
    CF params, calibration and tuned weights on a validation split."""
    _check_usable(data)
    gp = graph_params or GraphParams()
    split, ev = validation_split(data)
    base = CFParams()
    validation: dict[str, dict[str, float]] = {}
    cf_params, calibration, tuned = base, BlendCalibration(), default_weights
    if len(ev):
        penalties = ease_l2_grid if tune else ()
        fitted = validation_graphs(
            graph_fitter, histories(split.train), data.n_items, gp, progress, penalties
        )
        val_model = fit_components(split.train, fitted[gp.ease_l2], base)
        popular = val_model.pa.popular[: val_model.pa.params.candidates]
        if tune:
            l2, cf_params = tune_cf(fitted, ev, popular, progress, base, gp.ease_l2)
            gp = replace(gp, ease_l2=l2)
        val_model.cf = SequenceCF(fitted[gp.ease_l2], cf_params)
        calibration = val_model.calibration = calibrate(val_model, split.train, ev)
        scorer = blend_scorer(val_model, split.train, default_weights)
        validation["blend_default"] = ev.run(scorer).summary()
        if tune:
            tuned = tune_weights(val_model, split.train, ev, weight_grid(), default_weights)
            scorer = blend_scorer(val_model, split.train, tuned)
            validation["blend_tuned"] = ev.run(scorer).summary()
    else:
        log.warning("no user has %d+ interactions: training without validation tuning", 2)
    full_graphs = graph_fitter(histories(data), data.n_items, gp, progress)
    model = fit_components(data, full_graphs, cf_params)
    model.calibration = calibration
    # Recorded only when tuned: serving then says where its weights came from truthfully.
    model.tuned_weights = tuned if tune and len(ev) else None
    report = TrainReport(
        cf_params={k: float(v) for k, v in asdict(cf_params).items()},
        calibration=dict(model.calibration.scales),
        tuned_weights=tuned,
        validation=validation,
        graph_params=gp,
    )
    return model, report
