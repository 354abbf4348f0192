"""Where the command lines write, checked before the work starts.

A run that loads, trains or evaluates for minutes must not fail at its last step because its
output folder is missing or read-only: ``writable_dir`` and ``writable_file`` create the folder
(or refuse with a ``DataError`` naming the path) up front. ``new_model_dir`` gives a training run
without an explicit destination a fresh, versioned folder, so that ``make train`` never replaces
the model that ``make run`` serves.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from recoengine.errors import DataError

MANIFEST = "manifest.json"


def writable_dir(path: str | Path) -> Path:
    """``path`` as a folder that exists and can be written to (created with its parents)."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(str(folder), None, "is a file; expected a folder") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DataError(str(folder), None, f"cannot create this folder ({reason})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(str(folder), None, "this folder is not writable")
    return folder


def writable_file(path: str | Path) -> Path:
    """``path`` as a file that can be written: its folder exists (created) and is writable,
    and ``path`` itself is not a folder."""
    file = Path(path)
    if file.is_dir():
        raise DataError(str(file), None, "is a folder; expected a file name")
    writable_dir(file.parent)
    return file


def model_version(folder: str | Path) -> str | None:
    """The version of the model artifact in ``folder``, or None when it holds none."""
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        return None
    try:
        return str(json.loads(manifest.read_text()).get("version", "unknown"))
    except (OSError, ValueError):
        return "unknown"


def new_model_dir(root: str | Path, now: datetime | None = None) -> Path:
    """A new, empty folder under ``root`` named for the UTC time (``20260105T143012Z``, then
    ``-2``, ``-3`` ... when a run in the same second took it): names sort by age, and two runs
    never share one."""
    base = writable_dir(root)
    stamp = f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}"
    for seq in range(1, 1000):
        folder = base / (stamp if seq == 1 else f"{stamp}-{seq}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise DataError(str(base), None, f"too many models named {stamp}*")
