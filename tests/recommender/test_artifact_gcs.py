"""Loading the artifact from ``gs://`` with the real google-cloud-storage client, against a
local fake of the Cloud Storage JSON API (``STORAGE_EMULATOR_HOST``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recoengine.artifact import ArtifactError, load
from tests.support.gcs import FakeGCS, gcs

__all__ = ["gcs"]


def test_gs_artifact_downloads_and_verifies(
    gcs: type[FakeGCS], demo_model_dir: Path, tmp_path: Path
) -> None:
    for f in demo_model_dir.iterdir():
        gcs.put(f"models/v1/{f.name}", f.read_bytes())
    loaded = load("gs://models/v1", cache_root=tmp_path)
    local = load(str(demo_model_dir))
    assert loaded.version == local.version
    assert any("manifest.json" in r for r in gcs.requests)


def test_gs_artifact_missing_or_corrupt_is_refused(
    gcs: type[FakeGCS], demo_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError):
        load("gs://models/none", cache_root=tmp_path / "a")
    for f in demo_model_dir.iterdir():
        gcs.put(f"models/v2/{f.name}", f.read_bytes())
    gcs.put("models/v2/cf_ease_data.npy", b"truncated")
    with pytest.raises(ArtifactError, match="corrupt"):
        load("gs://models/v2", cache_root=tmp_path / "b")


@pytest.mark.parametrize(
    "hostile",
    ["../../escaped.npy", "/tmp/recoengine-absolute.npy", "sub/dir.npy", "..", "a\\b.npy"],
)
def test_a_hostile_manifest_writes_nothing(
    gcs: type[FakeGCS], demo_model_dir: Path, tmp_path: Path, hostile: str
) -> None:
    """Whoever can write to the bucket writes the manifest: a file name that would land
    outside the cache folder is refused before anything is written, inside or outside it."""
    for f in demo_model_dir.iterdir():
        gcs.put(f"models/evil/{f.name}", f.read_bytes())
    manifest = json.loads((demo_model_dir / "manifest.json").read_text())
    manifest["files"][hostile] = "0" * 64
    gcs.put("models/evil/manifest.json", json.dumps(manifest).encode())
    gcs.put(f"models/evil/{hostile}", b"payload")
    cache = tmp_path / "deep" / "cache"
    with pytest.raises(ArtifactError, match="unexpected files"):
        load("gs://models/evil", cache_root=cache)
    assert not cache.exists(), "nothing may be written before the names are checked"
    assert not list(tmp_path.rglob("*.npy"))
    assert not Path("/tmp/recoengine-absolute.npy").exists()
    downloads = [r for r in gcs.requests if "/o/" in r and "manifest.json" not in r]
    assert downloads == [], "no file may be fetched before the names are checked"


def test_an_unknown_format_from_the_bucket_says_retrain(gcs: type[FakeGCS], tmp_path: Path) -> None:
    gcs.put("models/old/manifest.json", json.dumps({"format": 1, "files": {}}).encode())
    with pytest.raises(ArtifactError, match="retrain"):
        load("gs://models/old", cache_root=tmp_path)
    assert not list(tmp_path.iterdir())
