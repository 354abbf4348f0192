"""``make train|eval ENGINE=spark``: the local command line's train and eval with the item
graphs fitted by Spark in a local session (``recoengine.cli`` hands its parsed arguments here).

Everything else (loading, training after the graphs, the artifact, the report) is the local
command line's own code; the artifact's manifest and the eval JSON record ``"engine": "spark"``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from recoengine import cli as local_cli
from recoengine.spark.graphs import SparkGraphFitter
from recoengine.spark.session import SparkUnavailable, local_session


def _fitter() -> SparkGraphFitter:
    try:
        start = time.perf_counter()
        spark = local_session()
    except SparkUnavailable as exc:
        local_cli._fail(f"ENGINE=spark: {exc}")
    print(
        f"spark {spark.version} local session ({spark.sparkContext.master}) "
        f"in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return SparkGraphFitter(spark)


def train(args: argparse.Namespace) -> None:
    from recoengine.pipeline import train_and_save

    data = local_cli._load(args)
    with _fitter() as fitter:
        start = time.perf_counter()
        path, report = train_and_save(
            data,
            args.out,
            tune=not getattr(args, "no_tune", False),
            progress=local_cli._progress,
            graph_fitter=fitter,
            engine="spark",
        )
    manifest = json.loads((path / "manifest.json").read_text())
    print(
        json.dumps(
            {
                "artifact": str(path),
                "version": manifest["version"],
                "engine": manifest.get("engine"),
                "seconds": round(time.perf_counter() - start, 1),
                "tuned_weights": report.tuned_weights,
                "validation": report.validation,
            },
            indent=2,
        )
    )


def evaluate(args: argparse.Namespace) -> None:
    from recoengine.evaluation.suite import format_table, plot, run_suite

    data = local_cli._load(args)
    with _fitter() as fitter:
        result = run_suite(
            data,
            seed=getattr(args, "seed", 2024),
            progress=local_cli._progress,
            graph_fitter=fitter,
            engine="spark",
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(format_table(result))
    print(f"results written to {out} (engine spark)")
    plot_path = getattr(args, "plot", None)
    if plot_path:
        plot(result, plot_path)
        print(f"chart written to {plot_path}")
