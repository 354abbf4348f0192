"""The catalog's settings, read from the environment (to move into ``recoengine.config``).

- ``CATALOG_REFRESH_SECONDS`` (default 60): how often a running instance checks for a newer
  catalog update;
- ``CATALOG_NEW_ITEM_SHARE`` (default 0.0, off): the share of each answer's slots reserved for
  items added by catalog updates (0.2 with k=10: two slots), for shops that want exposure for
  new products.
"""

from __future__ import annotations

import os

from recoengine.errors import ConfigError

DEFAULT_REFRESH_SECONDS = 60.0
DEFAULT_NEW_ITEM_SHARE = 0.0


def _number(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r}: expected a number from {low:g} to {high:g}")
    return value


def refresh_seconds() -> float:
    return _number("CATALOG_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS, 0.1, 86400.0)


def new_item_share() -> float:
    return _number("CATALOG_NEW_ITEM_SHARE", DEFAULT_NEW_ITEM_SHARE, 0.0, 1.0)
