"""Command line: ``python -m recoengine.cli train|eval|demo-data|demo-model|catalog-update``
(behind make train/eval/demo-data/catalog-update and ``make run``'s first start).

A ``DataError`` (a bad file, a path that holds the wrong thing, an output folder that cannot be
written, data too thin to train on) or a ``ConfigError`` (a bad setting) ends with one
``error: ...`` line on stderr and exit code 2, never a traceback. Output folders are created, or
refused, before any data is read (``recoengine.outputs``).

``train`` without ``--out`` writes a new versioned folder under ``$VAR_DIR/models`` and says how
to serve it; it never replaces the model ``make run`` serves (``$VAR_DIR/model``). An explicit
``--out`` that already holds a model is refused unless ``--force`` (``make train FORCE=1``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from recoengine import console, eval_chart, outputs
from recoengine.data.loaders import FORMATS, resolve_format
from recoengine.errors import ConfigError, DataError

if TYPE_CHECKING:
    from recoengine.data.dataset import Dataset


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


def _train_out(args: argparse.Namespace) -> tuple[Path, str | None]:
    """Where ``train`` writes, and the version of the model it replaces there (if any).

    Without ``--out``: a new folder under ``$VAR_DIR/models``. With one that holds a model:
    refused unless ``--force`` (a platform engineer expects a retrain not to overwrite a model
    silently, least of all the one being served)."""
    if args.out is None:
        from recoengine.config import settings

        return outputs.new_model_dir(settings().service.var_dir / "models"), None
    out = outputs.writable_dir(args.out)
    replaced = outputs.model_version(out)
    if replaced is None and any(out.iterdir()):  # saving swaps the whole folder
        raise DataError(str(out), None, "holds files but no model; choose a new or empty folder")
    if replaced is not None and not args.force:
        raise DataError(
            str(out),
            None,
            f"already holds model {replaced}; FORCE=1 (--force) replaces it, or choose another OUT",
        )
    return out, replaced


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def cmd_train(args: argparse.Namespace) -> None:
    created = args.out is None or not Path(args.out).exists()
    out, replaced = _train_out(args)
    args.out = str(out)
    try:
        _train(args)
    except BaseException:
        if created:  # a failed run leaves no empty folder of its own behind
            _remove_if_empty(out)
        raise
    version = outputs.model_version(out)
    if replaced is not None:
        print(f"replaced model {replaced} at {out} with {version}", file=sys.stderr)
    print(f"serve it with: MODEL_URI={out} make run", file=sys.stderr)


def _train(args: argparse.Namespace) -> None:
    if args.engine == "spark":
        if args.catalog_updates:
            _fail("--catalog-updates is not supported with ENGINE=spark yet; train locally")
        _spark("train", args)
        return
    from recoengine.pipeline import train_and_save

    data = _with_catalog_updates(console.load(args.data, args.format), args.catalog_updates)
    path, report = train_and_save(data, args.out, tune=not args.no_tune, progress=console.progress)
    console.print_trained(path, report)


def _with_catalog_updates(data: Dataset, model_uri: str | None) -> Dataset:
    """``data`` with the catalog updates published beside ``model_uri`` absorbed (new items in,
    withdrawn ones out: ``recoengine.catalog.absorb``)."""
    if not model_uri:
        return data
    from recoengine.catalog.absorb import absorb, read_published
    from recoengine.catalog.update import UpdateError

    try:
        update = read_published(model_uri)
    except UpdateError as exc:
        raise DataError(model_uri, None, f"catalog updates unreadable: {exc}") from None
    if update is None:
        print(f"no catalog updates published at {model_uri}", file=sys.stderr)
        return data
    absorbed = absorb(data, update)
    print(
        f"absorbed catalog update {update.version}: {len(update.changes)} items changed "
        f"({len(update.withdrawn)} withdrawn); {absorbed.n_items:,} items",
        file=sys.stderr,
    )
    return absorbed


def cmd_catalog_update(args: argparse.Namespace) -> None:
    """Validate ``--items`` against the model at ``--model-uri`` and publish it beside it."""
    from recoengine.catalog import store
    from recoengine.catalog.update import UpdateError
    from recoengine.config import settings

    cfg = settings().recommend
    if args.model_uri is None:
        args.model_uri = cfg.model_uri
    try:
        update = store.publish(args.model_uri, args.items)
    except UpdateError as exc:
        _fail(str(exc))
    print(
        f"published catalog update {update.version} beside model {update.model_version} at "
        f"{args.model_uri}: {len(update.changes)} items changed since training "
        f"({len(update.withdrawn)} withdrawn); running instances apply it within "
        f"CATALOG_REFRESH_SECONDS ({cfg.catalog_refresh_seconds:g} s)"
    )


def cmd_eval(args: argparse.Namespace) -> None:
    outputs.writable_file(args.out)
    if args.plot:  # refused now, not after the whole run
        eval_chart.check_writable(args.plot)
    if args.engine == "spark":
        _spark("evaluate", args)
        return
    from recoengine.comparison import run_suite

    data = console.load(args.data, args.format)
    result = run_suite(data, seed=args.seed, progress=console.progress)
    if not args.no_cold_items:
        from recoengine.catalog import cold

        print("cold items: training without the newest items ...", file=sys.stderr, flush=True)
        result["cold_items"] = cold.evaluate(data)
    console.write_comparison(result, args.out, args.plot)
    cold_items = result.get("cold_items") or {}
    if "hr@10" in cold_items:
        print(
            f"cold items ({cold_items['new_items']} newest, added by a catalog update): "
            f"HR@10 {cold_items['hr@10']:.4f} vs random {cold_items['random_hr@10']:.4f} "
            f"({cold_items['lift_over_random']}x) over {cold_items['users']} users"
        )
    elif cold_items:
        print(f"cold items: skipped ({cold_items['skipped']})")


def cmd_demo_data(args: argparse.Namespace) -> None:
    from recoengine.data.demo import generate, write_generic

    outputs.writable_dir(args.out)
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
    console.fail(message)


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
        p.add_argument("--seed", type=int, default=2024)
        p.add_argument("--plot", default=None, help="write a PNG chart here (eval)")
        if name == "train":
            p.add_argument(
                "--out", default=None, help="model folder ($VAR_DIR/models/<UTC time> if unset)"
            )
            p.add_argument("--force", action="store_true", help="replace a model at --out")
            p.add_argument("--no-tune", action="store_true", help="skip hyper-parameter tuning")
            p.add_argument(
                "--catalog-updates",
                default=None,
                metavar="MODEL_URI",
                help="absorb the catalog updates published beside this model",
            )
        else:
            p.add_argument("--out", required=True, help="results file (JSON)")
            p.add_argument(
                "--no-cold-items", action="store_true", help="skip the cold-item evaluation"
            )
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
    p = sub.add_parser("catalog-update", help="publish an items file beside a served model")
    p.add_argument("--items", required=True, help="items file: item_id,title,features[,available]")
    p.add_argument("--model-uri", default=None, help="model folder or gs:// URI ($MODEL_URI)")
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
            "catalog-update": cmd_catalog_update,
        }
        commands[args.command](args)
    except (DataError, ConfigError) as exc:
        _fail(str(exc))


if __name__ == "__main__":
    main()
