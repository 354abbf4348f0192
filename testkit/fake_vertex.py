"""A local fake of Vertex AI's ``generateContent`` REST endpoint, served from a thread.

It speaks the real wire format, so the real ``google-genai`` client talks to it unchanged
(``HttpOptions(base_url=...)``). Each request takes the next scripted answer: a status with a
JSON body, optionally after a delay (to trigger the client's timeout). With the script empty, a
``responder`` (a function of the request body) plays the model, e.g. a sensible one that
answers the structured-output requests of the chat's understanding step.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google.auth.credentials


@dataclass
class Scripted:
    status: int = 200
    text: str = "Hello from the fake model"
    delay: float = 0.0


def ok_body(text: str) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10},
        "modelVersion": "gemini-fake",
    }


def error_body(status: int) -> dict[str, Any]:
    names = {
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        400: "INVALID_ARGUMENT",
    }
    return {
        "error": {
            "code": status,
            "message": "scripted failure",
            "status": names.get(status, "UNKNOWN"),
        }
    }


def send_json(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    """Answer ``status`` with a JSON ``body``; a client that hung up (a timeout test) is fine."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass


class FakeVertex:
    def __init__(self) -> None:
        self.script: list[Scripted] = []
        self.requests: list[dict[str, Any]] = []
        self.responder: Callable[[dict[str, Any]], Scripted] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if fake.script:
                    step = fake.script.pop(0)
                elif fake.responder is not None:
                    step = fake.responder(body)
                else:
                    step = Scripted()
                if step.delay:
                    time.sleep(step.delay)
                if not self.path.endswith(":generateContent"):
                    step = Scripted(status=404)
                payload = ok_body(step.text) if step.status == 200 else error_body(step.status)
                send_json(self, step.status, json.dumps(payload).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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
