"""Google's Firestore emulator as a child process: the tests' fixtures and the benchmarks use it.

The emulator ships with the Debian package ``google-cloud-cli-firestore-emulator``; Java 17 runs
it. We start Java directly (the gcloud wrapper leaves the JVM running when killed).
``find_jar()`` answers None on a machine with no emulator: callers then skip with ``HOW_TO_GET``.
The pytest fixtures (``firestore_emulator``, ``firestore_client``) live in ``tests/conftest.py``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

PROJECT = "test-project"
_JAR_GLOBS = (
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
    "/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
    os.path.expanduser("~/google-cloud-sdk/platform/cloud-firestore-emulator/*.jar"),
)
HOW_TO_GET = (
    "Firestore emulator not found: install the Debian package "
    "google-cloud-cli-firestore-emulator (and a Java 17 runtime), or set FIRESTORE_EMULATOR_JAR"
)


def find_jar() -> str | None:
    explicit = os.environ.get("FIRESTORE_EMULATOR_JAR")
    if explicit and os.path.exists(explicit):
        return explicit
    for pattern in _JAR_GLOBS:
        for path in glob.glob(pattern):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=1) as r:
            return r.read().strip() == b"Ok"
    except OSError:
        return False


class FirestoreEmulator:
    """One emulator process; ``stop()``/``start()`` let fault tests take it away mid-run."""

    def __init__(self, jar: str, port: int | None = None) -> None:
        self.jar = jar
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        java = shutil.which("java") or "java"
        self.proc = subprocess.Popen(
            [
                java,
                "-Xmx512m",
                "-cp",
                self.jar,
                "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
                "start",
                "--host=127.0.0.1",
                f"--port={self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Firestore emulator exited with {self.proc.returncode}")
            if _ready(self.host):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("Firestore emulator did not become ready in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def reset(self, project: str = PROJECT) -> None:
        req = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents",
            method="DELETE",
        )
        with urllib.request.urlopen(req, timeout=10):
            pass


def runnable_jar() -> str | None:
    """The emulator's jar when this machine can run it (the jar and a Java runtime), else None."""
    jar = find_jar()
    return jar if jar is not None and shutil.which("java") is not None else None


@contextmanager
def emulator_if_available() -> Iterator[FirestoreEmulator | None]:
    """A started emulator, stopped on exit; None on a machine that has none (callers skip)."""
    jar = runnable_jar()
    if jar is None:
        yield None
        return
    emulator = FirestoreEmulator(jar)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
