"""Drive an ASGI app in-process, over the ASGI protocol itself (no sockets, no httpx).

``AsgiClient(app)`` has the surface the tests used on Flask's test client:
``.get/.post/.put/.delete(path, json=..., data=..., headers=..., query_string=...,
content_type=...)`` return an ``AsgiResponse`` with ``.status_code``, ``.headers``
(case-insensitive), ``.data``, ``.text``, ``.json`` / ``.get_json()``, ``.content_type`` and,
for ``text/event-stream``, ``.events()``. Every client runs its app on one event loop in a
background thread, as a server does: what an app keeps between requests (clients bound to a
loop, locks) sees one loop.

Two things a real client does and a test needs to provoke:
- a ``Content-Length`` header larger than the body: the client sends what it has and hangs
  up, so the app receives ``http.disconnect`` where the rest of the body should be;
- ``disconnect_after=N``: the client hangs up after N body chunks of the answer (a browser
  closing an event stream), so the app's next ``receive()`` is ``http.disconnect``.

``serve(app)`` runs the app under uvicorn on a loopback port, for tests that speak real HTTP.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

Asgi = Callable[..., Awaitable[None]]


class Headers:
    """Response headers: case-insensitive lookup, first value of a repeated name."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]

    def get(self, name: str, default: str | None = None) -> str | None:
        lower = name.lower()
        for key, value in self.raw:
            if key.lower() == lower:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.raw if k.lower() == name.lower()]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def keys(self) -> list[str]:
        return [k for k, _ in self.raw]


@dataclass
class AsgiResponse:
    status_code: int
    headers: Headers
    data: bytes
    chunks: list[bytes] = field(default_factory=list)  # the body as the app sent it

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")

    def get_data(self, as_text: bool = False) -> bytes | str:
        return self.text if as_text else self.data

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "") or ""

    @property
    def mimetype(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    def get_json(self) -> Any:
        """The body as JSON, or None when it is not JSON (Flask's test response does so)."""
        if self.mimetype != "application/json" and not self.mimetype.endswith("+json"):
            return None
        return orjson.loads(self.data)

    @property
    def json(self) -> Any:
        return self.get_json()

    def events(self) -> list[tuple[str | None, Any]]:
        """The Server-Sent Events of the body: ``(event name or None, parsed data)``."""
        found: list[tuple[str | None, Any]] = []
        for block in self.text.split("\n\n"):
            if not block.strip():
                continue
            name: str | None = None
            data: list[str] = []
            for line in block.split("\n"):
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    data.append(line[len("data: ") :])
            found.append((name, orjson.loads("\n".join(data)) if data else None))
        return found


class _Loop:
    """The event loop of every client in this process, running in a daemon thread: one loop,
    as in a server, however many clients a test suite makes."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=cls._loop.run_forever, name="asgi-client-loop", daemon=True
                ).start()
            loop = cls._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


class AsgiClient:
    def __init__(self, app: Asgi, *, timeout: float = 60.0) -> None:
        self.app = app
        self.timeout = timeout

    def close(self) -> None:
        """Nothing to release (the loop is shared); kept for ``with`` and symmetry."""

    def __enter__(self) -> AsgiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **kw: Any) -> AsgiResponse:
        return self.open("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> AsgiResponse:
        return self.open("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> AsgiResponse:
        return self.open("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> AsgiResponse:
        return self.open("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> AsgiResponse:
        return self.open("DELETE", path, **kw)

    def head(self, path: str, **kw: Any) -> AsgiResponse:
        return self.open("HEAD", path, **kw)

    def open(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        query_string: Mapping[str, Any] | str | None = None,
        content_type: str | None = None,
        remote_addr: str = "127.0.0.1",
        chunks: list[bytes] | None = None,
        disconnect_after: int | None = None,
    ) -> AsgiResponse:
        """One exchange. ``chunks``: a chunked body (``Transfer-Encoding: chunked``, no
        Content-Length), handed to the app one ``http.request`` message per chunk, as a server
        de-chunks it."""
        body = b""
        sent: dict[str, str] = {}
        if chunks is not None:
            sent["transfer-encoding"] = "chunked"
        if json is not None:
            body = jsonlib.dumps(json).encode()  # any JSON a client may send (big ints too)
            sent["content-type"] = "application/json"
        elif data is not None:
            body = data.encode() if isinstance(data, str) else data
        if content_type is not None:
            sent["content-type"] = content_type
        for name, value in (headers or {}).items():
            sent[name.lower()] = value
        if chunks is None and (body or method in ("POST", "PUT", "PATCH")):
            sent.setdefault("content-length", str(len(body)))
        sent.setdefault("host", "testserver")
        sent.setdefault("user-agent", "testkit-asgi-client")
        raw_path, _, query = path.partition("?")
        if query_string is not None:
            extra = query_string if isinstance(query_string, str) else urlencode(query_string)
            query = f"{query}&{extra}" if query else extra
        scope = _scope(method, raw_path, query, sent, remote_addr)
        declared = int(sent["content-length"]) if "content-length" in sent else len(body)
        parts = chunks if chunks is not None else [body]
        return _Loop.run(
            _exchange(self.app, scope, parts, declared > len(body), disconnect_after),
            self.timeout,
        )


def _scope(
    method: str, path: str, query: str, headers: Mapping[str, str], remote_addr: str
) -> dict[str, Any]:
    from urllib.parse import unquote

    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        "client": (remote_addr, 50000),
        "server": ("testserver", 80),
        "state": {},
    }


async def _exchange(
    app: Asgi,
    scope: dict[str, Any],
    parts: list[bytes],
    hang_up: bool,
    disconnect_after: int | None,
) -> AsgiResponse:
    gone = asyncio.Event()  # receive() answers http.disconnect from now on
    left = False  # the client stopped reading the answer (disconnect_after)
    pending = list(parts)
    status = 0
    raw_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if pending:
            part = pending.pop(0)
            more = bool(pending) or hang_up
            if hang_up and not pending:  # part of the declared body, then the client is gone
                gone.set()
            return {"type": "http.request", "body": part, "more_body": more}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, raw_headers, left
        if left:
            return  # a server drops what is sent to a client that has left
        if message["type"] == "http.response.start":
            status = message["status"]
            raw_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            if message.get("body"):
                chunks.append(bytes(message["body"]))
                if disconnect_after is not None and len(chunks) >= disconnect_after:
                    left = True
                    gone.set()
            if not message.get("more_body", False):
                gone.set()  # the exchange is over: a pending receive() sees the end

    await app(scope, receive, send)
    gone.set()
    return AsgiResponse(status, Headers(raw_headers), b"".join(chunks), chunks)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Asgi, *, timeout: float = 10.0) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port (its own thread and loop); yields the
    base URL once it listens and stops it afterwards."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
