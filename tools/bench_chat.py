"""Chat benchmarks (``make bench-chat``): per-turn overhead over HTTP, stored bytes per message,
and turn/lookup latency at 100 and at 10,000 live sessions, on SQLite and on the Firestore
emulator. Results go to a JSON file (default ``var/bench-chat.json``) and a table on stdout.

The local stack runs as ``make run`` runs it (``tools/localstack.py``, a subprocess) with the
offline responder, so a turn's latency is the service's own overhead without a model call.
Sessions for the scale test are written in bulk (SQLite ``executemany``, Firestore batched
writes) in exactly the stores' layout, then read and extended through the HTTP API.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from recoengine.sessions.model import SessionState, encode_seq, new_session_id
from recoengine.sessions.sizing import document_size
from recoengine.storage_schema import EXPIRY_FIELD, SESSION_MESSAGES, SESSIONS
from testkit.firestore_emulator import PROJECT, emulator_if_available
from tools.latency import summary_ms
from tools.localstack import running as local_stack

TARGETS: dict[str, Any] = {
    "turn_overhead_p95_ms": {"sqlite": 20.0, "firestore": 50.0},
    "bytes_per_message_over_text": 120,
    "flat_ratio": 1.5,
}
CHAT_LINES = [
    "hello there",
    "I had a long day at work today",
    "what do you think about rainy weekends?",
    "tell me something nice",
    "thanks, that sounds good",
]


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def turn(self, user: str, message: str, sid: str | None = None) -> tuple[float, dict[str, Any]]:
        body: dict[str, Any] = {"user_id": user, "message": message}
        if sid:
            body["session_id"] = sid
        started = time.perf_counter()
        r = self.http.post(f"{self.base}/api/v2/chat", json=body, timeout=30)
        ms = (time.perf_counter() - started) * 1000
        r.raise_for_status()
        return ms, r.json()

    def lookup(self, user: str, sid: str) -> float:
        started = time.perf_counter()
        r = self.http.get(f"{self.base}/api/v2/session/{sid}", params={"user_id": user}, timeout=30)
        ms = (time.perf_counter() - started) * 1000
        r.raise_for_status()
        return ms


# -- bulk population in the stores' layout -----------------------------------------------------
def _texts(i: int) -> tuple[str, str]:
    user = CHAT_LINES[i % len(CHAT_LINES)]
    return user, f"[offline responder: no language model is connected] You said: {user}."


def populate_sqlite(path: Path, start: int, count: int, turns: int) -> list[tuple[str, str]]:
    now = datetime.now(UTC).timestamp()
    expires = now + 24 * 3600
    state = json.dumps(SessionState(personality="companion").to_dict(), separators=(",", ":"))
    made = [(f"bench-{start + i}", new_session_id()) for i in range(count)]
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO sessions (id, user_id, created_at, updated_at, expires_at, turns, state)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(sid, user, now, now, expires, turns, state) for user, sid in made],
    )
    rids = dict(
        conn.execute(
            "SELECT id, rid FROM sessions WHERE user_id >= ? AND user_id LIKE 'bench-%'", ("",)
        ).fetchall()
    )
    rows = []
    for _, sid in made:
        for seq in range(turns):
            u, a = _texts(seq)
            rows.append((rids[sid], seq, now, expires, "companion", u, a))
    conn.executemany(
        "INSERT INTO messages (rid, seq, created_at, expires_at, personality, user_text,"
        " reply_text) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()
    return made


def populate_firestore(client: Any, start: int, count: int, turns: int) -> list[tuple[str, str]]:
    now = datetime.now(UTC)
    expires = now + timedelta(hours=24)
    state = SessionState(personality="companion").to_dict()
    made = [(f"bench-{start + i}", new_session_id()) for i in range(count)]
    batch, pending = client.batch(), 0
    for user, sid in made:
        ref = client.collection(SESSIONS).document(sid)
        session = {"user_id": user, "created_at": now, "updated_at": now, "turns": turns}
        batch.set(ref, {**session, EXPIRY_FIELD: expires, "state": state})
        pending += 1
        for seq in range(turns):
            u, a = _texts(seq)
            batch.set(
                ref.collection(SESSION_MESSAGES).document(encode_seq(seq)),
                {EXPIRY_FIELD: expires, "c": now, "u": u, "a": a, "p": "companion"},
            )
            pending += 1
        if pending >= 450:
            batch.commit()
            batch, pending = client.batch(), 0
    if pending:
        batch.commit()
    return made


# -- measurements -------------------------------------------------------------------------
def warm_up(c: Client, turns: int) -> None:
    """Load the model, open connections, and let the emulator's JVM compile its hot paths
    (its first few hundred requests are several times slower than the rest)."""
    sid = None
    for t in range(turns):
        if t % 10 == 0:
            sid = None
        _, body = c.turn(f"warmup-{t // 10}", "recommend me something" if t % 3 else "hi", sid)
        sid = body["session_id"]
        c.lookup(f"warmup-{t // 10}", sid)


def measure_overhead(c: Client, sessions: int, turns: int) -> dict[str, Any]:
    plain: list[float] = []
    reco: list[float] = []
    for s in range(sessions):
        user = f"overhead-{s}"
        sid = None
        for t in range(turns):
            if t % 4 == 1:
                ms, body = c.turn(user, "recommend me something", sid)
                reco.append(ms)
            else:
                ms, body = c.turn(user, CHAT_LINES[t % len(CHAT_LINES)], sid)
                plain.append(ms)
            sid = body["session_id"]
    return {"chat_turn": summary_ms(plain, 3), "recommendation_turn": summary_ms(reco, 3)}


def measure_scale(c: Client, made: list[tuple[str, str]], n: int) -> dict[str, Any]:
    rng = random.Random(n)
    picks = [made[rng.randrange(len(made))] for _ in range(n)]
    lookups = [c.lookup(user, sid) for user, sid in picks]
    turns = [c.turn(user, "tell me something nice", sid)[0] for user, sid in picks]
    return {"turn": summary_ms(turns, 3), "lookup": summary_ms(lookups, 3)}


def sqlite_bytes(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = 'messages'").fetchone()[0]
    n, text = conn.execute(
        "SELECT COUNT(*), SUM(LENGTH(CAST(user_text AS BLOB)) + LENGTH(CAST(reply_text AS BLOB)))"
        " FROM messages"
    ).fetchone()
    conn.close()
    messages = 2 * n
    return {
        "messages": messages,
        "stored_bytes": int(pages),
        "text_bytes": int(text),
        "overhead_per_message": round((pages - text) / messages, 1),
        "method": "dbstat page bytes of the messages table (incl. b-tree and free space)",
    }


def firestore_bytes(client: Any, made: list[tuple[str, str]]) -> dict[str, Any]:
    worst, total, text_total, messages = 0.0, 0, 0, 0
    for _, sid in made:
        for snap in client.collection(SESSIONS).document(sid).collection(SESSION_MESSAGES).stream():
            data = snap.to_dict()
            size = document_size((SESSIONS, sid, SESSION_MESSAGES, snap.id), data)
            text = len(data["u"].encode()) + len(data["a"].encode())
            worst = max(worst, (size - text) / 2)
            total, text_total, messages = total + size, text_total + text, messages + 2
    return {
        "messages": messages,
        "stored_bytes": total,
        "text_bytes": text_total,
        "overhead_per_message": round((total - text_total) / max(1, messages), 1),
        "worst_overhead_per_message": round(worst, 1),
        "method": "Firestore's documented storage size of each turn document (2 messages)",
    }


@dataclass(frozen=True)
class Store:
    """How the benchmark writes sessions in bulk into one backend and weighs what it stored."""

    populate: Callable[[int, int], list[tuple[str, str]]]  # (first, count) -> (user, sid)s
    stored_bytes: Callable[[list[tuple[str, str]]], dict[str, Any]]


@contextmanager
def firestore_client() -> Iterator[Any]:
    """A Firestore client on a fresh emulator (``FIRESTORE_EMULATOR_HOST`` set meanwhile);
    None on a machine without the emulator."""
    with emulator_if_available() as emulator:
        if emulator is None:
            yield None
            return
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        from google.cloud import firestore

        client = firestore.Client(project=PROJECT)
        try:
            yield client
        finally:
            client.close()
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)


def bench_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    env = {"SESSION_BACKEND": backend, "LLM_BACKEND": "offline", "GOOGLE_CLOUD_PROJECT": PROJECT}
    if backend == "sqlite":
        db = tmp / f"{backend}.sqlite3"
        env["SQLITE_PATH"] = str(db)
        return measure_stack(
            env,
            args,
            Store(
                populate=lambda s, n: populate_sqlite(db, s, n, args.turns),
                stored_bytes=lambda made: sqlite_bytes(db),
            ),
        )
    with firestore_client() as client:
        if client is None:
            return {"skipped": "no Firestore emulator on this machine"}
        env["FIRESTORE_EMULATOR_HOST"] = os.environ["FIRESTORE_EMULATOR_HOST"]
        return measure_stack(
            env,
            args,
            Store(
                populate=lambda s, n: populate_firestore(client, s, n, args.turns),
                stored_bytes=lambda made: firestore_bytes(client, made[:50]),
            ),
        )


def measure_stack(env: dict[str, str], args: argparse.Namespace, store: Store) -> dict[str, Any]:
    """The local stack on ``env``: turn overhead, bytes per message, 100 vs ``args.sessions``."""
    result: dict[str, Any] = {}
    with local_stack({**env, "LOG_LEVEL": "WARNING"}) as base:
        c = Client(base)
        warm_up(c, args.warmup)
        result["overhead"] = measure_overhead(c, args.overhead_sessions, args.overhead_turns)
        made = store.populate(0, 100)
        result["bytes"] = store.stored_bytes(made)
        scale: dict[str, Any] = {"100": measure_scale(c, made, args.requests)}
        started = time.perf_counter()
        while len(made) < args.sessions:
            made += store.populate(len(made), min(1000, args.sessions - len(made)))
        result["populate_seconds"] = round(time.perf_counter() - started, 1)
        scale[str(args.sessions)] = measure_scale(c, made, args.requests)
        result["scale"] = scale
        result["session_count_metric"] = session_count(c.http.get(f"{base}/metrics", timeout=30))
    small, big = result["scale"]["100"], result["scale"][str(args.sessions)]
    result["flat_ratio_p95"] = {
        k: round(big[k]["p95_ms"] / small[k]["p95_ms"], 2) for k in ("turn", "lookup")
    }
    return result


def session_count(metrics: requests.Response) -> float | None:
    """The ``session_count`` gauge in a Prometheus text exposition, None when absent."""
    for line in metrics.text.splitlines():
        if line.startswith("session_count "):
            return float(line.split()[1])
    return None


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for backend, r in results.items():
        if "skipped" in r:
            continue
        target = TARGETS["turn_overhead_p95_ms"][backend]
        out[f"{backend}.turn_overhead_p95"] = r["overhead"]["chat_turn"]["p95_ms"] <= target
        worst = r["bytes"].get("worst_overhead_per_message", r["bytes"]["overhead_per_message"])
        out[f"{backend}.bytes_per_message"] = worst <= TARGETS["bytes_per_message_over_text"]
        out[f"{backend}.flat"] = all(
            v <= TARGETS["flat_ratio"] for v in r["flat_ratio_p95"].values()
        )
    return out


def table(results: dict[str, Any], sessions: int) -> str:
    lines = [f"{'metric':<44}" + "".join(f"{b:>16}" for b in results)]

    def row(name: str, get: Callable[[dict[str, Any]], Any]) -> None:
        cells = []
        for r in results.values():
            try:
                cells.append(f"{get(r):>16}")
            except (KeyError, TypeError):
                cells.append(f"{'-':>16}")
        lines.append(f"{name:<44}" + "".join(cells))

    row("chat turn p50 ms (HTTP, no model call)", lambda r: r["overhead"]["chat_turn"]["p50_ms"])
    row("chat turn p95 ms (HTTP, no model call)", lambda r: r["overhead"]["chat_turn"]["p95_ms"])
    row("recommendation turn p95 ms", lambda r: r["overhead"]["recommendation_turn"]["p95_ms"])
    row("stored bytes over text, per message", lambda r: r["bytes"]["overhead_per_message"])

    def p50_p95(size: str, what: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: "{p50_ms}/{p95_ms}".format(**r["scale"][size][what])

    for n in ("100", str(sessions)):
        row(f"turn p50/p95 ms at {n} sessions", p50_p95(n, "turn"))
        row(f"lookup p50/p95 ms at {n} sessions", p50_p95(n, "lookup"))
    row("p95 ratio turn (big/small)", lambda r: r["flat_ratio_p95"]["turn"])
    row("p95 ratio lookup (big/small)", lambda r: r["flat_ratio_p95"]["lookup"])
    row("populate seconds (bulk)", lambda r: r["populate_seconds"])
    row("session_count metric", lambda r: r["session_count_metric"])
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="var/bench-chat.json")
    p.add_argument("--backends", default="sqlite,firestore")
    p.add_argument("--sessions", type=int, default=10_000)
    p.add_argument("--turns", type=int, default=5, help="stored turns (2 messages each)")
    p.add_argument("--requests", type=int, default=200, help="turns and lookups per size")
    p.add_argument("--overhead-sessions", type=int, default=20)
    p.add_argument("--overhead-turns", type=int, default=15)
    p.add_argument("--warmup", type=int, default=200, help="warm-up turns before measuring")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    """All chat benchmarks as one JSON-able report (``tools.bench`` can embed it)."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"benchmarking chat on {backend} ...", flush=True)
            results[backend] = bench_backend(backend, args, Path(tmp))
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "sessions": args.sessions,
        "messages_per_session": 2 * args.turns,
        "targets": TARGETS,
        "results": results,
        "pass": verdicts(results),
    }


def main() -> None:
    args = parser().parse_args()
    report = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(table(report["results"], args.sessions))
    print(json.dumps(report["pass"], indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
