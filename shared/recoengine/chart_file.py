"""Where a chart goes: checked before the work that feeds it, not after.

``make eval PLOT=...`` trains and scores for minutes before it draws, so a folder that does not
exist or cannot be written must be found at the start, not by a ``FileNotFoundError`` at the
end. Both charts (the eval comparison and the canary timeline) call :func:`check_writable`
first; it creates the folder and proves it writable by writing (``os.access`` says yes to root
even on a read-only mount), and refuses a format matplotlib cannot write.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

FORMATS = (".png", ".svg", ".pdf")


def check_writable(path: str | Path) -> Path:
    """Create ``path``'s folder and check a chart can be written there; raise ``ValueError``
    with a one-line message saying what is wrong otherwise."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise ValueError(f"chart {target}: use a {', '.join(FORMATS)} file name")
    if target.is_dir():
        raise ValueError(f"chart {target}: is a folder, give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            with target.open("ab"):
                pass
        else:
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".chart-check-"):
                pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"chart {target}: cannot write there ({reason})") from None
    return target
