"""Loaders for the documented generic format and for the MovieLens 100K layout.

Generic format (a directory; each file CSV with a header, or JSONL with the same keys):

- ``interactions.csv``: ``user_id,item_id,timestamp[,weight]`` — timestamp in epoch seconds or
  ISO 8601; weight a non-negative number (default 1).
- ``items.csv``: ``item_id,title,features`` — features as ``|``-separated tokens (genres, tags).
- ``users.csv`` (optional): ``user_id`` plus any persona attribute columns (age, segment, ...).

Every problem raises ``DataError`` naming the file and line, so a user can fix their data.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np

from recoengine.data.dataset import Dataset
from recoengine.errors import DataError

FORMATS = ("generic", "movielens")


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs from a CSV with a header or a JSONL file."""
    if path.suffix == ".jsonl":
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
                missing = [k for k in required if k not in obj]
                if missing:
                    raise DataError(str(path), line_no, f"missing field(s) {', '.join(missing)}")
                yield line_no, {k: "" if v is None else str(v) for k, v in obj.items()}
        return
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [k for k in required if k not in header]
        if missing:
            raise DataError(str(path), 1, f"header lacks column(s) {', '.join(missing)}")
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise DataError(str(path), reader.line_num, "wrong number of columns")
            yield reader.line_num, row


def _find(directory: Path, stem: str, required: bool) -> Path | None:
    for suffix in (".csv", ".jsonl"):
        path = directory / f"{stem}{suffix}"
        if path.exists():
            return path
    if required:
        raise DataError(str(directory / f"{stem}.csv"), None, "file not found (.csv or .jsonl)")
    return None


def _timestamp(raw: str, path: Path, line: int) -> float:
    raw = raw.strip()
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise DataError(str(path), line, f"bad timestamp {raw!r}") from None


def load_generic(directory: str | Path) -> Dataset:
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(str(directory), None, "not a directory")
    items_path = _find(directory, "items", True)
    assert items_path is not None
    item_ids: list[str] = []
    titles: list[str] = []
    features: list[list[str]] = []
    seen_items: set[str] = set()
    for line, row in _rows(items_path, ("item_id", "title")):
        iid = row["item_id"].strip()
        if not iid:
            raise DataError(str(items_path), line, "empty item_id")
        if iid in seen_items:
            raise DataError(str(items_path), line, f"duplicate item_id {iid!r}")
        seen_items.add(iid)
        item_ids.append(iid)
        titles.append(row.get("title", "").strip() or iid)
        tokens = [t.strip() for t in (row.get("features") or "").split("|")]
        features.append([t for t in tokens if t])
    if not item_ids:
        raise DataError(str(items_path), None, "no items")
    item_index = {iid: i for i, iid in enumerate(item_ids)}

    user_ids: list[str] = []
    attrs: dict[str, list[str]] = {}
    users_path = _find(directory, "users", False)
    if users_path is not None:
        for line, row in _rows(users_path, ("user_id",)):
            uid = row["user_id"].strip()
            if not uid:
                raise DataError(str(users_path), line, "empty user_id")
            user_ids.append(uid)
            for key, value in row.items():
                if key != "user_id":
                    attrs.setdefault(key, []).append((value or "").strip())
    user_index = {uid: u for u, uid in enumerate(user_ids)}

    inter_path = _find(directory, "interactions", True)
    assert inter_path is not None
    us: list[int] = []
    its: list[int] = []
    ts: list[float] = []
    ws: list[float] = []
    for line, row in _rows(inter_path, ("user_id", "item_id", "timestamp")):
        uid, iid = row["user_id"].strip(), row["item_id"].strip()
        if not uid:
            raise DataError(str(inter_path), line, "empty user_id")
        if iid not in item_index:
            raise DataError(str(inter_path), line, f"item_id {iid!r} is not in {items_path.name}")
        if uid not in user_index:
            user_index[uid] = len(user_ids)
            user_ids.append(uid)
            for values in attrs.values():
                values.append("")
        weight_raw = (row.get("weight") or "1").strip()
        try:
            weight = float(weight_raw)
        except ValueError:
            raise DataError(str(inter_path), line, f"bad weight {weight_raw!r}") from None
        if not weight >= 0 or weight == float("inf"):
            raise DataError(str(inter_path), line, "weight must be a finite number >= 0")
        us.append(user_index[uid])
        its.append(item_index[iid])
        ts.append(_timestamp(row["timestamp"], inter_path, line))
        ws.append(weight)
    if not us:
        raise DataError(str(inter_path), None, "no interactions")
    return Dataset(
        item_ids=item_ids,
        titles=titles,
        item_features=features,
        user_ids=user_ids,
        user_attrs=attrs,
        users=np.asarray(us, dtype=np.int32),
        items=np.asarray(its, dtype=np.int32),
        timestamps=np.asarray(ts, dtype=np.float64),
        weights=np.asarray(ws, dtype=np.float32),
        name=directory.name,
    )


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


def load_movielens(directory: str | Path) -> Dataset:
    """MovieLens 100K (``u.data``, ``u.item``, ``u.user``, ``u.genre``); every rating is an
    interaction of weight 1 (implicit feedback, the team's protocol)."""
    directory = Path(directory)
    for name in ("u.data", "u.item", "u.user", "u.genre"):
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
    item_index = {iid: i for i, iid in enumerate(item_ids)}
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
    user_index = {uid: u for u, uid in enumerate(user_ids)}
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
        users = np.array([user_index[str(u)] for u in raw[:, 0]], dtype=np.int32)
        items = np.array([item_index[str(i)] for i in raw[:, 1]], dtype=np.int32)
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


def load_dataset(directory: str | Path, fmt: str = "generic") -> Dataset:
    if fmt == "generic":
        return load_generic(directory)
    if fmt == "movielens":
        return load_movielens(directory)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
