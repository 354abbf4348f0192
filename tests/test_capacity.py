"""Server threads come from capacity.yml, for the image and for the local stack."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from recoengine import capacity
from recoengine.errors import ConfigError
from recoengine.web.routing import FUNCTIONS
from tools.localstack import server_env

ROOT = Path(__file__).resolve().parent.parent
YAML = yaml.safe_load((ROOT / "shared/recoengine/capacity.yml").read_text(encoding="utf-8"))


def _instructions(name: str) -> list[str]:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    return [
        ln.split(None, 1)[1]
        for ln in text.splitlines()
        if ln.strip() and not ln.lstrip().startswith("#") and ln.split(None, 1)[0] == name
    ]


def test_every_function_has_a_capacity_that_can_hold_its_concurrency() -> None:
    assert set(YAML) == set(FUNCTIONS)
    for function in FUNCTIONS:
        cap = capacity.capacity(function)
        assert (cap.concurrency, cap.threads) == (
            YAML[function]["concurrency"],
            YAML[function]["threads"],
        )
    # The functions that wait on I/O (a Gemini call, Firestore, the Admin API) hold one
    # thread per concurrent request; recommend is CPU-bound and may use fewer.
    for function in ("chat", "canary"):
        assert capacity.capacity(function).threads >= capacity.capacity(function).concurrency


@pytest.mark.parametrize(
    "document",
    [
        {"recommend": {"concurrency": 80, "threads": 8}, "chat": {"concurrency": 40}},
        {f: {"concurrency": 0, "threads": 1} for f in FUNCTIONS},
        {f: {"concurrency": 1, "threads": "8"} for f in FUNCTIONS},
        {**{f: {"concurrency": 1, "threads": 1} for f in FUNCTIONS}, "other": {}},
    ],
)
def test_a_bad_capacity_file_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"capacity\.yml"):
        capacity.parse(document)


def test_server_threads_override_and_validation() -> None:
    assert capacity.server_threads("chat", {}) == YAML["chat"]["threads"]
    assert capacity.server_threads("chat", {"SERVER_THREADS": "12"}) == 12
    with pytest.raises(ConfigError, match="SERVER_THREADS"):
        capacity.server_threads("chat", {"SERVER_THREADS": "lots"})


def test_the_local_stack_serves_with_the_threads_of_all_three_functions() -> None:
    expected = sum(YAML[f]["threads"] for f in FUNCTIONS)
    assert server_env({}) == {"THREADS": str(expected), "WORKERS": "1"}
    assert server_env({"SERVER_THREADS": "7"})["THREADS"] == "7"
    cli = subprocess.run(
        [sys.executable, "-m", "recoengine.capacity", "threads", "local"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "SERVER_THREADS"},
    )
    assert cli.stdout.strip() == str(expected)


def test_the_local_stack_hands_its_threads_to_functions_framework() -> None:
    source = (ROOT / "tools/localstack.py").read_text(encoding="utf-8")
    main = source[source.index("def main()") :]
    # THREADS is functions-framework's own setting: set before its server is created.
    assert main.index("os.environ.update(server_env())") < main.index("create_server(")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_image_runs_functions_framework_with_the_capacity_threads(
    function: str, tmp_path: Path
) -> None:
    """Run the image's build step and its CMD (with a stub functions-framework that prints
    the server settings it was given) exactly as the Dockerfile writes them."""
    build = next(r for r in _instructions("RUN") if "recoengine.capacity" in r)
    step = build[build.index("python -m recoengine.capacity") :]
    app = tmp_path / "app"
    app.mkdir()
    step = step.replace("/app/", f"{app}/")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "functions-framework"
    stub.write_text('#!/bin/sh\necho "THREADS=$THREADS WORKERS=$WORKERS"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FUNCTION": function,
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    subprocess.run(["sh", "-c", step], env=env, check=True)
    assert (app / "server-threads").read_text().strip() == str(YAML[function]["threads"])

    cmd = _instructions("CMD")[-1].replace("/app/", f"{app}/")
    env |= {"FUNCTION_TARGET": function, "FUNCTION_SOURCE": "x", "PORT": "8080"}
    env |= {"FUNCTION_SIGNATURE_TYPE": "http"}
    out = subprocess.run(["sh", "-c", cmd], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"THREADS={YAML[function]['threads']} WORKERS=1"
    out = subprocess.run(
        ["sh", "-c", cmd], env={**env, "SERVER_THREADS": "3"}, capture_output=True, text=True
    )
    assert out.stdout.strip() == "THREADS=3 WORKERS=1"
