"""``make bench``: the product's performance and quality targets, measured in one run.

Sections (each written into one JSON file, then printed as a table):

- quality: the evaluation suite on MovieLens 100K (our blend vs components, popularity and
  tuned implicit ALS; the team's protocol);
- engine: latency of one top-10 request on the ML-100K model (cache off), next to implicit's
  ``recommend`` on the same data;
- http: maximum throughput of the recommend function vs a bare functions-framework function
  (wrk, same server settings, same run), and p99 at half the recommend function's maximum;
- cold_start: process start to the first successful recommendation (the recommend function
  alone, WSGI or ASGI as its entry point is);
- canary: the automatic-rollback path, incident in -> traffic changed at a fake Admin API,
  with a rollback webhook that takes 5 s to answer;
- chat: the chat benchmarks (``tools/bench_chat.py``);
- chat_load: the local stack at its default settings, Gemini (a fake in its own process)
  answering in 1 s, 40 concurrent conversations on SQLite and Firestore: turns/s, p95, model
  calls per turn counted at the fake, fallbacks, the stack's CPU per turn (``bench_serving``);
- stream: streamed replies (first chunk at 0.3 s, end at 1.0 s), 20 conversations: p95 time to
  the first delta, every stream ending with ``done`` (``bench_stream``);
- recommend_floor: the stack's recommend (half known, half unseen users) against bare WSGI and
  ASGI functions-framework functions, wrk, same run (``bench_serving``);
- quality_toys: the evaluation suite on Amazon Toys (sequences, no item features);
- scale: generated catalogs at real size through ``make train``'s command (``bench_scale``);
- spark: the Spark trainer against the local one (``bench_spark``);
- capacity: chat under a 1 s model and recommend at its Cloud Run concurrency
  (``bench_capacity``);
- understanding: the chat's understanding score on ML-100K (``bench_understanding``).

Every target the summary judges is in ``tools.benchkit.TARGETS``. ``--only a,b`` runs some.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from recoengine.models.blend import DEFAULT_WEIGHTS
from tools.benchkit import (
    ASSETS,
    ML100K,
    ML100K_MODEL,
    ROOT,
    TARGETS,
    Server,
    known_user_timings,
    log,
    train_model,
    wrk_recommend,
)
from tools.latency import summary_of_seconds


# -- quality ------------------------------------------------------------------------------
def _quality(data_dir: str, fmt: str) -> dict[str, Any]:
    from recoengine.comparison import format_table, run_suite
    from recoengine.data.loaders import load_dataset

    result = run_suite(load_dataset(data_dir, fmt))
    print(format_table(result), file=sys.stderr)
    return result


def bench_quality(data_dir: str) -> dict[str, Any]:
    result = _quality(data_dir, "movielens")
    m = result["models"]
    result["targets"] = {
        "default_blend_vs_als": m["blend_default"]["ndcg10_ratio_to_peer"],
        "tuned_blend_vs_als": m["blend_tuned"]["ndcg10_ratio_to_peer"],
        "tuned_blend_ci_above_zero": m["blend_tuned"]["ndcg10_vs_peer"]["ci95"][0] > 0,
        "sampled_hr2": m["blend_tuned"]["sampled_hr2"],
        "expected_sampled_hr2": m["blend_tuned"]["expected_sampled_hr2"],
    }
    return result


def bench_quality_toys(data_dir: str) -> dict[str, Any]:
    result = _quality(data_dir, "sequences")
    m = result["models"]
    result["targets"] = {
        "tuned_blend_ndcg10": m["blend_tuned"]["ndcg10"],
        "tuned_blend_vs_als": m["blend_tuned"]["ndcg10_ratio_to_peer"],
    }
    return result


# -- engine latency -------------------------------------------------------------------------
def bench_engine(model_dir: Path, data_dir: str, n: int = 5000) -> dict[str, Any]:
    from recoengine.artifact import load
    from recoengine.serving import RecommendContext, RecommenderService

    svc = RecommenderService(load(str(model_dir)), DEFAULT_WEIGHTS)  # no cache: cost of a miss
    rng = np.random.default_rng(0)
    timings = known_user_timings(svc, rng, n)
    cold = []
    for i in range(1000):
        t = time.perf_counter()
        svc.recommend(f"new-user-{i}", 10, RecommendContext(persona={"age": "25-34"}))
        cold.append(time.perf_counter() - t)
    result: dict[str, Any] = {
        "ours": summary_of_seconds(timings),
        "ours_cold_start_user": summary_of_seconds(cold),
    }
    result["implicit_als_recommend"] = _bench_implicit(data_dir, rng, n)
    return result


def _bench_implicit(data_dir: str, rng: np.random.Generator, n: int) -> dict[str, float]:
    from scipy.sparse import csr_matrix

    from recoengine.data.loaders import load_dataset
    from recoengine.evaluation.peers import fit_als

    data = load_dataset(data_dir, "movielens")
    als = fit_als(data, 64, 0.1, 5.0)
    ui = csr_matrix(
        (np.ones(data.n_interactions, np.float32), (data.users, data.items)),
        shape=(data.n_users, data.n_items),
    )
    model: Any = als.model
    users = rng.integers(0, data.n_users, n)
    for u in users[:300]:
        model.recommend(int(u), ui[int(u)], N=10)
    timings = []
    for u in users:
        row = ui[int(u)]
        t = time.perf_counter()
        model.recommend(int(u), row, N=10)
        timings.append(time.perf_counter() - t)
    return summary_of_seconds(timings)


# -- HTTP ---------------------------------------------------------------------------------
def bench_http(model_dir: Path, seconds: int = 10) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed (make system-deps installs it)"}
    env = {"MODEL_URI": str(model_dir), "RECO_CACHE_SIZE": "0", "VAR_DIR": str(ROOT / "var")}
    bare = Server("bare", ASSETS / "bare.py", {})
    reco = Server("recommend", ROOT / "functions/recommend/main.py", env)
    try:
        bare.wait("/", None)
        reco.wait("/api/v2/recommendations", {"user_id": "1"})
        conns = 16
        bare_max = wrk_recommend(bare.url + "/", seconds, conns, {})
        reco_max = wrk_recommend(reco.url + "/api/v2/recommendations", seconds, conns, {})
        half = reco_max["rps"] / 2
        delay_ms = max(1, round(conns / half * 1000))
        reco_half = wrk_recommend(
            reco.url + "/api/v2/recommendations", seconds, conns, {"BENCH_DELAY_MS": str(delay_ms)}
        )
    finally:
        bare.stop()
        reco.stop()
    return {
        "bare_max": bare_max,
        "recommend_max": reco_max,
        "throughput_ratio": reco_max["rps"] / bare_max["rps"],
        "recommend_half_load": {**reco_half, "target_rps": half},
        "settings": {"connections": conns, "seconds": seconds, "cache": "off"},
    }


def bench_cold_start(model_dir: Path, runs: int = 3) -> dict[str, Any]:
    env = {"MODEL_URI": str(model_dir), "VAR_DIR": str(ROOT / "var")}
    times = []
    for _ in range(runs):
        server = Server("recommend", ROOT / "functions/recommend/main.py", env)
        try:
            times.append(server.wait("/api/v2/recommendations", {"user_id": "1", "k": 10}))
        finally:
            server.stop()
    return {"seconds": times, "median_s": float(np.median(times))}


def slow_webhook(delay_s: float) -> Any:
    """A local HTTP server that answers every POST after ``delay_s`` (a slow chat webhook)."""
    import http.server
    import threading

    class Slow(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay_s)
            self.send_response(204)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def bench_canary(trials: int = 20, webhook_delay_s: float = 5.0) -> dict[str, Any]:
    """The automatic-rollback path, in-process: a Pub/Sub CloudEvent with an open incident
    enters ``canary_incident`` and ends as a traffic change at a fake Cloud Run Admin API,
    through the real google-cloud-run client, with ``ROLLBACK_WEBHOOK_URL`` pointing at a
    webhook that takes ``webhook_delay_s`` to answer (target: traffic moved < 1 s after the
    incident arrived; the handler returns after the notifier's bounded wait)."""
    import base64
    import contextlib
    import io
    import tempfile

    import functions_framework

    from recoengine.canary.controller import CanaryController
    from recoengine.canary.notify import Notifier
    from recoengine.canary.policy import SHORT_PLAN, CanaryPolicy
    from recoengine.canary.scenarios import SyntheticMetrics
    from recoengine.canary.store import SqliteCanaryStore
    from recoengine.canary.traffic import CloudRunTraffic
    from recoengine.wiring import canary as wiring
    from testkit.fake_cloud_run import FakeRunAdmin, run_client

    project, region, service = "bench-project", "europe-west1", "recommend"
    old, new = f"{service}-00001-old", f"{service}-00002-new"
    app = functions_framework.create_app(
        target="canary_incident",
        source=str(ROOT / "functions/canary/main.py"),
        signature_type="cloudevent",
    )
    client = app.test_client()
    headers = {
        "ce-id": "bench",
        "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/canary-incidents",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    seconds, handler_seconds = [], []
    hook = slow_webhook(webhook_delay_s)
    webhook = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    # The canary's JSON logs (one rollback notification per trial) would drown the table.
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        for trial in range(trials):
            admin = FakeRunAdmin().start()
            store = SqliteCanaryStore(Path(tmp) / f"canary-{trial}.sqlite3")
            try:
                full = admin.add_service(project, region, service, old, new)
                traffic = CloudRunTraffic(project, region, client=run_client(admin.endpoint))
                ctrl = CanaryController(
                    CanaryPolicy(plan=SHORT_PLAN),
                    store,
                    traffic,
                    SyntheticMetrics("healthy"),
                    Notifier(webhook),
                )
                ctrl.enable(service, 5, None, "bench")
                incident = {
                    "version": "1.2",
                    "incident": {
                        "incident_id": f"bench-{trial}",
                        "scoping_project_id": project,
                        "state": "open",
                        "started_at": 1767225600,
                        "policy_name": "CanaryErrorRateHigh",
                        "summary": "bench",
                        "resource": {
                            "type": "cloud_run_revision",
                            "labels": {"service_name": service, "revision_name": new},
                        },
                        "metric": {"type": "run.googleapis.com/request_count", "labels": {}},
                        "policy_user_labels": {"trigger": "error_rate"},
                    },
                }
                data = base64.b64encode(json.dumps(incident).encode()).decode()
                event = {"message": {"data": data, "messageId": f"m{trial}"}}
                with wiring.controller.override(ctrl):
                    started = time.perf_counter()
                    status = client.post("/", data=json.dumps(event), headers=headers).status_code
                    handler_seconds.append(time.perf_counter() - started)
                if status != 200 or admin.split(full)[new] != 0:
                    raise RuntimeError(f"rollback did not happen (status {status})")
                seconds.append(admin.update_times[-1] - started)
            finally:
                store.close()
                admin.stop()
    hook.shutdown()
    hook.server_close()
    return {
        "webhook_delay_s": webhook_delay_s,
        "incident_to_traffic_change_ms": summary_of_seconds(seconds),
        "incident_handler_ms": summary_of_seconds(handler_seconds),
    }


def bench_chat(out_dir: Path) -> dict[str, Any]:
    out = out_dir / "bench-chat.json"
    subprocess.run(
        [sys.executable, "-m", "tools.bench_chat", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    return json.loads(out.read_text())


def summary(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    T = TARGETS

    def add(name: str, value: float | None, target: float, higher: bool, fmt: str) -> None:
        if value is None:
            rows.append((name, "n/a", f"{target:{fmt}}", "-"))
            return
        ok = value >= target if higher else value <= target
        rows.append(
            (
                name,
                f"{value:{fmt}}",
                f"{'>=' if higher else '<='} {target:{fmt}}",
                "PASS" if ok else "MISS",
            )
        )

    q = results.get("quality", {}).get("targets", {})
    tuned = results.get("quality", {}).get("models", {}).get("blend_tuned", {})
    add(
        "ML-100K NDCG@10 tuned blend",
        tuned.get("ndcg10"),
        TARGETS["ml100k_tuned_blend_ndcg10"],
        True,
        ".4f",
    )
    add(
        "NDCG@10 default blend / ALS",
        q.get("default_blend_vs_als"),
        TARGETS["default_blend_vs_als"],
        True,
        ".2f",
    )
    add(
        "NDCG@10 tuned blend / ALS",
        q.get("tuned_blend_vs_als"),
        TARGETS["tuned_blend_vs_als"],
        True,
        ".2f",
    )
    add("sampled HR@2 (Top-2 accuracy)", q.get("sampled_hr2"), TARGETS["sampled_hr2"], True, ".3f")
    add(
        "  the same, expected over draws",
        q.get("expected_sampled_hr2"),
        TARGETS["sampled_hr2"],
        True,
        ".3f",
    )
    e = results.get("engine", {}).get("ours", {})
    add("engine median ms", e.get("p50_ms"), TARGETS["engine_median_ms"], False, ".3f")
    add("engine p99 ms", e.get("p99_ms"), TARGETS["engine_p99_ms"], False, ".3f")
    h = results.get("http", {})
    add(
        "HTTP throughput vs bare",
        h.get("throughput_ratio"),
        TARGETS["http_throughput_ratio"],
        True,
        ".2f",
    )
    add(
        "HTTP p99 ms at half load",
        h.get("recommend_half_load", {}).get("p99_ms"),
        TARGETS["http_p99_ms_at_half_load"],
        False,
        ".1f",
    )
    chat = results.get("chat_load", {})
    sqlite, firestore = chat.get("sqlite", {}), chat.get("firestore", {})
    if chat:
        add(
            "chat sqlite turns/s (1 s model, c=40)",
            sqlite.get("turns_per_s"),
            T["chat_sqlite_turns_per_s"],
            True,
            ".1f",
        )
        add("chat sqlite p95 s", sqlite.get("p95_s"), T["chat_sqlite_p95_s"], False, ".2f")
        add(
            "chat sqlite model calls/turn",
            sqlite.get("model_calls_per_turn"),
            T["chat_calls_per_turn"],
            False,
            ".2f",
        )
        add("chat sqlite fallbacks", sqlite.get("fallbacks"), T["chat_fallbacks"], False, ".0f")
        add(
            "chat CPU ms/turn (sqlite)",
            sqlite.get("cpu_ms_per_turn"),
            T["chat_cpu_ms_per_turn"],
            False,
            ".2f",
        )
        add(
            "chat firestore turns/s",
            firestore.get("turns_per_s"),
            T["chat_firestore_turns_per_s"],
            True,
            ".1f",
        )
    stream = results.get("stream", {})
    if stream:
        add(
            "stream first delta p95 s",
            stream.get("first_delta_p95_s"),
            T["stream_first_delta_p95_s"],
            False,
            ".2f",
        )
        for check, passed in stream.get("pass", {}).items():
            if not check.startswith("first delta"):
                rows.append(
                    (f"stream: {check}", "-", "(bench_stream)", "PASS" if passed else "MISS")
                )
    floor = results.get("recommend_floor", {})
    if floor:
        add(
            "recommend / bare ASGI (wrk)",
            floor.get("recommend_vs_bare_asgi"),
            T["recommend_vs_bare_asgi"],
            True,
            ".2f",
        )
        add(
            "recommend / bare WSGI (wrk)",
            floor.get("recommend_vs_bare_wsgi"),
            T["recommend_vs_bare_wsgi"],
            True,
            ".2f",
        )
    c = results.get("cold_start", {})
    add("cold start s", c.get("median_s"), TARGETS["cold_start_s"], False, ".2f")
    rb = results.get("canary", {}).get("incident_to_traffic_change_ms", {})
    add(
        "canary incident -> rollback ms (max)",
        rb.get("max_ms"),
        TARGETS["canary_rollback_ms"],
        False,
        ".1f",
    )
    handler = results.get("canary", {}).get("incident_handler_ms", {})
    add(
        "canary incident handler ms (max)",
        handler.get("max_ms"),
        T["canary_handler_ms"],
        False,
        ".1f",
    )
    cat = results.get("catalog", {})
    add(
        "catalog update -> served s",
        cat.get("new_item_served_seconds"),
        T["catalog_seconds"],
        False,
        ".1f",
    )
    add(
        "catalog withdraw -> gone s",
        cat.get("withdrawn_item_gone_seconds"),
        T["catalog_seconds"],
        False,
        ".1f",
    )
    for check, passed in results.get("chat", {}).get("pass", {}).items():
        rows.append((f"chat {check}", "-", "(bench_chat)", "PASS" if passed else "MISS"))
    t = results.get("quality_toys", {}).get("targets", {})
    add(
        "Toys NDCG@10 tuned blend",
        t.get("tuned_blend_ndcg10"),
        TARGETS["toys_tuned_blend_ndcg10"],
        True,
        ".4f",
    )
    add(
        "Toys NDCG@10 tuned blend / ALS",
        t.get("tuned_blend_vs_als"),
        TARGETS["toys_tuned_blend_vs_als"],
        True,
        ".2f",
    )
    for size in results.get("scale", {}).get("sizes", []):
        label = f"scale {size['items'] // 1000}k items"
        big = size["items"] >= 1_000_000
        add(f"{label}: train min", size["train_minutes"], T["scale_train_minutes"], False, ".1f")
        add(
            f"{label}: train peak GB", size["train_peak_gb"], T["scale_train_peak_gb"], False, ".2f"
        )
        add(f"{label}: artifact GB", size["artifact_gb"], T["scale_artifact_gb"], False, ".3f")
        add(f"{label}: cold start s", size["cold_start_s"], T["scale_cold_start_s"], False, ".2f")
        add(
            f"{label}: median ms",
            size["engine"]["p50_ms"],
            T["scale_median_ms_1m_items" if big else "scale_median_ms"],
            False,
            ".3f",
        )
        if not big:
            add(f"{label}: p99 ms", size["engine"]["p99_ms"], T["scale_p99_ms"], False, ".3f")
    for name, section in results.get("spark", {}).get("datasets", {}).items():
        if isinstance(section, dict) and "ndcg10_difference" in section:
            add(
                f"Spark vs local |ΔNDCG@10| {name}",
                abs(section["ndcg10_difference"]),
                T["spark_ndcg10_difference"],
                False,
                ".4f",
            )
    for key in ("capacity", "understanding"):
        for check, passed in (results.get(key, {}).get("pass") or {}).items():
            rows.append((f"{key} {check}", "-", f"(bench_{key})", "PASS" if passed else "MISS"))
    return rows


def bench_scale() -> dict[str, Any]:
    from tools.bench_scale import run

    return run()


def bench_spark() -> dict[str, Any]:
    from tools.bench_spark import run

    return run()


def bench_capacity() -> dict[str, Any]:
    from tools.bench_capacity import run

    return run()


def bench_chat_load() -> dict[str, Any]:
    from tools.bench_serving import bench_chat_load

    return bench_chat_load()


def bench_stream() -> dict[str, Any]:
    from tools.bench_stream import run

    return run()


def bench_recommend_floor(model_dir: Path) -> dict[str, Any]:
    from tools.bench_serving import bench_recommend_floor

    return bench_recommend_floor(model_dir)


def bench_catalog() -> dict[str, Any]:
    """Seconds from ``make catalog-update`` to a new item served and a withdrawn one gone,
    on the local stack at the default CATALOG_REFRESH_SECONDS (about 2.5 minutes)."""
    from tools.catalog_freshness import measure

    return measure(None)


def bench_understanding(data_dir: str, model_dir: Path) -> dict[str, Any]:
    from tools.bench_understanding import run

    return run(data_dir, model_dir=model_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="var/bench.json")
    parser.add_argument("--data", default=str(ML100K))
    parser.add_argument(
        "--toys", default=str(ROOT.parent / "shared/datasets/amazon-toys/Toys_and_Games.txt")
    )
    parser.add_argument(
        "--only",
        default="quality,engine,http,cold_start,canary,chat,chat_load,stream,recommend_floor,"
        "quality_toys,scale,spark,capacity,understanding,catalog",
        help="comma-separated sections to run",
    )
    args = parser.parse_args()
    sections = set(args.only.split(","))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    model_dir = ML100K_MODEL
    if not Path(args.data, "u.data").exists():
        sys.exit(f"MovieLens 100K not found at {args.data} (pass --data)")
    steps = [
        ("quality", lambda: bench_quality(args.data)),
        ("engine", lambda: bench_engine(train_model(args.data, model_dir), args.data)),
        ("http", lambda: bench_http(train_model(args.data, model_dir))),
        ("cold_start", lambda: bench_cold_start(train_model(args.data, model_dir))),
        ("canary", bench_canary),
        ("chat", lambda: bench_chat(out.parent)),
        ("chat_load", bench_chat_load),
        ("stream", bench_stream),
        ("recommend_floor", lambda: bench_recommend_floor(train_model(args.data, model_dir))),
        ("quality_toys", lambda: bench_quality_toys(args.toys)),
        ("scale", bench_scale),
        ("spark", bench_spark),
        ("capacity", bench_capacity),
        ("catalog", bench_catalog),
        (
            "understanding",
            lambda: bench_understanding(args.data, train_model(args.data, model_dir)),
        ),
    ]
    for name, run in steps:
        if name in sections:
            log(f"running {name}")
            results[name] = run()
            out.write_text(json.dumps(results, indent=2))
    results["summary"] = [
        {"target": n, "value": v, "goal": g, "result": r} for n, v, g, r in summary(results)
    ]
    out.write_text(json.dumps(results, indent=2))
    print(f"\n{'target':<32} {'value':>10} {'goal':>10}  result")
    for n, v, g, r in summary(results):
        print(f"{n:<32} {v:>10} {g:>10}  {r}")
    print(f"\nresults written to {out}")


if __name__ == "__main__":
    main()
