"""Capacity comes from capacity.yml: each function's thread pool, in the image and in the
local stack, and Cloud Run's concurrency (tests/infra checks Terraform reads the same)."""

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
    # canary waits on sync clients (the Admin API, Monitoring) in every request: one thread
    # per concurrent request. recommend is CPU-bound and chat awaits the model on the event
    # loop (its threads only hold store calls), so both may have fewer threads.
    canary = capacity.capacity("canary")
    assert canary.threads >= canary.concurrency
    chat = capacity.capacity("chat")
    assert chat.concurrency > 40 and chat.threads < chat.concurrency


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


def test_the_local_stack_holds_a_pool_per_function_in_one_process() -> None:
    expected = sum(YAML[f]["threads"] for f in FUNCTIONS)
    # one process, one event loop, as one instance; THREADS reports the pools in all
    assert server_env({}) == {"THREADS": str(expected), "WORKERS": "1"}
    assert capacity.local_threads({}) == expected
    assert capacity.local_threads({"SERVER_THREADS": "7"}) == 7 * len(FUNCTIONS)
    cli = subprocess.run(
        [sys.executable, "-m", "recoengine.capacity", "threads", "local"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "SERVER_THREADS"},
    )
    assert cli.stdout.strip() == str(expected)


def test_each_function_sizes_its_pool_from_capacity(monkeypatch: pytest.MonkeyPatch) -> None:
    from recoengine.web import HttpApp

    monkeypatch.delenv("SERVER_THREADS", raising=False)
    for function in FUNCTIONS:
        assert HttpApp(function).threads == YAML[function]["threads"]
    monkeypatch.setenv("SERVER_THREADS", "3")
    assert HttpApp("chat").threads == 3


def test_the_local_stack_hands_its_settings_to_functions_framework() -> None:
    source = (ROOT / "tools/localstack.py").read_text(encoding="utf-8")
    main = source[source.index("def main()") :]
    # WORKERS is functions-framework's own setting: set before its server is created.
    assert main.index("os.environ.update(server_env())") < main.index("create_server(")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_image_runs_functions_framework_in_asgi_mode_with_the_capacity_threads(
    function: str, tmp_path: Path
) -> None:
    """Run the image's build step and its CMD (with a stub functions-framework that prints
    its arguments and server settings) exactly as the Dockerfile writes them; the pool size
    is what the installed package reads (capacity.yml, SERVER_THREADS overriding)."""
    build = next(r for r in _instructions("RUN") if "recoengine.capacity" in r)
    step = build[build.index("python -m recoengine.capacity") :]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "functions-framework"
    stub.write_text('#!/bin/sh\necho "$1 WORKERS=$WORKERS"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FUNCTION": function,
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    built = subprocess.run(["sh", "-c", step], env=env, capture_output=True, text=True, check=True)
    assert built.stdout.strip() == str(YAML[function]["threads"])
    image_env = " ".join(_instructions("ENV"))
    assert "WORKERS=1" in image_env

    cmd = _instructions("CMD")[-1]
    env |= {"FUNCTION_TARGET": function, "FUNCTION_SOURCE": "x", "PORT": "8080", "WORKERS": "1"}
    env |= {"FUNCTION_SIGNATURE_TYPE": "http"}
    out = subprocess.run(["sh", "-c", cmd], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "--asgi WORKERS=1"
    pool = subprocess.run(
        [sys.executable, "-m", "recoengine.capacity", "threads", function],
        env={**env, "SERVER_THREADS": "3"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert pool.stdout.strip() == "3"
