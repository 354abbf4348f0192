"""Where catalog updates live: beside the model, in a local folder or on ``gs://``.

Publishing writes the new overlay as a new immutable object (``catalog/updates/<version>.json``)
and then the small pointer ``catalog/CURRENT.json`` naming it with its sha256. Readers read the
pointer first, so they see the previous overlay or the new one, never a half-written one; a
pointer whose object is missing or does not match its digest is refused. Concurrent publishers
do not lose each other's rows: locally a file lock, on GCS a compare-and-set on the pointer's
generation (the second one fails and says to run again).

The running instance's cheap check (``Location.stamp``) is a ``stat`` of the pointer locally
and a metadata read of its generation on GCS; the overlay is read only when that changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from recoengine.catalog.update import (
    CatalogUpdate,
    ItemChange,
    UpdateError,
    check_changes,
    merge,
    merged_row,
    parse,
)

POINTER = "catalog/CURRENT.json"
UPDATES = "catalog/updates"
KEEP = 10  # overlay versions kept (each holds every change since training); older ones deleted


class Location(Protocol):
    uri: str

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes, *, expected: object = None) -> None: ...

    def stamp(self, name: str) -> object: ...

    def lock(self) -> contextlib.AbstractContextManager[None]: ...

    def listing(self, folder: str) -> list[str]: ...

    def delete(self, name: str) -> None: ...


class LocalLocation:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.uri = str(root)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes, *, expected: object = None) -> None:
        """Written to a temp file in the same folder, then renamed over the name (atomic)."""
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def stamp(self, name: str) -> object:
        try:
            st = (self.root / name).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def listing(self, folder: str) -> list[str]:
        root = self.root / folder
        return sorted(f"{folder}/{p.name}" for p in root.glob("*.json")) if root.is_dir() else []

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        import fcntl

        path = self.root / "catalog" / ".lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield


class GcsLocation:
    """``gs://bucket/prefix`` through ``google-cloud-storage`` (as the artifact loader)."""

    def __init__(self, uri: str) -> None:
        import google.cloud.storage as storage  # heavy: imported only for gs://

        bucket, _, prefix = uri[len("gs://") :].partition("/")
        self.uri = uri
        self.prefix = prefix.rstrip("/")
        self.bucket = storage.Client().bucket(bucket)

    def _name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def read(self, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            data: bytes = self.bucket.blob(self._name(name)).download_as_bytes()
        except NotFound:
            return None
        return data

    def write(self, name: str, data: bytes, *, expected: object = None) -> None:
        """``expected``: the pointer's generation read before (0: none), so a concurrent
        publish in between makes this one fail instead of being overwritten."""
        from google.api_core.exceptions import PreconditionFailed

        blob = self.bucket.blob(self._name(name))
        match = expected if isinstance(expected, int) else None
        try:
            blob.upload_from_string(
                data, content_type="application/json", if_generation_match=match
            )
        except PreconditionFailed:
            raise UpdateError(
                f"{self.uri}: another catalog update was published meanwhile; run it again"
            ) from None

    def stamp(self, name: str) -> object:
        blob = self.bucket.get_blob(self._name(name))  # metadata only
        return None if blob is None else int(blob.generation)

    def listing(self, folder: str) -> list[str]:
        cut = len(self.prefix) + 1 if self.prefix else 0
        blobs = self.bucket.client.list_blobs(self.bucket, prefix=self._name(folder) + "/")
        return sorted(b.name[cut:] for b in blobs if b.name.endswith(".json"))

    def delete(self, name: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(self._name(name)).delete()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        yield  # the pointer's generation match does the work


def location(uri: str) -> Location:
    return GcsLocation(uri) if uri.startswith("gs://") else LocalLocation(uri)


def model_items(loc: Location) -> tuple[str, frozenset[str]]:
    """The version and item ids of the model at ``loc``, which an update must match."""
    import numpy as np

    raw = loc.read("manifest.json")
    ids = loc.read("catalog_item_ids.npy")
    if raw is None or ids is None:
        raise UpdateError(f"{loc.uri}: no model there (manifest.json missing)")
    try:
        version = str(json.loads(raw)["version"])
        items = np.load(io.BytesIO(ids), allow_pickle=False).tolist()
    except (ValueError, KeyError, TypeError) as exc:
        raise UpdateError(f"{loc.uri}: unreadable model: {exc}") from None
    return version, frozenset(items)


def read_current(loc: Location) -> CatalogUpdate | None:
    """The overlay the pointer names (None when nothing was published), checked against the
    pointer's digest and parsed; ``UpdateError`` when any of that fails."""
    pointer = loc.read(POINTER)
    if pointer is None:
        return None
    try:
        doc: Any = json.loads(pointer)
        name, digest = str(doc["object"]), str(doc["sha256"])
    except (ValueError, KeyError, TypeError):
        raise UpdateError(f"{loc.uri}/{POINTER}: unreadable pointer") from None
    if not name.startswith(f"{UPDATES}/") or ".." in name:
        raise UpdateError(f"{loc.uri}/{POINTER}: names {name!r}, outside {UPDATES}/")
    raw = loc.read(name)
    if raw is None or hashlib.sha256(raw).hexdigest() != digest:
        raise UpdateError(f"{loc.uri}/{name}: missing or does not match the pointer's sha256")
    return parse(raw, f"{loc.uri}/{name}")


def publish(uri: str, items_file: str | Path) -> CatalogUpdate:
    """Validate ``items_file`` against the model at ``uri`` and what is already published,
    then publish the merged overlay (object first, pointer last)."""
    from recoengine.catalog.files import read_items

    loc = location(uri)
    with loc.lock():
        model_version, known = model_items(loc)
        expected = loc.stamp(POINTER)
        try:
            current = read_current(loc)
        except UpdateError:
            current = None  # a broken overlay is replaced by a good one, never merged
        if current is not None and current.model_version != model_version:
            current = None  # published for a model that was replaced since: trained in
        before = {c.item_id: c for c in current.changes} if current else {}

        def check(row: ItemChange) -> None:
            check_changes([merged_row(before.get(row.item_id), row)], known)

        rows = read_items(items_file, check)
        update = merge(current, rows, model_version)
        data = update.to_json()
        name = f"{UPDATES}/{update.version}.json"
        loc.write(name, data, expected=0)
        pointer = {
            "version": update.version,
            "object": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "model_version": model_version,
        }
        gen = expected if isinstance(expected, int) else 0  # GCS: its generation, 0 if none
        loc.write(POINTER, json.dumps(pointer, indent=1).encode(), expected=gen)
        # Older versions are kept a while (a reader that read the previous pointer still finds
        # its object), then deleted: each one holds every change since training.
        for old in loc.listing(UPDATES)[:-KEEP]:
            loc.delete(old)
    return update
