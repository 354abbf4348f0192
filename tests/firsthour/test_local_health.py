"""Under the local stack (one process serving all three functions), ``/health`` and
``/health/detailed`` report every function's components, and "listening on" is printed only
once the server answers."""

from __future__ import annotations

import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.firsthour.support import ROOT, env_with
from tools.localstack import free_port, stop

LISTENING = "local stack listening on "


def _lines(proc: subprocess.Popen[str], timeout: float) -> Iterator[str]:
    """The process's stdout lines as they come, until ``timeout`` seconds have passed."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and sel.select(deadline - time.monotonic()):
            line = proc.stdout.readline()
            if not line:
                return
            yield line


@pytest.fixture(scope="module")
def listening(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stack as ``make run`` starts it; yields its URL the moment it says it listens."""
    port = free_port()
    env = env_with(
        MODEL_URI=str(demo_model_dir),
        VAR_DIR=str(tmp_path_factory.mktemp("var")),
        LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.localstack", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        said = next((line for line in _lines(proc, 120) if line.startswith(LISTENING)), "")
        assert said.startswith(f"{LISTENING}http://127.0.0.1:{port} ("), said
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_it_answers_as_soon_as_it_says_it_listens(listening: str) -> None:
    assert requests.get(listening + "/health", timeout=10).status_code == 200


def test_detailed_health_lists_every_function_and_its_components(listening: str) -> None:
    report = requests.get(listening + "/health/detailed", timeout=10).json()
    assert report["status"] == "ok"
    assert report["functions"] == ["recommend", "chat", "canary"]
    components = report["components"]
    assert components["recommender"]["model_version"]  # recommend's own
    assert components["chat.store"] == {**components["chat.store"], "backend": "sqlite"}
    assert components["chat.llm"]["backend"] == "offline"
    assert components["chat.recommender"]["status"] == "ok"
    assert components["canary.state"]["backend"] == "sqlite"
    assert all(c["status"] == "ok" for c in components.values())
    summary = requests.get(listening + "/health", timeout=10).json()
    assert set(summary["components"]) == set(components)
