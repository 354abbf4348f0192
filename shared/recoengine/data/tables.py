"""One table file (CSV, JSONL or Parquet) read column-wise with pyarrow, and rows named in errors.

The readers are pyarrow's (multi-threaded, no Python object per row). A row that pyarrow cannot
place is named the way a user finds it: the line number for CSV and JSONL (found by a Python scan
of the file, on the error path only), the row index for Parquet.
"""

from __future__ import annotations

import csv
import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recoengine.data.progress import bar, reading
from recoengine.errors import DataError

SUFFIXES = (".csv", ".jsonl", ".parquet")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Build millions of small lists (features per item) without the cyclic GC rescanning them
    all every few thousand allocations (4x faster for 10^6 items); none of them form cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def find_table(directory: Path, stem: str, required: bool) -> Path | None:
    """``stem.csv``, ``stem.jsonl`` or ``stem.parquet`` in ``directory`` (at most one of them)."""
    found = [directory / f"{stem}{s}" for s in SUFFIXES if (directory / f"{stem}{s}").is_file()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(str(directory), None, f"found {names}: keep one {stem} file")
    if found:
        return found[0]
    if required:
        present = sorted(p.name for p in directory.iterdir())[:8]
        raise DataError(
            str(directory / f"{stem}.csv"),
            None,
            f"file not found (expected {stem}.csv, {stem}.jsonl or {stem}.parquet; "
            f"found {', '.join(present) or 'an empty directory'})",
        )
    return None


class Table:
    """A file's columns as pyarrow arrays, and how to name its rows in an error."""

    def __init__(self, path: Path, table: pa.Table) -> None:
        self.path = path
        self.table = table
        self.num_rows = table.num_rows

    @property
    def column_names(self) -> list[str]:
        return list(self.table.column_names)

    def has(self, name: str) -> bool:
        return name in self.table.column_names

    def column(self, name: str) -> pa.Array:
        col = self.table.column(name)
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)

    def error(self, row: int, problem: str) -> DataError:
        """A ``DataError`` naming row ``row`` (0-based, in read order) as the user sees it."""
        if self.path.suffix == ".parquet":
            return DataError(str(self.path), None, f"row index {row}: {problem}")
        return DataError(str(self.path), _line_of_row(self.path, row), problem)

    def ids(self, name: str) -> tuple[np.ndarray, pa.Array]:
        """Column ``name`` as ids: int32 codes into its distinct values, trimmed, in order of
        first appearance, whatever type the reader chose (numbers become their text).

        Encoding first and trimming the distinct values afterwards keeps the string work
        proportional to the distinct ids, not the rows (10^6 users in 10^7 interactions).
        """
        col = self.table.column(name)  # chunked: encoding needs no contiguous copy
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not pa.types.is_string(col.type):  # one id type, so lookups across files match
            col = col.cast(pa.string())
        if col.num_chunks == 0:
            return np.zeros(0, dtype=np.int32), pa.array([], pa.string())
        encoded = pc.dictionary_encode(col)  # every chunk shares the whole dictionary
        indices = [chunk.indices for chunk in encoded.chunks]
        if any(ix.null_count for ix in indices):
            nulls = np.concatenate(
                [pc.is_null(ix).to_numpy(zero_copy_only=False) for ix in indices]
            )
            raise self.error(int(np.flatnonzero(nulls)[0]), f"empty {name}")
        codes = np.concatenate([ix.to_numpy(zero_copy_only=False) for ix in indices])
        codes = codes.astype(np.int32, copy=False)
        raw = encoded.chunk(0).dictionary
        values = pc.utf8_trim_whitespace(raw)
        empty = pc.equal(pc.utf8_length(values), 0).to_numpy(zero_copy_only=False)
        if empty.any():
            raise self.error(int(np.flatnonzero(empty[codes])[0]), f"empty {name}")
        if not pc.all(pc.equal(values, raw)).as_py():  # " a" and "a" are one id
            merged = pc.dictionary_encode(values)
            codes = merged.indices.to_numpy(zero_copy_only=False).astype(np.int32)[codes]
            values = merged.dictionary
        return codes, values

    def texts(self, name: str) -> pa.Array:
        """Column ``name`` as strings, nulls as empty strings (titles, attributes)."""
        if not self.has(name):
            return pa.array([""] * self.num_rows, pa.string())
        col = self.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not pa.types.is_string(col.type):
            col = col.cast(pa.string())
        return pc.utf8_trim_whitespace(pc.fill_null(col, ""))


def read_table(
    path: Path, required: tuple[str, ...], progress: bool = False, numeric: tuple[str, ...] = ()
) -> Table:
    """Read ``path`` with pyarrow, checking ``required`` columns are present.

    CSV columns are read as text, except ``numeric`` ones, tried as numbers first (pyarrow's
    parallel parser is several times faster than parsing text afterwards); when one holds
    anything else (ISO 8601 times, a typo) the file is read again as text, so the value can be
    parsed or named by its line.
    """
    try:
        if path.suffix == ".parquet":
            return Table(path, _read_parquet(path, required, progress))
        if path.suffix == ".jsonl":
            return Table(path, _read_jsonl(path, required, progress))
        if numeric:
            try:
                return Table(path, _read_csv(path, required, progress, numeric))
            except _NotNumeric:
                pass
        return Table(path, _read_csv(path, required, progress))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        if path.suffix != ".parquet" and (
            isinstance(exc, UnicodeDecodeError) or "utf8" in str(exc).lower()
        ):
            line = non_utf8_line(path)
            if line is not None:
                raise DataError(
                    str(path), line, "not UTF-8 text (save the file as UTF-8)"
                ) from None
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(str(path), None, f"cannot read: {problem}") from None


def non_utf8_line(path: Path) -> int | None:
    """The first line that is not valid UTF-8 (error path only)."""
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return line_no
    return None


class _NotNumeric(Exception):
    """A column read as numbers holds something else."""


def _read_csv(
    path: Path, required: tuple[str, ...], progress: bool, numeric: tuple[str, ...] = ()
) -> pa.Table:
    from pyarrow import csv as pa_csv

    with path.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh), [])
    header = [h.strip() for h in header]
    missing = [k for k in required if k not in header]
    if missing:
        raise DataError(
            str(path),
            1,
            f"header lacks column(s) {', '.join(missing)} (expected {', '.join(required)}; "
            f"found {', '.join(header) or 'nothing'})",
        )
    # Everything is read as text: ids stay strings even when they look numeric, and the
    # timestamp/weight columns are parsed below where a bad value can be named by its row.
    read_opts = pa_csv.ReadOptions(column_names=header, skip_rows=1, block_size=8 << 20)
    types = {h: pa.float64() if h in numeric else pa.string() for h in header}
    convert = pa_csv.ConvertOptions(column_types=types)
    try:
        with reading(path, progress) as fh:
            return pa_csv.read_csv(fh, read_options=read_opts, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if numeric and "conversion error" in str(exc).lower():
            raise _NotNumeric from None
        _diagnose_csv(path, len(header))
        raise DataError(str(path), None, str(exc).splitlines()[0]) from None


def _diagnose_csv(path: Path, n_columns: int) -> None:
    """Find the first row with the wrong number of columns (error path only)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for row in reader:
            if row and len(row) != n_columns:
                raise DataError(
                    str(path),
                    reader.line_num,
                    f"wrong number of columns (expected {n_columns}, found {len(row)})",
                )


def _read_jsonl(path: Path, required: tuple[str, ...], progress: bool) -> pa.Table:
    from pyarrow import json as pa_json

    try:
        with reading(path, progress) as fh:
            table = pa_json.read_json(fh, read_options=pa_json.ReadOptions(block_size=8 << 20))
    except pa.ArrowInvalid:
        # Bad JSON (named by line below), or a key whose values mix types (an id written as a
        # number on one line and as a string on another): read line by line, as text.
        table = _read_jsonl_as_text(path)
    for name in table.column_names:
        if pa.types.is_struct(table.column(name).type):
            raise DataError(str(path), None, f"field {name!r} holds objects, expected a value")
    missing = [k for k in required if k not in table.column_names]
    if missing:
        raise DataError(
            str(path),
            None,
            f"no line has field(s) {', '.join(missing)} (expected {', '.join(required)}; "
            f"found {', '.join(table.column_names) or 'nothing'})",
        )
    return table


def _read_jsonl_as_text(path: Path) -> pa.Table:
    columns: dict[str, list[str | None]] = {}
    n = 0
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise DataError(str(path), line_no, f"invalid JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise DataError(str(path), line_no, "expected a JSON object")
            for key, value in obj.items():
                col = columns.setdefault(key, [None] * n)
                col.append(None if value is None else _text(value))
            n += 1
            for col in columns.values():
                if len(col) < n:
                    col.append(None)
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return str(value)


def _read_parquet(path: Path, required: tuple[str, ...], progress: bool) -> pa.Table:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    missing = [k for k in required if k not in names]
    if missing:
        raise DataError(
            str(path),
            None,
            f"schema lacks column(s) {', '.join(missing)} (expected {', '.join(required)}; "
            f"found {', '.join(names) or 'nothing'})",
        )
    if not progress or pf.metadata.num_row_groups < 2:
        return pf.read()
    groups = []
    with bar(pf.metadata.num_rows, f"reading {path.name}", " rows") as rows_read:
        for g in range(pf.metadata.num_row_groups):
            groups.append(pf.read_row_group(g))
            rows_read.update(groups[-1].num_rows)
    return pa.concat_tables(groups)


def _line_of_row(path: Path, row: int) -> int | None:
    """The line number of data row ``row`` (0-based, blank lines skipped as pyarrow does)."""
    with path.open(encoding="utf-8", newline="") as fh:
        if path.suffix == ".jsonl":
            seen = -1
            for line_no, line in enumerate(fh, start=1):
                if line.strip():
                    seen += 1
                    if seen == row:
                        return line_no
            return None
        reader = csv.reader(fh)
        next(reader, None)
        seen = 0
        for record in reader:
            if record:
                if seen == row:
                    return reader.line_num
                seen += 1
    return None


def first_true(mask: pa.Array | np.ndarray) -> int | None:
    arr = mask.to_numpy(zero_copy_only=False) if not isinstance(mask, np.ndarray) else mask
    hits = np.flatnonzero(arr)
    return int(hits[0]) if hits.size else None


def first_repeat(codes: np.ndarray) -> tuple[int, int]:
    """(row, first row) of the first code seen before (codes are 0..k-1, some repeated)."""
    _, first = np.unique(codes, return_index=True)  # first[c] is code c's first row
    repeat = np.ones(len(codes), dtype=bool)
    repeat[first] = False
    row = int(np.flatnonzero(repeat)[0])
    return row, int(first[codes[row]])
