"""Data: the in-memory dataset, loaders for the documented formats, and the demo generator.

The loaders (pyarrow) load on first use: serving imports ``Dataset``'s package through the
models and must not pay pyarrow's import at cold start.
"""

from typing import Any

from recoengine.data.dataset import Dataset

__all__ = ["FORMATS", "Dataset", "detect_format", "load_dataset", "resolve_format"]


def __getattr__(name: str) -> Any:
    if name in ("FORMATS", "detect_format", "load_dataset", "resolve_format"):
        from recoengine.data import loaders

        return getattr(loaders, name)
    raise AttributeError(name)
