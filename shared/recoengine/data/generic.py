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
from recoengine.data.tables import Table, find_table, first_repeat, gc_paused, read_table
from recoengine.data.values import epoch_seconds, weights
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

    inter = read_table(
        inter_path, ("user_id", "item_id", "timestamp"), progress, numeric=("timestamp", "weight")
    )
    if inter.num_rows == 0:
        raise DataError(str(inter_path), None, "no interactions")
    user_codes, user_values = inter.ids("user_id")
    item_codes, item_values = inter.ids("item_id")
    stamps = epoch_seconds(inter, "timestamp")
    strength = weights(inter)

    if catalog is None:
        items = item_codes
        item_ids = item_values.to_pylist()
        titles = list(item_ids)
        with gc_paused():
            features: list[list[str]] = [[] for _ in item_ids]
    else:
        known_items, titles, features = catalog
        position, unknown = _positions(item_values, known_items)
        if unknown.size:
            assert items_path is not None
            row = int(np.flatnonzero(np.isin(item_codes, unknown[:1]))[0])
            raise inter.error(
                row, f"item_id {item_values[int(unknown[0])].as_py()!r} is not in {items_path.name}"
            )
        items = position[item_codes]
        item_ids = known_items.to_pylist()

    if people is None:
        users = user_codes
        user_ids = user_values.to_pylist()
        attrs: dict[str, list[str]] = {}
    else:
        known_users, attrs = people
        position, unknown = _positions(user_values, known_users)
        # Users only in the interactions follow the file's, in order of first appearance
        # (the distinct values are in that order already).
        position[unknown] = len(known_users) + np.arange(unknown.size, dtype=np.int32)
        users = position[user_codes]
        user_ids = known_users.to_pylist() + user_values.take(pa.array(unknown)).to_pylist()
        for values in attrs.values():
            values.extend([""] * unknown.size)

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
    codes, ids = table.ids("item_id")
    check_unique(table, "item_id", codes, ids)
    titles = pc.if_else(pc.equal(table.texts("title"), ""), ids, table.texts("title"))
    return ids, titles.to_pylist(), item_features(table)


def item_features(table: Table) -> list[list[str]]:
    """``|``-separated tokens per item, trimmed, empties dropped, case kept; one string object
    per distinct token (a million items share a small vocabulary)."""
    n = table.num_rows
    if not table.has("features"):
        with gc_paused():
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
    with gc_paused():
        return [shared[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]


def _read_users(path: Path, progress: bool) -> tuple[pa.Array, dict[str, list[str]]]:
    table = read_table(path, ("user_id",), progress)
    codes, ids = table.ids("user_id")
    check_unique(table, "user_id", codes, ids)
    attrs = {name: _shared_texts(table, name) for name in table.column_names if name != "user_id"}
    return ids, attrs


def _shared_texts(table: Table, name: str) -> list[str]:
    """A column as Python strings, one object per distinct value (attributes repeat a lot)."""
    encoded = pc.dictionary_encode(table.texts(name))
    vocab = np.array(encoded.dictionary.to_pylist(), dtype=object)
    shared: list[str] = vocab[encoded.indices.to_numpy(zero_copy_only=False)].tolist()
    return shared


def check_unique(table: Table, name: str, codes: np.ndarray, values: pa.Array) -> None:
    if len(values) == len(codes):
        return  # then the distinct values are the rows, in file order
    row, first = first_repeat(codes)
    err = table.error(first, "")
    where = f"line {err.line}" if err.line is not None else f"row index {first}"
    raise table.error(
        row, f"duplicate {name} {values[int(codes[row])].as_py()!r} (first at {where})"
    )


def _positions(values: pa.Array, known: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each value's position in ``known`` (int32), and which values are not in it."""
    found = pc.index_in(values, value_set=known)
    missing = pc.is_null(found).to_numpy(zero_copy_only=False)
    position = pc.fill_null(found, 0).to_numpy(zero_copy_only=False).astype(np.int32)
    return position, np.flatnonzero(missing)
