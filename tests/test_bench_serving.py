"""The issue-19 sections of ``make bench`` judge what they measured against the targets of
``benchkit.TARGETS``, and the chat driver counts what the answers say."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tools.bench import summary
from tools.bench_serving import chat_verdicts, floor_verdicts
from tools.benchkit import drive_chat

SQLITE_MET = {
    "turns_per_s": 37.0,
    "p95_s": 1.2,
    "model_calls_per_turn": 1.05,
    "fallbacks": 0,
    "errors": 0,
    "cpu_ms_per_turn": 4.0,
}


def test_chat_targets_are_met_only_when_every_figure_is() -> None:
    met = chat_verdicts({"sqlite": SQLITE_MET, "firestore": {"turns_per_s": 34.0}})
    assert len(met) == 6 and all(met.values())
    slow = chat_verdicts({"sqlite": {**SQLITE_MET, "model_calls_per_turn": 2.0, "fallbacks": 1}})
    assert [name for name, ok in slow.items() if not ok] == [
        "sqlite <= 1.1 model calls/turn",
        "sqlite no fallbacks, no errors",
    ]
    assert chat_verdicts({"sqlite": {"skipped": "..."}}) == {}


def test_recommend_is_judged_against_both_bare_functions() -> None:
    found = floor_verdicts(
        {
            "recommend_vs_bare_asgi": 0.61,
            "recommend_vs_bare_wsgi": 0.99,
            "recommend": {"errors": 0},
        }
    )
    assert found == {
        "recommend / bare_asgi >= 0.60": True,
        "recommend / bare_wsgi >= 1.00": False,
        "recommend no errors": True,
    }


def test_the_summary_table_carries_the_serving_rows() -> None:
    rows = {
        name: (value, result)
        for name, value, _, result in summary(
            {
                "chat_load": {"sqlite": SQLITE_MET, "firestore": {"turns_per_s": 30.0}},
                "stream": {
                    "skipped": "endpoint does not stream",
                    "pass": {"the endpoint streams": False},
                },
                "recommend_floor": {"recommend_vs_bare_asgi": 0.43, "recommend_vs_bare_wsgi": 1.2},
            }
        )
    }
    assert rows["chat sqlite turns/s (1 s model, c=40)"] == ("37.0", "PASS")
    assert rows["chat firestore turns/s"] == ("30.0", "MISS")
    assert rows["chat CPU ms/turn (sqlite)"] == ("4.00", "PASS")
    assert rows["stream first delta p95 s"] == ("n/a", "-")
    assert rows["stream: the endpoint streams"] == ("-", "MISS")
    assert rows["recommend / bare ASGI (wrk)"] == ("0.43", "MISS")
    assert rows["recommend / bare WSGI (wrk)"] == ("1.20", "PASS")


@pytest.fixture()
def chat_endpoint() -> Iterator[str]:
    """A chat endpoint whose every other answer is a fallback, each with its session."""
    answers = itertools.count()

    class Chat(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            n = next(answers)
            body = json.dumps({"session_id": "s", "reply": "ok", "fallback": n % 2 == 1})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Chat)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_driver_counts_turns_fallbacks_and_reads_the_probe_at_the_window(
    chat_endpoint: str,
) -> None:
    readings = itertools.count(10.0, 2.5)  # the window's two readings: 10.0, then 12.5
    result = drive_chat(chat_endpoint, 2, 0.4, 0.1, probe=lambda: next(readings))
    assert result["errors"] == 0
    assert 0 < result["turns"] <= result["all_turns"]
    assert 0 < result["fallbacks"] < result["turns"]
    assert result["probe_delta"] == 2.5
