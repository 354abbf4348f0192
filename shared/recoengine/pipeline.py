"""Train-and-save: the one path from a dataset to an artifact (CLI, demo model, Spark job)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from recoengine import artifact, training
from recoengine.data.dataset import Dataset
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.models.history import histories
from recoengine.models.item_graphs import GraphParams, fit_graphs


def train_and_save(
    data: Dataset,
    out: str | Path,
    *,
    tune: bool = True,
    default_weights: tuple[float, float, float] = DEFAULT_WEIGHTS,
    progress: training.Progress = training.no_progress,
    graph_fitter: training.GraphFitter = fit_graphs,
    graph_params: GraphParams | None = None,
    engine: str = "local",
) -> tuple[Path, training.TrainReport]:
    model, report = training.train(
        data,
        default_weights,
        tune=tune,
        progress=progress,
        graph_fitter=graph_fitter,
        graph_params=graph_params,
    )
    catalog = artifact.Catalog(
        item_ids=data.item_ids,
        titles=data.titles,
        features=data.item_features,
        user_ids=data.user_ids,
        user_attrs=data.user_attrs,
    )
    path = artifact.save(
        out,
        model,
        catalog,
        histories(data),
        data_fingerprint=data.fingerprint(),
        dataset=data.name,
        default_weights=default_weights,
        metrics={"validation": report.validation, "cf_params": report.cf_params},
        engine=engine,
        graph_params=asdict(report.graph_params),
    )
    return path, report


def train_demo_model(out: str | Path, *, seed: int = 7) -> Path:
    """The model ``make run`` serves on a fresh machine: trained on generated data (the demo
    catalogue), without tuning, so the first start takes seconds."""
    from recoengine.data.demo import generate

    path, _ = train_and_save(generate(seed=seed), out, tune=False)
    return path
