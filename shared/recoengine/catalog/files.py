"""An items file for a catalog update: the formats ``make train`` reads, plus ``available``.

``item_id[,title][,features][,available]`` as CSV (with a header), JSONL or Parquet, read with
the training loaders' code, so a file that trains also updates. ``available`` is
``true``/``false`` (also ``1``/``0``, ``yes``/``no``; empty means true): ``false`` withdraws the
item. An empty title or features cell keeps what the catalog has. Every problem is one
``DataError`` line naming the file and the row (line for CSV/JSONL, row index for Parquet).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.compute as pc

from recoengine.catalog.update import ItemChange, UpdateError
from recoengine.data.generic import check_unique, item_features
from recoengine.data.tables import SUFFIXES, read_table
from recoengine.errors import DataError

_TRUE = {"", "true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
MAX_TOKEN = 200  # characters in one feature token or title: a bigger one is a broken file


def read_items(
    path: str | Path, check: Callable[[ItemChange], None] | None = None
) -> list[ItemChange]:
    """The file's rows as changes; ``check`` (the publisher's test against the model) raises
    ``UpdateError`` for a row, reported with that row's line."""
    path = Path(path)
    if path.suffix not in SUFFIXES or not path.is_file():
        raise DataError(str(path), None, f"expected an items file ({', '.join(SUFFIXES)})")
    table = read_table(path, ("item_id",))
    if table.num_rows == 0:
        raise DataError(str(path), None, "no items")
    codes, ids = table.ids("item_id")
    check_unique(table, "item_id", codes, ids)
    titles = table.texts("title").to_pylist()
    features = item_features(table) if table.has("features") else [[] for _ in titles]
    available = [True] * table.num_rows
    if table.has("available"):
        flags = pc.utf8_lower(table.texts("available")).to_pylist()
        for row, flag in enumerate(flags):
            if flag not in _TRUE and flag not in _FALSE:
                raise table.error(row, f"available must be true or false, found {flag!r}")
            available[row] = flag in _TRUE
    for row, (title, tokens) in enumerate(zip(titles, features, strict=True)):
        long = [t for t in (title, *tokens) if len(t) > MAX_TOKEN]
        if long:
            raise table.error(row, f"value longer than {MAX_TOKEN} characters: {long[0][:40]!r}...")
    item_ids = ids.to_pylist()
    rows = []
    for row in range(table.num_rows):
        change = ItemChange(
            item_ids[int(codes[row])],
            titles[row] or None,
            tuple(features[row]) or None,
            available[row],
        )
        if check is not None:
            try:
                check(change)
            except UpdateError as exc:
                raise table.error(row, str(exc)) from None
        rows.append(change)
    return rows
