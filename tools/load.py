"""``make load``: drive the local stack with wrk and report throughput, latency and errors.

Cells: {recommend mix, chat mix} x {SQLite, Firestore emulator} session stores, each for a fixed
time (``--seconds``, 15 by default) at a fixed concurrency. The mixes are wrk scripts in
``tools/load_assets/`` (what each sends is described at their top). The stack is the one
``make run`` starts (functions-framework's gunicorn, one process, the threads of
``capacity.yml``), with the demo model; the
Firestore cells start Google's emulator. Results: a table on stdout and JSON (``var/load.json``).

An error is any non-2xx answer or socket error (connect, read, write, timeout): under this load
none is expected.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import requests

from testkit.firestore_emulator import emulator_if_available
from tools import wrk
from tools.localstack import running as local_stack
from tools.localstack import server_env

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tools" / "load_assets"
MIXES = ("recommend", "chat")
STORES = ("sqlite", "firestore")


def log(msg: str) -> None:
    print(f"[load] {msg}", file=sys.stderr, flush=True)


def post(base: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(base + path, json=body, timeout=30)


def prepare_sessions(base: str, path: Path, count: int) -> None:
    """Sessions the chat mix continues (each owned by its own user), one per line."""
    lines = []
    for i in range(count):
        user = f"load-{i:04d}"
        r = post(base, "/api/v2/chat", {"user_id": user, "message": "recommend me a comedy"})
        r.raise_for_status()
        lines.append(f"{r.json()['session_id']} {user}")
    path.write_text("\n".join(lines) + "\n")


def warm_up(base: str, seconds: float = 2.0) -> None:
    """Load the model, open store connections, let the emulator's JVM compile hot paths."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        post(base, "/api/v2/recommendations", {"user_id": f"user-{n % 100:04d}"})
        post(base, "/api/v2/chat", {"user_id": f"warm-{n % 10}", "message": "hello"})
        n += 1


def run_store(store: str, args: argparse.Namespace, model_dir: Path) -> dict[str, Any]:
    var = Path(tempfile.mkdtemp(prefix=f"load-{store}-"))
    env = {
        "MODEL_URI": str(model_dir),
        "VAR_DIR": str(var),
        "LOG_LEVEL": "WARNING",
        "SESSION_BACKEND": store,
        "GOOGLE_CLOUD_PROJECT": "load-project",
    }
    firestore = emulator_if_available() if store == "firestore" else nullcontext()
    try:
        with firestore as emulator:
            if store == "firestore":
                if emulator is None:
                    return {
                        "skipped": "no Firestore emulator "
                        "(install google-cloud-cli-firestore-emulator)"
                    }
                env["FIRESTORE_EMULATOR_HOST"] = emulator.host
            return drive_stack(store, env, args, var)
    finally:
        shutil.rmtree(var, ignore_errors=True)


def drive_stack(
    store: str, env: dict[str, str], args: argparse.Namespace, var: Path
) -> dict[str, Any]:
    """The local stack on ``env``: warmed up, then each mix for ``args.seconds`` under wrk."""
    results: dict[str, Any] = {}
    with local_stack(env, timeout=180) as base:
        log(f"{store}: stack at {base}, warming up")
        warm_up(base)
        sessions = var / "sessions.txt"
        prepare_sessions(base, sessions, args.sessions)
        for mix in args.mixes:
            log(f"{store}: {mix} mix for {args.seconds}s at {args.connections} connections")
            results[mix] = wrk.run(
                base,
                ASSETS / f"{mix}.lua",
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
                timeout_s=10,
                env={"LOAD_SESSIONS": str(sessions), "LOAD_USERS": "150", "LOAD_ITEMS": "160"},
            )
    return results


def ensure_model(path: Path) -> Path:
    """The demo model the local stack would train on first start, trained once and reused."""
    if not (path / "manifest.json").exists():
        from recoengine.data.demo import generate
        from recoengine.pipeline import train_and_save

        log(f"training the demo model into {path}")
        trained, _ = train_and_save(
            generate(n_users=150, n_items=160, per_user=25, seed=3), path, tune=False
        )
        return Path(trained)
    return path


def table(results: dict[str, Any]) -> str:
    head = (
        f"{'mix':<10} {'store':<10} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7}"
    )
    rows = [head, "-" * len(head)]
    for store, cells in results["cells"].items():
        if "skipped" in cells:
            rows.append(f"{'*':<10} {store:<10} skipped: {cells['skipped']}")
            continue
        for mix, r in cells.items():
            rows.append(
                f"{mix:<10} {store:<10} {r['rps']:>9.1f} {r['p50_ms']:>8.2f} "
                f"{r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>7d}"
            )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=64, help="sessions the chat mix continues")
    parser.add_argument("--mixes", default=",".join(MIXES))
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--model", default=str(ROOT / "var" / "load-model"))
    parser.add_argument("--out", default=str(ROOT / "var" / "load.json"))
    args = parser.parse_args()
    args.mixes = [m for m in args.mixes.split(",") if m]
    if unknown := set(args.mixes) - set(MIXES):
        parser.error(f"unknown mix: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        log("wrk is not installed: make system-deps (Debian package wrk)")
        return 2
    model = ensure_model(Path(args.model))
    results: dict[str, Any] = {
        "seconds": args.seconds,
        "connections": args.connections,
        "threads": args.threads,
        "server_threads": int(server_env()["THREADS"]),  # capacity.yml, as make run
        "cpus": os.cpu_count(),
        "cells": {},
    }
    for store in [s for s in args.stores.split(",") if s]:
        results["cells"][store] = run_store(store, args, model)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {out}")
    errors = sum(
        r.get("errors", 0)
        for cells in results["cells"].values()
        for r in cells.values()
        if isinstance(r, dict)
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
