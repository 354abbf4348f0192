"""Timestamps and weights from whatever a file holds: numbers, ISO 8601 text, or a mix.

Parsed column-wise with pyarrow; a value that does not parse is found by bisection (a few
casts of halves, not a Python loop over rows) and named by its file and row.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recoengine.data.tables import Table, first_true

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_ZONE = r"(Z|z|[+-]\d\d(:?\d\d)?)$"


def _first_failure(arr: pa.Array, convert: Callable[[pa.Array], object]) -> int:
    """The first position where ``convert`` fails, by bisection (``convert(arr)`` must fail)."""
    lo, hi = 0, len(arr)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            convert(arr.slice(lo, mid - lo))
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    return lo


def _iso_seconds(values: pa.Array, zoned: bool) -> np.ndarray:
    target = pa.timestamp("ns", tz="UTC") if zoned else pa.timestamp("ns")
    return values.cast(target).cast(pa.int64()).to_numpy(zero_copy_only=False) / 1e9


def epoch_seconds(table: Table, name: str) -> np.ndarray:
    """Column ``name`` as float64 seconds since the epoch: numbers or ISO 8601 strings.

    ISO strings without a zone are taken as UTC (the same on every machine).
    """
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    missing = first_true(pc.is_null(col))
    if missing is not None:
        raise table.error(missing, f"missing {name}")
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        out = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    elif pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        stamps = col.cast(pa.timestamp("ns", tz=getattr(col.type, "tz", None)))
        out = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False) / 1e9
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        out = _string_seconds(table, name, pc.utf8_trim_whitespace(col))
    else:
        raise table.error(0, f"{name} has type {col.type}; expected a number or ISO 8601 text")
    bad = first_true(~np.isfinite(out))
    if bad is not None:
        raise table.error(bad, f"bad {name} {float(out[bad])!r}")
    return np.asarray(out, dtype=np.float64)


def _string_seconds(table: Table, name: str, col: pa.Array) -> np.ndarray:
    numeric = pc.match_substring_regex(col, _NUMBER).to_numpy(zero_copy_only=False)
    out = np.empty(len(col), dtype=np.float64)
    if numeric.all():
        out[:] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return out
    if numeric.any():
        out[numeric] = col.filter(pa.array(numeric)).cast(pa.float64()).to_numpy()
    zoned = pc.match_substring_regex(col, _ZONE).to_numpy(zero_copy_only=False)
    for want_zone in (True, False):
        rows = np.flatnonzero(~numeric & (zoned == want_zone))
        if not rows.size:
            continue
        values = col.take(pa.array(rows))
        if want_zone:  # pyarrow wants "+hh:mm"; "Z" and "+hhmm" are fine too
            values = pc.replace_substring_regex(values, r"([+-]\d\d)$", r"\1:00")
        try:
            out[rows] = _iso_seconds(values, want_zone)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            at = int(rows[_first_failure(values, partial(_iso_seconds, zoned=want_zone))])
            raise table.error(
                at, f"bad {name} {col[at].as_py()!r} (expected epoch seconds or ISO 8601)"
            ) from None
    return out


def weights(table: Table, name: str = "weight") -> np.ndarray:
    """Column ``name`` as finite float32 weights >= 0; absent or empty means 1."""
    if not table.has(name):
        return np.ones(table.num_rows, dtype=np.float32)
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pc.utf8_trim_whitespace(col)
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        numeric = pc.match_substring_regex(col, _NUMBER)
        bad = first_true(pc.invert(pc.fill_null(numeric, True)))
        if bad is not None:
            raise table.error(bad, f"bad {name} {col[bad].as_py()!r}")
    elif not (
        pa.types.is_integer(col.type)
        or pa.types.is_floating(col.type)
        or pa.types.is_null(col.type)
    ):
        raise table.error(0, f"{name} has type {col.type}; expected a number")
    values = pc.fill_null(col.cast(pa.float64()), 1.0).to_numpy(zero_copy_only=False)
    bad = first_true(~(np.isfinite(values) & (values >= 0)))
    if bad is not None:
        raise table.error(bad, f"{name} must be a finite number >= 0, found {float(values[bad])!r}")
    return values.astype(np.float32)
