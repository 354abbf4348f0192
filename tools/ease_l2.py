"""EASE's L2 penalty, one value at a time: how the test score of a data set follows it.

Training chooses the penalty on validation (``training.EASE_L2_GRID``); this tool fixes it
instead, so the choice can be checked against the test split. For each penalty (and ``none``:
no EASE at all) it trains exactly as ``make eval`` does (validation tuning of everything else)
on the data minus each user's last interaction, and reports test NDCG@10 of the tuned blend and
of CF alone, with the validation score the choice would have seen. The other graph choices
measured against test the same way can be fixed too: EASE's K and the transitions'
pseudo-count (``GraphParams.transition_smoothing``; several values: one run per pair).

Usage: ``python -m tools.ease_l2 --data DIR [--l2 none 50 150 400] [--ease-neighbours K]
[--transition-smoothing S ...] [--out results.json]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from recoengine import console, training
from recoengine.evaluation.evaluator import Evaluator
from recoengine.evaluation.protocol import leave_last_out
from recoengine.models.item_graphs import GraphParams


def measure(
    penalty: str,
    split: Any,
    ev: Evaluator,
    ease_neighbours: int = 0,
    smoothing: float = GraphParams.transition_smoothing,
) -> dict[str, Any]:
    """Train with ``penalty`` fixed (``none``: without EASE) and score the test split;
    ``ease_neighbours`` fixes EASE's K (0: by catalog size, as training does), ``smoothing``
    the transitions' pseudo-count."""
    base = GraphParams(ease_neighbours=ease_neighbours, transition_smoothing=smoothing)
    if penalty == "none":
        gp = replace(base, ease_max_items=0)
    else:
        gp = replace(base, ease_l2=float(penalty))
    model, report = training.train(split.train, graph_params=gp, ease_l2_grid=())

    def ndcg(weights: tuple[float, float, float]) -> float:
        return float(ev.run(training.blend_scorer(model, split.train, weights)).ndcg10.mean())

    return {
        "l2": penalty,
        "transition_smoothing": smoothing,
        "transitions_max_row_sum": _max_row_sum(model.cf.graphs.transitions),
        "has_ease": model.cf.graphs.ease is not None,
        "chosen_l2": report.graph_params.ease_l2,
        "ease_max_row": _max_row(model.cf.graphs.ease),
        "test_ndcg10_blend_tuned": ndcg(report.tuned_weights),
        "test_ndcg10_cf_only": ndcg((1.0, 0.0, 0.0)),
        "validation_ndcg10_blend_tuned": report.validation.get("blend_tuned", {}).get("ndcg10"),
        "cf_params": report.cf_params,
        "tuned_weights": list(report.tuned_weights),
    }


def _max_row(graph: Any) -> int:
    """The most entries any row of a graph keeps (0 without the graph)."""
    return int(np.diff(graph.indptr).max(initial=0)) if graph is not None else 0


def _max_row_sum(graph: Any) -> float:
    """The largest sum of a row's values (1.0 for a row-normalised graph, less when smoothed)."""
    sums = np.add.reduceat(graph.data, graph.indptr[:-1]) if graph.nnz else np.zeros(1)
    return float(sums[np.diff(graph.indptr) > 0].max(initial=0.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--format", default="auto")
    parser.add_argument("--l2", nargs="+", default=["none", "50", "150", "400"])
    parser.add_argument("--ease-neighbours", type=int, default=0, help="EASE's K (0: by size)")
    parser.add_argument(
        "--transition-smoothing",
        type=float,
        nargs="+",
        default=[GraphParams.transition_smoothing],
        help="the transitions' pseudo-count(s)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    data = console.load(args.data, args.format)
    split = leave_last_out(data)
    ev = Evaluator(split, seed=2024)
    rows = []
    for penalty, smoothing in itertools.product(args.l2, args.transition_smoothing):
        row = measure(penalty, split, ev, args.ease_neighbours, smoothing)
        rows.append(row)
        print(
            f"{data.name} l2={penalty} smoothing={smoothing:g}:"
            f" test NDCG@10 blend {row['test_ndcg10_blend_tuned']:.4f}"
            f" CF {row['test_ndcg10_cf_only']:.4f}"
            f" (validation {row['validation_ndcg10_blend_tuned'] or 0:.4f})",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps({"dataset": data.name, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
