"""The API's OpenAPI 3.1 document, kept in the package (``recoengine/openapi.yaml``).

It is written by hand as YAML (reviewable, commented) and served as JSON at ``/openapi.json``
by every function. It is loaded on the first request for it, never at import: cold start
matters and most instances are never asked for it. Tests check that it lists exactly the
routes the functions register and that real requests and answers validate against it.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

_lock = threading.Lock()


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The parsed document (a fresh parse per process, shared read-only afterwards)."""
    import yaml  # only when the document is asked for

    with _lock:
        text = resources.files("recoengine").joinpath("openapi.yaml").read_text("utf-8")
        data = yaml.safe_load(text)
    if not isinstance(data, dict) or not str(data.get("openapi", "")).startswith("3.1"):
        raise ValueError("recoengine/openapi.yaml is not an OpenAPI 3.1 document")
    return data


@lru_cache(maxsize=1)
def document_json() -> bytes:
    return orjson.dumps(document())


def operations(doc: dict[str, Any] | None = None) -> set[tuple[str, str]]:
    """``(METHOD, path template)`` of every operation in the document."""
    doc = document() if doc is None else doc
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {
        (method.upper(), path)
        for path, item in doc.get("paths", {}).items()
        for method in item
        if method in methods
    }
