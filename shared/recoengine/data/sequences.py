"""The sequence format: one line per user, ``user item item ...``, items in time order.

This is the layout sequential-recommendation papers share (e.g. Amazon "Toys and Games" in
S3-Rec and ICLRec). There are no timestamps: an interaction's timestamp is its position in the
line (0, 1, 2, ...), so chronological order is line order. No item features, no user attributes;
items are titled by their ids. Users are indexed in line order, items in order of first
appearance. Read with pyarrow (one text column, split on whitespace): no Python work per line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recoengine.data.dataset import Dataset
from recoengine.data.progress import reading
from recoengine.data.tables import gc_paused, non_utf8_line
from recoengine.errors import DataError


def load_sequences(path: str | Path, progress: bool = False) -> Dataset:
    """Load ``path``: a ``.txt`` file, or a directory holding exactly one."""
    path = Path(path)
    if path.is_dir():
        path = sequence_file(path)
    if not path.is_file():
        raise DataError(str(path), None, "file not found (expected a 'user item item ...' file)")
    lines = _read_lines(path, progress) if path.stat().st_size else pa.array([], pa.string())
    if len(lines) == 0:
        raise DataError(str(path), None, "no lines (expected 'user item item ...' per line)")
    lines = pc.utf8_trim_whitespace(lines)
    empty = np.flatnonzero(pc.equal(pc.utf8_length(lines), 0).to_numpy(zero_copy_only=False))
    if empty.size:
        raise DataError(str(path), int(empty[0]) + 1, "empty line (expected 'user item item ...')")
    tokens = pc.utf8_split_whitespace(lines)
    offsets = tokens.offsets.to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    lonely = np.flatnonzero(lengths < 2)
    if lonely.size:
        line = int(lonely[0])
        user = tokens[line][0].as_py()
        raise DataError(
            str(path), line + 1, f"user {user!r} has no items (expected 'user item ...')"
        )
    flat = tokens.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    starts = offsets[:-1] - offsets[0]
    is_user = np.zeros(len(flat), dtype=bool)
    is_user[starts] = True
    user_ids = flat.take(pa.array(starts))
    _check_unique(path, user_ids)
    encoded = pc.dictionary_encode(flat.filter(pa.array(~is_user)))
    counts = lengths - 1
    n_users = len(counts)
    position = np.arange(int(counts.sum()), dtype=np.float64)
    position -= np.repeat(np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    item_ids = encoded.dictionary.to_pylist()
    with gc_paused():
        no_features: list[list[str]] = [[] for _ in item_ids]
    return Dataset(
        item_ids=item_ids,
        titles=list(item_ids),
        item_features=no_features,
        user_ids=user_ids.to_pylist(),
        user_attrs={},
        users=np.repeat(np.arange(n_users, dtype=np.int32), counts),
        items=encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False),
        timestamps=position,
        weights=np.ones(len(position), dtype=np.float32),
        name=path.stem,
    )


def sequence_file(directory: Path) -> Path:
    """The one ``.txt`` file in ``directory``."""
    found = sorted(p for p in directory.glob("*.txt") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        present = sorted(p.name for p in directory.iterdir())[:8]
        raise DataError(
            str(directory),
            None,
            "expected one .txt file of 'user item item ...' lines, found "
            + (", ".join(present) if present else "an empty directory"),
        )
    names = ", ".join(p.name for p in found[:5])
    raise DataError(
        str(directory),
        None,
        f"expected one .txt file, found {len(found)} ({names}): name one, e.g. DATA={found[0]}",
    )


def _read_lines(path: Path, progress: bool) -> pa.Array:
    from pyarrow import csv as pa_csv

    read_opts = pa_csv.ReadOptions(column_names=["line"], block_size=8 << 20)
    parse = pa_csv.ParseOptions(delimiter="\x1f", quote_char=False, ignore_empty_lines=False)
    convert = pa_csv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False)
    try:
        with reading(path, progress) as fh:
            table = pa_csv.read_csv(
                fh, read_options=read_opts, parse_options=parse, convert_options=convert
            )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        line = non_utf8_line(path) if "utf8" in str(exc).lower() else None
        if line is not None:
            raise DataError(str(path), line, "not UTF-8 text (save the file as UTF-8)") from None
        raise DataError(str(path), None, f"cannot read: {str(exc).splitlines()[0]}") from None
    col = table.column("line")
    return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)


def _check_unique(path: Path, user_ids: pa.Array) -> None:
    encoded = pc.dictionary_encode(user_ids)
    if len(encoded.dictionary) == len(user_ids):
        return
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    repeat = np.ones(len(codes), dtype=bool)
    repeat[first] = False
    line = int(np.flatnonzero(repeat)[0])
    raise DataError(
        str(path),
        line + 1,
        f"user {user_ids[line].as_py()!r} already has a line ({int(first[codes[line]]) + 1}):"
        " expected one line per user",
    )
