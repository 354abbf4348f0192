"""A local SparkSession for tests and the command line, started once per process.

Sized for a small shared machine: ``local[2]``, a handful of shuffle partitions (the default 200
would make every small shuffle 200 tasks), no UI, quiet logs, scratch space in a temporary
directory. In the cloud Dataproc Serverless builds the session itself (``recoengine.spark.job``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_lock = threading.Lock()
_session: SparkSession | None = None

JAVA_HINT = (
    "the Spark trainer needs Java 17 (java on PATH or JAVA_HOME): run `make system-deps` "
    "(Debian package openjdk-17-jre-headless)"
)


class SparkUnavailable(RuntimeError):
    """Spark cannot start here (no Java, or pyspark not installed)."""


def java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return True
    return shutil.which("java") is not None


def check_available() -> None:
    """Raise ``SparkUnavailable`` with a one-line fix when Spark cannot run here."""
    if not java_available():
        raise SparkUnavailable(JAVA_HINT)
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailable(
            "pyspark is not installed: pip install 'recoengine[spark]' (or `make venv`)"
        ) from exc


def local_session(
    cores: int = 2,
    shuffle_partitions: int = 4,
    driver_memory: str | None = None,
    scratch: str | Path | None = None,
) -> SparkSession:
    """The process's local session (created on the first call; later calls return it).

    ``driver_memory`` (default: ``$SPARK_DRIVER_MEMORY``, Spark's own variable, else 2g)
    applies only when this call starts the JVM. In local mode the driver JVM also runs the
    tasks, so it is the whole job's heap.
    """
    global _session
    with _lock:
        if _session is not None and _session.sparkContext._jsc is not None:  # not stopped
            return _session
        check_available()
        from pyspark.sql import SparkSession

        memory = driver_memory or os.environ.get("SPARK_DRIVER_MEMORY") or "2g"
        root = Path(scratch) if scratch else Path(tempfile.gettempdir()) / "recoengine-spark"
        root.mkdir(parents=True, exist_ok=True)
        local_dir = tempfile.mkdtemp(prefix="local-", dir=root)
        builder = (
            SparkSession.builder.master(f"local[{cores}]")
            .appName("recoengine-train")
            .config("spark.driver.memory", memory)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.default.parallelism", str(cores))
            .config("spark.local.dir", local_dir)
            .config("spark.sql.warehouse.dir", str(Path(local_dir) / "warehouse"))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=ERROR")
        )
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        _session = session
        return session


def stop() -> None:
    """Stop the process's local session (tests; the JVM exits with the process anyway)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None
