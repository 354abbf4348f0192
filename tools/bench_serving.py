"""Serving at the framework's floor (issue 19): the local stack as ``make run`` starts it.

- ``chat_load``: one local stack (``tools/localstack.running``, default settings) with
  ``LLM_BACKEND=gemini`` reaching testkit's fake Vertex AI (its own process, every answer after
  1.0 s) through the real google-genai client; 40 conversations, a turn after the other, on
  SQLite and on the Firestore emulator. Reported per store: turns/s, p50/p95, the answers'
  ``fallback`` count, model calls per turn counted at the fake's wire (requests it served over
  the turns answered, by kind), and the stack's CPU time per turn over the measured window
  (``/proc/PID/stat`` of the processes holding its port: the model's wait costs no CPU and
  the fake and the driver run in other processes).
- ``recommend_floor``: wrk, the same run, top-10 requests for random users (half known ML-100K
  users, half users the model has never seen) against the stack's recommend and two bare
  functions-framework functions answering small JSON: the WSGI one (``bare.py``, functions-
  framework's default threads) and the ASGI one (``bare_asgi.py``, ``--asgi``). Servers take
  turns, ``rounds`` times; each ratio is the median of ratios within a round.

``python -m tools.bench_serving [--only chat_load,recommend_floor]`` prints JSON; ``tools/bench.py``
runs the sections by the same names.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from testkit.firestore_emulator import emulator_if_available
from tools.benchkit import (
    ASSETS,
    ML100K,
    ML100K_MODEL,
    ROOT,
    TARGETS,
    Server,
    VertexProcess,
    cpu_seconds,
    drive_chat,
    gemini_env,
    logger,
    server_processes,
    train_model,
    wrk_recommend,
)
from tools.load import ensure_model
from tools.localstack import running as local_stack

log = logger("bench-serving")
PATH = "/api/v2/recommendations"


@contextmanager
def _firestore_host(store: str) -> Iterator[str | None]:
    """The emulator's host:port for ``firestore`` (None: no emulator here); "" for SQLite."""
    if store != "firestore":
        with nullcontext():
            yield ""
        return
    with emulator_if_available() as emulator:
        yield emulator.host if emulator is not None else None


def chat_cell(
    store: str,
    model_dir: Path,
    *,
    seconds: float,
    concurrency: int,
    delay: float,
    warm_up: float,
) -> dict[str, Any]:
    """One store: the stack behind the slow fake, driven by ``concurrency`` conversations."""
    with (
        _firestore_host(store) as host,
        tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp,
        VertexProcess(delay) as fake,
    ):
        if host is None:
            return {"skipped": "no Firestore emulator (google-cloud-cli-firestore-emulator)"}
        env = {
            "MODEL_URI": str(model_dir),
            "VAR_DIR": tmp,
            "SESSION_BACKEND": store,
            **gemini_env(fake.url, Path(tmp)),
        }
        if host:
            env["FIRESTORE_EMULATOR_HOST"] = host
        with local_stack(env, timeout=180) as base:
            pids = server_processes(base)
            log(f"chat on {store}: {concurrency} conversations, {delay} s model, pids {pids}")
            result = drive_chat(
                base, concurrency, seconds, warm_up, probe=lambda: cpu_seconds(pids)
            )
        calls = fake.counts()
    cpu = result.pop("probe_delta")
    answered = result["all_turns"]
    return {
        **result,
        "model_calls": calls,
        "model_calls_per_turn": round(calls["total"] / answered, 3) if answered else None,
        "cpu_ms_per_turn": round(cpu * 1000 / result["turns"], 2) if result["turns"] else None,
        "server_processes": len(pids),
    }


def bench_chat_load(
    model_dir: Path | None = None,
    *,
    stores: tuple[str, ...] = ("sqlite", "firestore"),
    seconds: float = 15.0,
    concurrency: int = 40,
    delay: float = 1.0,
    warm_up: float = 5.0,
) -> dict[str, Any]:
    model = ensure_model(model_dir or ROOT / "var" / "load-model")
    result: dict[str, Any] = {
        "settings": {
            "concurrency": concurrency,
            "model_delay_s": delay,
            "seconds": seconds,
            "warm_up_s": warm_up,
            "stack": "tools/localstack.running, default settings, LLM_BACKEND=gemini",
        },
        "loadavg_before": os.getloadavg()[0],
    }
    for store in stores:
        result[store] = chat_cell(
            store, model, seconds=seconds, concurrency=concurrency, delay=delay, warm_up=warm_up
        )
    result["loadavg_after"] = os.getloadavg()[0]
    result["pass"] = chat_verdicts(result)
    return result


def chat_verdicts(result: dict[str, Any]) -> dict[str, bool]:
    t = TARGETS
    found: dict[str, bool] = {}
    sqlite = result.get("sqlite", {})
    if "turns_per_s" in sqlite:
        found[f"sqlite >= {t['chat_sqlite_turns_per_s']:.0f} turns/s"] = (
            sqlite["turns_per_s"] >= t["chat_sqlite_turns_per_s"]
        )
        found[f"sqlite p95 <= {t['chat_sqlite_p95_s']} s"] = (
            sqlite["p95_s"] <= t["chat_sqlite_p95_s"]
        )
        calls = sqlite["model_calls_per_turn"]
        found[f"sqlite <= {t['chat_calls_per_turn']} model calls/turn"] = (
            calls is not None and calls <= t["chat_calls_per_turn"]
        )
        found["sqlite no fallbacks, no errors"] = sqlite["fallbacks"] == sqlite["errors"] == 0
        cpu = sqlite["cpu_ms_per_turn"]
        found[f"CPU per turn <= {t['chat_cpu_ms_per_turn']:.0f} ms"] = (
            cpu is not None and cpu <= t["chat_cpu_ms_per_turn"]
        )
    firestore = result.get("firestore", {})
    if "turns_per_s" in firestore:
        found[f"firestore >= {t['chat_firestore_turns_per_s']:.0f} turns/s"] = (
            firestore["turns_per_s"] >= t["chat_firestore_turns_per_s"]
        )
    return found


# -- recommend against the framework's floor ------------------------------------------------------
def bench_recommend_floor(
    model_dir: Path | None = None,
    *,
    seconds: int = 5,
    rounds: int = 3,
    connections: int = 64,
    unseen_pct: int = 50,
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed (make system-deps installs it)"}
    model = model_dir or train_model(str(ML100K), ML100K_MODEL)
    wrk_env = {"BENCH_UNSEEN_PCT": str(unseen_pct)}
    runs: dict[str, list[dict[str, Any]]] = {"bare_wsgi": [], "bare_asgi": [], "recommend": []}
    bare = {
        "bare_wsgi": Server("bare", ASSETS / "bare.py", {}),
        "bare_asgi": Server("bare", ASSETS / "bare_asgi.py", {}),
    }
    loads = [os.getloadavg()[0]]
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp,
            local_stack({"MODEL_URI": str(model), "VAR_DIR": tmp}, timeout=180) as base,
        ):
            urls = {name: server.url + "/" for name, server in bare.items()}
            urls["recommend"] = base + PATH
            for server in bare.values():
                server.wait("/", None)
            for url in urls.values():  # connections, imports, the model's first pages
                wrk_recommend(url, 2, connections, wrk_env)
            log(f"recommend vs bare WSGI/ASGI: {rounds} rounds of {seconds} s at c={connections}")
            for _ in range(rounds):
                for name, url in urls.items():
                    runs[name].append(wrk_recommend(url, seconds, connections, wrk_env))
                loads.append(os.getloadavg()[0])
    finally:
        for server in bare.values():
            server.stop()
    result: dict[str, Any] = {
        "settings": {
            "connections": connections,
            "seconds": seconds,
            "rounds": rounds,
            "unseen_users_pct": unseen_pct,
            "model": str(model),
            "stack": "tools/localstack.running, default settings",
        },
        "loadavg": loads,
    }
    for name, found in runs.items():
        result[name] = {
            "rps": statistics.median(r["rps"] for r in found),
            "p99_ms": statistics.median(r["p99_ms"] for r in found),
            "errors": sum(r["errors"] for r in found),
            "rounds": [r["rps"] for r in found],
        }
    for bare_name in ("bare_wsgi", "bare_asgi"):
        paired = [
            r["rps"] / b["rps"] for r, b in zip(runs["recommend"], runs[bare_name], strict=True)
        ]
        result[f"recommend_vs_{bare_name}"] = round(statistics.median(paired), 3)
    result["pass"] = floor_verdicts(result)
    return result


def floor_verdicts(result: dict[str, Any]) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for name in ("bare_asgi", "bare_wsgi"):
        key = f"recommend_vs_{name}"
        if key in result:
            target = TARGETS[key]
            found[f"recommend / {name} >= {target:.2f}"] = result[key] >= target
    if "recommend" in result:
        found["recommend no errors"] = result["recommend"]["errors"] == 0
    return found


SECTIONS = {"chat_load": bench_chat_load, "recommend_floor": bench_recommend_floor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--stores", default="sqlite,firestore")
    parser.add_argument("--chat-seconds", type=float, default=15.0)
    parser.add_argument("--wrk-seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name in args.only.split(","):
        if name == "chat_load":
            stores = tuple(s for s in args.stores.split(",") if s)
            results[name] = bench_chat_load(stores=stores, seconds=args.chat_seconds)
        elif name == "recommend_floor":
            results[name] = bench_recommend_floor(seconds=args.wrk_seconds, rounds=args.rounds)
        else:
            parser.error(f"unknown section {name}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
