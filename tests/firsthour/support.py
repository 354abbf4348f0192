"""Running the project's entry points as a new user does: real subprocesses, real make."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools.localstack import checkout_path

ROOT = Path(__file__).resolve().parents[2]


def env_with(**overrides: str) -> dict[str, str]:
    """The environment a subprocess gets: this one, the checkout on PYTHONPATH, the overrides."""
    return {**os.environ, "PYTHONPATH": checkout_path(), **overrides}


def python(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m ...`` from the checkout, as the Makefile's recipes run it."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env_with(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make(*args: str) -> subprocess.CompletedProcess[str]:
    """``make`` in the checkout. Only targets without install prerequisites, or dry runs
    (``-n``): a test never installs into the project's venv."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
