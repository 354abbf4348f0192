"""Streamed chat replies under load (issue 19): time to the first word a user sees.

The local stack (``tools/localstack.running``, default settings, ``LLM_BACKEND=gemini``)
talks to testkit's fake Vertex AI in its own process, whose streams send their first chunk at
0.3 s and their last at 1.0 s (a plain answer takes 1.0 s). Twenty conversations, each a turn
after the other, post ``/api/v2/chat`` with ``Accept: text/event-stream`` and read the
Server-Sent Events as they come: ``data: {"delta": ...}`` events, then ``event: done`` with the
whole answer. Reported: the p50/p95 time to the first non-empty delta, the p95 time to
``done``, how many streams ended with ``done`` and how many of those have a ``reply`` equal to
their deltas joined, fallbacks, and model calls per turn counted at the fake. An endpoint that
answers JSON instead is reported as not streaming.

``python -m tools.bench_stream [--seconds 15]`` prints the result (JSON); ``run`` is what
``tools/bench.py --only stream`` calls.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from recoengine.web.health import percentile
from tools.benchkit import CHAT_MESSAGES, ROOT, TARGETS, VertexProcess, gemini_env, logger
from tools.load import ensure_model
from tools.localstack import running as local_stack

log = logger("bench-stream")


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The whole lines of a byte stream, each as soon as its end arrives (``\n``, ``\r\n`` or
    ``\r``; a ``\r`` last in a chunk may be half of ``\r\n``, so it waits for the next)."""
    buffer = b""
    ended = False
    chunk_iter = iter(chunks)
    while not ended:
        chunk = next(chunk_iter, None)
        ended = chunk is None
        buffer += chunk or b""
        while True:
            cut = min((i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0), default=-1)
            if cut < 0 or (cut == len(buffer) - 1 and buffer.endswith(b"\r") and not ended):
                break
            skip = 2 if buffer[cut : cut + 2] == b"\r\n" else 1
            yield buffer[:cut].decode()
            buffer = buffer[cut + skip :]


def sse_events(chunks: Iterable[bytes]) -> Iterator[tuple[str | None, str]]:
    """(event name or None, data) of each Server-Sent Event in a byte stream, as soon as the
    blank line that ends it arrives (the WHATWG rules: ``:`` comments, ``data`` lines of one
    event joined by ``\n``, one optional space after the colon). An event cut off before its
    blank line is dropped, as browsers do: a stream that breaks before ``done`` has no ``done``."""
    name: str | None = None
    data: list[str] = []
    for line in _lines(chunks):
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = None, []
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value or None
        elif key == "data":
            data.append(value)


@dataclass
class StreamedTurn:
    """What one streamed turn showed its client."""

    status: int
    streamed: bool  # the answer was text/event-stream
    first_delta_s: float | None = None
    done_s: float | None = None
    deltas: list[str] = field(default_factory=list)
    done: dict[str, Any] | None = None
    answer: dict[str, Any] | None = None  # a JSON (non-streamed) answer

    @property
    def reply_matches(self) -> bool:
        return self.done is not None and self.done.get("reply") == "".join(self.deltas)


def _arriving(r: requests.Response) -> Iterator[bytes]:
    """The body's bytes as they arrive, chunked or not (``read1``: what is there, without
    waiting to fill a buffer, so the first delta is timed when it comes)."""
    while chunk := r.raw.read1(65536, decode_content=True):
        yield chunk


def stream_turn(http: requests.Session, base: str, body: dict[str, Any]) -> StreamedTurn:
    """Post one chat turn asking for a stream and read it to its end, timing what arrives."""
    started = time.perf_counter()
    with http.post(
        f"{base}/api/v2/chat",
        json=body,
        headers={"Accept": "text/event-stream"},
        stream=True,
        timeout=60,
    ) as r:
        kind = r.headers.get("Content-Type", "")
        if not kind.startswith("text/event-stream"):
            answer = r.json() if kind.startswith("application/json") else None
            return StreamedTurn(r.status_code, False, answer=answer)
        turn = StreamedTurn(r.status_code, True)
        for name, data in sse_events(_arriving(r)):
            value = json.loads(data)
            if name == "done":
                turn.done, turn.done_s = value, time.perf_counter() - started
                break
            if isinstance(value, dict) and isinstance(value.get("delta"), str):
                turn.deltas.append(value["delta"])
                if value["delta"] and turn.first_delta_s is None:
                    turn.first_delta_s = time.perf_counter() - started
        return turn


def drive_streams(base: str, conversations: int, seconds: float) -> list[StreamedTurn]:
    """``conversations`` users, each streaming a turn after the other for ``seconds``."""
    until = time.perf_counter() + seconds
    turns: list[StreamedTurn] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        http = requests.Session()
        sid: str | None = None
        n = i
        while time.perf_counter() < until:
            body: dict[str, Any] = {
                "user_id": f"stream-{i:03d}",
                "message": CHAT_MESSAGES[n % len(CHAT_MESSAGES)],
            }
            if sid:
                body["session_id"] = sid
            n += 1
            try:
                turn = stream_turn(http, base, body)
            except (requests.RequestException, ValueError) as exc:
                turn = StreamedTurn(0, False, answer={"error": str(exc)[:200]})
            with lock:
                turns.append(turn)
            answer = turn.done or turn.answer or {}
            sid = answer.get("session_id", sid)

    threads = [
        threading.Thread(target=worker, args=(i,), daemon=True) for i in range(conversations)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    return turns


def summarize(turns: list[StreamedTurn]) -> dict[str, Any]:
    """The section's figures from the turns it streamed (or why it could not stream)."""
    streamed = [t for t in turns if t.streamed]
    if not streamed:
        statuses = sorted({t.status for t in turns})
        return {"skipped": "endpoint does not stream", "turns": len(turns), "statuses": statuses}
    first = sorted(t.first_delta_s for t in streamed if t.first_delta_s is not None)
    done = sorted(t.done_s for t in streamed if t.done_s is not None)
    ended = [t for t in streamed if t.done is not None]
    return {
        "turns": len(turns),
        "streams": len(streamed),
        "ended_with_done": len(ended),
        "reply_equals_deltas": sum(t.reply_matches for t in ended),
        "without_delta": len(streamed) - len(first),
        "fallbacks": sum(bool(t.done.get("fallback")) for t in ended if t.done),
        "first_delta_p50_s": round(percentile(first, 0.50), 3) if first else None,
        "first_delta_p95_s": round(percentile(first, 0.95), 3) if first else None,
        "done_p95_s": round(percentile(done, 0.95), 3) if done else None,
        "not_streamed": len(turns) - len(streamed),
    }


def run(
    *,
    seconds: float = 15.0,
    conversations: int = 20,
    first_chunk: float = 0.3,
    whole: float = 1.0,
    model_dir: Path | None = None,
    warm_up: float = 3.0,
) -> dict[str, Any]:
    """The streaming section: the stack behind a model that starts after ``first_chunk``
    seconds and ends at ``whole``, ``conversations`` streams at a time for ``seconds``."""
    model = ensure_model(model_dir or ROOT / "var" / "load-model")
    with (
        tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp,
        VertexProcess(whole, first_chunk, whole) as fake,
    ):
        env = {"MODEL_URI": str(model), "VAR_DIR": tmp, **gemini_env(fake.url, Path(tmp))}
        with local_stack(env, timeout=180) as base:
            drive_streams(base, conversations, warm_up)  # imports, connections, sessions
            fake.reset()
            log(f"{conversations} streamed conversations for {seconds:.0f} s")
            turns = drive_streams(base, conversations, seconds)
        counts = fake.counts()
    result = summarize(turns)
    result["settings"] = {
        "conversations": conversations,
        "seconds": seconds,
        "first_chunk_s": first_chunk,
        "stream_s": whole,
    }
    result["model_calls"] = counts
    result["model_calls_per_turn"] = round(counts["total"] / max(1, len(turns)), 3)
    result["pass"] = verdicts(result)
    return result


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    if "first_delta_p95_s" not in result:
        return {"the endpoint streams": False}
    target = TARGETS["stream_first_delta_p95_s"]
    p95 = result["first_delta_p95_s"]
    every = result["ended_with_done"] == result["turns"] == result["reply_equals_deltas"]
    return {
        f"first delta p95 <= {target} s": p95 is not None and p95 <= target,
        "every stream ends with done = deltas": every,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--conversations", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(run(seconds=args.seconds, conversations=args.conversations), indent=2))


if __name__ == "__main__":
    main()
