"""The local stack (``make run``'s server) in a subprocess, for end-to-end tests over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.localstack import running as local_stack

__all__ = ["CANARY_TOKEN", "local_env", "local_stack", "stack"]

CANARY_TOKEN = "test-canary-token-0123456789"


def local_env(model: Path, var_dir: Path) -> dict[str, str]:
    """The demo model, SQLite sessions under ``var_dir`` and a known canary token."""
    return {
        "MODEL_URI": str(model),
        "VAR_DIR": str(var_dir),
        "CANARY_TOKEN": CANARY_TOKEN,
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def stack(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local stack with the demo model, SQLite sessions and a known canary token."""
    with local_stack(local_env(demo_model_dir, tmp_path_factory.mktemp("var"))) as base:
        yield base
