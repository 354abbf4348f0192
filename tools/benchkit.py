"""What the benchmarks share: the targets, servers in subprocesses, the ML-100K model, wrk runs
of recommend, a fake Vertex AI in its own process, and a process's CPU time.

The benchmark modules (``bench``, ``bench_capacity``, ``bench_scale``, ``bench_serving``,
``bench_stream``) import from here and never from each other, except ``bench`` calling each
section's ``run``: the import graph has no cycle.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import requests

from recoengine.web.health import percentile
from testkit.firestore_emulator import free_port
from tools import wrk

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tools" / "bench_assets"
ML100K = ROOT.parent / "shared" / "datasets" / "ml-100k"
ML100K_MODEL = ROOT / "var" / "bench" / "ml100k-model"

# Every target ``make bench`` judges, in one place (the summary table reads them from here).
TARGETS: dict[str, float] = {
    # quality and engine
    "toys_tuned_blend_vs_als": 1.50,
    "toys_tuned_blend_ndcg10": 0.072,
    "ml100k_tuned_blend_ndcg10": 0.115,
    "default_blend_vs_als": 1.10,
    "tuned_blend_vs_als": 1.50,
    "sampled_hr2": 0.45,
    "engine_median_ms": 0.1,
    "engine_p99_ms": 0.5,
    # recommend over HTTP (issue 9: cache off, 16 connections)
    "http_throughput_ratio": 0.70,
    "http_p99_ms_at_half_load": 25.0,
    "cold_start_s": 2.0,
    # canary and catalog
    "canary_rollback_ms": 1000.0,
    # with a 5 s webhook: the notifier waits at most 2 s after traffic moved (notify.py)
    "canary_handler_ms": 3000.0,
    "catalog_seconds": 90.0,
    # scale (bench_scale)
    "scale_train_minutes": 15.0,
    "scale_train_peak_gb": 8.0,
    "scale_artifact_gb": 1.0,
    "scale_cold_start_s": 5.0,
    "scale_median_ms": 0.3,
    "scale_p99_ms": 1.0,
    "scale_median_ms_1m_items": 0.5,
    "spark_ndcg10_difference": 0.002,
    # capacity (bench_capacity, issue 12: chat alone at its capacity.yml threads)
    "capacity_chat_sqlite_turns_per_s": 36.0,
    "capacity_chat_sqlite_p95_s": 1.3,
    "capacity_chat_firestore_turns_per_s": 30.0,
    "capacity_recommend_ratio": 0.70,
    # issue 19 (bench_serving, bench_stream): the local stack at its default settings
    "chat_sqlite_turns_per_s": 36.0,
    "chat_sqlite_p95_s": 1.3,
    "chat_calls_per_turn": 1.1,
    "chat_fallbacks": 0,
    "chat_firestore_turns_per_s": 33.0,
    "chat_cpu_ms_per_turn": 5.0,
    "stream_first_delta_p95_s": 0.8,
    "recommend_vs_bare_asgi": 0.60,
    "recommend_vs_bare_wsgi": 1.0,
}


def logger(tag: str) -> Callable[[str], None]:
    """A progress printer for one benchmark (stderr, so tables on stdout stay clean)."""

    def log(msg: str) -> None:
        print(f"[{tag}] {msg}", file=sys.stderr, flush=True)

    return log


log = logger("bench")


# -- the ML-100K model and the engine -----------------------------------------------------------
def train_model(data_dir: str, out: Path) -> Path:
    """The tuned ML-100K model, trained once into ``out`` and reused."""
    from recoengine.data.loaders import load_dataset
    from recoengine.pipeline import train_and_save

    if not (out / "manifest.json").exists():
        log(f"training the ML-100K model into {out}")
        train_and_save(load_dataset(data_dir, "movielens"), out, tune=True)
    return out


def known_user_timings(svc: Any, rng: np.random.Generator, n: int) -> list[float]:
    """Seconds per top-10 request of ``n`` random known users (cache off), after a warm-up."""
    from recoengine.serving import RecommendContext

    users = [svc.catalog.user_ids[i] for i in rng.integers(0, len(svc.catalog.user_ids), n)]
    ctx = RecommendContext()
    for u in users[:300]:
        svc.recommend(u, 10, ctx)
    timings = []
    for u in users:
        t = time.perf_counter()
        svc.recommend(u, 10, ctx)
        timings.append(time.perf_counter() - t)
    return timings


# -- servers ----------------------------------------------------------------------------------
def entry_is_async(source: Path, target: str) -> bool:
    """Whether the function ``target`` in ``source`` is an ``async def``: functions-framework
    serves those in its ASGI mode (``functions_framework.aio``), the others as WSGI."""
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == target:
            return isinstance(node, ast.AsyncFunctionDef)
    raise ValueError(f"no function {target} in {source}")


class Server:
    """A functions-framework server (gunicorn, Cloud Run's settings) in a subprocess, in ASGI
    mode (``--asgi``: gunicorn with uvicorn workers) when ``asgi`` says so or, by default,
    when its entry point is an ``async def``: the benchmarks need not know which it is."""

    def __init__(
        self, target: str, source: Path, env: dict[str, str], *, asgi: bool | None = None
    ) -> None:
        if asgi is None:
            asgi = entry_is_async(source, target)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ff = str(Path(sys.executable).with_name("functions-framework"))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                ff,
                "--target",
                target,
                "--source",
                str(source),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *(["--asgi"] if asgi else []),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait(self, path: str, body: dict[str, Any] | None, timeout: float = 60) -> float:
        """Seconds from process start until ``path`` answers 200."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server for {path} exited with {self.proc.returncode}")
            try:
                r = (
                    requests.post(self.url + path, json=body, timeout=5)
                    if body is not None
                    else requests.get(self.url + path, timeout=5)
                )
                if r.status_code == 200:
                    return time.perf_counter() - self.started
            except requests.ConnectionError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"server for {path} did not answer 200 in {timeout}s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def wrk_recommend(
    url: str, seconds: int, connections: int, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """One wrk run of ``post.lua`` (top-10 requests for random ML-100K users) against ``url``
    (its environment: ``BENCH_UNSEEN_PCT`` of the users unseen, ``BENCH_DELAY_MS``)."""
    return wrk.run(url, ASSETS / "post.lua", seconds=seconds, connections=connections, env=env)


def credentials_file(directory: Path) -> Path:
    """Application default credentials holding a token valid for years: the real google-genai
    client authenticates without a Google account and never calls a token endpoint."""
    path = directory / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "bench",
                # a placeholder: nothing calls a token endpoint
                "client_secret": "bench",  # pragma: allowlist secret
                "refresh_token": "bench",
                "token": "bench-token",
                "expiry": "2099-01-01T00:00:00Z",
            }
        )
    )
    return path


def gemini_env(fake_url: str, directory: Path) -> dict[str, str]:
    """The chat's settings for Gemini on Vertex AI, reached at the fake through the real client."""
    return {
        "GOOGLE_CLOUD_PROJECT": "bench-project",
        "LLM_BACKEND": "gemini",
        "LLM_BASE_URL": fake_url,
        "GOOGLE_APPLICATION_CREDENTIALS": str(credentials_file(directory)),
    }


# -- chat turns under load --------------------------------------------------------------------
CHAT_MESSAGES = (
    "hello there",
    "I had a long day at work today",
    "recommend me a comedy",
    "what do you think about rainy weekends?",
    "something else",
    "thanks, that sounds good",
)


def drive_chat(
    base: str,
    concurrency: int,
    seconds: float,
    warm_up: float,
    probe: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """``concurrency`` users each holding one conversation (its first turn creates the
    session), a turn after the other, without pause. After ``warm_up`` seconds, the turns that
    end in the next ``seconds`` are measured: turns/s is their count over ``seconds``.
    ``probe`` (a counter, such as a server's CPU seconds) is read when the measured window
    opens and when it closes: ``probe_delta`` is its growth over the window. ``all_turns``
    counts every turn answered, warm-up included (model calls per turn divide by it)."""
    started = time.perf_counter()
    window = (started + warm_up, started + warm_up + seconds)
    lock = threading.Lock()
    turns: list[tuple[float, float, bool]] = []  # (end, latency, fallback)
    probed: list[float] = []

    def read_probe() -> None:
        for edge in window:
            time.sleep(max(0.0, edge - time.perf_counter()))
            probed.append(probe() if probe is not None else 0.0)

    prober = threading.Thread(target=read_probe, daemon=True)
    prober.start()
    errors: list[str] = []

    def worker(i: int) -> None:
        http = requests.Session()
        user = f"capacity-{i:03d}"
        sid: str | None = None
        n = i
        while time.perf_counter() < window[1]:
            body: dict[str, Any] = {
                "user_id": user,
                "message": CHAT_MESSAGES[n % len(CHAT_MESSAGES)],
            }
            if sid:
                body["session_id"] = sid
            n += 1
            began = time.perf_counter()
            try:
                r = http.post(f"{base}/api/v2/chat", json=body, timeout=120)
                r.raise_for_status()
                answer = r.json()
            except Exception as exc:  # counted, the run goes on
                with lock:
                    errors.append(str(exc)[:200])
                continue
            ended = time.perf_counter()
            sid = answer.get("session_id", sid)
            with lock:
                turns.append((ended, ended - began, bool(answer.get("fallback"))))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(warm_up + seconds + 180)
    prober.join(5)
    measured = [t for t in turns if window[0] <= t[0] < window[1]]
    latencies = sorted(t[1] for t in measured)
    return {
        "turns": len(measured),
        "turns_per_s": round(len(measured) / seconds, 2),
        "p50_s": round(percentile(latencies, 0.50), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies, default=float("nan")), 3),
        "fallbacks": sum(t[2] for t in measured),
        "all_turns": len(turns),
        "probe_delta": probed[1] - probed[0] if len(probed) == 2 else None,
        "errors": len(errors),
        "first_errors": errors[:3],
    }


# -- CPU time of a server's processes -----------------------------------------------------------
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (None: the process is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU seconds the processes have used so far (their own threads; the
    children they have waited for are not counted, which a server's live workers are not)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:  # utime and stime: fields 14 and 15 of stat(5)
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants alive now."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(parents.get(pid, []))
    return found


def listening_pids(port: int) -> set[int]:
    """The processes holding the socket that listens on the loopback ``port`` (a gunicorn
    arbiter and its workers): how to find a server whose launcher does not say its PID."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # LISTEN
                inodes.add(f"socket:[{cols[9]}]")
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except (PermissionError, FileNotFoundError):
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    pids.add(int(entry.name))
                    break
            except OSError:
                continue
    return pids


def server_processes(base_url: str) -> set[int]:
    """Every process of the server listening at ``base_url`` (``http://127.0.0.1:PORT``):
    the holders of its listening socket and their descendants."""
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    holders = listening_pids(port)
    if not holders:
        raise RuntimeError(f"no process listens on port {port}")
    return set().union(*(process_tree(pid) for pid in holders))


# -- a fake Vertex AI in its own process ----------------------------------------------------------
class VertexProcess:
    """testkit's fake Vertex AI (``python -m testkit.fake_vertex``, playing ``reading_model``) in
    a child process, so its threads neither share the driver's GIL nor count as the server's
    CPU. A plain answer comes after ``reply_delay``; a stream's first chunk after
    ``first_chunk_delay`` and its last at ``stream_seconds``. ``counts()`` says what it served,
    counted at its wire."""

    def __init__(
        self, reply_delay: float, first_chunk_delay: float = 0.0, stream_seconds: float = 0.0
    ) -> None:
        self.timing = (reply_delay, first_chunk_delay, stream_seconds)
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> VertexProcess:
        reply, first, whole = self.timing
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "testkit.fake_vertex",
                "--reply-delay",
                str(reply),
                "--first-chunk-delay",
                str(first),
                "--stream-seconds",
                str(whole),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.__exit__()
            raise RuntimeError("the fake Vertex AI did not start")
        return self

    def counts(self) -> dict[str, int]:
        """Requests served so far by kind (``generate``, ``structured``: the understanding
        step's JSON schema, ``stream``) and their ``total``."""
        counts = {
            k: int(v) for k, v in requests.get(f"{self.url}/counts", timeout=10).json().items()
        }
        return {**counts, "total": sum(counts.values())}

    def reset(self) -> None:
        """Start counting from zero (after a warm-up)."""
        requests.delete(f"{self.url}/counts", timeout=10).raise_for_status()

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
