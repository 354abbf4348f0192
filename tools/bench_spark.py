"""The Spark trainer against the local one: same quality, and Spark's time at scale.

    .venv/bin/python -m tools.bench_spark [--out var/bench_spark.json] [--scale-users 1000000]

- **quality**: on ML-100K and Amazon Toys, the team's protocol (leave-last-out, full ranking)
  with the blend trained twice on the same split, the item graphs fitted by the local trainer
  and by Spark (local session). Target: NDCG@10 within 0.002. The graphs themselves are
  compared too (rows, columns, largest value difference).
- **scale**: the Spark fitter's wall time on a generated set of about 10M interactions
  (``recoengine.data.demo.generate``), on this machine's local session (not a target: Spark
  here shares two cores with everything else; on Dataproc the same job spreads over executors).

Compare times within one run only (this machine's speed drifts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
DATASETS = {
    "ml-100k": (str(SHARED / "ml-100k"), "movielens"),
    "amazon-toys": (str(SHARED / "amazon-toys" / "Toys_and_Games.txt"), "sequences"),
}
TARGET = 0.002


def _cpu_seconds(spark: Any) -> float:
    """CPU time of the local Spark JVM plus this Python process: on a shared machine wall time
    measures the neighbours too, CPU time measures the work."""
    import os

    total = time.process_time()
    try:
        pid = spark.sparkContext._gateway.proc.pid
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, IndexError, ValueError):
        return float("nan")
    return total


def _graphs_diff(a: Any, b: Any) -> dict[str, Any]:
    """How two graphs (SparseRows) differ: the rows' sizes, the columns, the values."""
    if a is None or b is None:
        return {"both_absent": a is None and b is None}
    same_rows = bool(np.array_equal(a.indptr, b.indptr))
    out: dict[str, Any] = {"nnz": [int(a.nnz), int(b.nnz)], "same_row_sizes": same_rows}
    if same_rows:
        out["same_columns_fraction"] = float(np.mean(a.indices == b.indices)) if a.nnz else 1.0
        out["max_abs_value_diff"] = float(np.max(np.abs(a.data - b.data))) if a.nnz else 0.0
    return out


def quality(name: str, path: str, fmt: str, fitter: Any, seed: int = 2024) -> dict[str, Any]:
    from recoengine import training
    from recoengine.data.loaders import load_dataset
    from recoengine.evaluation.evaluator import Evaluator
    from recoengine.evaluation.protocol import leave_last_out
    from recoengine.models.blend import DEFAULT_WEIGHTS
    from recoengine.models.history import histories
    from recoengine.models.item_graphs import GraphParams, fit_graphs

    data = load_dataset(path, fmt)
    split = leave_last_out(data)
    ev = Evaluator(split, seed=seed)
    row: dict[str, Any] = {
        "users": data.n_users,
        "items": data.n_items,
        "interactions": data.n_interactions,
    }
    for engine, graph_fitter in (("local", fit_graphs), ("spark", fitter)):
        start = time.perf_counter()
        model, report = training.train(split.train, tune=True, graph_fitter=graph_fitter)
        seconds = time.perf_counter() - start
        row[engine] = {
            "ndcg10_default": ev.run(
                training.blend_scorer(model, split.train, DEFAULT_WEIGHTS)
            ).summary()["ndcg10"],
            "ndcg10_tuned": ev.run(
                training.blend_scorer(model, split.train, report.tuned_weights)
            ).summary()["ndcg10"],
            "validation_ndcg10": report.validation.get("blend_tuned", {}).get("ndcg10"),
            "cf_params": report.cf_params,
            "train_seconds": round(seconds, 1),
        }
        print(f"  {name} {engine}: {row[engine]}", file=sys.stderr, flush=True)
    for key in ("ndcg10_default", "ndcg10_tuned"):
        row[f"{key}_abs_diff"] = abs(row["spark"][key] - row["local"][key])
    row["within_target"] = max(row["ndcg10_default_abs_diff"], row["ndcg10_tuned_abs_diff"]) <= (
        TARGET
    )
    # The graphs of the full training set, fitted both ways (and each fit's time).
    # A fresh fitter: the one above has the co-occurrence of these histories cached.
    from recoengine.spark.graphs import SparkGraphFitter

    hist, params = histories(split.train), GraphParams()
    start = time.perf_counter()
    local = fit_graphs(hist, data.n_items, params)
    local_s = time.perf_counter() - start
    with SparkGraphFitter(fitter.spark) as fresh:
        start = time.perf_counter()
        spark = fresh(hist, data.n_items, params)
        spark_s = time.perf_counter() - start
    row["graphs"] = {
        name: _graphs_diff(getattr(spark, name), getattr(local, name))
        for name in ("cooccurrence", "transitions", "ease")
    }
    row["graph_fit_seconds"] = {"local": round(local_s, 1), "spark": round(spark_s, 1)}
    return row


def scale(
    fitter: Any, n_users: int, n_items: int, per_user: int, with_local: bool = False
) -> dict[str, Any]:
    from recoengine.data.demo import generate
    from recoengine.models.history import histories
    from recoengine.models.item_graphs import GraphParams, fit_graphs

    start = time.perf_counter()
    data = generate(n_users=n_users, n_items=n_items, per_user=per_user, seed=7)
    hist = histories(data)
    lengths = np.diff(hist.indptr)
    row: dict[str, Any] = {
        "users": data.n_users,
        "items": data.n_items,
        "interactions": data.n_interactions,
        "cooccurrence_pairs": int(np.sum(np.minimum(lengths, GraphParams().max_user_items) ** 2)),
        "generate_seconds": round(time.perf_counter() - start, 1),
    }
    del data
    print(f"  scale: {row}", file=sys.stderr, flush=True)
    params = GraphParams()
    start, cpu = time.perf_counter(), _cpu_seconds(fitter.spark)
    graphs = fitter(hist, n_items, params)
    row["spark_seconds"] = round(time.perf_counter() - start, 1)
    row["spark_cpu_seconds"] = round(_cpu_seconds(fitter.spark) - cpu, 1)
    row["nnz"] = {"cooccurrence": graphs.cooccurrence.nnz, "transitions": graphs.transitions.nnz}
    row["ease"] = graphs.ease is not None
    print(f"  scale: spark {row['spark_seconds']} s", file=sys.stderr, flush=True)
    if with_local:
        start = time.perf_counter()
        fit_graphs(hist, n_items, params)
        row["local_seconds"] = round(time.perf_counter() - start, 1)
    return row


def run(
    datasets: tuple[str, ...] = tuple(DATASETS),
    scale_users: int = 1_000_000,
    scale_items: int = 100_000,
    scale_per_user: int = 10,
    with_local: bool = False,
    driver_memory: str = "4g",
) -> dict[str, Any]:
    from recoengine.spark.graphs import SparkGraphFitter
    from recoengine.spark.session import local_session

    start = time.perf_counter()
    spark = local_session(cores=2, shuffle_partitions=8, driver_memory=driver_memory)
    result: dict[str, Any] = {
        "spark": spark.version,
        "master": spark.sparkContext.master,
        "session_seconds": round(time.perf_counter() - start, 1),
        "load_average_at_start": list(os.getloadavg()),
        "target_ndcg10_abs_diff": TARGET,
        "quality": {},
        "datasets": {},  # the summary tools/bench.py reads
    }
    with SparkGraphFitter(spark) as fitter:
        for name in datasets:
            path, fmt = DATASETS[name]
            print(f"quality on {name} ...", file=sys.stderr, flush=True)
            row = result["quality"][name] = quality(name, path, fmt, fitter)
            # The served model uses the tuned weights: its difference is the headline.
            result["datasets"][name] = {
                "ndcg10_local": row["local"]["ndcg10_tuned"],
                "ndcg10_spark": row["spark"]["ndcg10_tuned"],
                "ndcg10_difference": row["spark"]["ndcg10_tuned"] - row["local"]["ndcg10_tuned"],
            }
        if scale_users:
            print("scale ...", file=sys.stderr, flush=True)
            result["scale"] = scale(fitter, scale_users, scale_items, scale_per_user, with_local)
    result["load_average_at_end"] = list(os.getloadavg())
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"Spark {result['spark']} ({result['master']}) vs local trainer; target |ΔNDCG@10| <= "
        f"{result['target_ndcg10_abs_diff']}",
        f"{'dataset':<12} {'local':>8} {'spark':>8} {'|Δ|':>9} {'local t':>8} {'spark t':>8}"
        "  (NDCG@10, blend default / tuned; training seconds)",
    ]
    for name, row in result["quality"].items():
        for key in ("ndcg10_default", "ndcg10_tuned"):
            lines.append(
                f"{name + ' ' + key[7:]:<12} {row['local'][key]:>8.4f} {row['spark'][key]:>8.4f} "
                f"{row[key + '_abs_diff']:>9.2e} {row['local']['train_seconds']:>8.1f} "
                f"{row['spark']['train_seconds']:>8.1f}"
            )
    if "scale" in result:
        s = result["scale"]
        lines.append(
            f"scale: {s['interactions']:,} interactions, {s['users']:,} users, {s['items']:,} "
            f"items: Spark graphs in {s['spark_seconds']} s"
            + f" ({s['spark_cpu_seconds']} CPU s)"
            + (f" (local {s['local_seconds']} s)" if "local_seconds" in s else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="var/bench_spark.json")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--scale-users", type=int, default=1_000_000, help="0 skips the scale run")
    parser.add_argument("--scale-items", type=int, default=100_000)
    parser.add_argument("--scale-per-user", type=int, default=10)
    parser.add_argument("--with-local", action="store_true", help="time fit_graphs at scale too")
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args(argv)
    result = run(
        tuple(args.datasets),
        args.scale_users,
        args.scale_items,
        args.scale_per_user,
        args.with_local,
        args.driver_memory,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(format_table(result))
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
