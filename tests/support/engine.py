"""A small demo model trained once per test session, and settings pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recoengine.artifact import LoadedModel, load
from recoengine.data.dataset import Dataset
from recoengine.data.demo import generate
from recoengine.pipeline import train_and_save


@pytest.fixture(scope="session")
def demo_data() -> Dataset:
    return generate(n_users=150, n_items=160, per_user=25, seed=3)


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory: pytest.TempPathFactory, demo_data: Dataset) -> Path:
    path, _ = train_and_save(demo_data, tmp_path_factory.mktemp("model") / "model", tune=False)
    return path


@pytest.fixture(scope="session")
def loaded(demo_model_dir: Path) -> LoadedModel:
    return load(str(demo_model_dir))


@pytest.fixture()
def engine_env(
    monkeypatch: pytest.MonkeyPatch, demo_model_dir: Path, tmp_path: Path
) -> Iterator[None]:
    """Settings pointed at the demo model and a fresh ``var/``; every provider rebuilds from
    them (and, after the test, lazily from the restored environment)."""
    from recoengine import wiring

    monkeypatch.setenv("MODEL_URI", str(demo_model_dir))
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    wiring.reset_all()
    yield
    wiring.reset_all()
