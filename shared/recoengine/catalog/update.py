"""The catalog overlay: every item change published since the model was trained.

One document, replaced as a whole on each publish (``merge``), so a running instance reads one
object and the latest row for an item always wins. It is plain JSON (no numpy), checked field
by field when read (``parse``): a document that does not hold exactly this shape is refused
with one line saying what is wrong, and the instance keeps the overlay it has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FORMAT = 1
MAX_FEATURES = 64  # tokens per item: far more than any real tag list, bounds a bad file


class UpdateError(ValueError):
    """A catalog update that must not be published or applied (one line, names the row)."""


@dataclass(frozen=True)
class ItemChange:
    """One item as an update states it. ``title``/``features`` None: keep what the model (or
    an earlier update) has; ``available`` False withdraws the item."""

    item_id: str
    title: str | None = None
    features: tuple[str, ...] | None = None
    available: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "title": self.title,
            "features": None if self.features is None else list(self.features),
            "available": self.available,
        }


@dataclass(frozen=True)
class CatalogUpdate:
    """The overlay in force: ``changes`` in first-publish order, one per item."""

    version: str
    model_version: str  # the model it was published beside (its manifest's version)
    published_at: str
    changes: tuple[ItemChange, ...]

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": self.version,
            "model_version": self.model_version,
            "published_at": self.published_at,
            "items": [c.to_dict() for c in self.changes],
        }
        return json.dumps(doc, ensure_ascii=False, indent=1).encode()

    @property
    def withdrawn(self) -> list[str]:
        return [c.item_id for c in self.changes if not c.available]


def merge(
    current: CatalogUpdate | None,
    rows: Iterable[ItemChange],
    model_version: str,
    now: datetime | None = None,
) -> CatalogUpdate:
    """``current`` with ``rows`` applied (a row replaces the item's earlier change, keeping what
    it leaves unstated), under a new version ``<UTC time>-<content hash>``."""
    changes: dict[str, ItemChange] = {}
    if current is not None and current.model_version == model_version:
        changes = {c.item_id: c for c in current.changes}
    for row in rows:
        changes[row.item_id] = merged_row(changes.get(row.item_id), row)
    ordered = tuple(changes.values())
    digest = hashlib.sha256(
        json.dumps([c.to_dict() for c in ordered], sort_keys=True).encode()
    ).hexdigest()
    stamp = now or datetime.now(UTC)
    return CatalogUpdate(
        f"{stamp:%Y%m%dT%H%M%S%fZ}-{digest[:8]}", model_version, stamp.isoformat(), ordered
    )


def merged_row(before: ItemChange | None, row: ItemChange) -> ItemChange:
    """``row`` over an earlier change of the same item: what it leaves unstated is kept."""
    if before is None:
        return row
    return ItemChange(
        row.item_id,
        row.title if row.title is not None else before.title,
        row.features if row.features is not None else before.features,
        row.available,
    )


def check_changes(changes: Iterable[ItemChange], known: set[str] | frozenset[str]) -> None:
    """What every overlay must satisfy against the model's items ``known``: a new item is
    described by features (nothing else can score it), and a withdrawn one exists."""
    for c in changes:
        if c.item_id in known:
            continue
        if not c.available and c.title is None and c.features is None:
            raise UpdateError(f"item_id {c.item_id!r} is withdrawn but the model has no such item")
        if c.available and not c.features:
            raise UpdateError(
                f"new item_id {c.item_id!r} has no features: they are what scores a new item"
            )


def _text(value: Any, where: str, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UpdateError(f"{where}: expected text, found {value!r}")
    return value


def parse(raw: bytes, source: str) -> CatalogUpdate:
    """The overlay document in ``raw``, or ``UpdateError`` naming ``source`` and the entry."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise UpdateError(f"{source}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise UpdateError(f"{source}: unknown catalog update format {found!r} (expected {FORMAT})")
    items = doc.get("items")
    if not isinstance(items, list):
        raise UpdateError(f"{source}: 'items' is not a list")
    changes: list[ItemChange] = []
    seen: set[str] = set()
    for n, entry in enumerate(items):
        where = f"{source}: items[{n}]"
        if not isinstance(entry, dict):
            raise UpdateError(f"{where}: expected an object")
        item_id = _text(entry.get("item_id"), f"{where}.item_id", optional=False)
        assert item_id is not None
        if item_id in seen:
            raise UpdateError(f"{where}: duplicate item_id {item_id!r}")
        seen.add(item_id)
        features = entry.get("features")
        if features is not None:
            if not isinstance(features, list) or len(features) > MAX_FEATURES:
                raise UpdateError(f"{where}.features: expected a list of at most {MAX_FEATURES}")
            features = tuple(str(_text(f, f"{where}.features", optional=False)) for f in features)
        available = entry.get("available", True)
        if not isinstance(available, bool):
            raise UpdateError(f"{where}.available: expected true or false, found {available!r}")
        title = _text(entry.get("title"), f"{where}.title", optional=True)
        changes.append(ItemChange(item_id, title, features, available))
    for key in ("version", "model_version", "published_at"):
        _text(doc.get(key), f"{source}: {key}", optional=False)
    return CatalogUpdate(
        str(doc["version"]), str(doc["model_version"]), str(doc["published_at"]), tuple(changes)
    )
