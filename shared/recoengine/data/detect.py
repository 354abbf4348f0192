"""Which format a ``DATA`` path holds, and one-line errors saying what was expected and found.

- ``u.data`` in the directory: MovieLens 100K;
- ``interactions.csv|.jsonl|.parquet``: the generic format;
- a ``.txt`` file, or a directory with exactly one: the sequence format.
"""

from __future__ import annotations

from pathlib import Path

from recoengine.data.movielens import FILES as MOVIELENS_FILES
from recoengine.data.tables import SUFFIXES
from recoengine.errors import DataError

FORMATS = ("auto", "generic", "movielens", "sequences")

_GENERIC = "interactions.csv|.jsonl|.parquet"
_EXPECTED = {
    "generic": f"{_GENERIC} (optionally items.* and users.*)",
    "movielens": "u.data, u.item, u.user and u.genre (MovieLens 100K)",
    "sequences": "one .txt file of 'user item item ...' lines",
}
_ANY = (
    f"a dataset directory ({_GENERIC} for the generic format, u.data for MovieLens 100K, "
    "or one .txt file of 'user item item ...' lines)"
)


def _listing(directory: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
    if not names:
        return "an empty directory"
    more = f" and {len(names) - 6} more" if len(names) > 6 else ""
    return ", ".join(names[:6]) + more


def _looks_like(path: Path) -> str | None:
    """The format a directory or file looks like, or None."""
    if path.is_file():
        return "sequences" if path.suffix == ".txt" else None
    if (path / "u.data").is_file():
        return "movielens"
    if any((path / f"interactions{s}").is_file() for s in SUFFIXES):
        return "generic"
    if len([p for p in path.glob("*.txt") if p.is_file()]) == 1:
        return "sequences"
    return None


def _one_txt(directory: Path) -> bool:
    """True when ``directory`` holds exactly one .txt file; an error when it holds several."""
    txt = sorted(p.name for p in directory.glob("*.txt") if p.is_file())
    if len(txt) > 1:
        raise DataError(
            str(directory),
            None,
            f"found {len(txt)} .txt files ({', '.join(txt[:4])}): name one as DATA, "
            f"e.g. DATA={directory / txt[0]}",
        )
    return len(txt) == 1


def detect_format(path: str | Path) -> str:
    """The format of ``path`` (``generic``, ``movielens`` or ``sequences``), or ``DataError``."""
    path = Path(path)
    if not path.exists():
        raise DataError(str(path), None, f"no such file or directory (expected {_ANY})")
    found = _looks_like(path)
    if found is not None:
        return found
    if path.is_file():
        raise DataError(str(path), None, f"expected {_ANY}, found a file that is none of these")
    _one_txt(path)
    raise DataError(str(path), None, f"expected {_ANY}, found {_listing(path)}")


def resolve_format(path: str | Path, fmt: str = "auto") -> str:
    """``fmt`` checked against what ``path`` holds (``auto`` detects it)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "auto":
        return detect_format(path)
    path = Path(path)
    if not path.exists():
        raise DataError(
            str(path), None, f"no such file or directory (FORMAT={fmt} expects {_EXPECTED[fmt]})"
        )
    if path.is_file():
        if fmt == "sequences":
            return fmt
        raise DataError(
            str(path), None, f"FORMAT={fmt} expects a directory of {_EXPECTED[fmt]}, found a file"
        )
    if fmt == "movielens":
        missing = [n for n in MOVIELENS_FILES if not (path / n).is_file()]
        if not missing:
            return fmt
        problem = f"FORMAT=movielens expects {_EXPECTED[fmt]}, found {_listing(path)}"
    elif fmt == "generic":
        if any((path / f"interactions{s}").is_file() for s in SUFFIXES):
            return fmt
        problem = f"FORMAT=generic expects {_EXPECTED[fmt]}, found {_listing(path)}"
    else:
        if _one_txt(path):
            return fmt
        problem = f"FORMAT=sequences expects {_EXPECTED[fmt]}, found {_listing(path)}"
    other = _looks_like(path)
    if other is not None and other != fmt:
        problem += f" (that is the {other} layout: use FORMAT={other} or FORMAT=auto)"
    raise DataError(str(path), None, problem)
