"""Catalog updates beside a ``gs://`` model, with the real storage client against a fake of
the Cloud Storage JSON API: publish (object, then pointer), the generation poll, and a
concurrent publisher refused instead of overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoengine.artifact import load
from recoengine.catalog import store
from recoengine.catalog.update import UpdateError
from recoengine.catalog.watcher import CatalogWatcher
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.serving import RecommendContext, RecommenderService
from tests.catalog.conftest import items_file
from tests.support.gcs import FakeGCS, gcs

__all__ = ["gcs"]


def test_publish_and_poll_on_gcs(gcs: type[FakeGCS], demo_model_dir: Path, tmp_path: Path) -> None:
    for f in demo_model_dir.iterdir():
        gcs.objects[f"models/v1/{f.name}"] = (1, f.read_bytes())
    uri = "gs://models/v1"
    service = RecommenderService(load(uri, cache_root=tmp_path / "cache"), DEFAULT_WEIGHTS)
    watcher = CatalogWatcher(service, store.location(uri), 60.0)
    assert watcher.check() is False
    update = store.publish(uri, items_file(tmp_path, "item_id,title,features\nn-1,N,Vinyl\n"))
    assert f"models/v1/{store.UPDATES}/{update.version}.json" in gcs.objects
    writes = [r for r in gcs.requests if r.startswith("POST")]
    assert len(writes) == 2 and store.POINTER.replace("/", "%2F") not in writes[0]
    assert "ifGenerationMatch=0" in writes[1]  # the pointer, created only if none is there
    gcs.requests.clear()
    assert watcher.check() is True and service.catalog_version == update.version
    assert [
        i.item_id for i in service.recommend("u", 5, RecommendContext(features=["vinyl"])).items
    ] == ["n-1"]
    gcs.requests.clear()
    assert watcher.check() is False
    assert len(gcs.requests) == 1 and "alt=media" not in gcs.requests[0]  # metadata only


def test_old_overlay_versions_are_deleted_on_gcs(
    gcs: type[FakeGCS], demo_model_dir: Path, tmp_path: Path
) -> None:
    for f in demo_model_dir.iterdir():
        gcs.objects[f"models/v1/{f.name}"] = (1, f.read_bytes())
    for n in range(store.KEEP + 2):
        last = store.publish(
            "gs://models/v1", items_file(tmp_path, f"item_id,title,features\nn-{n},N,Vinyl\n")
        )
    kept = sorted(k for k in gcs.objects if k.startswith(f"models/v1/{store.UPDATES}/"))
    assert len(kept) == store.KEEP and kept[-1].endswith(f"{last.version}.json")
    assert len(last.changes) == store.KEEP + 2  # each version holds every change


def test_a_concurrent_publish_is_refused_not_lost(
    gcs: type[FakeGCS], demo_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for f in demo_model_dir.iterdir():
        gcs.objects[f"models/v1/{f.name}"] = (1, f.read_bytes())
    uri = "gs://models/v1"
    store.publish(uri, items_file(tmp_path, "item_id,title,features\nn-1,N,Vinyl\n"))
    stamp = store.GcsLocation.stamp

    def racing(self: store.GcsLocation, name: str) -> object:
        seen = stamp(self, name)  # someone else publishes right after this read
        key = f"models/v1/{store.POINTER}"
        gen, data = gcs.objects[key]
        gcs.objects[key] = (gen + 1, data)
        return seen

    monkeypatch.setattr(store.GcsLocation, "stamp", racing)
    with pytest.raises(UpdateError, match="published meanwhile"):
        store.publish(uri, items_file(tmp_path, "item_id,title,features\nn-2,M,Vinyl\n", "b.csv"))
