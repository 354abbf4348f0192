"""Loading the artifact from ``gs://`` with the real google-cloud-storage client, against a
local fake of the Cloud Storage JSON API (``STORAGE_EMULATOR_HOST``)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from recoengine.artifact import ArtifactError, load


class FakeGCS(BaseHTTPRequestHandler):
    objects: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[str]] = []
    denied: ClassVar[str] = ""  # when set: every read is a 403 with this message

    def do_GET(self) -> None:
        path = urllib.parse.urlparse(self.path).path
        self.requests.append(path)
        if self.denied:
            self._error(403, self.denied)
            return
        # /download/storage/v1/b/{bucket}/o/{object}?alt=media
        parts = path.split("/")
        if "b" in parts and "o" in parts:
            bucket = parts[parts.index("b") + 1]
            name = urllib.parse.unquote("/".join(parts[parts.index("o") + 1 :]))
            data = self.objects.get(f"{bucket}/{name}")
            if data is not None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
        self._error(404, "No such object")

    def _error(self, code: int, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeGCS]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGCS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test-project")
    FakeGCS.objects = {}
    FakeGCS.requests = []
    FakeGCS.denied = ""
    yield FakeGCS
    server.shutdown()


def test_gs_artifact_downloads_and_verifies(
    gcs: type[FakeGCS], demo_model_dir: Path, tmp_path: Path
) -> None:
    for f in demo_model_dir.iterdir():
        gcs.objects[f"models/v1/{f.name}"] = f.read_bytes()
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
        gcs.objects[f"models/v2/{f.name}"] = f.read_bytes()
    gcs.objects["models/v2/cf_ease_data.npy"] = b"truncated"
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
        gcs.objects[f"models/evil/{f.name}"] = f.read_bytes()
    manifest = json.loads((demo_model_dir / "manifest.json").read_text())
    manifest["files"][hostile] = "0" * 64
    gcs.objects["models/evil/manifest.json"] = json.dumps(manifest).encode()
    gcs.objects[f"models/evil/{hostile}"] = b"payload"
    cache = tmp_path / "deep" / "cache"
    with pytest.raises(ArtifactError, match="unexpected files"):
        load("gs://models/evil", cache_root=cache)
    assert not cache.exists(), "nothing may be written before the names are checked"
    assert not list(tmp_path.rglob("*.npy"))
    assert not Path("/tmp/recoengine-absolute.npy").exists()
    downloads = [r for r in gcs.requests if "/o/" in r and not r.endswith("manifest.json")]
    assert downloads == [], "no file may be fetched before the names are checked"


def test_an_unknown_format_from_the_bucket_says_retrain(gcs: type[FakeGCS], tmp_path: Path) -> None:
    gcs.objects["models/old/manifest.json"] = json.dumps({"format": 1, "files": {}}).encode()
    with pytest.raises(ArtifactError, match="retrain"):
        load("gs://models/old", cache_root=tmp_path)
    assert not list(tmp_path.iterdir())
