"""A local stack (demo model, SQLite sessions, a known canary token) for the security tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.localstack import local_stack

CANARY_TOKEN = "security-canary-token-0123456789"


@pytest.fixture(scope="module")
def stack(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "MODEL_URI": str(demo_model_dir),
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "CANARY_TOKEN": CANARY_TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    with local_stack(env) as base:
        yield base
