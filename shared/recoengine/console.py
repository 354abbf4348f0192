"""What the command lines (``recoengine.cli`` and its Spark engine) say on the terminal.

Progress bars and the loading line go to stderr, results to stdout; a command that cannot go
on ends with one ``error: ...`` line and exit code 2, never a traceback. Both command lines
share these, so the local and the Spark engine report alike.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from recoengine.data.loaders import load_dataset

if TYPE_CHECKING:
    from recoengine.data.dataset import Dataset
    from recoengine.training import TrainReport

EXIT_DATA_ERROR = 2


def progress(it: Iterable[object], desc: str) -> Iterable[object]:
    """A tqdm bar on stderr over ``it`` (the ``Progress`` callback of training and eval)."""
    from tqdm import tqdm

    items = list(it)
    return tqdm(items, desc=desc, file=sys.stderr, leave=False)


def load(data_dir: str, fmt: str) -> Dataset:
    """Load a data set, saying what is loaded and, once loaded, its size and the time taken."""
    print(f"loading {data_dir} (format {fmt}) ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    data = load_dataset(data_dir, fmt, progress=True)
    print(
        f"loaded {data.name}: {data.n_users:,} users, {data.n_items:,} items, "
        f"{data.n_interactions:,} interactions in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return data


def fail(message: str) -> NoReturn:
    print("error: " + " ".join(message.split()), file=sys.stderr)
    sys.exit(EXIT_DATA_ERROR)


def print_trained(path: Path, report: TrainReport, **extra: Any) -> None:
    """The trained artifact's path, version, tuned weights and validation scores (and any
    ``extra`` fields, such as the engine) as JSON on stdout."""
    manifest = json.loads((path / "manifest.json").read_text())
    summary = {"artifact": str(path), "version": manifest["version"], **extra}
    summary |= {"tuned_weights": report.tuned_weights, "validation": report.validation}
    print(json.dumps(summary, indent=2))


def write_comparison(result: dict[str, Any], out: str, plot_path: str | None = None) -> None:
    """Write the comparison's JSON to ``out`` (and its chart to ``plot_path``), print its table."""
    from recoengine.comparison import format_table
    from recoengine.eval_chart import plot

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(format_table(result))
    engine = "" if result["engine"] == "local" else f" (engine {result['engine']})"
    print(f"results written to {path}{engine}")
    if plot_path:
        plot(result, plot_path)
        print(f"chart written to {plot_path}")
