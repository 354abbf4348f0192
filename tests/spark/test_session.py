"""The Spark package without Spark: a clear one-line error, and nothing imported eagerly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recoengine.spark import session


def test_missing_java_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(session.SparkUnavailable) as exc:
        session.check_available()
    assert "make system-deps" in str(exc.value) and "\n" not in str(exc.value)


def test_modules_import_without_pyspark() -> None:
    """The package ships in the engine's wheel, which serving images install without pyspark:
    importing it must not need pyspark, and asking for Spark says how to get it."""
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "import recoengine.spark.graphs, recoengine.spark.job, recoengine.spark.session as s\n"
        "try:\n    s.check_available()\nexcept s.SparkUnavailable as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "pyspark is not installed" in out or "Java" in out
