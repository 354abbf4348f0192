"""The artifact round trip, and refusal of missing or corrupt artifacts."""

from __future__ import annotations

import gc
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recoengine.artifact import (
    ArtifactError,
    LoadedModel,
    load,
    pack_strings,
    save,
    unpack_strings,
)
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.models.item_graphs import GraphParams, ease_k


def test_round_trip_gives_identical_scores(loaded: LoadedModel, demo_model_dir: Path) -> None:
    again = load(str(demo_model_dir))
    hist = loaded.history(3)
    assert len(hist) > 0
    items_a, a = loaded.model.blended(hist, [0], DEFAULT_WEIGHTS)
    items_b, b = again.model.blended(hist, [0], DEFAULT_WEIGHTS)
    assert np.array_equal(items_a.items, items_b.items)
    assert np.array_equal(a.total, b.total)


def test_manifest_records_version_fingerprint_weights_metrics(demo_model_dir: Path) -> None:
    manifest = json.loads((demo_model_dir / "manifest.json").read_text())
    assert manifest["version"].endswith(manifest["data_fingerprint"][:8])
    assert manifest["weights"]["default"] == list(DEFAULT_WEIGHTS)
    assert "blend_default" in manifest["metrics"]["validation"]
    assert set(manifest["calibration"]) == {"cf", "cb", "pa"}
    assert manifest["engine"] == "local"
    assert manifest["has_ease"] is True  # a small catalog gets exact (pruned) EASE


def test_artifact_grows_with_items_times_neighbours(demo_model_dir: Path) -> None:
    manifest = json.loads((demo_model_dir / "manifest.json").read_text())
    n, params = manifest["n_items"], GraphParams(**manifest["params"]["graphs"])
    for graph in ("cf_ease", "cf_cooccurrence", "cf_transitions"):
        indptr = np.load(demo_model_dir / f"{graph}_indptr.npy")
        assert len(indptr) == n + 1
        assert np.diff(indptr).max() <= (
            ease_k(n, params) if graph == "cf_ease" else params.neighbours
        )
    assert not any(np.load(p, mmap_mode="r").shape == (n, n) for p in demo_model_dir.glob("*.npy"))


def test_missing_artifact_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no model artifact"):
        load(str(tmp_path / "nothing"))


@pytest.mark.parametrize(
    "victim", ["cf_cooccurrence_data.npy", "catalog.json", "catalog_user_ids_ends.npy"]
)
def test_corrupt_artifact_is_refused(tmp_path: Path, demo_model_dir: Path, victim: str) -> None:
    """The checksums are checked beside the parsing: whichever finishes first, a corrupt file
    is refused and named as corrupt (even when parsing it failed first, as for catalog.json)."""
    copy = shutil.copytree(demo_model_dir, tmp_path / "m")
    with (copy / victim).open("r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00garbage\x00")
    with pytest.raises(ArtifactError, match="corrupt"):
        load(str(copy))


def test_a_truncated_or_missing_file_is_refused(tmp_path: Path, demo_model_dir: Path) -> None:
    copy = shutil.copytree(demo_model_dir, tmp_path / "m")
    (copy / "hist_items.npy").write_bytes(b"")  # empty: nothing to map, still checked
    with pytest.raises(ArtifactError, match=r"hist_items\.npy .* corrupt"):
        load(str(copy))
    (copy / "hist_items.npy").unlink()
    with pytest.raises(ArtifactError, match="missing or corrupt"):
        load(str(copy))


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_leaves_the_garbage_collector_as_it_found_it(
    demo_model_dir: Path, enabled: bool
) -> None:
    """``load`` pauses the cyclic collector while it builds the catalog's lists, and gives
    the process back its own setting, also when the load fails."""
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        load(str(demo_model_dir))
        assert gc.isenabled() is enabled
        with pytest.raises(ArtifactError):
            load(str(demo_model_dir / "absent"))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_unknown_format_is_refused(tmp_path: Path, demo_model_dir: Path) -> None:
    copy = shutil.copytree(demo_model_dir, tmp_path / "m")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="format"):
        load(str(copy))


def test_strings_pack_into_utf8_and_back() -> None:
    strings = ["Café ☕", "", "東京 story", "plain", ""]
    utf8, ends = pack_strings(strings)
    assert utf8.dtype == np.uint8 and len(utf8) == len("\0".join(strings).encode())
    assert unpack_strings(utf8, ends) == strings
    assert unpack_strings(*pack_strings([])) == []
    assert unpack_strings(*pack_strings([""])) == [""]
    with_nul = ["a\0b", "", "c\0"]  # the separator inside a string: the ends decide
    assert unpack_strings(*pack_strings(with_nul)) == with_nul
    with pytest.raises(ValueError):
        unpack_strings(utf8, ends[:2])  # ends that do not reach the end of the text


def test_catalog_strings_round_trip(tmp_path: Path, loaded: LoadedModel) -> None:
    """Titles, user ids and persona values (stored as UTF-8 and codes, not padded unicode
    arrays) come back exactly, including non-ASCII and empty ones."""
    n_items, n_users = len(loaded.catalog.item_ids), len(loaded.catalog.user_ids)
    catalog = replace(
        loaded.catalog,
        titles=[f"Ünïcode {i} ☕" if i % 3 else "" for i in range(n_items)],
        user_ids=[f"用户-{u}" for u in range(n_users)],
        user_attrs={"city": ["Seoul" if u % 2 else "Zürich" for u in range(n_users)]},
    )
    out = save(
        tmp_path / "m",
        loaded.model,
        catalog,
        loaded.histories,
        data_fingerprint="0" * 16,
        dataset="t",
        default_weights=DEFAULT_WEIGHTS,
        metrics={},
    )
    again = load(str(out)).catalog
    assert again.titles == catalog.titles
    assert again.user_ids == catalog.user_ids
    assert again.user_attrs == catalog.user_attrs
    assert again.item_ids == catalog.item_ids
