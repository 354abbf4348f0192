"""``make run``'s start: a bad setting or a busy port ends in one line saying what to change,
exit code 2, no traceback, and no claim that the stack listens."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firsthour.support import python
from tools.localstack import bind_error


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    run = python(
        "-m", "tools.localstack", "--port", "0", BLEND_WEIGHTS="0.4,0.4", VAR_DIR=str(tmp_path)
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("error: BLEND_WEIGHTS='0.4,0.4': expected ")
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "model").exists()  # refused before the demo model is trained


@pytest.fixture()
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_busy_port_is_one_line_suggesting_a_free_one(busy_port: int, tmp_path: Path) -> None:
    run = python("-m", "tools.localstack", "--port", str(busy_port), VAR_DIR=str(tmp_path))
    assert run.returncode == 2
    assert "listening" not in run.stdout + run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    found = re.fullmatch(
        rf"error: port {busy_port} is in use; try PORT=(\d+) make run\n", run.stderr
    )
    assert found, run.stderr
    suggested = int(found.group(1))
    assert suggested != busy_port and bind_error("127.0.0.1", suggested) is None
    assert not (tmp_path / "model").exists()
