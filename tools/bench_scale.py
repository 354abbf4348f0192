"""The catalog-scale benchmark: generated data at real-catalog size, through the real commands.

For each size (by default >= 200,000 items, >= 1,000,000 users, >= 10,000,000 interactions, and a
1,000,000-item catalog), it generates the data set (``recoengine.cli demo-data``, Parquet), runs
``python -m recoengine.cli train`` exactly as ``make train`` does, and measures:

- train wall time and the trainer's peak memory (its process's maximum resident set);
- the artifact's size on disk;
- cold start: a new process from start to its first recommendation on that artifact;
- engine latency of top-10 requests for known users (cache off): median and p99.

Usage: ``python -m tools.bench_scale [--sizes 1000000x200000x10,1000000x1000000x10] [--out f]``
(users x items x interactions per user). Generated data and models go to ``var/bench-scale``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.benchkit import ROOT, known_user_timings, logger
from tools.benchkit import TARGETS as ALL_TARGETS

DEFAULT_SIZES = "1000000x200000x10,1000000x1000000x10"
TARGETS = {k.removeprefix("scale_"): v for k, v in ALL_TARGETS.items() if k.startswith("scale_")}
log = logger("bench-scale")


def _run(args: list[str]) -> tuple[float, float]:
    """Run a child Python process; (wall seconds, its peak RSS in GB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any child so far: report it only when it grew.
    return wall, max(peak_kb, before) / 1024**2


def _size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


_COLD = """
import sys, time
t0 = time.perf_counter()
from recoengine.artifact import load
from recoengine.models.blend import DEFAULT_WEIGHTS
from recoengine.serving import RecommenderService
svc = RecommenderService(load(sys.argv[1]), DEFAULT_WEIGHTS)
svc.recommend(svc.catalog.user_ids[0], 10)
print(time.perf_counter() - t0)
"""


def cold_start(model: Path) -> float:
    """Seconds from a new interpreter's first statement to its first recommendation (the
    interpreter's own start, ~20 ms, comes on top, as on Cloud Run)."""
    out = subprocess.run(
        [sys.executable, "-c", _COLD, str(model)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def engine_latency(model: Path, n: int = 5000) -> dict[str, float]:
    from recoengine.artifact import load
    from recoengine.models.blend import DEFAULT_WEIGHTS
    from recoengine.serving import RecommenderService
    from tools.latency import summary_of_seconds

    svc = RecommenderService(load(str(model)), DEFAULT_WEIGHTS)
    return summary_of_seconds(known_user_timings(svc, np.random.default_rng(0), n))


def bench_size(users: int, items: int, per_user: int, work: Path, tune: bool) -> dict[str, Any]:
    name = f"{users}x{items}x{per_user}"
    data, model = work / f"data-{name}", work / f"model-{name}"
    if not (data / "interactions.parquet").exists():
        log(f"generating {name}")
        sizes = ["--users", str(users), "--items", str(items), "--per-user", str(per_user)]
        _run(["-m", "recoengine.cli", "demo-data", "--out", str(data), *sizes, "--parquet"])
    log(f"training {name} (tune={tune})")
    train_args = ["-m", "recoengine.cli", "train", "--data", str(data), "--out", str(model)]
    # --force: a rerun measures training again over the model an earlier run left.
    wall, peak_gb = _run([*train_args, "--force", *([] if tune else ["--no-tune"])])
    manifest = json.loads((model / "manifest.json").read_text())
    result: dict[str, Any] = {
        "users": manifest["n_users"],
        "items": manifest["n_items"],
        "interactions_per_user": per_user,
        "tuned": tune,
        "train_minutes": wall / 60,
        "train_peak_gb": peak_gb,
        "artifact_gb": _size_bytes(model) / 1024**3,
        "cold_start_s": cold_start(model),
        "engine": engine_latency(model),
    }
    log(json.dumps(result))
    return result


def run(sizes: str = DEFAULT_SIZES, work: Path | None = None, tune: bool = True) -> dict[str, Any]:
    work = work or ROOT / "var" / "bench-scale"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in sizes.split(","):
        users, items, per_user = (int(x) for x in size.split("x"))
        results.append(bench_size(users, items, per_user, work, tune))
    return {"sizes": results, "targets": TARGETS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--no-tune", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench-scale.json"))
    args = parser.parse_args()
    result = run(args.sizes, tune=not args.no_tune)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
