"""The local stack (``make run``'s server) in a subprocess, for end-to-end tests over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.localstack import running as local_stack

__all__ = ["CANARY_TOKEN", "local_stack", "stack"]

CANARY_TOKEN = "test-canary-token-0123456789"


@pytest.fixture(scope="module")
def stack(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local stack with the demo model, SQLite sessions and a known canary token."""
    env = {
        "MODEL_URI": str(demo_model_dir),
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "CANARY_TOKEN": CANARY_TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    with local_stack(env) as base:
        yield base
