"""Command line: ``python -m recoengine.cli train|eval|demo-data`` (behind make train/eval)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from recoengine.data.loaders import FORMATS, load_dataset
from recoengine.errors import DataError


def _progress(it: Iterable[object], desc: str) -> Iterable[object]:
    from tqdm import tqdm

    items = list(it)
    return tqdm(items, desc=desc, file=sys.stderr, leave=False)


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    try:
        return load_dataset(args.data, args.format)
    except DataError as exc:
        sys.exit(f"error: {exc}")


def cmd_train(args: argparse.Namespace) -> None:
    from recoengine.pipeline import train_and_save

    data = _load(args)
    print(
        f"training on {data.name}: {data.n_users} users, {data.n_items} items, "
        f"{data.n_interactions} interactions",
        file=sys.stderr,
    )
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
    from recoengine.evaluation.suite import format_table, plot, run_suite

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

    path = write_generic(generate(seed=args.seed), args.out)
    print(f"demo data (generic format) written to {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="recoengine")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "eval"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True, help="dataset directory")
        p.add_argument("--format", choices=FORMATS, default="generic")
        p.add_argument("--out", required=True)
        if name == "train":
            p.add_argument("--no-tune", action="store_true", help="skip hyper-parameter tuning")
        else:
            p.add_argument("--seed", type=int, default=2024)
            p.add_argument("--plot", default=None, help="write a PNG chart here")
    p = sub.add_parser("demo-data")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    {"train": cmd_train, "eval": cmd_eval, "demo-data": cmd_demo_data}[args.command](args)


if __name__ == "__main__":
    main()
