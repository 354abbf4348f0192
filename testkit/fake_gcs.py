"""A fake of the Cloud Storage JSON API for the real ``google-cloud-storage`` client
(``STORAGE_EMULATOR_HOST``): listings, media downloads, object metadata with generations,
multipart uploads with ``ifGenerationMatch`` (412 when it does not hold), deletes; and, with
``denied`` set, a 403 with that message on every read (a bucket refusing the service account).
Shared by the artifact, catalog and model-error tests."""

from __future__ import annotations

import email.parser
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar


class FakeGCS(BaseHTTPRequestHandler):
    objects: ClassVar[dict[str, tuple[int, bytes]]] = {}  # bucket/name -> (generation, data)
    requests: ClassVar[list[str]] = []
    generation: ClassVar[int] = 1000
    denied: ClassVar[str] = ""  # when set: every read is a 403 with this message
    lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.objects, cls.requests, cls.denied = {}, [], ""

    @classmethod
    def put(cls, key: str, data: bytes) -> None:
        """Store ``data`` at ``bucket/name`` as a new generation."""
        with cls.lock:
            cls.generation += 1
            cls.objects[key] = (cls.generation, data)

    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        url = urllib.parse.urlparse(self.path)
        parts = url.path.split("/")
        bucket = parts[parts.index("b") + 1]
        name = urllib.parse.unquote("/".join(parts[parts.index("o") + 1 :]))
        return bucket, name, urllib.parse.parse_qs(url.query)

    def do_GET(self) -> None:
        self.requests.append(f"GET {self.path}")
        if self.denied:
            self._json(403, {"error": {"code": 403, "message": self.denied}})
            return
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
        parts = [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]
        meta, data = (p if isinstance(p, bytes) else b"" for p in parts[:2])
        name = json.loads(meta)["name"]
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


@contextmanager
def serving(handler: type[FakeGCS] = FakeGCS) -> Iterator[str]:
    """The fake on a free loopback port: yields the ``STORAGE_EMULATOR_HOST`` URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
