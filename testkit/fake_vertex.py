"""A local fake of Vertex AI's ``generateContent`` and ``streamGenerateContent`` REST endpoints.

It speaks the real wire format, so the real ``google-genai`` client talks to it unchanged
(``HttpOptions(base_url=...)``), sync and ``client.aio`` alike:

- ``POST .../models/{m}:generateContent``: one ``GenerateContentResponse`` JSON;
- ``POST .../models/{m}:streamGenerateContent?alt=sse``: Server-Sent Events, one
  ``data: <GenerateContentResponse JSON>\\r\\n\\r\\n`` per chunk (HTTP/1.1 chunked transfer), the
  text split at word boundaries, ``finishReason`` and ``usageMetadata`` in the last chunk, as
  google-genai's ``_iter_sse_lines``/``segments`` read them. A failure mid-stream is an
  ``{"error": ...}`` chunk, which the client raises as ``APIError``.

Each request takes the next scripted answer (``Scripted``: a status, a text, a delay, how many
chunks, after how many chunks a stream fails); with the script empty a ``responder`` (a function
of the request body) plays the model, e.g. ``reading_model``, which answers the structured-output
requests of the chat's understanding step. ``Timing`` sets a model's latency for benchmarks:
the plain (non-streaming) reply delay, the delay before a stream's first chunk and the time a
whole stream takes. Requests are counted by kind (``generate``, ``structured`` — a JSON
response schema, the understanding step —, ``stream``), in ``counts`` and over HTTP
(``GET /counts``; ``DELETE /counts`` resets), so a benchmark counts model calls at the wire.

A thread per connection, keep-alive, TCP_NODELAY: many concurrent calls wait side by side, as
at Vertex AI. ``python -m testkit.fake_vertex [--reply-delay S] [--first-chunk-delay S]
[--stream-seconds S]`` serves one in its own process (printing its URL), so its threads do not
share a benchmark driver's GIL.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google.auth.credentials

from recoengine.llm.offline import chunks_of as split_text  # text cut after spaces, lossless

KINDS = ("generate", "structured", "stream")


@dataclass
class Scripted:
    """One answer. ``delay`` comes before anything is sent (a plain reply, or a stream's
    first chunk); ``chunks`` splits a streamed text (0: the fake's ``Timing.chunks``);
    ``fail_after`` ends a stream with an error chunk of ``fail_status`` after that many text
    chunks (a model failing mid-reply)."""

    status: int = 200
    text: str = "Hello from the fake model"
    delay: float = 0.0
    chunks: int = 0
    fail_after: int | None = None
    fail_status: int = 503


@dataclass
class Timing:
    """A model's latency: ``reply_delay`` before a plain (non-streaming) answer,
    ``first_chunk_delay`` before a stream's first chunk, ``stream_seconds`` from the request
    to a stream's last chunk (the chunks in between spread evenly), ``chunks`` per stream."""

    reply_delay: float = 0.0
    first_chunk_delay: float = 0.0
    stream_seconds: float = 0.0
    chunks: int = 4


def usage(prompt_tokens: int, reply_tokens: int) -> dict[str, int]:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": reply_tokens,
        "totalTokenCount": prompt_tokens + reply_tokens,
    }


def ok_body(text: str, prompt_tokens: int = 5, reply_tokens: int = 5) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": usage(prompt_tokens, reply_tokens),
        "modelVersion": "gemini-fake",
    }


def chunk_body(text: str, last: bool, prompt_tokens: int, reply_tokens: int) -> dict[str, Any]:
    """One chunk of a stream: the text so far is NOT repeated (each chunk carries its own
    part); the last one carries ``finishReason`` and the usage of the whole call."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-fake"}
    if last:
        candidate["finishReason"] = "STOP"
        body["usageMetadata"] = usage(prompt_tokens, reply_tokens)
    return body


def error_body(status: int) -> dict[str, Any]:
    names = {
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        400: "INVALID_ARGUMENT",
        404: "NOT_FOUND",
    }
    return {
        "error": {
            "code": status,
            "message": "scripted failure",
            "status": names.get(status, "UNKNOWN"),
        }
    }


def tokens_of(text: str) -> int:
    """A stable stand-in for a tokenizer: about four characters a token."""
    return max(1, (len(text) + 3) // 4)


def request_text(body: dict[str, Any]) -> str:
    parts = [
        part.get("text", "")
        for content in body.get("contents", [])
        for part in content.get("parts", [])
    ]
    system = body.get("systemInstruction") or {}
    parts += [part.get("text", "") for part in system.get("parts", [])]
    return " ".join(parts)


def send_json(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    """Answer ``status`` with a JSON ``body``; a client that hung up (a timeout test) is fine."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the listen backlog: a burst of connections all get in


class FakeVertex:
    def __init__(self, timing: Timing | None = None) -> None:
        self.script: list[Scripted] = []
        self.requests: list[dict[str, Any]] = []
        self.responder: Callable[[dict[str, Any]], Scripted] | None = None
        self.timing = timing if timing is not None else Timing()
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real endpoint
            # Headers and body leave in separate writes: without TCP_NODELAY a write waits
            # for the client's delayed ACK (~40 ms), a stall the real endpoint does not have.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/counts":
                    send_json(self, 404, json.dumps(error_body(404)).encode())
                    return
                with fake._lock:
                    counts = {kind: fake.counts[kind] for kind in KINDS}
                send_json(self, 200, json.dumps(counts).encode())

            def do_DELETE(self) -> None:
                with fake._lock:
                    fake.counts.clear()
                send_json(self, 200, b"{}")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake._serve(self, body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def kind_of(path: str, body: dict[str, Any]) -> str | None:
        """``stream``, ``structured`` (a JSON response schema), ``generate``; None: unknown."""
        endpoint = path.split("?", 1)[0]
        if endpoint.endswith(":streamGenerateContent"):
            return "stream"
        if not endpoint.endswith(":generateContent"):
            return None
        config = body.get("generationConfig") or {}
        return "structured" if config.get("responseMimeType") == "application/json" else "generate"

    def _next(self, body: dict[str, Any]) -> Scripted:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        if self.responder is not None:
            return self.responder(body)
        return Scripted()

    def _serve(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        started = time.monotonic()
        kind = self.kind_of(handler.path, body)
        with self._lock:
            self.requests.append(
                {
                    "path": handler.path,
                    "auth": handler.headers.get("Authorization"),
                    "body": body,
                    "kind": kind,
                }
            )
            if kind is not None:
                self.counts[kind] += 1
        step = self._next(body)
        if kind is None:
            step = Scripted(status=404)
        if kind == "stream" and step.status == 200:
            self._stream(handler, body, step, started)
            return
        wait = step.delay + (self.timing.reply_delay if kind != "stream" else 0.0)
        if kind == "stream":
            wait += self.timing.first_chunk_delay
        if wait:
            time.sleep(wait)
        if step.status == 200:
            payload = ok_body(step.text, tokens_of(request_text(body)), tokens_of(step.text))
        else:
            payload = error_body(step.status)
        send_json(handler, step.status, json.dumps(payload).encode())

    def _stream(
        self, handler: BaseHTTPRequestHandler, body: dict[str, Any], step: Scripted, started: float
    ) -> None:
        timing = self.timing
        pieces = split_text(step.text, step.chunks or timing.chunks)
        prompt_tokens = tokens_of(request_text(body))
        first = step.delay + timing.first_chunk_delay
        end = max(first, step.delay + timing.stream_seconds)
        gap = (end - first) / (len(pieces) - 1) if len(pieces) > 1 else 0.0
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for i, piece in enumerate(pieces):
                due = started + first + i * gap
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                if step.fail_after is not None and i >= step.fail_after:
                    event: dict[str, Any] = error_body(step.fail_status)
                else:
                    last = i == len(pieces) - 1
                    event = chunk_body(piece, last, prompt_tokens, tokens_of(step.text))
                data = b"data: " + json.dumps(event).encode() + b"\r\n\r\n"
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                handler.wfile.flush()
                if "error" in event:
                    break
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-stream
            handler.close_connection = True

    def __enter__(self) -> FakeVertex:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def reading_model(body: dict[str, Any]) -> Scripted:
    """A ``responder`` that plays a sensible model: a structured-output request (the chat's
    understanding step) gets the slots its schema asks for, with the catalogue's genres that
    the message names; any other request gets a short reply."""
    config = body.get("generationConfig") or {}
    if config.get("responseMimeType") != "application/json":
        return Scripted(text="Here are a few picks you may like.")
    message = " ".join(
        part.get("text", "")
        for content in body.get("contents", [])
        for part in content.get("parts", [])
    ).lower()
    genre = config.get("responseSchema", {}).get("properties", {}).get("genres", {})
    named = [g for g in genre.get("items", {}).get("enum", []) if g.lower() in message]
    slots = {"intent": "recommend" if named else "chat", "genres": named, "match": "all"}
    return Scripted(text=json.dumps({**slots, "language": "en"}))


class StaticCredentials(google.auth.credentials.Credentials):
    """Credentials whose refresh sets a token: no Google account, no metadata server."""

    def refresh(self, request: Any) -> None:
        self.token = "test-token"
        self.expiry = None


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Vertex AI until killed.")
    parser.add_argument("--reply-delay", type=float, default=0.0, help="plain reply delay (s)")
    parser.add_argument("--first-chunk-delay", type=float, default=0.0, help="stream start (s)")
    parser.add_argument("--stream-seconds", type=float, default=0.0, help="whole stream (s)")
    parser.add_argument("--chunks", type=int, default=4, help="chunks per streamed reply")
    parser.add_argument("--reply", default="", help="the reply text (default: a short one)")
    args = parser.parse_args()
    timing = Timing(args.reply_delay, args.first_chunk_delay, args.stream_seconds, args.chunks)
    fake = FakeVertex(timing)
    if args.reply:
        reply = args.reply

        def responder(body: dict[str, Any]) -> Scripted:
            config = body.get("generationConfig") or {}
            if config.get("responseMimeType") == "application/json":
                return reading_model(body)
            return Scripted(text=reply)

        fake.responder = responder
    else:
        fake.responder = reading_model
    print(fake.url, flush=True)
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
