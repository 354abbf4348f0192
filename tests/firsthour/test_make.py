"""The Makefile as a new user meets it: ``make help`` prints real values, ``make run`` installs
only what serving needs, and the development targets upgrade the same venv (dry runs only:
no test installs anything)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.firsthour.support import make

SERVE_INSTALL = "-e '.[train]'"
DEV_INSTALL = "-e '.[dev]'"


def test_help_prints_no_make_syntax() -> None:
    text = make("help").stdout
    assert "$(" not in text and "$$" not in text
    run = next(line for line in text.splitlines() if " run " in line)
    assert "http://127.0.0.1:8080" in run


@pytest.fixture()
def venv(tmp_path: Path) -> Path:
    """A venv folder for the dry runs (``make VENV=...``), with no install stamp yet."""
    return tmp_path / "venv"


def dry_run(target: str, venv: Path) -> str:
    return make("-n", target, f"VENV={venv}").stdout


def stamp(venv: Path, name: str, *, stale: bool = False) -> None:
    venv.mkdir(exist_ok=True)
    path = venv / f".installed-{name}"
    path.touch()
    if stale:  # older than pyproject.toml: as after a change to it
        os.utime(path, (0, 0))


def test_run_installs_only_what_serving_needs(venv: Path) -> None:
    run = dry_run("run", venv)
    assert SERVE_INSTALL in run and DEV_INSTALL not in run
    assert "installing what serving needs" in run  # says what it installs, and why
    assert "--quiet" not in run  # pip shows its progress


def test_the_development_install_upgrades_the_same_venv(venv: Path) -> None:
    stamp(venv, "serve")  # after a first make run
    assert SERVE_INSTALL not in dry_run("run", venv)
    test = dry_run("test", venv)
    assert DEV_INSTALL in test and f"{venv}/bin/python -m pip install" in test
    assert f"touch {venv}/.installed-dev {venv}/.installed-serve" in test
    stamp(venv, "dev")  # after make test: make run has nothing left to install
    assert "pip install" not in dry_run("run", venv)
    assert DEV_INSTALL not in dry_run("lint", venv)


def test_a_change_to_pyproject_installs_again(venv: Path) -> None:
    stamp(venv, "serve", stale=True)
    stamp(venv, "dev", stale=True)
    assert SERVE_INSTALL in dry_run("run", venv)
    assert DEV_INSTALL in dry_run("test", venv)
