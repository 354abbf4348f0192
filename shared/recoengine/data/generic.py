"""The generic format: a directory of interactions, an optional catalog and optional users.

- ``interactions.csv|.jsonl|.parquet``: ``user_id,item_id,timestamp[,weight]``; timestamp in
  epoch seconds or ISO 8601 (UTC when it names no zone); weight a number >= 0 (default 1).
- ``items.csv|.jsonl|.parquet`` (optional): ``item_id,title[,features]``; features as
  ``|``-separated tokens (genres, tags), kept in their original case. Without it the catalog is
  the items seen in the interactions, titled by their ids, with no features.
- ``users.csv|.jsonl|.parquet`` (optional): ``user_id`` plus any persona attribute columns.

Ids are text, even when they look numeric. Users and items are indexed in their file's order,
then in order of first appearance in the interactions. Everything is columnar (pyarrow + numpy):
no Python work per interaction. Every problem raises ``DataError`` naming the file and the row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recoengine.data.dataset import Dataset
from recoengine.data.tables import (
    Table,
    epoch_seconds,
    find_table,
    first_duplicate,
    read_table,
    weights,
)
from recoengine.errors import DataError


def load_generic(directory: str | Path, progress: bool = False) -> Dataset:
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(str(directory), None, "not a directory")
    inter_path = find_table(directory, "interactions", required=True)
    items_path = find_table(directory, "items", required=False)
    users_path = find_table(directory, "users", required=False)
    assert inter_path is not None

    catalog = _read_items(items_path, progress) if items_path is not None else None
    people = _read_users(users_path, progress) if users_path is not None else None

    inter = read_table(inter_path, ("user_id", "item_id", "timestamp"), progress)
    if inter.num_rows == 0:
        raise DataError(str(inter_path), None, "no interactions")
    user_col = inter.strings("user_id")
    item_col = inter.strings("item_id")
    stamps = epoch_seconds(inter, "timestamp")
    strength = weights(inter)

    if catalog is None:
        items, item_dict = _encode(item_col)
        item_ids = item_dict.to_pylist()
        titles = list(item_ids)
        features: list[list[str]] = [[] for _ in item_ids]
    else:
        known_items, titles, features = catalog
        found = pc.index_in(item_col, value_set=known_items)
        unknown = _first_null(found)
        if unknown is not None:
            assert items_path is not None
            raise inter.error(
                unknown, f"item_id {item_col[unknown].as_py()!r} is not in {items_path.name}"
            )
        items = found.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        item_ids = known_items.to_pylist()

    if people is None:
        users, user_dict = _encode(user_col)
        user_ids = user_dict.to_pylist()
        attrs: dict[str, list[str]] = {}
    else:
        known_users, attrs = people
        users, new_users = _extend(user_col, known_users)
        user_ids = known_users.to_pylist() + new_users
        for values in attrs.values():
            values.extend([""] * len(new_users))

    return Dataset(
        item_ids=item_ids,
        titles=titles,
        item_features=features,
        user_ids=user_ids,
        user_attrs=attrs,
        users=users,
        items=items,
        timestamps=stamps,
        weights=strength,
        name=directory.name,
    )


def _read_items(path: Path, progress: bool) -> tuple[pa.Array, list[str], list[list[str]]]:
    table = read_table(path, ("item_id", "title"), progress)
    if table.num_rows == 0:
        raise DataError(str(path), None, "no items")
    ids = table.strings("item_id")
    dup = first_duplicate(ids)
    if dup is not None:
        row, first = dup
        raise table.error(
            row, f"duplicate item_id {ids[row].as_py()!r} (first at {_where(table, first)})"
        )
    titles = pc.if_else(pc.equal(table.texts("title"), ""), ids, table.texts("title"))
    return ids, titles.to_pylist(), _features(table)


def _features(table: Table) -> list[list[str]]:
    """``|``-separated tokens per item, trimmed, empties dropped, case kept; one string object
    per distinct token (a million items share a small vocabulary)."""
    n = table.num_rows
    if not table.has("features"):
        return [[] for _ in range(n)]
    col = table.column("features")
    lists = col if pa.types.is_list(col.type) else pc.split_pattern(table.texts("features"), "|")
    offsets = lists.offsets.to_numpy()  # a null list spans no tokens
    start, stop = int(offsets[0]), int(offsets[-1])
    tokens = pc.utf8_trim_whitespace(lists.values.slice(start, stop - start).cast(pa.string()))
    keep = pc.not_equal(pc.fill_null(tokens, ""), "").to_numpy(zero_copy_only=False)
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    bounds = kept_before[offsets - offsets[0]]
    encoded = pc.dictionary_encode(tokens.filter(pa.array(keep)))
    vocab = np.array([*encoded.dictionary.to_pylist(), ""], dtype=object)
    shared = vocab[encoded.indices.to_numpy(zero_copy_only=False)].tolist()
    return [shared[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]


def _read_users(path: Path, progress: bool) -> tuple[pa.Array, dict[str, list[str]]]:
    table = read_table(path, ("user_id",), progress)
    ids = table.strings("user_id")
    dup = first_duplicate(ids)
    if dup is not None:
        row, first = dup
        raise table.error(
            row, f"duplicate user_id {ids[row].as_py()!r} (first at {_where(table, first)})"
        )
    attrs = {
        name: table.texts(name).to_pylist()
        for name in table.table.column_names
        if name != "user_id"
    }
    return ids, attrs


def _where(table: Table, row: int) -> str:
    err = table.error(row, "")
    return f"line {err.line}" if err.line is not None else f"row index {row}"


def _encode(values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """int32 codes and the distinct values in order of first appearance."""
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes, encoded.dictionary


def _extend(values: pa.Array, known: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Codes of ``values`` in ``known``; values not in it are appended in order of appearance."""
    found = pc.index_in(values, value_set=known)
    codes = found.to_numpy(zero_copy_only=False)  # float with NaN when nulls are present
    missing = np.isnan(codes) if codes.dtype.kind == "f" else np.zeros(len(codes), dtype=bool)
    out = np.where(missing, 0, codes).astype(np.int32)
    if not missing.any():
        return out, []
    new_codes, new_ids = _encode(values.filter(pa.array(missing)))
    out[missing] = new_codes + len(known)
    return out, new_ids.to_pylist()


def _first_null(values: pa.Array) -> int | None:
    if values.null_count == 0:
        return None
    hits = np.flatnonzero(pc.is_null(values).to_numpy(zero_copy_only=False))
    return int(hits[0])
