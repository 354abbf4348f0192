"""Firestore's documented storage size of a document, to check what a message costs.

Rules from https://cloud.google.com/firestore/docs/storage-size: a document is the size of
its name + the sizes of its field names and values + 32 bytes; a name is the sum of its
collection and document ids (each UTF-8 length + 1) + 16; strings are UTF-8 length + 1;
integers, doubles and timestamps 8; booleans and null 1; arrays and maps the sum of their
parts (maps count their keys as strings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def _string(value: str) -> int:
    return len(value.encode("utf-8")) + 1


def value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | datetime):
        return 8
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_string(str(k)) + value_size(v) for k, v in value.items())
    if isinstance(value, Sequence):
        return sum(value_size(v) for v in value)
    raise TypeError(f"no size rule for {type(value).__name__}")


def document_size(path: Sequence[str], data: Mapping[str, Any]) -> int:
    """``path`` alternates collection and document ids, e.g. ("sessions", id, "messages", n)."""
    name = sum(_string(part) for part in path) + 16
    return name + value_size(data) + 32
