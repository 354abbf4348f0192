"""The generic format read column-wise: CSV, JSONL and Parquet load the same, and a bad row is
named by file and line (CSV/JSONL) or row index (Parquet)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recoengine.data.loaders import load_dataset, load_generic
from recoengine.errors import DataError

ITEMS = [
    {"item_id": "a", "title": "Alpha", "features": "Sci-Fi|Comedy"},
    {"item_id": "b", "title": "Beta", "features": " comedy | |Dark"},
    {"item_id": "c", "title": "", "features": ""},
]
USERS = [
    {"user_id": "u1", "age_band": "18-24", "segment": "student"},
    {"user_id": "u2", "age_band": "25-34", "segment": "parent"},
]
INTERACTIONS = [
    {"user_id": "u1", "item_id": "a", "timestamp": "100", "weight": "1"},
    {"user_id": "u1", "item_id": "b", "timestamp": "2024-01-01T00:00:00Z", "weight": "2.5"},
    {"user_id": "u3", "item_id": "c", "timestamp": "50", "weight": ""},
    {"user_id": "u2", "item_id": "a", "timestamp": "60", "weight": "1"},
]
SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}


def write_table(path: Path, rows: list[dict[str, Any]], kind: str) -> None:
    if kind == "csv":
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)


def write_dir(
    root: Path,
    kind: str,
    interactions: list[dict[str, Any]] = INTERACTIONS,
    items: list[dict[str, Any]] | None = ITEMS,
    users: list[dict[str, Any]] | None = USERS,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_table(root / f"interactions{SUFFIX[kind]}", interactions, kind)
    if items is not None:
        write_table(root / f"items{SUFFIX[kind]}", items, kind)
    if users is not None:
        write_table(root / f"users{SUFFIX[kind]}", users, kind)
    return root


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_each_container_loads_the_same_dataset(tmp_path: Path, kind: str) -> None:
    d = load_dataset(write_dir(tmp_path / kind, kind), "generic")
    assert d.item_ids == ["a", "b", "c"]
    assert d.titles == ["Alpha", "Beta", "c"]  # an empty title falls back to the id
    assert d.item_features == [["Sci-Fi", "Comedy"], ["comedy", "Dark"], []]  # case kept
    assert d.user_ids == ["u1", "u2", "u3"]  # u3 appears only in interactions, after the file
    assert d.user_attrs == {
        "age_band": ["18-24", "25-34", ""],
        "segment": ["student", "parent", ""],
    }
    assert d.users.tolist() == [0, 0, 2, 1] and d.items.tolist() == [0, 1, 2, 0]
    assert d.weights.tolist() == [1.0, 2.5, 1.0, 1.0]
    assert d.timestamps.tolist() == [100.0, 1704067200.0, 50.0, 60.0]
    assert (d.users.dtype, d.items.dtype, d.timestamps.dtype, d.weights.dtype) == (
        np.int32,
        np.int32,
        np.float64,
        np.float32,
    )
    reference = load_dataset(write_dir(tmp_path / "ref", "csv"), "auto")
    assert d.fingerprint() == reference.fingerprint()


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_without_an_items_file_the_catalog_is_what_interactions_name(
    tmp_path: Path, kind: str
) -> None:
    rows = [
        {"user_id": "7", "item_id": "0042", "timestamp": "3"},
        {"user_id": "8", "item_id": "17", "timestamp": "1"},
        {"user_id": "7", "item_id": "17", "timestamp": "2"},
    ]
    d = load_dataset(write_dir(tmp_path, kind, rows, items=None, users=None))
    assert d.item_ids == ["0042", "17"]  # order of first appearance; text, zeros kept
    assert d.titles == d.item_ids and d.item_features == [[], []]
    assert d.user_ids == ["7", "8"] and d.user_attrs == {}
    assert d.items.tolist() == [0, 1, 1] and d.weights.tolist() == [1.0, 1.0, 1.0]


def test_numeric_ids_stay_text_in_every_container(tmp_path: Path) -> None:
    rows = [
        {"user_id": 1, "item_id": 10, "timestamp": 5},
        {"user_id": 2, "item_id": 10, "timestamp": 6},
    ]
    for kind in ("jsonl", "parquet"):
        d = load_dataset(write_dir(tmp_path / kind, kind, rows, items=None, users=None))
        assert d.user_ids == ["1", "2"] and d.item_ids == ["10"], kind
    # One line writes an id as a number, another as text: still one id space, as text.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "interactions.jsonl").write_text(
        '{"user_id": 1, "item_id": "x", "timestamp": 5}\n\n'
        '{"user_id": "1", "item_id": "y", "timestamp": "2024-01-01T00:00:00+01:00"}\n'
    )
    d = load_dataset(mixed)
    assert d.user_ids == ["1"] and d.items.tolist() == [0, 1]
    assert d.timestamps[1] == 1704067200.0 - 3600


def test_iso_timestamps_with_and_without_zones(tmp_path: Path) -> None:
    seconds = {
        "2024-01-01T00:00:00Z": 1704067200.0,
        "2024-01-01 00:00:00": 1704067200.0,  # no zone: UTC
        "2024-01-01T02:00:00+0200": 1704067200.0,
        "2024-01-01T00:00:00.5Z": 1704067200.5,
        "1704067200": 1704067200.0,
        "1.7040672e9": 1704067200.0,
    }
    rows = [{"user_id": "u", "item_id": f"i{k}", "timestamp": t} for k, t in enumerate(seconds)]
    d = load_dataset(write_dir(tmp_path, "csv", rows, items=None, users=None))
    assert d.timestamps.tolist() == list(seconds.values())


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "interactions.csv").write_text(
        "user_id,item_id,timestamp\nu1,a,1\n\nu1,b,2\n\nu2,c,soon\n"
    )
    with pytest.raises(DataError, match=r"interactions\.csv:6: bad timestamp 'soon'"):
        load_dataset(tmp_path)


def _bad_interaction(kind: str, tmp_path: Path, **change: Any) -> str:
    rows = [dict(r) for r in INTERACTIONS]
    rows[2].update(change)
    with pytest.raises(DataError) as err:
        load_dataset(write_dir(tmp_path, kind, rows))
    return str(err.value)


WHERE = {
    "csv": "interactions.csv:4: ",
    "jsonl": "interactions.jsonl:3: ",
    "parquet": "interactions.parquet: row index 2: ",
}


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"timestamp": "yesterday"}, "bad timestamp 'yesterday'"),
        ({"timestamp": "2024-13-45T00:00:00Z"}, "bad timestamp '2024-13-45T00:00:00Z'"),
        ({"timestamp": "nan"}, "bad timestamp"),
        ({"weight": "-3"}, "weight must be a finite number >= 0, found -3.0"),
        ({"weight": "heavy"}, "bad weight 'heavy'"),
        ({"item_id": "zzz"}, "item_id 'zzz' is not in items."),
        ({"user_id": "  "}, "empty user_id"),
    ],
)
def test_a_bad_interaction_is_named_by_file_and_row(
    tmp_path: Path, kind: str, change: dict[str, str], problem: str
) -> None:
    message = _bad_interaction(kind, tmp_path, **change)
    assert WHERE[kind] + problem in message


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_missing_columns_say_what_was_expected_and_found(tmp_path: Path, kind: str) -> None:
    rows = [{"user": "u1", "item_id": "a", "timestamp": "1"}]
    with pytest.raises(DataError) as err:
        load_dataset(write_dir(tmp_path, kind, rows))
    message = str(err.value)
    assert f"interactions{SUFFIX[kind]}" in message and "user_id" in message
    assert "expected user_id, item_id, timestamp" in message and "found user, item_id" in message


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_duplicate_catalog_ids_are_named(tmp_path: Path, kind: str) -> None:
    items = [*ITEMS, {"item_id": "b", "title": "Again", "features": ""}]
    with pytest.raises(DataError) as err:
        load_dataset(write_dir(tmp_path, kind, items=items))
    where = {"csv": "items.csv:5: ", "jsonl": "items.jsonl:4: ", "parquet": "row index 3: "}
    assert where[kind] + "duplicate item_id 'b'" in str(err.value)


HEAD = "user_id,item_id,timestamp\n"
LINE = '{"user_id": "u1", "item_id": "a", "timestamp": 1}\n'


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        (
            "interactions.csv",
            HEAD + "u1,a\n",
            "interactions.csv:2: wrong number of columns (expected 3, found 2)",
        ),
        (
            "interactions.csv",
            HEAD + "u1,a,1,9\n",
            "interactions.csv:2: wrong number of columns (expected 3, found 4)",
        ),
        ("interactions.csv", "user_id,item_id,timestamp\n", "interactions.csv: no interactions"),
        ("items.csv", "item_id,name\na,b\n", "items.csv:1: header lacks column(s) title"),
        ("items.csv", "item_id,title\n", "items.csv: no items"),
        ("interactions.jsonl", LINE + '{"user_id": \n', "interactions.jsonl:2: invalid JSON"),
        ("interactions.jsonl", LINE + "[1, 2]\n", "interactions.jsonl:2: expected a JSON object"),
        (
            "interactions.jsonl",
            LINE + LINE[:-18] + "}\n",
            "interactions.jsonl:2: missing timestamp",
        ),
    ],
)
def test_bad_text_files(tmp_path: Path, file: str, text: str, expected: str) -> None:
    (tmp_path / "items.csv").write_text("item_id,title\na,A\nb,B\n")
    (tmp_path / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,a,1\n")
    if file.endswith(".jsonl"):
        (tmp_path / "interactions.csv").unlink()
    (tmp_path / file).write_text(text)
    with pytest.raises(DataError) as err:
        load_generic(tmp_path)
    assert expected in str(err.value)


def test_two_interaction_files_are_ambiguous(tmp_path: Path) -> None:
    write_dir(tmp_path, "csv")
    write_table(tmp_path / "interactions.parquet", INTERACTIONS, "parquet")
    with pytest.raises(DataError, match=r"found interactions\.csv, interactions\.parquet"):
        load_dataset(tmp_path)


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    write_dir(tmp_path, "csv", items=None, users=None)
    (tmp_path / "interactions.csv").rename(tmp_path / "interactions.parquet")
    with pytest.raises(DataError, match=r"interactions\.parquet: cannot read"):
        load_dataset(tmp_path)


def test_feature_tokens_share_one_string_per_distinct_token(tmp_path: Path) -> None:
    items = [{"item_id": f"i{k}", "title": "t", "features": "Drama|Epic"} for k in range(50)]
    rows = [{"user_id": "u", "item_id": "i0", "timestamp": "1"}]
    d = load_dataset(write_dir(tmp_path, "parquet", rows, items=items, users=None))
    assert all(f == ["Drama", "Epic"] for f in d.item_features)
    assert len({id(f[0]) for f in d.item_features}) == 1


def test_ids_are_trimmed_so_padded_and_plain_are_one_id(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id,segment\nu2 ,parent\n")
    (tmp_path / "interactions.csv").write_text(
        "user_id,item_id,timestamp\n u9, b,1\nu1,a ,2\nu9,b,3\n u2,a,4\nu1 , a ,5\n"
    )
    d = load_dataset(tmp_path)
    assert d.item_ids == ["b", "a"] and d.items.tolist() == [0, 1, 0, 1, 1]
    assert d.user_ids == ["u2", "u9", "u1"]  # the users file first, then first appearance
    assert d.users.tolist() == [1, 2, 1, 0, 2]
    assert d.user_attrs == {"segment": ["parent", "", ""]}


def test_text_that_is_not_utf8_is_named_by_line(tmp_path: Path) -> None:
    (tmp_path / "interactions.csv").write_bytes(
        b"user_id,item_id,timestamp\nu1,a,1\nu1,caf\xe9,2\n"
    )
    with pytest.raises(DataError, match=r"interactions\.csv:3: not UTF-8 text"):
        load_dataset(tmp_path)
    (tmp_path / "interactions.csv").unlink()
    (tmp_path / "seq.txt").write_bytes(b"u1 a b\nu2 caf\xe9\n")
    with pytest.raises(DataError, match=r"seq\.txt:2: not UTF-8 text"):
        load_dataset(tmp_path)
