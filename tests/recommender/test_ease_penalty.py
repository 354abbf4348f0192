"""EASE's L2 penalty is chosen on validation, jointly with CF's parameters, wherever EASE is
fitted; the full fit and the artifact use the penalty chosen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recoengine import artifact, training
from recoengine.data.demo import generate
from recoengine.models.history import Histories, histories
from recoengine.models.item_graphs import GraphParams, ItemGraphs, fit_graphs, no_progress
from recoengine.pipeline import train_and_save


class RecordingFitter:
    """``fit_graphs``, remembering the penalty of every fit."""

    def __init__(self) -> None:
        self.penalties: list[float] = []

    def __call__(self, hist: Histories, n_items: int, gp: GraphParams, progress: Any) -> ItemGraphs:
        self.penalties.append(gp.ease_l2)
        return fit_graphs(hist, n_items, gp, progress)


@pytest.fixture(scope="module")
def data() -> Any:
    return generate(n_users=120, n_items=90, per_user=14, seed=5)


def test_a_small_catalog_is_fitted_once_per_penalty(data: Any) -> None:
    fit = RecordingFitter()
    gp = GraphParams(ease_l2=75.0)
    graphs = training.validation_graphs(fit, histories(data), data.n_items, gp, no_progress)
    assert sorted(graphs) == sorted({*training.EASE_L2_GRID, 75.0}) == sorted(fit.penalties)
    assert all(g.ease is not None for g in graphs.values())


@pytest.mark.parametrize(
    ("ease_max_items", "penalties"), [(10, training.EASE_L2_GRID), (20_000, ())]
)
def test_without_ease_or_penalties_to_try_one_fit(
    data: Any, ease_max_items: int, penalties: tuple[float, ...]
) -> None:
    fit = RecordingFitter()
    gp = GraphParams(ease_max_items=ease_max_items)
    hist = histories(data)
    graphs = training.validation_graphs(fit, hist, data.n_items, gp, no_progress, penalties)
    assert list(graphs) == [gp.ease_l2] and fit.penalties == [gp.ease_l2]


def test_the_penalty_whose_graphs_predict_is_chosen_however_far_from_the_default(
    data: Any,
) -> None:
    """Graphs that know nothing (fitted on no interactions) under the default penalty, real
    ones under a distant penalty: the joint grid picks the distant one."""
    split, ev = training.validation_split(data)
    hist = histories(split.train)
    empty = Histories.from_lists([np.zeros(0, np.int32)] * len(hist))
    default = GraphParams().ease_l2
    graphs = {
        default: fit_graphs(empty, data.n_items, GraphParams()),
        1.0: fit_graphs(hist, data.n_items, replace(GraphParams(), ease_l2=1.0)),
    }
    popular = np.arange(10, dtype=np.int32)
    l2, _ = training.tune_cf(graphs, ev, popular, default_l2=default)
    assert l2 == 1.0


def test_training_fits_all_data_with_the_chosen_penalty_and_records_it(
    data: Any, tmp_path: Path
) -> None:
    fit = RecordingFitter()
    path, report = train_and_save(data, tmp_path / "model", graph_fitter=fit)
    chosen = report.graph_params.ease_l2
    assert chosen in training.EASE_L2_GRID
    assert fit.penalties[-1] == chosen  # the full fit, after one per penalty on validation
    assert len(fit.penalties) == len(training.EASE_L2_GRID) + 1
    assert artifact.load(str(path)).manifest["params"]["graphs"]["ease_l2"] == chosen


def test_untuned_training_fits_the_configured_penalty_only(data: Any) -> None:
    fit = RecordingFitter()
    _, report = training.train(
        data, tune=False, graph_fitter=fit, graph_params=GraphParams(ease_l2=7.0)
    )
    assert fit.penalties == [7.0, 7.0] and report.graph_params.ease_l2 == 7.0
