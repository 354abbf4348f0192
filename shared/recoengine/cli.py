"""Command line: ``python -m recoengine.cli train|eval|demo-data|demo-model`` (behind make
train/eval/demo-data and ``make run``'s first start).

A ``DataError`` (a bad file, a path that holds the wrong thing, data too thin to train on) ends
with one ``error: ...`` line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from recoengine.data.loaders import FORMATS, load_dataset, resolve_format
from recoengine.errors import DataError

if TYPE_CHECKING:
    from recoengine.data.dataset import Dataset

EXIT_DATA_ERROR = 2


def _progress(it: Iterable[object], desc: str) -> Iterable[object]:
    from tqdm import tqdm

    items = list(it)
    return tqdm(items, desc=desc, file=sys.stderr, leave=False)


def _load(args: argparse.Namespace) -> Dataset:
    print(f"loading {args.data} (format {args.format}) ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    data = load_dataset(args.data, args.format, progress=True)
    print(
        f"loaded {data.name}: {data.n_users:,} users, {data.n_items:,} items, "
        f"{data.n_interactions:,} interactions in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return data


def _spark(command: str, args: argparse.Namespace) -> None:
    """Hand the command to the Spark engine (``recoengine.spark.cli``), imported only here."""
    hint = (
        "install the spark extra: "
        ".venv/bin/pip install -c requirements/constraints.txt -e '.[spark]'"
    )
    try:
        spark_cli = importlib.import_module("recoengine.spark.cli")
    except ImportError as exc:
        if (exc.name or "").startswith("recoengine"):
            _fail(f"ENGINE=spark is not available in this checkout ({exc})")
        _fail(f"ENGINE=spark is unavailable ({exc}); {hint}")
    try:
        getattr(spark_cli, command)(args)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("pyspark"):
            raise
        _fail(f"ENGINE=spark is unavailable ({exc}); {hint}")


def cmd_train(args: argparse.Namespace) -> None:
    if args.engine == "spark":
        _spark("train", args)
        return
    from recoengine.pipeline import train_and_save

    data = _load(args)
    path, report = train_and_save(data, args.out, tune=not args.no_tune, progress=_progress)
    manifest = json.loads((path / "manifest.json").read_text())
    print(
        json.dumps(
            {
                "artifact": str(path),
                "version": manifest["version"],
                "tuned_weights": report.tuned_weights,
                "validation": report.validation,
            },
            indent=2,
        )
    )


def cmd_eval(args: argparse.Namespace) -> None:
    if args.engine == "spark":
        _spark("evaluate", args)
        return
    from recoengine.comparison import format_table, plot, run_suite

    data = _load(args)
    result = run_suite(data, seed=args.seed, progress=_progress)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(format_table(result))
    print(f"results written to {out}")
    if args.plot:
        plot(result, args.plot)
        print(f"chart written to {args.plot}")


def cmd_demo_data(args: argparse.Namespace) -> None:
    from recoengine.data.demo import generate, write_generic

    sizes = {"n_users": args.users, "n_items": args.items, "per_user": args.per_user}
    data = generate(**{k: v for k, v in sizes.items() if v is not None}, seed=args.seed)
    path = write_generic(data, args.out, parquet=args.parquet)
    print(
        f"demo data (generic format) written to {path}: {data.n_users:,} users, "
        f"{data.n_items:,} items, {data.n_interactions:,} interactions"
    )


def cmd_demo_model(args: argparse.Namespace) -> None:
    from recoengine.config import settings
    from recoengine.pipeline import train_demo_model

    cfg = settings()
    out = Path(args.out) if args.out else cfg.service.var_dir / "model"
    seed = cfg.recommend.demo_seed if args.seed is None else args.seed
    if (out / "manifest.json").exists() and not args.force:
        print(f"a model is already at {out} (--force trains it again)", file=sys.stderr)
        return
    print(
        f"training the demo model from generated data into {out} (a few seconds, once) ...",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    path = train_demo_model(out, seed=seed)
    print(
        f"demo model written to {path} in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _fail(message: str) -> NoReturn:
    print("error: " + " ".join(message.split()), file=sys.stderr)
    sys.exit(EXIT_DATA_ERROR)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="recoengine")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "eval"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True, help="dataset directory, or a .txt sequence file")
        p.add_argument(
            "--format",
            choices=FORMATS,
            default="auto",
            help="auto (default) detects generic, movielens or sequences",
        )
        p.add_argument("--engine", choices=("local", "spark"), default="local")
        p.add_argument("--out", required=True)
        p.add_argument("--seed", type=int, default=2024)
        p.add_argument("--plot", default=None, help="write a PNG chart here (eval)")
        if name == "train":
            p.add_argument("--no-tune", action="store_true", help="skip hyper-parameter tuning")
    p = sub.add_parser("demo-data", help="write generated data in the generic format")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--users", type=_positive, default=None, help="number of users (300)")
    p.add_argument("--items", type=_positive, default=None, help="number of items (400)")
    p.add_argument("--per-user", type=_positive, default=None, help="interactions per user (40)")
    p.add_argument("--parquet", action="store_true", help="interactions as Parquet, not CSV")
    p = sub.add_parser("demo-model", help="train the demo model (make run does on first start)")
    p.add_argument("--out", default=None, help="where to write it ($VAR_DIR/model)")
    p.add_argument("--seed", type=int, default=None, help="generator seed ($DEMO_SEED, 7)")
    p.add_argument("--force", action="store_true", help="train even if a model is there")
    args = parser.parse_args(argv)
    try:
        if args.command in ("train", "eval"):
            # Spark gets a concrete format too: auto is resolved (and a wrong path reported) here.
            args.format = resolve_format(args.data, args.format)
        commands = {
            "train": cmd_train,
            "eval": cmd_eval,
            "demo-data": cmd_demo_data,
            "demo-model": cmd_demo_model,
        }
        commands[args.command](args)
    except DataError as exc:
        _fail(str(exc))


if __name__ == "__main__":
    main()
