"""A local stand-in for the production load balancer: one port, routed by path to the
functions' own servers, several instances of a function taken in turn.

The path table is the URL map's (``recoengine.web.routing``, which a structural test holds
equal to Terraform's). Requests and answers pass through unchanged, streamed (a chat answer
sent as Server-Sent Events arrives as it is written); hop-by-hop headers are dropped, as a
proxy must. An instance that cannot be reached is a 502, as Google's load balancer answers.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
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


class LoadBalancer:
    """``backends[function]`` lists the ``host:port`` of each instance of that function."""

    def __init__(self, backends: Mapping[str, Sequence[str]], port: int = 0) -> None:
        self._turns: dict[str, Iterator[str]] = {
            name: itertools.cycle(list(addresses)) for name, addresses in backends.items()
        }
        self._lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the answer's end is the connection's end

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                balancer.forward(self)

        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            setattr(Handler, f"do_{method}", Handler._forward)

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

    def next_instance(self, path: str) -> str:
        with self._lock:
            return next(self._turns[function_for(path.split("?", 1)[0])])

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        host, port = self.next_instance(handler.path).rsplit(":", 1)
        upstream = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            try:
                upstream.request(handler.command, handler.path, body=body, headers=headers)
                answer = upstream.getresponse()
            except OSError:
                return _bad_gateway(handler)
            handler.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
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


def _bad_gateway(handler: BaseHTTPRequestHandler) -> None:
    body = b'{"error": {"code": "bad_gateway", "message": "the instance did not answer"}}'
    handler.send_response(502)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
