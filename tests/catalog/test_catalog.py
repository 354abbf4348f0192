"""Catalog updates without retraining: validation, atomic publish, refresh, what a new and a
withdrawn item get, the boost, the chat's vocabulary, training absorbing the updates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recoengine import cli
from recoengine.artifact import load
from recoengine.catalog import store
from recoengine.catalog.absorb import absorb, read_published
from recoengine.catalog.update import UpdateError
from recoengine.chat.lexicon import matcher_for
from recoengine.config import load_settings
from recoengine.data.dataset import Dataset
from recoengine.data.demo import write_generic
from recoengine.errors import ConfigError, DataError
from recoengine.serving import RecommendContext
from recoengine.wiring.serving_recommender import ServingRecommender
from tests.catalog.conftest import Served, items_file

NEW = """
item_id,title,features
new-1,The Vinyl One,Vinyl|{genre}
new-2,The Vinyl Two,Vinyl
"""


def first_genre(model: Path) -> str:
    return str(load(str(model)).catalog.features[0][0])


def publish_new(model: Path, tmp_path: Path) -> store.CatalogUpdate:
    return store.publish(str(model), items_file(tmp_path, NEW.format(genre=first_genre(model))))


# -- validation before publishing ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("item_id,title,features,available\nnew-1,A,Vinyl,maybe\n", 2, "available must be"),
        ("item_id,title,features\nnew-1,A,Vinyl\nnew-1,B,Vinyl\n", 3, "duplicate item_id"),
        ("item_id,title,features\nnew-1,A,Vinyl\nnew-2,B,\n", 3, "has no features"),
        ("item_id,available\nghost,false\n", 2, "no such item"),
        ("item_id,title\n,A\n", 2, "empty item_id"),
    ],
)
def test_a_bad_row_is_refused_with_its_line_and_nothing_is_published(
    model: Path, tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = items_file(tmp_path, text)
    with pytest.raises(DataError) as err:
        store.publish(str(model), path)
    assert f"{path}:{line}: " in str(err.value) and problem in str(err.value)
    assert "\n" not in str(err.value)
    assert not (model / store.POINTER).exists()


def test_the_cli_says_one_line_and_exits_2(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = items_file(tmp_path, "item_id,available\nghost,no\n")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["catalog-update", "--items", str(path), "--model-uri", str(model)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "ghost" in err and "\n" not in err
    with pytest.raises(SystemExit):
        cli.main(["catalog-update", "--items", str(path), "--model-uri", str(tmp_path / "none")])
    assert "no model there" in capsys.readouterr().err


def test_jsonl_and_parquet_items_files_publish_too(model: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = items_file(
        tmp_path, '{"item_id": "j-1", "title": "J", "features": ["Vinyl"]}\n', "items.jsonl"
    )
    assert [c.item_id for c in store.publish(str(model), jsonl).changes] == ["j-1"]
    parquet = tmp_path / "items.parquet"
    table = {"item_id": ["p-1"], "features": ["Vinyl"], "available": ["true"]}
    pq.write_table(pa.table(table), parquet)
    assert [c.item_id for c in store.publish(str(model), parquet).changes] == ["j-1", "p-1"]


# -- atomic publish, cumulative overlay ----------------------------------------------------------
def test_publish_writes_a_new_object_then_the_pointer_and_merges(
    model: Path, tmp_path: Path
) -> None:
    first = publish_new(model, tmp_path)
    second = store.publish(
        str(model), items_file(tmp_path, "item_id,available\nnew-1,false\n", "w.csv")
    )
    objects = sorted((model / store.UPDATES).glob("*.json"))
    assert [o.name for o in objects] == [f"{first.version}.json", f"{second.version}.json"]
    pointer = json.loads((model / store.POINTER).read_text())
    assert pointer["version"] == second.version
    assert [(c.item_id, c.available, c.features) for c in second.changes] == [
        ("new-1", False, ("Vinyl", first_genre(model))),  # the earlier row's features kept
        ("new-2", True, ("Vinyl",)),
    ]
    assert not list((model / "catalog").glob(".*-*"))  # no temp file left behind
    for n in range(store.KEEP):
        store.publish(str(model), items_file(tmp_path, f"item_id,title\nnew-2,T{n}\n", "t.csv"))
    assert len(list((model / store.UPDATES).glob("*.json"))) == store.KEEP


def test_a_pointer_to_a_missing_or_altered_object_is_refused(model: Path, tmp_path: Path) -> None:
    update = publish_new(model, tmp_path)
    obj = model / store.UPDATES / f"{update.version}.json"
    obj.write_bytes(obj.read_bytes().replace(b"Vinyl", b"Vinyx"))
    with pytest.raises(UpdateError, match="does not match"):
        store.read_current(store.location(str(model)))
    obj.unlink()
    with pytest.raises(UpdateError, match="missing"):
        store.read_current(store.location(str(model)))


# -- refresh in a running instance ---------------------------------------------------------------
def test_refresh_picks_the_newest_and_does_nothing_when_nothing_changed(
    model: Path, tmp_path: Path
) -> None:
    served = Served(model)
    assert served.watcher.check() is False  # nothing published
    first = publish_new(model, tmp_path)
    assert served.watcher.check() is True
    assert served.service.catalog_version == first.version
    assert served.watcher.check() is False
    second = store.publish(
        str(model), items_file(tmp_path, "item_id,title\nnew-2,Renamed\n", "r.csv")
    )
    assert served.watcher.check() is True
    assert served.service.status()["catalog"]["version"] == second.version
    assert served.service.item_title("new-2") == "Renamed"


def test_the_poller_runs_in_a_forked_worker_too(model: Path, tmp_path: Path) -> None:
    """The local stack and functions-framework load the model, then fork the worker."""
    import os
    import threading

    from recoengine.catalog.watcher import watch

    served = Served(model)
    watcher = watch(served.service, str(model), 0.05)
    assert watcher is not None
    try:
        pid = os.fork()
        if pid == 0:  # the worker: its own poller applies what is published now
            publish_new(model, tmp_path)
            ok = any(t.name == "catalog-watcher" for t in threading.enumerate())
            for _ in range(100):
                if served.service.catalog_version is not None:
                    break
                threading.Event().wait(0.05)
            os._exit(0 if ok and served.service.catalog_version is not None else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        watcher.stop()


def test_unreachable_catalog_storage_still_serves_the_model(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recoengine.catalog.watcher import watch

    def broken(uri: str) -> store.Location:
        raise RuntimeError("no credentials for the bucket")

    served = Served(model)
    monkeypatch.setattr(store, "location", broken)
    assert watch(served.service, "gs://b/m", 60.0) is None
    assert "no credentials" in served.service.status()["catalog"]["last_error"]
    assert len(served.service.recommend("user-0001", 3).items) == 3


def test_a_bad_update_never_replaces_a_good_one(model: Path, tmp_path: Path) -> None:
    served = Served(model)
    good = publish_new(model, tmp_path)
    served.watcher.check()
    # A document that passed no validation (a new item without features), pointed at properly.
    doc = json.loads((model / store.UPDATES / f"{good.version}.json").read_text())
    doc["version"] = "bad"
    doc["items"].append({"item_id": "new-3", "title": "x", "features": None, "available": True})
    raw = json.dumps(doc).encode()
    loc = store.location(str(model))
    loc.write(f"{store.UPDATES}/bad.json", raw)
    import hashlib

    pointer = {"version": "bad", "object": f"{store.UPDATES}/bad.json"}
    pointer["sha256"] = hashlib.sha256(raw).hexdigest()
    loc.write(store.POINTER, json.dumps(pointer).encode())
    assert served.watcher.check() is False
    status = served.service.status()["catalog"]
    assert status["version"] == good.version and "new-3" in status["last_error"]
    assert served.service.item_title("new-1") == "The Vinyl One"
    # A pointer that is not JSON, and one for another model: refused alike.
    loc.write(store.POINTER, b"{half")
    assert served.watcher.check() is False
    doc["model_version"] = "another-model"
    doc["items"].pop()
    raw = json.dumps(doc).encode()
    loc.write(f"{store.UPDATES}/bad.json", raw)
    pointer["sha256"] = hashlib.sha256(raw).hexdigest()
    loc.write(store.POINTER, json.dumps(pointer).encode())
    assert served.watcher.check() is False
    assert served.service.catalog_version == good.version


# -- what a new item gets ------------------------------------------------------------------------
def test_a_new_item_is_served_with_filters_and_its_clicks_count(
    model: Path, tmp_path: Path
) -> None:
    served = Served(model)
    svc = served.service
    before = svc.recommend("user-0001", 5, RecommendContext(features=["vinyl"]))
    assert any("vinyl" in w for w in before.warnings)  # unknown before the update
    publish_new(model, tmp_path)
    served.watcher.check()
    after = svc.recommend("user-0001", 5, RecommendContext(features=["vinyl"]))
    assert {i.item_id for i in after.items} == {"new-1", "new-2"} and not after.warnings
    assert all(np.isfinite(i.components["cb"]) for i in after.items)
    # Its click in the user's recent events resolves: new-1 is now history, never served.
    clicked = svc.recommend("someone-new", 5, RecommendContext(features=["Vinyl"]), ["new-1"])
    assert [i.item_id for i in clicked.items] == ["new-2"]
    # The content model scores it from its features: a profile of new-1 alone likes new-2.
    profile = svc.model.cb.profile(np.asarray([svc.n_items - 2], dtype=np.int32))
    assert float(profile @ np.ones_like(profile)) > 0
    # Persona: a prior from similar items (the lift matrix has a column for it).
    assert svc.model.pa.lift.shape[1] == svc.n_items
    # The chat's vocabulary knows the new token.
    vocabulary = ServingRecommender(lambda: svc).vocabulary()
    assert "Vinyl" in vocabulary
    found = matcher_for(vocabulary).find("something on vinyl please")
    assert [f.value.tokens for f in found] == [("Vinyl",)]  # the chat understands it
    assert svc.item_features("new-1") == ["Vinyl", first_genre(model)]


# -- what a withdrawn item gets ------------------------------------------------------------------
def test_a_withdrawn_item_is_never_served_cache_and_neighbours_included(
    model: Path, tmp_path: Path
) -> None:
    served = Served(model)
    svc = served.service
    users = svc.catalog.user_ids[:60]
    top = svc.recommend(users[0], 10).items[0].item_id
    neighbour = svc.similar_items(svc.catalog.item_ids[0], 5)[0].item_id
    feature = (svc.item_features(top) or ["?"])[0]
    cached_before = svc.recommend(users[0], 10)
    assert cached_before.cached and top in {i.item_id for i in cached_before.items}
    text = f"item_id,available\n{top},false\n{neighbour},false\n"
    store.publish(str(model), items_file(tmp_path, text))
    served.watcher.check()
    gone = {top, neighbour}
    answer = svc.recommend(users[0], 10)
    assert not answer.cached and not gone & {i.item_id for i in answer.items}
    for uid in users:
        for ctx in (RecommendContext(), RecommendContext(features=[feature])):
            assert not gone & {i.item_id for i in svc.recommend(uid, 20, ctx).items}
    for iid in svc.catalog.item_ids[:80]:
        assert not gone & {i.item_id for i in svc.similar_items(iid, 10)}
    # Listed again later: served again.
    store.publish(str(model), items_file(tmp_path, f"item_id,available\n{top},true\n", "b.csv"))
    served.watcher.check()
    assert top in {i.item_id for i in svc.recommend(users[0], 10).items}


# -- the boost -----------------------------------------------------------------------------------
def test_the_new_item_share_reserves_slots(model: Path, tmp_path: Path) -> None:
    plain, boosted = Served(model), Served(model, share=0.2)
    publish_new(model, tmp_path)
    plain.watcher.check()
    boosted.watcher.check()
    for uid in plain.service.catalog.user_ids[:20]:
        items = boosted.service.recommend(uid, 10).items
        assert len(items) == 10 and sum(i.item_id.startswith("new-") for i in items) == 2
        assert [i.score for i in items] == sorted((i.score for i in items), reverse=True)
        assert not any(i.item_id.startswith("new-") for i in plain.service.recommend(uid, 10).items)
    # With a filter, only new items carrying it take the slots.
    genre = first_genre(model)
    items = boosted.service.recommend("user-0002", 10, RecommendContext(features=[genre])).items
    assert [i.item_id for i in items if i.item_id.startswith("new-")] == ["new-1"]


def test_settings_are_checked() -> None:
    cfg = load_settings({}).recommend
    assert cfg.catalog_refresh_seconds == 60.0 and cfg.catalog_new_item_share == 0.0
    with pytest.raises(ConfigError, match="CATALOG_NEW_ITEM_SHARE"):
        load_settings({"CATALOG_NEW_ITEM_SHARE": "1.5"})
    with pytest.raises(ConfigError, match="CATALOG_REFRESH_SECONDS"):
        load_settings({"CATALOG_REFRESH_SECONDS": "soon"})


# -- the next retrain absorbs the updates --------------------------------------------------------
def test_training_absorbs_the_published_updates(
    model: Path, tmp_path: Path, demo_data: Dataset
) -> None:
    withdrawn = demo_data.item_ids[5]
    publish_new(model, tmp_path)
    store.publish(
        str(model), items_file(tmp_path, f"item_id,available\n{withdrawn},false\n", "w.csv")
    )
    update = read_published(str(model))
    assert update is not None
    data = absorb(demo_data, update)
    assert data.item_ids[-2:] == ["new-1", "new-2"] and withdrawn not in data.item_ids
    assert data.n_interactions == demo_data.n_interactions - int((demo_data.items == 5).sum())
    assert data.item_ids[int(data.items.max())] in data.item_ids
    folder = write_generic(demo_data, tmp_path / "data")
    out = tmp_path / "retrained"
    args = ["train", "--data", str(folder), "--out", str(out), "--no-tune"]
    cli.main([*args, "--catalog-updates", str(model)])
    retrained = load(str(out))
    assert "new-2" in retrained.catalog.item_ids and withdrawn not in retrained.catalog.item_ids
    assert "Vinyl" in retrained.model.cb.vocabulary
    assert not (out / store.POINTER).exists()  # the new model starts with no overlay


def test_boosted_slots_count_the_new_items_already_on_top(model: Path) -> None:
    """A new item that made the top on its own holds one of the slots; the next best new items
    take the others, replacing the lowest items, and the list keeps its score order."""
    from recoengine.models.blend import Blended
    from recoengine.models.hybrid import Scored

    svc = Served(model, share=0.6).service
    items = np.arange(12, dtype=np.int32)
    total = np.linspace(12, 1, 12).astype(np.float32)  # item i scores 12 - i
    scored = Scored(items, np.zeros((3, 12), dtype=np.float32))
    blended = Blended(total, scored.raw, np.zeros(3), np.zeros(3))
    fresh = np.asarray([1, 10, 11], dtype=np.int32)
    got = [i.item_id for i in svc._top_boosted(svc._view, scored, blended, 5, fresh)]
    ids = svc.catalog.item_ids
    assert got == [ids[0], ids[1], ids[2], ids[10], ids[11]]
