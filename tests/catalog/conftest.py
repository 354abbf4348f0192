"""A private copy of the demo model per test (updates are published into the model's folder),
and helpers to write items files and serve the model with its updates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recoengine.artifact import load
from recoengine.catalog import store
from recoengine.catalog.watcher import CatalogWatcher
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.serving import RecommenderService
from recoengine.serving.cache import TTLCache


@pytest.fixture()
def model(demo_model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(demo_model_dir, copy)
    return copy


def items_file(folder: Path, text: str, name: str = "items.csv") -> Path:
    path = folder / name
    path.write_text(text.lstrip())
    return path


class Served:
    """The service over ``model`` and its watcher (checked by hand, no thread)."""

    def __init__(self, model: Path, share: float = 0.0) -> None:
        self.service = RecommenderService(
            load(str(model)), DEFAULT_WEIGHTS, TTLCache(1000, 600), new_item_share=share
        )
        self.watcher = CatalogWatcher(self.service, store.location(str(model)), 60.0)
