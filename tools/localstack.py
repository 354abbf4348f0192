"""The local stack behind ``make run``: all three functions on one port, routed by path.

Each function is loaded by functions-framework exactly as Cloud Run loads it
(``create_app(target, source)``), and a front app dispatches by the same path table as the
production load balancer (``recoengine.web.routing``). The server is functions-framework's own
(gunicorn, one worker, threads), so what runs here is what runs in a Cloud Run instance. Its
threads come from ``recoengine/capacity.yml`` (``server_env``), never from ``os.cpu_count()``:
one process stands in for an instance of each function, so it gets their threads together.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flask
import functions_framework
from functions_framework._http import create_server

from recoengine.capacity import local_threads
from recoengine.web.routing import FUNCTIONS, function_for

ROOT = Path(__file__).resolve().parent.parent
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def build_app(functions: Iterable[str] = FUNCTIONS) -> flask.Flask:
    apps: dict[str, WsgiApp] = {}
    for name in functions:
        apps[name] = functions_framework.create_app(
            target=name, source=str(ROOT / "functions" / name / "main.py")
        )

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return apps[function_for(environ.get("PATH_INFO", "/"))](environ, start_response)

    front = flask.Flask("localstack")
    front.wsgi_app = dispatch  # type: ignore[method-assign]
    return front


def prepare_model() -> None:
    """One command on a fresh machine: with ``MODEL_URI`` left at its default
    (``$VAR_DIR/model``) and no model there yet, train the demo model before serving (the
    CLI prints its progress). A configured model that is missing is never replaced by a demo:
    the recommend function answers 503 until it appears."""
    from recoengine import cli
    from recoengine.config import settings

    cfg = settings()
    default = cfg.service.var_dir / "model"
    if cfg.recommend.model_uri == str(default) and not (default / "manifest.json").exists():
        cli.main(["demo-model", "--out", str(default)])


def warm_up() -> None:
    """Load the model before the first request, as Cloud Run's startup probe makes an
    instance do before it takes traffic. The functions share this process, and so this
    model (``recoengine.wiring.common``)."""
    from recoengine.errors import ServiceUnavailable
    from recoengine.wiring.common import recommender

    try:
        print(f"model {recommender().version} ready", flush=True)
    except ServiceUnavailable as exc:
        print(f"warning: {exc.message}; /health reports the recommender unhealthy", flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(env: dict[str, str], timeout: float = 120.0) -> Iterator[str]:
    """The local stack in a subprocess on a free loopback port, for end-to-end tests, benchmarks
    and load tests; yields its base URL once ``/health`` answers, stops it afterwards."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "localstack.py"), "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"local stack exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5):
                    break
            except urllib.error.HTTPError:
                break  # it answers (an unhealthy recommender is a 503): the server is up
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("local stack did not start in time") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def server_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """functions-framework's server settings (its ``THREADS``/``WORKERS`` variables) for the
    local stack: the threads of capacity.yml (``SERVER_THREADS`` overrides), one process."""
    return {"THREADS": str(local_threads(env)), "WORKERS": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args()
    os.environ.update(server_env())  # read by functions-framework when the server starts
    prepare_model()
    app = build_app()
    warm_up()
    print(
        f"local stack listening on http://{args.host}:{args.port}"
        f" ({os.environ['THREADS']} threads)",
        flush=True,
    )
    create_server(app, False).run(args.host, args.port)


if __name__ == "__main__":
    main()
