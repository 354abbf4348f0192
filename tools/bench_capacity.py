"""Serving capacity benchmarks (issue 12): what one instance does at its Cloud Run concurrency.

- ``chat``: "chat under model latency". One chat process (functions-framework, the image's
  settings) behind testkit's fake Vertex AI (in its own process) answering every call after
  1 s, reached through the real google-genai client (``LLM_BACKEND=gemini``), driven by
  40 concurrent conversations (chat's concurrency in ``capacity.yml``), on the SQLite store and
  on the Firestore emulator. Reports turns/s, p50, p95 and the answers that came from the
  fallback. Run once with the threads of ``capacity.yml`` and once with functions-framework's
  default on a 1-vCPU Cloud Run instance (4 threads), for comparison in the same run.
- ``recommend``: maximum throughput at recommend's Cloud Run concurrency (80 connections, wrk)
  of the recommend function, of its HTTP layer with a fixed answer instead of the engine
  (``tools/bench_assets/http_only.py``) and of a bare functions-framework function, all with
  the same server settings in the same run.

``run(...) -> dict`` is the entry ``tools/bench.py`` calls; ``python -m tools.bench_capacity``
prints a table and writes JSON (default ``var/bench-capacity.json``).
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

from recoengine.capacity import capacity
from testkit.firestore_emulator import emulator_if_available
from tools.benchkit import (
    ASSETS,
    ROOT,
    TARGETS,
    Server,
    VertexProcess,
    drive_chat,
    gemini_env,
    logger,
    train_model,
    wrk_recommend,
)
from tools.load import ensure_model

# functions-framework's gunicorn default is 4 x os.cpu_count() threads: 4 on Cloud Run's 1 vCPU.
DEFAULT_THREADS_ON_ONE_VCPU = 4
PATH = "/api/v2/recommendations"


log = logger("bench-capacity")


# -- chat under model latency ------------------------------------------------------------------
@contextmanager
def _firestore() -> Iterator[str | None]:
    """The Firestore emulator's host:port while it runs; None on a machine without one."""
    with emulator_if_available() as emulator:
        yield emulator.host if emulator is not None else None


def chat_cell(
    store: str,
    threads: int,
    model_dir: Path,
    *,
    seconds: float,
    concurrency: int,
    delay: float,
    firestore_host: str | None = None,
    understanding: str = "offline",
    warm_up: float = 5.0,
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp,
        VertexProcess(delay) as fake,
    ):
        env = {
            "THREADS": str(threads),
            "WORKERS": "1",
            "MODEL_URI": str(model_dir),
            "VAR_DIR": tmp,
            "SESSION_BACKEND": store,
            "CHAT_UNDERSTANDING": understanding,
            **gemini_env(fake.url, Path(tmp)),
        }
        if firestore_host:
            env["FIRESTORE_EMULATOR_HOST"] = firestore_host
        server = Server("chat", ROOT / "functions/chat/main.py", env)
        try:
            server.wait("/health", None)
            result = drive_chat(server.url, concurrency, seconds, warm_up)
        finally:
            server.stop()
        calls = fake.counts()["total"]
        return {
            "threads": threads,
            "understanding": understanding,
            "model_calls": calls,
            **result,
        }


def bench_chat(
    model_dir: Path,
    *,
    seconds: float = 15.0,
    delay: float = 1.0,
    stores: tuple[str, ...] = ("sqlite", "firestore"),
    before: bool = True,
    understanding: bool = True,
) -> dict[str, Any]:
    cap = capacity("chat")
    # One model call per turn (the reply; the message understood by the offline parser), as
    # the target is stated; then the default with Gemini, which also understands the message
    # with a model call (two calls of 1 s a turn).
    settings = [("capacity", cap.threads, "offline")]
    if before:
        settings.append(("ff_default_1vcpu", DEFAULT_THREADS_ON_ONE_VCPU, "offline"))
    if understanding:
        settings.append(("capacity_model_understanding", cap.threads, "auto"))
    result: dict[str, Any] = {
        "settings": {"concurrency": cap.concurrency, "model_delay_s": delay, "seconds": seconds}
    }
    for store in stores:
        with _firestore() if store == "firestore" else nullcontext("") as host:
            if host is None:
                result[store] = {"skipped": "no Firestore emulator (google-cloud-cli-...)"}
                continue
            cells: dict[str, Any] = {}
            for label, threads, mode in settings:
                log(f"chat on {store}, {threads} threads, {cap.concurrency} concurrent turns")
                cells[label] = chat_cell(
                    store,
                    threads,
                    model_dir,
                    seconds=seconds,
                    concurrency=cap.concurrency,
                    delay=delay,
                    firestore_host=host or None,
                    understanding=mode,
                )
            result[store] = cells
    return result


# -- recommend at its concurrency --------------------------------------------------------------
def bench_recommend(
    model_dir: Path,
    *,
    seconds: int = 4,
    rounds: int = 3,
    threads: tuple[int, ...] = (),
    firestore_host: str | None = None,
) -> dict[str, Any]:
    """wrk at recommend's concurrency on the servers in turn, ``rounds`` times: this
    machine's speed drifts within a minute, so each ratio pairs runs of the same round and
    the report gives the median over rounds. With ``firestore_host``, recommend also runs
    with the user's recent events read from the Firestore emulator (a query per request,
    as in the cloud), which holds a thread while it waits."""
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed (make system-deps installs it)"}
    cap = capacity("recommend")
    result: dict[str, Any] = {
        "settings": {
            "connections": cap.concurrency,
            "seconds": seconds,
            "rounds": rounds,
            "cache": "off",
            "model": str(model_dir),
        }
    }
    targets = {"bare": "/", "http_only": PATH, "recommend": PATH}
    if firestore_host:
        targets["recommend_firestore"] = PATH
    for count in threads or (cap.threads,):
        base = {"THREADS": str(count), "WORKERS": "1"}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
            env = {**base, "MODEL_URI": str(model_dir), "RECO_CACHE_SIZE": "0", "VAR_DIR": tmp}
            servers = {
                "bare": Server("bare", ASSETS / "bare.py", base),
                "http_only": Server("http_only", ASSETS / "http_only.py", env),
                "recommend": Server("recommend", ROOT / "functions/recommend/main.py", env),
            }
            if firestore_host:
                servers["recommend_firestore"] = Server(
                    "recommend",
                    ROOT / "functions/recommend/main.py",
                    {
                        **env,
                        "SESSION_BACKEND": "firestore",
                        "FIRESTORE_EMULATOR_HOST": firestore_host,
                        "GOOGLE_CLOUD_PROJECT": "bench-project",
                    },
                )
            try:
                servers["bare"].wait("/", None)
                for name in targets:
                    if name != "bare":
                        servers[name].wait(PATH, {"user_id": "1"})
                log(f"recommend at {cap.concurrency} connections, {count} threads")
                for _ in range(rounds):
                    for name, path in targets.items():
                        url = servers[name].url + path
                        runs[name].append(wrk_recommend(url, seconds, cap.concurrency, {}))
            finally:
                for server in servers.values():
                    server.stop()
        cell: dict[str, Any] = {
            name: {
                "rps": statistics.median(r["rps"] for r in found),
                "p99_ms": statistics.median(r.get("p99_ms", float("nan")) for r in found),
                "errors": sum(r["non_2xx"] for r in found),
                "rounds": [r["rps"] for r in found],
            }
            for name, found in runs.items()
        }
        for name in targets:
            if name != "bare":
                paired = [
                    r["rps"] / b["rps"] for r, b in zip(runs[name], runs["bare"], strict=True)
                ]
                key = "ratio" if name == "recommend" else f"{name}_ratio"
                cell[key] = round(statistics.median(paired), 3)
        result[f"threads_{count}"] = cell
    return result


# -- entry ----------------------------------------------------------------------------------
def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    found: dict[str, bool] = {}
    sqlite = results.get("chat", {}).get("sqlite", {}).get("capacity")
    if sqlite:
        found["chat sqlite >= 36 turns/s"] = (
            sqlite["turns_per_s"] >= TARGETS["capacity_chat_sqlite_turns_per_s"]
        )
        found["chat sqlite p95 <= 1.3 s"] = sqlite["p95_s"] <= TARGETS["capacity_chat_sqlite_p95_s"]
        found["chat sqlite no fallbacks"] = sqlite["fallbacks"] == 0 and sqlite["errors"] == 0
    firestore = results.get("chat", {}).get("firestore", {}).get("capacity")
    if firestore:
        found["chat firestore >= 30 turns/s"] = (
            firestore["turns_per_s"] >= TARGETS["capacity_chat_firestore_turns_per_s"]
        )
    reco = results.get("recommend", {})
    threads = capacity("recommend").threads
    if f"threads_{threads}" in reco:
        ratio = reco[f"threads_{threads}"]["ratio"]
        found["recommend / bare >= 0.70"] = ratio >= TARGETS["capacity_recommend_ratio"]
    return found


def run(
    *,
    sections: tuple[str, ...] = ("chat", "recommend"),
    model_dir: Path | None = None,
    reco_model_dir: Path | None = None,
    chat_seconds: float = 15.0,
    wrk_seconds: int = 4,
    rounds: int = 3,
    stores: tuple[str, ...] = ("sqlite", "firestore"),
    before: bool = True,
    recommend_threads: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Both benchmarks. ``model_dir`` is the demo model chat serves (trained once if absent);
    ``reco_model_dir`` the model recommend serves: by default the ML-100K model of
    ``make bench`` (the users wrk asks for are ML-100K's), the demo model without the data."""
    model = ensure_model(model_dir or ROOT / "var" / "load-model")
    results: dict[str, Any] = {"cpus": os.cpu_count()}
    if "chat" in sections:
        results["chat"] = bench_chat(model, seconds=chat_seconds, stores=stores, before=before)
    if "recommend" in sections:
        if reco_model_dir is None:
            data = ROOT.parent / "shared" / "datasets" / "ml-100k"
            if (data / "u.data").exists():
                reco_model_dir = train_model(str(data), ROOT / "var" / "bench" / "ml100k-model")
        with _firestore() if "firestore" in stores else nullcontext(None) as host:
            results["recommend"] = bench_recommend(
                reco_model_dir or model,
                seconds=wrk_seconds,
                rounds=rounds,
                threads=recommend_threads,
                firestore_host=host,
            )
    results["pass"] = verdicts(results)
    return results


def table(results: dict[str, Any]) -> str:
    rows = [
        f"{'chat (1 s model)':<40} {'threads':>7} {'turns/s':>8} {'p50 s':>6} {'p95 s':>6}"
        f" {'fallback':>8} {'errors':>6}"
    ]
    for store in ("sqlite", "firestore"):
        for label, r in results.get("chat", {}).get(store, {}).items():
            if "turns_per_s" in r:
                rows.append(
                    f"{store + ' / ' + label:<40} {r['threads']:>7} {r['turns_per_s']:>8.1f}"
                    f" {r['p50_s']:>6.2f} {r['p95_s']:>6.2f} {r['fallbacks']:>8} {r['errors']:>6}"
                )
    reco = results.get("recommend", {})
    rows.append("")
    rows.append(
        f"{'recommend at c=80 (req/s)':<34} {'bare':>8} {'http-only':>9} {'reco':>8}"
        f" {'ratio':>6} {'http-only':>9}"
    )
    for key, cell in reco.items():
        if key.startswith("threads_"):
            rows.append(
                f"{key:<34} {cell['bare']['rps']:>8.0f} {cell['http_only']['rps']:>9.0f}"
                f" {cell['recommend']['rps']:>8.0f} {cell['ratio']:>6.2f}"
                f" {cell['http_only_ratio']:>9.2f}"
            )
            if "recommend_firestore" in cell:
                fs = cell["recommend_firestore"]
                rows.append(
                    f"{'  recommend, events in Firestore':<34} {'':>8} {'':>9} {fs['rps']:>8.0f}"
                    f" {cell['recommend_firestore_ratio']:>6.2f}  p99 {fs['p99_ms']:.0f} ms"
                )
    rows.append("")
    rows += [f"{name:<40} {'PASS' if ok else 'MISS'}" for name, ok in results["pass"].items()]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "var" / "bench-capacity.json"))
    parser.add_argument("--only", default="chat,recommend")
    parser.add_argument("--stores", default="sqlite,firestore")
    parser.add_argument("--chat-seconds", type=float, default=15.0)
    parser.add_argument("--wrk-seconds", type=int, default=4, help="one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per server")
    parser.add_argument("--no-before", action="store_true", help="skip the 4-thread chat runs")
    parser.add_argument("--model", default=None, help="the model recommend serves")
    parser.add_argument(
        "--recommend-threads", default="", help="comma-separated thread counts to compare"
    )
    args = parser.parse_args()
    results = run(
        sections=tuple(args.only.split(",")),
        reco_model_dir=Path(args.model) if args.model else None,
        chat_seconds=args.chat_seconds,
        wrk_seconds=args.wrk_seconds,
        rounds=args.rounds,
        stores=tuple(s for s in args.stores.split(",") if s),
        before=not args.no_before,
        recommend_threads=tuple(int(t) for t in args.recommend_threads.split(",") if t),
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
