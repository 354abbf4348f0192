"""The Spark trainer's tests: one local session (local[2]) for the whole run.

Marked ``spark`` (``pytest -m spark`` runs only these, ``-m 'not spark'`` skips them). Without
Java they skip with the command that installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: runs the Spark trainer in a local Spark session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/spark/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from recoengine.spark import session

    try:
        session.check_available()
    except session.SparkUnavailable as exc:
        pytest.skip(str(exc))
    spark = session.local_session(cores=2, shuffle_partitions=2, driver_memory="1g")
    # Test data is tiny: compiling whole-stage code for each query costs more than it saves
    # (about half the cold run). Results do not depend on it.
    spark.conf.set("spark.sql.codegen.wholeStage", "false")
    yield spark
    session.stop()


@pytest.fixture(scope="session")
def fitter(spark: Any) -> Iterator[Any]:
    from recoengine.spark.graphs import SparkGraphFitter

    with SparkGraphFitter(spark) as f:
        yield f
