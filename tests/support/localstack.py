"""Start the local stack (``make run``'s server) in a subprocess for end-to-end tests over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.firestore_emulator import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def local_stack(env: dict[str, str], timeout: float = 60.0) -> Iterator[str]:
    """Yield the base URL of a running local stack with ``env`` added to the environment."""
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "localstack.py"), "--port", str(port)],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"local stack exited with {proc.returncode}")
            try:
                requests.get(f"{base}/health", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("local stack did not start in time") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
