"""The streaming benchmark's client reads Server-Sent Events as the chat endpoint sends them
(``tools/bench_stream.py``), and says so instead of crashing when the endpoint answers JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tools.bench_stream import StreamedTurn, sse_events, stream_turn, summarize, verdicts

DONE = {"session_id": "s-1", "reply": "Here are two picks.", "fallback": False}


def pieces(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_events_are_read_across_any_chunk_boundary(size: int) -> None:
    raw = (
        b": a comment, then a keep-alive\r\n\r\n"
        b'data: {"delta": "Here "}\r\n\r\n'
        b'data: {"delta": ""}\n\n'
        b"event: done\r\n"
        b'data: {"reply":\n'
        b'data: "Here are"}\r\r'
    )
    assert list(sse_events(pieces(raw, size))) == [
        (None, '{"delta": "Here "}'),
        (None, '{"delta": ""}'),
        ("done", '{"reply":\n"Here are"}'),
    ]


def test_an_event_cut_off_before_its_blank_line_is_dropped() -> None:
    assert list(sse_events([b'data: {"delta": "a"}\n\nevent: done\ndata: {}'])) == [
        (None, '{"delta": "a"}')
    ]


class _Endpoint(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    streams = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.streams:
            body = json.dumps(DONE).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [
            b'data: {"delta": ""}\n\n',
            b'data: {"delta": "Here are "}\n\n',
            b'data: {"delta": "two picks."}\n\n',
            b"event: done\ndata: " + json.dumps(DONE).encode() + b"\n\n",
        ]
        for event in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture(params=[True, False], ids=["streams", "json"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    handler = type("Handler", (_Endpoint,), {"streams": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", request.param
    finally:
        server.shutdown()
        server.server_close()


def test_a_turn_is_read_to_done_or_reported_as_not_streamed(endpoint: tuple[str, bool]) -> None:
    base, streams = endpoint
    turn = stream_turn(requests.Session(), base, {"user_id": "u", "message": "hi"})
    result = summarize([turn, turn])
    if streams:
        assert turn.streamed and turn.deltas == ["", "Here are ", "two picks."]
        assert turn.done == DONE and turn.reply_matches
        assert turn.first_delta_s is not None and turn.done_s is not None
        assert result["ended_with_done"] == result["reply_equals_deltas"] == 2
        assert verdicts(result)["every stream ends with done = deltas"]
    else:
        assert not turn.streamed and turn.answer == DONE
        assert result == {"skipped": "endpoint does not stream", "turns": 2, "statuses": [200]}
        assert verdicts(result) == {"the endpoint streams": False}


def test_a_reply_that_differs_from_its_deltas_is_caught() -> None:
    wrong = StreamedTurn(200, True, first_delta_s=0.3, done_s=1.0, deltas=["Here"], done=DONE)
    result = summarize([wrong])
    assert result["ended_with_done"] == 1 and result["reply_equals_deltas"] == 0
    assert not verdicts(result)["every stream ends with done = deltas"]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "until-close"])
def test_an_event_is_read_while_the_server_still_holds_the_rest(chunked: bool) -> None:
    from tools.bench_stream import _arriving

    release = threading.Event()
    waited_out: list[bool] = []  # the server gave up waiting: the client read nothing early

    class Holding(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if chunked else "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in (b'data: {"delta": "first"}\n\n', b"event: done\ndata: {}\n\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
                self.wfile.flush()
                # the rest only once the client has read the first event
                waited_out.append(not release.wait(5))
            if chunked:
                self.wfile.write(b"0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Holding)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with requests.post(url, json={}, stream=True, timeout=10) as r:
            events = sse_events(_arriving(r))
            assert next(events) == (None, '{"delta": "first"}')
            release.set()
            assert list(events) == [("done", "{}")]
        assert waited_out == [False, False]
    finally:
        release.set()
        server.shutdown()
        server.server_close()
