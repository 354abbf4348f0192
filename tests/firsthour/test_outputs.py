"""Where ``make train``, ``make eval`` and ``make demo-data`` write: folders are created, or
refused in one line before any data is read; ``make train`` without ``OUT`` never replaces the
served model, and an ``OUT`` that holds a model is replaced only with ``FORCE=1``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.firsthour.support import make, python

SMALL = ("--users", "60", "--items", "50", "--per-user", "12")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small generated data, written by ``demo-data`` into a folder that does not exist yet."""
    out = tmp_path_factory.mktemp("data") / "new" / "deeper"
    run = python("-m", "recoengine.cli", "demo-data", "--out", str(out), *SMALL)
    assert run.returncode == 0, run.stderr
    return out


def train(data: Path, var: Path, *args: str) -> tuple[int, str]:
    cmd = ("-m", "recoengine.cli", "train", "--data", str(data), "--no-tune", *args)
    run = python(*cmd, VAR_DIR=str(var))
    return run.returncode, run.stderr


def served_model(var: Path) -> str:
    """A stand-in for the model ``make run`` serves ($VAR_DIR/model)."""
    (var / "model").mkdir(parents=True)
    (var / "model" / "manifest.json").write_text(json.dumps({"version": "served-1"}))
    return (var / "model" / "manifest.json").read_text()


def test_demo_data_creates_its_output_folder(data: Path) -> None:
    assert (data / "interactions.csv").is_file() and (data / "items.csv").is_file()


def test_train_without_out_writes_a_new_versioned_folder(data: Path, tmp_path: Path) -> None:
    before = served_model(tmp_path)
    code, err = train(data, tmp_path)
    assert code == 0, err
    (model,) = (tmp_path / "models").iterdir()
    assert re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", model.name)
    assert (model / "manifest.json").is_file()
    assert (tmp_path / "model" / "manifest.json").read_text() == before
    assert err.strip().splitlines()[-1] == f"serve it with: MODEL_URI={model} make run"
    code, _ = train(data, tmp_path)  # a second run gets its own folder
    assert code == 0 and len(list((tmp_path / "models").iterdir())) == 2


def test_an_out_that_holds_a_model_is_replaced_only_with_force(data: Path, tmp_path: Path) -> None:
    before = served_model(tmp_path)
    out = str(tmp_path / "model")
    code, err = train(data, tmp_path, "--out", out)
    assert code == 2 and "Traceback" not in err and "loading" not in err
    assert err.count("\n") == 1 and err.startswith(f"error: {out}: already holds model served-1")
    assert "FORCE=1 (--force) replaces it" in err
    assert (tmp_path / "model" / "manifest.json").read_text() == before
    code, err = train(data, tmp_path, "--out", out, "--force")
    assert code == 0, err
    version = json.loads((tmp_path / "model" / "manifest.json").read_text())["version"]
    assert f"replaced model served-1 at {out} with {version}" in err


def test_a_folder_of_other_files_is_never_an_out(data: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, err = train(data, tmp_path, "--out", str(tmp_path))
    assert code == 2 and "holds files but no model" in err and "loading" not in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_train_creates_a_missing_out_folder(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    code, err = train(data, tmp_path, "--out", str(out))
    assert code == 0, err
    assert (out / "manifest.json").is_file()


@pytest.mark.parametrize("command", ["train", "eval", "demo-data"])
def test_an_unwritable_output_is_refused_before_the_run(
    command: str, data: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "sub" / ("results.json" if command == "eval" else "out")
    args = () if command == "demo-data" else ("--data", str(data))
    run = python("-m", "recoengine.cli", command, *args, "--out", str(out))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "loading" not in run.stderr  # refused before any data is read
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(f"error: {out.parent}")


def test_make_train_passes_out_and_force_only_when_given() -> None:
    plain = make("-n", "train", "DATA=d").stdout.splitlines()[-1]
    assert plain.rstrip().endswith("train --data d --format auto --engine local")
    given = make("-n", "train", "DATA=d", "OUT=o", "FORCE=1").stdout.splitlines()[-1]
    assert given.endswith("--out o --force")
    absorb = make("-n", "train", "DATA=d", "CATALOG_UPDATES=var/model").stdout.splitlines()[-1]
    assert absorb.endswith("--engine local --catalog-updates var/model")
