"""Secrets that ``make run`` creates for itself: random, kept in a file of mode 0600 under
``var/``, reused across restarts. In the cloud the same secrets come from configuration
(Secret Manager or IAM), never from here."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


def load_or_create(path: Path, what: str) -> str:
    """The secret in ``path``; a new random one if the file is missing, empty or readable by
    others (a leaked file is replaced, not trusted). ``what`` names it in the log line."""
    try:
        existing = path.read_text().strip()
        if existing and (path.stat().st_mode & 0o077) == 0:
            return existing
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)
    log.warning("%s generated: read it from %s (mode 0600)", what, path)
    return secret
