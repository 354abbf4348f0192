"""Loading the artifact from ``gs://`` with the real google-cloud-storage client, against a
local fake of the Cloud Storage JSON API (``STORAGE_EMULATOR_HOST``)."""

from __future__ import annotations

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

    def do_GET(self) -> None:
        path = urllib.parse.urlparse(self.path).path
        self.requests.append(path)
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
        body = b'{"error": {"code": 404, "message": "No such object"}}'
        self.send_response(404)
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
