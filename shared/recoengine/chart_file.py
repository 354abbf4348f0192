"""Where a chart goes: checked before the work that feeds it, not after.

``make eval PLOT=...`` trains and scores for minutes before it draws, so a folder that does not
exist or cannot be written must be found at the start, not by a ``FileNotFoundError`` at the
end. Both charts (the eval comparison and the canary timeline) call :func:`check_writable`
first: the folder checks are the command lines' own (``recoengine.outputs``), plus a refusal of
a file name matplotlib would not know how to write.
"""

from __future__ import annotations

from pathlib import Path

from recoengine import outputs
from recoengine.errors import DataError

FORMATS = (".png", ".svg", ".pdf")


def check_writable(path: str | Path) -> Path:
    """Create ``path``'s folder and check a chart can be written there; otherwise raise a
    ``DataError`` (a ``ValueError``) whose one-line message names the path and the problem."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise DataError(str(target), None, f"a chart needs a {', '.join(FORMATS)} file name")
    return outputs.writable_file(target)
