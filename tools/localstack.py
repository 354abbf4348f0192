"""The local stack behind ``make run``: all three functions on one port, routed by path.

Each function is loaded by functions-framework exactly as Cloud Run loads it in ASGI mode
(``functions_framework.aio.create_asgi_app(target, source)``), and a front ASGI app dispatches
by the same path table as the production load balancer (``recoengine.web.routing``). The server
is functions-framework's own ASGI server (gunicorn, one uvicorn worker: one event loop), so
what runs here is what runs in a Cloud Run instance. Each function keeps its own thread pool
for its blocking handlers, sized by ``recoengine/capacity.yml`` (``SERVER_THREADS``
overrides), never by ``os.cpu_count()``: one process stands in for an instance of each.

functions-framework answers ``/robots.txt``, ``/favicon.ico`` and paths its route pattern
cannot match (an encoded newline) itself, with a plain-text 404; here each function's app is
wrapped (``HttpApp.wrap``) so those get the JSON envelope like every other 404.

Before anything starts, the settings are validated and the port is tried: a bad setting or a
busy port ends with one ``error: ...`` line (exit code 2) saying what to change, never a
traceback from inside functions-framework. "listening on" is printed once the server listens.
Since one process serves every function here, ``/health`` and ``/health/detailed`` (answered by
the default route's function) report every function's components (``combine_health``).
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import functions_framework.aio
from functions_framework._http import create_server

from recoengine.capacity import local_threads, server_threads
from recoengine.config import load_settings
from recoengine.errors import ConfigError
from recoengine.web.app import app_of
from recoengine.web.health import registry_of
from recoengine.web.routing import DEFAULT_FUNCTION, FUNCTIONS, function_for

ROOT = Path(__file__).resolve().parent.parent
AsgiApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
EXIT_USAGE = 2  # what to run must change: a setting, the port


def load_function(name: str, *, target: str | None = None, signature_type: str = "http") -> AsgiApp:
    """``functions/<name>/main.py``'s entry point ``target`` (default: the function's HTTP
    entry, named after it) as functions-framework serves it in ASGI mode (a fresh load of the
    module); an HTTP entry gets its own 404s answered by the function's HttpApp."""
    source = str(ROOT / "functions" / name / "main.py")
    app = functions_framework.aio.create_asgi_app(
        target=target or name, source=source, signature_type=signature_type
    )
    if signature_type != "http":
        return app
    return app_of(name).wrap(app)


def build_app(functions: Iterable[str] = FUNCTIONS) -> AsgiApp:
    apps = {name: load_function(name) for name in functions}

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await apps[function_for(scope["path"])](scope, receive, send)
        else:  # the server's lifespan events: one app answers them (none has any work)
            await apps.get(DEFAULT_FUNCTION, next(iter(apps.values())))(scope, receive, send)

    combine_health(apps)
    return dispatch


def combine_health(functions: Iterable[str]) -> None:
    """The function that answers ``/health`` here also reports the other functions'
    components (``chat.store``, ``chat.llm``, ...): in one process, it is the only one asked."""
    names = list(functions)
    host = function_for("/health")
    if host in names:
        for name in names:
            registry_of(host).include(registry_of(name))


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


def checkout_path(env: Mapping[str, str] = os.environ) -> str:
    """PYTHONPATH for a subprocess: this checkout first, then what this process has (a
    second checkout, e.g. a git worktree, imports its own ``recoengine`` that way, not the one
    the venv's editable install points at)."""
    rest = env.get("PYTHONPATH", "")
    return f"{ROOT}{os.pathsep}{rest}" if rest else str(ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def bind_error(host: str, port: int) -> OSError | None:
    """Why the server could not listen on ``host:port`` now, or None. Bound as gunicorn binds
    (``SO_REUSEADDR``), so a port that a stopped run left in TIME_WAIT counts as free."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return exc
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            return exc
    return None


def free_port_near(host: str, port: int) -> int:
    """A port to suggest instead of a busy one: the next free one above it, else any free one."""
    for candidate in range(port + 1, min(port + 100, 65536)):
        if bind_error(host, candidate) is None:
            return candidate
    return free_port()


def check_start(host: str, port: int) -> None:
    """Refuse to start, with one line saying what to change, when a setting is invalid or the
    port cannot be had: before the model is trained or a function is loaded."""
    try:
        load_settings()
    except ConfigError as exc:
        _fail(str(exc))
    problem = bind_error(host, port)
    if problem is None:
        return
    if problem.errno == errno.EADDRINUSE:
        _fail(f"port {port} is in use; try PORT={free_port_near(host, port)} make run")
    reason = problem.strerror or str(problem)
    _fail(f"cannot listen on {host}:{port} ({reason}); try PORT={free_port_near(host, port)}")


def announce(host: str, port: int) -> Callable[[Any], None]:
    """gunicorn's ``when_ready`` hook: say where the stack listens once its socket is bound."""

    def when_ready(_arbiter: Any) -> None:
        pools = ", ".join(f"{fn} {server_threads(fn)}" for fn in FUNCTIONS)
        print(
            f"local stack listening on http://{host}:{port} "
            f"(one event loop; threads for blocking handlers: {pools})",
            flush=True,
        )

    return when_ready


@contextmanager
def running(env: dict[str, str], timeout: float = 120.0) -> Iterator[str]:
    """The local stack in a subprocess on a free loopback port, for end-to-end tests, benchmarks
    and load tests; yields its base URL once ``/health`` answers, stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "localstack.py"), "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": checkout_path(), **env},
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
        stop(proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate a local stack (10 s to finish its requests), killing it if it hangs."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def server_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """functions-framework's server settings for the local stack: one process (its
    ``WORKERS``), as one Cloud Run instance. Its ASGI server has no threads to set: each
    function sizes its own pool for blocking handlers (capacity.yml, ``SERVER_THREADS``).
    ``THREADS`` reports those pools' threads in all (the load tool records it); the ASGI
    server does not read it."""
    return {"THREADS": str(local_threads(env)), "WORKERS": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=os.environ.get("PORT", "8080"))
    args = parser.parse_args()
    check_start(args.host, args.port)
    os.environ.update(server_env())  # read by functions-framework when the server starts
    prepare_model()
    app = build_app()
    warm_up()
    create_server(app, False, when_ready=announce(args.host, args.port)).run(args.host, args.port)


if __name__ == "__main__":
    main()
