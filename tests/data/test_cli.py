"""The command line behind make train/eval/demo-data: one-line errors with exit code 2, the
Spark dispatch, load progress, demo sizes; and make help stays accurate."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import pytest

from recoengine import cli
from recoengine.errors import DataError

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        cli.main(argv)
    except SystemExit as exc:
        code = int(exc.code) if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def sequences(tmp_path: Path) -> Path:
    (tmp_path / "seq.txt").write_text("u1 a b c\nu2 b c d\n")
    return tmp_path


@pytest.mark.parametrize("command", ["train", "eval"])
def test_data_errors_end_in_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    (tmp_path / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,a,later\n")
    code, _, err = run([command, "--data", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "interactions.csv:2: bad timestamp 'later'" in last
    assert "Traceback" not in err
    code, _, err = run([command, "--data", str(tmp_path / "none"), "--out", "o"], capsys)
    assert code == 2 and err.count("\n") == 1 and "no such file or directory" in err


def test_a_data_error_from_training_is_one_line_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import recoengine.pipeline

    def unusable(*args: object, **kwargs: object) -> None:
        raise DataError("seq.txt", None, "every user has a single interaction:\nnothing to learn")

    monkeypatch.setattr(recoengine.pipeline, "train_and_save", unusable)
    code, _, err = run(["train", "--data", str(sequences(tmp_path)), "--out", "o"], capsys)
    assert code == 2
    assert "loading" in err and "loaded seq: 2 users, 4 items, 6 interactions" in err
    assert err.strip().splitlines()[-1] == (
        "error: seq.txt: every user has a single interaction: nothing to learn"
    )


def test_spark_engine_gets_the_namespace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, argparse.Namespace]] = []
    fake = types.ModuleType("recoengine.spark.cli")
    fake.train = lambda args: calls.append(("train", args))  # type: ignore[attr-defined]

    def evaluate(args: argparse.Namespace) -> None:
        raise DataError(str(args.data), None, "too few users for Spark")

    fake.evaluate = evaluate  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recoengine.spark.cli", fake)
    data = sequences(tmp_path)
    out = str(tmp_path / "m")
    code, _, _ = run(
        ["train", "--data", str(data), "--engine", "spark", "--out", out, "--seed", "3"], capsys
    )
    assert code == 0 and len(calls) == 1
    _, args = calls[0]
    given = (args.data, args.format, args.out, args.seed, args.plot, args.engine)
    assert given == (str(data), "sequences", out, 3, None, "spark")
    code, _, err = run(["eval", "--data", str(data), "--engine", "spark", "--out", "e"], capsys)
    assert code == 2 and err.strip() == f"error: {data}: too few users for Spark"


def test_demo_data_sizes_and_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo-data", "--out", str(tmp_path), "--users", "2000", "--items", "300"]
    code, out, _ = run([*argv, "--per-user", "30", "--parquet"], capsys)
    assert code == 0 and "2,000 users, 300 items" in out
    assert (tmp_path / "interactions.parquet").exists() and (tmp_path / "items.csv").exists()
    assert not (tmp_path / "interactions.csv").exists()
    code, _, err = run(["demo-data", "--out", str(tmp_path), "--users", "0"], capsys)
    assert code == 2 and "expected a positive integer" in err


def test_make_help_documents_formats_and_engines() -> None:
    text = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    train = next(line for line in text.splitlines() if " train " in line)
    assert "FORMAT=auto|generic|movielens|sequences" in train and "ENGINE=local|spark" in train
    assert any(" demo-data " in line for line in text.splitlines())


def test_demo_model_keeps_a_model_that_is_there(
    tmp_path: Path, demo_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["demo-model", "--out", str(demo_model_dir)], capsys)
    assert code == 0 and "already" in err and "--force" in err


@pytest.fixture()
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from recoengine import wiring

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("MODEL_URI", raising=False)
    wiring.reset_all()
    yield tmp_path
    monkeypatch.undo()
    wiring.reset_all()


def test_make_run_never_trains_over_a_configured_model(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only MODEL_URI's default gets the demo model; a configured one that is missing stays
    missing (the recommend function answers 503), as does one that is there."""
    from recoengine import wiring
    from tools.localstack import prepare_model

    monkeypatch.setenv("MODEL_URI", str(var_dir / "configured"))
    wiring.reset_all()
    prepare_model()
    assert not (var_dir / "configured").exists() and not (var_dir / "model").exists()
    assert capsys.readouterr().err == ""


def test_make_run_keeps_the_model_at_the_default_path(
    var_dir: Path, demo_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tools.localstack import prepare_model

    shutil.copytree(demo_model_dir, var_dir / "model")
    prepare_model()
    assert "training" not in capsys.readouterr().err
