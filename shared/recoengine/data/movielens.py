"""The MovieLens 100K layout (``u.data``, ``u.item``, ``u.user``, ``u.genre``): the benchmark.

Every rating is an interaction of weight 1 (implicit feedback, the team's protocol), in
``u.data``'s row order; users and items are indexed in ``u.user``/``u.item`` order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recoengine.data.dataset import Dataset
from recoengine.errors import DataError

FILES = ("u.data", "u.item", "u.user", "u.genre")


def _age_bucket(age: str) -> str:
    try:
        a = int(age)
    except ValueError:
        return ""
    for bound, label in (
        (18, "under18"),
        (25, "18-24"),
        (35, "25-34"),
        (45, "35-44"),
        (56, "45-55"),
    ):
        if a < bound:
            return label
    return "56+"


def _index_of(ids: list[str], column: np.ndarray) -> np.ndarray:
    """The position in ``ids`` of each value of ``column`` (a lookup per distinct value)."""
    position = {iid: k for k, iid in enumerate(ids)}
    distinct, inverse = np.unique(column, return_inverse=True)
    try:
        mapped = np.array([position[str(v)] for v in distinct.tolist()], dtype=np.int32)
    except KeyError as exc:
        raise KeyError(exc.args[0]) from None
    return mapped[inverse.reshape(-1)]


def load_movielens(directory: str | Path, progress: bool = False) -> Dataset:
    directory = Path(directory)
    for name in FILES:
        if not (directory / name).exists():
            raise DataError(str(directory / name), None, "file not found (MovieLens 100K layout)")
    genres: list[str] = []
    for line_no, line in enumerate((directory / "u.genre").read_text("latin-1").splitlines(), 1):
        if line.strip():
            name, _, idx = line.rpartition("|")
            if not name or not idx.isdigit():
                raise DataError(str(directory / "u.genre"), line_no, "expected 'name|index'")
            genres.append(name)
    item_ids: list[str] = []
    titles: list[str] = []
    features: list[list[str]] = []
    path = directory / "u.item"
    for line_no, line in enumerate(path.read_text("latin-1").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) != 5 + len(genres):
            raise DataError(
                str(path), line_no, f"expected {5 + len(genres)} fields, got {len(parts)}"
            )
        item_ids.append(parts[0])
        titles.append(parts[1])
        flags = parts[5:]
        features.append([g for g, f in zip(genres, flags, strict=True) if f == "1"])
    user_ids: list[str] = []
    attrs: dict[str, list[str]] = {"age": [], "gender": [], "occupation": []}
    path = directory / "u.user"
    for line_no, line in enumerate(path.read_text("latin-1").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) != 5:
            raise DataError(str(path), line_no, f"expected 5 fields, got {len(parts)}")
        user_ids.append(parts[0])
        attrs["age"].append(_age_bucket(parts[1]))
        attrs["gender"].append(parts[2])
        attrs["occupation"].append(parts[3])
    path = directory / "u.data"
    try:
        raw = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    except ValueError as exc:
        raise DataError(
            str(path), None, f"expected 4 tab-separated integers per line: {exc}"
        ) from None
    if raw.shape[1] != 4:
        raise DataError(str(path), None, f"expected 4 columns, got {raw.shape[1]}")
    try:
        users = _index_of(user_ids, raw[:, 0])
        items = _index_of(item_ids, raw[:, 1])
    except KeyError as exc:
        raise DataError(
            str(path), None, f"unknown id {exc.args[0]} (not in u.user/u.item)"
        ) from None
    return Dataset(
        item_ids=item_ids,
        titles=titles,
        item_features=features,
        user_ids=user_ids,
        user_attrs=attrs,
        users=users,
        items=items,
        timestamps=raw[:, 3].astype(np.float64),
        weights=np.ones(raw.shape[0], dtype=np.float32),
        name="ml-100k",
    )
