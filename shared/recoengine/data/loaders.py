"""One entry point for every input format: ``load_dataset(path, fmt)``.

- ``generic`` (``data/generic.py``): interactions, optional items and users, as CSV, JSONL or
  Parquet, read column-wise with pyarrow;
- ``movielens`` (``data/movielens.py``): the MovieLens 100K layout, the team's benchmark;
- ``sequences`` (``data/sequences.py``): one ``user item item ...`` line per user;
- ``auto`` (the default, ``data/detect.py``): whichever of these the path holds.

Every problem raises ``DataError`` naming the file and the line (or Parquet row index), or, for
a path that holds the wrong thing, what was expected and what was found.
"""

from __future__ import annotations

from pathlib import Path

from recoengine.data.dataset import Dataset
from recoengine.data.detect import FORMATS, detect_format, resolve_format
from recoengine.data.generic import load_generic
from recoengine.data.movielens import load_movielens
from recoengine.data.sequences import load_sequences

__all__ = [
    "FORMATS",
    "detect_format",
    "load_dataset",
    "load_generic",
    "load_movielens",
    "load_sequences",
    "resolve_format",
]


def load_dataset(path: str | Path, fmt: str = "auto", progress: bool = False) -> Dataset:
    """Load ``path`` in format ``fmt``; ``progress`` shows a bar on stderr for large files."""
    resolved = resolve_format(path, fmt)
    if resolved == "generic":
        return load_generic(path, progress)
    if resolved == "movielens":
        return load_movielens(path, progress)
    return load_sequences(path, progress)
