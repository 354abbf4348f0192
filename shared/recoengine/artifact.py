"""The versioned model artifact: numpy arrays plus a JSON manifest, in a directory or on GCS.

Layout (one directory per version)::

    manifest.json   format, version, created_at, data fingerprint, weights, calibration,
                    component parameters, metrics, and the sha256 of every other file
    catalog.json    item ids/titles/features, user ids, persona segments
    *.npy           the component arrays and the users' training histories (CSR)

Serving loads it read-only (arrays memory-mapped, so cold start does not copy them) and checks
every file against the manifest's checksum: a truncated or tampered artifact is refused
(``ArtifactError``) instead of serving garbage. ``gs://bucket/prefix`` URIs are downloaded once
per instance into a local cache directory with ``google-cloud-storage``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recoengine.models.blend import BlendCalibration
from recoengine.models.collaborative import CFParams, SequenceCF
from recoengine.models.content import CBParams, ContentModel
from recoengine.models.hybrid import HybridModel
from recoengine.models.persona import PAParams, PersonaModel

FORMAT = 1
_ARRAYS = (
    "cf_ease",
    "cf_transitions",
    "cb_matrix",
    "pa_lift",
    "pa_log_popularity",
    "hist_indptr",
    "hist_items",
)


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
    hist_indptr: np.ndarray
    hist_items: np.ndarray
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    def history(self, user: int) -> np.ndarray:
        return self.hist_items[self.hist_indptr[user] : self.hist_indptr[user + 1]]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save(
    out_dir: str | Path,
    model: HybridModel,
    catalog: Catalog,
    histories: list[np.ndarray],
    *,
    data_fingerprint: str,
    dataset: str,
    default_weights: tuple[float, float, float],
    metrics: dict[str, Any],
) -> Path:
    """Write the artifact atomically (to a sibling temp dir, then rename)."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    assert model.cf.ease is not None and model.cf.transitions is not None
    assert model.cb.matrix is not None and model.pa.lift is not None
    assert model.pa.log_popularity is not None
    indptr = np.zeros(len(histories) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(h) for h in histories])
    arrays = {
        "cf_ease": model.cf.ease,
        "cf_transitions": model.cf.transitions,
        "cb_matrix": model.cb.matrix,
        "pa_lift": model.pa.lift,
        "pa_log_popularity": model.pa.log_popularity,
        "hist_indptr": indptr,
        "hist_items": (
            np.concatenate(histories).astype(np.int32) if histories else np.zeros(0, np.int32)
        ),
    }
    files: dict[str, str] = {}
    for name, arr in arrays.items():
        path = tmp / f"{name}.npy"
        np.save(path, np.ascontiguousarray(arr))
        files[path.name] = _sha256(path)
    catalog_doc = {
        **asdict(catalog),
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
        "dataset": dataset,
        "data_fingerprint": data_fingerprint,
        "n_items": len(catalog.item_ids),
        "n_users": len(catalog.user_ids),
        "weights": {
            "default": list(default_weights),
            "tuned": list(model.tuned_weights or default_weights),
        },
        "calibration": model.calibration.scales,
        "params": {
            "cf": asdict(model.cf.params),
            "cb": asdict(model.cb.params),
            "pa": asdict(model.pa.params),
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
    """Copy ``gs://bucket/prefix`` to a local directory (once per instance)."""
    import google.cloud.storage as storage  # heavy: imported only for a gs:// model

    bucket_name, _, prefix = uri[len("gs://") :].partition("/")
    prefix = prefix.rstrip("/")
    target = cache_root / hashlib.sha256(uri.encode()).hexdigest()[:16]
    target.mkdir(parents=True, exist_ok=True)
    client = storage.Client()
    bucket = client.bucket(bucket_name)
    manifest_blob = bucket.blob(f"{prefix}/manifest.json")
    manifest_blob.download_to_filename(str(target / "manifest.json"))
    manifest = json.loads((target / "manifest.json").read_text())
    for name in manifest.get("files", {}):
        bucket.blob(f"{prefix}/{name}").download_to_filename(str(target / name))
    return target


def load(uri: str, cache_root: Path | None = None) -> LoadedModel:
    """Load and verify an artifact from a local path or ``gs://`` URI."""
    try:
        if uri.startswith("gs://"):
            try:
                root = _download(uri, cache_root or Path(tempfile.gettempdir()) / "model-cache")
            except Exception as exc:  # NotFound, Forbidden, network: all "no model"
                raise ArtifactError(f"cannot download model artifact {uri}: {exc}") from None
        else:
            root = Path(uri)
        manifest = json.loads((root / "manifest.json").read_text())
    except FileNotFoundError:
        raise ArtifactError(f"no model artifact at {uri}") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"unreadable model manifest at {uri}: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"unknown artifact format {manifest.get('format')!r} at {uri}")
    files = manifest.get("files", {})
    expected = {f"{n}.npy" for n in _ARRAYS} | {"catalog.json"}
    if set(files) != expected:
        raise ArtifactError(f"artifact at {uri} lists unexpected files")
    for name, digest in files.items():
        path = root / name
        if not path.exists() or _sha256(path) != digest:
            raise ArtifactError(f"artifact file {name} at {uri} is missing or corrupt")
    try:
        # Memory-mapped (no copy at cold start), viewed as plain arrays (np.memmap's
        # per-index overhead costs more than the scoring itself).
        arrays = {n: np.load(root / f"{n}.npy", mmap_mode="r").view(np.ndarray) for n in _ARRAYS}
        doc = json.loads((root / "catalog.json").read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"unreadable artifact at {uri}: {exc}") from None
    params = manifest["params"]
    cf = SequenceCF(CFParams(**params["cf"]))
    cf.ease, cf.transitions = arrays["cf_ease"], arrays["cf_transitions"]
    cb = ContentModel(CBParams(**params["cb"]))
    cb.matrix, cb.vocabulary = arrays["cb_matrix"], list(doc["cb_vocabulary"])
    pa = PersonaModel(PAParams(**params["pa"]))
    pa.lift, pa.log_popularity = arrays["pa_lift"], arrays["pa_log_popularity"]
    pa.segments = {a: dict(v) for a, v in doc["pa_segments"].items()}
    weights = manifest["weights"]
    model = HybridModel(
        cf=cf,
        cb=cb,
        pa=pa,
        calibration=BlendCalibration(dict(manifest["calibration"])),
        tuned_weights=(
            float(weights["tuned"][0]),
            float(weights["tuned"][1]),
            float(weights["tuned"][2]),
        ),
    )
    catalog = Catalog(
        item_ids=list(doc["item_ids"]),
        titles=list(doc["titles"]),
        features=[list(f) for f in doc["features"]],
        user_ids=list(doc["user_ids"]),
        user_attrs={k: list(v) for k, v in doc["user_attrs"].items()},
    )
    if cf.ease.shape != (len(catalog.item_ids), len(catalog.item_ids)):
        raise ArtifactError(f"artifact at {uri} has inconsistent shapes")
    return LoadedModel(model, catalog, arrays["hist_indptr"], arrays["hist_items"], manifest)
