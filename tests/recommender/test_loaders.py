"""Loaders: the generic format (CSV and JSONL), MovieLens 100K, and clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recoengine.data.demo import generate, write_generic
from recoengine.data.loaders import load_dataset
from recoengine.errors import DataError


def write(dir_: Path, name: str, text: str) -> None:
    (dir_ / name).write_text(text)


@pytest.fixture()
def generic(tmp_path: Path) -> Path:
    write(tmp_path, "items.csv", "item_id,title,features\na,Alpha,x|y\nb,Beta,y\nc,Gamma,\n")
    write(tmp_path, "users.csv", "user_id,age_band,segment\nu1,18-24,student\nu2,25-34,parent\n")
    write(
        tmp_path,
        "interactions.csv",
        "user_id,item_id,timestamp,weight\nu1,a,100,1\nu1,b,2024-01-01T00:00:00Z,2.5\n"
        "u2,c,50,1\nu3,a,60,1\n",
    )
    return tmp_path


def test_generic_csv_loads_everything(generic: Path) -> None:
    d = load_dataset(generic, "generic")
    assert d.item_ids == ["a", "b", "c"]
    assert d.item_features == [["x", "y"], ["y"], []]
    assert d.user_ids == ["u1", "u2", "u3"]  # u3 appears only in interactions
    assert d.user_attrs["segment"] == ["student", "parent", ""]
    assert d.n_interactions == 4
    assert d.weights.tolist() == [1.0, 2.5, 1.0, 1.0]
    assert d.timestamps[1] == pytest.approx(1704067200.0)


def test_generic_jsonl_is_equivalent(tmp_path: Path, generic: Path) -> None:
    for name in ("items", "users", "interactions"):
        import csv

        with (generic / f"{name}.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        (tmp_path / "j").mkdir(exist_ok=True)
        (tmp_path / "j" / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    a, b = load_dataset(generic), load_dataset(tmp_path / "j")
    assert a.fingerprint() == b.fingerprint()


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        ("items.csv", "item_id,name\na,b\n", "items.csv:1: header lacks column(s) title"),
        ("items.csv", "item_id,title,features\na,A,\na,B,\n", "items.csv:3: duplicate item_id"),
        (
            "interactions.csv",
            "user_id,item_id,timestamp\nu1,zzz,1\n",
            "interactions.csv:2: item_id 'zzz'",
        ),
        (
            "interactions.csv",
            "user_id,item_id,timestamp\nu1,a,yesterday\n",
            "interactions.csv:2: bad timestamp",
        ),
        (
            "interactions.csv",
            "user_id,item_id,timestamp,weight\nu1,a,1,-3\n",
            "interactions.csv:2: weight",
        ),
        (
            "interactions.csv",
            "user_id,item_id,timestamp\nu1,a\n",
            "interactions.csv:2: wrong number",
        ),
        ("interactions.csv", "user_id,item_id,timestamp\n", "interactions.csv: no interactions"),
    ],
)
def test_bad_generic_files_name_file_and_line(
    generic: Path, file: str, text: str, expected: str
) -> None:
    write(generic, file, text)
    with pytest.raises(DataError) as err:
        load_dataset(generic)
    assert expected in str(err.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    write(tmp_path, "items.csv", "item_id,title\na,A\n")
    with pytest.raises(
        DataError, match=r"expects interactions\.csv\|\.jsonl\|\.parquet.*found items\.csv"
    ):
        load_dataset(tmp_path, "generic")
    with pytest.raises(DataError, match=r"expected a dataset directory.*found items\.csv"):
        load_dataset(tmp_path)


def _movielens(dir_: Path, data_lines: str) -> Path:
    genres = ["unknown", "Action", "Comedy"]
    write(dir_, "u.genre", "".join(f"{g}|{i}\n" for i, g in enumerate(genres)))
    write(
        dir_,
        "u.item",
        "1|Film A (1995)|01-Jan-1995||url|0|1|0\n2|Film B (1996)|01-Jan-1996||url|0|1|1\n",
    )
    write(dir_, "u.user", "1|24|M|technician|85711\n2|61|F|other|94043\n")
    write(dir_, "u.data", data_lines)
    return dir_


def test_movielens_layout(tmp_path: Path) -> None:
    d = load_dataset(_movielens(tmp_path, "1\t1\t5\t100\n1\t2\t3\t100\n2\t2\t4\t90\n"), "movielens")
    assert d.item_features == [["Action"], ["Action", "Comedy"]]
    assert d.user_attrs["age"] == ["18-24", "56+"]
    assert d.items.tolist() == [0, 1, 1] and d.weights.tolist() == [1.0, 1.0, 1.0]


def test_movielens_bad_rows(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"u\.data"):
        load_dataset(_movielens(tmp_path, "1\t9\t5\t100\n"), "movielens")
    write(tmp_path, "u.item", "1|only three|fields\n")
    with pytest.raises(DataError, match=r"u.item:1: expected 8 fields"):
        load_dataset(tmp_path, "movielens")


def test_demo_data_round_trips_through_generic_format(tmp_path: Path) -> None:
    data = generate(n_users=20, n_items=30, per_user=5, seed=1)
    loaded = load_dataset(write_generic(data, tmp_path / "demo"))
    assert loaded.item_ids == data.item_ids and loaded.user_ids == data.user_ids
    assert np.array_equal(loaded.items, data.items)
    assert np.array_equal(loaded.timestamps, data.timestamps)


@pytest.mark.skipif(
    not Path(__file__).resolve().parents[3].joinpath("shared/datasets/ml-100k/u.data").exists(),
    reason="MovieLens 100K not found at ../shared/datasets/ml-100k (benchmarks read it there)",
)
def test_real_movielens_100k() -> None:
    root = Path(__file__).resolve().parents[3] / "shared/datasets/ml-100k"
    d = load_dataset(root, "movielens")
    assert (d.n_users, d.n_items, d.n_interactions) == (943, 1682, 100000)
    # The same arrays as the loader before the columnar rewrite (its fingerprint, taken then):
    # u.data's row order, u.user/u.item indices, every rating a weight-1 interaction.
    assert d.fingerprint() == "bf9ee42a980da8bc325d0cefe756591d3db0a910eeb49de49fea4cb997cf5c75"
    assert d.users[:5].tolist() == [195, 185, 21, 243, 165]
    assert d.items[:5].tolist() == [241, 301, 376, 50, 345]
    assert d.timestamps[0] == 881250949.0 and d.weights.sum() == 100000
    assert d.titles[0] == "Toy Story (1995)"
    assert d.item_features[0] == ["Animation", "Children's", "Comedy"]
    assert d.user_attrs["age"][0] == "18-24" and d.user_attrs["occupation"][0] == "technician"
    assert load_dataset(root).fingerprint() == d.fingerprint()  # auto detects the layout
