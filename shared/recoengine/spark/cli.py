"""``make train|eval ENGINE=spark``: the local command line's train and eval with the item
graphs fitted by Spark in a local session (``recoengine.cli`` hands its parsed arguments here).

Everything else (loading, training after the graphs, the artifact, the report) is the local
command line's own code; the artifact's manifest and the eval JSON record ``"engine": "spark"``.
"""

from __future__ import annotations

import argparse
import sys
import time

from recoengine import console
from recoengine.spark.graphs import SparkGraphFitter
from recoengine.spark.session import SparkUnavailable, local_session


def _fitter() -> SparkGraphFitter:
    try:
        start = time.perf_counter()
        spark = local_session()
    except SparkUnavailable as exc:
        console.fail(f"ENGINE=spark: {exc}")
    print(
        f"spark {spark.version} local session ({spark.sparkContext.master}) "
        f"in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return SparkGraphFitter(spark)


def train(args: argparse.Namespace) -> None:
    from recoengine.pipeline import train_and_save

    data = console.load(args.data, args.format)
    with _fitter() as fitter:
        start = time.perf_counter()
        path, report = train_and_save(
            data,
            args.out,
            tune=not getattr(args, "no_tune", False),
            progress=console.progress,
            graph_fitter=fitter,
            engine="spark",
        )
    seconds = round(time.perf_counter() - start, 1)
    console.print_trained(path, report, engine="spark", seconds=seconds)


def evaluate(args: argparse.Namespace) -> None:
    from recoengine.comparison import run_suite

    data = console.load(args.data, args.format)
    with _fitter() as fitter:
        result = run_suite(
            data,
            seed=getattr(args, "seed", 2024),
            progress=console.progress,
            graph_fitter=fitter,
            engine="spark",
        )
    console.write_comparison(result, args.out, getattr(args, "plot", None))
