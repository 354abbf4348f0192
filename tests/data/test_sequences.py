"""The sequence format (``user item item ...`` per line): positions are time, errors name the line,
and the real Amazon Toys file loads with its published counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recoengine.data.loaders import load_dataset, load_sequences
from recoengine.errors import DataError
from recoengine.evaluation.protocol import leave_last_out

AMAZON = Path(__file__).resolve().parents[3] / "shared/datasets/amazon-toys"


def test_lines_become_users_and_positions_become_time(tmp_path: Path) -> None:
    (tmp_path / "seq.txt").write_text("u1 10 20 30\nu2 20 40\r\nu3\t50  10 10\n")
    d = load_dataset(tmp_path / "seq.txt")
    assert d.user_ids == ["u1", "u2", "u3"]
    assert d.item_ids == ["10", "20", "30", "40", "50"]  # order of first appearance, as text
    assert d.users.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert d.items.tolist() == [0, 1, 2, 1, 3, 4, 0, 0]  # a repeat stays an interaction
    assert d.timestamps.tolist() == [0, 1, 2, 0, 1, 0, 1, 2]
    assert d.titles == d.item_ids and d.item_features == [[]] * 5 and d.user_attrs == {}
    assert np.array_equal(d.chronological(), np.arange(8))  # chronological order = line order
    split = leave_last_out(d)
    assert split.test_items.tolist() == [2, 3, 0]  # each line's last item is held out


def test_a_directory_with_one_txt_file_is_enough(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("a 1 2\nb 2 3\n")
    (tmp_path / "README.md").write_text("notes")
    assert load_sequences(tmp_path).n_interactions == 4
    assert load_dataset(tmp_path, "auto").n_interactions == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a 1 2\n\nb 3\n", "seq.txt:2: empty line"),
        ("a 1 2\nb\n", "seq.txt:2: user 'b' has no items"),
        ("a 1 2\nb 3\na 4\n", "seq.txt:3: user 'a' already has a line (1)"),
        ("", "seq.txt: no lines"),
    ],
)
def test_bad_sequence_files_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "seq.txt").write_text(text)
    with pytest.raises(DataError) as err:
        load_sequences(tmp_path / "seq.txt")
    assert expected in str(err.value)


def test_several_txt_files_ask_which_one(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("u 1 2\n")
    (tmp_path / "b.txt").write_text("u 1 2\n")
    with pytest.raises(DataError, match=r"found 2 \.txt files \(a\.txt, b\.txt\)"):
        load_dataset(tmp_path, "sequences")


@pytest.mark.skipif(
    not (AMAZON / "Toys_and_Games.txt").exists(),
    reason="Amazon Toys not found at ../shared/datasets/amazon-toys (the benchmarks read it there)",
)
def test_real_amazon_toys() -> None:
    d = load_dataset(AMAZON)
    assert (d.n_users, d.n_items, d.n_interactions) == (19412, 11924, 167597)
    assert d.user_ids[:3] == ["1", "2", "3"] and d.item_ids[:5] == ["1", "2", "3", "4", "5"]
    first = d.items[d.users == 0]
    assert [d.item_ids[i] for i in first] == ["1", "2", "3", "4", "5"]
    assert d.timestamps[: len(first)].tolist() == [0, 1, 2, 3, 4]
    assert np.bincount(d.users).min() >= 5  # 5-core
