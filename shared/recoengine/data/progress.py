"""Progress while a large file is read: a tqdm bar on stderr counting the bytes pyarrow consumes.

pyarrow reads a Python file object in large blocks (megabytes), so counting them costs nothing
measurable; without progress the reader gets the path and maps the file itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

_QUIET_BELOW = 32 << 20  # bytes: smaller files read in well under a second, no bar


class ByteProgress:
    """A binary file object that advances a progress bar by the bytes read through it."""

    def __init__(self, fh: IO[bytes], bar: Any) -> None:
        self._fh = fh
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(size)
        self._bar.update(len(chunk))
        return chunk

    def readable(self) -> bool:  # the file protocol pyarrow checks
        return True

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def close(self) -> None:
        self._fh.close()


def bar(total: int, desc: str, unit: str) -> Any:
    """A tqdm bar on stderr that disappears when done (a context manager; ``update(n)``)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, leave=False)


@contextmanager
def reading(path: Path, progress: bool) -> Iterator[Any]:
    """What to hand pyarrow's reader for ``path``: the path, or a byte-counting file object."""
    size = path.stat().st_size
    if not progress or size < _QUIET_BELOW:
        yield str(path)
        return
    with path.open("rb") as fh, bar(size, f"reading {path.name}", "B") as bytes_read:
        yield ByteProgress(fh, bytes_read)
