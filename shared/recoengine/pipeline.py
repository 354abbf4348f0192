"""Train-and-save: the one path from a dataset to an artifact (CLI, demo model, Cloud Run job)."""

from __future__ import annotations

from pathlib import Path

from recoengine import artifact, training
from recoengine.data.dataset import Dataset
from recoengine.models.history import histories


def train_and_save(
    data: Dataset,
    out: str | Path,
    *,
    tune: bool = True,
    default_weights: tuple[float, float, float] = (0.4, 0.4, 0.2),
    progress: training.Progress = training.no_progress,
) -> tuple[Path, training.TrainReport]:
    model, report = training.train(data, default_weights, tune=tune, progress=progress)
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
    )
    return path, report
