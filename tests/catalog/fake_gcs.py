"""A fake of the Cloud Storage JSON API for the real ``google-cloud-storage`` client
(``STORAGE_EMULATOR_HOST``): media downloads, object metadata with generations, multipart
uploads with ``ifGenerationMatch`` (412 when it does not hold)."""

from __future__ import annotations

import email.parser
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest


class FakeGCS(BaseHTTPRequestHandler):
    objects: ClassVar[dict[str, tuple[int, bytes]]] = {}  # bucket/name -> (generation, data)
    requests: ClassVar[list[str]] = []
    generation: ClassVar[int] = 1000
    lock = threading.Lock()

    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        url = urllib.parse.urlparse(self.path)
        parts = url.path.split("/")
        bucket = parts[parts.index("b") + 1]
        name = urllib.parse.unquote("/".join(parts[parts.index("o") + 1 :]))
        return bucket, name, urllib.parse.parse_qs(url.query)

    def do_GET(self) -> None:
        self.requests.append(f"GET {self.path}")
        url = urllib.parse.urlparse(self.path)
        if url.path.endswith("/o"):  # a listing
            bucket = url.path.split("/")[-2]
            prefix = urllib.parse.parse_qs(url.query).get("prefix", [""])[0]
            with self.lock:
                names = sorted(k for k in self.objects if k.startswith(f"{bucket}/{prefix}"))
                items = [self._resource(bucket, n.split("/", 1)[1], self.objects[n]) for n in names]
            self._json(200, {"kind": "storage#objects", "items": items})
            return
        if "/o/" not in self.path:  # the bucket itself
            bucket = urllib.parse.urlparse(self.path).path.rstrip("/").split("/")[-1]
            self._json(200, {"kind": "storage#bucket", "name": bucket})
            return
        bucket, name, query = self._target()
        found = self.objects.get(f"{bucket}/{name}")
        if found is None:
            self._json(404, {"error": {"code": 404, "message": "No such object"}})
        elif query.get("alt") == ["media"]:
            self._send(200, found[1], "application/octet-stream")
        else:
            self._json(200, self._resource(bucket, name, found))

    def do_DELETE(self) -> None:
        self.requests.append(f"DELETE {self.path}")
        bucket, name, _ = self._target()
        with self.lock:
            found = self.objects.pop(f"{bucket}/{name}", None)
        if found is None:
            self._json(404, {"error": {"code": 404, "message": "No such object"}})
        else:
            self._send(204, b"", "application/json")

    def do_POST(self) -> None:
        self.requests.append(f"POST {self.path}")
        url = urllib.parse.urlparse(self.path)
        bucket = url.path.split("/")[url.path.split("/").index("b") + 1]
        query = urllib.parse.parse_qs(url.query)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser().parsebytes(head + body)
        meta_part, media_part = message.get_payload()  # type: ignore[misc]
        name = json.loads(meta_part.get_payload(decode=True))["name"]
        data = media_part.get_payload(decode=True)
        with self.lock:
            current = self.objects.get(f"{bucket}/{name}")
            wanted = query.get("ifGenerationMatch")
            if wanted is not None and int(wanted[0]) != (current[0] if current else 0):
                self._json(412, {"error": {"code": 412, "message": "conditionNotMet"}})
                return
            FakeGCS.generation += 1
            entry = (FakeGCS.generation, data)
            self.objects[f"{bucket}/{name}"] = entry
        self._json(200, self._resource(bucket, name, entry))

    @staticmethod
    def _resource(bucket: str, name: str, entry: tuple[int, bytes]) -> dict[str, object]:
        return {
            "kind": "storage#object",
            "bucket": bucket,
            "name": name,
            "generation": str(entry[0]),
            "size": str(len(entry[1])),
        }

    def _json(self, code: int, doc: object) -> None:
        self._send(code, json.dumps(doc).encode(), "application/json")

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
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
