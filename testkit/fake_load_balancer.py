"""A local stand-in for the production load balancer and Cloud Run's front end: one port,
routed by path to the functions' own servers, several instances of a function taken in turn.

The path table is the URL map's (``recoengine.web.routing``, which a structural test holds
equal to Terraform's). Requests and answers pass through unchanged, streamed (a chat answer
sent as Server-Sent Events arrives as it is written); hop-by-hop headers are dropped, as a
proxy must. An instance that cannot be reached is a 502, as Google's load balancer answers.

A ``guard`` per function plays Cloud Run's IAM check in front of a service that is not public
(the canary): it names what is wrong with the request's credentials, and the request is then
refused with 401 before any instance sees it. (Cloud Run's own refusal is an HTML page; this
one uses the API's JSON error envelope, so clients see one shape.)
"""

from __future__ import annotations

import http.client
import itertools
import json
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recoengine.web.routing import function_for

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_CHUNK = 64 * 1024
SERVER = "Google Frontend"


class LoadBalancer:
    """``backends[function]`` lists the ``host:port`` of each instance of that function."""

    def __init__(
        self,
        backends: Mapping[str, Sequence[str]],
        port: int = 0,
        guards: Mapping[str, Callable[[Mapping[str, str]], str | None]] | None = None,
    ) -> None:
        self._guards = dict(guards or {})
        self._turns: dict[str, Iterator[str]] = {
            name: itertools.cycle(list(addresses)) for name, addresses in backends.items()
        }
        self._lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the answer's end is the connection's end

            def version_string(self) -> str:
                """Every answer from behind Google's front end says so (the functions' own
                Server header is replaced), its own refusals included."""
                return SERVER

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                balancer.forward(self)

            def __getattr__(self, name: str) -> Any:
                # Every method goes through (TRACE, PROPFIND...): the function answers it.
                if name.startswith("do_"):
                    return self._forward
                raise AttributeError(name)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LoadBalancer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        function = function_for(handler.path.split("?", 1)[0])
        guard = self._guards.get(function)
        refused = guard(headers) if guard is not None else None
        if refused is not None:
            return _error(handler, 401, "unauthenticated", refused)
        with self._lock:
            host, port = next(self._turns[function]).rsplit(":", 1)
        upstream = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            try:
                upstream.request(handler.command, handler.path, body=body, headers=headers)
                answer = upstream.getresponse()
            except OSError:
                return _error(handler, 502, "bad_gateway", "the instance did not answer")
            handler.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() not in ("server", "date"):
                    handler.send_header(name, value)
            handler.end_headers()
            if handler.command != "HEAD":
                while chunk := answer.read1(_CHUNK):
                    handler.wfile.write(chunk)
                    handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up
        finally:
            upstream.close()


def _error(handler: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
    error = {"code": code, "message": message, "status": status}
    body = json.dumps({"error": error, "request_id": secrets.token_hex(12)}).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    if status == 401:
        handler.send_header("WWW-Authenticate", "Bearer")
    handler.end_headers()
    handler.wfile.write(body)
