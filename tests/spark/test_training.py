"""End to end: a model trained with the Spark fitter is the local trainer's model.

Same validation and test NDCG (to 1e-6), the command line's ``ENGINE=spark`` train records the
engine in the manifest, and the Dataproc job reads its data from and writes its artifact to
Cloud Storage (an in-memory client here), the manifest last.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recoengine import training
from recoengine.artifact import load
from recoengine.data.dataset import Dataset
from recoengine.data.demo import generate, write_generic
from recoengine.evaluation.evaluator import Evaluator
from recoengine.evaluation.protocol import leave_last_out
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.models.item_graphs import fit_graphs


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(n_users=150, n_items=120, per_user=20, seed=3)


def test_same_validation_and_test_ndcg(data: Dataset, fitter: Any) -> None:
    split = leave_last_out(data)
    ev = Evaluator(split, seed=5)
    results = {}
    for name, graph_fitter in (("local", fit_graphs), ("spark", fitter)):
        model, report = training.train(split.train, tune=False, graph_fitter=graph_fitter)
        test = ev.run(training.blend_scorer(model, split.train, DEFAULT_WEIGHTS)).summary()
        results[name] = (report.validation["blend_default"]["ndcg10"], test["ndcg10"])
    assert results["local"][1] > 0
    np.testing.assert_allclose(results["spark"], results["local"], atol=1e-6, rtol=0)


def test_cli_train_records_the_engine(
    data: Dataset, fitter: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recoengine.spark import cli

    directory = write_generic(data, tmp_path / "data")
    args = argparse.Namespace(data=str(directory), format="generic", out=str(tmp_path / "model"))
    args.no_tune = True
    cli.train(args)
    printed = json.loads(capsys.readouterr().out)
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["engine"] == "spark" and printed["engine"] == "spark"
    assert load(str(tmp_path / "model")).manifest["version"] == printed["version"]


class _Blob:
    def __init__(self, store: MemoryStorage, bucket: str, name: str) -> None:
        self.store, self.bucket, self.name = store, bucket, name

    def download_to_filename(self, path: str) -> None:
        Path(path).write_bytes(self.store.objects[f"{self.bucket}/{self.name}"])

    def upload_from_filename(self, path: str) -> None:
        self.store.objects[f"{self.bucket}/{self.name}"] = Path(path).read_bytes()
        self.store.uploads.append(f"{self.bucket}/{self.name}")


class _Bucket:
    def __init__(self, store: MemoryStorage, name: str) -> None:
        self.store, self.name = store, name

    def blob(self, name: str) -> _Blob:
        return _Blob(self.store, self.name, name)


class MemoryStorage:
    """The few ``google.cloud.storage.Client`` calls the job makes, in memory."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.uploads: list[str] = []

    def bucket(self, name: str) -> _Bucket:
        return _Bucket(self, name)

    def list_blobs(self, bucket: str, prefix: str | None = None) -> list[_Blob]:
        names = [k.split("/", 1)[1] for k in self.objects if k.startswith(f"{bucket}/")]
        return [_Blob(self, bucket, n) for n in sorted(names) if n.startswith(prefix or "")]


def test_job_reads_and_writes_cloud_storage(data: Dataset, spark: Any, tmp_path: Path) -> None:
    from recoengine.spark import job

    storage = MemoryStorage()
    directory = write_generic(data, tmp_path / "data", parquet=True)
    for path in directory.iterdir():
        storage.objects[f"data-bucket/in/{path.name}"] = path.read_bytes()
    storage.objects["data-bucket/in/notes.txt"] = b"not data"
    argv = ["--data", "gs://data-bucket/in", "--out", "gs://models/candidates/spark"]
    argv += ["--no-tune", "--staging", str(tmp_path / "staging")]
    (tmp_path / "staging").mkdir()
    assert job.main(argv, storage_client=storage) == "gs://models/candidates/spark"

    assert storage.uploads[-1] == "models/candidates/spark/manifest.json"
    local = tmp_path / "downloaded"
    local.mkdir()
    for key in storage.uploads:
        (local / key.rsplit("/", 1)[1]).write_bytes(storage.objects[key])
    model = load(str(local))
    assert model.manifest["engine"] == "spark"
    assert sorted(p.name for p in local.iterdir()) == sorted(
        [*model.manifest["files"], "manifest.json"]
    )
    assert not list((tmp_path / "staging").iterdir())  # the staged histories are removed
