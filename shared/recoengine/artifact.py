"""The versioned model artifact: numpy arrays plus a JSON manifest, in a directory or on GCS.

Layout (one directory per version)::

    manifest.json   format, version, created_at, engine (local or spark), data fingerprint,
                    weights, calibration, component parameters, metrics, and the sha256 of
                    every other file
    catalog.json    item features, the feature vocabulary, persona attribute names, segments
    catalog_*.npy   item ids (a numpy unicode array); titles and user ids as UTF-8 bytes plus
                    each string's end (in characters); persona values as codes into
                    catalog.json's ``user_attr_values``
    *.npy           the sparse item graphs and item features (CSR triplets), the persona
                    arrays and the users' training histories (CSR)

Everything grows with items x neighbours (or the interactions, for the histories), never
items². Serving loads it read-only (arrays memory-mapped, so cold start does not copy them) and
checks every file against the manifest's checksum, in a background thread while the catalog is
parsed (1M items: 1.7 s from start to first recommendation, 2.4 s when checked first): a
truncated or tampered artifact is refused (``ArtifactError``) instead of serving garbage.
``gs://bucket/prefix`` URIs are downloaded once per instance into a local cache directory with
``google-cloud-storage``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import mmap
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recoengine.models.blend import BlendCalibration
from recoengine.models.collaborative import CFParams, SequenceCF
from recoengine.models.content import CBParams, ContentModel
from recoengine.models.history import Histories
from recoengine.models.hybrid import HybridModel
from recoengine.models.item_graphs import ItemGraphs
from recoengine.models.persona import PAParams, PersonaModel
from recoengine.models.sparse import SparseRows

FORMAT = 5
_SPARSE = ("cf_ease", "cf_cooccurrence", "cf_transitions", "cb_items", "cb_token_items")
# Per-user and per-item strings (ids, persona values, titles: millions of them) load from numpy
# arrays, several times faster than the same strings parsed from JSON. A numpy unicode array
# pads every string to the longest at 4 bytes a character (a 1M-item catalog's titles took
# 140 MB), so titles and user ids are stored as UTF-8 bytes with their ends, and persona values
# as codes. Item ids stay a unicode array: ``catalog.store`` reads that file on its own.
_PACKED = ("catalog_user_ids", "catalog_titles")
_USERS = (
    "catalog_item_ids",
    "catalog_user_attrs",
    *(f"{n}_{part}" for n in _PACKED for part in ("utf8", "ends")),
)
_DENSE = (
    "pa_lift",
    "pa_log_popularity",
    "pa_segment_top",
    "pa_popular",
    "hist_indptr",
    "hist_items",
)
_ARRAYS = tuple(f"{s}_{part}" for s in _SPARSE for part in ("indptr", "indices", "data")) + _DENSE


class ArtifactError(RuntimeError):
    """The artifact is missing, unreadable, corrupt or of an unknown format."""


@dataclass
class Catalog:
    item_ids: list[str]
    titles: list[str]
    features: list[list[str]]
    user_ids: list[str]
    user_attrs: dict[str, list[str]]


@dataclass
class LoadedModel:
    model: HybridModel
    catalog: Catalog
    histories: Histories
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    def history(self, user: int) -> np.ndarray:
        return self.histories[user]


def _sha256(path: Path) -> str:
    """The file's sha256, hashed from a memory map in one call: hashlib releases the GIL for
    the whole file, so a check running beside the parsing thread (``load``) does not wait for
    the GIL at every chunk."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size:  # an empty file cannot be mapped
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                h.update(mapped)
    return h.hexdigest()


def _empty_rows(n_columns: int) -> SparseRows:
    return SparseRows(
        np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), n_columns
    )


def _arrays(model: HybridModel, histories: Histories) -> dict[str, np.ndarray]:
    g = model.cf.graphs
    sparse = {
        "cf_ease": g.ease if g.ease is not None else _empty_rows(model.n_items),
        "cf_cooccurrence": g.cooccurrence,
        "cf_transitions": g.transitions,
        "cb_items": model.cb.items,
        "cb_token_items": model.cb.token_items,
    }
    arrays = {
        f"{name}_{part}": getattr(rows, part)
        for name, rows in sparse.items()
        for part in ("indptr", "indices", "data")
    }
    arrays.update(
        pa_lift=model.pa.lift,
        pa_log_popularity=model.pa.log_popularity,
        pa_segment_top=model.pa.segment_top,
        pa_popular=model.pa.popular,
        hist_indptr=histories.indptr,
        hist_items=histories.items,
    )
    return arrays


def save(
    out_dir: str | Path,
    model: HybridModel,
    catalog: Catalog,
    histories: Histories,
    *,
    data_fingerprint: str,
    dataset: str,
    default_weights: tuple[float, float, float],
    metrics: dict[str, Any],
    engine: str = "local",
    graph_params: dict[str, Any] | None = None,
) -> Path:
    """Write the artifact atomically (to a sibling temp dir, then rename)."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    files: dict[str, str] = {}
    for name, arr in _arrays(model, histories).items():
        path = tmp / f"{name}.npy"
        np.save(path, np.ascontiguousarray(arr))
        files[path.name] = _sha256(path)
    attr_names = sorted(catalog.user_attrs)
    attr_values, attr_codes = _attribute_codes(catalog, attr_names)
    users = {
        "catalog_item_ids": np.asarray(catalog.item_ids, dtype=str),
        "catalog_user_attrs": attr_codes,
    }
    for name, strings in (
        ("catalog_user_ids", catalog.user_ids),
        ("catalog_titles", catalog.titles),
    ):
        users[f"{name}_utf8"], users[f"{name}_ends"] = pack_strings(strings)
    for name, arr in users.items():
        path = tmp / f"{name}.npy"
        np.save(path, arr, allow_pickle=False)
        files[path.name] = _sha256(path)
    catalog_doc = {
        "features": catalog.features,
        "user_attr_names": attr_names,
        "user_attr_values": attr_values,
        "cb_vocabulary": model.cb.vocabulary,
        "pa_segments": model.pa.segments,
    }
    (tmp / "catalog.json").write_text(json.dumps(catalog_doc, ensure_ascii=False))
    files["catalog.json"] = _sha256(tmp / "catalog.json")
    created = datetime.now(UTC)
    manifest = {
        "format": FORMAT,
        "version": f"{created:%Y%m%dT%H%M%SZ}-{data_fingerprint[:8]}",
        "created_at": created.isoformat(),
        "engine": engine,
        "dataset": dataset,
        "data_fingerprint": data_fingerprint,
        "n_items": len(catalog.item_ids),
        "n_users": len(catalog.user_ids),
        "has_ease": model.cf.graphs.ease is not None,
        "weights": {
            "default": list(default_weights),
            "tuned": list(model.tuned_weights) if model.tuned_weights else None,
        },
        "calibration": model.calibration.scales,
        "params": {
            "cf": asdict(model.cf.params),
            "cb": asdict(model.cb.params),
            "pa": asdict(model.pa.params),
            "graphs": graph_params or {},
        },
        "metrics": metrics,
        "files": files,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if out.exists():
        backup = out.with_name(f".{out.name}-old-{os.getpid()}")
        out.rename(backup)
        tmp.rename(out)
        _rmtree(backup)
    else:
        tmp.rename(out)
    return out


def _rmtree(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def _download(uri: str, cache_root: Path) -> Path:
    """Copy ``gs://bucket/prefix`` to a local directory (once per instance).

    Whoever can write to the bucket controls the manifest, so its file names are checked
    (``_listed_files``) before anything is written: a name such as ``../../x`` or ``/etc/x``
    is refused, and nothing lands outside (or inside) the cache folder."""
    import google.cloud.storage as storage  # heavy: imported only for a gs:// model

    bucket_name, _, prefix = uri[len("gs://") :].partition("/")
    prefix = prefix.rstrip("/")
    client = storage.Client()
    bucket = client.bucket(bucket_name)
    raw = bucket.blob(f"{prefix}/manifest.json").download_as_bytes()
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise ArtifactError(f"unreadable model manifest at {uri}: {exc}") from None
    names = _listed_files(manifest, uri)
    target = cache_root / hashlib.sha256(uri.encode()).hexdigest()[:16]
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        bucket.blob(f"{prefix}/{name}").download_to_filename(str(target / name))
    (target / "manifest.json").write_bytes(raw)
    return target


def _expected_files() -> set[str]:
    return {f"{n}.npy" for n in (*_ARRAYS, *_USERS)} | {"catalog.json"}


def _listed_files(manifest: Any, uri: str) -> list[str]:
    """The files a manifest lists, refused unless the format is this engine's and they are
    exactly its files: plain names (no path separator, no ``..``, nothing absolute), nothing
    extra, nothing missing. Checked before a download writes any of them."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ArtifactError(
            f"unknown artifact format {found!r} at {uri} (this engine reads format {FORMAT}; "
            "retrain with make train)"
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ArtifactError(f"artifact at {uri} has no file list")
    names = [str(n) for n in files]
    unsafe = [n for n in names if n != Path(n).name or n in ("", ".", "..") or "\\" in n]
    if unsafe or set(names) != _expected_files():
        raise ArtifactError(f"artifact at {uri} lists unexpected files")
    return names


def _read_manifest(uri: str, cache_root: Path | None) -> tuple[Path, dict[str, Any]]:
    try:
        if uri.startswith("gs://"):
            try:
                root = _download(uri, cache_root or Path(tempfile.gettempdir()) / "model-cache")
            except ArtifactError:
                raise
            except Exception as exc:  # NotFound, Forbidden, network: all "no model"
                raise ArtifactError(f"cannot download model artifact {uri}: {exc}") from None
        else:
            root = Path(uri)
        manifest = json.loads((root / "manifest.json").read_text())
    except FileNotFoundError:
        raise ArtifactError(f"no model artifact at {uri}") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"unreadable model manifest at {uri}: {exc}") from None
    _listed_files(manifest, uri)
    return root, manifest


def _verify(root: Path, files: dict[str, str], uri: str) -> None:
    """Every file against its sha256 in the manifest (``ArtifactError`` naming the first that
    is missing or differs). hashlib releases the GIL on large buffers: the files are checked
    two at a time, and ``load`` runs this beside its parsing (see there)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = pool.map(lambda n: _sha256(root / n) if (root / n).exists() else "", files)
        digests = dict(zip(files, found, strict=True))
    for name, digest in files.items():
        if digests[name] != digest:
            raise ArtifactError(f"artifact file {name} at {uri} is missing or corrupt")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the catalog's millions of small lists are built.

    Every few hundred new containers trigger a collection that walks the ones already made, so
    decoding a 1M-item catalog's features spent more time in the collector than in the parser
    (1.0 s instead of 0.4 s). None of these objects form cycles (reference counting frees
    them), so nothing is lost by collecting once, later."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def pack_strings(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 byte array, NUL-separated, and each string's end in characters of
    the decoded text: loading is one decode and one split (a string holding a NUL itself
    falls back on the ends)."""
    lengths = np.fromiter((len(t) for t in strings), dtype=np.int64, count=len(strings))
    ends = np.cumsum(lengths + 1) - 1
    return np.frombuffer("\0".join(strings).encode("utf-8"), dtype=np.uint8), ends


def unpack_strings(utf8: np.ndarray, ends: np.ndarray) -> list[str]:
    """The inverse of ``pack_strings``; ``ValueError`` when the two do not fit together."""
    text = utf8.tobytes().decode("utf-8")  # UnicodeDecodeError is a ValueError
    n = len(ends)
    last = int(ends[-1]) if n else 0
    if last != len(text):
        raise ValueError("string ends do not fit the text")
    if n == 0:
        return []
    parts = text.split("\0")
    if len(parts) == n:
        return parts
    starts = np.concatenate([[0], ends[:-1] + 1])
    if bool((ends < starts).any()):
        raise ValueError("string ends do not fit the text")
    return [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _load_strings(root: Path, name: str) -> list[str]:
    return unpack_strings(
        np.load(root / f"{name}_utf8.npy", allow_pickle=False),
        np.load(root / f"{name}_ends.npy", allow_pickle=False),
    )


def _attribute_codes(catalog: Catalog, names: list[str]) -> tuple[list[str], np.ndarray]:
    """Persona values as (the distinct values, users x attributes codes into them): a few
    dozen values repeated over millions of users."""
    columns = [np.asarray(catalog.user_attrs[a], dtype=object).astype(str) for a in names]
    if not columns:
        return [], np.zeros((len(catalog.user_ids), 0), dtype=np.int32)
    values, codes = np.unique(np.stack(columns, axis=1), return_inverse=True)
    return values.tolist(), codes.reshape(len(catalog.user_ids), len(names)).astype(np.int32)


def _rows(arrays: dict[str, np.ndarray], name: str, n_columns: int) -> SparseRows:
    return SparseRows(
        arrays[f"{name}_indptr"], arrays[f"{name}_indices"], arrays[f"{name}_data"], n_columns
    )


def load(uri: str, cache_root: Path | None = None) -> LoadedModel:
    """Load and verify an artifact from a local path or ``gs://`` URI.

    Every file is checked against the manifest's sha256 before anything is returned: a
    corrupt artifact never serves. The check runs in a background thread while this one
    parses the catalog, and the arrays are memory-mapped, so the files are read once (the
    check brings them into the page cache the mapping then uses) and cold start pays for the
    check only where it is longer than the parsing. A file that fails its check is reported
    as corrupt even when parsing it failed first."""
    root, manifest = _read_manifest(uri, cache_root)
    with ThreadPoolExecutor(max_workers=1) as pool:
        verified = pool.submit(_verify, root, manifest["files"], uri)
        try:
            with _gc_paused():
                loaded = _parse(root, manifest)
        except Exception as exc:  # whatever a damaged file makes numpy or json raise
            verified.result()  # a checksum failure explains the parse error: it wins
            raise ArtifactError(f"unreadable or inconsistent artifact at {uri}: {exc}") from None
        verified.result()
    return loaded


def _parse(root: Path, manifest: dict[str, Any]) -> LoadedModel:
    # Memory-mapped (no copy at cold start), viewed as plain arrays (np.memmap's per-index
    # overhead costs more than the scoring itself).
    arrays = {n: np.load(root / f"{n}.npy", mmap_mode="r").view(np.ndarray) for n in _ARRAYS}
    doc = json.loads((root / "catalog.json").read_text())
    doc["item_ids"] = np.load(root / "catalog_item_ids.npy", allow_pickle=False).tolist()
    doc["titles"] = _load_strings(root, "catalog_titles")
    doc["user_ids"] = _load_strings(root, "catalog_user_ids")
    codes = np.load(root / "catalog_user_attrs.npy", allow_pickle=False)
    values = np.asarray(doc["user_attr_values"], dtype=object)
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= len(values)):
        raise ValueError("persona value codes out of range")
    doc["user_attrs"] = {
        a: values[codes[:, j]].tolist() for j, a in enumerate(doc["user_attr_names"])
    }
    return _assemble(arrays, doc, manifest)


def _assemble(
    arrays: dict[str, np.ndarray], doc: dict[str, Any], manifest: dict[str, Any]
) -> LoadedModel:
    params = manifest["params"]
    n_items = len(doc["item_ids"])
    vocabulary = list(doc["cb_vocabulary"])
    graphs = ItemGraphs(
        cooccurrence=_rows(arrays, "cf_cooccurrence", n_items),
        transitions=_rows(arrays, "cf_transitions", n_items),
        ease=_rows(arrays, "cf_ease", n_items) if manifest.get("has_ease") else None,
    )
    cf = SequenceCF(graphs, CFParams(**params["cf"]))
    cb = ContentModel(
        _rows(arrays, "cb_items", len(vocabulary)),
        vocabulary,
        _rows(arrays, "cb_token_items", n_items),
        CBParams(**params["cb"]),
    )
    pa = PersonaModel(
        {a: dict(v) for a, v in doc["pa_segments"].items()},
        arrays["pa_lift"],
        arrays["pa_log_popularity"],
        arrays["pa_segment_top"],
        arrays["pa_popular"],
        PAParams(**params["pa"]),
    )
    tuned = manifest["weights"]["tuned"]
    model = HybridModel(
        cf=cf,
        cb=cb,
        pa=pa,
        calibration=BlendCalibration(dict(manifest["calibration"])),
        tuned_weights=None
        if tuned is None
        else (float(tuned[0]), float(tuned[1]), float(tuned[2])),
    )
    catalog = Catalog(
        item_ids=doc["item_ids"],
        titles=doc["titles"],
        features=doc["features"],
        user_ids=doc["user_ids"],
        user_attrs=doc["user_attrs"],
    )
    histories = Histories(arrays["hist_indptr"], arrays["hist_items"])
    shapes_ok = (
        all(g.n_rows == n_items for g in (graphs.cooccurrence, graphs.transitions))
        and cb.items.n_rows == n_items
        and pa.lift.shape[1:] == (n_items,)
        and pa.log_popularity.shape == (n_items,)
        and len(histories) == len(catalog.user_ids)
        and len(catalog.titles) == n_items
        and pa.segment_top.shape[0] == pa.lift.shape[0]
        and len(pa.popular) == n_items
        and (len(histories.items) == 0 or int(histories.items.min()) >= 0)
        and (len(histories.items) == 0 or int(histories.items.max()) < n_items)
        and (pa.segment_top.size == 0 or int(pa.segment_top.max()) < n_items)
    )
    if not shapes_ok:
        raise ValueError("inconsistent shapes")
    # The compiled views check every index once here (a corrupt index is refused at load).
    for rows in (graphs.cooccurrence, graphs.transitions, graphs.ease, cb.items, cb.token_items):
        if rows is not None:
            _ = rows.kernel
    return LoadedModel(model, catalog, histories, manifest)
