"""Format detection, and one-line errors that say what was expected and what was found."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoengine.data.loaders import detect_format, load_dataset, resolve_format
from recoengine.errors import DataError


def layout(root: Path, *names: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).write_text("x\n")
    return root


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("u.data", "u.item", "u.user", "u.genre", "README"), "movielens"),
        (("interactions.csv", "items.csv"), "generic"),
        (("interactions.jsonl",), "generic"),
        (("interactions.parquet", "users.parquet"), "generic"),
        (("Toys_and_Games.txt", "SHA256SUMS"), "sequences"),
    ],
)
def test_detects_each_layout(tmp_path: Path, names: tuple[str, ...], expected: str) -> None:
    assert detect_format(layout(tmp_path / "d", *names)) == expected
    assert resolve_format(tmp_path / "d", "auto") == expected
    assert resolve_format(tmp_path / "d", expected) == expected  # explicit still selectable


def test_a_txt_file_is_a_sequence_file(tmp_path: Path) -> None:
    layout(tmp_path, "seq.txt")
    assert detect_format(tmp_path / "seq.txt") == "sequences"


@pytest.mark.parametrize(
    ("names", "fmt", "expected", "found"),
    [
        (
            ("u.data", "u.item"),
            "generic",
            "expects interactions.csv|.jsonl|.parquet",
            "found u.data, u.item (that is the movielens layout: use FORMAT=movielens",
        ),
        (
            ("interactions.csv", "items.csv"),
            "movielens",
            "expects u.data, u.item, u.user and u.genre",
            "found interactions.csv, items.csv (that is the generic layout",
        ),
        (
            ("u.data", "u.item", "u.user"),
            "movielens",
            "expects u.data, u.item, u.user and u.genre",
            "found u.data, u.item, u.user",
        ),
        (("items.csv",), "generic", "expects interactions.csv", "found items.csv"),
        (
            ("interactions.csv",),
            "sequences",
            "expects one .txt file",
            "found interactions.csv (that is the generic layout",
        ),
        ((), "auto", "expected a dataset directory", "found an empty directory"),
        (
            ("notes.md", "items.csv"),
            "auto",
            "expected a dataset directory",
            "found items.csv, notes.md",
        ),
        (("a.txt", "b.txt"), "auto", "found 2 .txt files (a.txt, b.txt): name one", ""),
    ],
)
def test_a_wrong_layout_says_what_was_expected_and_found(
    tmp_path: Path, names: tuple[str, ...], fmt: str, expected: str, found: str
) -> None:
    root = layout(tmp_path / "d", *names)
    with pytest.raises(DataError) as err:
        load_dataset(root, fmt)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(root) + ": ")
    assert expected in message and found in message


def test_a_missing_path_is_one_line(tmp_path: Path) -> None:
    for fmt in ("auto", "generic", "movielens", "sequences"):
        with pytest.raises(DataError) as err:
            load_dataset(tmp_path / "nowhere", fmt)
        assert "no such file or directory" in str(err.value) and "\n" not in str(err.value)


def test_a_file_where_a_directory_is_expected(tmp_path: Path) -> None:
    layout(tmp_path, "interactions.csv")
    with pytest.raises(DataError, match=r"FORMAT=generic expects a directory .*found a file"):
        load_dataset(tmp_path / "interactions.csv", "generic")
    with pytest.raises(DataError, match=r"found a file that is none of these"):
        load_dataset(tmp_path / "interactions.csv")


def test_an_unknown_format_name_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected one of auto, generic, movielens, sequences"):
        load_dataset(tmp_path, "xml")
